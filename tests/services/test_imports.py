"""The list import end to end, on the database: every row stored or reported, never half a list.

The pure reading and classification of awkward files is tested in test_csv_reader.py; these
tests check what the import makes of them in the database: recipients, rejected rows with
their lines and reasons, counts, the list's fields and size, and what a failure leaves behind.
"""

from __future__ import annotations

import codecs
import datetime
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from helpers import make_list, xlsx_bytes
from sqlalchemy import func, select, text

from webapp.extensions import db
from webapp.models import (
    Campaign,
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    RejectedRow,
)
from webapp.services import campaigns, imports
from webapp.services.imports import ImportMapping, ImportRefused, MappingInvalid

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"  # copies of ../shared/samples


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    return tmp_path / "uploads"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def import_path(path: Path, upload_dir: Path, **options) -> ListImport:
    options.setdefault("list_name", None if "append_to" in options else "Customers")
    return imports.import_file(
        db.session, path, upload_dir=upload_dir, default_country="DK", **options
    )


def rejected(list_import: ListImport) -> list[tuple[int, str, str]]:
    return [
        (row.line, row.kind, row.reason)
        for row in db.session.scalars(
            select(RejectedRow)
            .where(RejectedRow.import_id == list_import.id)
            .order_by(RejectedRow.line)
        )
    ]


def stored(recipient_list: RecipientList) -> list[tuple[str, int, dict]]:
    return [
        (row.msisdn, row.line, row.fields)
        for row in db.session.scalars(
            select(Recipient).where(Recipient.list_id == recipient_list.id).order_by(Recipient.id)
        )
    ]


def counts(list_import: ListImport) -> dict[str, int]:
    report = imports.report(list_import)
    return {
        key: report[key]
        for key in ("rows", "imported", "invalid", "duplicates", "opted_out", "landlines")
    }


def test_import_counts_every_row_and_stores_recipients_with_fields(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path,
        "customers.csv",
        "Phone,First name,City\n"
        "+45 20 12 34 56,Karen,Vejle\n"
        "21 34 56 78,Peter,Herning\n"
        ",Nobody,Nowhere\n"
        "123,Too,Short\n"
        "0045 20123456,Karen again,Vejle\n",
    )

    list_import = import_path(path, upload_dir)

    assert list_import.status == ImportStatus.DONE
    assert counts(list_import) == {
        "rows": 5,
        "imported": 2,
        "invalid": 2,
        "duplicates": 1,
        "opted_out": 0,
        "landlines": 0,
    }
    assert rejected(list_import) == [
        (4, "invalid", "missing phone number"),
        (5, "invalid", "not a valid number for DK (+45)"),
        (6, "duplicate", "duplicate of line 2"),
    ]
    recipient_list = list_import.recipient_list
    assert stored(recipient_list) == [
        ("4520123456", 2, {"first_name": "Karen", "city": "Vejle"}),
        ("4521345678", 3, {"first_name": "Peter", "city": "Herning"}),
    ]
    assert recipient_list.fields == ["first_name", "city"]
    assert recipient_list.recipient_count == 2
    assert list_import.finished_at is not None
    assert list_import.progress_percent == 100


def test_the_uploaded_copy_is_removed_after_the_import(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "a.csv", "phone\n20123456\n")
    list_import = import_path(path, upload_dir)
    assert list_import.stored_path is None
    assert list(upload_dir.iterdir()) == []
    assert path.exists()  # the operator's own file is never touched


def test_windows_1252_semicolons_and_excel_scientific_notation(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path,
        "excel.csv",
        "Mobil;Fornavn;By\r\n25 36 47 58;Søren;Århus\r\n4,52E+09;Ødelagt;Ribe\r\n",
        encoding="cp1252",
    )

    list_import = import_path(path, upload_dir)

    assert list_import.encoding == "cp1252" and list_import.delimiter == ";"
    assert counts(list_import)["imported"] == 1
    assert rejected(list_import) == [
        (3, "invalid", "Excel scientific notation (digits lost): 4,52E+09")
    ]
    assert stored(list_import.recipient_list) == [
        ("4525364758", 2, {"fornavn": "Søren", "by": "Århus"})
    ]


