"""Recipient lists once imported: browse, search, export, rename, delete.

Only recipients of finished imports exist for the user: every query here joins the import and
keeps those that are done, as campaigns do when they resolve recipients. Exported cells that a
spreadsheet would run as a formula are neutralised (see `neutralise_formula`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from webapp.models import (
    Campaign,
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    RejectedRow,
    campaign_lists,
)
from webapp.services.audience import finished_recipients
from webapp.services.pages import Page

MAX_NAME_LENGTH = 200
UTF8_BOM = "\ufeff"
PER_PAGE = 50
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet program reads as the start of a formula (OWASP's list for CSV injection)."""

_UNFINISHED = ImportStatus.where(lambda status: status.is_unfinished)
_PHONE_QUERY = re.compile(r"[0-9+\s\-().]+")
_LIKE_SPECIALS = re.compile(r"([\\%_])")


class ListInvalid(ValueError):
    """A list change that cannot be made; the message says why and what to do."""


def check_list_name(session: Session, name: str, *, exclude_id: int | None = None) -> str:
    """The name with its spaces tidied, if no other visible list has it (case ignored).

    Names are unique so the command line and the campaign form can refer to a list by name.
    """
    name = " ".join((name or "").split())
    if not name:
        raise ListInvalid("Give the list a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise ListInvalid(f"Use at most {MAX_NAME_LENGTH} characters for the name.")
    clash = select(RecipientList.id).where(
        func.lower(RecipientList.name) == name.lower(), RecipientList.hidden.is_(False)
    )
    if exclude_id is not None:
        clash = clash.where(RecipientList.id != exclude_id)
    if session.scalar(clash.limit(1)) is not None:
        raise ListInvalid(
            f"A list called “{name}” already exists: choose another name, "
            "or open that list to add the file to it."
        )
    return name


def visible_lists(session: Session) -> list[RecipientList]:
    """Every list that is not hidden, newest first."""
    return list(
        session.scalars(
            select(RecipientList)
            .where(RecipientList.hidden.is_(False))
            .order_by(RecipientList.created_at.desc(), RecipientList.id.desc())
        )
    )


def find_visible_list(session: Session, list_id: int) -> RecipientList | None:
    recipient_list = session.get(RecipientList, list_id)
    if recipient_list is None or recipient_list.hidden:
        return None
    return recipient_list


def find_list_by_name(session: Session, name: str) -> RecipientList:
    """A visible list by name (case ignored), for the command line."""
    found = session.scalar(
        select(RecipientList).where(
            func.lower(RecipientList.name) == " ".join(name.split()).lower(),
            RecipientList.hidden.is_(False),
        )
    )
    if found is None:
        raise ListInvalid(f"No list is called {name!r}.")
    return found


def imports_in_progress(session: Session) -> list[ListImport]:
    """Imports waiting for their mapping, queued or running, newest first (lists not hidden)."""
    return list(
        session.scalars(
            select(ListImport)
            .join(RecipientList, ListImport.list_id == RecipientList.id)
            .where(
                ListImport.status.in_(_UNFINISHED),
                RecipientList.hidden.is_(False),
            )
            .order_by(ListImport.id.desc())
        )
    )


def rename_list(session: Session, recipient_list: RecipientList, name: str) -> None:
    recipient_list.name = check_list_name(session, name, exclude_id=recipient_list.id)
    session.commit()


def used_by_confirmed_campaign(session: Session, recipient_list: RecipientList) -> bool:
    """Whether a campaign that was confirmed (sent, sending or scheduled) reached this list."""
    return bool(
        session.scalar(
            select(
                exists()
                .where(campaign_lists.c.list_id == recipient_list.id)
                .where(campaign_lists.c.campaign_id == Campaign.id)
                .where(Campaign.confirmed_at.is_not(None))
            )
        )
    )


def delete_list(session: Session, recipient_list: RecipientList) -> Literal["deleted", "hidden"]:
    """Delete a list, or only hide it when a confirmed campaign used it (its history stays).

    Draft campaigns that chose the list lose it, and files still waiting to be imported into
    it are discarded. Refused while a file is being imported into it.
    """
    list_id = recipient_list.id
    unfinished = list(
        session.execute(
            select(ListImport.status, ListImport.stored_path).where(
                ListImport.list_id == list_id, ListImport.status.in_(_UNFINISHED)
            )
        )
    )
    if any(status == ImportStatus.RUNNING for status, _ in unfinished):
        raise ListInvalid("A file is being imported into this list: cancel it or wait first.")
    if used_by_confirmed_campaign(session, recipient_list):
        recipient_list.hidden = True
        session.execute(
            update(ListImport)
            .where(ListImport.list_id == list_id, ListImport.status.in_(_UNFINISHED))
            .values(status=ImportStatus.FAILED, error="The list was deleted.", stored_path=None)
        )
        outcome: Literal["deleted", "hidden"] = "hidden"
    else:
        import_ids = select(ListImport.id).where(ListImport.list_id == list_id)
        session.execute(delete(campaign_lists).where(campaign_lists.c.list_id == list_id))
        session.execute(delete(RejectedRow).where(RejectedRow.import_id.in_(import_ids)))
        session.execute(delete(Recipient).where(Recipient.list_id == list_id))
        session.execute(delete(ListImport).where(ListImport.list_id == list_id))
        session.execute(delete(RecipientList).where(RecipientList.id == list_id))
        outcome = "deleted"
    session.commit()
    for _, stored_path in unfinished:
        if stored_path:
            Path(stored_path).unlink(missing_ok=True)
    return outcome


# --- Browsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientRow:
    msisdn: str
    country: str | None
    landline: bool
    line: int
    fields: dict[str, str]
    opted_out: bool


def _visible_recipients(recipient_list: RecipientList):
    return select(Recipient).where(*finished_recipients(recipient_list.id))


def search_recipients(
    session: Session,
    recipient_list: RecipientList,
    *,
    query: str = "",
    landlines_only: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[RecipientRow]:
    """One page of a list's recipients in file order, optionally those matching `query`.

    A query matches a number containing its digits ("20 12" finds 4520123456) or any field
    value containing it, case ignored for ASCII letters.
    """
    statement = _visible_recipients(recipient_list)
    query = query.strip()
    filtered = bool(query) or landlines_only
    if query:
        statement = statement.where(_matches(session, query))
    if landlines_only:
        statement = statement.where(Recipient.landline.is_(True))
    if filtered:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    else:
        total = recipient_list.recipient_count
    page = max(1, page)
    found = session.execute(
        statement.add_columns(OptOut.msisdn)
        .outerjoin(OptOut, OptOut.msisdn == Recipient.msisdn)
        .order_by(Recipient.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        RecipientRow(
            recipient.msisdn,
            recipient.country,
            recipient.landline,
            recipient.line,
            recipient.fields or {},
            opted_out is not None,
        )
        for recipient, opted_out in found
    ]
    return Page(rows, total, page, per_page)


def _matches(session: Session, query: str):
    """Numbers containing the query's digits, or a field value containing the query."""
    pattern = "%" + _LIKE_SPECIALS.sub(r"\\\1", query) + "%"
    # json_each walks the values (not the names) of the fields object, unescaped.
    each = "json_each_text" if session.get_bind().dialect.name == "postgresql" else "json_each"
    values = getattr(func, each)(Recipient.fields).table_valued("value").alias("field_value")
    conditions = [
        exists(select(1).select_from(values).where(values.c.value.ilike(pattern, escape="\\")))
    ]
    digits = re.sub(r"\D", "", query)
    if digits and _PHONE_QUERY.fullmatch(query):
        conditions.append(Recipient.msisdn.contains(digits, autoescape=True))
    return or_(*conditions)


def recipients_for_export(session: Session, recipient_list: RecipientList) -> Iterator[Recipient]:
    yield from session.scalars(
        _visible_recipients(recipient_list)
        .order_by(Recipient.id)
        .execution_options(yield_per=5_000)
    )


def export_csv(session: Session, recipient_list: RecipientList) -> Iterator[str]:
    """The list as CSV text, a thousand rows at a time: msisdn, then each field.

    It starts with a byte order mark, which is how Excel knows the file is UTF-8.
    """
    fields = list(recipient_list.fields or [])
    yield UTF8_BOM + csv_line(["msisdn", *fields])
    batch: list[str] = []
    for recipient in recipients_for_export(session, recipient_list):
        values = recipient.fields or {}
        batch.append(csv_line([recipient.msisdn, *(values.get(name, "") for name in fields)]))
        if len(batch) >= 1_000:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d ]*(?:[.,]\d+)?")


def neutralise_formula(cell: str) -> str:
    """A cell a spreadsheet will show as text: a leading apostrophe before a formula start.

    A plain number ("+4520123456", "-5", "+45 20 12 34 56") runs nothing and keeps its sign
    without the apostrophe, which would otherwise show in the cell.
    """
    if cell.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def csv_line(cells: Iterable[object], delimiter: str = ",") -> str:
    """One CSV line (CRLF, as spreadsheets expect) with every cell neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerow(neutralise_formula(str(c)) for c in cells)
    return buffer.getvalue()
