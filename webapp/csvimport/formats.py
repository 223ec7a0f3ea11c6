"""The shapes the CSV pipeline hands around: how a file reads, and its rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

Source = str | os.PathLike[str] | BinaryIO
"""A path to a CSV file, or a binary file object positioned at its start (seekable for sniff)."""


class CsvFormatError(ValueError):
    """The file cannot be read as CSV; the message says where and what to do about it."""


@dataclass(frozen=True)
class CsvFormat:
    """How to read one file, as sniffed; the mapping step may replace fields the user corrects.

    `columns` are the header's names (blank ones as "column_N"), or "column_1", ... without a
    header; rows further down may have more cells than `columns` has names.
    """

    encoding: str
    delimiter: str
    has_header: bool
    columns: list[str]
    preview_rows: list[list[str]]
    phone_column: int | None


class CsvRow(NamedTuple):
    """One data row: `line` is the 1-based line of the original file on which it starts."""

    line: int
    cells: list[str]
