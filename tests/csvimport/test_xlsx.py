"""Excel workbooks read as the same rows as CSV, and uploads that are neither named for what
they are."""

from __future__ import annotations

import dataclasses
import datetime
import io
import zipfile
from pathlib import Path

import pytest
from helpers import xlsx_bytes

from webapp.csvimport import (
    CsvFormatError,
    FileKind,
    ImportCounts,
    classify_rows,
    identify,
    iter_rows,
    sniff_xlsx,
    unique_tag_names,
)


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    path.write_bytes(xlsx_bytes(sheets))
    return path


def classified(path: Path, **sniff_options):
    fmt = sniff_xlsx(path, "DK", **sniff_options)
    fields = dict(zip(unique_tag_names(fmt.columns), range(len(fmt.columns)), strict=True))
    del fields[unique_tag_names(fmt.columns)[fmt.phone_column]]
    rows = list(classify_rows(iter_rows(path, fmt), fmt.phone_column, fields, "DK", set()))
    counts = ImportCounts()
    for row in rows:
        counts.add(row)
    return fmt, rows, counts


def test_a_sheet_reads_as_rows_numbered_as_in_excel(tmp_path):
    path = workbook(
        tmp_path / "list.xlsx",
        {
            "Customers": [
                ["Mobile", "Name"],
                ["20123456", "Karen"],
                [],
                [None, None],
                ["+4521345678", "Bo"],
            ]
        },
    )

    fmt, rows, counts = classified(path)

    assert (fmt.sheet, fmt.sheets, fmt.has_header) == ("Customers", ("Customers",), True)
    assert fmt.columns == ["Mobile", "Name"] and fmt.phone_column == 0
    assert [(row.line, row.msisdn, row.fields) for row in rows] == [
        (2, "4520123456", {"name": "Karen"}),
        (5, "4521345678", {"name": "Bo"}),
    ]
    assert counts.rows == 2 and counts.balanced


def test_the_first_sheet_with_rows_is_read_unless_another_is_chosen(tmp_path):
    path = workbook(
        tmp_path / "list.xlsx",
        {
            "Cover": [],
            "Denmark": [["Phone"], ["20123456"]],
            "Sweden": [["Telefon", "Namn"], ["+46 70 123 45 67", "Åsa"]],
        },
    )

    assert sniff_xlsx(path, "DK").sheet == "Denmark"
    fmt, rows, _ = classified(path, sheet="Sweden")
    assert fmt.sheets == ("Cover", "Denmark", "Sweden")
    assert [(row.line, row.msisdn, row.fields) for row in rows] == [
        (2, "46701234567", {"namn": "Åsa"})
    ]
    with pytest.raises(CsvFormatError, match="no sheet “Norway”; its sheets are “Cover”"):
        sniff_xlsx(path, "DK", sheet="Norway")


def test_numbers_excel_stored_as_numbers_read_as_a_person_means_them(tmp_path):
    path = workbook(
        tmp_path / "numbers.xlsx",
        {
            "Sheet": [
                ["Mobile", "Customer no", "Spent"],
                [4520123456.0, 1001, 19.99],  # a float, as Excel stores every number
                [21345678, 1002.0, 0.1 + 0.2],
                [4.522334455e09, 1003, 20.0],  # shown as 4.52E+09 in a narrow column
            ]
        },
    )

    fmt, rows, counts = classified(path)

    assert [row.cells for row in iter_rows(path, fmt)] == [
        ["4520123456", "1001", "19.99"],
        ["21345678", "1002", "0.3"],
        ["4522334455", "1003", "20"],
    ]
    assert [(row.line, row.msisdn) for row in rows] == [
        (2, "4520123456"),
        (3, "4521345678"),
        (4, "4522334455"),
    ]
    assert counts.imported == 3


def test_dates_formulas_and_decimals_in_the_phone_column_are_rejected_with_the_reason(tmp_path):
    path = workbook(
        tmp_path / "odd.xlsx",
        {
            "Sheet": [
                ["Mobile", "Born"],
                [datetime.datetime(2026, 1, 20), datetime.date(1990, 5, 17)],
                ["=B2&C2", None],
                [20123456.5, None],
                [4.52e17, None],
                [True, None],
                ["21345678", datetime.datetime(1990, 5, 17, 8, 30)],
            ]
        },
    )

    _, rows, counts = classified(path)

    assert [(row.line, row.outcome.value, row.reason) for row in rows[:-1]] == [
        (
            2,
            "invalid",
            "a date or time (2026-01-20), not a phone number: format the column as "
            "Text in Excel and type the numbers again",
        ),
        (
            3,
            "invalid",
            "a formula (=B2&C2), not a phone number: copy the column and paste it "
            "back with Paste Special › Values",
        ),
        (4, "invalid", "a number with decimals (20123456.5), not a phone number"),
        (
            5,
            "invalid",
            "a number longer than the 15 digits Excel keeps (4.52e+17): format the "
            "column as Text and type the numbers again",
        ),
        (6, "invalid", "TRUE is not a phone number"),
    ]
    assert rows[0].cells == ["2026-01-20", "1990-05-17"]
    assert (rows[-1].line, rows[-1].msisdn, rows[-1].fields) == (
        7,
        "4521345678",
        {"born": "1990-05-17 08:30:00"},
    )
    assert counts.as_dict()["invalid"] == 5 and counts.balanced


def test_a_header_less_sheet_is_read_from_its_first_row(tmp_path):
    path = workbook(tmp_path / "bare.xlsx", {"Sheet": [[20123456, "Karen"], [21345678, "Bo"]]})

    fmt, rows, _ = classified(path)

    assert fmt.has_header is False and fmt.columns == ["column_1", "column_2"]
    assert [row.line for row in rows] == [1, 2]


