"""Campaigns from draft to confirmation: compose, resolve the recipients, freeze them.

The request a batch sends is built here (`batch_message`), for the preview
(`webapp.services.preview`) and the send (`webapp.services.dispatch`) alike, so the counter, the
preview's cost and the real send agree. This module ends where a campaign is confirmed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import TypeVar

from sqlalchemy import BindParameter, Select, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError, InvalidMessage
from webapp.gateway.messages import Recipient as GatewayRecipient
from webapp.gateway.messages import RecipientRows, SmsMessage
from webapp.gateway.rules import sender_problem
from webapp.models import (
    Batch,
    Campaign,
    CampaignEvent,
    CampaignRecipient,
    CampaignStatus,
    CampaignTestSend,
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    RecipientState,
    User,
    campaign_lists,
    utcnow,
)
from webapp.money import money_text
from webapp.services.optouts import opted_out_numbers
from webapp.sms import (
    EncodingError,
    UnknownTagError,
    analyze,
    check_tags,
    gsm_spelling,
    render,
)
from webapp.sms.personalise import to_gateway_tags
from webapp.sms.phones import normalise_msisdn

T = TypeVar("T")

ENCODINGS = ("auto", "GSM", "UCS2")


class CampaignInvalid(ValueError):
    """The campaign cannot be saved or sent as it is: ``errors`` maps each field to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


class CampaignStateError(ValueError):
    """The action does not fit the campaign's state (e.g. editing a campaign that was sent)."""


@dataclass
class CampaignDraft:
    """What the compose form holds, as plain values."""

    name: str
    sender: str
    message: str
    list_ids: list[int] = field(default_factory=list)
    encoding: str = "auto"
    send_at: datetime | None = None
    speed_per_minute: int | None = None
    plain_values: bool = False


@dataclass(frozen=True, slots=True)
class ResolvedRecipient:
    msisdn: str
    country: str | None
    fields: dict


@dataclass
class ResolvedRecipients:
    recipients: list[ResolvedRecipient]
    fields: list[str]
    excluded_opted_out: int = 0
    excluded_duplicates: int = 0


def user_id_of(user: User | None) -> int | None:
    """Users act through pages; ``None`` is an operator on the command line."""
    return user.id if user is not None else None


def record_event(session: Session, campaign: Campaign, action: str, user: User | None, detail=None):
    session.add(
        CampaignEvent(
            campaign_id=campaign.id, action=action, detail=detail, user_id=user_id_of(user)
        )
    )


# --- Compose ---------------------------------------------------------------------------------


def available_fields(lists: Sequence[RecipientList]) -> list[str]:
    """The personalisation fields of the chosen lists, in order, each once."""
    seen: dict[str, None] = {}
    for recipient_list in lists:
        for name in recipient_list.fields or []:
            seen.setdefault(name, None)
    return list(seen)


def validate_draft(session: Session, draft: CampaignDraft, *, now: datetime | None = None):
    """Check a draft; raise CampaignInvalid naming every field that is wrong."""
    errors: dict[str, str] = {}
    if not draft.name.strip():
        errors["name"] = "Give the campaign a name; it is shown in the gateway's statistics."
    elif len(draft.name) > 200:
        errors["name"] = "The name can be at most 200 characters."
    problem = sender_problem(draft.sender.strip()) if draft.sender.strip() else None
    if not draft.sender.strip():
        errors["sender"] = "Enter a sender: up to 11 letters and digits, or up to 15 digits."
    elif problem:
        errors["sender"] = problem
    if draft.encoding not in ENCODINGS:
        errors["encoding"] = "Choose automatic, GSM or Unicode."
    lists = lists_by_id(session, draft.list_ids)
    if len(lists) != len(set(draft.list_ids)):
        errors["list_ids"] = "One of the chosen lists no longer exists."
    if draft.message:
        try:
            check_tags(draft.message, available_fields(lists))
        except UnknownTagError as error:
            errors["message"] = str(error)
        if draft.encoding == "GSM" and "message" not in errors:
            try:
                analyze(draft.message, "GSM")
            except EncodingError as error:
                errors["message"] = str(error)
    if draft.send_at is not None and draft.send_at <= (now or utcnow()):
        errors["send_at"] = "The send time is in the past. Leave it empty to send at once."
    if draft.speed_per_minute is not None and draft.speed_per_minute < 1:
        errors["speed_per_minute"] = "The speed must be at least 1 recipient per minute."
    if errors:
        raise CampaignInvalid(errors)
    return lists


