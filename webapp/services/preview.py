"""Preview: what a campaign will cost, batch by batch, before anything is sent.

With a gateway that honours ``dry_run`` the preview sends each batch exactly as the send will,
as a dry run; otherwise it prices locally from the price table and says it is an estimate. It
also shows every recipient's own message, and warns where money is at stake.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError, InvalidMessage
from webapp.gateway.pricing import PriceTable
from webapp.models import Campaign, User, campaign_lists, utcnow
from webapp.money import money_text
from webapp.services.abtests import variant_letters
from webapp.services.actors import user_id_of
from webapp.services.audience import (
    Audience,
    ResolvedRecipient,
    count_recipients,
    page_of_recipients,
    resolve_audience,
    resolve_fields,
)
from webapp.services.campaigns.confirmation import (
    batch_positions,
    batch_size_for,
    content_fingerprint,
    not_a_draft,
)
from webapp.services.campaigns.drafts import CampaignDraft, validate_draft
from webapp.services.campaigns.errors import RECENT_DAYS, CampaignInvalid, CampaignStateError
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.payload import (
    batch_message,
    engine_encoding,
    message_text,
    render_for,
)
from webapp.services.campaigns.split import HELD, groups_of
from webapp.services.quiet_hours import QuietHours, held_countries
from webapp.sms import Analysis, analyze, split_segments

MANY_SEGMENTS = 3
NO_LISTS = "Choose at least one recipient list."
NO_MESSAGE = "Write the message first."


class PreviewFailed(ValueError):
    """The gateway refused the dry run; carries the gateway's own message."""


def preview_campaign(
    session: Session,
    campaign: Campaign,
    user: User,
    client,
    *,
    honours_dry_run: bool,
    batch_size: int,
    price_table: PriceTable | None = None,
    default_country: str = "DK",
    now: datetime | None = None,
    quiet_hours: QuietHours | None = None,
) -> dict:
    """Price the campaign as it would be sent, batch by batch, and store what was found.

    With ``quiet_hours``, the summary's ``quiet_hours`` says which countries wait, and until
    when, at the send time ("SE: waits until 08:00 Stockholm time, Wed 02 Dec.").

    With a gateway that honours ``dry_run`` each batch is sent as a dry run; otherwise it is
    priced locally from the price table and the result says it is an estimate.
    """
    if not campaign.status.can_preview:
        raise CampaignStateError(not_a_draft(campaign))
    lists = (
        validate_draft(session, _as_draft(campaign), now=now)
        if campaign.parent_id is None
        else None
    )
    if lists is not None and not lists:
        raise CampaignInvalid({"list_ids": NO_LISTS})
    if not campaign.message.strip():
        raise CampaignInvalid({"message": NO_MESSAGE})
    # Who it reaches, a few bytes each; their fields are read again a batch at a time.
    audience = resolve_audience(session, campaign)
    if not len(audience):
        raise CampaignInvalid({"list_ids": "The chosen lists have no one to send to."})
    table = price_table or PriceTable()
    size = batch_size_for(campaign, batch_size)

    countries: dict[str, int] = {}
    total = Decimal(0)
    # An estimate is in the price table's currency; a dry run in the gateway's, from its usage.
    currency = None if honours_dry_run else table.currency
    batches = 0
    groups = groups_of(campaign, len(audience))
    local = _local_costs(session, campaign, audience, table, groups)
    for number, (_, group, positions) in enumerate(
        batch_positions(audience, groups, size), start=1
    ):
        batches += 1
        if honours_dry_run:
            chunk = [recipient for _, recipient in audience.recipients(session, positions)]
            # A held-back batch is priced at its costliest variant: the winner may be any.
            result = max(
                (
                    _dry_run(client, campaign, chunk, audience.fields, number, variant)
                    for variant in _variants_of(campaign, group)
                ),
                key=lambda result: result.usage.total_cost or Decimal(0),
            )
            for country, parts in result.usage.countries.items():
                countries[country] = countries.get(country, 0) + int(parts)
            total += result.usage.total_cost or Decimal(0)
            if currency and result.usage.currency and result.usage.currency != currency:
                raise PreviewFailed(
                    f"The gateway priced batch {number} in {result.usage.currency} and earlier "
                    f"batches in {currency}; the cost cannot be added up. Nothing was sent."
                )
            currency = result.usage.currency or currency
    if not honours_dry_run:
        countries, total = local["countries"], local["cost"]
    segments = sum(countries.values())
    summary = {
        "recipients": len(audience),
        "excluded_opted_out": audience.excluded_opted_out,
        "excluded_duplicates": audience.excluded_duplicates,
        "excluded_undeliverable": audience.excluded_undeliverable,
        "included_undeliverable": audience.included_undeliverable,
        "messages": len(audience),
        "batches": batches,
        "batch_size": size,
        "segments": segments,
        "countries": countries,
        "currency": currency,
        "cost": str(total),
        "estimate": not honours_dry_run,
        "unicode_recipients": local["unicode"],
        "max_segments": local["max_segments"],
        "warnings": _warnings(session, campaign, local, audience, default_country, now),
        "ab_test": _ab_test_summary(campaign, groups, local) if campaign.is_ab_test else None,
        "quiet_hours": [
            window.waits_text(quiet_hours)
            for window in held_countries(
                set(audience.countries),
                quiet_hours,
                campaign.send_at or now or utcnow(),
            ).values()
        ],
    }
    campaign.preview_summary = summary
    campaign.recipient_count = summary["recipients"]
    campaign.excluded_opted_out = audience.excluded_opted_out
    campaign.excluded_duplicates = audience.excluded_duplicates
    campaign.segments = segments
    campaign.cost = total
    campaign.currency = currency
    campaign.cost_is_estimate = not honours_dry_run
    campaign.previewed_at = now or utcnow()
    campaign.previewed_by_id = user_id_of(user)
    campaign.preview_fingerprint = content_fingerprint(session, campaign)
    record_event(
        session,
        campaign,
        "previewed",
        user,
        f"{summary['recipients']} recipients, {money_text(total)} {currency or ''}".strip(),
    )
    session.commit()
    return summary


