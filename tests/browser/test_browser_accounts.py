"""First-admin setup, sign in, dashboard, sign out: in headless Chromium."""

from __future__ import annotations

from helpers import PASSWORD
from playwright.sync_api import expect


def test_first_admin_signs_up_in_and_out(live_server, page, screenshot, setup_token):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Create the first administrator")).to_be_visible()
    expect(page.get_by_text("instance/setup_token")).to_be_visible()  # no form without it
    page.goto(f"{live_server}/setup?token={setup_token}")  # the link the first start printed
    expect(
        page.get_by_text("Sandbox: messages are simulated, nothing is delivered.")
    ).to_be_visible()
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    screenshot("accounts-1-setup")
    page.get_by_role("button", name="Create administrator").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The email or password is not right.")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value("boss@example.com")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings")
    ).to_be_visible()
    screenshot("accounts-2-dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert page.console_errors == []
