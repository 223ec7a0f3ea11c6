"""What happened to each recipient of a campaign: the outcome table (filtered, searched, a page
at a time, with each recipient's text, segments, price, message id and status history), the
usage per country, and the exports (CSV and .xlsx, streamed). Read only."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, aliased

from webapp.gateway.pricing import PriceTable
from webapp.models import (
    BatchState,
    Campaign,
    CampaignRecipient,
    DeliveryOutcome,
    DeliveryReport,
    utcnow,
)
from webapp.money import money_text
from webapp.services.abtests import ab_test_report
from webapp.services.audience import resolve_fields
from webapp.services.campaigns.payload import engine_encoding, render_for
from webapp.services.clicks import campaign_clicks, clicks_of
from webapp.services.delivery import delivery_counts, delivery_summary
from webapp.services.lists import UTF8_BOM, neutralise_formula
from webapp.services.pages import Page, count_rows, within_pages
from webapp.sms import analyze

R = CampaignRecipient
SEPARATORS = {"comma": ",", "semicolon": ";"}
EXPORT_COLUMNS = [
    "msisdn",
    "country",
    "outcome",
    "gateway status",
    "error",
    "error code",
    "reported at (UTC)",
    "message id",
    "segments",
    "price",
    "currency",
    "clicked",  # "yes"/"no" for a campaign with tracked links, else empty
    "first click (UTC)",
    "message",
]


class UnknownCampaign(LookupError):
    """No campaign has that name."""


def find_campaign_by_name(session: Session, name: str) -> Campaign:
    """The newest campaign called ``name`` (names are not unique; the latest is meant)."""
    campaign = session.scalar(
        select(Campaign).where(Campaign.name == name).order_by(Campaign.id.desc()).limit(1)
    )
    if campaign is None:
        raise UnknownCampaign(f"No campaign is called “{name}”.")
    return campaign


@dataclass(frozen=True)
class HistoryEntry:
    status: str
    at: datetime
    applied: bool


@dataclass
class OutcomeRow:
    id: int
    msisdn: str
    country: str | None
    text: str
    segments: int
    price: Decimal | None
    message_id: str | None
    status: str | None
    outcome: DeliveryOutcome
    error: str | None
    code: str | None
    updated_at: datetime | None
    history: list[HistoryEntry] = field(default_factory=list)
    clicks: int = 0  # on the campaign's tracked links, by the person (see services.clicks)
    first_click_at: datetime | None = None


@dataclass(frozen=True)
class OutcomeFilter:
    outcome: str = ""  # a DeliveryOutcome value, or "failed" for every failure
    country: str = ""
    reason: str = ""  # a gateway error code
    search: str = ""  # part of the number, or of a field's value


def _filtered(campaign: Campaign, chosen: OutcomeFilter):
    query = select(R).where(R.campaign_id == campaign.id)
    if chosen.outcome == "failed":
        query = query.where(R.delivery_outcome.in_(DeliveryOutcome.failures()))
    elif chosen.outcome == DeliveryOutcome.AWAITING.value:
        query = query.where(
            or_(R.delivery_outcome.is_(None), R.delivery_outcome == DeliveryOutcome.AWAITING)
        )
    elif chosen.outcome in {o.value for o in DeliveryOutcome}:
        query = query.where(R.delivery_outcome == DeliveryOutcome(chosen.outcome))
    if chosen.country:
        query = query.where(R.country == chosen.country.upper()[:2])
    if chosen.reason:
        query = query.where(R.delivery_code == chosen.reason[:16])
    search = chosen.search.strip()
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        pattern = f"%{search.lower()}%"
        matches = [func.lower(cast(R.fields, String)).like(pattern)]
        if digits:
            matches.append(R.msisdn.like(f"%{digits}%"))
        query = query.where(or_(*matches))
    return query


def own_recipients_bound(campaign: Campaign) -> list:
    """A condition that says in so many words where the campaign's recipients start in id
    order. PostgreSQL reads a page of them in id order along the primary key and, taking them
    to be spread over the whole table, would step over every earlier campaign's rows first (a
    campaign after one of 100,000: 8 ms for its first page, 0.1 ms from the bound)."""
    if campaign.recipients_after_id is None:  # confirmed before the bound was kept
        return []
    return [R.id > campaign.recipients_after_id]


def outcome_page(
    session: Session,
    campaign: Campaign,
    chosen: OutcomeFilter = OutcomeFilter(),  # noqa: B008 - frozen, so a safe default
    *,
    page: int = 1,
    per_page: int = 50,
) -> Page[OutcomeRow]:
    """One page of the outcome table, each row with its text, price and status history."""
    query = _filtered(campaign, chosen)
    total = _kept_total(session, campaign, chosen)
    if total is None:
        total = count_rows(session, query)
    page = within_pages(page, total, per_page)
    recipients = []
    if total:
        # The page's ids first, by themselves (from the index, not the rows: a late page
        # steps over ids only), then their rows.
        ids = (
            query.with_only_columns(R.id.label("id"))
            .where(*own_recipients_bound(campaign))
            .order_by(R.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
            .subquery("page_ids")
        )
        found = session.scalars(select(R).join(ids, R.id == ids.c.id))
        recipients = sorted(found, key=lambda recipient: recipient.id)  # a page: no sort in SQL
    rows = _rows(_Rendering.of(session, campaign), recipients)
    _add_history(session, rows)
    _add_clicks(session, rows)
    return Page(rows, total, page, per_page)


def _kept_total(session: Session, campaign: Campaign, chosen: OutcomeFilter) -> int | None:
    """How many recipients an outcome filter (or none) matches, from the figures kept at
    confirmation and by the webhook, without counting rows; None when a country, reason or
    search is chosen, or the campaign's figures were not kept (recipients written otherwise)."""
    if chosen.country or chosen.reason or chosen.search.strip():
        return None
    if campaign.recipient_countries is None:  # written with recipient_count, at confirmation
        return None
    finals = delivery_counts(session, [campaign.id])[campaign.id]
    if chosen.outcome == "failed":
        return sum(finals.get(outcome, 0) for outcome in DeliveryOutcome.failures())
    if chosen.outcome == DeliveryOutcome.AWAITING.value:
        return campaign.recipient_count - sum(finals.values())
    if chosen.outcome in {o.value for o in DeliveryOutcome}:
        return finals.get(DeliveryOutcome(chosen.outcome), 0)
    return campaign.recipient_count