def save_draft(
    session: Session, user: User, draft: CampaignDraft, campaign: Campaign | None = None
) -> Campaign:
    """Create or update a draft. A draft may be incomplete in message and lists, not in name."""
    lists = validate_draft(session, draft)
    if campaign is None:
        campaign = Campaign(created_by_id=user_id_of(user), status=CampaignStatus.DRAFT)
        session.add(campaign)
    elif campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateError("Only a draft can be edited; copy the campaign to change it.")
    campaign.name = draft.name.strip()
    campaign.sender = draft.sender.strip()
    campaign.message = draft.message
    campaign.encoding = draft.encoding
    campaign.send_at = draft.send_at
    campaign.speed_per_minute = draft.speed_per_minute
    campaign.plain_values = draft.plain_values
    if campaign.parent_id is None:
        _set_lists(session, campaign, lists)
    session.commit()
    return campaign


def _set_lists(session: Session, campaign: Campaign, lists: Sequence[RecipientList]) -> None:
    """Choose the campaign's lists and keep their order (the first list wins for a number)."""
    campaign.lists = list(lists)
    session.flush()
    for position, recipient_list in enumerate(lists):
        session.execute(
            update(campaign_lists)
            .where(
                campaign_lists.c.campaign_id == campaign.id,
                campaign_lists.c.list_id == recipient_list.id,
            )
            .values(position=position)
        )


def _draft_like(campaign: Campaign, what: str, user: User | None, **values) -> Campaign:
    """A new draft with ``campaign``'s sender, text and encoding, named "<name> (<what>)"."""
    return Campaign(
        name=f"{campaign.name} ({what})"[:200],
        sender=campaign.sender,
        message=campaign.message,
        encoding=campaign.encoding,
        plain_values=campaign.plain_values,
        created_by_id=user_id_of(user),
        status=CampaignStatus.DRAFT,
        **values,
    )


def copy_campaign(session: Session, campaign: Campaign, user: User) -> Campaign:
    copy = _draft_like(campaign, "copy", user, speed_per_minute=campaign.speed_per_minute)
    session.add(copy)
    _set_lists(session, copy, [lst for lst in campaign.lists if not lst.hidden])
    session.commit()
    return copy


def delete_draft(session: Session, campaign: Campaign) -> None:
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateError("Only a draft can be deleted; a sent campaign stays in history.")
    session.delete(campaign)
    session.commit()


def lists_by_id(session: Session, list_ids: Sequence[int]) -> list[RecipientList]:
    if not list_ids:
        return []
    found = {
        lst.id: lst
        for lst in session.scalars(
            select(RecipientList).where(
                RecipientList.id.in_(list_ids), RecipientList.hidden.is_(False)
            )
        )
    }
    return [found[i] for i in dict.fromkeys(list_ids) if i in found]


# --- Recipients ------------------------------------------------------------------------------


def resolve_recipients(session: Session, campaign: Campaign) -> ResolvedRecipients:
    """Who the campaign would reach now: lists merged, each number once, opt-outs excluded.

    A follow-up campaign reaches its parent's failed recipients instead of lists.
    """
    rows = (
        (msisdn, ResolvedRecipient(msisdn, country, values or {}))
        for source in _sources(campaign)
        for msisdn, country, values in _read(session, source.rows("msisdn", "country", "fields"))
    )
    recipients, opted_out, duplicates = each_number_once(rows, opted_out_numbers(session))
    return ResolvedRecipients(
        recipients=recipients,
        fields=resolve_fields(session, campaign),
        excluded_opted_out=opted_out,
        excluded_duplicates=duplicates,
    )


def resolve_fields(session: Session, campaign: Campaign) -> list[str]:
    """The fields a campaign can personalise with: its lists', or its first ancestor's."""
    while campaign.parent_id is not None:
        campaign = session.get(Campaign, campaign.parent_id)
    return available_fields(campaign.lists)


