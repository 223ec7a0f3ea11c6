"""Time a campaign of 100,000 recipients from preview to done against the sandbox gateway.

Run by hand:
    .venv/bin/python bench/bench_dispatch.py [--recipients 100000] [--plain]
    .venv/bin/python bench/bench_dispatch.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Builds a temporary instance (SQLite by default), a sender and one list of valid Danish mobile
numbers, starts the sandbox (no latency injected, delivery reports held back) and measures the
dry-run preview, confirmation (recipients frozen into batches) and dispatch until it returns
"done". The dispatch is compared with a bare loop that posts the same JSON payloads with plain
`requests`, with as many threads as the dispatcher's connections, to the same sandbox: the
difference is the time spent in the dashboard's own code. The bare loop runs once before and
once after the dispatch (the sandbox's store grows between them) and the mean is used.

Goals (issue 7, on the 2-core machine): dispatch at most 1.5x the bare loop, 100,000
recipients from confirm to done in under 15 s. Prints figures; asserts nothing. Memory is
measured in a second, identical campaign under tracemalloc (which slows Python down, so that
campaign is not timed); both figures include the sandbox, which runs in this process.

WARNING: with a PostgreSQL URL the schema ``public`` of that database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, insert, select, text

from webapp import create_app, upgrade_database
from webapp.extensions import db
from webapp.gateway.messages import to_payload
from webapp.gateway.sandbox import SandboxConfig, start_sandbox
from webapp.models import (
    CampaignRecipient,
    ImportStatus,
    ListImport,
    Recipient,
    RecipientList,
    Role,
    User,
)
from webapp.services import accounts, campaigns, dispatch
from webapp.services.campaigns import CampaignDraft

BATCH_SIZE = 10_000
MAX_CONNECTIONS = 4
PERSONALISED = "Hi %first_name%, our spring sale starts today: 20% off everything. See you!"
PLAIN = "Our spring sale starts today: 20% off everything in store. See you!"
NAMES = ["Ann", "Karen", "Peter", "Søren", "Åse", "Mikkel", "Ida", "Jürgen", "Li", "Bo"]
GOAL_RATIO = 1.5
GOAL_SECONDS = 15.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL to use instead of a temporary SQLite file (its schema public "
        "is dropped and recreated)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="a message without personalisation tags"
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the second campaign under tracemalloc"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the dispatch here")
    return parser.parse_args()


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build_app(folder: Path, database_url: str | None):
    url = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    if url.startswith("postgresql"):
        reset_postgres(url)
    app = create_app(
        {
            "DATABASE_URL": url,
            "AUTO_MIGRATE": False,
            "SECRET_KEY": "bench-secret",
            "WORKER": "none",
            "SMS_API_TOKEN": None,
        },
        instance_path=folder / "instance",
    )
    upgrade_database(app)
    return app


def make_big_list(session, count: int, user_id: int) -> int:
    """Like tests/helpers.make_list, inserted in bulk: one executemany per 10,000 rows."""
    people = RecipientList(
        name="Everyone", fields=["first_name"], recipient_count=count, created_by_id=user_id
    )
    session.add(people)
    session.flush()
    done = ListImport(
        list_id=people.id,
        filename="everyone.csv",
        status=ImportStatus.DONE,
        rows=count,
        imported=count,
    )
    session.add(done)
    session.flush()
    for start in range(0, count, 10_000):
        session.execute(
            insert(Recipient),
            [
                {
                    "list_id": people.id,
                    "import_id": done.id,
                    "msisdn": f"45{20_000_000 + n}",
                    "country": "DK",
                    "line": n + 2,
                    "fields": {"first_name": NAMES[n % len(NAMES)]},
                }
                for n in range(start, min(count, start + 10_000))
            ],
        )
    session.commit()
    return people.id


def new_campaign(session, user, list_id: int, name: str, message: str):
    draft = CampaignDraft(name=name, sender="Shop", message=message, list_ids=[list_id])
    return campaigns.save_draft(session, user, draft)


def bare_bodies(session, campaign, token: str, label: str) -> list[bytes]:
    """The JSON bodies the dispatcher posts for this campaign, built from its frozen batches.

    Encoded beforehand, so the bare loop is the floor (HTTP and the sandbox alone) and holds no
    Python objects that would make the garbage collector slower for what is measured next.
    """
    fields = campaigns.resolve_fields(session, campaign)
    bodies = []
    for batch in campaign.batches:
        recipients = session.execute(
            select(CampaignRecipient.msisdn, CampaignRecipient.fields)
            .where(CampaignRecipient.batch_id == batch.id)
            .order_by(CampaignRecipient.id)
        ).all()
        payload = to_payload(
            campaigns.batch_message(campaign, recipients, fields, number=batch.number)
        )
        payload["label"] = label
        payload["token"] = token
        bodies.append(json.dumps(payload).encode("utf-8"))
    return bodies


@dataclass
class Timing:
    """Wall seconds, and the CPU seconds of this whole process (all threads, sandbox included)."""

    wall: float
    cpu: float

    @classmethod
    def mean(cls, timings: list[Timing]) -> Timing:
        return cls(
            statistics.mean(t.wall for t in timings), statistics.mean(t.cpu for t in timings)
        )


def timed(action, *args, **kwargs):
    """Run the action; its result and its Timing."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action(*args, **kwargs)
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def run_bare_loop(url: str, bodies: list[bytes]) -> Timing:
    """POST the bodies with plain requests, MAX_CONNECTIONS at once, until all are answered."""
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=MAX_CONNECTIONS))
    headers = {"Content-Type": "application/json; charset=utf-8"}

    def post(body: bytes) -> None:
        response = session.post(url, data=body, headers=headers, timeout=(5, 60))
        response.raise_for_status()
        response.json()

    def post_all() -> None:
        with ThreadPoolExecutor(MAX_CONNECTIONS) as pool:
            list(pool.map(post, bodies))

    _, timing = timed(post_all)
    session.close()
    return timing


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure_memory(session, user, list_id: int, client, message: str) -> dict:
    """A second campaign under tracemalloc: the peak of traced Python memory in each step."""
    campaign = new_campaign(session, user, list_id, "Bench memory", message)
    session.expire_all()
    peaks = {}
    tracemalloc.start()
    for step, action in (
        (
            "preview",
            lambda: campaigns.preview_campaign(
                session, campaign, user, client, honours_dry_run=True, batch_size=BATCH_SIZE
            ),
        ),
        (
            "confirm",
            lambda: campaigns.confirm_campaign(session, campaign, user, batch_size=BATCH_SIZE),
        ),
        (
            "dispatch",
            lambda: dispatch.dispatch_campaign(
                session, campaign.id, client, max_connections=MAX_CONNECTIONS
            ),
        ),
    ):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        action()
        peaks[step] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()
    return peaks