def outcome_rows(session: Session, recipients: list[CampaignRecipient]) -> list[OutcomeRow]:
    """The outcome rows of recipients of any campaigns (one number's history, for instance), in
    their order, each rendered by its own campaign and with its status history."""
    renderings: dict[int, _Rendering] = {}
    rows = []
    for recipient in recipients:
        campaign_id = recipient.campaign_id
        if campaign_id not in renderings:
            renderings[campaign_id] = _Rendering.of(session, session.get(Campaign, campaign_id))
        rows.extend(_rows(renderings[campaign_id], [recipient]))
    _add_history(session, rows)
    _add_clicks(session, rows)
    return rows


def _add_history(session: Session, rows: list[OutcomeRow]) -> None:
    history: dict[int, list[HistoryEntry]] = {row.id: row.history for row in rows}
    if history:
        for report in session.scalars(
            select(DeliveryReport)
            .where(DeliveryReport.recipient_id.in_(history))
            .order_by(DeliveryReport.reported_at, DeliveryReport.id)
        ):
            history[report.recipient_id].append(
                HistoryEntry(report.status, report.reported_at, report.applied)
            )


def _add_clicks(session: Session, rows: list[OutcomeRow]) -> None:
    found = clicks_of(session, [row.id for row in rows])
    for row in rows:
        if row.id in found:
            row.clicks, row.first_click_at = found[row.id].clicks, found[row.id].first_at


