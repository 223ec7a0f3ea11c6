"""Group commit: many threads each with a small write, written together.

A webhook post must be durable before it is answered, and one transaction per post costs more
than the post's own work (a commit, and on SQLite a turn at the database's one write lock). So
the posts a web process holds at one moment are written in one transaction: the first thread
to arrive becomes the writer and writes every item waiting, the others wait for their results,
and whoever arrives meanwhile is in the next batch. No thread of its own, nothing to start or
stop: the writer is always a request that is waiting anyway.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

MAX_BATCH = 64


class _Waiter:
    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs ``write_batch`` over the items of threads that arrive together, in order of arrival.

    ``write_batch(items)`` returns one result per item, all or nothing (it rolls back before
    it raises). If it raises, each item of that batch is written alone with ``write_one``, so
    one item that fails does not fail the others; its error is raised in its own thread.
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[Any]], Sequence[Any]],
        write_one: Callable[[Any], Any],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write_batch = write_batch
        self._write_one = write_one
        self._max_batch = max_batch
        self._waiting: deque[_Waiter] = deque()
        self._writer = threading.Lock()

    @property
    def waiting(self) -> int:
        """Items queued and not yet taken by a writer."""
        return len(self._waiting)

    def write(self, item: Any) -> Any:
        """``item``'s result once it is written (by this thread or another)."""
        waiter = _Waiter(item)
        self._waiting.append(waiter)
        while not waiter.done:
            with self._writer:
                if waiter.done:
                    break
                batch = []
                while self._waiting and len(batch) < self._max_batch:
                    batch.append(self._waiting.popleft())
                self._write(batch)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _write(self, batch: list[_Waiter]) -> None:
        try:
            try:
                results = self._write_batch([waiter.item for waiter in batch])
            except Exception:
                for waiter in batch:
                    try:
                        waiter.result = self._write_one(waiter.item)
                    except Exception as error:  # noqa: BLE001 - raised in the waiter's thread
                        waiter.error = error
                    waiter.done = True
                return
            for waiter, result in zip(batch, results, strict=True):
                waiter.result = result
                waiter.done = True
        finally:  # the writer itself is stopped (a worker's exit): nobody waits forever
            for waiter in batch:
                if not waiter.done:
                    waiter.error = RuntimeError("The write was interrupted.")
                    waiter.done = True
