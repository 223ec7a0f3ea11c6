"""The opt-out list: numbers that must never be imported into a list or sent to.

Numbers are kept as MSISDNs, normalised like list imports with the workspace's default
country, so `+45 20 12 34 56` and `20123456` are the same opt-out. List imports count the
numbers on it as opted out; campaigns leave them out of every send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from webapp.csvimport import CsvFormatError, iter_rows, sniff_csv
from webapp.models import OptOut, User
from webapp.services.actors import user_id_of
from webapp.services.pages import Page
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
) -> OptOutResult:
    """Add numbers as typed by a person; each is normalised, or reported with the reason."""
    result = OptOutResult()
    valid: list[str] = []
    for raw in numbers:
        phone = normalise_msisdn(raw, default_country)
        if phone.msisdn is None:
            result.invalid.append((raw, phone.reason or "not a phone number"))
        else:
            valid.append(phone.msisdn)
    _store(session, valid, result, user, note)
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
                _store(session, pending, result, user, note)
                pending = []
        _store(session, pending, result, user, note)
    except CsvFormatError as error:
        session.rollback()
        raise OptOutInvalid(f"{error} No number from the file was added.") from None
    session.commit()
    return result


def _store(
    session: Session, numbers: list[str], result: OptOutResult, user: User | None, note: str | None
) -> None:
    """Insert the numbers not yet on the list (each once), counting the others as already there."""
    note = (note or "").strip()[:MAX_NOTE_LENGTH] or None
    for start in range(0, len(numbers), CHUNK_NUMBERS):
        chunk = numbers[start : start + CHUNK_NUMBERS]
        present = set(session.scalars(select(OptOut.msisdn).where(OptOut.msisdn.in_(chunk))))
        for msisdn in chunk:
            if msisdn in present:
                result.already += 1
            else:
                present.add(msisdn)
                session.add(
                    OptOut(
                        msisdn=msisdn,
                        note=note,
                        created_by_id=user_id_of(user),
                    )
                )
                result.added += 1
        session.flush()


def remove_opt_out(session: Session, msisdn: str) -> None:
    """Take a number off the list, so it may be imported and sent to again."""
    removed = session.execute(delete(OptOut).where(OptOut.msisdn == msisdn)).rowcount
    session.commit()
    if removed != 1:
        raise OptOutInvalid(f"+{msisdn} is not on the opt-out list.")


def opt_out_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OptOut)) or 0


def opted_out_numbers(session: Session) -> set[str]:
    return set(session.scalars(select(OptOut.msisdn)))


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
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = max(1, page)
    rows = list(
        session.scalars(
            statement.order_by(OptOut.created_at.desc(), OptOut.msisdn)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(rows, total, page, per_page)
