"""The request a batch sends, built in one place for the preview and the send alike, so the
counter, the preview's cost and the real send agree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from webapp.gateway.messages import RecipientRows, SmsMessage
from webapp.models import Campaign
from webapp.services import tracked_links
from webapp.services.optout_links import CODE_TAG, SAMPLE_CODE, footer_text
from webapp.sms import gsm_spelling, render
from webapp.sms.personalise import to_gateway_tags

ENCODINGS = ("auto", "GSM", "UCS2")
"""A campaign's encoding choice: automatic (GSM 03.38 where it can), forced GSM, or Unicode."""


def gateway_encoding(encoding: str) -> str | None:
    """The gateway's ``encoding`` field for a campaign's choice: only Unicode is forced; GSM
    and automatic leave it to the gateway, which uses GSM 03.38 wherever the text allows."""
    return "UCS2" if encoding == "UCS2" else None


def engine_encoding(encoding: str) -> str:
    """How the SMS engine counts a campaign's text to match what the gateway will bill."""
    return "UCS2" if encoding == "UCS2" else "auto"


def batch_message(
    campaign: Campaign,
    recipients: Sequence[tuple[str, dict]],
    fields: Sequence[str],
    *,
    number: int,
    callback_url: str | None = None,
) -> SmsMessage:
    """The one SMS object a batch sends: the template with tags, each recipient's tag values."""
    tags, tag_fields = to_gateway_tags(message_text(campaign), list(fields))
    links = (tracked_links.SAMPLE_CODE,) * len(tracked_links.targets(campaign.message))
    code = (*links, SAMPLE_CODE) if campaign.opt_out_footer else links
    return tagged_batch_message(
        campaign,
        [
            (msisdn, *[values.get(name) or "" for name in tag_fields], *code)
            for msisdn, values in recipients
        ],
        tags,
        number=number,
        callback_url=callback_url,
    )


def tagged_batch_message(
    campaign: Campaign,
    rows: Iterable[Sequence[str]],
    tags: Sequence[str],
    *,
    number: int,
    callback_url: str | None = None,
    validity_period: int | None = None,
) -> SmsMessage:
    """`batch_message` from rows of (msisdn, the text of each tag's field, ...), "" where a
    recipient has none: the dispatcher has the database pick them out of the stored fields.

    ``tags`` come from ``to_gateway_tags`` over `message_text`. Each tracked link is sent with
    one more tag, its code, and an opt-out footer with one more again: each row ends with
    those codes, in that order.
    """
    if campaign.plain_values and tags:
        rows = ((row[0], *map(gsm_spelling, row[1:])) for row in rows)
    links = [tracked_links.code_tag(number) for number in link_numbers(campaign)]
    tags = [*tags, *links, CODE_TAG] if campaign.opt_out_footer else [*tags, *links]
    message = tracked_links.tagged_text(campaign.message, campaign.link_host)
    return SmsMessage(
        message=message + footer_text(campaign, CODE_TAG),
        recipients=RecipientRows((row[0], tuple(row[1:]) if tags else None) for row in rows),
        sender=campaign.sender,
        label=campaign.name,
        encoding=gateway_encoding(campaign.encoding),
        tags=tags or None,
        callback_url=callback_url,
        userref=batch_userref(campaign.id, number),
        validity_period=validity_period,
    )


def message_text(campaign: Campaign) -> str:
    """The campaign's message as a recipient reads it before personalisation: its tracked
    links as short links with sample codes of the real length."""
    return tracked_links.sample_text(campaign.message, campaign.link_host)


def link_numbers(campaign: Campaign) -> range:
    """The numbers of the campaign's tracked links (1, 2, ...), whose codes each row carries."""
    return range(1, len(tracked_links.targets(campaign.message)) + 1)


def batch_userref(campaign_id: int, number: int) -> str:
    """The ``userref`` that names a batch at the gateway and in its delivery reports."""
    return f"campaign-{campaign_id}-batch-{number}"


def render_for(campaign: Campaign, fields: Sequence[str], values: dict) -> str:
    """The text one recipient gets: the template with their values ("" for a missing one), as
    the gateway will render it (in GSM letters when the campaign asks for plain values), and the
    short links and the opt-out footer with codes of the real length."""
    spell = gsm_spelling if campaign.plain_values else str
    text = render(message_text(campaign), {name: spell(values.get(name) or "") for name in fields})
    return text + footer_text(campaign)
