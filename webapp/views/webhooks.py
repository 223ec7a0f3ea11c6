"""Where the gateway posts delivery reports and replies. Public, so protected by the JWT
signature (``WEBHOOK_SECRET``); unsigned posts only with ALLOW_UNSIGNED_REPORTS. The paths carry
no secret, since paths end up in access logs. Exempt from CSRF: the caller is the gateway."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from webapp.access import public
from webapp.extensions import csrf, db
from webapp.gateway.errors import InvalidDeliveryReport
from webapp.gateway.reports import SIGNATURE_HEADER
from webapp.services import replies
from webapp.services.audit import Target
from webapp.services.delivery import (
    FailureGuard,
    ReportRecorder,
    UnknownReport,
    verify_report,
)
from webapp.views.common import audit_event

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _failure_guard() -> FailureGuard:
    config = current_app.config
    return FailureGuard(config["PAUSE_FAILED_PERCENT"], config["PAUSE_AFTER_REPORTS"])


@bp.route("/delivery-reports", methods=["POST"])
@public
@csrf.exempt
def delivery_report():
    body = _json_object()
    if not isinstance(body, dict):
        return jsonify(error="Expected one JSON object per report."), 400
    try:
        report = verify_report(
            body,
            request.headers.get(SIGNATURE_HEADER),
            current_app.config.get("WEBHOOK_SECRET"),
            allow_unsigned=current_app.config["ALLOW_UNSIGNED_REPORTS"],
        )
    except InvalidDeliveryReport as error:
        return _rejected("delivery reports", error)
    recorded = _report_recorder().record(report)
    if isinstance(recorded, UnknownReport):
        # 2xx anyway: the gateway would retry a report we can never match for hours.
        current_app.logger.warning("delivery report ignored: %s", recorded)
        return jsonify(recorded=False, reason=str(recorded)), 202
    return jsonify(recorded=recorded), 200


def _report_recorder() -> ReportRecorder:
    """This app's recorder of delivery reports, shared by its request threads."""
    recorder = current_app.extensions.get("delivery_report_recorder")
    if recorder is None:
        recorder = current_app.extensions.setdefault(
            "delivery_report_recorder", ReportRecorder(db.session, _failure_guard)
        )
    return recorder


@bp.route("/replies", methods=["POST"])
@public
@csrf.exempt
def reply():
    """A recipient's reply: stored once per gateway id, STOP/START acted on, answered at once
    (the STOP confirmation is a background job)."""
    body = _json_object()
    if not isinstance(body, dict):
        return jsonify(error="Expected one JSON object per reply."), 400
    try:
        verified = replies.verify_reply(
            body,
            request.headers.get(SIGNATURE_HEADER),
            current_app.config.get("WEBHOOK_SECRET"),
            allow_unsigned=current_app.config["ALLOW_UNSIGNED_REPORTS"],
        )
        stored, new = replies.record_reply(
            db.session,
            verified,
            replies.reply_words(db.session, current_app.config),
            simulated=current_app.config["SANDBOX_MODE"],  # no real gateway: the sandbox's
        )
    except InvalidDeliveryReport as error:
        return _rejected("replies", error)
    except replies.InvalidReply as error:
        return jsonify(error=str(error)), 400
    if new and stored.confirmation == replies.CONFIRMATION_PENDING:
        current_app.extensions["jobs"].send_reply_confirmation(stored.id)
    return jsonify(stored=new, reply=stored.id, keyword=stored.keyword), 200


def _rejected(webhook: str, error: InvalidDeliveryReport):
    """A post whose signature does not hold: refused, and recorded in the audit log, up to
    WEBHOOK_REJECTION_AUDIT_LIMIT per client address, so a flood of forged posts cannot fill
    the log (the rest are refused alike and logged as warnings)."""
    db.session.rollback()
    limiter = current_app.extensions["rate_limiter"]
    limit = current_app.config["WEBHOOK_REJECTION_AUDIT_LIMIT"]
    if limiter.hit(limit, "webhook-rejected", request.remote_addr or "-"):
        audit_event("webhook_rejected", Target("webhook", None, webhook), str(error))
    else:
        log.warning(
            "%s webhook: refused a post from %s (%s); more than %s, so not in the audit log",
            webhook,
            request.remote_addr,
            error,
            limit,
        )
    return jsonify(error=str(error)), 401


def _json_object():
    """The posted JSON, or None when it is not JSON or nested deeper than a report ever is."""
    try:
        return json.loads(request.get_data())
    except (ValueError, RecursionError):
        return None
