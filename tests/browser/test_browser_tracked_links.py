"""Tracked links in headless Chromium: turn a URL in the message into a tracked link, send,
follow the short link from the sandbox inbox as the recipient would, see the click counted on
the campaign page."""

from __future__ import annotations

import re
import time

import pytest
from helpers import PASSWORD, danish_numbers, make_list, report_deliveries
from playwright.sync_api import expect
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Campaign, Role

TARGET = "https://shop.example/spring?utm_source=sms"


@pytest.fixture
def app_config():
    return {"WORKER": "thread"}


def test_track_a_link_send_follow_it_and_see_the_click(
    app, live_server, page, screenshot, make_user, sandbox
):
    app.config["LINK_BASE_URL"] = live_server  # the short links lead to this test server
    make_user(Role.SENDER, "sara@example.com")
    with app.app_context():
        make_list(db.session, "Customers", danish_numbers(4))
    # The shop's own site, as the recipient's browser would reach it after the redirect.
    page.route("https://shop.example/**", lambda route: route.fulfill(body="The spring sale"))

    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("sara@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server + "/campaigns/new")
    page.get_by_label("Campaign name").fill("Spring links")
    page.get_by_label("Sender", exact=True).fill("Shop")
    page.get_by_label("Customers (4 recipients)").check()
    message = page.get_by_label("Message")
    long_address = "https://shop.example/spring"
    message.fill(f"Spring sale: {long_address}")
    page.get_by_text("Tracked links", exact=True).click()
    page.get_by_label("UTM source").fill("sms")
    page.get_by_role("button", name="Track the links in the message").click()
    expect(message).to_have_value(f"Spring sale: [track:{TARGET}]")
    expect(page.locator("#replaced-note")).to_contain_text("now a tracked link")
    # Counted as the short link the recipients get: host, /c/ and a 14-character code.
    short_length = len("Spring sale: ") + len(live_server.split("://")[1]) + len("/c/") + 14
    expect(page.locator("#counter")).to_contain_text(f"{short_length}/160 · 1 segment")
    screenshot("tracked-links-1-compose")

    page.get_by_role("button", name="Preview cost and recipients").click()
    expect(page.get_by_role("heading", name="Preview: Spring links")).to_be_visible()
    screenshot("tracked-links-2-preview")
    sandbox.config.report_delay_seconds = 3600  # the test reports the deliveries itself
    page.get_by_role("checkbox", name=re.compile("Send “Spring links” to 4 recipients")).check()
    page.get_by_role("button", name="Confirm and send").click()
    expect(page.locator("#progress")).to_contain_text("done", timeout=20_000)
    campaign_page = page.url
    with app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        report_deliveries(db.session, campaign, ["DELIVERED"] * 4, time=int(time.time()) - 60)

    page.get_by_role("link", name="Sandbox inbox").click()
    short_links = page.locator('[data-test="short-link"]')
    expect(short_links).to_have_count(4)
    expect(page.get_by_text(long_address)).to_have_count(0)  # the long URL never reached a phone
    screenshot("tracked-links-3-inbox")
    short_links.first.click()
    expect(page.get_by_text("The spring sale")).to_be_visible()
    assert page.url == TARGET

    page.goto(campaign_page)
    clicks = page.locator('[data-test="link-clicks"]')
    expect(clicks).to_contain_text(TARGET)
    expect(clicks.locator("tbody td").nth(1)).to_have_text("1")  # clicks
    expect(clicks.locator("tbody td").nth(2)).to_have_text("1")  # unique clickers
    expect(clicks.locator("tbody td").nth(3)).to_have_text("25.0 %")
    expect(page.get_by_role("img", name=re.compile("Clicks by people per minute"))).to_be_visible()
    expect(page.locator('[data-test="clicked"]').get_by_text("Clicked")).to_have_count(1)
    page.locator('[data-test="link-clicks"]').scroll_into_view_if_needed()
    screenshot("tracked-links-4-campaign-clicks")
    assert page.console_errors == []
