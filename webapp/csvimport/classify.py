"""Sorting every row into exactly one outcome: imported, invalid, duplicate or opted out."""

from __future__ import annotations

import enum
from array import array
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from webapp.csvimport.formats import CsvRow
from webapp.sms.phones import normalise_msisdn


class Outcome(enum.StrEnum):
    IMPORTED = "imported"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    OPTED_OUT = "opted_out"


class ClassifiedRow(NamedTuple):
    """What became of one row.

    Every outcome has `line`. IMPORTED has `msisdn`, `country`, `landline` and `fields`
    (personalisation values by tag name). The others have `reason` (for the rejected-rows
    download) and the row's raw `cells`; DUPLICATE and OPTED_OUT also have `msisdn`, and
    DUPLICATE has `first_line`, the line of the imported row it repeats.
    """

    line: int
    outcome: Outcome
    msisdn: str | None = None
    country: str | None = None
    landline: bool = False
    fields: dict[str, str] | None = None
    reason: str | None = None
    cells: list[str] | None = None
    first_line: int | None = None


@dataclass
class ImportCounts:
    """Running totals of an import; `rows == imported + invalid + duplicates + opted_out`.

    `landlines` counts imported numbers typed as fixed-line (already within `imported`).
    """

    rows: int = 0
    imported: int = 0
    invalid: int = 0
    duplicates: int = 0
    opted_out: int = 0
    landlines: int = 0

    def add(self, row: ClassifiedRow) -> None:
        self.rows += 1
        match row.outcome:
            case Outcome.IMPORTED:
                self.imported += 1
                self.landlines += row.landline
            case Outcome.INVALID:
                self.invalid += 1
            case Outcome.DUPLICATE:
                self.duplicates += 1
            case Outcome.OPTED_OUT:
                self.opted_out += 1

    @property
    def balanced(self) -> bool:
        """True when every row is accounted for exactly once."""
        return self.rows == self.imported + self.invalid + self.duplicates + self.opted_out

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "opted_out": self.opted_out,
            "landlines": self.landlines,
        }


OPTED_OUT_REASON = "on the opt-out list"


def classify_rows(
    rows: Iterable[CsvRow],
    phone_column: int,
    field_columns: Mapping[str, int],
    default_country: str,
    opted_out: Container[str],
) -> Iterator[ClassifiedRow]:
    """Yield exactly one outcome per row, in order, keeping the first occurrence of a number.

    field_columns maps a tag name to the column holding its values (see unique_tag_names);
    opted_out holds MSISDNs ("4520123456"). A number on the opt-out list is OPTED_OUT wherever
    it appears; a DUPLICATE always points at the IMPORTED row it repeats.
    """
    check_phone_column(phone_column)
    classifier = Classifier(field_columns, opted_out)
    for row in rows:
        cell = row.cells[phone_column] if phone_column < len(row.cells) else ""
        yield classifier.classify(row, normalise_msisdn(cell, default_country))


PhoneFields = tuple[str | None, str | None, str | None, bool]
"""A PhoneResult's fields (msisdn, country, reason, landline), as a worker sends them back."""


class Classifier:
    """The ordered, stateful half of classification: duplicates, opt-outs and fields."""

    def __init__(self, field_columns: Mapping[str, int], opted_out: Container[str]) -> None:
        self._fields = list(field_columns.items())
        self._opted_out = opted_out
        self._first_lines = _FirstLines()

    def classify(self, row: CsvRow, phone: PhoneFields) -> ClassifiedRow:
        msisdn, country, reason, landline = phone
        if row.phone_problem is not None:
            msisdn, reason = None, row.phone_problem
        if msisdn is None:
            return ClassifiedRow(row.line, Outcome.INVALID, reason=reason, cells=row.cells)
        if msisdn in self._opted_out:
            return ClassifiedRow(
                row.line, Outcome.OPTED_OUT, msisdn, reason=OPTED_OUT_REASON, cells=row.cells
            )
        first_line = self._first_lines.setdefault(int(msisdn), row.line)
        if first_line != row.line:
            return ClassifiedRow(
                row.line,
                Outcome.DUPLICATE,
                msisdn,
                reason=f"duplicate of line {first_line}",
                cells=row.cells,
                first_line=first_line,
            )
        cells = row.cells
        fields = {
            name: cells[index].strip() if index < len(cells) else "" for name, index in self._fields
        }
        return ClassifiedRow(
            row.line,
            Outcome.IMPORTED,
            msisdn,
            country,
            landline,
            fields,
        )

    def classify_chunk(
        self, rows: Sequence[CsvRow], phones: Sequence[PhoneFields]
    ) -> Iterator[ClassifiedRow]:
        for row, phone in zip(rows, phones, strict=True):
            yield self.classify(row, phone)


class _FirstLines:
    """The line each imported number first appeared on, for a million numbers in ~35 MB.

    An open-addressing hash table over two arrays (MSISDN as a 64-bit int, never 0 and never
    with a leading zero; line as a 32-bit int), at most half full. A dict of ints would take
    ~120 bytes an entry, over 100 MB for a million-row file; this takes 24 at most.
    """

    _MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads numbers that differ in few digits

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._allocate(capacity)

    def setdefault(self, msisdn: int, line: int) -> int:
        """The line msisdn was first seen on, recording `line` if this is the first time."""
        keys, mask = self._keys, self._mask
        slot = ((msisdn * self._MIX) >> 24) & mask
        while (found := keys[slot]) != 0:
            if found == msisdn:
                return self._lines[slot]
            slot = (slot + 1) & mask
        keys[slot] = msisdn
        self._lines[slot] = line
        self._size += 1
        if 2 * self._size > mask:
            self._grow()
        return line

    def _allocate(self, capacity: int) -> None:
        self._keys = array("q", bytes(8 * capacity))
        self._lines = array("i", bytes(4 * capacity))
        self._mask = capacity - 1
        self._size = 0

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        self._allocate(2 * len(keys))
        for msisdn, line in zip(keys, lines, strict=True):
            if msisdn:
                self.setdefault(msisdn, line)


def check_phone_column(phone_column: int | None) -> None:
    if phone_column is None or phone_column < 0:
        raise ValueError("Choose the column that holds the phone numbers.")
