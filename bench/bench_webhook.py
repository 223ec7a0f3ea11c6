"""Post signed delivery reports in parallel to the webhook of the app served as scripts/start
serves it (gunicorn, one worker, eight threads), and count what the database kept.

Run by hand:
    .venv/bin/python bench/bench_webhook.py [--recipients 10000] [--senders 8]
    .venv/bin/python bench/bench_webhook.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_webhook

Builds a temporary database (SQLite by default) with one campaign of ``--recipients`` numbers,
sent through the sandbox in batches of 10,000 (the sandbox's own reports held back), then starts
gunicorn on it and posts, for every recipient, ENROUTE, its final status and one stale report
(BUFFERED after the final one, or the final one again), shuffled, each with its X-Gwapi-Signature
(signed beforehand, so the benchmark times the dashboard, not PyJWT). ``--senders`` threads post
with keep-alive connections. Afterwards it checks every recipient holds its final status, every
report is in the history, and the counts per outcome add up.

Goal (issue 14, on the 2-core machine): at least 1,000 reports per second, none lost.
WARNING: with a PostgreSQL URL the schema ``public`` of that database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

from mtsms_sandbox import SandboxConfig, start_sandbox
from webapp import create_app, upgrade_database
from webapp.extensions import db
from webapp.gateway import MtsmsClient
from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report
from webapp.models import (
    Campaign,
    CampaignRecipient,
    DeliveryReport,
    ImportStatus,
    ListImport,
    Recipient,
    RecipientList,
    Role,
)
from webapp.services import accounts, campaigns, dispatch
from webapp.services.campaigns import CampaignDraft
from webapp.services.delivery import delivery_summary
from webapp.services.preview import preview_campaign

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "bench-webhook-secret-key"
WEBHOOK_SECRET = "bench-webhook-signing-secret-long-enough"
GOAL = 1_000
OUTCOMES = {"DELIVERED": 0.9, "UNDELIVERABLE": 0.06, "EXPIRED": 0.04}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=8, help="parallel posting threads")
    parser.add_argument("--database-url", help="PostgreSQL instead of a temporary SQLite file")
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: free)")
    return parser.parse_args()


def build(folder: Path, url: str, recipients: int) -> tuple[int, dict[int, str]]:
    """A sent campaign of ``recipients``; returns its id and {batch number: message id}."""
    app = fresh_app(folder, url)
    sandbox = start_sandbox(folder / "sandbox.sqlite3", config=SandboxConfig(seed=1))
    try:
        with app.app_context():
            user = accounts.create_user(
                db.session, "bench@example.com", "bench webhook sender", Role.SENDER
            )
            list_id = _big_list(db.session, recipients, user.id)
            draft = CampaignDraft(name="Bench", sender="Shop", message="Hi", list_ids=[list_id])
            campaign = campaigns.save_draft(db.session, user, draft)
            client = MtsmsClient(sandbox.mtsms_url, sandbox.token)
            preview_campaign(
                db.session, campaign, user, client, honours_dry_run=True, batch_size=10_000
            )
            campaigns.confirm_campaign(db.session, campaign, user, batch_size=10_000)
            dispatch.dispatch_campaign(db.session, campaign.id, client)
            campaign = db.session.get(Campaign, campaign.id)
            return campaign.id, {b.number: b.message_id for b in campaign.batches}
    finally:
        sandbox.stop()


def fresh_app(folder: Path, url: str):
    """The app on an empty, migrated database at ``url`` (a PostgreSQL schema is recreated)."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = bench_app(url, folder / "instance")
    upgrade_database(app)
    return app


def bench_app(url: str, instance: Path | None = None):
    """The app on ``url`` as the benchmarks' gunicorn runs it (its secret, no worker)."""
    return create_app(
        {"DATABASE_URL": url, "AUTO_MIGRATE": False, "SECRET_KEY": SECRET_KEY, "WORKER": "none"},
        instance_path=instance or Path(tempfile.mkdtemp()) / "instance",
    )


def _big_list(session, count: int, user_id: int) -> int:
    people = RecipientList(name="Everyone", recipient_count=count, created_by_id=user_id)
    session.add(people)
    session.flush()
    done = ListImport(list_id=people.id, filename="all.csv", status=ImportStatus.DONE, rows=count)
    session.add(done)
    session.flush()
    rows = [
        {"list_id": people.id, "import_id": done.id, "msisdn": f"45{20_000_000 + n}",
         "country": "DK", "line": n + 2, "fields": {}}
        for n in range(count)
    ]  # fmt: skip
    session.execute(insert(Recipient), rows)
    session.commit()
    return people.id


