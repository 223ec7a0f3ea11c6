"""Where the gateway posts delivery reports. Public, so protected by a secret path and, when
``WEBHOOK_SECRET`` is set, by the report's JWT signature. Exempt from CSRF: the caller is the
gateway, not a browser."""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, jsonify, request

from webapp.access import public
from webapp.extensions import csrf, db
from webapp.gateway.errors import InvalidDeliveryReport
from webapp.gateway.reports import SIGNATURE_HEADER
from webapp.services.delivery import (
    FailureGuard,
    UnknownReport,
    record_delivery_report,
    verify_report,
    webhook_path_token,
)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _failure_guard() -> FailureGuard:
    config = current_app.config
    return FailureGuard(config["PAUSE_FAILED_PERCENT"], config["PAUSE_AFTER_REPORTS"])


@bp.route("/delivery-reports/<token>", methods=["POST"])
@public
@csrf.exempt
def delivery_report(token: str):
    if not hmac.compare_digest(token, webhook_path_token(current_app.config["SECRET_KEY"])):
        abort(404)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="Expected one JSON object per report."), 400
    try:
        report = verify_report(
            body, request.headers.get(SIGNATURE_HEADER), current_app.config.get("WEBHOOK_SECRET")
        )
        recorded = record_delivery_report(db.session, report, guard=_failure_guard())
    except InvalidDeliveryReport as error:
        return jsonify(error=str(error)), 401
    except UnknownReport as error:
        # 2xx anyway: the gateway would retry a report we can never match for hours.
        current_app.logger.warning("delivery report ignored: %s", error)
        return jsonify(recorded=False, reason=str(error)), 202
    return jsonify(recorded=recorded), 200
