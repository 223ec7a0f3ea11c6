"""Time campaigns of 100,000 recipients from preview to done against the sandbox gateway.

Run by hand:
    .venv/bin/python bench/bench_dispatch.py [--recipients 100000] [--rounds 3] [--plain]
        [--sandbox thread|process] [--no-memory] [--profile FILE]
    .venv/bin/python bench/bench_dispatch.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Builds a temporary instance (SQLite by default), a sender and one list of valid Danish mobile
numbers, starts the sandbox (no latency injected, delivery reports held back) and, in each
round, a new campaign on that list: the dry-run preview, confirmation (recipients frozen into
batches) and the dispatch until it returns "done". Each dispatch is compared with a bare loop
that posts the same JSON bodies, encoded beforehand, with plain `requests` and as many threads
as the dispatcher has connections, to the same sandbox: the difference is the dashboard's own
time. The bare loop runs just before and just after the dispatch (the sandbox's store grows
between them) and their mean is used. Figures are the median of the rounds, [min-max] beside.

`--sandbox thread` (the default) runs the sandbox in this process, so it shares the
interpreter lock and the garbage collector with the dashboard: every millisecond of the
dashboard's CPU then adds to the wall time. `--sandbox process` runs it in a child process,
as a real gateway is another machine; CPU figures are then the dashboard's alone.

Goals (issues 7 and 13, on the 2-core machine): dispatch at most 1.25x the bare loop (1.5x
before recipients followed their batch), 100,000 recipients from confirm to done in under
15 s. Issue 13: each phase of a 1,000,000-recipient campaign under 300 MB of process RSS.

Memory is measured in two more campaigns, neither timed: one where each phase's peak RSS is
read (Linux: the high-water mark is reset through /proc/self/clear_refs before the phase and
read from VmHWM after it; the freed memory of the list's insertion is first handed back with
malloc_trim, as a web process never inserted it), before the timed rounds, and one after them
under tracemalloc (the peak of traced Python memory in each phase; tracemalloc slows Python
down). With `--sandbox thread` the process RSS includes the sandbox's own; `--sandbox process`
measures the dashboard alone. Prints figures; asserts nothing.
The machine is shared: run it when it is quiet, or compare several runs (the load average is
printed).

WARNING: with a PostgreSQL URL the schema ``public`` of that database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import multiprocessing
import os
import re
import resource
import statistics
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, insert, select, text

from mtsms_sandbox import SandboxConfig, SandboxStore, start_sandbox
from webapp import create_app, upgrade_database
from webapp.extensions import db
from webapp.gateway.client import MtsmsClient
from webapp.gateway.messages import to_payload
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
from webapp.services.preview import preview_campaign

BATCH_SIZE = 10_000
MAX_CONNECTIONS = 4
PERSONALISED = "Hi %first_name%, our spring sale starts today: 20% off everything. See you!"
PLAIN = "Our spring sale starts today: 20% off everything in store. See you!"
NAMES = ["Ann", "Karen", "Peter", "Søren", "Åse", "Mikkel", "Ida", "Jürgen", "Li", "Bo"]
GOAL_RATIO = 1.25
GOAL_SECONDS = 15.0
GOAL_RSS_MB = 300


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="campaigns timed (median shown)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL to use instead of a temporary SQLite file (its schema public "
        "is dropped and recreated)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="a message without personalisation tags"
    )
    parser.add_argument(
        "--sandbox",
        choices=("thread", "process"),
        default="thread",
        help="run the sandbox in this process (default) or in a child process",
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the two campaigns that measure memory (RSS, tracemalloc)",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the first dispatch")
    return parser.parse_args()


# --- Setting up ------------------------------------------------------------------------------


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


# --- The sandbox, here or in a child process ----------------------------------------------------

SANDBOX_CONFIG = {"report_delay_seconds": 3600}  # no latency; delivery reports held back


def _serve_sandbox(path: str, connection) -> None:
    """The child process: serve until the parent says stop."""
    sandbox = start_sandbox(path, config=SandboxConfig(**SANDBOX_CONFIG))
    connection.send((sandbox.mtsms_url, sandbox.token))
    connection.recv()
    sandbox.stop()


class ChildSandbox:
    """The sandbox in a child process, with the parts of RunningSandbox the benchmark uses."""

    def __init__(self, path: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve_sandbox, args=(str(path), child_end))
        self._process.start()
        self.mtsms_url, self.token = self._connection.recv()
        self.store = SandboxStore(path)  # the same SQLite file, read from here

    def stop(self) -> None:
        self._connection.send("stop")
        self._process.join(timeout=10)
        self.store.close()


def start(kind: str, path: Path):
    if kind == "process":
        return ChildSandbox(path)
    return start_sandbox(path, config=SandboxConfig(**SANDBOX_CONFIG))


# --- Measuring --------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall seconds, and the CPU seconds of this whole process (all its threads)."""

    wall: float
    cpu: float