def plan_reports(campaign_id: int, batches: dict[int, str], recipients: int):
    """Every recipient's reports, shuffled and signed; and each recipient's final status."""
    rng = random.Random(14)
    finals: dict[str, str] = {}
    reports = []
    for n in range(recipients):
        msisdn = f"45{20_000_000 + n}"
        batch = 1 + n // 10_000
        final = rng.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
        finals[msisdn] = final
        stale = rng.choice([("BUFFERED", 300), (final, 200)])
        for status, at in [("ENROUTE", 100), (final, 200), stale]:
            reports.append(
                {"id": int(batches[batch]), "msisdn": int(msisdn), "time": 1_764_000_000 + at,
                 "status": status, "error": None, "code": None,
                 "userref": f"campaign-{campaign_id}-batch-{batch}", "country_code": "DK",
                 "country_prefix": 45, "charge_status": "CAPTURED"}
            )  # fmt: skip
    rng.shuffle(reports)
    signed = [(json.dumps(r).encode(), sign_delivery_report(r, WEBHOOK_SECRET)) for r in reports]
    return signed, finals


def start_gunicorn(url: str, port: int, app: str = "app:app") -> subprocess.Popen:
    """gunicorn exactly as scripts/start runs it, on this database (``app``: the floor's)."""
    env = dict(
        os.environ,
        DATABASE_URL=url,
        SECRET_KEY=SECRET_KEY,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        WORKER="none",
    )
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "--workers", "1", "--threads", "8",
        "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--log-level", "info", app,
    ]  # fmt: skip
    folder = ROOT if app == "app:app" else ROOT / "bench"
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def post_all(port: int, path: str, signed, senders: int) -> tuple[float, dict[int, int]]:
    local = threading.local()
    codes: dict[int, int] = {}
    lock = threading.Lock()

    def post(item) -> None:
        body, signature = item
        for _ in range(3):  # a dropped keep-alive connection is reopened, the report resent
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection("127.0.0.1", port)
            try:
                connection.request(
                    "POST",
                    path,
                    body=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
                response = connection.getresponse()
                response.read()
                status = response.status
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                local.connection = None
        else:
            status = 0  # never answered
        with lock:
            codes[status] = codes.get(status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(post, signed, chunksize=64))
    return time.perf_counter() - started, codes


def count_stored(url: str, campaign_id: int, finals: dict[str, str]) -> dict:
    app = bench_app(url)
    with app.app_context():
        stored = dict(db.session.execute(select(R.msisdn, R.delivery_status)).all())
        history = db.session.scalar(select(func.count()).select_from(DeliveryReport))
        summary = delivery_summary(db.session, db.session.get(Campaign, campaign_id))
        wrong = sum(1 for msisdn, final in finals.items() if stored.get(msisdn) != final)
        return {
            "recipients with their final status": len(finals) - wrong,
            "recipients wrong or missing": wrong,
            "reports in the history": history,
            "counted delivered": summary.delivered,
            "counted failed": summary.failed,
            "counted awaiting": summary.awaiting,
        }


R = CampaignRecipient


def main() -> None:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    print(f"database: {url.split('@')[-1]}; {args.recipients:,} recipients")
    campaign_id, batches = build(folder, url, args.recipients)
    signed, finals = plan_reports(campaign_id, batches, args.recipients)
    port = args.port or _free_port()
    server = start_gunicorn(url, port)
    try:
        path = "/webhooks/delivery-reports"
        seconds, codes = post_all(port, path, signed, args.senders)
    finally:
        server.terminate()
        server.wait(timeout=30)
    floor_port = _free_port()
    floor = start_gunicorn(url, floor_port, app="floor_app:app")
    try:
        floor_seconds, _ = post_all(floor_port, path, signed, args.senders)
    finally:
        floor.terminate()
        floor.wait(timeout=30)
    rate = len(signed) / seconds
    floor_rate = len(signed) / floor_seconds
    print(f"posted {len(signed):,} reports with {args.senders} senders in {seconds:.1f} s")
    print(f"  {rate:,.0f} reports/second (goal {GOAL:,}); answers: {codes}")
    print(
        f"  floor (bench/floor_app.py: a bare Flask endpoint, same gunicorn and senders): "
        f"{floor_rate:,.0f} posts/second; the webhook does {rate / floor_rate:.2f} of it"
    )
    stored = count_stored(url, campaign_id, finals)
    for name, value in stored.items():
        print(f"  {name}: {value:,}")
    lost = len(signed) - stored["reports in the history"]
    good = rate >= GOAL and lost == 0 and not stored["recipients wrong or missing"]
    print(f"  lost: {lost:,}; {'OK' if good else 'BELOW GOAL'}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
