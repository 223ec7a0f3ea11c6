"""An A/B test in headless Chromium: compose a campaign with variant B (its own live counter)
and a held-back share, preview it, send it through the sandbox, read the results per variant,
and send variant B to the held-back recipients by hand."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, make_list, poll, post_signed_reports, sign_in_browser
from playwright.sync_api import expect
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import CampaignRecipient, Role

LABEL = "Spring test"


@pytest.fixture
def app_config():
    return {"WORKER": "thread"}


def reported(app) -> int:
    """Recipients with a delivery report so far."""
    with app.app_context():
        return db.session.scalar(
            select(func.count()).where(CampaignRecipient.delivery_outcome.is_not(None))
        )


def test_compose_send_and_compare_an_ab_test(
    app, live_server, page, screenshot, make_user, sandbox
):
    make_user(Role.SENDER, "sara@example.com")
    with app.app_context():
        rows = [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(20))]
        make_list(db.session, "People", rows, fields=["first_name"])

    sign_in_browser(page, live_server, "sara@example.com")
    page.goto(live_server + "/campaigns/new")
    page.get_by_label("Campaign name").fill(LABEL)
    page.get_by_label("Sender", exact=True).fill("Shop")
    page.get_by_label("People (20 recipients)").check()
    page.get_by_label("Message", exact=True).fill("Hi %first_name%, 10% off today")

    page.get_by_role("button", name="Add variant B").click()  # htmx: the section alone
    variant_b = page.get_by_label("Variant B", exact=True)
    expect(variant_b).to_be_visible()
    # Typed once htmx has set the new section up (it wires its counter after the swap settles);
    # typed sooner, the input goes unheard on a slow machine and the counter stays empty.
    page.wait_for_load_state("networkidle")
    variant_b.fill("Hi %first_name%, free delivery today 🚚")
    counter_b = page.locator("#counter-b")
    expect(counter_b).to_contain_text("Unicode")
    expect(counter_b).to_contain_text("1 segment")
    expect(page.locator("#counter")).to_contain_text("GSM 7-bit")  # A's counter is its own
    page.get_by_label("Variant A's share (%)").fill("25")
    page.get_by_label("Variant B's share (%)").fill("25")
    expect(page.locator("#held-back")).to_contain_text("Held back for the winner: 50 %")
    page.get_by_label("Then send the winner to the held-back recipients automatically").check()
    page.get_by_label("Send the winner after (hours)").fill("2")
    screenshot("ab-1-compose")

    page.get_by_role("button", name="Preview cost and recipients").click()
    expect(page.get_by_role("heading", name=f"Preview: {LABEL}")).to_be_visible()
    groups = page.locator('[data-test="ab-preview"]')
    expect(groups.get_by_role("row", name=re.compile("Variant A 5"))).to_be_visible()
    expect(groups.get_by_role("row", name=re.compile("Held back 10"))).to_be_visible()
    expect(page.get_by_text("Variant B").first).to_be_visible()
    screenshot("ab-2-preview")

    sandbox.config.report_delay_seconds = 3600  # the test posts the reports itself, below
    page.get_by_role("checkbox", name=re.compile(f"Send “{LABEL}” to 20 recipients")).check()
    page.get_by_role("button", name="Confirm and send").click()
    expect(page.locator('[data-test="ab-waiting"]')).to_contain_text(
        "10 held-back recipients wait for the winner"
    )
    poll(lambda: sandbox.store.count_received(label=LABEL) == 10, what="the test part's send")
    # The gateway's reports: all of B's delivered, one of A's (the rest expired).
    received = sandbox.store.received_for(label=LABEL)
    finals = ["DELIVERED" if "delivery" in row["text"] else "EXPIRED" for row in received]
    finals[finals.index("EXPIRED")] = "DELIVERED"
    post_signed_reports(app, live_server, received, finals, error="Expired", code="0x0201")
    poll(lambda: reported(app) == 10, what="the test part's delivery reports")
    page.reload()
    section = page.locator('[data-test="ab-test"]')
    expect(section.locator('[data-test="variant-A"]')).to_contain_text("5")
    expect(section.locator('[data-test="variant-B"]')).to_contain_text("free delivery")
    verdict = page.locator('[data-test="ab-verdict"]')
    expect(verdict).to_contain_text(re.compile("two-proportion z-test|cannot be told apart"))
    expect(page.locator('[data-test="ab-waiting"]')).to_contain_text("goes to them at")
    screenshot("ab-3-results")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Send variant B to the rest now").click()
    expect(
        page.get_by_text("Variant B is being sent to the 10 held-back recipients.")
    ).to_be_visible()
    poll(lambda: sandbox.store.count_received(label=LABEL) == 20, what="the winner's send")
    page.reload()
    expect(page.locator('[data-test="ab-winner"]')).to_contain_text(
        "Variant B went to the held-back recipients"
    )
    expect(page.locator("#progress")).to_contain_text("done", timeout=20_000)
    screenshot("ab-4-winner-sent")

    received = sandbox.store.received_for(label=LABEL)
    assert len({row["msisdn"] for row in received}) == len(received) == 20
    assert page.console_errors == []
