"""The CSV import core over files in every awkward form: every row counted, rejections explained."""

from __future__ import annotations

import codecs
import csv
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.csvimport import (
    ClassifiedRow,
    CsvFormat,
    CsvFormatError,
    CsvRow,
    ImportCounts,
    Outcome,
    classify_rows,
    classify_rows_parallel,
    detect_encoding,
    iter_rows,
    sniff_csv,
    tag_name,
    unique_tag_names,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"  # copies of ../shared/samples


@dataclass
class Imported:
    """What the import core made of a file: its format, counts and every row's outcome."""

    fmt: CsvFormat
    counts: ImportCounts
    outcomes: list[ClassifiedRow] = field(default_factory=list)

    @property
    def rejected(self) -> list[tuple[int, str]]:
        return [(row.line, row.reason) for row in self.outcomes if row.outcome != "imported"]

    @property
    def imported(self) -> list[tuple[int, str]]:
        return [(row.line, row.msisdn) for row in self.outcomes if row.outcome == "imported"]


def import_file(source, opted_out=(), country="DK", **overrides) -> Imported:
    fmt = sniff_csv(source, country, **overrides)
    fields = dict(zip(unique_tag_names(fmt.columns), range(len(fmt.columns)), strict=True))
    result = Imported(fmt, ImportCounts())
    rows = iter_rows(source, fmt)
    if fmt.phone_column is None:
        assert list(rows) == [], "rows but no phone column"
        return result
    for row in classify_rows(rows, fmt.phone_column, fields, country, set(opted_out)):
        result.counts.add(row)
        result.outcomes.append(row)
    assert result.counts.balanced
    return result


def counts(imported=0, invalid=0, duplicates=0, opted_out=0, landlines=0) -> dict[str, int]:
    rows = imported + invalid + duplicates + opted_out
    return dict(
        rows=rows,
        imported=imported,
        invalid=invalid,
        duplicates=duplicates,
        opted_out=opted_out,
        landlines=landlines,
    )


@pytest.fixture
def write(tmp_path):
    """Write text to a file in the given encoding, exactly as given (no newline translation)."""

    def write(text: str, encoding: str = "utf-8", name: str = "list.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return write


CONTACTS = (
    "Phone,First name,City\r\n"
    "+45 20 12 34 56,Søren,Århus\r\n"
    "22 33 44 55,Åse,Køge\r\n"
    "4.52012E+09,Ødelagt,Ribe\r\n"
)


def test_utf8_file_is_read_and_counted(write):
    result = import_file(write(CONTACTS))

    assert (result.fmt.encoding, result.fmt.delimiter, result.fmt.has_header) == (
        "utf-8",
        ",",
        True,
    )
    assert result.fmt.columns == ["Phone", "First name", "City"]
    assert result.counts.as_dict() == counts(imported=2, invalid=1)
    assert result.rejected == [(4, "Excel scientific notation (digits lost): 4.52012E+09")]
    assert result.outcomes[0].fields == {
        "phone": "+45 20 12 34 56",
        "first_name": "Søren",
        "city": "Århus",
    }


def test_utf8_bom_is_not_part_of_the_first_column_name(write):
    result = import_file(write("\ufeff" + CONTACTS))

    assert result.fmt.encoding == "utf-8-sig"
    assert result.fmt.columns[0] == "Phone"
    assert result.fmt.phone_column == 0
    assert result.counts.as_dict() == counts(imported=2, invalid=1)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom_as_excel_unicode_text_is_read(write, encoding):
    text = CONTACTS.replace(",", "\t")
    path = write(text, "utf-16") if encoding == "utf-16" else write("\ufeff" + text, encoding)

    result = import_file(path)

    assert (result.fmt.encoding, result.fmt.delimiter) == ("utf-16", "\t")
    assert result.outcomes[1].fields["first_name"] == "Åse"
    assert result.counts.as_dict() == counts(imported=2, invalid=1)
    assert result.rejected == [(4, "Excel scientific notation (digits lost): 4.52012E+09")]


def test_windows_1252_file_keeps_danish_letters(write):
    result = import_file(write(CONTACTS.replace(",", ";"), "cp1252"))

    assert (result.fmt.encoding, result.fmt.delimiter) == ("cp1252", ";")
    assert [row.fields["city"] for row in result.outcomes[:2]] == ["Århus", "Køge"]
    assert result.counts.as_dict() == counts(imported=2, invalid=1)


def test_windows_1252_letters_after_an_ascii_start_are_still_read(write):
    ascii_rows = "".join(f"{21100000 + number},Hansen\n" for number in range(8000))
    path = write("Phone,Name\n" + ascii_rows + "40123456,Søren Ærø\n", "cp1252")

    result = import_file(path)

    assert result.fmt.encoding == "utf-8"  # all the first 64 KB show
    assert result.outcomes[-1].fields["name"] == "Søren Ærø"
    assert result.counts.as_dict() == counts(imported=8001)


def test_undecodable_text_far_into_the_file_is_a_clear_error_with_its_line(tmp_path):
    path = tmp_path / "broken.csv"
    text = "Phone\n" + "".join(f"{21100000 + number}\n" for number in range(5000))
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le") + b"\x00\xdc")
    fmt = sniff_csv(path, "DK")

    with pytest.raises(CsvFormatError, match=r"^The text after line \d+ is not valid utf-16"):
        list(iter_rows(path, fmt))


def test_undecodable_text_at_the_start_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "Phone\n20123456\n".encode("utf-16-le") + b"\x00\xdc")

    with pytest.raises(CsvFormatError, match=r"not valid utf-16 text"):
        sniff_csv(path, "DK")


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab")])
def test_delimiter_is_detected(write, delimiter, name):
    text = (
        f"Mobil{delimiter}Navn{delimiter}Adresse\n"
        f'20123456{delimiter}Karen{delimiter}"Vestergade 1, 1. sal; th"\n'
        f"22334455{delimiter}Peter{delimiter}Torvet 2\n"
    )

    result = import_file(write(text))

    assert result.fmt.delimiter == delimiter
    assert result.outcomes[0].fields["adresse"] == "Vestergade 1, 1. sal; th"
    assert result.counts.as_dict() == counts(imported=2)


def test_semicolon_file_with_decimal_comma_cells_is_semicolon(write):
    text = "Mobil;Beløb\n20123456;12,50\n22334455;3,75\n4,52E+09;1,00\n"

    result = import_file(write(text))

    assert result.fmt.delimiter == ";"
    assert result.rejected == [(4, "Excel scientific notation (digits lost): 4,52E+09")]


def test_file_without_header_numbers_lines_from_one(write):
    text = "Karen,+4520123456\nPeter,22 33 44 55\nOle,123\n"

    result = import_file(write(text))

    assert result.fmt.has_header is False
    assert result.fmt.columns == ["column_1", "column_2"]
    assert result.fmt.phone_column == 1
    assert result.imported == [(1, "4520123456"), (2, "4522334455")]
    assert result.rejected == [(3, "not a valid number for DK (+45)")]


def test_header_is_recognised_by_the_numbers_under_it(write):
    text = "Kunde;Kontakt\nSøren;4,52E+09\nÅse;26374859\n"

    result = import_file(write(text))

    assert result.fmt.has_header is True
    assert result.fmt.phone_column == 1
    assert result.counts.as_dict() == counts(imported=1, invalid=1)


def test_header_choice_can_be_overridden(write):
    path = write("Phone,Name\n20123456,Karen\n")

    result = import_file(path, has_header=False)

    assert result.fmt.columns == ["column_1", "column_2"]
    assert result.counts.as_dict() == counts(imported=1, invalid=1)
    assert result.rejected == [(1, "not a phone number")]


def test_ragged_rows_are_kept_and_counted(write):
    text = (
        "Phone,Name,City\n"
        "20123456,Karen\n"  # short: no city
        "22334455,Peter,Herning,extra,cells\n"  # long
        "Ole\n"
        "\n"
        "23456789\n"
    )

    result = import_file(write(text))

    assert result.counts.as_dict() == counts(imported=3, invalid=1)
    assert result.fmt.columns == ["Phone", "Name", "City", "column_4", "column_5"]
    assert result.outcomes[0].fields["city"] == ""
    assert result.outcomes[1].fields["column_5"] == "cells"
    assert result.rejected == [(4, "not a phone number")]
    assert result.imported[-1] == (6, "4523456789")


def test_row_too_short_to_reach_the_phone_column_is_a_missing_phone(write):
    text = "Name,City,Phone\nKaren,Vejle,20123456\nPeter\nOle,Ribe,22334455\n"

    result = import_file(write(text))

    assert result.fmt.phone_column == 2
    assert result.rejected == [(3, "missing phone number")]
    assert result.outcomes[1].cells == ["Peter"]


def test_quoted_fields_with_commas_and_newlines_keep_line_numbers_right(write):
    text = (
        "Phone,Name,Note\r\n"
        '20123456,"Holm, Karen","first line\r\nsecond line\r\nthird line"\r\n'
        '123,"Lund, Peter","one\nmore"\r\n'
        '22334455,Ole,"a ""quoted"" word"\r\n'
        "x,Broken,\r\n"
    )

    result = import_file(write(text))

    assert result.counts.as_dict() == counts(imported=2, invalid=2)
    assert result.imported == [(2, "4520123456"), (7, "4522334455")]
    assert result.rejected == [(5, "not a valid number for DK (+45)"), (8, "not a phone number")]
    assert result.outcomes[0].fields["note"] == "first line\r\nsecond line\r\nthird line"
    assert result.outcomes[2].fields["note"] == 'a "quoted" word'


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_blank_lines_and_rows_of_empty_cells_are_not_rows(write, newline):
    lines = ["Phone,Name", "20123456,Karen", "", "   ", "\t", ",", ",,", "22334455,Peter", "  ,  "]

    result = import_file(write(newline.join(lines) + newline))

    assert result.counts.as_dict() == counts(imported=2)
    assert result.imported == [(2, "4520123456"), (8, "4522334455")]
    assert result.rejected == []


def test_excel_empty_rows_of_semicolons_are_blank_lines(write):
    text = "Mobil;Navn;By;Note\r\n20123456;Karen;Vejle;\r\n;;;\r\n;;;\r\n;Bo;;\r\n"

    result = import_file(write(text, encoding="cp1252"))

    assert result.fmt.delimiter == ";"
    assert result.counts.as_dict() == counts(imported=1, invalid=1)
    assert result.rejected == [(5, "missing phone number")]


def test_tab_only_line_in_a_tab_file_is_a_blank_line(write):
    result = import_file(write("Phone\tName\n20123456\tKaren\n\t\n   \n"))

    assert result.fmt.delimiter == "\t"
    assert result.counts.as_dict() == counts(imported=1)


def test_blank_lines_before_the_header_are_skipped(write):
    result = import_file(write("\n\nPhone,Name\n20123456,Karen\n"))

    assert result.fmt.columns == ["Phone", "Name"]
    assert result.imported == [(4, "4520123456")]


def test_same_number_in_different_formats_is_one_recipient(write):
    text = (
        "Phone,Name\n"
        "20 12 34 56,First\n"
        "+4520123456,Second\n"
        "0045 20123456,Third\n"
        "(+45) 20-12-34-56,Fourth\n"
        "4520123456,Fifth\n"
    )

    result = import_file(write(text))

    assert result.counts.as_dict() == counts(imported=1, duplicates=4)
    assert result.outcomes[0].fields["name"] == "First"
    assert [(row.line, row.first_line) for row in result.outcomes[1:]] == [
        (3, 2),
        (4, 2),
        (5, 2),
        (6, 2),
    ]
    assert result.rejected[0] == (3, "duplicate of line 2")


def test_opted_out_numbers_are_excluded_in_any_format(write):
    text = "Phone\n20123456\n+45 22 33 44 55\n0045 22334455\n23456789\n"

    result = import_file(write(text), opted_out={"4522334455"})

    assert result.counts.as_dict() == counts(imported=2, opted_out=2)
    assert result.rejected == [(3, "on the opt-out list"), (4, "on the opt-out list")]
    assert [row.msisdn for row in result.outcomes if row.outcome == Outcome.OPTED_OUT] == [
        "4522334455",
        "4522334455",
    ]


def test_landlines_are_imported_and_counted(write):
    text = "Phone\n+49 30 123456\n+49 151 12345678\n"

    result = import_file(write(text))

    assert result.counts.as_dict() == counts(imported=2, landlines=1)
    assert [row.landline for row in result.outcomes] == [True, False]


def test_scientific_notation_rows_are_rejected_with_their_lines(write):
    text = "Mobil;Navn\r\n4,52E+09;A\r\n20123456;B\r\n4.52012E+09;C\r\n2,01235E+07;D\r\n"

    result = import_file(write(text, "cp1252"))

    assert result.counts.as_dict() == counts(imported=1, invalid=3)
    assert result.rejected == [
        (2, "Excel scientific notation (digits lost): 4,52E+09"),
        (4, "Excel scientific notation (digits lost): 4.52012E+09"),
        (5, "Excel scientific notation (digits lost): 2,01235E+07"),
    ]


def test_empty_file_has_no_rows(write):
    result = import_file(write(""))

    assert result.fmt.columns == []
    assert result.fmt.phone_column is None
    assert result.counts.as_dict() == counts()


def test_header_only_file_has_no_rows(write):
    result = import_file(write("Phone,Name\r\n"))

    assert result.fmt.has_header is True
    assert result.counts.as_dict() == counts()


def test_file_object_is_read_from_where_it_stands_and_sniffing_puts_it_back():
    upload = io.BytesIO(CONTACTS.encode("utf-8"))

    result = import_file(upload)

    assert result.counts.as_dict() == counts(imported=2, invalid=1)
    assert not upload.closed


def test_preview_shows_the_first_ten_data_rows(write):
    rows = "".join(f"{20000000 + number},Name {number}\n" for number in range(25))

    fmt = sniff_csv(write("Phone,Name\n" + rows), "DK")

    assert len(fmt.preview_rows) == 10
    assert fmt.preview_rows[0] == ["20000000", "Name 0"]


def test_progress_reports_bytes_read_up_to_the_whole_file(write):
    path = write("Phone\n" + "".join(f"{20000000 + number}\n" for number in range(12_000)))
    fmt = sniff_csv(path, "DK")
    reported: list[int] = []

    rows = list(iter_rows(path, fmt, progress=reported.append))

    assert len(rows) == 12_000
    assert reported == sorted(reported)
    assert len(reported) == 3
    assert reported[-1] == path.stat().st_size


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CsvFormatError, match="Cannot open"):
        sniff_csv(tmp_path / "nope.csv", "DK")


