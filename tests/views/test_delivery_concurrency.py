"""Delivery reports posted in parallel to the webhook of a real server on loopback: the ordering
rule and the counts hold under concurrency, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from helpers import danish_numbers, gateway_client, sent_campaign

from webapp.extensions import db
from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report
from webapp.models import Campaign, CampaignRecipient, DeliveryOutcome, Role, User
from webapp.services.delivery import delivery_summary

RECIPIENTS = 40
SENDERS = 8


def test_parallel_reports_never_let_a_transient_replace_a_final(
    app, make_user, sandbox, live_server
):
    numbers = danish_numbers(RECIPIENTS)
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER))
        campaign = sent_campaign(db.session, user, gateway_client(sandbox), numbers, batch_size=20)
        batches = {b.number: b.message_id for b in db.session.get(Campaign, campaign.id).batches}
        campaign_id = campaign.id
    rng = random.Random(5)
    finals = {}
    reports = []
    for index, number in enumerate(numbers):
        batch = 1 + index // 20
        final = rng.choice(["DELIVERED", "UNDELIVERABLE", "EXPIRED"])
        finals[number] = final
        for status, time in [("ENROUTE", 100), ("BUFFERED", 150), (final, 200), ("BUFFERED", 250)]:
            reports.append(
                {
                    "id": int(batches[batch]),
                    "msisdn": int(number),
                    "time": time,
                    "status": status,
                    "error": None,
                    "code": None,
                    "userref": f"campaign-{campaign_id}-batch-{batch}",
                }
            )
    rng.shuffle(reports)
    url = f"{live_server}/webhooks/delivery-reports"
    secret = app.config["WEBHOOK_SECRET"]
    local = threading.local()

    def post(report):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        headers = {SIGNATURE_HEADER: sign_delivery_report(report, secret)}
        headers["Content-Type"] = "application/json"
        return session.post(url, data=json.dumps(report), headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(SENDERS) as pool:
        codes = list(pool.map(post, reports))
    assert set(codes) == {200}
    with app.app_context():
        stored = dict(db.session.query(CampaignRecipient.msisdn, CampaignRecipient.delivery_status))
        assert stored == finals
        summary = delivery_summary(db.session, db.session.get(Campaign, campaign_id))
        for outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.UNDELIVERABLE):
            assert summary.counts[outcome] == list(finals.values()).count(outcome.name)
        assert summary.awaiting == 0
