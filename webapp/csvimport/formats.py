"""The shapes the import pipeline hands around: how a file reads, and its rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

Source = str | os.PathLike[str] | BinaryIO
"""A path to a CSV file or workbook, or a binary file object positioned at its start
(seekable for sniff, and always for a workbook)."""


class CsvFormatError(ValueError):
    """The file cannot be read as CSV (or as a workbook); the message says what to do about it."""


@dataclass(frozen=True)
class CsvFormat:
    """How to read one file, as sniffed; the mapping step may replace fields the user corrects.

    `columns` are the header's names (blank ones as "column_N"), or "column_1", ... without a
    header; rows further down may have more cells than `columns` has names. For an Excel
    workbook (see `webapp.csvimport.xlsx`) `sheet` names the worksheet read and `sheets` all of
    them; encoding and delimiter then mean nothing.
    """

    encoding: str
    delimiter: str
    has_header: bool
    columns: list[str]
    preview_rows: list[list[str]]
    phone_column: int | None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()

    @property
    def is_workbook(self) -> bool:
        return self.sheet is not None


class CsvRow(NamedTuple):
    """One data row: `line` is the 1-based line of the original file on which it starts
    (a workbook's row number).

    `phone_problem` is why the phone cell cannot be a phone number whatever its text, from
    what a spreadsheet knows of it (a date, a formula, a number with decimals); None for CSV.
    """

    line: int
    cells: list[str]
    phone_problem: str | None = None
