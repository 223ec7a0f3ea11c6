"""An import's report: its counts, and the rows that were not imported with their reasons."""

from __future__ import annotations

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


def rejected_rows_csv(session: Session, list_import: ListImport) -> Iterator[str]:
    """Every rejected row as CSV: line in the original file, outcome, reason, original cells."""
    yield lists.UTF8_BOM + lists.csv_line(["line", "outcome", "reason", "original cells"])
    batch: list[str] = []
    for rejected in session.scalars(
        select(RejectedRow)
        .where(RejectedRow.import_id == list_import.id)
        .order_by(RejectedRow.line)
        .execution_options(yield_per=5_000)
    ):
        batch.append(
            lists.csv_line([rejected.line, rejected.kind, rejected.reason, *cells_of(rejected)])
        )
        if len(batch) >= 1_000:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


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