def test_utf16_tab_separated_file(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path, "sheets.csv", "phone\tname\n+46 70 123 45 67\tÅsa\n20123456\tJens\n", "utf-16"
    )
    list_import = import_path(path, upload_dir)
    assert list_import.delimiter == "\t"
    assert [
        (msisdn, values["name"]) for msisdn, _, values in stored(list_import.recipient_list)
    ] == [
        ("46701234567", "Åsa"),
        ("4520123456", "Jens"),
    ]


def test_utf8_with_bom_keeps_the_first_header_clean(ctx, tmp_path, upload_dir):
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"Telefon,Navn\n20123456,Ida\n")
    list_import = import_path(path, upload_dir)
    assert list_import.recipient_list.fields == ["navn"]
    assert counts(list_import)["imported"] == 1


def test_file_without_header_counts_its_first_line_as_a_row(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "bare.csv", "20123456,Ida\n21345678,Bo\n20 12 34 56,Ida\n")

    list_import = import_path(path, upload_dir)

    assert not list_import.has_header
    assert counts(list_import)["rows"] == 3
    assert rejected(list_import) == [(3, "duplicate", "duplicate of line 1")]
    assert list_import.recipient_list.fields == ["column_2"]
    assert stored(list_import.recipient_list)[0] == ("4520123456", 1, {"column_2": "Ida"})


def test_ragged_rows_are_read_as_far_as_they_go(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path,
        "ragged.csv",
        "name,phone,city\nIda,20123456\nBo\nEva,21345678,Køge,more\n",
    )

    list_import = import_path(path, upload_dir)

    assert counts(list_import) == {
        "rows": 3,
        "imported": 2,
        "invalid": 1,
        "duplicates": 0,
        "opted_out": 0,
        "landlines": 0,
    }
    assert rejected(list_import) == [(3, "invalid", "missing phone number")]
    assert stored(list_import.recipient_list) == [
        ("4520123456", 2, {"name": "Ida", "city": "", "column_4": ""}),
        ("4521345678", 4, {"name": "Eva", "city": "Køge", "column_4": "more"}),
    ]


def test_quoted_cells_with_commas_and_newlines_keep_line_numbers(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path,
        "quoted.csv",
        'phone,address\n20123456,"Vestergade 1,\n2. sal"\n"21 34 56 78","A, B"\n123,x\n',
    )

    list_import = import_path(path, upload_dir)

    assert stored(list_import.recipient_list) == [
        ("4520123456", 2, {"address": "Vestergade 1,\n2. sal"}),
        ("4521345678", 4, {"address": "A, B"}),
    ]
    assert rejected(list_import) == [(5, "invalid", "not a valid number for DK (+45)")]


def test_fields_with_quotes_backslashes_and_control_characters_are_stored_as_written(
    ctx, tmp_path, upload_dir
):
    path = write(
        tmp_path,
        "odd.csv",
        'phone,name,note\n20123456,"Ann ""the"" \\ boss","tab\there\x01 \u2028 😀 ø"\n',
    )

    list_import = import_path(path, upload_dir)

    assert stored(list_import.recipient_list) == [
        ("4520123456", 2, {"name": 'Ann "the" \\ boss', "note": "tab\there\x01 \u2028 😀 ø"}),
    ]


def test_an_import_leaves_the_connection_with_its_page_cache_size(ctx, tmp_path, upload_dir):
    if db.session.get_bind().dialect.name != "sqlite":
        pytest.skip("a SQLite connection setting")
    before = db.session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
    path = write(tmp_path, "a.csv", "phone\n20123456\n21345678\n")

    import_path(path, upload_dir, workers=0)

    assert db.session.connection().exec_driver_sql("PRAGMA cache_size").scalar() == before


def test_duplicates_written_differently_keep_the_first(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path,
        "dupes.csv",
        "phone,name\n20 12 34 56,first\n+4520123456,second\n0045 20123456,third\n"
        "4520123456.0,fourth\n",
    )

    list_import = import_path(path, upload_dir)

    assert counts(list_import)["duplicates"] == 3
    assert rejected(list_import) == [
        (3, "duplicate", "duplicate of line 2"),
        (4, "duplicate", "duplicate of line 2"),
        (5, "duplicate", "duplicate of line 2"),
    ]
    assert stored(list_import.recipient_list) == [("4520123456", 2, {"name": "first"})]


