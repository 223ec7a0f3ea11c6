"""Time the main pages, the list search and the counter as a workspace grows (issue 13).

Run by hand:
    .venv/bin/python bench/bench_pages.py [--campaigns 10000] [--lists 200]
        [--recipients 100000] [--requests 20] [--quick]
    .venv/bin/python bench/bench_pages.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Builds a workspace through the services: the big list is a CSV file imported by
`imports.import_file` (so every index and summary the import keeps is there), one small list
and one previewed campaign likewise; the other lists and campaigns are SQL copies of those
(`--lists` lists of 20 recipients, `--campaigns` campaigns, nine in ten of them made to look
sent: done, started over the last two months, with a batch and delivery counts in every shard
as the webhook keeps them, then folded as the quarter-hourly job folds finished campaigns'
counts, unless `--unfolded`). On the big list one draft is
previewed (the preview page), one campaign confirmed (the campaign page before any send) and
one more made to look sent by SQL (`--sent-recipients`, default the big list's size, recipients:
done, every batch sent, 95 % delivered, 3 % undeliverable with an error code, 1 % expired, 1 %
awaiting, two reports of history each, its counts folded), for the campaign page of a sent
campaign with its chart, outcome filters and table; its recipients beyond the big list's are SQL
copies with altered numbers (`--sent-recipients 1000000`). Then each page is
requested through the Flask test client as a signed-in sender, a couple of times to warm up and
then `--requests` times, and p50, p95 and the SQL statements per request are printed
(statements counted by a `before_cursor_execute` listener). `--quick` scales everything down
for a check that the script runs. Goals (on the 2-core machine) are printed beside each row;
the machine is shared, so run it twice and compare: "CPU p50" is this process's own CPU time
per request (the database server's is not in it), steadier than wall time on a busy machine.
Prints; asserts nothing.

WARNING: with a PostgreSQL URL the schema ``public`` of that database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bench_counter import signed_in_client
from bench_dispatch import build_app
from sqlalchemy import case, event, func, insert, literal, select, update

from webapp.extensions import db
from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    DeliveryCount,
    DeliveryOutcome,
    DeliveryReport,
    ListImport,
    Recipient,
    RecipientList,
    RecipientState,
    Role,
    campaign_lists,
    utcnow,
)
from webapp.services import accounts, campaigns, imports
from webapp.services.campaigns import CampaignDraft
from webapp.services.counter import clear_counter_caches
from webapp.services.delivery import COUNT_SHARDS
from webapp.services.preview import preview_campaign
from webapp.services.settled_counts import fold_settled_counts
from webapp.statistics import refresh_statistics

PASSWORD = "correct horse battery"
MESSAGE = "Hi %first_name%, our spring sale starts today: 20% off everything in store. See you!"
FIRST_NAMES = ["Ann", "Karen", "Peter", "Søren", "Åse", "Zoë", "Mikkel", "Ida", "Jürgen", "Li"]
CITIES = ["København", "Aarhus", "Odense", "Aalborg", "Esbjerg", "Randers", "Kolding"]
SMALL_LIST_ROWS = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--recipients", type=int, default=100_000, help="in the big list")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument(
        "--sent-recipients",
        type=int,
        help="recipients of the sent big campaign (default: the big list's size; more are "
        "SQL copies)",
    )
    parser.add_argument(
        "--unfolded",
        action="store_true",
        help="leave finished campaigns' delivery counts in their shards (before the job runs)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 campaigns, 30 lists, 10,000 recipients"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL to use instead of a temporary SQLite file (its schema public "
        "is dropped and recreated)",
    )
    args = parser.parse_args()
    if args.quick:
        args.campaigns, args.lists, args.recipients = 1_000, 30, 10_000
        args.requests = min(args.requests, 10)
    args.sent_recipients = args.sent_recipients or args.recipients
    return args


# --- Building the workspace ----------------------------------------------------------------


def write_csv(path: Path, rows: int, start: int = 20_100_000) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "first_name", "city", "born"])
        for n in range(rows):
            name = FIRST_NAMES[n % len(FIRST_NAMES)] + ("" if n % 3 else "a" * (n % 7))
            writer.writerow([f"+45 {start + n}", name, CITIES[n % len(CITIES)], 1950 + n % 60])
    return path


def import_list(session, folder: Path, name: str, rows: int, user) -> RecipientList:
    path = write_csv(folder / f"{name}.csv", rows)
    finished = imports.import_file(
        session,
        path,
        upload_dir=folder / "uploads",
        default_country="DK",
        list_name=name,
        user=user,
    )
    return session.get(RecipientList, finished.list_id)


def copy_lists(session, template: RecipientList, count: int) -> None:
    """`count` more lists like `template`: the list, its import and its recipients, by SQL."""
    list_table, import_table = RecipientList.__table__, ListImport.__table__
    first_import = session.scalar(select(ListImport).where(ListImport.list_id == template.id))
    recipients = list(
        session.execute(
            select(Recipient.msisdn, Recipient.country, Recipient.line, Recipient.fields).where(
                Recipient.list_id == template.id
            )
        )
    )
    now = utcnow()
    for n in range(count):
        list_id = session.execute(
            insert(list_table).values(
                name=f"Customers {n:04}",
                fields=template.fields,
                recipient_count=template.recipient_count,
                created_at=now - timedelta(minutes=n),
                created_by_id=template.created_by_id,
                hidden=False,
            )
        ).inserted_primary_key[0]
        columns = {
            column.key: getattr(first_import, column.key)
            for column in import_table.columns
            if column.key != "id"
        }
        import_id = session.execute(
            insert(import_table).values({**columns, "list_id": list_id})
        ).inserted_primary_key[0]
        session.execute(
            insert(Recipient.__table__),
            [
                {
                    "list_id": list_id,
                    "import_id": import_id,
                    "msisdn": msisdn,
                    "country": country,
                    "line": line,
                    "fields": fields,
                    "landline": False,
                }
                for msisdn, country, line, fields in recipients
            ],
        )
    session.commit()


def copy_campaigns(session, template: Campaign, count: int) -> None:
    """`count` more campaigns like `template` (a previewed draft), by SQL in chunks."""
    table = Campaign.__table__
    row = session.execute(select(table).where(table.c.id == template.id)).mappings().one()
    values = {key: value for key, value in row.items() if key != "id"}
    list_ids = [lst.id for lst in template.lists]
    now = utcnow()
    for start in range(0, count, 2_000):
        numbers = range(start, min(count, start + 2_000))
        session.execute(
            insert(table),
            [
                {**values, "name": f"Campaign {n:05}", "created_at": now - timedelta(minutes=n)}
                for n in numbers
            ],
        )
    session.flush()
    copies = session.scalars(select(Campaign.id).where(Campaign.id != template.id)).all()
    links = [
        {"campaign_id": campaign_id, "list_id": list_id, "position": 0}
        for campaign_id in copies
        for list_id in list_ids
    ]
    for start in range(0, len(links), 5_000):
        session.execute(insert(campaign_lists), links[start : start + 5_000])
    session.commit()


def mark_sent(session, share: float = 0.9) -> None:
    """Make ``share`` of the copied campaigns look sent, by SQL: done, started every nine
    minutes back from now (10,000 reach two months back), one accepted batch each, and delivery
    counts in every shard for two outcomes, as the webhook leaves them."""
    table = Campaign.__table__
    ids = session.scalars(
        select(Campaign.id).where(Campaign.name.like("Campaign %")).order_by(Campaign.id)
    ).all()
    sent = ids[: int(len(ids) * share)]
    now = utcnow()
    for start in range(0, len(sent), 2_000):
        chunk = sent[start : start + 2_000]
        for n, campaign_id in enumerate(chunk, start=start):
            began = now - timedelta(minutes=9 * n)
            session.execute(
                table.update()
                .where(table.c.id == campaign_id)
                .values(
                    status=CampaignStatus.DONE,
                    started_at=began,
                    finished_at=began + timedelta(minutes=1),
                    sender=("Shop", "Cafe", "News")[n % 3],
                )
            )
        session.execute(
            insert(Batch.__table__),
            [
                {
                    "campaign_id": campaign_id,
                    "number": 1,
                    "state": BatchState.SENT,
                    "size": SMALL_LIST_ROWS,
                    "attempts": 1,
                    "message_id": str(campaign_id),
                    "segments": SMALL_LIST_ROWS,
                    "cost": 3 + n % 7,
                    "currency": "DKK",
                    "finished_at": now - timedelta(minutes=9 * n - 1),
                }
                for n, campaign_id in enumerate(chunk, start=start)
            ],
        )
        session.execute(
            insert(DeliveryCount.__table__),
            [
                {"campaign_id": campaign_id, "outcome": outcome, "shard": shard, "count": 1}
                for n, campaign_id in enumerate(chunk, start=start)
                for outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.UNDELIVERABLE)
                for shard in range(COUNT_SHARDS if outcome.value == "delivered" else n % 5)
            ],
        )
    session.commit()


def grow_campaign(session, campaign: Campaign, total: int) -> None:
    """Copy the campaign's recipients (numbers altered: a digit appended) until it has
    ``total``, in their batches, by SQL (a confirmation's recipients have contiguous ids)."""
    table = CampaignRecipient.__table__
    have = campaign.recipient_count
    columns = ["campaign_id", "batch_id", "msisdn", "country", "fields", "state", "variant"]
    for copy in range(1, -(-total // have)):
        wanted = min(have, total - have * copy)
        first = session.scalar(
            select(func.min(table.c.id)).where(table.c.campaign_id == campaign.id)
        )
        session.execute(
            insert(table).from_select(
                columns,
                select(
                    table.c.campaign_id,
                    table.c.batch_id,
                    table.c.msisdn + literal(str(copy)),
                    table.c.country,
                    table.c.fields,
                    table.c.state,
                    table.c.variant,
                ).where(
                    table.c.campaign_id == campaign.id,
                    table.c.id.between(first, first + wanted - 1),
                ),
            )
        )
        session.commit()
    sizes = session.execute(
        select(table.c.batch_id, func.count())
        .where(table.c.campaign_id == campaign.id)
        .group_by(table.c.batch_id)
    ).all()
    for batch_id, size in sizes:
        session.execute(update(Batch.__table__).where(Batch.id == batch_id).values(size=size))
    campaign.recipient_count = total
    session.commit()


def mark_reported(session, campaign: Campaign) -> None:
    """Make a confirmed campaign look sent and reported, by SQL: every batch sent, its
    recipients' outcomes by id (95 % delivered, 3 % undeliverable with a code, 1 % expired,
    1 % awaiting) over the first hour by minute and then by hour, two reports of history each
    (ENROUTE, then the final one), its counts folded into shard 0 as the job leaves them."""
    table, now = CampaignRecipient.__table__, utcnow()
    began = now - timedelta(hours=3)
    for batch in campaign.batches:
        batch.state, batch.message_id = BatchState.SENT, f"big-{batch.id}"
        batch.segments, batch.cost, batch.currency = batch.size, Decimal(batch.size) / 4, "DKK"
        batch.usage = {"countries": {"DK": batch.size}}
        batch.finished_at, batch.attempts = began, 1
    campaign.status, campaign.started_at, campaign.finished_at = (
        CampaignStatus.DONE,
        began,
        began + timedelta(minutes=2),
    )
    first, last = session.execute(
        select(func.min(table.c.id), func.max(table.c.id)).where(table.c.campaign_id == campaign.id)
    ).one()
    share = table.c.id % 100
    steps = 80  # 60 minutes, then 20 hours
    step = -(-(last - first + 1) // steps)
    for n in range(steps):
        at = began + (timedelta(minutes=n) if n < 60 else timedelta(hours=n - 59))
        session.execute(
            update(table)
            .where(table.c.campaign_id == campaign.id)
            .where(table.c.id.between(first + n * step, first + (n + 1) * step - 1))
            .values(
                state=RecipientState.SENT,
                delivery_status=case(
                    (share < 95, "DELIVERED"),
                    (share < 98, "UNDELIVERABLE"),
                    (share < 99, "EXPIRED"),
                    else_=None,
                ),
                delivery_outcome=case(
                    (share < 95, "delivered"),
                    (share < 98, "undeliverable"),
                    (share < 99, "expired"),
                    else_=None,
                ),
                delivery_code=case((share.between(95, 97), "0x0101"), else_=None),
                delivery_error=case((share.between(95, 97), "Absent subscriber"), else_=None),
                delivery_updated_at=case((share < 99, at), else_=None),
            )
        )
    reports = DeliveryReport.__table__
    report_columns = ["recipient_id", "message_id", "status", "reported_at", "received_at"]
    reported = table.c.campaign_id == campaign.id, table.c.delivery_status.is_not(None)
    enroute = (
        literal("ENROUTE"),
        literal(began, table.c.delivery_updated_at.type),
        literal(began, table.c.delivery_updated_at.type),
    )
    final = (table.c.delivery_status, table.c.delivery_updated_at, table.c.delivery_updated_at)
    for status, reported_at, received_at in (enroute, final):  # two history lines each
        session.execute(
            insert(reports).from_select(
                [*report_columns, "applied"],
                select(
                    table.c.id, literal("big"), status, reported_at, received_at, literal(True)
                ).where(*reported),
            )
        )
    session.execute(
        insert(DeliveryCount.__table__).from_select(
            ["campaign_id", "outcome", "shard", "count"],
            select(table.c.campaign_id, table.c.delivery_outcome, literal(0), func.count())
            .where(table.c.campaign_id == campaign.id, table.c.delivery_outcome.is_not(None))
            .group_by(table.c.campaign_id, table.c.delivery_outcome),
        )
    )
    session.commit()


def draft(session, user, name: str, list_id: int) -> Campaign:
    return campaigns.save_draft(
        session, user, CampaignDraft(name=name, sender="Shop", message=MESSAGE, list_ids=[list_id])
    )


def preview(session, campaign: Campaign, user) -> None:
    preview_campaign(session, campaign, user, None, honours_dry_run=False, batch_size=10_000)


def build_workspace(app, folder: Path, args) -> dict:
    timings = {}
    with app.app_context():
        session = db.session
        user = accounts.create_user(session, "sender@example.com", PASSWORD, Role.SENDER)
        started = time.perf_counter()
        big = import_list(session, folder, "Everyone", args.recipients, user)
        timings["import of the big list"] = time.perf_counter() - started
        small = import_list(session, folder, "Customers", SMALL_LIST_ROWS, user)
        started = time.perf_counter()
        copy_lists(session, small, max(0, args.lists - 2))
        template = draft(session, user, "Spring sale", small.id)
        preview(session, template, user)
        copy_campaigns(session, template, max(0, args.campaigns - 2))
        mark_sent(session)
        timings["copies of lists and campaigns"] = time.perf_counter() - started
        if not args.unfolded:  # as the quarter-hourly job leaves finished campaigns' counts
            started = time.perf_counter()
            fold_settled_counts(session)
            timings["fold of finished campaigns' counts"] = time.perf_counter() - started
        big_draft = draft(session, user, "Everyone, draft", big.id)
        started = time.perf_counter()
        preview(session, big_draft, user)
        timings["preview of the big draft"] = time.perf_counter() - started
        sent = draft(session, user, "Everyone, confirmed", big.id)
        preview(session, sent, user)
        started = time.perf_counter()
        campaigns.confirm_campaign(session, sent, user, batch_size=10_000)
        timings["confirmation of the big campaign"] = time.perf_counter() - started
        done = draft(session, user, "Everyone, sent", big.id)
        preview(session, done, user)
        campaigns.confirm_campaign(session, done, user, batch_size=10_000, allow_duplicate=True)
        started = time.perf_counter()
        if args.sent_recipients > done.recipient_count:
            grow_campaign(session, done, args.sent_recipients)
        mark_reported(session, done)
        timings[f"sent campaign of {args.sent_recipients:,}, by SQL"] = (
            time.perf_counter() - started
        )
        ids = {"big_list": big.id, "draft": big_draft.id, "sent": sent.id, "done": done.id}
        started = time.perf_counter()
        settle_statistics(session)
        timings["statistics, as autovacuum leaves them"] = time.perf_counter() - started
    for label, seconds in timings.items():
        print(f"  {label:<40} {seconds:7.2f} s")
    return ids


def settle_statistics(session) -> None:
    """What the database knows of the rows the SQL copies wrote, as it would by the time anyone
    looks: PostgreSQL's autovacuum analyses and vacuums a table soon after it changed this
    much (without it, plans are made for the tables as they were, and an index-only scan reads
    the rows too); SQLite analyses as ``PRAGMA optimize`` does when a connection closes."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        refresh_statistics(session)  # as the app does after its own bulk changes
        return
    session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "VACUUM ANALYZE"
        )  # autovacuum's: VACUUM sets the visibility map too


# --- Timing the pages ----------------------------------------------------------------------


class StatementCounter:
    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.count += 1


def pages(ids: dict, args) -> list[tuple[str, str, str, float]]:
    """(label, method, path, goal in ms) of each row of the issue's table."""
    last = max(1, -(-args.campaigns // 50))
    week_ago = (utcnow() - timedelta(days=7)).date().isoformat()
    big, draft_id, sent, done = ids["big_list"], ids["draft"], ids["sent"], ids["done"]
    many = f"{args.sent_recipients:,}"
    return [
        ("floor: /account", "GET", "/account", 0),
        ("home page", "GET", "/", 100),
        ("campaigns list, page 1", "GET", "/campaigns/", 50),
        (f"campaigns list, page {last}", "GET", f"/campaigns/?page={last}", 50),
        ("campaigns list, by sent at", "GET", "/campaigns/?sort=-sent", 50),
        ("campaigns list, by delivery rate", "GET", "/campaigns/?sort=-rate", 50),
        ("campaigns list, by cost", "GET", "/campaigns/?sort=-cost", 50),
        ("campaigns list, rate, last page", "GET", f"/campaigns/?sort=rate&page={last}", 50),
        (
            "campaigns list, status+sender+dates",
            "GET",
            f"/campaigns/?status=done&sender=Cafe&sent_from={week_ago}&sort=-rate",
            50,
        ),
        ("campaigns list, search q=spring", "GET", "/campaigns/?q=spring", 50),
        (f"lists list ({args.lists} lists)", "GET", "/lists/", 50),
        ("preview page, big draft", "GET", f"/campaigns/{draft_id}/preview", 100),
        ("list page, big list", "GET", f"/lists/{big}", 50),
        ("list search q=Jürgen", "HX", f"/lists/{big}/recipients?q=J%C3%BCrgen", 50),
        ("list search q=2005", "HX", f"/lists/{big}/recipients?q=2005", 50),
        ("campaign page, big confirmed", "GET", f"/campaigns/{sent}", 50),
        (f"campaign page, sent to {many}", "GET", f"/campaigns/{done}", 50),
        ("  its outcomes, failed", "HX", f"/campaigns/{done}/outcomes?outcome=failed", 100),
        ("  its outcomes, reason 0x0101", "HX", f"/campaigns/{done}/outcomes?reason=0x0101", 100),
        ("  its outcomes, last page", "HX", f"/campaigns/{done}/outcomes?page=100000", 100),
        ("  its results (the live fragment)", "HX", f"/campaigns/{done}/results", 100),
        ("counter, new message each keystroke", "COUNTER", "/compose/counter", 25),
    ]


def time_page(client, headers, counter, method, path, requests, big_list) -> tuple[list, ...]:
    timings, cpu, statements = [], [], []
    for n in range(requests + 2):  # two to warm up
        before = counter.count
        started, cpu_started = time.perf_counter(), time.process_time()
        if method == "COUNTER":
            form = {"message": f"{MESSAGE} {n}", "encoding": "auto", "list_ids": str(big_list)}
            response = client.post(path, data=form, headers=headers)
        elif method == "HX":
            response = client.get(path, headers=headers)
        else:
            response = client.get(path)  # the full page, as a browser asks for it
        elapsed = (time.perf_counter() - started) * 1000
        cpu_elapsed = (time.process_time() - cpu_started) * 1000
        assert response.status_code == 200, (path, response.status_code)
        if n >= 2:
            timings.append(elapsed)
            cpu.append(cpu_elapsed)
            statements.append(counter.count - before)
    return timings, cpu, statements


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * share) - 1)]


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        app = build_app(folder, args.database_url)
        dialect = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        print(
            f"Workspace on {dialect}: {args.campaigns:,} campaigns, {args.lists} lists, "
            f"one list of {args.recipients:,} recipients"
        )
        ids = build_workspace(app, folder, args)
        with app.app_context():
            counter = StatementCounter(db.engine)
        clear_counter_caches()
        client, headers = signed_in_client(app)
        print(
            f"\n{'page':<40} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8} {'SQL':>5} {'bytes':>9}"
            "  goal (p95)"
        )
        for label, method, path, goal in pages(ids, args):
            requests = args.requests * 5 if method == "COUNTER" else args.requests
            timings, cpu, statements = time_page(
                client, headers, counter, method, path, requests, ids["big_list"]
            )
            size = len(client.get(path).data) if method == "GET" else 0
            p95 = percentile(timings, 0.95)
            met = "met" if p95 < goal else "MISSED"
            verdict = f"under {goal:.0f} ms: {met}" if goal else ""
            sql = f"{min(statements)}" + ("" if min(statements) == max(statements) else "+")
            print(
                f"{label:<40} {statistics.median(timings):8.1f} {p95:8.1f}"
                f" {statistics.median(cpu):8.1f} {sql:>5}"
                f" {size:>9,}  {verdict}"
            )
        app.extensions["gateway"].close()
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
