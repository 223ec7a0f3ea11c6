"""Importing a recipient CSV file into a list, accounting for every row.

The steps, each a function here:

1. `store_upload` saves the file under a random name and sniffs it: a `ListImport` waiting for
   its mapping (status pending, no phone column yet).
2. `read_mapping` shows how the file reads, with the user's corrections; `confirm_mapping`
   records the phone column and the columns kept as fields: the import is queued.
3. `run_import` (the background job) streams the file through `webapp.csvimport`, stores recipients
   and rejected rows in chunks of a few thousand, one commit each, and only at the end marks
   the import done. Recipients of an import that is not done are never shown or sent to, and
   a failure deletes them, so a list never looks complete when it is not.

`import_file` runs all three at once for the command line.
"""

from __future__ import annotations

import collections
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from webapp.models import (
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    RejectedRow,
    User,
)
from webapp.services import lists
from webapp.csvimport import (
    ClassifiedRow,
    CsvFormat,
    CsvFormatError,
    CsvRow,
    ImportCounts,
    Outcome,
    classify_rows_parallel,
    iter_rows,
    sniff_csv,
    tag_name,
    unique_tag_names,
)

CHUNK_ROWS = 5_000
"""Rows stored per transaction: big enough for fast bulk inserts, small enough for steady
progress and flat memory."""

PARALLEL_CHUNK_ROWS = 5_000
PARALLEL_MIN_ROWS = 10_000
"""Rows per task for the normalising workers, and the file size worth starting them for:
smaller than webapp.csvimport's defaults, so fewer rows wait in memory while the workers run."""

ALREADY_IN_LIST = "already in the list"
MAX_REASON_LENGTH = 300
COPY_BUFFER_BYTES = 1024 * 1024

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

_UNFINISHED = (ImportStatus.PENDING, ImportStatus.RUNNING)
_WORKBOOK_SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook (.xlsx)",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
}


class ImportRefused(ValueError):
    """An upload, mapping or import that cannot go ahead; the message says what to do."""


