"""Time the composer's live counter: analyze alone, then the endpoint through the Flask test client.

Run by hand: .venv/bin/python bench/bench_counter.py [--requests 1000] [--recipients 10000]
[--cold N]; `--recipients 1000000` builds the million-recipient list (SQL bulk inserts, a
minute or two) for the issue's second goal.
Builds an app on a temporary instance folder and SQLite file, signs a sender in (CSRF on, as in
production) and POSTs /compose/counter as htmx does. Goals on the 2-core machine: analyze under
50 µs for 160 characters, counter p95 under 10 ms with no list chosen. Prints; asserts nothing.

With a list chosen the figures depend on the caches in webapp.services.counter, so four cases
are timed: no list; a list with the same message again (every cache hits); a list with a new
message each time (recipients cached, each one's message rendered and counted again); and
cold (both caches emptied before each request: the recipients are loaded from the database).
Each row prints wall-clock median and p95, and the CPU time's (less noisy on a shared machine).
Goals with a list (issue 13), a new message each time: p95 under 25 ms at 100,000 recipients,
under 100 ms at 1,000,000.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench_sms import LENGTHS, SAMPLES, median_microseconds
from sqlalchemy import insert

from webapp import create_app
from webapp.extensions import db
from webapp.models import ImportStatus, ListImport, Recipient, RecipientList, Role
from webapp.services import accounts
from webapp.services.counter import clear_counter_caches
from webapp.sms import analyze

PASSWORD = "correct horse battery"
MESSAGE = "Hi %first_name%, our spring sale starts today: 20% off everything in store. See you!"
NAMES = ["Ann", "Karen", "Peter", "Søren", "Åse", "Zoë", "Mikkel", "Ida", "Jürgen", "Li"]
INSERT_CHUNK = 50_000


def bench_analyze() -> None:
    print("analyze(text): median µs per call")
    for label, sample in SAMPLES.items():
        for length in LENGTHS:
            text = (sample * (length // len(sample) + 1))[:length]
            number = 20_000 if length <= 160 else 2_000
            micros = median_microseconds(lambda text=text: analyze(text), number)
            print(f"  {label:<26} {length:>6} chars: {micros:8.2f} µs")


def build_app(folder: Path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "SECRET_KEY": "bench-secret",
            "WORKER": "none",
            "SMS_API_TOKEN": None,
        },
        instance_path=folder / "instance",
    )
    with app.app_context():
        accounts.create_user(db.session, "sender@example.com", PASSWORD, Role.SENDER)
    return app


def make_big_list(app, recipients: int) -> int:
    with app.app_context():
        people = RecipientList(name="Everyone", fields=["first_name"], recipient_count=recipients)
        db.session.add(people)
        db.session.flush()
        done = ListImport(list_id=people.id, filename="everyone.csv", status=ImportStatus.DONE)
        db.session.add(done)
        db.session.flush()
        for start in range(0, recipients, INSERT_CHUNK):  # a chunk at a time: bounded memory
            db.session.execute(
                insert(Recipient),
                [
                    {
                        "list_id": people.id,
                        "import_id": done.id,
                        "msisdn": f"45{20_000_000 + n}",
                        "country": "DK",
                        "line": n + 2,
                        "fields": {"first_name": NAMES[n % len(NAMES)] + "x" * (n % 7)},
                    }
                    for n in range(start, min(start + INSERT_CHUNK, recipients))
                ],
            )
        db.session.commit()
        return people.id


def signed_in_client(app):
    client = app.test_client()
    page = client.get("/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    response = client.post(
        "/login", data={"email": "sender@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.text
    return client, {"X-CSRFToken": token, "HX-Request": "true"}


def time_requests(client, headers, forms, *, before_each=None) -> list[tuple[float, float]]:
    """(wall-clock ms, CPU ms) of each request."""
    timings = []
    for form in forms:
        if before_each:
            before_each()
        start, cpu_start = time.perf_counter(), time.process_time()
        response = client.post("/compose/counter", data=form, headers=headers)
        timings.append(
            ((time.perf_counter() - start) * 1000, (time.process_time() - cpu_start) * 1000)
        )
        assert response.status_code == 200, response.text
    return timings


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * 0.95) - 1)]


def report(label: str, timings: list[tuple[float, float]]) -> None:
    wall = [elapsed for elapsed, _ in timings]
    cpu = [used for _, used in timings]
    print(
        f"  {label:<48} median {statistics.median(wall):7.2f} ms  p95 {p95(wall):7.2f} ms"
        f"  CPU median {statistics.median(cpu):7.2f} ms  p95 {p95(cpu):7.2f} ms"
        f"  ({len(timings)} requests)"
    )


def bench_endpoint(requests: int, recipients: int, cold_requests: int | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(Path(folder))
        started = time.perf_counter()
        list_id = make_big_list(app, recipients)
        print(f"{recipients:,} recipients inserted in {time.perf_counter() - started:.1f} s")
        client, headers = signed_in_client(app)
        print(f"POST /compose/counter through the test client ({recipients:,}-recipient list)")
        typing = [{"message": MESSAGE[: 20 + n % 60], "encoding": "auto"} for n in range(requests)]
        time_requests(client, headers, typing[:50])  # warm up: templates, connections
        report("no list", time_requests(client, headers, typing))

        with_list = [{**form, "list_ids": str(list_id)} for form in typing]
        same = [{"message": MESSAGE, "encoding": "auto", "list_ids": str(list_id)}] * requests
        report("list, same message again (cached)", time_requests(client, headers, same))
        changing = [{**form, "message": f"{MESSAGE} {n}"} for n, form in enumerate(with_list)]
        report(
            "list, new message each time (recipients cached)",
            time_requests(client, headers, changing),
        )
        cold = changing[: cold_requests or max(10, requests // 50)]
        report(
            "list, cold (caches emptied before each request)",
            time_requests(client, headers, cold, before_each=clear_counter_caches),
        )
        app.extensions["gateway"].close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument(
        "--cold", type=int, help="cold requests (default: a fiftieth of --requests, at least 10)"
    )
    parser.add_argument("--no-analyze", action="store_true", help="skip analyze()'s timings")
    arguments = parser.parse_args()
    if not arguments.no_analyze:
        bench_analyze()
    bench_endpoint(arguments.requests, arguments.recipients, arguments.cold)
