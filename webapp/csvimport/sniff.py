"""Detecting how a CSV file reads: encoding, delimiter, header and the phone column."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence

from webapp.csvimport.encoding import check_encoding, decode_sample, detect_encoding
from webapp.csvimport.formats import CsvFormat, CsvFormatError, Source
from webapp.csvimport.headers import guess_phone_column, is_phone_header
from webapp.csvimport.rows import binary_file, read_rows, text_of
from webapp.sms.phones import normalise_msisdn

SAMPLE_BYTES = 64 * 1024
"""How much of the file decides its encoding and delimiter."""

PREVIEW_ROWS = 10
"""Data rows shown in the mapping step."""

DELIMITERS = (",", ";", "\t")

HEADER_SAMPLE_ROWS = 50
"""Rows read to judge whether the first row is a header and which column holds the phones."""


def sniff_csv(
    source: Source,
    default_country: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
) -> CsvFormat:
    """Detect how to read a CSV file, for the mapping step and for iter_rows.

    The keyword arguments fix what the user corrected in the mapping step and detect the rest.
    The phone column is guessed with default_country (the workspace's region code, e.g. "DK").
    Reads only the first 64 KB and the first rows; a file object is put back where it was.
    Raises CsvFormatError for a file that cannot be read as text.
    """
    if delimiter is not None and delimiter not in DELIMITERS:
        raise CsvFormatError(f"Unsupported delimiter {delimiter!r}: use comma, semicolon or tab.")
    with binary_file(source, rewind=True) as binary:
        start = binary.tell()
        sample = binary.read(SAMPLE_BYTES)
        complete = len(sample) < SAMPLE_BYTES
        binary.seek(start)
        if encoding is None:
            encoding = detect_encoding(sample, complete=complete)
        else:
            check_encoding(encoding)
        if delimiter is None:
            delimiter = _detect_delimiter(
                decode_sample(sample, encoding, complete), complete=complete
            )
        with text_of(binary, encoding) as text:
            first_rows = [
                row.cells
                for row in itertools.islice(
                    read_rows(text, delimiter, encoding), HEADER_SAMPLE_ROWS + 1
                )
            ]
    return format_of(
        first_rows, default_country, has_header, encoding=encoding, delimiter=delimiter
    )


def format_of(
    first_rows: Sequence[list[str]],
    default_country: str,
    has_header: bool | None,
    **how: object,
) -> CsvFormat:
    """The format of a file from its first rows: header (detected when None), columns, preview
    and guessed phone column; `how` gives the rest (encoding and delimiter, or the sheet)."""
    if has_header is None:
        has_header = bool(first_rows) and _looks_like_header(
            first_rows[0], first_rows[1:], default_country
        )
    data_rows = list(first_rows[1:] if has_header else first_rows)
    width = max((len(cells) for cells in first_rows), default=0)
    columns = [f"column_{index + 1}" for index in range(width)]
    if has_header and first_rows:
        for index, name in enumerate(first_rows[0]):
            columns[index] = name.strip() or columns[index]
    return CsvFormat(
        has_header=has_header,
        columns=columns,
        preview_rows=data_rows[:PREVIEW_ROWS],
        phone_column=guess_phone_column(columns, data_rows, default_country),
        **how,
    )


def _detect_delimiter(sample: str, *, complete: bool) -> str:
    """The delimiter that splits the sample's rows most consistently into more than one cell.

    Counting instead of csv.Sniffer: Sniffer gives up on a one-column file and is swayed by
    a semicolon or comma inside a few cells. A delimiter scores by the share of rows having its
    most common cell count, then by that count; a one-column file gets a comma.
    """
    if not complete and ("\n" in sample or "\r" in sample):
        sample = sample[: max(sample.rfind("\n"), sample.rfind("\r")) + 1]  # a cut last line
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        counts = [
            len(row)
            for row in itertools.islice(
                csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), 200
            )
            if row
        ]
        if not counts:
            continue
        usual = max(set(counts), key=lambda count: (counts.count(count), count))
        score = (counts.count(usual) / len(counts), usual)
        if usual > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_like_header(
    first: Sequence[str], rest: Sequence[Sequence[str]], default_country: str
) -> bool:
    """Whether a file's first row names its columns.

    A header holds no valid phone number; it holds a phone column name, or else distinct cells
    that each contain a letter, one of them above a column whose other cells are mostly digits
    (the phone column, even when its numbers are broken). A one-row file of words is a header.
    """
    cells = [cell.strip() for cell in first if cell.strip()]
    if not cells:
        return False
    if any(normalise_msisdn(cell, default_country).is_valid for cell in cells):
        return False
    if any(is_phone_header(cell) for cell in cells):
        return True
    if len({cell.casefold() for cell in cells}) < len(cells):
        return False
    if not all(any(character.isalpha() for character in cell) for cell in cells):
        return False
    return not rest or any(
        _mostly_digits(rest, index) for index, cell in enumerate(first) if cell.strip()
    )


def _mostly_digits(rows: Sequence[Sequence[str]], index: int) -> bool:
    """Whether most non-empty cells of a column are mostly digits, like phone numbers."""
    cells = [row[index] for row in rows if index < len(row) and row[index].strip()]
    numeric = sum(2 * sum(c.isdigit() for c in cell) >= len(cell.strip()) for cell in cells)
    return bool(cells) and 2 * numeric >= len(cells)
