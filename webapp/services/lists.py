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

from sqlalchemy import column, delete, exists, func, or_, select, table, text, update
from sqlalchemy.orm import Session, joinedload

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
from webapp.services.pages import Page, count_rows
from webapp.services.search_index import has_search_table
from webapp.services.undeliverable import flagged_numbers

MAX_NAME_LENGTH = 200
UTF8_BOM = "\ufeff"
PER_PAGE = 50
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet program reads as the start of a formula (OWASP's list for CSV injection)."""

_UNFINISHED = ImportStatus.where(lambda status: status.is_unfinished)
_PHONE_QUERY = re.compile(r"[0-9+\s\-().]+")
_LIKE_SPECIALS = re.compile(r"([\\%_])")

MIN_INDEXED_QUERY = 3
"""The search indexes hold trigrams: a shorter query (or a shorter run of digits) scans."""

_SEARCH = table("recipient_search", column("rowid"))


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
    """Every list that is not hidden, newest first (with who created it, in the same query)."""
    return list(
        session.scalars(
            select(RecipientList)
            .options(joinedload(RecipientList.created_by))
            .where(RecipientList.hidden.is_(False))
            .order_by(RecipientList.created_at.desc(), RecipientList.id.desc())
        )
    )


def latest_imports(session: Session, lists: Iterable[RecipientList]) -> dict[int, ListImport]:
    """The newest import of each of `lists`, by list id, in one query (not one per list)."""
    list_ids = [lst.id for lst in lists]
    if not list_ids:
        return {}
    newest = (
        select(func.max(ListImport.id))
        .where(ListImport.list_id.in_(list_ids))
        .group_by(ListImport.list_id)
    )
    return {
        found.list_id: found
        for found in session.scalars(select(ListImport).where(ListImport.id.in_(newest)))
    }


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
            .options(joinedload(ListImport.recipient_list), joinedload(ListImport.created_by))
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
    undeliverable: bool = False  # flagged: see services.undeliverable


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
    value containing it, case ignored. From three characters on, a search index finds them
    (migration 0005); a shorter query scans the list.
    """
    statement = _visible_recipients(recipient_list)
    query = query.strip()
    filtered = bool(query) or landlines_only
    if query:
        statement = statement.where(_matches(session, query))
    if landlines_only:
        statement = statement.where(Recipient.landline.is_(True))
    total = count_rows(session, statement) if filtered else recipient_list.recipient_count
    page = max(1, page)
    found = session.execute(
        statement.add_columns(OptOut.msisdn)
        .outerjoin(OptOut, OptOut.msisdn == Recipient.msisdn)
        .order_by(Recipient.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    found = found.all()
    flagged = flagged_numbers(session, [recipient.msisdn for recipient, _ in found])
    rows = [
        RecipientRow(
            recipient.msisdn,
            recipient.country,
            recipient.landline,
            recipient.line,
            recipient.fields or {},
            opted_out is not None,
            recipient.msisdn in flagged,
        )
        for recipient, opted_out in found
    ]
    return Page(rows, total, page, per_page)


def _matches(session: Session, query: str):
    """Numbers containing the query's digits, or a field value containing the query."""
    digits = re.sub(r"\D", "", query)
    phone_like = bool(digits) and _PHONE_QUERY.fullmatch(query) is not None
    dialect = session.get_bind().dialect.name
    indexed = len(query) >= MIN_INDEXED_QUERY and "\n" not in query  # values are one a line
    if indexed and dialect == "sqlite" and has_search_table(session):
        return _matches_in_search_table(query, digits if phone_like else "")
    pattern = "%" + _LIKE_SPECIALS.sub(r"\\\1", query) + "%"
    if indexed and dialect == "postgresql":
        # The expression of the pg_trgm index: the values one a line (migration 0005).
        values = func.recipient_field_values(Recipient.fields)
        conditions = [values.ilike(pattern, escape="\\")]
    else:
        # json_each walks the values (not the names) of the fields object, unescaped.
        each = "json_each_text" if dialect == "postgresql" else "json_each"
        value = getattr(func, each)(Recipient.fields).table_valued("value").alias("field_value")
        conditions = [
            exists(select(1).select_from(value).where(value.c.value.ilike(pattern, escape="\\")))
        ]
    if phone_like:
        conditions.append(Recipient.msisdn.contains(digits, autoescape=True))
    return or_(*conditions)


def _matches_in_search_table(query: str, digits: str):
    """The FTS5 trigram table's phrase match: a substring, case ignored (Unicode folding)."""
    expression = f"field_values : {_fts_phrase(query)}"
    conditions = []
    if len(digits) >= MIN_INDEXED_QUERY:
        expression += f" OR msisdn : {_fts_phrase(digits)}"
    elif digits:
        conditions.append(Recipient.msisdn.contains(digits, autoescape=True))
    found = select(_SEARCH.c.rowid).where(
        text("recipient_search MATCH :expression").bindparams(expression=expression)
    )
    return or_(Recipient.id.in_(found), *conditions)


def _fts_phrase(text_: str) -> str:
    """A string FTS5 reads literally: double-quoted, inner quotes doubled."""
    return '"' + text_.replace('"', '""') + '"'


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
