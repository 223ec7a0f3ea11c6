"""Group commit: threads that write at the same moment are written together, each gets its own
result, and one item that cannot be written fails only its own thread."""

from __future__ import annotations

import threading
import time

import pytest

from webapp.services.group_commit import GroupCommit


def run_in_threads(writer: GroupCommit, items, *, first_waits: threading.Event | None = None):
    """Each item written from a thread of its own; {item: result or the error raised}."""
    outcomes = {}

    def write(item):
        try:
            outcomes[item] = writer.write(item)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            outcomes[item] = error

    threads = [threading.Thread(target=write, args=(item,)) for item in items]
    threads[0].start()
    time.sleep(0.1)  # the first thread is the writer, held in its batch
    for thread in threads[1:]:
        thread.start()
    if first_waits is not None:
        time.sleep(0.3)  # the others queue up meanwhile
        first_waits.set()
    for thread in threads:
        thread.join(timeout=10)
    return outcomes


def test_threads_arriving_while_a_batch_is_written_are_written_together():
    batches = []
    hold = threading.Event()

    def write_batch(items):
        if not batches:
            hold.wait(timeout=10)
        batches.append(list(items))
        return [item * 10 for item in items]

    writer = GroupCommit(write_batch, write_one=lambda item: pytest.fail("no batch failed"))
    outcomes = run_in_threads(writer, range(1, 9), first_waits=hold)
    assert outcomes == {item: item * 10 for item in range(1, 9)}
    assert batches[0] == [1]
    assert sorted(sum(batches[1:], [])) == list(range(2, 9))
    assert len(batches) < 8  # the seven that waited were not written one by one


def test_a_batch_that_fails_is_written_item_by_item_and_only_the_bad_item_fails():
    hold = threading.Event()
    written_alone = []

    def write_batch(items):
        hold.wait(timeout=10)
        if "bad" in items:
            raise RuntimeError("the batch fails")
        return [item.upper() for item in items]

    def write_one(item):
        written_alone.append(item)
        if item == "bad":
            raise ValueError("this one cannot be written")
        return item.upper()

    writer = GroupCommit(write_batch, write_one)
    outcomes = run_in_threads(writer, ["first", "a", "bad", "b"], first_waits=hold)
    assert outcomes["first"] == "FIRST"
    assert (outcomes["a"], outcomes["b"]) == ("A", "B")
    assert isinstance(outcomes["bad"], ValueError)
    assert "bad" in written_alone


def test_a_writer_stopped_in_its_batch_leaves_nobody_of_that_batch_waiting():
    hold = threading.Event()

    def write_batch(items):
        hold.wait(timeout=10)
        if len(items) > 1:
            raise KeyboardInterrupt  # not an Exception: the writing thread itself stops
        return list(items)

    writer = GroupCommit(write_batch, write_one=lambda item: pytest.fail("not written alone"))
    outcomes = run_in_threads(writer, ["first", "b", "c"], first_waits=hold)
    assert outcomes["first"] == "first"
    stopped = sorted(type(outcomes[item]).__name__ for item in ("b", "c"))
    assert stopped == ["KeyboardInterrupt", "RuntimeError"]
    assert writer.write("later") == "later"  # and the next writer carries on
