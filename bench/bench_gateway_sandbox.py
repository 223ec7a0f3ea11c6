"""Time the sandbox gateway accepting 100,000 recipients in 10 requests of 10,000.

Run by hand: .venv/bin/python bench/bench_gateway_sandbox.py. Goal: the 10 requests together
well under a few seconds over real HTTP on loopback. Prints figures; asserts nothing.
"""

import tempfile
import time
from pathlib import Path

from mtsms_sandbox import NewMessage, SandboxConfig, SandboxStore, start_sandbox
from webapp.gateway import MtsmsClient, Recipient, SmsMessage, validate_message
from webapp.gateway.pricing import price_message

BATCHES = 10
BATCH_SIZE = 10_000


def batch(number, personalised):
    first = 4520000000 + number * BATCH_SIZE
    if personalised:
        recipients = [
            Recipient(str(first + i), [f"Name{i}", f"C{i:05d}"]) for i in range(BATCH_SIZE)
        ]
        return SmsMessage(
            "Hi %name%, your code is %code%.", recipients, tags=["%name%", "%code%"], label="bench"
        )
    return SmsMessage(
        "Hello from the bench", [Recipient(str(first + i)) for i in range(BATCH_SIZE)]
    )


def bench_http(personalised):
    with tempfile.TemporaryDirectory() as folder:
        config = SandboxConfig(report_delay_seconds=3600)  # keep delivery out of the timing
        sandbox = start_sandbox(Path(folder) / "bench.sqlite3", config=config)
        client = MtsmsClient(sandbox.mtsms_url, sandbox.token, timeout=(5, 60))
        messages = [batch(n, personalised) for n in range(BATCHES)]
        started = time.perf_counter()
        times = []
        for sms in messages:
            t = time.perf_counter()
            client.send(sms)
            times.append(time.perf_counter() - t)
        total = time.perf_counter() - started
        assert sandbox.store.count_received() == BATCHES * BATCH_SIZE
        sandbox.stop()
    kind = "personalised" if personalised else "plain"
    print(
        f"HTTP send, {kind:12}: {BATCHES} x {BATCH_SIZE:,} recipients in {total:.2f} s "
        f"(per request: min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms)"
    )


def bench_parts():
    sms = batch(0, True)
    t = time.perf_counter()
    validate_message(sms)
    validate_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    priced = price_message(
        sms.message, [(r.msisdn, r.tagvalues) for r in sms.recipients], tags=sms.tags
    )
    price_ms = (time.perf_counter() - t) * 1000
    with tempfile.TemporaryDirectory() as folder:
        store = SandboxStore(Path(folder) / "store.sqlite3")
        record = NewMessage(sms.message, priced.recipients, priced.total_cost, priced.currency)
        t = time.perf_counter()
        store.add_messages([record], credit=priced.total_cost)
        store_ms = (time.perf_counter() - t) * 1000
        store.close()
    print(
        f"one personalised batch of {BATCH_SIZE:,}: client validation {validate_ms:.0f} ms, "
        f"pricing {price_ms:.0f} ms, SQLite insert {store_ms:.0f} ms"
    )


if __name__ == "__main__":
    bench_parts()
    bench_http(personalised=False)
    bench_http(personalised=True)