@dataclass(frozen=True)
class _Source:
    """Some of the people a campaign would reach: rows of one table, read in id order."""

    table: type[Recipient] | type[CampaignRecipient]
    criteria: tuple

    def rows(self, *columns: str) -> Select:
        selected = [getattr(self.table, column) for column in columns]
        return select(*selected).where(*self.criteria).order_by(self.table.id)


def _sources(campaign: Campaign) -> list[_Source]:
    """A follow-up's parent's failed recipients, or the campaign's lists in the order chosen."""
    if campaign.parent_id is not None:
        failed = (
            CampaignRecipient.campaign_id == campaign.parent_id,
            CampaignRecipient.state == RecipientState.FAILED,
        )
        return [_Source(CampaignRecipient, failed)]
    return _list_sources(campaign.lists)


def _list_sources(lists: Sequence[RecipientList]) -> list[_Source]:
    """The recipients of each list's completed imports, list by list."""
    completed = select(ListImport.id).where(ListImport.status == ImportStatus.DONE)
    return [
        _Source(Recipient, (Recipient.list_id == lst.id, Recipient.import_id.in_(completed)))
        for lst in lists
    ]


def _read(session: Session, query: Select):
    """Rows as they are read, through Core: for lists of 100,000 that takes half the time of
    the ORM, which would also make every row of a chunk at once."""
    return session.connection().execute(query.execution_options(yield_per=10_000))


def each_number_once(
    rows: Iterable[tuple[str, T]], opted_out: set[str]
) -> tuple[list[T], int, int]:
    """The items of (msisdn, item) rows, each number once (the first row wins) and opted-out
    numbers left out; and how many rows were left out for each of the two reasons."""
    kept: list[T] = []
    seen: set[str] = set()
    excluded_opted_out = excluded_duplicates = 0
    for msisdn, item in rows:
        if msisdn in opted_out:
            excluded_opted_out += 1
        elif msisdn in seen:
            excluded_duplicates += 1
        else:
            seen.add(msisdn)
            kept.append(item)
    return kept, excluded_opted_out, excluded_duplicates


def recipients_of_lists(session: Session, lists: Sequence[RecipientList]):
    """Recipients of completed imports, list by list in the order chosen: the first list wins."""
    for source in _list_sources(lists):
        yield from _read(session, source.rows("msisdn", "country", "fields"))