def _variants_of(campaign: Campaign, group: str | None) -> list[str | None]:
    """The variants a group may get: its own, or for the held-back each one (None: no test)."""
    return variant_letters(campaign) if group == HELD else [group]


def _dry_run(client, campaign, chunk, fields, number: int, variant: str | None):
    message = batch_message(
        campaign, [(r.msisdn, r.fields) for r in chunk], fields, number=number, variant=variant
    )
    try:
        return client.send(message, dry_run=True)
    except (GatewayError, InvalidMessage) as error:
        raise PreviewFailed(f"The gateway refused the dry run: {error}") from error


def _ab_test_summary(campaign: Campaign, groups: list, local: dict) -> dict:
    """The test's groups for the preview page: recipients and (local) segments of each."""
    sizes = {group: groups.count(group) for group in [*variant_letters(campaign), HELD]}
    return {
        "groups": [
            {"group": group, "recipients": count, "segments": local["group_segments"].get(group, 0)}
            for group, count in sizes.items()
            if group != HELD or count
        ],
        "winner_after_minutes": campaign.winner_after_minutes,
    }


def draft_problems(
    session: Session,
    draft: CampaignDraft,
    *,
    for_preview: bool,
    follow_up: bool = False,
    now: datetime | None = None,
) -> dict[str, str]:
    """Every problem of a draft at once, by field: those that prevent saving it and, when it is
    to be previewed, the missing lists and message too (a follow-up has no lists of its own)."""
    try:
        validate_draft(session, draft, now=now)
    except CampaignInvalid as error:
        problems = dict(error.errors)
    else:
        problems = {}
    if for_preview:
        if not follow_up and not draft.list_ids:
            problems.setdefault("list_ids", NO_LISTS)
        if not draft.message.strip():
            problems.setdefault("message", NO_MESSAGE)
    return problems


def _as_draft(campaign: Campaign) -> CampaignDraft:
    return CampaignDraft(
        name=campaign.name,
        sender=campaign.sender,
        message=campaign.message,
        list_ids=[lst.id for lst in campaign.lists],
        encoding=campaign.encoding,
        send_at=campaign.send_at,
        speed_per_minute=campaign.speed_per_minute,
        plain_values=campaign.plain_values,
        include_undeliverable=campaign.include_undeliverable,
        link_host=campaign.link_host,
    )


class _Texts:
    """Each recipient's text (of a variant) and the SMS engine's count of it, remembered for
    the last `LIMIT` combinations of values: recipients with the same values share them, and
    a million different ones are not all kept."""

    LIMIT = 10_000

    def __init__(self, campaign: Campaign, fields: Sequence[str]) -> None:
        self._campaign = campaign
        self._fields = list(fields)
        self._counted_as = engine_encoding(campaign.encoding)
        self._texts: dict[tuple, str] = {}
        self._analyses: dict[str, Analysis] = {}

    def text(self, values: dict, variant: str | None = None) -> str:
        key = (variant, *[values.get(name) or "" for name in self._fields])
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= self.LIMIT:
                self._texts.clear()
            text = self._texts[key] = render_for(self._campaign, self._fields, values, variant)
        return text

    def analysis(self, text: str) -> Analysis:
        found = self._analyses.get(text)
        if found is None:
            if len(self._analyses) >= self.LIMIT:
                self._analyses.clear()
            found = self._analyses[text] = analyze(text, self._counted_as)
        return found


