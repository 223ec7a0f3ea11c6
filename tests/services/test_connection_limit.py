"""With REDIS_URL the gateway's connection limit holds across processes: a Redis semaphore whose
slots expire when their holder dies. Runs with TEST_REDIS_URL (skipped with the reason without)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from helpers import confirmed_campaign_of, gateway_client, poll

from webapp.connection_limit import ConnectionSemaphore, LimitedClient
from webapp.extensions import db
from webapp.services import dispatch

REDIS_URL = os.environ.get("TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="TEST_REDIS_URL is not set: the cross-process limit needs Redis"
)


def semaphore(key: str, limit: int, **options) -> ConnectionSemaphore:
    import redis

    return ConnectionSemaphore(redis.Redis.from_url(REDIS_URL), key, limit, **options)


def test_the_limit_holds_across_holders_of_separate_connections():
    key = f"test-sem-{uuid.uuid4().hex}"
    processes = [semaphore(key, 3), semaphore(key, 3)]  # as two processes would
    lock = threading.Lock()
    holding = [0, 0]  # now, peak

    def work(sem):
        for _ in range(5):
            with sem.slot():
                with lock:
                    holding[0] += 1
                    holding[1] = max(holding[1], holding[0])
                threading.Event().wait(0.01)
                with lock:
                    holding[0] -= 1

    threads = [threading.Thread(target=work, args=(processes[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert holding[1] == 3


def test_the_slot_of_a_holder_that_died_frees_itself():
    key = f"test-sem-{uuid.uuid4().hex}"
    dead = semaphore(key, 1, lease_seconds=0.3)
    assert dead.try_acquire() is not None  # and never released: the process was killed
    alive = semaphore(key, 1, lease_seconds=0.3)
    assert alive.try_acquire() is None
    poll(alive.try_acquire, timeout=5, what="the dead holder's lease to expire")


def test_two_campaigns_sending_at_once_stay_within_the_total(app, sender, sandbox):
    key = f"test-sem-{uuid.uuid4().hex}"
    sandbox.config.latency_seconds = 0.05
    ids = [
        confirmed_campaign_of(
            db.session, sandbox, name=name, count=40, batch_size=5, user=sender
        ).id
        for name in ("First", "Second")
    ]
    sandbox.stats.reset_peak()
    outcomes = []

    def send(campaign_id):
        with app.app_context():
            client = LimitedClient(gateway_client(sandbox, max_connections=2), semaphore(key, 2))
            outcomes.append(
                dispatch.dispatch_campaign(db.session, campaign_id, client, max_connections=2)
            )
            db.session.remove()

    threads = [threading.Thread(target=send, args=(campaign_id,)) for campaign_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["done", "done"]
    assert sandbox.stats.peak_in_flight <= 2  # each process alone would allow 2: 4 in all
    assert sandbox.store.count_received() == 80