def test_opted_out_numbers_are_counted_and_left_out(ctx, tmp_path, upload_dir):
    db.session.add(OptOut(msisdn="4521345678"))
    db.session.commit()
    path = write(tmp_path, "o.csv", "phone\n20123456\n+45 21 34 56 78\n0045 21345678\n")

    list_import = import_path(path, upload_dir)

    assert counts(list_import)["opted_out"] == 2
    assert rejected(list_import) == [
        (3, "opted_out", "on the opt-out list"),
        (4, "opted_out", "on the opt-out list"),
    ]
    assert [msisdn for msisdn, _, _ in stored(list_import.recipient_list)] == ["4520123456"]


def test_blank_lines_and_excel_empty_rows_are_not_rows(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "blank.csv", "phone;name\n\n20123456;a\n   \n;\n;;;;\n\n;b\n")
    list_import = import_path(path, upload_dir)
    assert counts(list_import)["rows"] == 2
    assert rejected(list_import) == [(8, "invalid", "missing phone number")]


def test_landlines_are_imported_counted_and_flagged(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "l.csv", "phone\n+46 8 123 456 78\n+49 30 12345678\n20123456\n")

    list_import = import_path(path, upload_dir)

    assert counts(list_import)["imported"] == 3
    assert counts(list_import)["landlines"] == 2
    flags = db.session.execute(
        select(Recipient.msisdn, Recipient.landline).order_by(Recipient.line)
    ).all()
    assert flags == [("46812345678", True), ("493012345678", True), ("4520123456", False)]


def test_non_geographic_numbers_are_stored_without_a_country(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "n.csv", "phone\n+800 1234 5678\n")
    list_import = import_path(path, upload_dir)
    assert counts(list_import)["imported"] == 1
    assert db.session.scalar(select(Recipient.country)) is None


def test_a_long_reason_is_shortened_to_fit(ctx, tmp_path, upload_dir):
    cell = "1." + "2" * 400 + "E+09"
    path = write(tmp_path, "s.csv", f"phone\n{cell}\n20123456\n")
    list_import = import_path(path, upload_dir)
    ((line, kind, reason),) = rejected(list_import)
    assert (line, kind) == (2, "invalid")
    assert reason.startswith("Excel scientific notation") and len(reason) == 300


def test_appending_counts_numbers_already_in_the_list_as_duplicates(ctx, tmp_path, upload_dir):
    first = import_path(
        write(tmp_path, "a.csv", "phone,name\n20123456,Ida\n21345678,Bo\n"), upload_dir
    )
    recipient_list = first.recipient_list
    path = write(
        tmp_path,
        "b.csv",
        "phone,name,city\n+45 21 34 56 78,Bo again,Vejle\n22 33 44 55,Eva,Køge\n"
        "0045 21345678,Bo thrice,Ribe\n",
    )

    second = import_path(path, upload_dir, append_to=recipient_list)

    assert counts(second) == {
        "rows": 3,
        "imported": 1,
        "invalid": 0,
        "duplicates": 2,
        "opted_out": 0,
        "landlines": 0,
    }
    assert rejected(second) == [
        (2, "duplicate", "already in the list"),
        (4, "duplicate", "duplicate of line 2"),
    ]
    raw = db.session.scalar(select(RejectedRow.raw).where(RejectedRow.line == 2))
    assert json.loads(raw) == ["+45 21 34 56 78", "Bo again", "Vejle"]
    db.session.refresh(recipient_list)
    assert recipient_list.recipient_count == 3
    assert recipient_list.fields == ["name", "city"]
    assert [msisdn for msisdn, _, _ in stored(recipient_list)] == [
        "4520123456",
        "4521345678",
        "4522334455",
    ]


def uploaded(path: Path, upload_dir: Path, **options) -> ListImport:
    """An uploaded file waiting for its mapping."""
    return imports.store_upload(
        db.session,
        io.BytesIO(path.read_bytes()),
        options.pop("filename", path.name),
        upload_dir=upload_dir,
        default_country="DK",
        **options,
    )


def _queued(session, path: Path, upload_dir: Path) -> ListImport:
    """An uploaded and mapped import, waiting for run_import."""
    list_import = uploaded(path, upload_dir)
    fmt, names = imports.read_mapping(list_import)
    fields = {i: names[i] for i in range(len(fmt.columns)) if i != fmt.phone_column}
    return imports.confirm_mapping(session, list_import, ImportMapping(fmt.phone_column, fields))


