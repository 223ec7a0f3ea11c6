"""classify_rows with the phone numbers normalised on every core, in the same order."""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.context
import os
from collections import deque
from collections.abc import Container, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor

from webapp.csvimport.classify import (
    ClassifiedRow,
    Classifier,
    PhoneFields,
    check_phone_column,
    classify_rows,
)
from webapp.csvimport.formats import CsvRow
from webapp.sms.phones import normalise_msisdn

CHUNK_ROWS = 5_000
"""Rows per task in classify_rows_parallel: big enough to pay for the trip to a worker."""

PARALLEL_MIN_ROWS = 50_000
"""Below this, starting worker processes costs more than it saves."""


def classify_rows_parallel(
    rows: Iterable[CsvRow],
    phone_column: int,
    field_columns: Mapping[str, int],
    default_country: str,
    opted_out: Container[str],
    *,
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    min_rows: int = PARALLEL_MIN_ROWS,
) -> Iterator[ClassifiedRow]:
    """classify_rows with the phone numbers normalised in worker processes; same results.

    Rows go to `workers` processes (default: one per core) in chunks of chunk_rows, with at
    most two chunks per worker in flight, so memory stays bounded; duplicates and opt-outs are
    sorted out here, in order. Files under min_rows rows are classified in this process.
    Workers come from a fork server (see _worker_context), so a threaded caller such as a web
    server or a task queue is safe. As with any spawned worker, the program's main module must
    keep its work under `if __name__ == "__main__":` (flask, huey and gunicorn do).
    """
    check_phone_column(phone_column)
    if workers is None:
        workers = os.cpu_count() or 1
    chunks = _chunked(rows, chunk_rows)
    head = list(itertools.islice(chunks, max(1, -(-min_rows // chunk_rows))))
    if not head:
        return
    if workers < 1 or sum(len(chunk) for chunk in head) < min_rows:
        yield from classify_rows(
            itertools.chain.from_iterable(itertools.chain(head, chunks)),
            phone_column,
            field_columns,
            default_country,
            opted_out,
        )
        return
    normalise_msisdn("", default_country)  # an unknown country fails here, not in a worker
    classifier = Classifier(field_columns, opted_out)
    pending: deque[tuple[list[CsvRow], Future[list[PhoneFields]]]] = deque()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context())
    try:
        for chunk in itertools.chain(head, chunks):
            cells = [
                row.cells[phone_column] if phone_column < len(row.cells) else "" for row in chunk
            ]
            pending.append((chunk, pool.submit(_normalise_cells, cells, default_country)))
            if len(pending) >= 2 * workers:
                yield from classifier.classify_chunk(*_result_of(pending.popleft()))
        while pending:
            yield from classifier.classify_chunk(*_result_of(pending.popleft()))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_context() -> multiprocessing.context.BaseContext:
    """Where worker processes come from: a fork server that has imported this module once.

    Forking the caller directly is unsafe when it runs threads (a lock held by another thread
    stays locked in the child), and spawning re-imports the whole app (Flask, SQLAlchemy) in
    every worker. The fork server is a clean single-threaded process started once, on first
    use, and each worker is a cheap fork of it. Not on Windows: plain spawn there.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _normalise_cells(cells: list[str], default_country: str) -> list[PhoneFields]:
    """A worker's task in classify_rows_parallel: plain tuples, which pickle faster."""
    return [tuple(normalise_msisdn(cell, default_country)) for cell in cells]


def _result_of(
    pending: tuple[list[CsvRow], Future[list[PhoneFields]]],
) -> tuple[list[CsvRow], list[PhoneFields]]:
    chunk, future = pending
    return chunk, future.result()


def _chunked(rows: Iterable[CsvRow], size: int) -> Iterator[list[CsvRow]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