WAITS_FOR_WINNER = "(held back for the A/B test's winner: nothing sent yet)"


@dataclass(frozen=True)
class _Rendering:
    """What rendering a recipient's row needs of its campaign, read once (the exports stream
    after the view has returned, so they must not touch the campaign object again)."""

    campaign: Campaign
    fields: list[str]
    batches: dict[int, tuple[str | None, BatchState, int, Decimal, str | None]]
    encoding: str
    currency: str
    tracked: bool  # the campaign has tracked links

    @classmethod
    def of(cls, session: Session, campaign: Campaign) -> _Rendering:
        batches = {
            b.id: (b.message_id, b.state, b.segments, b.cost, b.variant) for b in campaign.batches
        }
        return cls(
            campaign,
            resolve_fields(session, campaign),
            batches,
            engine_encoding(campaign.encoding),
            campaign.currency or "",
            bool(campaign.link_host),
        )


def _rows(rendering: _Rendering, recipients) -> list[OutcomeRow]:
    rows = []
    for recipient in recipients:
        message_id, state, batch_segments, batch_cost, variant = rendering.batches.get(
            recipient.batch_id, (None, None, 0, Decimal(0), None)
        )
        if state == BatchState.HELD:  # an A/B test's held-back: no text is theirs yet
            text, segments = WAITS_FOR_WINNER, 0
        else:  # the text of the recipient's batch (an A/B test's variant)
            text = render_for(rendering.campaign, rendering.fields, recipient.fields or {}, variant)
            segments = recipient.segments or analyze(text, rendering.encoding).segments
        price = None
        if state == BatchState.SENT and batch_segments:
            # A recipient's share of its batch's cost: the batch's price per segment times its own.
            price = (Decimal(batch_cost) / batch_segments * segments).quantize(Decimal("0.0001"))
        rows.append(
            OutcomeRow(
                id=recipient.id,
                msisdn=recipient.msisdn,
                country=recipient.country,
                text=text,
                segments=segments,
                price=price,
                message_id=message_id,
                status=recipient.delivery_status,
                outcome=DeliveryOutcome.of(recipient.delivery_status),
                error=recipient.delivery_error,
                code=recipient.delivery_code,
                updated_at=recipient.delivery_updated_at,
            )
        )
    return rows


def filter_choices(session: Session, campaign: Campaign) -> dict[str, list[str]]:
    """The countries and error codes that occur, for the filter menus: the countries kept at
    confirmation, the codes by skipping through the index of reported failures (a few seeks
    per code, however many recipients the campaign has)."""
    countries = campaign.recipient_countries
    if countries is None:  # not kept (recipients written other than by confirmation)
        countries = session.scalars(
            select(R.country).where(R.campaign_id == campaign.id).distinct().order_by(R.country)
        )
    return {
        "countries": [c for c in countries if c],
        "reasons": [
            (code, f"{code} {error or ''}".strip())
            for code, error in sorted(session.execute(_reasons_of(campaign.id)).all())
        ],
    }


def _reasons_of(campaign_id: int):
    """Each error code among the campaign's recipients with its first error text:
    a recursive query that seeks the next code after the last one found (a skip scan of
    ix_campaign_recipients_code) instead of grouping every failed recipient."""
    coded = aliased(R)
    codes = (
        select(func.min(R.delivery_code).label("code"))
        .where(R.campaign_id == campaign_id, R.delivery_code.is_not(None))
        .cte("codes", recursive=True)
    )
    after = (
        select(func.min(coded.delivery_code))
        .where(coded.campaign_id == campaign_id, coded.delivery_code > codes.c.code)
        .scalar_subquery()
    )
    codes = codes.union_all(select(after).where(codes.c.code.is_not(None)))
    error = (
        select(func.min(coded.delivery_error))
        .where(coded.campaign_id == campaign_id, coded.delivery_code == codes.c.code)
        .scalar_subquery()
    )
    return select(codes.c.code, error).where(codes.c.code.is_not(None))


