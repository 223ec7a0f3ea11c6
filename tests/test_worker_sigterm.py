"""SIGTERM to `flask worker` (what systemd and container platforms send) mid-dispatch: it stops
claiming batches, lets the requests in flight finish and records their answers, releases the
campaign, and a restarted worker carries on: every recipient exactly once, none unconfirmed."""

from __future__ import annotations

import signal
from pathlib import Path

from helpers import confirmed_campaign_of, poll, start_flask_worker
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Batch, BatchState, Campaign, CampaignStatus

ROOT = Path(__file__).resolve().parent.parent
LABEL = "Sigterm"


def start_worker(app, sandbox, log: Path):
    return start_flask_worker(app, sandbox, log)


def batches_in(app, campaign_id: int, state: BatchState) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).where(Batch.campaign_id == campaign_id, Batch.state == state)
        )


def test_sigterm_lets_requests_in_flight_finish_and_a_restart_carries_on(
    app, sandbox, jobs, tmp_path
):
    app.config["SMS_MAX_CONNECTIONS"] = 2
    with app.app_context():
        campaign_id = confirmed_campaign_of(
            db.session, sandbox, name=LABEL, count=60, batch_size=5
        ).id
    sandbox.config.latency_seconds = 1.0  # each request takes a second: some are in flight
    jobs.dispatch_campaign(campaign_id)
    log = tmp_path / "worker.log"
    worker = start_worker(app, sandbox, log)
    try:
        poll(
            lambda: batches_in(app, campaign_id, BatchState.SENT) >= 2,
            timeout=60,
            what="the first batches to be sent",
        )
        poll(
            lambda: batches_in(app, campaign_id, BatchState.SENDING) >= 1,
            timeout=10,
            what="a request in flight",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    stopped_with = (
        batches_in(app, campaign_id, BatchState.SENT),
        sandbox.store.count_received(label=LABEL),
    )
    assert batches_in(app, campaign_id, BatchState.SENDING) == 0  # in flight: answered, recorded
    assert batches_in(app, campaign_id, BatchState.UNCONFIRMED) == 0
    assert stopped_with[1] == 5 * stopped_with[0] < 60  # stopped early; every sent one recorded
    with app.app_context():
        stopped = db.session.get(Campaign, campaign_id)
        assert stopped.lease_owner is None and stopped.status == CampaignStatus.SENDING

    sandbox.config.latency_seconds = 0.0
    restarted = start_worker(app, sandbox, log)  # picks up the job the stopping worker left
    try:
        poll(
            lambda: batches_in(app, campaign_id, BatchState.SENT) == 12,
            timeout=60,
            what="the restarted worker to finish the campaign",
        )
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
    numbers = [row["msisdn"] for row in sandbox.store.received_for(label=LABEL)]
    print(
        f"\nSIGTERM: {stopped_with[1]} accepted at the stop; in total {len(numbers)} accepted, "
        f"{len(set(numbers))} unique"
    )
    assert len(numbers) == 60 and len(set(numbers)) == 60
