"""An import's report: its counts, and the rows that were not imported with their reasons."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import ListImport, RejectedRow
from webapp.services import lists


def rejected_rows(session: Session, list_import: ListImport, limit: int) -> list[RejectedRow]:
    """The first rejected rows of an import, in file order, to show on the report page."""
    return list(
        session.scalars(
            select(RejectedRow)
            .where(RejectedRow.import_id == list_import.id)
            .order_by(RejectedRow.line)
            .limit(limit)
        )
    )


def cells_of(rejected: RejectedRow) -> list[str]:
    """The original cells of a rejected row."""
    cells = json.loads(rejected.raw or "[]")
    return [str(cell) for cell in cells] if isinstance(cells, list) else [str(cells)]


def rejected_rows_csv(session: Session, list_import: ListImport) -> Iterator[bytes]:
    """Every rejected row as a CSV file that goes straight back into Excel.

    It is written like the upload (see rejected_rows_dialect): its delimiter and encoding, its
    header row, then each rejected row as it was, with two more columns: the line it stood
    on and the reason. Cells a spreadsheet would run as a formula are neutralised; plain
    numbers are not.
    """
    encoding, delimiter = rejected_rows_dialect(list_import)
    encoder = codecs.getincrementalencoder(encoding)(errors="replace")
    header = list_import.header
    if header is None:  # an import from before headers were kept: line and reason first
        yield encoder.encode(lists.csv_line(["line", "reason", "original cells"], delimiter))
    else:
        yield encoder.encode(lists.csv_line([*header, "line", "reason"], delimiter))
    width = len(header or ())
    batch: list[str] = []
    for rejected in session.scalars(
        select(RejectedRow)
        .where(RejectedRow.import_id == list_import.id)
        .order_by(RejectedRow.line)
        .execution_options(yield_per=5_000)
    ):
        cells = cells_of(rejected)
        if header is None:
            row = [rejected.line, rejected.reason, *cells]
        else:
            row = [*cells, *[""] * (width - len(cells)), rejected.line, rejected.reason]
        batch.append(lists.csv_line(row, delimiter))
        if len(batch) >= 1_000:
            yield encoder.encode("".join(batch))
            batch = []
    yield encoder.encode("".join(batch), final=True)


def rejected_rows_dialect(list_import: ListImport) -> tuple[str, str]:
    """The encoding and delimiter of the rejected-rows file: the upload's own.

    UTF-8 gets its BOM (how Excel tells UTF-8 from its own code page when it opens a CSV), and
    a workbook's rows are written as UTF-8 with a BOM, separated by commas.
    """
    encoding = list_import.encoding or "utf-8"
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    return encoding, list_import.delimiter or ","


def report(list_import: ListImport) -> dict[str, object]:
    """The import's outcome as plain values, for the command line's JSON."""
    return {
        "list_id": list_import.list_id,
        "list": list_import.recipient_list.name,
        "import_id": list_import.id,
        "status": list_import.status.value,
        "rows": list_import.rows,
        "imported": list_import.imported,
        "invalid": list_import.invalid,
        "duplicates": list_import.duplicates,
        "opted_out": list_import.opted_out,
        "landlines": list_import.landlines,
        "error": list_import.error,
    }