def timed(action, *args, **kwargs):
    """Run the action; its result and its Timing."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action(*args, **kwargs)
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


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


@dataclass
class Round:
    preview: Timing
    confirm: Timing
    dispatch: Timing
    bare: Timing
    bare_walls: tuple[float, float]
    outcome: str
    received: int
    bare_received: tuple[int, int]

    @property
    def ratio(self) -> float:
        return self.dispatch.wall / self.bare.wall

    @property
    def cpu_ratio(self) -> float:
        return self.dispatch.cpu / self.bare.cpu


def send_round(session, user, list_id, client, sandbox, message, number, profile) -> Round:
    """One campaign from preview to done, between two rounds of the bare loop."""
    campaign = new_campaign(session, user, list_id, f"Bench campaign {number}", message)
    _, preview = timed(
        preview_campaign,
        session,
        campaign,
        user,
        client,
        honours_dry_run=True,
        batch_size=BATCH_SIZE,
    )
    # Every round sends the same message to the same list on purpose.
    _, confirm = timed(
        campaigns.confirm_campaign,
        session,
        campaign,
        user,
        batch_size=BATCH_SIZE,
        allow_duplicate=True,
    )
    labels = (f"Bench bare loop {number}a", f"Bench bare loop {number}b")
    bodies = [bare_bodies(session, campaign, sandbox.token, label) for label in labels]
    session.commit()
    before = run_bare_loop(sandbox.mtsms_url, bodies[0])
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    outcome, sending = timed(
        dispatch.dispatch_campaign, session, campaign.id, client, max_connections=MAX_CONNECTIONS
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    after = run_bare_loop(sandbox.mtsms_url, bodies[1])
    return Round(
        preview=preview,
        confirm=confirm,
        dispatch=sending,
        bare=Timing((before.wall + after.wall) / 2, (before.cpu + after.cpu) / 2),
        bare_walls=(before.wall, after.wall),
        outcome=outcome,
        received=sandbox.store.count_received(label=campaign.name),
        bare_received=tuple(sandbox.store.count_received(label=label) for label in labels),
    )


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1)) / 1024


def reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark (VmHWM) to its current RSS; False where Linux's
    /proc/self/clear_refs is not there to do it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def hand_back_freed_memory() -> None:
    """Collect garbage and return glibc's free pages to the system (where there is glibc)."""
    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def phases(session, user, list_id: int, client, message: str, name: str):
    """(phase, action) of one more campaign: preview (dry run), confirm, dispatch."""
    campaign = new_campaign(session, user, list_id, name, message)
    session.expire_all()
    return (
        (
            "preview",
            lambda: preview_campaign(
                session, campaign, user, client, honours_dry_run=True, batch_size=BATCH_SIZE
            ),
        ),
        (
            "confirm",
            lambda: campaigns.confirm_campaign(
                session, campaign, user, batch_size=BATCH_SIZE, allow_duplicate=True
            ),
        ),
        (
            "dispatch",
            lambda: dispatch.dispatch_campaign(
                session, campaign.id, client, max_connections=MAX_CONNECTIONS
            ),
        ),
    )


