"""Background jobs: thin wrappers that run a service inside an app context.

The queue is Huey: SQLite storage in ``instance/`` and an in-process consumer thread by default;
with ``REDIS_URL`` set, Redis storage and ``flask worker`` processes. Jobs only carry ids; the
database is the truth, so a job that runs twice or after a crash finds the state and carries on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from webapp.addresses import delivery_report_url
from webapp.extensions import db

log = logging.getLogger(__name__)

JOBS: dict[str, Callable] = {}


def job(function: Callable) -> Callable:
    """Register ``function`` as a background job under its own name."""
    JOBS[function.__name__] = function
    return function


class StoppingConsumer(Consumer):
    """A Huey consumer whose graceful stop tells running jobs first (``JobQueue.stopping``): a
    dispatch then claims no more batches, lets its requests in flight finish within the grace
    and releases its campaign for another worker. ``flask worker`` stops so on SIGTERM."""

    def __init__(self, huey, stopping: threading.Event, on_ready=None, **options):
        self.stopping = stopping
        self.on_ready = on_ready
        super().__init__(huey, **options)

    def _set_signal_handlers(self):
        """Huey installs its handlers last in ``start``; only from then on does SIGTERM stop
        gracefully, so that is when the worker says it is ready (what a supervisor waits for)."""
        super()._set_signal_handlers()
        if self.on_ready is not None:
            self.on_ready()

    def stop(self, graceful=False):
        self.stop_flag.set()  # no job is taken from the queue any more, then running ones hear
        self.stopping.set()
        super().stop(graceful=graceful)


class InProcessConsumer(StoppingConsumer):
    """A consumer started inside a web server (or a command): the server owns the signals, so
    Huey installs none (gunicorn's SIGTERM must still reach gunicorn), and its threads are
    daemons. The server stops it (gunicorn.conf.py's worker_exit)."""

    def _set_signal_handlers(self):
        pass


class JobQueue:
    """The app's Huey instance with every job registered on it."""

    def __init__(self, app: Flask):
        self.app = app
        self.huey = _make_huey(app)
        self.tasks = {name: self._register(name, function) for name, function in JOBS.items()}
        self.huey.periodic_task(crontab(minute="*"), name="every_minute")(
            self._in_context(
                lambda: (
                    JOBS["send_due_campaigns"](),
                    JOBS["reconcile_batches"](),
                    JOBS["poll_delivery_reports"](),
                )
            )
        )
        self.huey.periodic_task(crontab(minute="*/15"), name="every_quarter_hour")(
            self._in_context(
                lambda: (JOBS["discard_abandoned_uploads"](), JOBS["fold_settled_counts"]())
            )
        )
        self.consumer = None
        self._consumer_lock = threading.Lock()
        self.stopping = threading.Event()  # set while this process's consumer shuts down

    def _in_context(self, function: Callable) -> Callable:
        app = self.app

        def run(*args):
            with app.app_context():
                try:
                    return function(*args)
                finally:
                    db.session.remove()

        return run

    def _register(self, name: str, function: Callable):
        return self.huey.task(name=name)(self._in_context(function))

    def _enqueue(self, name: str, *args, eta=None):
        task = self.tasks[name]
        return task.schedule(args=args, eta=eta) if eta is not None else task(*args)

    # One typed method per job, so a caller cannot misspell a job's name or its arguments.

    def dispatch_campaign(self, campaign_id: int, *, eta: datetime | None = None):
        """Send a confirmed campaign now, or at ``eta`` (a scheduled send)."""
        return self._enqueue("dispatch_campaign", campaign_id, eta=eta)

    def probe_gateway(self, campaign_id: int, delay: float):
        """Ask in ``delay`` seconds whether the gateway answers again (an outage pause)."""
        eta = datetime.now(UTC) + timedelta(seconds=delay)
        return self._enqueue("probe_gateway", campaign_id, delay, eta=eta)

    def import_list(self, import_id: int):
        return self._enqueue("import_list", import_id)

    def send_reply_confirmation(self, reply_id: int):
        """Answer a STOP reply with the workspace's confirmation (once)."""
        return self._enqueue("send_reply_confirmation", reply_id)

    def notify_approvers(self, campaign_id: int):
        """Mail a campaign's request for approval (only with APPROVAL_NOTIFY_EMAIL set)."""
        from webapp.notify import notify_addresses

        if not notify_addresses(self.app):
            return None
        return self._enqueue("notify_approvers", campaign_id)

    def send_due_campaigns(self):
        """What the every-minute task runs, queued now."""
        return self._enqueue("send_due_campaigns")

    def poll_delivery_reports(self):
        """Ask the gateway for the statuses of sent batches that are due (DELIVERY_REPORTS=poll;
        the every-minute task runs it too)."""
        return self._enqueue("poll_delivery_reports")

    def start_consumer(self, workers: int = 2) -> None:
        """Run jobs in threads of this process (the embedded default); idempotent."""
        with self._consumer_lock:
            if self.consumer is None:
                self.stopping.clear()
                self.consumer = InProcessConsumer(self.huey, **self.consumer_options(workers))
                self.consumer.start()

    def consumer_options(self, workers: int) -> dict:
        """Poll at least every second, so a confirmed campaign starts without a wait; SIGTERM
        stops gracefully, waiting the stop grace (and a little) for running jobs."""
        return {
            "stopping": self.stopping,
            "workers": workers,
            "worker_type": "thread",
            "max_delay": 1.0,
            "graceful_signal": "TERM",
            "shutdown_timeout": self.app.config["STOP_GRACE_SECONDS"] + 10,
        }

    def create_worker_consumer(self, workers: int, on_ready=None) -> StoppingConsumer:
        """The consumer of ``flask worker``, run in the main thread with its signal handlers;
        ``on_ready`` is called once they are installed."""
        return StoppingConsumer(self.huey, on_ready=on_ready, **self.consumer_options(workers))

    def start_background_work(self) -> None:
        """What a serving process starts with (gunicorn's post_worker_init in gunicorn.conf.py):
        the in-process worker, then at once the sweep that picks up campaigns whose worker died
        and scheduled ones that are due, instead of waiting for the first request or minute."""
        if self.app.config["WORKER"] != "thread":
            return
        self.start_consumer()
        self.send_due_campaigns()

    def stop_consumer(self) -> None:
        """Stop the in-process consumer gracefully (running dispatches hand their campaign on);
        once it has stopped, jobs run in this process (``run_pending``) are not stopping."""
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
            self.consumer = None
            self.stopping.clear()

    def run_pending(self, limit: int = 1000) -> int:
        """Run the queued jobs now, in this thread: how tests drive the worker synchronously."""
        done = 0
        while done < limit:
            task = self.huey.dequeue()
            if task is None:
                return done
            self.huey.execute(task)
            done += 1
        return done


def _make_huey(app: Flask) -> Huey:
    name = app.config["HUEY_NAME"]
    if app.config.get("REDIS_URL"):
        return RedisHuey(name, url=app.config["REDIS_URL"], utc=True)
    path = Path(app.instance_path) / "huey.sqlite3"
    return SqliteHuey(name, filename=str(path), utc=True)


def init_jobs(app: Flask) -> JobQueue:
    queue = JobQueue(app)
    app.extensions["jobs"] = queue
    return queue


# --- The jobs ------------------------------------------------------------------------------


@job
def dispatch_campaign(campaign_id: int) -> str:
    """Send a confirmed campaign's pending batches (safe to run twice: see services.dispatch)."""
    from flask import current_app

    from webapp.services import dispatch
    from webapp.services.quiet_hours import quiet_hours

    config = current_app.config
    outcome = dispatch.dispatch_campaign(
        db.session,
        campaign_id,
        current_app.extensions["gateway"].client(),
        max_connections=config["SMS_MAX_CONNECTIONS"],
        callback_url=delivery_report_url(current_app),
        retry_base_seconds=config["SMS_RETRY_BASE_SECONDS"],
        link_secret=config["SECRET_KEY"],
        quiet_hours=quiet_hours(db.session, config),
        stopping=current_app.extensions["jobs"].stopping,
        stop_grace_seconds=config["STOP_GRACE_SECONDS"],
    )
    log.info("campaign %s: dispatch ended: %s", campaign_id, outcome)
    jobs = current_app.extensions["jobs"]
    if outcome == "stopped":  # this process is stopping: another worker (or its restart) goes on
        jobs.dispatch_campaign(campaign_id)
    elif outcome == "paused" and _paused_by_outage(campaign_id):
        jobs.probe_gateway(campaign_id, PROBE_FIRST_SECONDS)
    return outcome


PROBE_FIRST_SECONDS = 5.0
PROBE_MAX_SECONDS = 300.0  # the wait between probes doubles up to this


def _paused_by_outage(campaign_id: int) -> bool:
    from webapp.models import Campaign

    campaign = db.session.get(Campaign, campaign_id)
    return campaign is not None and campaign.outage_since is not None


@job
def probe_gateway(campaign_id: int, delay: float) -> str:
    """While a campaign is paused by an outage: resume it once the gateway answers, probing
    with a doubling wait, for up to SMS_OUTAGE_RESUME_MINUTES; then it stays paused."""
    from flask import current_app

    from webapp.models import Campaign
    from webapp.services import dispatch

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return "missing"
    outcome = dispatch.probe_after_outage(
        db.session,
        campaign,
        current_app.extensions["gateway"].client(),
        give_up_after=timedelta(minutes=current_app.config["SMS_OUTAGE_RESUME_MINUTES"]),
    )
    jobs = current_app.extensions["jobs"]
    if outcome == "resumed":
        jobs.dispatch_campaign(campaign_id)
    elif outcome == "still out":
        jobs.probe_gateway(campaign_id, min(PROBE_MAX_SECONDS, delay * 2))
    log.info("campaign %s: gateway probe: %s", campaign_id, outcome)
    return outcome


@job
def send_due_campaigns() -> list[int]:
    """Every minute (and when a server starts): send the winners of A/B tests whose time has
    come, start scheduled campaigns whose time has come, pick up campaigns whose worker died
    (their lease expired), and restart imports whose worker died (no heartbeat for a minute)."""
    from flask import current_app

    from webapp.services import abtests, dispatch, imports

    jobs = current_app.extensions["jobs"]
    for campaign_id in abtests.send_due_winners(db.session):  # dispatched as due just below
        log.info("campaign %s: the A/B test's winner goes to the held-back recipients", campaign_id)
    due = dispatch.due_campaigns(db.session)
    for campaign_id in due:
        jobs.dispatch_campaign(campaign_id)
    for import_id in imports.restart_stalled_imports(db.session):
        log.warning("list import %s: its worker stopped; restarted from the start", import_id)
        jobs.import_list(import_id)
    return due


@job
def reconcile_batches() -> int:
    """Every minute: confirm unconfirmed batches that delivery reports prove were accepted."""
    from webapp.services.reconcile import reconcile_unconfirmed

    confirmed = reconcile_unconfirmed(db.session)
    for item in confirmed:
        log.info("campaign %s: batch %s confirmed by %s reports", *vars(item).values())
    return len(confirmed)


def poll_schedule(app):
    """The polling schedule of ``DELIVERY_REPORTS=poll``, from configuration."""
    from webapp.services.polling import PollSchedule

    config = app.config
    return PollSchedule(
        first=timedelta(seconds=config["DELIVERY_POLL_FIRST_SECONDS"]),
        longest=timedelta(seconds=config["DELIVERY_POLL_MAX_SECONDS"]),
        validity=timedelta(hours=config["SMS_VALIDITY_HOURS"]),
    )


@job
def poll_delivery_reports() -> int:
    """Every minute with DELIVERY_REPORTS=poll: ask the gateway for the statuses of sent
    batches whose next poll is due, and record them as delivery reports."""
    from flask import current_app

    from webapp.services.delivery import FailureGuard
    from webapp.services.polling import poll_delivery_reports as poll

    config = current_app.config
    if config["DELIVERY_REPORTS"] != "poll":
        return 0
    done = poll(
        db.session,
        current_app.extensions["gateway"].client(),
        schedule=poll_schedule(current_app),
        guard=FailureGuard(config["PAUSE_FAILED_PERCENT"], config["PAUSE_AFTER_REPORTS"]),
    )
    if done.batches:
        log.info(
            "polled %s batches: %s statuses recorded, %s gateway errors, %s batches done",
            done.batches,
            done.recorded,
            done.errors,
            done.ended,
        )
    return done.recorded


@job
def send_reply_confirmation(reply_id: int) -> str | None:
    """Send a STOP reply's confirmation through the gateway (safe to run twice: see
    services.replies.send_confirmation)."""
    from flask import current_app

    from webapp.services import replies

    words = replies.reply_words(db.session, current_app.config)
    if not words.confirmation:
        return None
    return replies.send_confirmation(
        db.session, reply_id, current_app.extensions["gateway"].client(), words.confirmation
    )


@job
def notify_approvers(campaign_id: int) -> int:
    """Mail that a campaign waits for approval (nothing once it no longer waits)."""
    from flask import current_app

    from webapp.models import Campaign
    from webapp.notify import mail_approval_request
    from webapp.services.approval import approval_reasons

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaign.status.awaits_approval:
        return 0
    return mail_approval_request(current_app, campaign, approval_reasons(db.session, campaign))


@job
def discard_abandoned_uploads() -> int:
    """Every quarter of an hour: remove uploads not mapped within ABANDONED_UPLOAD_HOURS."""
    from datetime import timedelta

    from flask import current_app

    from webapp.services import imports

    hours = current_app.config["ABANDONED_UPLOAD_HOURS"]
    discarded = imports.discard_abandoned_uploads(db.session, timedelta(hours=hours))
    if discarded:
        log.info("discarded %s uploads not mapped within %s hours", discarded, hours)
    return discarded


@job
def fold_settled_counts() -> int:
    """Every quarter of an hour: fold finished campaigns' delivery counts into one row per
    outcome (see services.settled_counts)."""
    from webapp.services.settled_counts import fold_settled_counts as fold

    folded = fold(db.session)
    if folded:
        log.info("folded %s delivery count rows of finished campaigns", folded)
    return folded


@job
def import_list(import_id: int) -> str | None:
    """Import an uploaded CSV into its list (safe to run twice: see services.imports)."""
    from webapp.services import imports

    finished = imports.run_import(db.session, import_id)
    status = finished.status.value if finished is not None else None
    log.info("list import %s: %s", import_id, status)
    return status