def main() -> None:
    args = parse_args()
    message = PLAIN if args.plain else PERSONALISED
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        app = build_app(folder, args.database_url)
        sandbox = start_sandbox(
            folder / "sandbox.sqlite3",
            config=SandboxConfig(report_delay_seconds=3600),  # no latency, reports held back
        )
        client = sandbox.client(max_connections=MAX_CONNECTIONS, timeout=(5, 60))
        try:
            with app.app_context():
                session = db.session
                dialect = db.engine.dialect.name
                user_id = accounts.create_user(
                    session, "sender@example.com", "correct horse battery", Role.SENDER
                ).id
                list_id, setup = timed(make_big_list, session, args.recipients, user_id)
                rss_after_setup = maxrss_mb()
                user = session.get(User, user_id)

                campaign = new_campaign(session, user, list_id, "Bench campaign", message)
                _, preview = timed(
                    campaigns.preview_campaign,
                    session,
                    campaign,
                    user,
                    client,
                    honours_dry_run=True,
                    batch_size=BATCH_SIZE,
                )
                _, confirm = timed(
                    campaigns.confirm_campaign, session, campaign, user, batch_size=BATCH_SIZE
                )
                # The bare loop posts the frozen batches, once before and once after the dispatch.
                bodies = {
                    round: bare_bodies(session, campaign, sandbox.token, f"Bench bare loop {round}")
                    for round in (1, 2)
                }
                session.commit()
                bare_before = run_bare_loop(sandbox.mtsms_url, bodies[1])
                profiler = None
                if args.profile is not None:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                outcome, sending = timed(
                    dispatch.dispatch_campaign,
                    session,
                    campaign.id,
                    client,
                    max_connections=MAX_CONNECTIONS,
                )
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                bare_after = run_bare_loop(sandbox.mtsms_url, bodies[2])
                received = sandbox.store.count_received(label=campaign.name)
                bare_received = [
                    sandbox.store.count_received(label=f"Bench bare loop {n}") for n in (1, 2)
                ]
                rss_after_send = maxrss_mb()
                peaks = (
                    None
                    if args.no_memory
                    else measure_memory(session, user, list_id, client, message)
                )
        finally:
            client.close()
            sandbox.stop()

    bare = Timing.mean([bare_before, bare_after])
    total = confirm.wall + sending.wall
    ratio = sending.wall / bare.wall
    batches = -(-args.recipients // BATCH_SIZE)
    kind = "plain" if args.plain else "personalised"
    print(
        f"Campaign of {args.recipients:,} recipients ({kind}) on {dialect}: {batches} batches of "
        f"at most {BATCH_SIZE:,}, {MAX_CONNECTIONS} connections; the sandbox runs in this "
        "process, so CPU figures include it"
    )
    rows = [
        ("", "wall", "CPU", ""),
        ("setup: list inserted in bulk", f"{setup.wall:.2f} s", f"{setup.cpu:.2f} s", ""),
        ("preview (dry run)", f"{preview.wall:.2f} s", f"{preview.cpu:.2f} s", ""),
        ("confirm (recipients frozen)", f"{confirm.wall:.2f} s", f"{confirm.cpu:.2f} s", ""),
        (
            "dispatch until done",
            f"{sending.wall:.2f} s",
            f"{sending.cpu:.2f} s",
            f"returned {outcome!r}",
        ),
        (
            "confirm to done",
            f"{total:.2f} s",
            f"{confirm.cpu + sending.cpu:.2f} s",
            f"goal < {GOAL_SECONDS:g} s: {'met' if total < GOAL_SECONDS else 'MISSED'}",
        ),
        (
            "bare requests loop",
            f"{bare.wall:.2f} s",
            f"{bare.cpu:.2f} s",
            f"mean of before ({bare_before.wall:.2f} s) and after ({bare_after.wall:.2f} s)",
        ),
        (
            "dispatch / bare loop",
            f"{ratio:.2f} x",
            f"{sending.cpu / bare.cpu:.2f} x",
            f"goal <= {GOAL_RATIO:g}x: {'met' if ratio <= GOAL_RATIO else 'MISSED'}",
        ),
        (
            "dashboard's own time",
            f"{sending.wall - bare.wall:.2f} s",
            f"{sending.cpu - bare.cpu:.2f} s",
            "dispatch minus bare loop",
        ),
        ("peak RSS after setup", f"{rss_after_setup:.0f} MB", "", "ru_maxrss, incl. sandbox"),
        ("peak RSS after send", f"{rss_after_send:.0f} MB", "", "ru_maxrss, incl. sandbox"),
    ]
    if peaks is not None:
        for step, peak in peaks.items():
            rows.append((f"tracemalloc peak, {step}", f"{peak:.1f} MB", "", "second campaign"))
    verdict = "exactly" if received == args.recipients else "NOT"
    rows.append(
        (
            "sandbox received",
            f"{received:,}",
            "",
            f"for the campaign's label: {verdict} {args.recipients:,} "
            f"(bare loops: {bare_received[0]:,} and {bare_received[1]:,})",
        )
    )
    width = max(len(row[0]) for row in rows)
    for name, wall, cpu, note in rows:
        print(f"  {name:<{width}}  {wall:>10}  {cpu:>8}  {note}".rstrip())


if __name__ == "__main__":
    main()