class MappingInvalid(ImportRefused):
    """The mapping has mistakes: `errors` maps "phone_column" or "name_<column>" to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class ImportCancelled(Exception):
    """The import was cancelled (or its list deleted) while it ran."""


def awaiting_mapping(list_import: ListImport) -> bool:
    """Uploaded, but the user has not yet chosen the phone column."""
    return list_import.status == ImportStatus.PENDING and list_import.phone_column is None


# --- 1. Upload -------------------------------------------------------------------------------


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
    """Save an uploaded CSV under upload_dir and sniff it, for a new list or to append to one.

    A new list is named list_name, or after the file. Raises ImportRefused (nothing is kept)
    for a file that is empty, too big, a workbook rather than CSV, or not readable as text.
    """
    filename = _display_name(filename)
    if append_to is None:
        try:
            name = lists.check_list_name(session, list_name or Path(filename).stem)
        except lists.ListInvalid as error:
            raise ImportRefused(str(error)) from None
    else:
        _check_no_import_under_way(session, append_to.id)
    upload_dir.mkdir(parents=True, exist_ok=True)
    path = upload_dir / f"{secrets.token_hex(16)}.csv"
    try:
        size = _save(stream, path, max_bytes)
        fmt = _sniff_new_file(path, default_country)
    except (ImportRefused, CsvFormatError, OSError) as error:
        path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ImportRefused(f"The file could not be saved: {error.strerror}.") from None
        raise ImportRefused(str(error)) from None
    if append_to is None:
        append_to = RecipientList(name=name, fields=[], created_by_id=_id(user))
        session.add(append_to)
        session.flush()
    list_import = ListImport(
        list_id=append_to.id,
        filename=filename,
        stored_path=str(path),
        size_bytes=size,
        status=ImportStatus.PENDING,
        encoding=fmt.encoding,
        delimiter=fmt.delimiter,
        has_header=fmt.has_header,
        phone_column=None,
        field_columns={},
        default_country=default_country,
        created_by_id=_id(user),
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


def _sniff_new_file(path: Path, default_country: str) -> CsvFormat:
    with path.open("rb") as file:
        start = file.read(8)
    if not start:
        raise ImportRefused("The file is empty.")
    for signature, kind in _WORKBOOK_SIGNATURES.items():
        if start.startswith(signature):
            raise ImportRefused(
                f"This is {kind}, not a CSV file. In Excel, choose File › Save As › "
                "“CSV UTF-8” and upload that file."
            )
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
                    ListImport.status.in_(_UNFINISHED),
                    ListImport.phone_column.is_not(None),
                )
            )
        )
    )


def _check_no_import_under_way(session: Session, list_id: int) -> None:
    if import_under_way(session, list_id):
        raise ImportRefused(
            "Another file is being imported into this list. Wait until it is done, or cancel it."
        )


# --- 2. Mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportMapping:
    """What the user chose in the mapping step.

    `fields` maps the index of each column kept for personalisation to the name typed for it
    (made into a tag name). encoding, delimiter and has_header correct the sniffed format;
    None keeps what was detected.
    """

    phone_column: int | None
    fields: Mapping[int, str] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None


def read_mapping(
    list_import: ListImport,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
) -> tuple[CsvFormat, list[str]]:
    """How the stored file reads (first rows, guessed phone column) and a tag name per column.

    The arguments override what was stored at upload, to show a correction before it is
    confirmed. Raises ImportRefused when the file cannot be read that way.
    """
    if not list_import.stored_path:
        raise ImportRefused("The uploaded file is gone; upload it again.")
    try:
        fmt = sniff_csv(
            list_import.stored_path,
            list_import.default_country,
            encoding=encoding or list_import.encoding,
            delimiter=delimiter or list_import.delimiter,
            has_header=list_import.has_header if has_header is None else has_header,
        )
    except CsvFormatError as error:
        raise ImportRefused(str(error)) from None
    return fmt, unique_tag_names(fmt.columns)


def confirm_mapping(
    session: Session, list_import: ListImport, mapping: ImportMapping
) -> ListImport:
    """Record the phone column and the fields to keep: the import is queued for run_import.

    Raises MappingInvalid for a missing phone column or clashing field names, ImportRefused
    when the import has already started or another file is being imported into the list.
    """
    if not awaiting_mapping(list_import):
        raise ImportRefused("This file's columns were already chosen.")
    _check_no_import_under_way(session, list_import.list_id)
    fmt, _ = read_mapping(
        list_import,
        encoding=mapping.encoding,
        delimiter=mapping.delimiter,
        has_header=mapping.has_header,
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
            ListImport.status == ImportStatus.PENDING,
            ListImport.phone_column.is_(None),
        )
        .values(
            encoding=fmt.encoding,
            delimiter=fmt.delimiter,
            has_header=fmt.has_header,
            phone_column=phone,
            field_columns=field_columns,
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


# --- 3. The import ---------------------------------------------------------------------------


ProgressCallback = Callable[[ImportCounts, int], None]
"""Called after each stored chunk with the counts so far and the bytes of the file read."""


def run_import(
    session: Session,
    import_id: int,
    *,
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressCallback | None = None,
) -> ListImport | None:
    """Import a queued file into its list; the background job, and safe to run twice.

    Only a queued import is started (atomically, so a second run of the job does nothing); one
    running, finished or waiting for its mapping is left alone. A file that cannot be read
    marks the import failed with the reason; any other error does too and is raised again.
    Either way its recipients are deleted and the stored file removed. An import a crashed
    worker left running can be cancelled (cancel_import). Returns the import, or None if it no
    longer exists.
    """
    list_import = _claim(session, import_id)
    if list_import is None:
        return session.get(ListImport, import_id)
    path = list_import.stored_path
    try:
        counts = _store_rows(session, list_import, workers, chunk_rows, progress)
        _finish(session, import_id, counts)
    except ImportCancelled:
        _discard_rows(session, import_id)
    except (CsvFormatError, ImportRefused) as error:
        _fail(session, import_id, f"{error} Nothing from this file was added to the list.")
    except Exception as error:
        _fail(
            session,
            import_id,
            f"The import stopped unexpectedly ({type(error).__name__}: {error}). "
            "Nothing from this file was added to the list.",
        )
        raise
    finally:
        if path:
            Path(path).unlink(missing_ok=True)
    session.expire_all()
    return session.get(ListImport, import_id)


def _claim(session: Session, import_id: int) -> ListImport | None:
    """Move a queued import to running; None if it is not queued (any more)."""
    claimed = session.execute(
        update(ListImport)
        .where(
            ListImport.id == import_id,
            ListImport.status == ImportStatus.PENDING,
            ListImport.phone_column.is_not(None),
        )
        .values(
            status=ImportStatus.RUNNING,
            error=None,
            bytes_done=0,
            rows=0,
            imported=0,
            invalid=0,
            duplicates=0,
            opted_out=0,
            landlines=0,
        )
    ).rowcount
    session.commit()
    if claimed != 1:
        return None
    return session.get(ListImport, import_id)


def _store_rows(
    session: Session,
    list_import: ListImport,
    workers: int | None,
    chunk_rows: int,
    progress: ProgressCallback | None,
) -> ImportCounts:
    import_id, list_id = list_import.id, list_import.list_id
    fmt = CsvFormat(
        encoding=list_import.encoding or "utf-8",
        delimiter=list_import.delimiter or ",",
        has_header=list_import.has_header,
        columns=[],
        preview_rows=[],
        phone_column=list_import.phone_column,
    )
    phone_column = list_import.phone_column
    field_columns = dict(list_import.field_columns or {})
    country = list_import.default_country
    path = list_import.stored_path
    if not path or not Path(path).exists():
        raise ImportRefused("The uploaded file is gone; upload it again.")
    opted_out = set(session.scalars(select(OptOut.msisdn)))
    appending = bool(session.scalar(select(exists().where(Recipient.list_id == list_id))))
    session.commit()  # end the read transaction: SQLite would otherwise hold a snapshot

    bytes_read = [0]
    rows: Iterable[CsvRow] = iter_rows(
        path, fmt, progress=lambda done: bytes_read.__setitem__(0, done)
    )
    in_flight: collections.deque[CsvRow] | None = None
    if appending:
        # Rows repeating a number already in the list are rejected after classification, and
        # their cells are needed for the rejected-rows download: keep the rows in flight.
        in_flight = collections.deque()
        rows = _remembered(rows, in_flight)
    outcomes = classify_rows_parallel(
        rows,
        phone_column,
        field_columns,
        country,
        opted_out,
        workers=default_workers() if workers is None else workers,
        chunk_rows=PARALLEL_CHUNK_ROWS,
        min_rows=PARALLEL_MIN_ROWS,
    )
    writer = _RowWriter(session, list_id, import_id)
    counts = ImportCounts()
    chunk: list[ClassifiedRow] = []
    for outcome in outcomes:
        if in_flight is not None:
            row = in_flight.popleft()
            if outcome.outcome is Outcome.IMPORTED:
                outcome = outcome._replace(cells=row.cells)
        chunk.append(outcome)
        if len(chunk) >= chunk_rows:
            _store_chunk(session, writer, chunk, counts, bytes_read[0], appending)
            chunk = []
            if progress is not None:
                progress(counts, bytes_read[0])
    _store_chunk(session, writer, chunk, counts, bytes_read[0], appending)
    if progress is not None:
        progress(counts, bytes_read[0])
    return counts


def default_workers() -> int:
    """Normalising processes: one core fewer than the machine has, at least one.

    This process has a core's worth of work of its own (reading the file, finding duplicates,
    storing rows); a worker more than the free cores only competes with it, and costs memory.
    """
    return max(1, (os.cpu_count() or 1) - 1)


def _remembered(rows: Iterable[CsvRow], kept: collections.deque[CsvRow]) -> Iterator[CsvRow]:
    for row in rows:
        kept.append(row)
        yield row


def _store_chunk(
    session: Session,
    writer: _RowWriter,
    chunk: list[ClassifiedRow],
    counts: ImportCounts,
    bytes_done: int,
    appending: bool,
) -> None:
    """Store one chunk's recipients and rejected rows and the counts so far, in one commit."""
    if appending:
        chunk = _reject_numbers_in_list(session, writer.list_id, chunk)
    recipients = []
    rejected = []
    for row in chunk:
        counts.add(row)
        (recipients if row.outcome is Outcome.IMPORTED else rejected).append(row)
    writer.write(recipients, rejected)
    still_running = session.execute(
        update(ListImport)
        .where(ListImport.id == writer.import_id, ListImport.status == ImportStatus.RUNNING)
        .values(bytes_done=bytes_done, **counts.as_dict())
    ).rowcount
    if still_running != 1:
        session.rollback()
        raise ImportCancelled
    session.commit()


