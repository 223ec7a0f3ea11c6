"""The reply loop in headless Chromium: the sandbox posts a signed STOP reply and a question,
the inbox shows both with their campaign, the number is opted out with that campaign, and the
next campaign's preview leaves it out."""

from __future__ import annotations

import re

import pytest
from helpers import PASSWORD, danish_numbers, gateway_client, make_list, sent_campaign
from playwright.sync_api import expect

from mtsms_sandbox.replies import ReplySimulation, simulate_replies
from webapp.addresses import REPLY_WEBHOOK_PATH
from webapp.extensions import db
from webapp.models import Role, User

NUMBERS = danish_numbers(3)


@pytest.fixture
def app_config():
    return {"WORKER": "thread"}


def test_a_stop_reply_opts_out_and_the_next_preview_leaves_the_number_out(
    app, live_server, page, screenshot, make_user, sandbox
):
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "sara@example.com"))
        people = make_list(db.session, "Customers", NUMBERS)
        sent_campaign(db.session, user, gateway_client(sandbox), people, name="Spring sale")
    url = live_server + REPLY_WEBHOOK_PATH
    secret = app.config["WEBHOOK_SECRET"]
    stop = simulate_replies(
        NUMBERS[:1], url=url, secret=secret, simulation=ReplySimulation(1.0, 0.0), first_id=7001
    )
    question = simulate_replies(
        NUMBERS[1:2], url=url, secret=secret, simulation=ReplySimulation(0.0, 1.0), first_id=7002
    )
    assert len(stop) == len(question) == 1

    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("sara@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Replies").click()
    rows = page.locator('[data-test="reply"]')
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(question[0]["message"])  # newest first
    expect(rows.nth(1)).to_contain_text("STOP")
    expect(rows.nth(1)).to_contain_text("Spring sale")
    screenshot("replies-1-inbox")

    rows.nth(1).get_by_role("link", name=f"+{NUMBERS[0]}").click()  # its contact history
    expect(page.get_by_role("heading", name=f"+{NUMBERS[0]}")).to_be_visible()
    consent = page.locator('[data-test="consent-state"]')
    expect(consent).to_contain_text("Opted out")
    expect(consent).to_contain_text("reply")
    expect(consent).to_contain_text("Spring sale")
    expect(page.locator('[data-test="contact-replies"]')).to_contain_text(stop[0]["message"])
    screenshot("replies-2-opted-out")

    page.get_by_role("link", name="Lists").click()
    page.get_by_role("link", name=re.compile("^Opt-out list")).click()
    opted_out = page.locator('[data-test="opt-out-row"]')
    expect(opted_out).to_have_count(1)
    expect(opted_out).to_contain_text(f"+{NUMBERS[0]}")
    expect(opted_out).to_contain_text("Spring sale")

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Campaign name").fill("Summer sale")
    page.get_by_label("Sender", exact=True).fill("Shop")
    page.get_by_label("Customers (3 recipients)").check()
    page.get_by_label("Message").fill("Summer is here")
    page.get_by_role("button", name="Preview cost and recipients").click()
    expect(page.get_by_role("heading", name="Preview: Summer sale")).to_be_visible()
    expect(page.get_by_text("left out: 1 opted out")).to_be_visible()
    assert f"{NUMBERS[0]}" not in page.content()
    screenshot("replies-3-next-preview")
    assert page.console_errors == []