# --- Usage per country ----------------------------------------------------------------------


@dataclass(frozen=True)
class CountryUsage:
    country: str
    segments: int
    cost: Decimal


def usage_by_country(campaign: Campaign, prices: PriceTable | None = None) -> list[CountryUsage]:
    """Segments and cost per country from the gateway's ``usage`` of each sent batch. The
    gateway gives one total per batch: a batch to several countries shares it out by the
    segments' list price in each."""
    prices = prices or PriceTable()
    segments: dict[str, int] = {}
    cost: dict[str, Decimal] = {}
    for batch in campaign.batches:
        if batch.state != BatchState.SENT or not batch.usage:
            continue
        countries = {c: int(n) for c, n in (batch.usage.get("countries") or {}).items()}
        weights = {c: n * prices.price_for(c) for c, n in countries.items()}
        total_weight = sum(weights.values()) or Decimal(1)
        for country, parts in countries.items():
            segments[country] = segments.get(country, 0) + parts
            share = Decimal(batch.cost) * weights[country] / total_weight
            cost[country] = cost.get(country, Decimal(0)) + share
    return [
        CountryUsage(c, segments[c], cost[c].quantize(Decimal("0.0001")))
        for c in sorted(segments, key=lambda c: -segments[c])
    ]


# --- Until when reports are expected ---------------------------------------------------------


def reports_expected_until(campaign: Campaign, validity_hours: float) -> datetime | None:
    """The end of the validity period of the campaign's last batch: no report comes later."""
    sent_at = campaign.finished_at or campaign.started_at
    if sent_at is None:
        return None
    return sent_at + timedelta(hours=validity_hours)


def still_reporting(campaign: Campaign, all_final: bool, validity_hours: float) -> bool:
    """Whether the campaign page should keep asking for new results."""
    if campaign.status.is_live:
        return True
    until = reports_expected_until(campaign, validity_hours)
    return not all_final and until is not None and utcnow() < until


CLICKS_WATCHED = timedelta(days=7)
"""How long after its send a campaign's page keeps looking for new clicks on its links."""


def still_clicking(campaign: Campaign, has_links: bool, now: datetime | None = None) -> bool:
    """Whether the campaign page should keep asking for new clicks, slowly, once delivery
    reports have stopped: people open a link hours and days after the message."""
    started = campaign.started_at
    return has_links and started is not None and (now or utcnow()) < started + CLICKS_WATCHED


# --- Exports --------------------------------------------------------------------------------


_EXPORT_READ = (
    R.id,
    R.msisdn,
    R.country,
    R.fields,
    R.segments,
    R.batch_id,
    R.delivery_status,
    R.delivery_error,
    R.delivery_code,
    R.delivery_updated_at,
)


def _export_rows(session: Session, rendering: _Rendering) -> Iterator[list]:
    """Every recipient's outcome as export cells, read a thousand rows at a time (plain rows,
    not ORM objects, so nothing piles up in the session)."""
    result = session.execute(
        select(*_EXPORT_READ).where(R.campaign_id == rendering.campaign.id).order_by(R.id)
    ).yield_per(1000)
    for chunk in result.partitions():
        yield from _cells(session, rendering, chunk)


def _cells(session: Session, rendering: _Rendering, recipients) -> Iterator[list]:
    rows = _rows(rendering, recipients)
    tracked = rendering.tracked
    if tracked:
        _add_clicks(session, rows)
    for row in rows:
        yield [
            row.msisdn,
            row.country or "",
            row.outcome.label,
            row.status or "",
            row.error or "",
            row.code or "",
            row.updated_at.strftime("%Y-%m-%d %H:%M:%S") if row.updated_at else "",
            row.message_id or "",
            row.segments,
            money_text(row.price) if row.price is not None else "",
            rendering.currency,
            ("yes" if row.clicks else "no") if tracked else "",
            row.first_click_at.strftime("%Y-%m-%d %H:%M:%S") if row.first_click_at else "",
            row.text,
        ]