def _reject_numbers_in_list(
    session: Session, list_id: int, chunk: list[ClassifiedRow]
) -> list[ClassifiedRow]:
    """The chunk with numbers the list already holds turned into duplicates."""
    numbers = [row.msisdn for row in chunk if row.outcome is Outcome.IMPORTED]
    present: set[str] = set()
    for start in range(0, len(numbers), 2_000):  # well within every database's bound parameters
        present.update(
            session.scalars(
                select(Recipient.msisdn).where(
                    Recipient.list_id == list_id,
                    Recipient.msisdn.in_(numbers[start : start + 2_000]),
                )
            )
        )
    if not present:
        return chunk
    return [
        row._replace(outcome=Outcome.DUPLICATE, reason=ALREADY_IN_LIST, fields=None)
        if row.outcome is Outcome.IMPORTED and row.msisdn in present
        else row
        for row in chunk
    ]


class _RowWriter:
    """Bulk inserts of recipients and rejected rows, the fastest way each database offers.

    PostgreSQL with psycopg: COPY on the session's own connection (so it is part of the
    chunk's transaction). SQLite: the driver's executemany with values prepared here, skipping the
    per-row work of SQLAlchemy's JSON type. Elsewhere: SQLAlchemy's executemany.
    """

    _RECIPIENT_COLUMNS = ("list_id", "import_id", "msisdn", "country", "landline", "line", "fields")
    _REJECTED_COLUMNS = ("import_id", "line", "kind", "reason", "raw")

    def __init__(self, session: Session, list_id: int, import_id: int) -> None:
        self.session = session
        self.list_id = list_id
        self.import_id = import_id
        dialect = session.get_bind().dialect
        self.method = (
            "copy"
            if (dialect.name, dialect.driver) == ("postgresql", "psycopg")
            else "executemany"
            if dialect.name == "sqlite"
            else "insert"
        )

    def write(self, recipients: list[ClassifiedRow], rejected: list[ClassifiedRow]) -> None:
        list_id, import_id = self.list_id, self.import_id
        recipient_values = [
            (
                list_id,
                import_id,
                row.msisdn,
                _country(row.country),
                row.landline,
                row.line,
                _json(row.fields or {}),
            )
            for row in recipients
        ]
        rejected_values = [
            (
                import_id,
                row.line,
                row.outcome.value,
                (row.reason or "")[:MAX_REASON_LENGTH],
                _json(row.cells or []),
            )
            for row in rejected
        ]
        if self.method == "copy":
            self._copy("recipients", self._RECIPIENT_COLUMNS, recipient_values)
            self._copy("rejected_rows", self._REJECTED_COLUMNS, rejected_values)
        elif self.method == "executemany":
            self._executemany("recipients", self._RECIPIENT_COLUMNS, recipient_values)
            self._executemany("rejected_rows", self._REJECTED_COLUMNS, rejected_values)
        else:
            self._insert(Recipient, self._RECIPIENT_COLUMNS, recipient_values)
            self._insert(RejectedRow, self._REJECTED_COLUMNS, rejected_values)

    def _copy(self, table: str, columns: Sequence[str], values: list[tuple]) -> None:
        if not values:
            return
        connection = self.session.connection().connection.driver_connection
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)

    def _executemany(self, table: str, columns: Sequence[str], values: list[tuple]) -> None:
        if not values:
            return
        names, placeholders = ", ".join(columns), ", ".join("?" for _ in columns)
        # Table and column names are this class's constants; the values are bound.
        statement = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
        self.session.connection().exec_driver_sql(statement, values)

    def _insert(self, model: type, columns: Sequence[str], values: list[tuple]) -> None:
        if not values:
            return
        decoded = [dict(zip(columns, row, strict=True)) for row in values]
        if model is Recipient:
            for row in decoded:
                row["fields"] = json.loads(row["fields"])
        self.session.execute(insert(model), decoded)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _country(region: str | None) -> str | None:
    """The region of a number, or None for the "001" phonenumbers gives non-geographic ones."""
    return region if region is not None and len(region) == 2 else None