def _local_costs(
    session: Session, campaign: Campaign, audience: Audience, table: PriceTable, groups: list
) -> dict:
    """Each recipient's own message (of their A/B test variant) counted by the SMS engine and
    priced from the table; a held-back recipient at the variant that costs them most."""
    texts = _Texts(campaign, audience.fields)
    countries: dict[str, int] = {}
    group_segments: dict[str | None, int] = {}
    cost = Decimal(0)
    unicode = 0
    max_segments = 0

    def counted(recipient, variant) -> tuple[int, str]:
        analysis = texts.analysis(texts.text(recipient.fields, variant))
        if campaign.encoding == "GSM" and analysis.encoding != "GSM":
            field = f"message_{variant.lower()}" if variant in ("B", "C") else "message"
            raise CampaignInvalid(
                {
                    field: f"Recipient {recipient.msisdn}'s message needs Unicode "
                    f"({''.join(analysis.offending)}), but the encoding is set to GSM."
                }
            )
        return analysis.segments, analysis.encoding

    for position, recipient in audience.recipients(session, range(len(audience))):
        group = groups[position]
        parts, encoding = max(
            (counted(recipient, variant) for variant in _variants_of(campaign, group)),
            key=lambda counted: counted[0],
        )
        country = recipient.country or "ZZ"
        countries[country] = countries.get(country, 0) + parts
        group_segments[group] = group_segments.get(group, 0) + parts
        cost += table.price_for(country) * parts
        unicode += encoding == "UCS2"
        max_segments = max(max_segments, parts)
    return {
        "countries": countries,
        "cost": cost,
        "unicode": unicode,
        "max_segments": max_segments,
        "group_segments": group_segments,
    }


def _warnings(session, campaign, local, audience, default_country, now) -> list[str]:
    warnings = []
    if local["unicode"]:
        offending = "".join(analyze(message_text(campaign)).offending)
        because = f" because of {offending!r}" if offending else " because of text in a field"
        warnings.append(
            f"{local['unicode']} of {len(audience)} messages "
            f"{'needs' if local['unicode'] == 1 else 'need'} Unicode (UCS-2)"
            f"{because}: a segment then holds 70 characters instead of 160, "
            "so they cost about 2-3 times as much."
        )
    if local["max_segments"] > MANY_SEGMENTS:
        warnings.append(
            f"Some messages are {local['max_segments']} segments long: each recipient is billed "
            f"for {local['max_segments']} SMS."
        )
    abroad: dict[str, int] = {}
    for code, count in Counter(audience.country_codes).items():
        country = audience.countries[code]
        if country and country != default_country:
            abroad[country] = count
    if abroad:
        listed = ", ".join(f"{country} ({n})" for country, n in sorted(abroad.items()))
        warnings.append(
            f"{sum(abroad.values())} recipients are outside {default_country}: {listed}. "
            "Check that they should get this message; prices differ by country."
        )
    recent = _recently_sent_same_text(session, campaign, now or utcnow())
    if recent:
        warnings.append(
            f"The same text was already sent to the same list in the last {RECENT_DAYS} days: "
            + ", ".join(f"“{c.name}”" for c in recent)
            + "."
        )
    return warnings


def _recently_sent_same_text(session: Session, campaign: Campaign, now: datetime):
    list_ids = [lst.id for lst in campaign.lists]
    if not list_ids:
        return []
    # IN rather than JOIN ... DISTINCT: PostgreSQL cannot compare the JSON columns DISTINCT needs.
    same_lists = select(campaign_lists.c.campaign_id).where(campaign_lists.c.list_id.in_(list_ids))
    return list(
        session.scalars(
            select(Campaign)
            .where(
                Campaign.id.in_(same_lists),
                Campaign.id != campaign.id,
                Campaign.message == campaign.message,
                Campaign.confirmed_at >= now - timedelta(days=RECENT_DAYS),
            )
            .order_by(Campaign.id)
        )
    )


@dataclass(frozen=True, slots=True)
class RecipientMessage:
    msisdn: str
    country: str | None
    fields: dict
    text: str
    encoding: str
    segments: int
    price: Decimal
    # An A/B test's group: "A", "B", "C", or "held" (priced, and shown, at the costliest
    # variant for them); None outside a test.
    group: str | None = None