def numbered_rows(count: int) -> str:
    return "".join(f"+45 20 12 {n // 100:02d} {n % 100:02d},name {n}\n" for n in range(count))


def test_a_failure_midway_leaves_no_recipients_and_says_why(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "big.csv", "phone,name\n" + numbered_rows(40))
    list_import = _queued(db.session, path, upload_dir)
    import_id, list_id = list_import.id, list_import.list_id
    seen = []

    def crash_after_two_chunks(counts, bytes_done):
        seen.append(counts.rows)
        if len(seen) == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        imports.run_import(db.session, import_id, chunk_rows=10, progress=crash_after_two_chunks)

    db.session.expire_all()
    failed = db.session.get(ListImport, import_id)
    assert seen == [10, 20]
    assert failed.status == ImportStatus.FAILED
    assert failed.error.startswith("The import stopped unexpectedly (OSError: disk full).")
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
    assert db.session.scalar(select(func.count()).select_from(RejectedRow)) == 0
    assert db.session.get(RecipientList, list_id).recipient_count == 0
    assert list(upload_dir.iterdir()) == []


def test_a_file_that_breaks_late_fails_with_the_line(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path, "late.csv", "phone,name\n" + numbered_rows(100) + "20999999," + "x" * 200_000
    )
    list_import = _queued(db.session, path, upload_dir)

    finished = imports.run_import(db.session, list_import.id, chunk_rows=10)

    assert finished.status == ImportStatus.FAILED
    assert finished.error.startswith("Line 102: field larger than field limit")
    assert finished.error.endswith("Nothing from this file was added to the list.")
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_recipients_appear_only_when_the_import_is_done(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "big.csv", "phone,name\n" + numbered_rows(30))
    list_import = _queued(db.session, path, upload_dir)
    campaign = Campaign(name="c", sender="Shop", lists=[list_import.recipient_list])
    db.session.add(campaign)
    db.session.commit()
    reached_midway = []

    def look(counts, bytes_done):
        if counts.rows < 30:
            reached_midway.append(
                len(campaigns.resolve_recipients(db.session, campaign).recipients)
            )

    imports.run_import(db.session, list_import.id, chunk_rows=10, progress=look)

    assert reached_midway == [0, 0]
    assert len(campaigns.resolve_recipients(db.session, campaign).recipients) == 30


def test_a_cancelled_import_stops_at_the_next_chunk(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "big.csv", "phone,name\n" + numbered_rows(40))
    list_import = _queued(db.session, path, upload_dir)
    import_id = list_import.id
    chunks = []

    def cancel_after_first_chunk(counts, bytes_done):
        chunks.append(counts.rows)
        if len(chunks) == 1:
            imports.cancel_import(db.session, db.session.get(ListImport, import_id))

    imports.run_import(db.session, import_id, chunk_rows=10, progress=cancel_after_first_chunk)

    cancelled = db.session.get(ListImport, import_id)
    assert chunks == [10]
    assert cancelled.status == ImportStatus.FAILED
    assert cancelled.error.startswith("Cancelled.")
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_running_a_finished_import_again_changes_nothing(ctx, tmp_path, upload_dir):
    list_import = _queued(
        db.session, write(tmp_path, "a.csv", "phone,name\n" + numbered_rows(5)), upload_dir
    )
    imports.run_import(db.session, list_import.id)
    again = imports.run_import(db.session, list_import.id)
    assert again.status == ImportStatus.DONE and again.imported == 5
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 5


def test_an_import_left_running_by_a_crash_is_not_restarted_but_can_be_cancelled(
    ctx, tmp_path, upload_dir
):
    list_import = _queued(
        db.session, write(tmp_path, "a.csv", "phone,name\n" + numbered_rows(5)), upload_dir
    )
    list_import.status = ImportStatus.RUNNING
    db.session.add(
        Recipient(
            list_id=list_import.list_id,
            import_id=list_import.id,
            msisdn="4520120000",
            line=2,
            fields={},
        )
    )
    db.session.commit()

    assert imports.run_import(db.session, list_import.id).status == ImportStatus.RUNNING
    assert imports.cancel_import(db.session, list_import) == "cancelled"

    assert list_import.status == ImportStatus.FAILED
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_the_mapping_is_confirmed_once(ctx, tmp_path, upload_dir):
    list_import = _queued(db.session, write(tmp_path, "a.csv", "phone\n20123456\n"), upload_dir)
    with pytest.raises(ImportRefused, match="already chosen"):
        imports.confirm_mapping(db.session, list_import, ImportMapping(0))