def _finish(session: Session, import_id: int, counts: ImportCounts) -> None:
    """Mark the import done and update its list, in one transaction: the recipients appear."""
    if not counts.balanced:  # csvimport promises this; a broken promise must not pass silently
        raise RuntimeError(f"The import's counts do not add up: {counts.as_dict()}")
    now = datetime.now(UTC)
    done = session.execute(
        update(ListImport)
        .where(ListImport.id == import_id, ListImport.status == ImportStatus.RUNNING)
        .values(
            status=ImportStatus.DONE,
            bytes_done=ListImport.size_bytes,
            finished_at=now,
            stored_path=None,
            **counts.as_dict(),
        )
    ).rowcount
    if done != 1:
        session.rollback()
        raise ImportCancelled
    list_import = session.get(ListImport, import_id)
    recipient_list = session.get(RecipientList, list_import.list_id)
    fields = list(recipient_list.fields or [])
    fields += [name for name in (list_import.field_columns or {}) if name not in fields]
    recipient_list.fields = fields
    recipient_list.recipient_count = session.scalar(
        select(func.count())
        .select_from(Recipient)
        .join(ListImport, Recipient.import_id == ListImport.id)
        .where(Recipient.list_id == recipient_list.id, ListImport.status == ImportStatus.DONE)
    )
    session.commit()


