"""Test messages: the campaign as one recipient will get it, sent to the user's own phones."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError, InvalidMessage
from webapp.gateway.messages import Recipient as GatewayRecipient
from webapp.gateway.messages import SmsMessage
from webapp.models import Campaign, CampaignTestSend, User
from webapp.services import tracked_links
from webapp.services.actors import user_id_of
from webapp.services.audience import ResolvedRecipient, recipients_in_order, resolve_fields
from webapp.services.campaigns.errors import CampaignInvalid
from webapp.services.campaigns.payload import gateway_encoding, render_for
from webapp.services.optouts import opted_out_among
from webapp.sms.phones import normalise_msisdn

MAX_TEST_NUMBERS = 5


def send_test(
    session: Session,
    campaign: Campaign,
    user: User,
    client,
    *,
    numbers: Sequence[str],
    sample_msisdn: str | None,
    default_country: str,
    callback_url: str | None = None,
    variant: str | None = None,
    link_secret: str = "",
) -> CampaignTestSend:
    """Send the message (an A/B test's ``variant``), rendered with one recipient's values, to
    the user's own phones.

    Recorded as a test; it never counts as (or blocks) the campaign's own send. With
    `callback_url` its delivery reports come back like the campaign's. With ``link_secret``
    (the app's secret) its tracked links open their targets, so the user can try them; their
    clicks count nowhere. Without it they carry sample codes that open nothing.
    """
    if variant is not None and variant not in (campaign.variant_shares or {}):
        raise CampaignInvalid({"numbers": f"This campaign has no variant {variant}."})
    wanted = [n for n in (raw.strip() for raw in numbers) if n]
    if not wanted:
        raise CampaignInvalid(
            {"numbers": "Enter a number, or add your mobile number under My account."}
        )
    if len(wanted) > MAX_TEST_NUMBERS:
        raise CampaignInvalid({"numbers": f"Send a test to at most {MAX_TEST_NUMBERS} numbers."})
    msisdns = []
    for raw in wanted:
        result = normalise_msisdn(raw, default_country)
        if result.msisdn is None:
            raise CampaignInvalid({"numbers": f"{raw}: {result.reason}"})
        if result.msisdn not in msisdns:
            msisdns.append(result.msisdn)
    blocked = opted_out_among(session, msisdns)
    if blocked:
        numbers_text = ", ".join(f"+{m}" for m in msisdns if m in blocked)
        raise CampaignInvalid(
            {"numbers": f"{numbers_text} opted out, so no message (not even a test) goes there."}
        )
    sample = _sample(session, campaign, sample_msisdn)
    record = CampaignTestSend(
        campaign_id=campaign.id, numbers=msisdns, message="", created_by_id=user_id_of(user)
    )
    session.add(record)
    session.flush()  # the test's id is in its links' codes
    codes = partial(tracked_links.test_link_code, link_secret, record.id) if link_secret else None
    text = render_for(
        campaign, resolve_fields(session, campaign), sample.fields if sample else {}, variant, codes
    )
    record.message = text
    message = SmsMessage(
        message=text,
        recipients=[GatewayRecipient(m) for m in msisdns],
        sender=campaign.sender,
        label=f"{campaign.name} (test)",
        encoding=gateway_encoding(campaign.encoding),
        userref=f"campaign-{campaign.id}-test",
        callback_url=callback_url,
    )
    try:
        result = client.send(message)
    except (GatewayError, InvalidMessage) as error:
        record.error = str(error)
    else:
        record.message_id = str(result.message_id) if result.message_id is not None else None
    session.commit()
    return record


def _sample(session: Session, campaign: Campaign, msisdn: str | None) -> ResolvedRecipient | None:
    """The recipient ``msisdn`` if the campaign reaches them, else its first; read in order
    until found, never the whole audience at once."""
    first = None
    for recipient in recipients_in_order(session, campaign):
        if recipient.msisdn == msisdn:
            return recipient
        if first is None:
            first = recipient
            if msisdn is None:
                break
    return first