def test_unsupported_delimiter_is_a_clear_error(write):
    with pytest.raises(CsvFormatError, match="Unsupported delimiter"):
        sniff_csv(write(CONTACTS), "DK", delimiter="|")


@pytest.mark.parametrize(
    ("sample", "encoding"),
    [
        (codecs.BOM_UTF8 + b"a", "utf-8-sig"),
        (codecs.BOM_UTF16_LE + "a".encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + "a".encode("utf-16-be"), "utf-16"),
        ("Søren".encode(), "utf-8"),
        ("Søren".encode()[:-4], "utf-8"),  # a character cut at the end of the sample
        ("Mobil;Navn\r\n20123456;Søren Århus\r\n".encode("cp1252"), "cp1252"),
        (b"Phone\n20123456\n", "utf-8"),
        (
            "Imię;Telefon\nŁukasz Świątek;+48600123456\nZażółć gęślą jaźń;1\n".encode("cp1250"),
            "cp1250",
        ),
    ],
)
def test_encoding_is_detected_in_a_fixed_order(sample, encoding):
    assert detect_encoding(sample) == encoding


@pytest.mark.parametrize(
    ("header", "tag"),
    [("First name", "first_name"), ("Fornavn", "fornavn"), ("By", "by"),
     ("Første køb", "foerste_koeb"), ("Prénom", "prenom"), ("E-mail address", "e_mail_address"),
     ("  ", "field"), ("%name%", "name")],
)  # fmt: skip
def test_tag_name_is_lower_case_ascii(header, tag):
    assert tag_name(header) == tag


