"""Step 3 of an import: the background job that streams the file into the list.

It reads the file through `webapp.csvimport`, stores recipients and rejected rows in chunks of a
few thousand, one commit each, and only at the end marks the import done. Recipients of an
import that is not done are never shown or sent to, and a failure deletes them, so a list never
looks complete when it is not.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from webapp.bulk import BulkWriter, json_object_text, json_text
from webapp.csvimport import (
    ClassifiedRow,
    CsvFormat,
    CsvFormatError,
    CsvRow,
    ImportCounts,
    Outcome,
    classify_rows_parallel,
    iter_rows,
)
from webapp.models import (
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    RejectedRow,
    User,
)
from webapp.services import audit, search_index
from webapp.services.audience import finished_recipients
from webapp.services.imports.errors import ImportCancelled, ImportRefused, UploadMissing
from webapp.services.imports.integrity import check_unchanged
from webapp.services.imports.limits import within_limits
from webapp.statistics import refresh_statistics

CHUNK_ROWS = 5_000
"""Rows stored per transaction: big enough for fast bulk inserts, small enough for steady
progress and flat memory."""

PARALLEL_CHUNK_ROWS = 5_000
PARALLEL_MIN_ROWS = 10_000
"""Rows per task for the normalising workers, and the file size worth starting them for:
smaller than webapp.csvimport's defaults, so fewer rows wait in memory while the workers run."""

SQLITE_PAGE_CACHE_KIB = 32_768
"""SQLite's page cache for the import's connection while it stores rows (SQLite's default is
2 MB). The two indexes on the number take the rows in random order; once they outgrow the
cache every insert reads pages back from the OS, and the cost per row grows with the list."""

ALREADY_IN_LIST = "already in the list"
MAX_REASON_LENGTH = 300

_UNDER_WAY = ImportStatus.where(lambda status: status.is_under_way)


ProgressCallback = Callable[[ImportCounts, int], None]
"""Called after each stored chunk with the counts so far and the bytes of the file read."""


def run_import(
    session: Session,
    import_id: int,
    *,
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressCallback | None = None,
    audit_end: bool = True,
) -> ListImport | None:
    """Import a queued file into its list; the background job, and safe to run twice.

    Only a queued import is started (atomically, so a second run of the job does nothing); one
    running, finished or waiting for its mapping is left alone. A file that cannot be read
    marks the import failed with the reason; any other error does too and is raised again.
    Either way its recipients are deleted and the stored file removed. An import a crashed
    worker left running can be cancelled (cancel_import). Returns the import, or None if it no
    longer exists.

    Its end (done or failed) is an audit event by the system, unless ``audit_end`` is False:
    the command line's one-go import records the whole command as one event instead.
    """
    list_import = _claim(session, import_id)
    if list_import is None:
        return session.get(ListImport, import_id)
    path = list_import.stored_path
    run = list_import.run_number
    try:
        counts = _store_rows(session, list_import, workers, chunk_rows, progress)
        check_unchanged(list_import, path)
        _finish(session, import_id, counts, run, audit_end)
        refresh_statistics(session)
    except ImportCancelled:
        if _still_mine(session, import_id, run):
            _discard_rows(session, import_id)
    except (CsvFormatError, ImportRefused) as error:
        if _still_mine(session, import_id, run):
            _fail(
                session,
                import_id,
                f"{error} Nothing from this file was added to the list.",
                audit_end,
            )
    except Exception as error:
        if _still_mine(session, import_id, run):
            _fail(
                session,
                import_id,
                f"The import stopped unexpectedly ({type(error).__name__}: {error}). "
                "Nothing from this file was added to the list.",
                audit_end,
            )
        raise
    finally:
        # A run taken for lost and restarted meanwhile leaves the file to the new run.
        if path and _still_mine(session, import_id, run):
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
        )
        .values(
            status=ImportStatus.RUNNING,
            heartbeat_at=datetime.now(UTC),
            run_number=ListImport.run_number + 1,
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
        sheet=list_import.sheet,
    )
    phone_column = list_import.phone_column
    field_columns = dict(list_import.field_columns or {})
    country = list_import.default_country
    path = list_import.stored_path
    if not path or not Path(path).exists():
        raise UploadMissing()
    opted_out = set(session.scalars(select(OptOut.msisdn)))
    appending = bool(session.scalar(select(exists().where(Recipient.list_id == list_id))))
    session.commit()  # end the read transaction: SQLite would otherwise hold a snapshot

    bytes_read = [0]
    rows: Iterable[CsvRow] = within_limits(
        iter_rows(path, fmt, progress=lambda done: bytes_read.__setitem__(0, done))
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
    writer = _RowWriter(session, list_id, import_id, list_import.run_number)
    counts = ImportCounts()
    chunk: list[ClassifiedRow] = []
    try:
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
    except (ImportCancelled, CsvFormatError, ImportRefused):
        writer.close()  # the session is clean: the file's error came between chunks
        raise
    writer.close()
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
        .where(
            ListImport.id == writer.import_id,
            ListImport.status == ImportStatus.RUNNING,
            ListImport.run_number == writer.run_number,
        )
        .values(bytes_done=bytes_done, heartbeat_at=datetime.now(UTC), **counts.as_dict())
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
    """An import's recipients and rejected rows, written in bulk within the chunk's commit."""

    _RECIPIENT_COLUMNS = ("list_id", "import_id", "msisdn", "country", "landline", "line", "fields")
    _REJECTED_COLUMNS = ("import_id", "line", "kind", "reason", "raw")

    def __init__(self, session: Session, list_id: int, import_id: int, run_number: int) -> None:
        self.session = session
        self.bulk = BulkWriter(session)
        self.list_id = list_id
        self.import_id = import_id
        self.run_number = run_number
        self.search_table = search_index.has_search_table(session)
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self._cache_before: int | None = None

    def write(self, recipients: list[ClassifiedRow], rejected: list[ClassifiedRow]) -> None:
        list_id, import_id = self.list_id, self.import_id
        if self.sqlite:
            self._widen_page_cache()
        recipient_values = [
            (
                list_id,
                import_id,
                row.msisdn,
                _country(row.country),
                row.landline,
                row.line,
                json_object_text(row.fields or {}),
            )
            for row in recipients
        ]
        rejected_values = [
            (
                import_id,
                row.line,
                row.outcome.value,
                (row.reason or "")[:MAX_REASON_LENGTH],
                json_text(row.cells or []),
            )
            for row in rejected
        ]
        after_id = search_index.last_recipient_id(self.session) if self.search_table else 0
        self.bulk.write(
            Recipient.__table__,
            self._RECIPIENT_COLUMNS,
            recipient_values,
            json_columns=("fields",),
        )
        if recipient_values:
            search_index.index_new_recipients(self.session, import_id, after_id)
        self.bulk.write(RejectedRow.__table__, self._REJECTED_COLUMNS, rejected_values)

    def _widen_page_cache(self) -> None:
        """SQLITE_PAGE_CACHE_KIB for the connection of this chunk's transaction.

        Set in every chunk, as the session may hold another pooled connection after a commit
        (in practice the same one, whose cache then carries over to the next chunk).
        """
        connection = self.session.connection()
        if self._cache_before is None:
            self._cache_before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_PAGE_CACHE_KIB}")

    def close(self) -> None:
        """Give the connection its page cache size back, so a long-lived worker process does
        not keep a cache that large when it no longer imports."""
        if self._cache_before is None:
            return
        self.session.connection().exec_driver_sql(f"PRAGMA cache_size = {self._cache_before}")
        self.session.commit()
        self._cache_before = None


