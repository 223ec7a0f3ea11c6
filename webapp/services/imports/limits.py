"""The shape a recipient file may have: a cap on columns and on a field's length, so one absurd
line (a megabyte without a line break) is refused with its line number instead of becoming a
list with 80,000 fields and a mapping page of tens of megabytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from webapp.csvimport import CsvFormat, CsvRow
from webapp.services.imports.errors import ImportRefused

MAX_COLUMNS = 200
MAX_FIELD_LENGTH = 1_000


def check_format(fmt: CsvFormat) -> None:
    """Refuse a file whose header or first rows break the caps (the mapping step's check)."""
    first = 2 if fmt.has_header else 1
    for offset, cells in enumerate(fmt.preview_rows):
        # The lines of the preview rows as the file numbers them when none is blank.
        _check_cells(first + offset, cells)
    # The columns stretch to the widest row read, so the header is named only when no row was.
    _check_cells(1, fmt.columns)


def within_limits(rows: Iterable[CsvRow]) -> Iterator[CsvRow]:
    """The rows, raising ImportRefused at the first one that breaks a cap (the import's check)."""
    for row in rows:
        _check_cells(row.line, row.cells)
        yield row


def _check_cells(line: int, cells: list[str]) -> None:
    if len(cells) > MAX_COLUMNS:
        raise ImportRefused(
            f"Line {line} has {len(cells):,} columns; a list can have at most {MAX_COLUMNS}. "
            "Is the separator right, or is a line break missing?"
        )
    if max(map(len, cells), default=0) <= MAX_FIELD_LENGTH:
        return  # every row passes here: find the column only when one breaks the cap
    for column, cell in enumerate(cells, start=1):
        if len(cell) > MAX_FIELD_LENGTH:
            raise ImportRefused(
                f"Line {line}, column {column} holds {len(cell):,} characters; a field can "
                f"hold at most {MAX_FIELD_LENGTH:,}. Is a closing quote missing?"
            )