def recipient_messages(
    session: Session,
    campaign: Campaign,
    *,
    search: str = "",
    costlier_only: bool = False,
    sort: str = "",
    page: int = 1,
    per_page: int = 50,
    price_table: PriceTable | None = None,
    total: int | None = None,
) -> tuple[list[RecipientMessage], int]:
    """Every recipient's own message: text, encoding, segments and price; one page of them.

    ``costlier_only`` keeps the recipients whose personalised text needs Unicode or more
    segments than the template with empty fields (a long name, a non-GSM character in a field).
    Unfiltered and in list order only the page is read (and counted, unless the caller knows
    the `total`, as a current preview does); a search, filter or sort reads every recipient.
    """
    table = price_table or PriceTable()
    needle = search.strip().lower()
    start = (max(1, page) - 1) * per_page
    texts = _Texts(campaign, resolve_fields(session, campaign))

    def message_of(recipient: ResolvedRecipient, group: str | None) -> RecipientMessage:
        # The held-back are shown as priced: at the variant that costs them most.
        text = max(
            (texts.text(recipient.fields, v) for v in _variants_of(campaign, group)),
            key=lambda text: texts.analysis(text).segments,
        )
        analysis = texts.analysis(text)
        price = table.price_for(recipient.country or "ZZ") * analysis.segments
        return RecipientMessage(
            recipient.msisdn,
            recipient.country,
            recipient.fields,
            text,
            analysis.encoding,
            analysis.segments,
            price,
            group,
        )

    if not needle and not costlier_only and not sort:  # only the page needs reading
        page_of = page_of_recipients(session, campaign, offset=start, limit=per_page)
        if total is None or campaign.is_ab_test:  # a test's split is of the whole audience
            total = count_recipients(session, campaign)
        groups = [None] * len(page_of)
        if campaign.is_ab_test:
            groups = groups_of(campaign, total)[start : start + len(page_of)]
        rows = [message_of(r, g) for r, g in zip(page_of, groups, strict=True)]
        return rows, total
    # Every recipient is read, a chunk at a time; only the page's rows are kept.
    audience = resolve_audience(session, campaign)
    baseline = analyze(
        render_for(campaign, audience.fields, {}), engine_encoding(campaign.encoding)
    )
    groups = groups_of(campaign, len(audience))

    def matching():
        for position, recipient in audience.recipients(session, range(len(audience))):
            row = message_of(recipient, groups[position])
            if needle and needle not in recipient.msisdn and needle not in row.text.lower():
                continue
            if costlier_only and not (
                row.segments > baseline.segments
                or (row.encoding == "UCS2" and baseline.encoding == "GSM")
            ):
                continue
            yield position, row

    if sort not in ("segments", "-segments"):
        rows: list[RecipientMessage] = []
        count = 0
        for _, row in matching():
            if start <= count < start + per_page:
                rows.append(row)
            count += 1
        return rows, count
    positions, segments = array("I"), array("I")
    for position, row in matching():
        positions.append(position)
        segments.append(row.segments)
    picked = _page_by_segments(positions, segments, start, per_page, sort.startswith("-"))
    found = dict(audience.recipients(session, sorted(picked)))
    rows = [message_of(found[p], groups[p]) for p in picked if p in found]
    return rows, len(positions)


def _page_by_segments(
    positions: array, segments: array, start: int, per_page: int, descending: bool
) -> list[int]:
    """The positions of the page ``[start:start + per_page]`` of ``positions`` stably sorted by
    their ``segments`` (as `list.sort`, ``reverse=descending``, sorts them), without sorting
    them all: a count of each segment length says which of each length the page holds."""
    lengths = Counter(segments)
    wanted: dict[int, tuple[int, int]] = {}  # length -> the page's range of its recipients
    before = 0
    for length in sorted(lengths, reverse=descending):
        first, last = max(start - before, 0), min(start + per_page - before, lengths[length])
        if first < last:
            wanted[length] = (first, last)
        before += lengths[length]
    picked: dict[int, list[int]] = {length: [] for length in wanted}
    seen: Counter = Counter()
    for position, length in zip(positions, segments, strict=True):
        if length in wanted:
            rank = seen[length]
            seen[length] += 1
            first, last = wanted[length]
            if first <= rank < last:
                picked[length].append(position)
    return [position for length in wanted for position in picked[length]]


@dataclass(frozen=True, slots=True)
class PhoneView:
    """One recipient's message as their phone shows it, cut where the gateway cuts it."""

    recipient: RecipientMessage
    segments: list[str]
    per_segment: int


def phone_view(session: Session, campaign: Campaign, msisdn: str | None) -> PhoneView | None:
    """The message `msisdn` gets (the first recipient's when `msisdn` is not one of them), with
    its segments; None when the campaign reaches no one."""
    rows: list[RecipientMessage] = []
    if msisdn and msisdn.isdigit():
        found, _ = recipient_messages(session, campaign, search=msisdn, per_page=100)
        rows = [row for row in found if row.msisdn == msisdn]
    if not rows:
        rows, _ = recipient_messages(session, campaign, per_page=1)
    if not rows:
        return None
    row = rows[0]
    encoding = "UCS2" if row.encoding == "UCS2" else "GSM"
    return PhoneView(
        row, split_segments(row.text, encoding), analyze(row.text, encoding).per_segment
    )