def _country(region: str | None) -> str | None:
    """The region of a number, or None for the "001" phonenumbers gives non-geographic ones."""
    return region if region is not None and len(region) == 2 else None


def _finish(
    session: Session, import_id: int, counts: ImportCounts, run: int, audit_end: bool = True
) -> None:
    """Mark the import done and update its list, in one transaction: the recipients appear."""
    if not counts.balanced:  # csvimport promises this; a broken promise must not pass silently
        raise RuntimeError(f"The import's counts do not add up: {counts.as_dict()}")
    now = datetime.now(UTC)
    done = session.execute(
        update(ListImport)
        .where(
            ListImport.id == import_id,
            ListImport.status == ImportStatus.RUNNING,
            ListImport.run_number == run,
        )
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
        select(func.count()).select_from(Recipient).where(*finished_recipients(recipient_list.id))
    )
    if audit_end:
        audit.record(
            session,
            "list_import_done",
            user=None,
            obj=recipient_list,
            detail=f"{list_import.filename}: {counts.imported:,} imported, {counts.invalid:,} "
            f"invalid, {counts.duplicates:,} duplicates, {counts.opted_out:,} opted out",
        )
    session.commit()


def _still_mine(session: Session, import_id: int, run: int) -> bool:
    session.rollback()
    return session.scalar(select(ListImport.run_number).where(ListImport.id == import_id)) == run


STALE_AFTER = timedelta(minutes=1)


def restart_stalled_imports(session: Session, now: datetime | None = None) -> list[int]:
    """Imports whose worker died (running, no heartbeat for a minute) start over: what they
    stored is removed and they are queued again. Returns their ids, for the caller to queue."""
    now = now or datetime.now(UTC)
    stalled = session.scalars(
        select(ListImport.id).where(
            ListImport.status == ImportStatus.RUNNING,
            or_(ListImport.heartbeat_at.is_(None), ListImport.heartbeat_at < now - STALE_AFTER),
        )
    ).all()
    restarted = []
    for import_id in stalled:
        moved = session.execute(
            update(ListImport)
            .where(
                ListImport.id == import_id,
                ListImport.status == ImportStatus.RUNNING,
                or_(ListImport.heartbeat_at.is_(None), ListImport.heartbeat_at < now - STALE_AFTER),
            )
            .values(
                status=ImportStatus.RUNNING.move_to(ImportStatus.PENDING),
                restarted_at=now,
                bytes_done=0,
            )
        ).rowcount
        if moved:
            _delete_rows_of(session, import_id)
            restarted.append(import_id)
        session.commit()
    return restarted


def _fail(session: Session, import_id: int, message: str, audit_end: bool = True) -> None:
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
    list_import = session.get(ListImport, import_id)
    if list_import is not None and audit_end:
        audit.record(
            session,
            "list_import_failed",
            user=None,
            obj=list_import.recipient_list,
            detail=f"{list_import.filename}: {message}",
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
    if not list_import.status.can_cancel:
        raise ImportRefused("This import has already finished.")
    path = list_import.stored_path
    if list_import.status.awaits_mapping:
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
            .where(ListImport.id == list_import.id, ListImport.status.in_(_UNDER_WAY))
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