def test_tag_names_are_made_unique():
    assert unique_tag_names(["Name", "name", "NAME", "Name 2", ""]) == [
        "name",
        "name_2",
        "name_3",
        "name_2_2",
        "field",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("contacts_utf8.csv", counts(imported=6, invalid=3, duplicates=1)),
        ("contacts_excel_semicolon_cp1252.csv", counts(imported=2, invalid=1, duplicates=1)),
        ("numbers_only.csv", counts(imported=2, invalid=1, duplicates=1)),
    ],
)
def test_shared_sample_files_give_the_documented_counts(tmp_path, name, expected):
    source = SAMPLES / name
    path = tmp_path / name
    shutil.copyfile(source, path)

    assert import_file(path).counts.as_dict() == expected


def test_sample_contacts_rejections_name_lines_and_reasons():
    source = SAMPLES / "contacts_utf8.csv"

    result = import_file(source)

    assert result.rejected == [
        (7, "duplicate of line 2"),
        (8, "missing phone number"),
        (9, "not a valid number for DK (+45)"),
        (10, "not a valid number for GB (+44)"),
    ]


PHONE_CELLS = st.sampled_from(
    [
        "20123456",
        "20 12 34 56",
        "+4520123456",
        "0045 20123456",
        "22334455",
        "+46 70 987 65 43",
        "46709876543",
        "",
        "  ",
        "123",
        "4,52E+09",
        "not a number",
        "+44 7700 900123",
        "+49 30 123456",
    ]
)
NAME_CELLS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(PHONE_CELLS, NAME_CELLS), max_size=40),
    opted_out=st.sets(st.sampled_from(["4520123456", "46709876543", "4930123456"])),
)
def test_every_row_has_exactly_one_outcome_and_the_counts_add_up(rows, opted_out):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["Phone", "Name"])
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    fmt = CsvFormat("utf-8", ",", True, ["Phone", "Name"], [], 0)

    source_rows = list(iter_rows(io.BytesIO(data), fmt))
    outcomes = list(classify_rows(source_rows, 0, {"name": 1}, "DK", opted_out))
    tally = ImportCounts()
    for outcome in outcomes:
        tally.add(outcome)

    assert tally.balanced
    assert [outcome.line for outcome in outcomes] == [row.line for row in source_rows]
    imported = [outcome.msisdn for outcome in outcomes if outcome.outcome == Outcome.IMPORTED]
    assert len(imported) == len(set(imported))
    assert not set(imported) & opted_out
    imported_lines = {o.line for o in outcomes if o.outcome == Outcome.IMPORTED}
    assert all(o.first_line in imported_lines for o in outcomes if o.outcome == Outcome.DUPLICATE)