def export_csv(session: Session, campaign: Campaign, separator: str = ",") -> Iterator[str]:
    """The outcomes as CSV text for Excel (UTF-8 with BOM), formula-safe, a chunk at a time."""
    if separator not in SEPARATORS.values():
        raise ValueError(f"Unsupported separator {separator!r}.")
    return _csv_chunks(session, _Rendering.of(session, campaign), separator)


def _csv_chunks(session: Session, rendering: _Rendering, separator: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator)

    def line(cells) -> str:
        writer.writerow([neutralise_formula(str(cell)) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield UTF8_BOM + line(EXPORT_COLUMNS)
    lines = []
    for cells in _export_rows(session, rendering):
        lines.append(line(cells))
        if len(lines) >= 1000:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def export_xlsx(session: Session, campaign: Campaign) -> Iterator[bytes]:
    """The outcomes as an .xlsx workbook: openpyxl's write-only mode streams rows to a temporary
    file (memory stays flat), which is then read out in chunks. Text cells are formula-safe."""
    return _xlsx_chunks(session, _Rendering.of(session, campaign))


def _xlsx_chunks(session: Session, rendering: _Rendering) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Outcomes")
    sheet.append(EXPORT_COLUMNS)
    for cells in _export_rows(session, rendering):
        row = []
        for value in cells:
            cell = WriteOnlyCell(sheet, value=value if isinstance(value, int) else str(value))
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula, whatever it starts with
            row.append(cell)
        sheet.append(row)
    with tempfile.TemporaryFile() as out:
        workbook.save(out)
        out.seek(0)
        while chunk := out.read(64 * 1024):
            yield chunk


# --- The command line's report ---------------------------------------------------------------


def campaign_report(session: Session, campaign: Campaign) -> dict:
    """What ``flask campaigns report`` prints: recipients, counts per gateway status and in
    words, the delivery rate, usage per country, every batch that went unconfirmed, the
    tracked links' clicks (``links`` None for a campaign without any) and an A/B test's results
    per variant."""
    summary = delivery_summary(session, campaign)
    statuses = session.execute(
        select(R.delivery_status, func.count())
        .where(R.campaign_id == campaign.id, R.delivery_status.is_not(None))
        .group_by(R.delivery_status)
    ).all()
    unconfirmed = []
    for batch in campaign.batches:
        note = batch.error_message or ""
        if batch.state == BatchState.UNCONFIRMED or "unconfirmed" in note or "Decided" in note:
            unconfirmed.append(
                {"batch": batch.number, "state": batch.state.value, "resolution": note}
            )
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": campaign.status.value,
        "recipients": campaign.recipient_count,
        "sent": summary.base,
        "gateway_statuses": {status: count for status, count in sorted(statuses)},
        "outcomes": {o.label: summary.counts[o] for o in DeliveryOutcome},
        "delivery_rate": summary.delivery_rate,
        "countries": [
            {"country": u.country, "segments": u.segments, "cost": money_text(u.cost)}
            for u in usage_by_country(campaign)
        ],
        "currency": campaign.currency,
        "unconfirmed_batches": unconfirmed,
        "links": _link_report(session, campaign),
        "ab_test": ab_test_report(session, campaign),
    }


def _link_report(session: Session, campaign: Campaign) -> dict | None:
    figures = campaign_clicks(session, campaign.id)
    if figures is None:
        return None

    def of(link) -> dict:
        return {
            "clicks": link.clicks,
            "unique_clickers": link.clickers,
            "click_through_rate": link.rate,
            "bot_clicks": link.bot_clicks,
        }

    return {
        **of(figures.total),
        "delivered": figures.total.delivered,
        "per_link": [
            {"link": link.number, "target": link.target, **of(link)} for link in figures.links
        ],
    }
