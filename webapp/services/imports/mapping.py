"""Step 2 of an import: show how the stored file reads, and record the user's columns.

Confirming the mapping queues the import (`ImportStatus.PENDING`) for `run_import`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.csvimport import (
    CsvFormat,
    CsvFormatError,
    sniff_csv,
    sniff_xlsx,
    tag_name,
    unique_tag_names,
)
from webapp.models import ImportStatus, ListImport
from webapp.services.imports.errors import ImportRefused, MappingInvalid, UploadMissing
from webapp.services.imports.integrity import file_checksum
from webapp.services.imports.limits import check_format
from webapp.services.imports.upload import check_no_import_under_way

ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Western European)",
    "iso8859_15": "ISO-8859-15 (Latin-9)",
    "cp1250": "Windows-1250 (Central European)",
    "cp850": "DOS Latin-1 (cp850)",
    "mac_roman": "Mac Roman",
}
"""Encodings the mapping step offers to correct a wrong guess (any Python codec is accepted)."""

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass(frozen=True)
class ImportMapping:
    """What the user chose in the mapping step.

    `fields` maps the index of each column kept for personalisation to the name typed for it
    (made into a tag name). encoding, delimiter and has_header correct the sniffed format, and
    sheet chooses a workbook's worksheet; None keeps what was detected.
    """

    phone_column: int | None
    fields: Mapping[int, str] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None
    sheet: str | None = None


def read_mapping(
    list_import: ListImport,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    sheet: str | None = None,
) -> tuple[CsvFormat, list[str]]:
    """How the stored file reads (first rows, guessed phone column) and a tag name per column.

    The arguments override what was stored at upload, to show a correction before it is
    confirmed; a workbook takes only has_header and sheet (choosing another sheet detects its
    header afresh). Raises ImportRefused when the file cannot be read that way.
    """
    if not list_import.stored_path or not Path(list_import.stored_path).is_file():
        raise UploadMissing()
    if has_header is None and (sheet is None or sheet == list_import.sheet):
        has_header = list_import.has_header
    try:
        if list_import.sheet is not None:
            fmt = sniff_xlsx(
                list_import.stored_path,
                list_import.default_country,
                sheet=sheet or list_import.sheet,
                has_header=has_header,
            )
        else:
            fmt = sniff_csv(
                list_import.stored_path,
                list_import.default_country,
                encoding=encoding or list_import.encoding,
                delimiter=delimiter or list_import.delimiter,
                has_header=has_header,
            )
    except CsvFormatError as error:
        raise ImportRefused(str(error)) from None
    check_format(fmt)
    return fmt, unique_tag_names(fmt.columns)


def confirm_mapping(
    session: Session, list_import: ListImport, mapping: ImportMapping
) -> ListImport:
    """Record the phone column and the fields to keep: the import is queued for run_import.

    Raises MappingInvalid for a missing phone column or clashing field names, ImportRefused
    when the import has already started or another file is being imported into the list.
    """
    if not list_import.status.awaits_mapping:
        raise ImportRefused("This file's columns were already chosen.")
    check_no_import_under_way(session, list_import.list_id)
    fmt, _ = read_mapping(
        list_import,
        encoding=mapping.encoding,
        delimiter=mapping.delimiter,
        has_header=mapping.has_header,
        sheet=mapping.sheet,
    )
    width = len(fmt.columns)
    errors: dict[str, str] = {}
    phone = mapping.phone_column
    if phone is None or not 0 <= phone < width:
        errors["phone_column"] = "Choose the column that holds the phone numbers."
    field_columns: dict[str, int] = {}
    for index in sorted(mapping.fields):
        if index == phone or not 0 <= index < width:
            continue
        name = tag_name(mapping.fields[index])
        if name in field_columns:
            other = fmt.columns[field_columns[name]]
            errors[f"name_{index}"] = (
                f"Two columns would both be the field %{name}% (this one and “{other}”): "
                "give them different names."
            )
        field_columns[name] = index
    if errors:
        raise MappingInvalid(errors)
    # One statement that only succeeds once: a double-clicked Import queues the file once.
    confirmed = session.execute(
        update(ListImport)
        .where(
            ListImport.id == list_import.id,
            ListImport.status == ImportStatus.AWAITING_COLUMNS,
        )
        .values(
            status=ImportStatus.AWAITING_COLUMNS.move_to(ImportStatus.PENDING),
            encoding=fmt.encoding or None,
            delimiter=fmt.delimiter or None,
            has_header=fmt.has_header,
            sheet=fmt.sheet,
            header=list(fmt.columns) if fmt.has_header else [""] * width,
            phone_column=phone,
            field_columns=field_columns,
            sha256=file_checksum(list_import.stored_path),
        )
    ).rowcount
    session.commit()
    if confirmed != 1:
        raise ImportRefused("This file's columns were already chosen.")
    session.refresh(list_import)
    return list_import


def resolve_column(columns: Sequence[str], spec: str) -> int:
    """A column index from what an operator typed: a 1-based number, a header or a tag name."""
    spec = spec.strip()
    if spec.isdigit():
        index = int(spec) - 1
        if 0 <= index < len(columns):
            return index
        raise ImportRefused(f"There is no column {spec}: the file has {len(columns)} columns.")
    for matches in (
        lambda column: column.strip().casefold() == spec.casefold(),
        lambda column: tag_name(column) == tag_name(spec),
    ):
        found = [index for index, column in enumerate(columns) if matches(column)]
        if found:
            return found[0]
    names = ", ".join(repr(column) for column in columns)
    raise ImportRefused(f"No column is called {spec!r}; the columns are {names}.")