def test_parallel_classification_gives_the_same_outcomes_in_order():
    cells = ["20123456", "+4520123456", "", "123", "22334455", "4,52E+09", "+46709876543"]
    rows = [CsvRow(line, [cells[line % len(cells)], f"name {line}"]) for line in range(1, 400)]
    args = (0, {"name": 1}, "DK", {"4522334455"})

    serial = list(classify_rows(rows, *args))
    parallel = list(classify_rows_parallel(rows, *args, workers=2, chunk_rows=17, min_rows=0))

    assert parallel == serial


def test_parallel_classification_of_nothing_is_nothing():
    assert list(classify_rows_parallel([], 0, {}, "DK", set(), min_rows=0)) == []


def test_duplicates_are_found_among_many_distinct_numbers():
    distinct = [CsvRow(line, [f"+45 2{line + 1_100_000:07d}"]) for line in range(1, 70_001)]
    repeats = [CsvRow(70_000 + line, [f"2{line + 1_100_000:07d}"]) for line in (1, 33_333, 70_000)]

    outcomes = list(classify_rows(distinct + repeats, 0, {}, "DK", set()))

    assert sum(row.outcome == Outcome.IMPORTED for row in outcomes) == 70_000
    assert [(row.outcome, row.first_line) for row in outcomes[-3:]] == [
        (Outcome.DUPLICATE, 1),
        (Outcome.DUPLICATE, 33_333),
        (Outcome.DUPLICATE, 70_000),
    ]


def test_a_stream_that_cannot_seek_is_read_with_a_known_format():
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            return self._data.readinto(buffer)

    fmt = CsvFormat("utf-8", ",", True, ["Phone"], [], 0)
    reported: list[int] = []

    rows = list(
        iter_rows(io.BufferedReader(Pipe(b"Phone\n20123456\n")), fmt, progress=reported.append)
    )

    assert rows == [CsvRow(2, ["20123456"])]
    assert reported == [0]


def test_sniffing_a_stream_that_cannot_seek_is_a_clear_error():
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(CsvFormatError, match="seekable"):
        sniff_csv(io.BufferedReader(Pipe()), "DK")


def test_classifying_without_a_phone_column_is_a_clear_error():
    with pytest.raises(ValueError, match="Choose the column that holds the phone numbers"):
        list(classify_rows([CsvRow(1, ["x"])], None, {}, "DK", set()))