def _fail(session: Session, import_id: int, message: str) -> None:
    session.rollback()
    _delete_rows_of(session, import_id)
    session.execute(
        update(ListImport)
        .where(ListImport.id == import_id)
        .values(
            status=ImportStatus.FAILED,
            error=message,
            finished_at=datetime.now(UTC),
            stored_path=None,
        )
    )
    session.commit()


def _discard_rows(session: Session, import_id: int) -> None:
    session.rollback()
    _delete_rows_of(session, import_id)
    session.execute(update(ListImport).where(ListImport.id == import_id).values(stored_path=None))
    session.commit()


def _delete_rows_of(session: Session, import_id: int) -> None:
    session.execute(delete(Recipient).where(Recipient.import_id == import_id))
    session.execute(delete(RejectedRow).where(RejectedRow.import_id == import_id))


def cancel_import(session: Session, list_import: ListImport, user: User | None = None) -> str:
    """Stop an import that has not finished. Returns "discarded" or "cancelled".

    One still waiting for its mapping is discarded without a trace (with its list, if the
    list was made for it and is still empty). A queued or running one is marked failed; a
    running job notices at its next chunk, stops, and deletes what it stored.
    """
    if list_import.status not in _UNFINISHED:
        raise ImportRefused("This import has already finished.")
    path = list_import.stored_path
    if awaiting_mapping(list_import):
        recipient_list = list_import.recipient_list
        session.delete(list_import)
        session.flush()
        others = session.scalar(select(exists().where(ListImport.list_id == recipient_list.id)))
        if not others:
            session.delete(recipient_list)
        outcome = "discarded"
    else:
        who = f" by {user.email}" if user is not None else ""
        session.execute(
            update(ListImport)
            .where(ListImport.id == list_import.id, ListImport.status.in_(_UNFINISHED))
            .values(
                status=ImportStatus.FAILED,
                error=f"Cancelled{who}. Nothing from this file was added to the list.",
                finished_at=datetime.now(UTC),
                stored_path=None,
            )
        )
        _delete_rows_of(session, list_import.id)
        outcome = "cancelled"
    session.commit()
    if path and outcome == "discarded":
        Path(path).unlink(missing_ok=True)
    return outcome


# --- Reports ---------------------------------------------------------------------------------


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


# --- All at once, for the command line -------------------------------------------------------


def import_file(
    session: Session,
    path: Path,
    *,
    upload_dir: Path,
    default_country: str,
    list_name: str | None = None,
    append_to: RecipientList | None = None,
    phone_column: str | None = None,
    user: User | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> ListImport:
    """Upload, map and import a file in one go, keeping every column but the phone as a field.

    phone_column is a header, a tag name or a 1-based column number; by default the guessed
    column. Raises ImportRefused before anything is stored when the file or column is wrong.
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
            )
    except OSError as error:
        raise ImportRefused(f"Cannot read {str(path)!r}: {error.strerror}.") from None
    try:
        fmt, names = read_mapping(list_import)
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
        confirm_mapping(session, list_import, ImportMapping(phone, fields))
    except ImportRefused:
        cancel_import(session, list_import)
        raise
    finished = run_import(session, list_import.id, workers=workers, progress=progress)
    assert finished is not None  # it was just created and nothing else deletes it
    return finished


def _id(user: User | None) -> int | None:
    return user.id if user is not None else None
