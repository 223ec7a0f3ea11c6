"""The list search finds what a scan of every value would, through its index (migration 0005)."""

from __future__ import annotations

import io
import re

import pytest
from helpers import danish_numbers, make_list
from sqlalchemy import func, select, text

from webapp.extensions import db
from webapp.models import Recipient
from webapp.services import imports, lists

VALUES = [
    {"name": "Jürgen", "city": "Köln", "note": "100% sure"},
    {"name": "JÜRGEN", "city": "Aarhus", "note": 'said "hi"'},
    {"name": "Ann", "city": "Vejle", "note": "a_b"},
    {"name": "Annette", "city": "Odense", "note": "born 2005"},
    {"name": "Li", "city": "Aarhus C", "note": ""},
    {"name": "Søren", "city": "Ålborg", "note": "back\\slash"},
]
QUERIES = [
    "Jürgen",
    "jürgen",
    "ann",
    "ANN",
    "Aarhus",
    "hus c",
    "2005",
    "20 10",
    "100%",
    "% s",
    "a_b",
    '"hi"',
    "slash",
    "Ålborg",
    "ørе",
    "nomatch",
    "Li",
    "n",
    "4520",
]


def expected(recipients, query: str) -> list[str]:
    """What the search promises, by brute force: digits in the number, or a value containing
    the query with case ignored."""
    digits = re.sub(r"\D", "", query)
    phone_like = bool(digits) and re.fullmatch(r"[0-9+\s\-().]+", query)
    found = []
    for msisdn, values in recipients:
        if (phone_like and digits in msisdn) or any(
            query.lower() in value.lower() for value in values.values()
        ):
            found.append(msisdn)
    return found


@pytest.fixture
def people(ctx):
    rows = list(zip(danish_numbers(len(VALUES)), VALUES, strict=True))
    return make_list(db.session, "People", rows, fields=["name", "city", "note"]), rows


def found(recipient_list, query: str) -> list[str]:
    page = lists.search_recipients(db.session, recipient_list, query=query, per_page=100)
    assert page.total == len(page.rows)
    return [row.msisdn for row in page.rows]


@pytest.mark.parametrize("query", QUERIES)
def test_search_finds_what_a_scan_of_the_values_would(people, query):
    recipient_list, rows = people
    if query in ("jürgen", "Jürgen") or len(query) >= lists.MIN_INDEXED_QUERY:
        assert found(recipient_list, query) == expected(rows, query)
    else:  # a short query scans, with the database's own case rules
        assert set(found(recipient_list, query)) >= {
            msisdn for msisdn in expected(rows, query) if query.isascii()
        }


def test_the_index_follows_changes_and_deletions(people):
    recipient_list, rows = people
    recipient = db.session.query(Recipient).filter_by(msisdn=rows[2][0]).one()
    recipient.fields = {"name": "Bodil", "city": "Vejle", "note": ""}
    db.session.commit()
    assert found(recipient_list, "Bodil") == [rows[2][0]]
    assert rows[2][0] not in found(recipient_list, "Ann")
    lists.delete_list(db.session, recipient_list)
    if db.engine.dialect.name == "sqlite":
        assert db.session.scalar(text("SELECT count(*) FROM recipient_search")) == 0


def test_imported_rows_are_searchable_chunk_by_chunk_and_when_appended(ctx, tmp_path):
    """The import fills the index itself, chunk by chunk (no trigger does since 0023): every
    stored recipient is found, once, including those a second file appends."""
    first = tmp_path / "first.csv"
    first.write_text("phone,name\n" + "".join(f"2012{n:04d},Name {n:02d}x\n" for n in range(25)))
    list_import = imports.store_upload(
        db.session,
        io.BytesIO(first.read_bytes()),
        "first.csv",
        upload_dir=tmp_path / "up",
        default_country="DK",
    )
    fmt, names = imports.read_mapping(list_import)
    imports.confirm_mapping(
        db.session, list_import, imports.ImportMapping(fmt.phone_column, {1: "name"})
    )
    imports.run_import(db.session, list_import.id, chunk_rows=10)
    recipient_list = list_import.recipient_list
    second = tmp_path / "second.csv"
    second.write_text("phone,name\n20120003,Again\n30303030,Jürgen Appended\n")
    imports.import_file(
        db.session,
        second,
        upload_dir=tmp_path / "up",
        default_country="DK",
        append_to=recipient_list,
    )

    assert len(found(recipient_list, "Name 1")) == 10  # "Name 10x" .. "Name 19x"
    assert found(recipient_list, "e 07x") == ["4520120007"]
    assert found(recipient_list, "jürgen") == ["4530303030"]
    assert found(recipient_list, "Again") == []  # a duplicate of the list, not stored
    if db.engine.dialect.name == "sqlite":
        indexed = db.session.scalar(text("SELECT count(*) FROM recipient_search"))
        assert indexed == db.session.scalar(select(func.count()).select_from(Recipient)) == 26