def test_an_import_waiting_for_its_mapping_is_not_run(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "a.csv", "phone\n20123456\n")
    list_import = uploaded(path, upload_dir)
    assert imports.run_import(db.session, list_import.id).status == ImportStatus.AWAITING_COLUMNS


def test_a_second_file_waits_until_the_first_is_imported(ctx, tmp_path, upload_dir):
    first = _queued(db.session, write(tmp_path, "a.csv", "phone\n20123456\n"), upload_dir)
    with pytest.raises(ImportRefused, match="Another file is being imported"):
        uploaded(
            write(tmp_path, "b.csv", "phone\n21345678\n"),
            upload_dir,
            append_to=first.recipient_list,
        )


# --- Uploads and mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\n\n  \n", "The file holds no rows, only blank lines."),
        (b"PK\x03\x04rest of a zip", "This is a ZIP archive (perhaps a workbook) that cannot"),
        (b"\xd0\xcf\x11\xe0old excel", "This is an old Excel workbook (.xls)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is a PNG image, not a CSV file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "This is a PDF document, not a CSV file"),
    ],
)
def test_an_unusable_upload_is_refused_and_nothing_is_kept(ctx, upload_dir, content, message):
    with pytest.raises(ImportRefused) as refused:
        imports.store_upload(
            db.session,
            io.BytesIO(content),
            "file.csv",
            upload_dir=upload_dir,
            default_country="DK",
        )
    assert str(refused.value).startswith(message)
    assert list(upload_dir.iterdir()) == []
    assert db.session.scalar(select(func.count()).select_from(RecipientList)) == 0


def test_an_upload_over_the_limit_is_refused(ctx, upload_dir):
    with pytest.raises(ImportRefused, match="larger than the limit of 1 MB. Nothing was stored."):
        imports.store_upload(
            db.session,
            io.BytesIO(b"phone\n" + b"20123456\n" * 200_000),
            "big.csv",
            upload_dir=upload_dir,
            default_country="DK",
            max_bytes=2**20,
        )
    assert list(upload_dir.iterdir()) == []


def test_a_new_list_needs_a_name_no_other_list_has(ctx, tmp_path, upload_dir):
    make_list(db.session, "Customers", ["4520123456"])
    with pytest.raises(ImportRefused, match="A list called “customers” already exists"):
        import_path(
            write(tmp_path, "a.csv", "phone\n21345678\n"), upload_dir, list_name="customers"
        )


def test_a_list_is_named_after_its_file_by_default(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "Spring customers.csv", "phone\n20123456\n")
    list_import = uploaded(path, upload_dir, filename="C:\\Users\\me\\Spring customers.csv")
    assert list_import.filename == "Spring customers.csv"
    assert list_import.recipient_list.name == "Spring customers"


def test_mapping_needs_a_phone_column_and_distinct_field_names(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "a.csv", "phone,First name,first-name\n20123456,a,b\n")
    list_import = uploaded(path, upload_dir)
    with pytest.raises(MappingInvalid) as invalid:
        imports.confirm_mapping(
            db.session, list_import, ImportMapping(None, {1: "First name", 2: "first-name"})
        )
    assert invalid.value.errors == {
        "phone_column": "Choose the column that holds the phone numbers.",
        "name_2": "Two columns would both be the field %first_name% (this one and “First name”): "
        "give them different names.",
    }
    assert list_import.status.awaits_mapping


def test_mapping_can_correct_the_format_and_rename_fields(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "a.csv", "20123456;Ida;x\n21345678;Bo;y\n")
    list_import = uploaded(path, upload_dir)
    fmt, names = imports.read_mapping(list_import, delimiter=",")
    assert fmt.columns == ["column_1"]

    imports.confirm_mapping(
        db.session, list_import, ImportMapping(0, {1: "Fornavn"}, delimiter=";", has_header=False)
    )
    finished = imports.run_import(db.session, list_import.id)

    assert finished.recipient_list.fields == ["fornavn"]
    assert stored(finished.recipient_list)[1] == ("4521345678", 2, {"fornavn": "Bo"})


