"""Delivery reports from the gateway: verified, matched to a campaign's recipient, recorded.

Reports repeat and arrive out of order: a transient status received after a final one is
ignored, and of two reports the one with the later ``time`` wins. A report whose (message,
recipient, status) was received before is a replay and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.gateway.errors import InvalidDeliveryReport
from webapp.gateway.reports import DELIVERY_STATUSES, is_final, verify_delivery_report
from webapp.models import (
    Batch,
    Campaign,
    CampaignRecipient,
    CampaignTestSend,
    ReceivedDeliveryReport,
    RecipientState,
)


class UnknownReport(ValueError):
    """The report names a message or recipient this dashboard did not send."""


def verify_report(
    body: dict, signature: str | None, secret: str | None, *, allow_unsigned: bool = False
) -> dict:
    """The report's fields, once its signature is checked. Without a webhook secret a report
    cannot be checked: it is refused unless unsigned reports are explicitly allowed."""
    if secret:
        return verify_delivery_report(body, signature, secret)
    if allow_unsigned:
        return body
    raise InvalidDeliveryReport(
        "Unsigned delivery reports are refused: set WEBHOOK_SECRET to the gateway's webhook "
        "secret (or ALLOW_UNSIGNED_REPORTS=true to accept reports anyone could forge)."
    )


def record_delivery_report(session: Session, report: dict) -> bool:
    """Store a report on its recipient, or on the test message it belongs to; False when it was
    stale (older or transient-after-final)."""
    status = str(report.get("status", "")).upper()
    if status not in DELIVERY_STATUSES:
        raise UnknownReport(f"Unknown delivery status {status!r}.")
    message_id = str(report.get("id", ""))
    msisdn = str(report.get("msisdn", ""))
    recipient = session.scalar(
        select(CampaignRecipient)
        .join(Batch, CampaignRecipient.batch_id == Batch.id)
        .where(Batch.message_id == message_id, CampaignRecipient.msisdn == msisdn)
    )
    if recipient is None:
        return _record_test_report(session, message_id, msisdn, status, report)
    if _is_replay(session, message_id, msisdn, status):
        return False
    at = _report_time(report)
    if _is_stale(recipient.delivery_status, recipient.delivery_updated_at, status, at):
        return False
    recipient.delivery_status = status
    recipient.delivery_error = _error_text(report)
    recipient.delivery_updated_at = at
    session.commit()
    return True


def _is_replay(session: Session, message_id: str, msisdn: str, status: str) -> bool:
    """Remember this (message, recipient, status); True if it was received before."""
    session.add(ReceivedDeliveryReport(message_id=message_id, msisdn=msisdn, status=status))
    try:
        session.flush()
    except IntegrityError:  # the primary key: the same report again
        session.rollback()
        return True
    return False


def _record_test_report(
    session: Session, message_id: str, msisdn: str, status: str, report: dict
) -> bool:
    test = session.scalar(select(CampaignTestSend).where(CampaignTestSend.message_id == message_id))
    if test is None or msisdn not in test.numbers:
        raise UnknownReport(f"No recipient {msisdn} in message {message_id}.")
    at = _report_time(report)
    current = (test.deliveries or {}).get(msisdn)
    if current and _is_stale(
        current["status"], datetime.fromtimestamp(current["time"], UTC), status, at
    ):
        return False
    entry = {"status": status, "error": _error_text(report), "time": at.timestamp()}
    test.deliveries = {**(test.deliveries or {}), msisdn: entry}  # a new dict: JSON is not tracked
    session.commit()
    return True


def _is_stale(current: str | None, current_at: datetime | None, status: str, at: datetime) -> bool:
    if current is None:
        return False
    older = current_at is not None and at < current_at
    transient_after_final = is_final(current) and not is_final(status)
    final_after_transient = is_final(status) and not is_final(current)
    return transient_after_final or (older and not final_after_transient)


def _error_text(report: dict) -> str | None:
    error = report.get("error")
    code = report.get("code")
    return (f"{error} ({code})" if code else str(error))[:200] if error else None


def _report_time(report: dict) -> datetime:
    try:
        return datetime.fromtimestamp(int(report.get("time")), UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


def delivery_summary(session: Session, campaign: Campaign) -> dict[str, int]:
    """Recipients by delivery status; ``awaiting`` counts sent ones without a report yet."""
    rows = session.execute(
        select(CampaignRecipient.delivery_status, func.count())
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state == RecipientState.SENT,
        )
        .group_by(CampaignRecipient.delivery_status)
    ).all()
    summary = {(status or "awaiting"): count for status, count in rows}
    return dict(sorted(summary.items(), key=lambda item: -item[1]))
