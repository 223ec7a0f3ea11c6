"""The approval journey in headless Chromium: a sender's campaign is over the workspace's
limit, so "Confirm and send" is "Ask for approval"; an admin, in another browser context, finds
it on the home page, reviews the same preview and approves it; the campaign sends, and its
history says who asked and who approved."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import PASSWORD, approval_limits, danish_numbers, make_list
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Role

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def app_config():
    return {"WORKER": "thread"}


def sign_in(page, base, email):
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_sender_asks_an_admin_approves_in_another_browser_and_it_sends(
    app, live_server, page, browser, screenshot, make_user, sandbox
):
    make_user(Role.SENDER, "sara@example.com")
    make_user(Role.ADMIN, "ada@example.com")
    with app.app_context():
        make_list(db.session, "Customers", danish_numbers(5))
        approval_limits(db.session, recipients=3)

    # The sender composes, previews and asks for approval.
    sign_in(page, live_server, "sara@example.com")
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Campaign name").fill("Big sale")
    page.get_by_label("Sender", exact=True).fill("Shop")
    page.get_by_label("Customers (5 recipients)").check()
    page.get_by_label("Message").fill("Hi, the big sale starts today")
    expect(page.locator("#counter")).to_contain_text("for 5 recipients")
    page.get_by_role("button", name="Preview cost and recipients").click()
    expect(page.get_by_role("heading", name="Preview: Big sale")).to_be_visible()
    expect(page.locator('[data-test="needs-approval"]')).to_contain_text(
        "5 recipients is more than the limit of 3"
    )
    expect(page.get_by_role("button", name="Confirm and send")).to_have_count(0)
    page.get_by_role("checkbox", name="Send “Big sale” to 5 recipients for 0.75 DKK").check()
    screenshot("approval-1-sender-asks")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_text("Approval asked for: 5 recipients are frozen")).to_be_visible()
    expect(page.locator(".tag", has_text="pending approval")).to_be_visible()
    screenshot("approval-2-waiting")
    assert sandbox.store.count_received() == 0

    # The admin, in a browser context of their own, finds it on the home page and approves.
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        admin = admin_context.new_page()
        admin.set_default_timeout(10_000)
        sign_in(admin, live_server, "ada@example.com")
        waiting = admin.locator('[data-test="awaiting-approval"]')
        expect(waiting).to_contain_text("1 campaign waits for your decision")
        expect(waiting).to_contain_text("sara@example.com")
        ARTIFACTS.mkdir(exist_ok=True)
        admin.screenshot(path=str(ARTIFACTS / "approval-3-admin-home.png"), full_page=True)
        waiting.get_by_role("link", name="Review").click()
        expect(admin.get_by_role("heading", name="Preview: Big sale")).to_be_visible()
        expect(admin.locator('[data-test="waiting-for-approval"]')).to_contain_text("asked for")
        expect(
            admin.get_by_role("cell", name="Hi, the big sale starts today").first
        ).to_be_visible()
        expect(admin.get_by_text("0.75 DKK").first).to_be_visible()
        admin.get_by_label("Comment").fill("Checked the list: go ahead.")
        admin.screenshot(path=str(ARTIFACTS / "approval-4-admin-reviews.png"), full_page=True)
        admin.get_by_role("button", name="Approve and send").click()
        expect(admin.get_by_text("Approved. It is sent now")).to_be_visible()
        expect(admin.locator("#progress")).to_contain_text("5 of 5 recipients sent", timeout=20_000)
        admin.screenshot(path=str(ARTIFACTS / "approval-5-admin-approved.png"), full_page=True)
    finally:
        admin_context.close()

    assert sandbox.store.count_received(label="Big sale") == 5
    # The sender's page: the history says who asked and who approved, and when.
    page.reload()
    history = page.locator(".events")
    expect(history).to_contain_text("Approval asked for")
    expect(history).to_contain_text("by sara@example.com")
    expect(history).to_contain_text("Approved")
    expect(history).to_contain_text("by ada@example.com: Checked the list: go ahead.")
    expect(page.locator('[data-test="approval-fact"]')).to_contain_text(
        "approved by ada@example.com"
    )
    screenshot("approval-6-history")
    assert page.console_errors == []
