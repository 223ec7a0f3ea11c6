"""The opt-out list and the consent record: numbers that must never be imported or sent to.

Numbers are kept as MSISDNs, normalised like list imports with the workspace's default
country, so `+45 20 12 34 56` and `20123456` are the same opt-out. List imports count the
numbers on it as opted out; campaigns leave them out of every send.

Every change goes through `record_consent`: it appends a `ConsentEvent` (never changed or
deleted) and brings the `OptOut` set in line with it, so the set is always what the events say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.csvimport import CsvFormatError, iter_rows, sniff_csv
from webapp.models import ConsentAction, ConsentEvent, ConsentSource, OptOut, User, utcnow
from webapp.services.actors import user_id_of
from webapp.services.pages import Page, count_rows
from webapp.sms.phones import normalise_msisdn

MAX_NOTE_LENGTH = 200
PER_PAGE = 50
CHUNK_NUMBERS = 2_000
"""Numbers looked up and inserted at a time (well within every database's bound parameters)."""

_SEPARATORS = re.compile(r"[\n,;]+")


class OptOutInvalid(ValueError):
    """Nothing could be added or removed; the message says why."""


@dataclass
class OptOutResult:
    """What became of the numbers given: every one is added, already there, or invalid."""

    added: int = 0
    already: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)
    """(the number as given, or "line N" for a file; the reason) per number not understood."""

    @property
    def total(self) -> int:
        return self.added + self.already + len(self.invalid)


def split_numbers(text: str) -> list[str]:
    """The numbers typed in a box, one per line or separated by commas or semicolons."""
    return [part.strip() for part in _SEPARATORS.split(text or "") if part.strip()]


def add_opt_outs(
    session: Session,
    numbers: Iterable[str],
    *,
    default_country: str,
    user: User | None = None,
    note: str | None = None,
    source: ConsentSource = ConsentSource.TYPED,
) -> OptOutResult:
    """Add numbers as typed by a person (or an operator: ``source``); each is normalised, or
    reported with the reason."""
    result = OptOutResult()
    valid: list[str] = []
    for raw in numbers:
        phone = normalise_msisdn(raw, default_country)
        if phone.msisdn is None:
            result.invalid.append((raw, phone.reason or "not a phone number"))
        else:
            valid.append(phone.msisdn)
    _store(session, valid, result, user, note, source)
    session.commit()
    return result


def import_opt_outs(
    session: Session,
    source: BinaryIO | Path,
    *,
    default_country: str,
    user: User | None = None,
    note: str | None = None,
) -> OptOutResult:
    """Add every number of a CSV file: the column that looks like phone numbers, else the first.

    Streams the file; invalid cells are reported with their line. Raises OptOutInvalid for a
    file that cannot be read as CSV (nothing is added then).
    """
    result = OptOutResult()
    try:
        fmt = sniff_csv(source, default_country)
        column = fmt.phone_column if fmt.phone_column is not None else 0
        pending: list[str] = []
        for row in iter_rows(source, fmt):
            cell = row.cells[column] if column < len(row.cells) else ""
            phone = normalise_msisdn(cell, default_country)
            if phone.msisdn is None:
                result.invalid.append((f"line {row.line}", phone.reason or "not a phone number"))
                continue
            pending.append(phone.msisdn)
            if len(pending) >= CHUNK_NUMBERS:
                _store(session, pending, result, user, note, ConsentSource.IMPORT)
                pending = []
        _store(session, pending, result, user, note, ConsentSource.IMPORT)
    except CsvFormatError as error:
        session.rollback()
        raise OptOutInvalid(f"{error} No number from the file was added.") from None
    session.commit()
    return result


def _store(
    session: Session,
    numbers: list[str],
    result: OptOutResult,
    user: User | None,
    note: str | None,
    source: ConsentSource,
) -> None:
    """Opt out the numbers not yet on the list (each once, each with its event), counting the
    others as already there."""
    note = _clean_note(note)
    now = utcnow()
    for start in range(0, len(numbers), CHUNK_NUMBERS):
        chunk = numbers[start : start + CHUNK_NUMBERS]
        present = set(session.scalars(select(OptOut.msisdn).where(OptOut.msisdn.in_(chunk))))
        for msisdn in chunk:
            if msisdn in present:
                result.already += 1
            else:
                present.add(msisdn)
                _append(session, msisdn, ConsentAction.OPT_OUT, source, user, note=note, at=now)
                session.add(_opt_out_row(msisdn, source, user, at=now, note=note))
                result.added += 1
        session.flush()


def _opt_out_row(
    msisdn: str,
    source: ConsentSource,
    user: User | None,
    *,
    at: datetime,
    note: str | None,
    campaign_id: int | None = None,
) -> OptOut:
    return OptOut(
        msisdn=msisdn,
        note=note,
        created_at=at,
        created_by_id=user_id_of(user),
        source=source,
        campaign_id=campaign_id,
    )


def _clean_note(note: str | None) -> str | None:
    return (note or "").strip()[:MAX_NOTE_LENGTH] or None