def batch_size_for(campaign: Campaign, configured: int) -> int:
    """Recipients per request: the configured size, smaller when a speed limit asks for it."""
    size = max(1, min(10_000, configured))
    if campaign.speed_per_minute:
        size = max(1, min(size, campaign.speed_per_minute))
    return size


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_message(
    campaign: Campaign,
    recipients: Sequence[tuple[str, dict]],
    fields: Sequence[str],
    *,
    number: int,
    callback_url: str | None = None,
) -> SmsMessage:
    """The one SMS object a batch sends: the template with tags, each recipient's tag values."""
    tags, tag_fields = to_gateway_tags(campaign.message, list(fields))
    return tagged_batch_message(
        campaign,
        [
            (msisdn, *[values.get(name) or "" for name in tag_fields])
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
) -> SmsMessage:
    """`batch_message` from rows of (msisdn, the text of each tag's field, ...), "" where a
    recipient has none: the dispatcher has the database pick them out of the stored fields.

    ``tags`` come from ``to_gateway_tags``.
    """
    if campaign.plain_values and tags:
        rows = ((row[0], *map(gsm_spelling, row[1:])) for row in rows)
    return SmsMessage(
        message=campaign.message,
        recipients=RecipientRows((row[0], tuple(row[1:]) if tags else None) for row in rows),
        sender=campaign.sender,
        label=campaign.name,
        encoding="UCS2" if campaign.encoding == "UCS2" else None,
        tags=list(tags) or None,
        callback_url=callback_url,
        userref=f"campaign-{campaign.id}-batch-{number}",
    )


def render_for(campaign: Campaign, fields: Sequence[str], values: dict) -> str:
    """The campaign's text for one recipient's values, as the gateway will render it."""
    spell = gsm_spelling if campaign.plain_values else str
    return render(campaign.message, {name: spell(values.get(name) or "") for name in fields})


# --- Is the preview current? ---------------------------------------------------------------


def content_fingerprint(session: Session, campaign: Campaign) -> str:
    """Changes whenever what would be sent changes: text, sender, encoding, lists, opt-outs."""
    lists = [(lst.id, lst.recipient_count, _last_import(session, lst.id)) for lst in campaign.lists]
    opt_outs = session.execute(select(func.count(), func.max(OptOut.created_at))).one()
    state = {
        "name": campaign.name,
        "sender": campaign.sender,
        "message": campaign.message,
        "encoding": campaign.encoding,
        "speed": campaign.speed_per_minute,
        "lists": lists,
        "parent": campaign.parent_id,
        "opt_outs": [opt_outs[0], str(opt_outs[1])],
    }
    if campaign.plain_values:  # only when set, so the fingerprints of earlier previews hold
        state["plain_values"] = True
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _last_import(session: Session, list_id: int) -> int | None:
    return session.scalar(
        select(func.max(ListImport.id)).where(
            ListImport.list_id == list_id, ListImport.status == ImportStatus.DONE
        )
    )


def preview_is_current(session: Session, campaign: Campaign) -> bool:
    return bool(campaign.preview_fingerprint) and campaign.preview_fingerprint == (
        content_fingerprint(session, campaign)
    )


# --- Confirm ---------------------------------------------------------------------------------


def confirm_campaign(
    session: Session,
    campaign: Campaign,
    user: User,
    *,
    batch_size: int,
    now: datetime | None = None,
) -> Campaign:
    """Freeze the recipients into batches and queue the campaign (or schedule it).

    Requires a preview of the current content. After this, list changes do not change who the
    campaign reaches.
    """
    now = now or utcnow()
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateError("This campaign was already confirmed.")
    if not preview_is_current(session, campaign):
        raise CampaignStateError(
            "The campaign changed since its preview (text, lists or opt-outs). "
            "Preview it again before sending."
        )
    if campaign.send_at is not None and campaign.send_at <= now:
        raise CampaignInvalid({"send_at": "The send time has passed. Change it or clear it."})
    sources = _sources(campaign)
    rows = (
        (msisdn, (index, row_id))
        for index, source in enumerate(sources)
        for row_id, msisdn in _read(session, source.rows("id", "msisdn"))
    )
    frozen, _, _ = each_number_once(rows, opted_out_numbers(session))
    connection = session.connection()
    for number, chunk in enumerate(chunks(frozen, batch_size_for(campaign, batch_size)), start=1):
        batch_id = connection.execute(
            insert(Batch.__table__).values(campaign_id=campaign.id, number=number, size=len(chunk))
        ).inserted_primary_key[0]
        for index, run in groupby(chunk, key=lambda row: row[0]):
            _freeze(connection, campaign, batch_id, sources[index], [row_id for _, row_id in run])
    campaign.recipient_count = len(frozen)
    campaign.status = CampaignStatus.SCHEDULED if campaign.send_at else CampaignStatus.QUEUED
    campaign.confirmed_at = now
    campaign.confirmed_by_id = user_id_of(user)
    cost = f"{money_text(campaign.cost)} {campaign.currency or ''}"
    detail = f"{campaign.recipient_count} recipients, {cost}"
    record_event(session, campaign, "confirmed", user, detail.strip())
    session.commit()
    return campaign


def _freeze(connection, campaign: Campaign, batch_id: int, source: _Source, ids: list[int]):
    """Copy the chosen rows of one source into the batch, in their order, within the database:
    their fields are never decoded and encoded again here. A follow-up's copies are marked
    as handed over on its parent."""
    table = source.table
    pending = literal(RecipientState.PENDING, CampaignRecipient.__table__.c.state.type)
    copies = select(
        literal(campaign.id), literal(batch_id), table.msisdn, table.country, table.fields, pending
    )
    connection.execute(
        insert(CampaignRecipient.__table__).from_select(
            ["campaign_id", "batch_id", "msisdn", "country", "fields", "state"],
            copies.where(table.id.in_(_inline(ids))).order_by(table.id),
        )
    )
    if table is CampaignRecipient:
        connection.execute(
            update(CampaignRecipient.__table__)
            .where(
                CampaignRecipient.id.in_(_inline(ids)),
                CampaignRecipient.state == RecipientState.FAILED,
            )
            .values(state=RecipientState.RESENT)
        )


def _inline(ids: list[int]) -> BindParameter:
    """Ids written into the statement rather than bound one by one: 10,000 parameters cost
    more to prepare than the insert itself (integers, so nothing needs quoting)."""
    return bindparam("ids", [int(row_id) for row_id in ids], expanding=True, literal_execute=True)


def create_follow_up(session: Session, campaign: Campaign, user: User) -> Campaign:
    """A draft that reaches exactly this campaign's failed recipients, never the accepted ones."""
    existing = session.scalar(
        select(Campaign).where(
            Campaign.parent_id == campaign.id, Campaign.status == CampaignStatus.DRAFT
        )
    )
    if existing is not None:
        return existing
    failed = session.scalar(
        select(func.count()).where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state == RecipientState.FAILED,
        )
    )
    if not failed:
        raise CampaignStateError(
            "No recipient of this campaign is marked as failed. Decide the unconfirmed batches "
            "first if some are waiting."
        )
    follow_up = _draft_like(campaign, "follow-up", user, parent_id=campaign.id)
    session.add(follow_up)
    session.commit()
    return follow_up


