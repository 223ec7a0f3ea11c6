"""E-mail to the approvers when a campaign waits for approval: optional, off by default.

With ``APPROVAL_NOTIFY_EMAIL`` set (addresses separated by commas), each request for approval
is mailed there through Flask-Mailman and the ``MAIL_*`` settings, from a background job (a slow
or failing mail server never delays or fails the request; a failure is logged). Without it,
approvers see waiting campaigns on their home page only.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask_mailman import EmailMessage

from webapp.addresses import public_base_url
from webapp.models import Campaign
from webapp.money import money_text

log = logging.getLogger(__name__)


def notify_addresses(app: Flask) -> list[str]:
    """Where approval requests are mailed (none: no e-mail)."""
    value = app.config.get("APPROVAL_NOTIFY_EMAIL") or []
    if isinstance(value, str):
        value = value.split(",")
    return [address.strip() for address in value if address.strip()]


def approval_request_email(app: Flask, campaign: Campaign, reasons: list[str]) -> tuple[str, str]:
    """The subject and text of the e-mail announcing ``campaign``'s request for approval."""
    asked_by = campaign.approval_requested_by.email if campaign.approval_requested_by else "?"
    cost = f"{money_text(campaign.cost)} {campaign.currency or ''}".strip()
    estimate = " (estimate)" if campaign.cost_is_estimate else ""
    when = (
        f"at {campaign.send_at:%Y-%m-%d %H:%M} UTC" if campaign.send_at else "as soon as approved"
    )
    lines = [
        f"{asked_by} asks for approval of the campaign “{campaign.name}”.",
        "",
        f"Recipients: {campaign.recipient_count:,}",
        f"Cost: {cost}{estimate}",
        f"Sender: {campaign.sender}",
        f"Sent: {when}",
    ]
    if reasons:
        lines += ["", "It needs approval because " + "; ".join(reasons) + "."]
    base = public_base_url(app)
    if base:
        lines += ["", f"Review it: {base.rstrip('/')}/campaigns/{campaign.id}/preview"]
    lines += ["", "Nobody approves their own campaign; any change to it withdraws the request."]
    return f"Approval asked for: {campaign.name}", "\n".join(lines) + "\n"


def mail_approval_request(app: Flask, campaign: Campaign, reasons: list[str]) -> int:
    """Mail the request to `notify_addresses`: the number of messages sent (0 when e-mail is
    off or the mail server refused; the error is logged, the request stands)."""
    addresses = notify_addresses(app)
    if not addresses:
        return 0
    subject, body = approval_request_email(app, campaign, reasons)
    try:
        return EmailMessage(subject, body, to=addresses).send()
    except Exception:  # an SMTP or socket error: the approvers still see it on their home page
        log.exception("Could not mail the approval request of campaign %s", campaign.id)
        return 0
