"""Step 1 of an import: save the uploaded file, tell what it is, and sniff how it reads.

A CSV file or an Excel workbook (.xlsx, .xlsm) is kept; anything else is refused saying what
it looks like. The upload becomes a `ListImport` waiting for its columns
(`ImportStatus.AWAITING_COLUMNS`), for a new list or to append to an existing one.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from webapp.csvimport import CsvFormat, CsvFormatError, FileKind, identify, sniff_csv, sniff_xlsx
from webapp.models import ImportStatus, ListImport, RecipientList, User
from webapp.services import lists
from webapp.services.actors import user_id_of
from webapp.services.imports.errors import ImportRefused

COPY_BUFFER_BYTES = 1024 * 1024


def store_upload(
    session: Session,
    stream: BinaryIO,
    filename: str,
    *,
    upload_dir: Path,
    default_country: str,
    user: User | None = None,
    list_name: str | None = None,
    append_to: RecipientList | None = None,
    max_bytes: int | None = None,
) -> ListImport:
    """Save an uploaded CSV or workbook under upload_dir and sniff it, for a new list or to
    append to one.

    A new list is named list_name, or after the file. Raises ImportRefused (nothing is kept)
    for a file that is empty, too big, neither text nor an .xlsx workbook (saying what it
    looks like), or that cannot be read.
    """
    filename = _display_name(filename)
    if append_to is None:
        try:
            name = lists.check_list_name(session, list_name or Path(filename).stem)
        except lists.ListInvalid as error:
            raise ImportRefused(str(error)) from None
    else:
        check_no_import_under_way(session, append_to.id)
    upload_dir.mkdir(parents=True, exist_ok=True)
    path = upload_dir / f"{secrets.token_hex(16)}.upload"
    try:
        size = _save(stream, path, max_bytes)
        path = _named_for_its_kind(path)
        fmt = _sniff_new_file(path, default_country)
    except (ImportRefused, CsvFormatError, OSError) as error:
        path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ImportRefused(f"The file could not be saved: {error.strerror}.") from None
        raise ImportRefused(str(error)) from None
    if append_to is None:
        append_to = RecipientList(name=name, fields=[], created_by_id=user_id_of(user))
        session.add(append_to)
        session.flush()
    list_import = ListImport(
        list_id=append_to.id,
        filename=filename,
        stored_path=str(path),
        size_bytes=size,
        status=ImportStatus.AWAITING_COLUMNS,
        encoding=fmt.encoding or None,
        delimiter=fmt.delimiter or None,
        has_header=fmt.has_header,
        sheet=fmt.sheet,
        phone_column=None,
        field_columns={},
        default_country=default_country,
        created_by_id=user_id_of(user),
    )
    session.add(list_import)
    session.commit()
    return list_import


def _display_name(filename: str) -> str:
    """The file's own name, without any folders a browser sent along."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or "upload.csv"


def _save(stream: BinaryIO, path: Path, max_bytes: int | None) -> int:
    size = 0
    with path.open("wb") as file:
        while block := stream.read(COPY_BUFFER_BYTES):
            size += len(block)
            if max_bytes is not None and size > max_bytes:
                raise ImportRefused(
                    f"The file is larger than the limit of {max_bytes // 2**20} MB. "
                    "Nothing was stored."
                )
            file.write(block)
    return size


def _named_for_its_kind(path: Path) -> Path:
    """The stored file renamed .xlsx or .csv; refused saying what it is when it is neither."""
    with path.open("rb") as file:
        kind = identify(file)
    return path.rename(path.with_suffix(".xlsx" if kind is FileKind.WORKBOOK else ".csv"))


def _sniff_new_file(path: Path, default_country: str) -> CsvFormat:
    if path.suffix == ".xlsx":
        fmt = sniff_xlsx(path, default_country)
        if not fmt.columns:
            raise ImportRefused(f"The sheet “{fmt.sheet}” is empty: it holds no rows.")
        return fmt
    fmt = sniff_csv(path, default_country)
    if not fmt.columns:
        raise ImportRefused("The file holds no rows, only blank lines.")
    return fmt


def import_under_way(session: Session, list_id: int) -> bool:
    """Whether a file is queued or running for the list (one at a time keeps numbers unique)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    ListImport.list_id == list_id,
                    ListImport.status.in_(ImportStatus.where(lambda s: s.is_under_way)),
                )
            )
        )
    )


def check_no_import_under_way(session: Session, list_id: int) -> None:
    if import_under_way(session, list_id):
        raise ImportRefused(
            "Another file is being imported into this list. Wait until it is done, or cancel it."
        )
