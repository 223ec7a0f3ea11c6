"""Background jobs: thin wrappers that run a service inside an app context.

The queue is Huey: SQLite storage in ``instance/`` and an in-process consumer thread by default;
with ``REDIS_URL`` set, Redis storage and ``flask worker`` processes. Jobs only carry ids; the
database is the truth, so a job that runs twice or after a crash finds the state and carries on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from webapp.extensions import db
from webapp.services.delivery import webhook_path_token

log = logging.getLogger(__name__)

JOBS: dict[str, Callable] = {}


def job(function: Callable) -> Callable:
    """Register ``function`` as a background job under its own name."""
    JOBS[function.__name__] = function
    return function


class InProcessConsumer(Consumer):
    """A Huey consumer started from a web server's thread: the server owns the signals (Huey's
    own handlers can only be installed from the main thread), and its threads are daemons."""

    def _set_signal_handlers(self):
        if threading.current_thread() is threading.main_thread():
            super()._set_signal_handlers()


class JobQueue:
    """The app's Huey instance with every job registered on it."""

    def __init__(self, app: Flask):
        self.app = app
        self.huey = _make_huey(app)
        self.tasks = {name: self._register(name, function) for name, function in JOBS.items()}
        self.huey.periodic_task(crontab(minute="*"), name="every_minute")(
            self._in_context(lambda: JOBS["send_due_campaigns"]())
        )
        self.huey.periodic_task(crontab(minute="*/15"), name="every_quarter_hour")(
            self._in_context(lambda: JOBS["discard_abandoned_uploads"]())
        )
        self.consumer = None
        self._consumer_lock = threading.Lock()

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

    def import_list(self, import_id: int):
        return self._enqueue("import_list", import_id)

    def send_due_campaigns(self):
        """What the every-minute task runs, queued now."""
        return self._enqueue("send_due_campaigns")

    def start_consumer(self, workers: int = 2) -> None:
        """Run jobs in threads of this process (the embedded default); idempotent."""
        with self._consumer_lock:
            if self.consumer is None:
                # Poll at least every second, so a confirmed campaign starts without a wait.
                self.consumer = InProcessConsumer(
                    self.huey, workers=workers, worker_type="thread", max_delay=1.0
                )
                self.consumer.start()

    def stop_consumer(self) -> None:
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
            self.consumer = None

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

    config = current_app.config
    outcome = dispatch.dispatch_campaign(
        db.session,
        campaign_id,
        current_app.extensions["gateway"].client(),
        max_connections=config["SMS_MAX_CONNECTIONS"],
        callback_url=delivery_report_url(current_app),
        retry_base_seconds=config["SMS_RETRY_BASE_SECONDS"],
    )
    log.info("campaign %s: dispatch ended: %s", campaign_id, outcome)
    return outcome


@job
def send_due_campaigns() -> list[int]:
    """Every minute: start scheduled campaigns whose time has come, and pick up campaigns whose
    worker died (their lease expired)."""
    from flask import current_app

    from webapp.services import dispatch

    due = dispatch.due_campaigns(db.session)
    for campaign_id in due:
        current_app.extensions["jobs"].dispatch_campaign(campaign_id)
    return due


def delivery_report_url(app) -> str | None:
    """Where the gateway posts delivery reports: ``PUBLIC_URL``, or in sandbox mode the address
    the dashboard was last reached at (the sandbox runs beside it). None when unknown."""
    base = app.config.get("PUBLIC_URL")
    if not base and app.config["SANDBOX_MODE"]:
        base = app.extensions.get("seen_url")
    if not base:
        return None
    token = webhook_path_token(app.config["SECRET_KEY"])
    return f"{base.rstrip('/')}/webhooks/delivery-reports/{token}"


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
def import_list(import_id: int) -> str | None:
    """Import an uploaded CSV into its list (safe to run twice: see services.imports)."""
    from webapp.services import imports

    finished = imports.run_import(db.session, import_id)
    status = finished.status.value if finished is not None else None
    log.info("list import %s: %s", import_id, status)
    return status