# --- Test messages ---------------------------------------------------------------------------

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
) -> CampaignTestSend:
    """Send the message, rendered with one recipient's values, to the user's own phones.

    Recorded as a test; it never counts as (or blocks) the campaign's own send. With
    `callback_url` its delivery reports come back like the campaign's.
    """
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
    resolved = resolve_recipients(session, campaign)
    sample = next((r for r in resolved.recipients if r.msisdn == sample_msisdn), None)
    if sample is None and resolved.recipients:
        sample = resolved.recipients[0]
    text = render_for(campaign, resolved.fields, sample.fields if sample else {})
    message = SmsMessage(
        message=text,
        recipients=[GatewayRecipient(m) for m in msisdns],
        sender=campaign.sender,
        label=f"{campaign.name} (test)",
        encoding="UCS2" if campaign.encoding == "UCS2" else None,
        userref=f"campaign-{campaign.id}-test",
        callback_url=callback_url,
    )
    record = CampaignTestSend(
        campaign_id=campaign.id, numbers=msisdns, message=text, created_by_id=user.id
    )
    session.add(record)
    try:
        result = client.send(message)
    except (GatewayError, InvalidMessage) as error:
        record.error = str(error)
    else:
        record.message_id = str(result.message_id) if result.message_id is not None else None
    session.commit()
    return record


# --- Queries for the pages -------------------------------------------------------------------


def find_list(session: Session, name: str) -> RecipientList:
    """A visible list by its exact name, for the command line."""
    found = list(
        session.scalars(
            select(RecipientList).where(RecipientList.name == name, RecipientList.hidden.is_(False))
        )
    )
    if len(found) != 1:
        problem = "No list is" if not found else f"{len(found)} lists are"
        raise CampaignInvalid({"list_ids": f"{problem} called {name!r}."})
    return found[0]


def list_campaigns(session: Session) -> list[Campaign]:
    return list(
        session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()))
    )


def selectable_lists(session: Session) -> list[RecipientList]:
    """Lists a campaign can use: visible ones with at least one finished import."""
    return list(
        session.scalars(
            select(RecipientList)
            .where(RecipientList.hidden.is_(False))
            .order_by(RecipientList.name, RecipientList.id)
        )
    )


def batches_in_state(session: Session, campaign: Campaign, state: str) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch)
            .where(Batch.campaign_id == campaign.id, Batch.state == state)
            .order_by(Batch.number)
        )
    )


def sent_tests_of(session: Session, campaign: Campaign) -> list[CampaignTestSend]:
    return list(
        session.scalars(
            select(CampaignTestSend)
            .where(CampaignTestSend.campaign_id == campaign.id)
            .order_by(CampaignTestSend.id.desc())
        )
    )


def follow_ups_of(session: Session, campaign: Campaign) -> list[Campaign]:
    return list(session.scalars(select(Campaign).where(Campaign.parent_id == campaign.id)))