def test_discarding_an_unmapped_upload_removes_it_and_its_new_list(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "a.csv", "phone\n20123456\n")
    list_import = uploaded(path, upload_dir)
    assert imports.cancel_import(db.session, list_import) == "discarded"
    assert db.session.scalar(select(func.count()).select_from(RecipientList)) == 0
    assert list(upload_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("spec", "index"),
    [("2", 1), ("Mobile", 1), ("mobile", 1), ("first name", 0), ("first_name", 0)],
)
def test_an_operator_names_a_column_by_header_or_number(spec, index):
    assert imports.resolve_column(["First name", "Mobile"], spec) == index


@pytest.mark.parametrize(
    ("spec", "message"),
    [("3", "There is no column 3: the file has 2 columns."), ("fax", "No column is called 'fax'")],
)
def test_an_unknown_column_is_refused(spec, message):
    with pytest.raises(ImportRefused, match=message):
        imports.resolve_column(["First name", "Mobile"], spec)


# --- Reports ---------------------------------------------------------------------------------


def test_rejected_rows_download_has_lines_reasons_and_cells_neutralised(ctx, tmp_path, upload_dir):
    path = write(
        tmp_path,
        "a.csv",
        'phone,note\n20123456,ok\n=1+2,"=HYPERLINK(""x"")"\n20 12 34 56,"a,b"\n',
    )
    list_import = import_path(path, upload_dir)

    text = b"".join(imports.rejected_rows_csv(db.session, list_import)).decode("utf-8")

    assert text == (
        "\ufeffphone,note,line,reason\r\n"
        '\'=1+2,"\'=HYPERLINK(""x"")",3,not a phone number\r\n'
        '20 12 34 56,"a,b",4,duplicate of line 2\r\n'
    )


def test_rejected_rows_of_an_import_from_before_headers_were_kept(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "a.csv", "phone;note\n123;+45 20\n", encoding="utf-16")
    list_import = import_path(path, upload_dir)
    list_import.header = None
    db.session.commit()

    data = b"".join(imports.rejected_rows_csv(db.session, list_import))

    assert data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE)
    assert data.decode("utf-16") == (
        "line;reason;original cells\r\n2;not a valid number for DK (+45);123;+45 20\r\n"
    )


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("contacts_utf8.csv", {"rows": 10, "imported": 6, "duplicates": 1, "invalid": 3}),
        (
            "contacts_excel_semicolon_cp1252.csv",
            {"rows": 4, "imported": 2, "duplicates": 1, "invalid": 1},
        ),
        ("numbers_only.csv", {"rows": 4, "imported": 2, "duplicates": 1, "invalid": 1}),
    ],
)
def test_sample_files_import_as_documented(ctx, upload_dir, sample, expected):
    list_import = import_path(SAMPLES / sample, upload_dir)
    assert list_import.status == ImportStatus.DONE
    assert {key: counts(list_import)[key] for key in expected} == expected
    assert counts(list_import)["opted_out"] == 0


# --- Command line ----------------------------------------------------------------------------


def test_command_line_import_prints_the_report_as_json(app, tmp_path):
    path = write(tmp_path, "cli.csv", "Name;Mobil\nIda;20123456\nBo;123\nEva;20 12 34 56\n")

    result = app.test_cli_runner().invoke(
        args=["lists", "import", str(path), "--name", "From the shell", "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {key: report[key] for key in ("rows", "imported", "invalid", "duplicates")} == {
        "rows": 3,
        "imported": 1,
        "invalid": 1,
        "duplicates": 1,
    }
    assert report["opted_out"] == 0 and report["landlines"] == 0 and report["status"] == "done"
    with app.app_context():
        recipient_list = db.session.get(RecipientList, report["list_id"])
        assert recipient_list.name == "From the shell"
        assert recipient_list.fields == ["name"]


def test_command_line_takes_the_phone_column_by_number_and_appends(app, tmp_path):
    runner = app.test_cli_runner()
    first = write(tmp_path, "a.csv", "a,b\n20123456,21345678\n")
    second = write(tmp_path, "b.csv", "a,b\n22334455,20123456\n")
    assert runner.invoke(args=["lists", "import", str(first), "--name", "L"]).exit_code == 0

    result = runner.invoke(
        args=["lists", "import", str(second), "--append-to", "L", "--phone-column", "2", "--json"]
    )

    report = json.loads(result.output)
    assert (report["imported"], report["duplicates"]) == (0, 1)
    assert json.loads(result.output)["list"] == "L"


def test_command_line_reports_a_wrong_column_without_storing(app, tmp_path):
    path = write(tmp_path, "a.csv", "phone\n20123456\n")
    result = app.test_cli_runner().invoke(
        args=["lists", "import", str(path), "--name", "L", "--phone-column", "fax"]
    )
    assert result.exit_code == 1
    assert "No column is called 'fax'" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RecipientList)) == 0


