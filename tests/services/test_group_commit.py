"""Group commit: threads that write at the same moment are written together, each gets its own
result, and one item that cannot be written fails only its own thread."""

from __future__ import annotations

import threading

import pytest
from helpers import poll

from webapp.services.group_commit import GroupCommit


class HeldWriter:
    """A write_batch whose first batch is held until it is released: whoever arrives
    meanwhile queues up behind it."""

    def __init__(self, write_batch):
        self.write_batch = write_batch
        self.writing = threading.Event()
        self.release = threading.Event()
        self.batches: list[list] = []

    def __call__(self, items):
        if not self.batches:
            self.writing.set()
            assert self.release.wait(timeout=10)
        self.batches.append(list(items))
        return self.write_batch(items)


def run_in_threads(writer: GroupCommit, held: HeldWriter, items):
    """Each item written from a thread of its own, the first one as the writer held in its
    batch until all the others have queued; {item: result or the error raised}."""
    outcomes = {}

    def write(item):
        try:
            outcomes[item] = writer.write(item)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            outcomes[item] = error

    threads = [threading.Thread(target=write, args=(item,)) for item in items]
    threads[0].start()
    assert held.writing.wait(timeout=10)
    for thread in threads[1:]:
        thread.start()
    poll(lambda: writer.waiting == len(items) - 1, timeout=10, what="the others queued")
    held.release.set()
    for thread in threads:
        thread.join(timeout=10)
    return outcomes


def test_threads_arriving_while_a_batch_is_written_are_written_together():
    held = HeldWriter(lambda items: [item * 10 for item in items])
    writer = GroupCommit(held, write_one=lambda item: pytest.fail("no batch failed"))
    outcomes = run_in_threads(writer, held, range(1, 9))
    assert outcomes == {item: item * 10 for item in range(1, 9)}
    assert held.batches == [[1], [2, 3, 4, 5, 6, 7, 8]]


def test_a_batch_that_fails_is_written_item_by_item_and_only_the_bad_item_fails():
    def write_batch(items):
        if "bad" in items:
            raise RuntimeError("the batch fails")
        return [item.upper() for item in items]

    written_alone = []

    def write_one(item):
        written_alone.append(item)
        if item == "bad":
            raise ValueError("this one cannot be written")
        return item.upper()

    held = HeldWriter(write_batch)
    outcomes = run_in_threads(GroupCommit(held, write_one), held, ["first", "a", "bad", "b"])
    assert outcomes["first"] == "FIRST"
    assert (outcomes["a"], outcomes["b"]) == ("A", "B")
    assert isinstance(outcomes["bad"], ValueError)
    assert sorted(written_alone) == ["a", "b", "bad"]


def test_a_writer_stopped_in_its_batch_leaves_nobody_of_that_batch_waiting():
    def write_batch(items):
        if len(items) > 1:
            raise KeyboardInterrupt  # not an Exception: the writing thread itself stops
        return list(items)

    held = HeldWriter(write_batch)
    writer = GroupCommit(held, write_one=lambda item: pytest.fail("not written alone"))
    outcomes = run_in_threads(writer, held, ["first", "b", "c"])
    assert outcomes["first"] == "first"
    stopped = sorted(type(outcomes[item]).__name__ for item in ("b", "c"))
    assert stopped == ["KeyboardInterrupt", "RuntimeError"]
    assert writer.write("later") == "later"  # and the next writer carries on