def test_a_damaged_workbook_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook>not really")
    with pytest.raises(CsvFormatError, match="The workbook cannot be read .*save it again"):
        sniff_xlsx(path, "DK")


# --- What an upload is ---------------------------------------------------------------------


def zipped(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is a PNG image, not a CSV file"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "This is a JPEG image, not a CSV file"),
        (b"GIF89a\x01\x00", "This is a GIF image, not a CSV file"),
        (b"%PDF-1.4\n%\xe2\xe3", "This is a PDF document, not a CSV file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "This is an old Excel workbook (.xls)"),
        (zipped("Index/Document.iwa", "Metadata/Properties.plist"), "This is an Apple Numbers"),
        (zipped("word/document.xml"), "This is a Word document, not a CSV file"),
        (zipped("xl/workbook.bin"), "This is a binary Excel workbook (.xlsb)"),
        (zipped("mimetype", "content.xml"), "This is an OpenDocument file"),
        (zipped("photos/a.jpg"), "This is a ZIP archive, not a CSV file"),
        (b"<!DOCTYPE html><table><tr><td>1</td></tr></table>", "This is a web page (HTML)"),
        (b"p\x00h\x00o\x00n\x00e\x00\n\x002\x000\x00", "This file is UTF-16 text without a byte"),
        (b"\x00\x01\x02\x03binary\x00\x00", "This is not a text file"),
    ],
)
def test_an_upload_that_is_neither_text_nor_a_workbook_says_what_it_is(content, message):
    with pytest.raises(CsvFormatError) as refused:
        identify(io.BytesIO(content))
    assert str(refused.value).startswith(message)


def test_the_numbers_refusal_says_how_to_export(tmp_path):
    with pytest.raises(CsvFormatError, match=r"File › Export To › Excel… \(or CSV…\)"):
        identify(io.BytesIO(zipped("Index/Document.iwa")))


@pytest.mark.parametrize(
    "content",
    [
        "phone;name\r\n20123456;Søren\r\n".encode("cp1252"),
        "\ufeffphone,name\n20123456,Åsa\n".encode(),
        "phone\tname\n20123456\tÅsa\n".encode("utf-16"),
    ],
)
def test_text_in_the_encodings_we_read_is_text(content):
    assert identify(io.BytesIO(content)) is FileKind.TEXT


def test_a_real_workbook_is_a_workbook_and_the_file_is_left_where_it_was(tmp_path):
    path = workbook(tmp_path / "a.xlsx", {"Sheet": [["phone"], ["20123456"]]})
    with path.open("rb") as file:
        file.seek(0)
        assert identify(file) is FileKind.WORKBOOK
        assert file.tell() == 0
    assert dataclasses.is_dataclass(sniff_xlsx(path, "DK"))


def _rewritten(data: bytes, part: str, change) -> bytes:
    """The workbook with one of its XML parts changed by ``change``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == part:
                content = change(content.decode()).encode()
            target.writestr(item, content)
    return out.getvalue()


def test_a_workbook_cannot_make_the_reader_open_other_files(tmp_path):
    """An uploaded sheet declaring an external entity (XXE) gets no file's text into a row."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = xlsx_bytes({"People": [["phone", "name"], ["20100000", "Ann"]]})

    def with_entity(xml: str) -> str:
        declaration = f'<!DOCTYPE worksheet [<!ENTITY leak SYSTEM "file://{secret}">]>'
        assert ">Ann<" in xml
        return declaration + xml.replace(">Ann<", ">&leak;<", 1)

    path = tmp_path / "leak.xlsx"
    path.write_bytes(_rewritten(data, "xl/worksheets/sheet1.xml", with_entity))
    try:
        fmt = sniff_xlsx(path, "DK")
        text = repr(fmt) + repr(list(iter_rows(path, fmt)))
    except CsvFormatError:
        return  # refused as damaged: also safe
    assert "TOP-SECRET" not in text


def test_inline_strings_rich_text_and_formulas_read_as_excel_shows_them(tmp_path):
    data = xlsx_bytes({"People": [["phone", "name", "code"], ["20100000", "Ann", "=A2&B2"]]})

    def with_inline(xml: str) -> str:
        return xml.replace(
            "</row></sheetData>",
            '</row><row r="3"><c r="A3" t="inlineStr"><is><t>20100001</t></is></c>'
            '<c r="B3" t="inlineStr"><is><r><t>B</t></r><r><t>o</t></r></is></c></row>'
            "</sheetData>",
        )

    path = tmp_path / "inline.xlsx"
    path.write_bytes(_rewritten(data, "xl/worksheets/sheet1.xml", with_inline))
    fmt = sniff_xlsx(path, "DK")
    rows = [row.cells for row in iter_rows(path, fmt)]
    assert rows == [["20100000", "Ann", "=A2&B2"], ["20100001", "Bo"]]


def test_shared_strings_come_back_exactly_whatever_their_script_and_order(tmp_path):
    """Excel stores each distinct text once and cells point at it: texts in any script, emoji,
    one empty and one repeated far apart, read back as they were written."""
    names = ["Søren", "Zoë 👋", "Ελένη", "李", "x" * 300, "Søren", "Ann-Mari", "Søren"]
    rows = [["Mobile", "Name"]] + [[f"2012{n:04d}", name] for n, name in enumerate(names)]
    path = workbook(tmp_path / "names.xlsx", {"People": rows})

    fmt, read, counts = classified(path)

    assert [row.fields["name"] for row in read] == names
    assert counts.imported == len(names)