def test_a_finished_import_gives_the_planner_statistics(ctx, tmp_path, upload_dir):
    path = write(tmp_path, "few.csv", "phone\n20123456\n21345678\n")

    import_path(path, upload_dir)

    if db.engine.dialect.name == "sqlite":
        analysed = db.session.execute(text("SELECT tbl FROM sqlite_stat1")).scalars().all()
        assert "recipients" in analysed
    else:  # ANALYZE sets the row estimate at once; autovacuum would only later
        estimate = db.session.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'recipients'")
        )
        assert estimate >= 2


# --- Excel workbooks -------------------------------------------------------------------------


def xlsx(tmp_path: Path, name: str, sheets: dict[str, list[list[object]]]) -> Path:
    path = tmp_path / name
    path.write_bytes(xlsx_bytes(sheets))
    return path


def test_an_xlsx_is_imported_with_the_same_accounting_as_csv(ctx, tmp_path, upload_dir):
    db.session.add(OptOut(msisdn="4522334455"))
    db.session.commit()
    path = xlsx(
        tmp_path,
        "customers.xlsx",
        {
            "Customers": [
                ["Mobil", "Fornavn", "Født"],
                [4520123456.0, "Søren", datetime.date(1990, 5, 17)],
                [],
                ["21 34 56 78", "Åse", None],
                [datetime.date(2026, 1, 2), "Dato", None],
                ["=A2", "Formel", None],
                [20123456, "Søren igen", None],
                [22334455, "Afmeldt", None],
                [123, "Kort", None],
            ]
        },
    )

    list_import = import_path(path, upload_dir)

    assert list_import.status == ImportStatus.DONE and list_import.sheet == "Customers"
    assert counts(list_import) == {
        "rows": 7,
        "imported": 2,
        "invalid": 3,
        "duplicates": 1,
        "opted_out": 1,
        "landlines": 0,
    }
    assert [(line, kind) for line, kind, _ in rejected(list_import)] == [
        (5, "invalid"),
        (6, "invalid"),
        (7, "duplicate"),
        (8, "opted_out"),
        (9, "invalid"),
    ]
    assert rejected(list_import)[0][2].startswith("a date or time (2026-01-02)")
    assert rejected(list_import)[1][2].startswith("a formula (=A2)")
    assert stored(list_import.recipient_list) == [
        ("4520123456", 2, {"fornavn": "Søren", "foedt": "1990-05-17"}),
        ("4521345678", 4, {"fornavn": "Åse", "foedt": ""}),
    ]
    assert list(upload_dir.iterdir()) == []


def test_the_chosen_sheet_of_a_workbook_is_imported(ctx, tmp_path, upload_dir):
    path = xlsx(
        tmp_path,
        "two.xlsx",
        {"Denmark": [["Phone"], ["20123456"]], "Sweden": [["Telefon"], ["+46 70 123 45 67"]]},
    )
    list_import = uploaded(path, upload_dir)
    assert list_import.sheet == "Denmark" and list_import.stored_path.endswith(".xlsx")

    fmt, _ = imports.read_mapping(list_import, sheet="Sweden")
    assert fmt.sheets == ("Denmark", "Sweden") and fmt.preview_rows == [["+46 70 123 45 67"]]
    imports.confirm_mapping(db.session, list_import, ImportMapping(0, sheet="Sweden"))
    finished = imports.run_import(db.session, list_import.id, workers=0)

    assert finished.sheet == "Sweden" and finished.imported == 1
    assert stored(finished.recipient_list) == [("46701234567", 2, {})]


