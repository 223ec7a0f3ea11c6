"""`flask campaigns send --track-links` and the clicks in `flask campaigns report`."""

from __future__ import annotations

import json
import re

import pytest
from helpers import danish_numbers, make_list, report_deliveries
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Campaign

PHONE = "Mozilla/5.0 (Linux; Android 14) Mobile Safari/537.36"
ARGS = [
    "campaigns",
    "send",
    "--name",
    "Links",
    "--sender",
    "Shop",
    "--list",
    "People",
    "--message",
    "Sale: https://shop.example/spring. See you",
    "--track-links",
    "--utm-source",
    "sms",
    "--yes",
    "--wait",
]


@pytest.fixture
def app_config():
    return {"WORKER": "thread", "LINK_BASE_URL": "https://go.example"}


@pytest.fixture
def people(app):
    with app.app_context():
        make_list(db.session, "People", danish_numbers(4))


def test_track_links_sends_short_links_and_the_report_counts_the_clicks(app, people, sandbox, jobs):
    runner = app.test_cli_runner()
    sent = runner.invoke(args=ARGS)
    assert sent.exit_code == 0, sent.output
    texts = [row["text"] for row in sandbox.store.received_for(label="Links")]
    assert len(texts) == 4
    assert all(re.fullmatch(r"Sale: go\.example/c/\w{14}\. See you", text) for text in texts)
    with app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        report_deliveries(db.session, campaign, ["DELIVERED"] * 4)
    client = app.test_client()
    code = re.search(r"/c/(\w+)", texts[0]).group(1)
    answer = client.get(f"/c/{code}", headers={"User-Agent": PHONE})
    assert answer.headers["Location"] == "https://shop.example/spring?utm_source=sms"
    client.get(f"/c/{code}", headers={"User-Agent": "TelegramBot (like TwitterBot)"})

    report = json.loads(runner.invoke(args=["campaigns", "report", "Links", "--json"]).stdout)
    assert report["links"]["clicks"] == 1 and report["links"]["unique_clickers"] == 1
    assert report["links"]["click_through_rate"] == "25.0 %"
    assert report["links"]["bot_clicks"] == 1
    assert report["links"]["per_link"][0]["target"] == "https://shop.example/spring?utm_source=sms"
    text = runner.invoke(args=["campaigns", "report", "Links"]).output
    assert "Tracked links: 1 click, 1 unique clicker, click-through rate 25.0 % of 4" in text
