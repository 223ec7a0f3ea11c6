"""The scale-out proof: PostgreSQL, Redis, the sandbox and two `flask worker` processes send a
50,000-recipient campaign exactly once, even with one worker killed (SIGKILL) and the other
stopped (SIGTERM) mid-dispatch and both restarted. Needs TEST_DATABASE_URL on PostgreSQL and
TEST_REDIS_URL; skipped with the reason otherwise (`.ci/run` runs it in its PostgreSQL pass)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helpers import confirmed_campaign_of, poll, start_flask_worker
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Batch, BatchState, Campaign, CampaignStatus

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 50_000
BATCH = 1_000
LABEL = "Scale-out"

pytestmark = pytest.mark.skipif(
    not (
        os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
        and os.environ.get("TEST_REDIS_URL")
    ),
    reason="the scale-out proof needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL",
)


def start_worker(app, sandbox, log: Path):
    return start_flask_worker(app, sandbox, log, SMS_MAX_CONNECTIONS=4)


def batches(app, campaign_id: int) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Batch.state, func.count())
            .where(Batch.campaign_id == campaign_id)
            .group_by(Batch.state)
        )
        return {state.value: count for state, count in rows}


def test_two_workers_killed_and_stopped_mid_dispatch_send_each_recipient_once(
    app, sandbox, jobs, tmp_path
):
    with app.app_context():
        campaign_id = confirmed_campaign_of(
            db.session, sandbox, name=LABEL, count=RECIPIENTS, batch_size=BATCH
        ).id
    sandbox.config.latency_seconds = 0.3  # requests stay in flight long enough to be cut
    jobs.dispatch_campaign(campaign_id)
    log = tmp_path / "workers.log"
    first, second = start_worker(app, sandbox, log), start_worker(app, sandbox, log)
    try:
        poll(
            lambda: batches(app, campaign_id).get("sent", 0) >= 5,
            timeout=120,
            what="the first batches",
        )
        in_flight_at_kill = batches(app, campaign_id).get("sending", 0)
        first.send_signal(signal.SIGKILL)
        second.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        second.wait(timeout=60)
        at_stop = sandbox.store.count_received(label=LABEL)
        first, second = start_worker(app, sandbox, log), start_worker(app, sandbox, log)
        sandbox.config.latency_seconds = 0.0

        def finished():
            with app.app_context():
                db.session.expire_all()
                return db.session.get(Campaign, campaign_id).status == CampaignStatus.DONE

        poll(finished, timeout=300, every=0.5, what="the restarted workers to finish")
    finally:
        for worker in (first, second):
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
    numbers = [row["msisdn"] for row in sandbox.store.received_for(label=LABEL)]
    states = batches(app, campaign_id)
    print(
        f"\nscale-out: {at_stop} accepted at the kill/stop, {in_flight_at_kill} batches in flight;"
        f" in the end {len(numbers)} accepted, {len(set(numbers))} unique; batches {states}"
    )
    assert len(numbers) == len(set(numbers))  # exactly once
    unconfirmed = states.get(BatchState.UNCONFIRMED.value, 0)
    assert unconfirmed <= 4  # only what was in flight in the killed worker (4 connections)
    assert states.get("sent", 0) * BATCH + unconfirmed * BATCH == RECIPIENTS
    assert len(numbers) >= states.get("sent", 0) * BATCH