def test_a_sheet_that_does_not_exist_is_refused(ctx, tmp_path, upload_dir):
    list_import = uploaded(xlsx(tmp_path, "a.xlsx", {"Data": [["phone"], [20123456]]}), upload_dir)
    with pytest.raises(ImportRefused, match="no sheet “Other”; its sheets are “Data”"):
        imports.read_mapping(list_import, sheet="Other")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "Save As › “Excel Workbook (.xlsx)”"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "This is a PNG image, not a CSV file"),
    ],
)
def test_xls_and_images_are_refused_saying_what_they_are(ctx, upload_dir, content, message):
    with pytest.raises(ImportRefused, match=re.escape(message)):
        imports.store_upload(
            db.session, io.BytesIO(content), "list.csv", upload_dir=upload_dir, default_country="DK"
        )
    assert list(upload_dir.iterdir()) == []


def test_a_numbers_document_is_refused_with_how_to_export(ctx, upload_dir):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Index/Document.iwa", "x")
    with pytest.raises(ImportRefused, match="In Numbers, choose File › Export To › Excel"):
        imports.store_upload(
            db.session,
            io.BytesIO(buffer.getvalue()),
            "list.numbers",
            upload_dir=upload_dir,
            default_country="DK",
        )


def test_an_empty_sheet_is_refused(ctx, tmp_path, upload_dir):
    with pytest.raises(ImportRefused, match="The sheet “Empty” is empty"):
        uploaded(xlsx(tmp_path, "e.xlsx", {"Empty": []}), upload_dir)


def test_command_line_imports_a_chosen_sheet_of_a_workbook(app, tmp_path):
    path = xlsx(
        tmp_path,
        "cli.xlsx",
        {"Notes": [["nothing to see"]], "List": [["Name", "Mobile"], ["Ida", 4520123456]]},
    )

    result = app.test_cli_runner().invoke(
        args=["lists", "import", str(path), "--name", "X", "--sheet", "List", "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["rows"], report["imported"], report["status"]) == (1, 1, "done")


# --- Abandoned uploads -----------------------------------------------------------------------


def test_uploads_not_mapped_within_a_day_are_removed_file_and_rows(ctx, tmp_path, upload_dir):
    old = uploaded(write(tmp_path, "old.csv", "phone\n20123456\n"), upload_dir)
    fresh = uploaded(write(tmp_path, "fresh.csv", "phone\n20123456\n"), upload_dir)
    kept = make_list(db.session, "Kept", ["4520123456"])
    appended = uploaded(
        write(tmp_path, "more.csv", "phone\n21345678\n"), upload_dir, append_to=kept
    )
    old_path, appended_path = Path(old.stored_path), Path(appended.stored_path)
    day_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=25)
    for list_import in (old, appended):
        list_import.created_at = day_ago
    db.session.commit()
    old_id, old_list_id, appended_id = old.id, old.list_id, appended.id

    discarded = imports.discard_abandoned_uploads(db.session, datetime.timedelta(hours=24))

    assert discarded == 2
    assert db.session.get(ListImport, old_id) is None
    assert db.session.get(RecipientList, old_list_id) is None  # made for the upload, empty
    assert db.session.get(ListImport, appended_id) is None
    assert db.session.get(RecipientList, kept.id).recipient_count == 1  # the list stays
    assert not old_path.exists() and not appended_path.exists()
    assert db.session.get(ListImport, fresh.id).status == ImportStatus.AWAITING_COLUMNS
    assert Path(fresh.stored_path).exists()


def test_a_mapped_upload_is_never_removed_as_abandoned(ctx, tmp_path, upload_dir):
    queued = _queued(db.session, write(tmp_path, "q.csv", "phone\n20123456\n"), upload_dir)
    queued.created_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    db.session.commit()

    assert imports.discard_abandoned_uploads(db.session, datetime.timedelta(hours=24)) == 0
    assert db.session.get(ListImport, queued.id).status == ImportStatus.PENDING


def test_the_periodic_job_removes_abandoned_uploads(app, jobs, tmp_path):
    with app.app_context():
        upload_dir = Path(app.instance_path) / "uploads"
        stale = uploaded(write(tmp_path, "s.csv", "phone\n20123456\n"), upload_dir)
        stale.created_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=30)
        db.session.commit()
        stale_id = stale.id
    quarter_past = datetime.datetime(2026, 12, 1, 10, 15)
    assert "every_quarter_hour" in {task.name for task in jobs.huey.read_periodic(quarter_past)}

    jobs.tasks["discard_abandoned_uploads"]()
    jobs.run_pending()

    with app.app_context():
        assert db.session.get(ListImport, stale_id) is None
