"""The sender's journey in headless Chromium: upload a CSV, compose with a tag while the counter
updates, preview with cost, confirm, watch the progress bar finish, see what the sandbox inbox
got."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import PASSWORD, danish_numbers, post_signed_reports
from playwright.sync_api import expect

from webapp.models import Role

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def app_config():
    return {"WORKER": "thread"}


def test_upload_compose_preview_send_and_inbox(
    app, live_server, page, screenshot, make_user, sandbox, tmp_path
):
    make_user(Role.SENDER, "sara@example.com")
    csv_file = tmp_path / "customers.csv"
    names = ["Ann", "Bo", "Zoë", "Dina", "Emil"]
    lines = [
        f"{n[2:4]} {n[4:6]} {n[6:8]} {n[8:]};{f}"
        for n, f in zip(danish_numbers(5), names, strict=True)
    ]
    csv_file.write_text("Mobil;First name\n" + "\n".join(lines) + "\n", encoding="utf-8")

    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("sara@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Lists").click()
    page.get_by_label("CSV or Excel file").set_input_files(str(csv_file))
    page.get_by_label("List name").fill("Customers")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Choose the columns")).to_be_visible()
    page.get_by_role("button", name="Import", exact=True).click()
    status = page.locator("#import-status")
    expect(status.locator('[data-test="imported"]')).to_have_text("5", timeout=20_000)

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()

    page.get_by_label("Campaign name").fill("Spring sale")
    page.get_by_label("Sender", exact=True).fill("Shop")
    page.get_by_label("Customers (5 recipients)").check()
    message = page.get_by_label("Message")
    message.fill("Hi %first_name%, spring is here")
    counter = page.locator("#counter")
    expect(counter).to_contain_text("1 segment")
    expect(counter).to_contain_text("for 5 recipients")
    message.press_sequentially(" 🌷")
    expect(counter).to_contain_text(re.compile(r"\d+/70 · 1 segment"))  # the emoji forces UCS-2
    screenshot("campaign-1-compose-unicode")
    message.fill("Hi %first_name%, spring is here")
    expect(counter).to_contain_text("19/160 · 1 segment")

    page.get_by_role("button", name="Preview cost and recipients").click()
    expect(page.get_by_role("heading", name="Preview: Spring sale")).to_be_visible()
    expect(page.get_by_text("0.75 DKK").first).to_be_visible()
    expect(page.get_by_role("cell", name="Hi Zoë, spring is here")).to_be_visible()
    screenshot("campaign-2-preview")

    sandbox.config.report_delay_seconds = 3600  # the test posts the reports itself, below
    page.get_by_role("checkbox", name="Send “Spring sale” to 5 recipients for 0.75 DKK").check()
    page.get_by_role("button", name="Confirm and send").click()
    expect(page.get_by_text("Confirmed for 5 recipients")).to_be_visible()
    expect(page.locator("#progress")).to_contain_text("5 of 5 recipients sent", timeout=20_000)
    expect(page.locator("#progress")).to_contain_text("done")
    awaiting = page.locator('[data-test="awaiting"]')
    expect(awaiting).to_have_text(re.compile(r"^5 "))
    # Signed delivery reports reach the webhook as the gateway posts them; the results and the
    # outcome table fill in by themselves, without a reload.
    page.evaluate("window.notReloaded = true")
    received = sandbox.store.received_for(label="Spring sale")
    finals = ["UNDELIVERABLE"] + ["DELIVERED"] * (len(received) - 1)
    post_signed_reports(
        app, live_server, received, finals, error="Absent subscriber", code="0x0101"
    )
    expect(awaiting).to_have_text(re.compile(r"^0 "), timeout=20_000)
    expect(page.locator('[data-test="reporting"]')).to_have_count(0)  # polling stopped
    assert page.evaluate("window.notReloaded") is True
    outcomes = page.locator("#outcomes")
    expect(outcomes).not_to_contain_text("Awaiting report")
    expect(page.locator('[data-test="undeliverable"]')).to_have_text(re.compile(r"^1 "))
    expect(outcomes.get_by_text("Absent subscriber")).to_be_visible()
    expect(
        page.get_by_role("img", name=re.compile("Delivered recipients per minute"))
    ).to_be_visible()
    expect(page.locator('[data-test="chart-numbers"]')).to_contain_text("4")
    expect(outcomes.get_by_role("cell", name="Hi Zoë, spring is here")).to_be_visible()
    screenshot("campaign-3-results")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV", exact=True).click()
    saved = ARTIFACTS / "campaign-outcomes.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "Spring_sale-outcomes.csv"
    exported = saved.read_text(encoding="utf-8-sig")
    assert exported.count("\n") == 6 and "Hi Zoë, spring is here" in exported

    # The header's search: one number, typed as a person would, and what it was sent.
    zoe = danish_numbers(5)[2]
    page.get_by_label("Find a phone number").fill(f"{zoe[2:4]} {zoe[4:6]} {zoe[6:8]} {zoe[8:]}")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name=f"+{zoe}")).to_be_visible()
    history = page.locator('[data-test="contact-messages"]')
    expect(history.get_by_role("cell", name="Hi Zoë, spring is here")).to_be_visible()
    expect(history.get_by_role("link", name="Spring sale")).to_be_visible()
    expect(page.locator('[data-test="contact-lists"]')).to_contain_text("Customers")
    screenshot("campaign-5-contact-history")
    page.go_back()

    page.get_by_role("link", name="Sandbox inbox").click()
    expect(page.get_by_role("cell", name="Hi Zoë, spring is here")).to_be_visible()
    screenshot("campaign-4-inbox")
    assert sandbox.store.count_received(label="Spring sale") == 5
    assert page.console_errors == []