def _append(
    session: Session,
    msisdn: str,
    action: ConsentAction,
    source: ConsentSource,
    user: User | None,
    *,
    at: datetime,
    note: str | None = None,
    campaign_id: int | None = None,
    reply_id: int | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        msisdn=msisdn,
        action=action,
        source=source,
        at=at,
        user_id=user_id_of(user),
        campaign_id=campaign_id,
        reply_id=reply_id,
        note=note,
    )
    session.add(event)
    return event


def record_consent(
    session: Session,
    msisdn: str,
    action: ConsentAction,
    source: ConsentSource,
    *,
    user: User | None = None,
    campaign_id: int | None = None,
    reply_id: int | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Append one consent event for ``msisdn`` and make the opt-out set follow it.

    The event is recorded even when the number already was in that state (a STOP repeated is
    still something the person said); returns whether the opt-out set changed. Does not commit.
    """
    at = at or utcnow()
    note = _clean_note(note)
    _append(
        session,
        msisdn,
        action,
        source,
        user,
        at=at,
        note=note,
        campaign_id=campaign_id,
        reply_id=reply_id,
    )
    current = session.get(OptOut, msisdn)
    if action == ConsentAction.OPT_OUT:
        if current is not None:
            return False
        session.add(_opt_out_row(msisdn, source, user, at=at, note=note, campaign_id=campaign_id))
        session.flush()
        return True
    if current is None:
        return False
    session.delete(current)
    session.flush()
    return True


def remove_opt_out(
    session: Session,
    msisdn: str,
    *,
    user: User | None = None,
    source: ConsentSource = ConsentSource.TYPED,
    note: str | None = None,
) -> None:
    """Take a number off the list, so it may be imported and sent to again (an opt-in event)."""
    if session.get(OptOut, msisdn) is None:
        raise OptOutInvalid(f"+{msisdn} is not on the opt-out list.")
    record_consent(session, msisdn, ConsentAction.OPT_IN, source, user=user, note=note)
    session.commit()


def consent_events(session: Session, msisdn: str | None = None):
    """The consent record, oldest first: every event, or one number's."""
    statement = select(ConsentEvent).order_by(ConsentEvent.id)
    if msisdn:
        statement = statement.where(ConsentEvent.msisdn == msisdn)
    return session.scalars(statement.execution_options(yield_per=2_000))


CONSENT_CSV_HEADER = ("msisdn", "action", "source", "at_utc", "user", "campaign", "reply", "note")


def consent_csv(session: Session, msisdn: str | None = None) -> Iterator[str]:
    """The consent record as CSV text (byte order mark first, so Excel reads UTF-8)."""
    from webapp.services.lists import UTF8_BOM, csv_line

    yield UTF8_BOM + csv_line(CONSENT_CSV_HEADER)
    for event in consent_events(session, msisdn):
        yield csv_line(
            (
                event.msisdn,
                event.action.value,
                event.source.value,
                event.at.isoformat(timespec="seconds"),
                event.user.email if event.user else "",
                event.campaign.name if event.campaign else "",
                event.reply_id or "",
                event.note or "",
            )
        )


def opt_out_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OptOut)) or 0


def opted_out_numbers(session: Session) -> set[str]:
    return set(session.scalars(select(OptOut.msisdn)))


def all_opt_outs(session: Session):
    """Every opted-out number, newest first, with the campaign it answered (for the CLI)."""
    return session.scalars(
        select(OptOut)
        .order_by(OptOut.created_at.desc(), OptOut.msisdn)
        .execution_options(yield_per=2_000)
    )


def remove_opt_outs(
    session: Session,
    numbers: Iterable[str],
    *,
    default_country: str,
    user: User | None = None,
    source: ConsentSource = ConsentSource.TYPED,
) -> OptOutResult:
    """Take numbers as typed off the list (each an opt-in event). ``added`` counts the numbers
    taken off, ``already`` those that were not on it."""
    result = OptOutResult()
    for raw in numbers:
        phone = normalise_msisdn(raw, default_country)
        if phone.msisdn is None:
            result.invalid.append((raw, phone.reason or "not a phone number"))
        elif session.get(OptOut, phone.msisdn) is None:
            result.already += 1  # never opted out: no opt-in event to record
        else:
            record_consent(session, phone.msisdn, ConsentAction.OPT_IN, source, user=user)
            result.added += 1
    session.commit()
    return result


def opted_out_among(session: Session, msisdns: Iterable[str]) -> set[str]:
    """Which of a few numbers are on the opt-out list."""
    wanted = list(msisdns)
    if not wanted:
        return set()
    return set(session.scalars(select(OptOut.msisdn).where(OptOut.msisdn.in_(wanted))))


def search_opt_outs(
    session: Session, *, query: str = "", page: int = 1, per_page: int = PER_PAGE
) -> Page[OptOut]:
    """A page of opt-outs, newest first; a query finds numbers containing its digits."""
    statement = select(OptOut)
    digits = re.sub(r"\D", "", query or "")
    if digits:
        statement = statement.where(OptOut.msisdn.contains(digits, autoescape=True))
    elif (query or "").strip():
        statement = statement.where(OptOut.note.icontains(query.strip(), autoescape=True))
    total = count_rows(session, statement)
    page = max(1, page)
    rows = list(
        session.scalars(
            statement.order_by(OptOut.created_at.desc(), OptOut.msisdn)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(rows, total, page, per_page)
