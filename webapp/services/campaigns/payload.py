"""The request a batch sends, built in one place for the preview and the send alike, so the
counter, the preview's cost and the real send agree."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from webapp.gateway.messages import RecipientColumns, SmsMessage
from webapp.models import Campaign
from webapp.services import tracked_links
from webapp.services.optout_links import CODE_TAG, SAMPLE_CODE, footer_text
from webapp.sms import gsm_spelling, render
from webapp.sms.personalise import to_gateway_tags

ENCODINGS = ("auto", "GSM", "UCS2")
"""A campaign's encoding choice: automatic (GSM 03.38 where it can), forced GSM, or Unicode."""


VARIANTS = ("A", "B", "C")
"""An A/B test's variants: A is the campaign's message, B and C its other texts."""


def variant_text(campaign: Campaign, letter: str | None) -> str:
    """The text variant ``letter`` sends: the message for A, and for None (outside a test)."""
    if letter == "B":
        return campaign.message_b or ""
    if letter == "C":
        return campaign.message_c or ""
    return campaign.message


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
    variant: str | None = None,
) -> SmsMessage:
    """The one SMS object a batch sends: the template with tags, each recipient's tag values;
    an A/B test's batch sends its ``variant``'s text."""
    tags, tag_fields = to_gateway_tags(message_text(campaign, variant), list(fields))
    links = (tracked_links.SAMPLE_CODE,) * len(link_numbers(campaign, variant))
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
        variant=variant,
    )


def tagged_batch_message(
    campaign: Campaign,
    rows: Iterable[Sequence[str]],
    tags: Sequence[str],
    *,
    number: int,
    callback_url: str | None = None,
    validity_period: int | None = None,
    variant: str | None = None,
) -> SmsMessage:
    """`batch_message` from rows of (msisdn, the text of each tag's field, ...), "" where a
    recipient has none: the dispatcher has the database pick them out of the stored fields.

    ``tags`` come from ``to_gateway_tags`` over `message_text`. Each tracked link the text has
    is sent with one more tag, its code, and an opt-out footer with one more again: each row
    ends with those codes, in that order. ``variant``: an A/B test's letter, whose text the
    batch sends.
    """
    if campaign.plain_values and tags:
        rows = ((row[0], *map(gsm_spelling, row[1:])) for row in rows)
    links = [tracked_links.code_tag(number) for number in link_numbers(campaign, variant)]
    tags = [*tags, *links, CODE_TAG] if campaign.opt_out_footer else [*tags, *links]
    message = tracked_links.tagged_text(
        variant_text(campaign, variant),
        campaign.link_host,
        tracked_links.campaign_targets(campaign),
    )
    return SmsMessage(
        message=message + footer_text(campaign, CODE_TAG),
        recipients=RecipientColumns.from_rows(rows, len(tags)),
        sender=campaign.sender,
        label=campaign.name,
        encoding=gateway_encoding(campaign.encoding),
        tags=tags or None,
        callback_url=callback_url,
        userref=batch_userref(campaign.id, number),
        validity_period=validity_period,
    )


def message_text(campaign: Campaign, variant: str | None = None) -> str:
    """The campaign's message (an A/B test's ``variant``) as a recipient reads it before
    personalisation: its tracked links as short links with sample codes of the real length."""
    return tracked_links.sample_text(variant_text(campaign, variant), campaign.link_host)


def link_numbers(campaign: Campaign, variant: str | None = None) -> list[int]:
    """The numbers of the tracked links in the text of ``variant``, whose codes its rows carry."""
    in_text = set(tracked_links.targets(variant_text(campaign, variant)))
    return [
        number
        for number, target in enumerate(tracked_links.campaign_targets(campaign), start=1)
        if target in in_text
    ]


def batch_userref(campaign_id: int, number: int) -> str:
    """The ``userref`` that names a batch at the gateway and in its delivery reports."""
    return f"campaign-{campaign_id}-batch-{number}"


def render_for(
    campaign: Campaign,
    fields: Sequence[str],
    values: dict,
    variant: str | None = None,
    link_code_of: Callable[[int], str] | None = None,
) -> str:
    """The text one recipient gets: the template (of an A/B test's ``variant``) with their
    values ("" for a missing one), as the gateway will render it (in GSM letters when the
    campaign asks for plain values), and the short links and the opt-out footer with codes of
    the real length: sample codes, or link ``n``'s code ``link_code_of(n)`` (a test message's,
    which opens the link)."""
    spell = gsm_spelling if campaign.plain_values else str
    template = tracked_links.expand(
        variant_text(campaign, variant),
        campaign.link_host,
        link_code_of or (lambda number: tracked_links.SAMPLE_CODE),
        tracked_links.campaign_targets(campaign),
    )
    text = render(template, {name: spell(values.get(name) or "") for name in fields})
    return text + footer_text(campaign)