def measure_rss(session, user, list_id: int, client, message: str) -> dict | None:
    """One more campaign: (RSS at its start, peak RSS) of each phase in MB; None where the
    high-water mark cannot be reset."""
    hand_back_freed_memory()
    if not reset_peak_rss():
        return None
    peaks = {}
    for step, action in phases(session, user, list_id, client, message, "Bench memory (RSS)"):
        gc.collect()
        reset_peak_rss()
        start = _status_mb("VmRSS")
        action()
        peaks[step] = (start, _status_mb("VmHWM"))
    return peaks


def measure_memory(session, user, list_id: int, client, message: str) -> dict:
    """One more campaign under tracemalloc: the peak of traced Python memory in each step."""
    peaks = {}
    steps = phases(session, user, list_id, client, message, "Bench memory")
    tracemalloc.start()
    for step, action in steps:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        action()
        peaks[step] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()
    return peaks


# --- Reporting --------------------------------------------------------------------------------


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    """The median, and the range when there is more than one value."""
    median = f"{statistics.median(values):.{digits}f} {unit}"
    if len(values) == 1:
        return median
    return f"{median} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def report(args, dialect, setup, rss_after_setup, rounds, rss_after_send, peaks, rss) -> None:
    kind = "plain" if args.plain else "personalised"
    where = (
        "in this process (it shares the GIL and the garbage collector; CPU includes it)"
        if args.sandbox == "thread"
        else "in a child process (CPU is the dashboard's alone)"
    )
    batches = -(-args.recipients // BATCH_SIZE)
    print(
        f"Campaign of {args.recipients:,} recipients ({kind}) on {dialect}: {batches} batches of "
        f"at most {BATCH_SIZE:,}, {MAX_CONNECTIONS} connections; sandbox {where}. "
        f"Median of {len(rounds)} rounds [min-max]. Load average at the end: "
        + ", ".join(f"{load:.2f}" for load in os.getloadavg())
    )

    def walls(name):
        return [getattr(r, name).wall for r in rounds]

    def cpus(name):
        return [getattr(r, name).cpu for r in rounds]

    totals = [r.confirm.wall + r.dispatch.wall for r in rounds]
    ratios = [r.ratio for r in rounds]
    own = [r.dispatch.wall - r.bare.wall for r in rounds]
    own_cpu = [r.dispatch.cpu - r.bare.cpu for r in rounds]
    outcomes = sorted({r.outcome for r in rounds})
    received = [r.received for r in rounds]
    exact = all(count == args.recipients for count in received)
    bare_exact = all(count == args.recipients for r in rounds for count in r.bare_received)
    rows = [
        ("", "wall", "CPU", ""),
        ("setup: list inserted in bulk", f"{setup.wall:.2f} s", f"{setup.cpu:.2f} s", ""),
        ("preview (dry run)", spread(walls("preview"), "s"), spread(cpus("preview"), "s"), ""),
        (
            "confirm (recipients frozen)",
            spread(walls("confirm"), "s"),
            spread(cpus("confirm"), "s"),
            "",
        ),
        (
            "dispatch until done",
            spread(walls("dispatch"), "s"),
            spread(cpus("dispatch"), "s"),
            f"returned {', '.join(outcomes)}",
        ),
        (
            "confirm to done",
            spread(totals, "s"),
            "",
            f"goal < {GOAL_SECONDS:g} s: "
            + ("met" if statistics.median(totals) < GOAL_SECONDS else "MISSED"),
        ),
        (
            "bare requests loop",
            spread(walls("bare"), "s"),
            spread(cpus("bare"), "s"),
            "mean of the loops before and after each dispatch",
        ),
        (
            "dispatch / bare loop",
            spread(ratios, "x"),
            spread([r.cpu_ratio for r in rounds], "x") if args.sandbox == "thread" else "",
            f"goal <= {GOAL_RATIO:g}x: "
            + ("met" if statistics.median(ratios) <= GOAL_RATIO else "MISSED"),
        ),
        ("dashboard's own time", spread(own, "s"), spread(own_cpu, "s"), "dispatch - bare loop"),
        ("peak RSS after setup", f"{rss_after_setup:.0f} MB", "", "ru_maxrss"),
        ("peak RSS after the rounds", f"{rss_after_send:.0f} MB", "", "ru_maxrss"),
    ]
    for step, (start, peak) in (rss or {}).items():
        verdict = "under" if peak < GOAL_RSS_MB else "OVER"
        rows.append(
            (
                f"peak RSS, {step}",
                f"{peak:.0f} MB",
                "",
                f"from {start:.0f} MB at its start; {verdict} {GOAL_RSS_MB} MB (one more campaign)",
            )
        )
    for step, peak in (peaks or {}).items():
        rows.append((f"tracemalloc peak, {step}", f"{peak:.1f} MB", "", "one more campaign"))
    rows.append(
        (
            "sandbox received",
            f"{statistics.median(received):,.0f}",
            "",
            f"per campaign label: {'exactly' if exact else 'NOT'} {args.recipients:,} in every "
            f"round (bare loops: {'exactly' if bare_exact else 'NOT'} {args.recipients:,})",
        )
    )
    width = [max(len(row[column]) for row in rows) for column in range(3)]
    for name, wall, cpu, note in rows:
        print(f"  {name:<{width[0]}}  {wall:>{width[1]}}  {cpu:>{width[2]}}  {note}".rstrip())
    print(
        "  per round: "
        + "; ".join(
            f"dispatch {r.dispatch.wall:.2f} s, bare {r.bare_walls[0]:.2f}/{r.bare_walls[1]:.2f} s"
            for r in rounds
        )
    )


@dataclass
class Workspace:
    session: object
    user: User
    list_id: int
    client: MtsmsClient
    sandbox: object
    dialect: str
    setup: Timing  # making the list


@contextmanager
def workspace(database_url: str | None, sandbox_kind: str, recipients: int):
    """A temporary instance with a sender and one list of ``recipients``, the sandbox (here or
    in a child process) and a client for it; yielded inside the app's context."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        app = build_app(folder, database_url)
        sandbox = start(sandbox_kind, folder / "sandbox.sqlite3")
        client = MtsmsClient(
            sandbox.mtsms_url, sandbox.token, max_connections=MAX_CONNECTIONS, timeout=(5, 60)
        )
        try:
            with app.app_context():
                session = db.session
                user_id = accounts.create_user(
                    session, "sender@example.com", "correct horse battery", Role.SENDER
                ).id
                list_id, setup = timed(make_big_list, session, recipients, user_id)
                user = session.get(User, user_id)
                yield Workspace(
                    session, user, list_id, client, sandbox, db.engine.dialect.name, setup
                )
        finally:
            client.close()
            sandbox.stop()


def main() -> None:
    args = parse_args()
    message = PLAIN if args.plain else PERSONALISED
    with workspace(args.database_url, args.sandbox, args.recipients) as space:
        session, user, list_id, client = space.session, space.user, space.list_id, space.client
        rss_after_setup = maxrss_mb()
        rss = None if args.no_memory else measure_rss(session, user, list_id, client, message)
        rounds = [
            send_round(
                session,
                user,
                list_id,
                client,
                space.sandbox,
                message,
                number,
                args.profile if number == 1 else None,
            )
            for number in range(1, args.rounds + 1)
        ]
        rss_after_send = maxrss_mb()
        peaks = None if args.no_memory else measure_memory(session, user, list_id, client, message)
    report(args, space.dialect, space.setup, rss_after_setup, rounds, rss_after_send, peaks, rss)


if __name__ == "__main__":
    main()
