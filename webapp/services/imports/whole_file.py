"""Upload, map and import a file in one go, for the command line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from webapp.models import ListImport, RecipientList, User
from webapp.services.imports.errors import ImportRefused
from webapp.services.imports.mapping import (
    ImportMapping,
    confirm_mapping,
    read_mapping,
    resolve_column,
)
from webapp.services.imports.run import ProgressCallback, cancel_import, run_import
from webapp.services.imports.upload import store_upload


def import_file(
    session: Session,
    path: Path,
    *,
    upload_dir: Path,
    default_country: str,
    list_name: str | None = None,
    append_to: RecipientList | None = None,
    phone_column: str | None = None,
    sheet: str | None = None,
    user: User | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    max_bytes: int | None = None,
) -> ListImport:
    """Upload, map and import a file in one go, keeping every column but the phone as a field.

    phone_column is a header, a tag name or a 1-based column number; by default the guessed
    column. sheet names the worksheet of an Excel workbook; by default the first with rows.
    Raises ImportRefused before anything is stored when the file, sheet or column is wrong,
    or the file is larger than max_bytes.
    """
    try:
        with path.open("rb") as stream:
            list_import = store_upload(
                session,
                stream,
                path.name,
                upload_dir=upload_dir,
                default_country=default_country,
                user=user,
                list_name=list_name,
                append_to=append_to,
                max_bytes=max_bytes,
            )
    except OSError as error:
        raise ImportRefused(f"Cannot read {str(path)!r}: {error.strerror}.") from None
    try:
        if sheet is not None and list_import.sheet is None:
            raise ImportRefused("Only an Excel workbook has sheets to choose; this file is CSV.")
        fmt, names = read_mapping(list_import, sheet=sheet)
        if phone_column is not None:
            phone = resolve_column(fmt.columns, phone_column)
        elif fmt.phone_column is not None:
            phone = fmt.phone_column
        else:
            raise ImportRefused(
                "Could not tell which column holds the phone numbers: name it with "
                "--phone-column (a header or a column number)."
            )
        fields = {index: names[index] for index in range(len(fmt.columns)) if index != phone}
        confirm_mapping(session, list_import, ImportMapping(phone, fields, sheet=fmt.sheet))
    except ImportRefused:
        cancel_import(session, list_import)
        raise
    # The caller (the command line) records the whole import as one audit event.
    finished = run_import(
        session, list_import.id, workers=workers, progress=progress, audit_end=False
    )
    assert finished is not None  # it was just created and nothing else deletes it
    return finished
