"""Where the gateway posts delivery reports. Public, so protected by the report's JWT signature
(``WEBHOOK_SECRET``); unsigned reports only with ALLOW_UNSIGNED_REPORTS. The path carries no
secret, since paths end up in access logs. Exempt from CSRF: the caller is the gateway."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from webapp.access import public
from webapp.extensions import csrf, db
from webapp.gateway.errors import InvalidDeliveryReport
from webapp.gateway.reports import SIGNATURE_HEADER
from webapp.services.delivery import (
    UnknownReport,
    record_delivery_report,
    verify_report,
)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.route("/delivery-reports", methods=["POST"])
@public
@csrf.exempt
def delivery_report():
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):  # not JSON, or nested deeper than a report ever is
        body = None
    if not isinstance(body, dict):
        return jsonify(error="Expected one JSON object per report."), 400
    try:
        report = verify_report(
            body,
            request.headers.get(SIGNATURE_HEADER),
            current_app.config.get("WEBHOOK_SECRET"),
            allow_unsigned=current_app.config["ALLOW_UNSIGNED_REPORTS"],
        )
        recorded = record_delivery_report(db.session, report)
    except InvalidDeliveryReport as error:
        return jsonify(error=str(error)), 401
    except UnknownReport as error:
        # 2xx anyway: the gateway would retry a report we can never match for hours.
        current_app.logger.warning("delivery report ignored: %s", error)
        return jsonify(recorded=False, reason=str(error)), 202
    return jsonify(recorded=recorded), 200
