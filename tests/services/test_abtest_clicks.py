"""A/B tests with tracked links: each variant's clicks and click-through rate, a winner chosen
by click-through rate, and that choice refused for variants without links."""

from __future__ import annotations

import re

import pytest
from helpers import (
    danish_numbers,
    gateway_client,
    make_list,
    preview_and_confirm,
    report_deliveries,
)

from webapp.extensions import db
from webapp.models import Campaign
from webapp.services import abtests, campaigns, clicks, dispatch
from webapp.services.campaigns import CampaignDraft, CampaignInvalid

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
TEXTS = {"A": "A: [track:https://shop.example/a]", "B": "B: [track:https://shop.example/b]"}


def draft(list_id: int, **changes) -> CampaignDraft:
    values = dict(
        name="Clicks",
        sender="Shop",
        message=TEXTS["A"],
        message_b=TEXTS["B"],
        list_ids=[list_id],
        variant_shares={"A": 25, "B": 25},
        winner_after_minutes=240,
        winner_metric="click_through_rate",
        link_host="go.example",
    )
    values.update(changes)
    return CampaignDraft(**values)


@pytest.fixture
def sent_test(app, sender, sandbox):
    """A 40-recipient test sent and delivered; every B recipient opened their link once."""
    people = make_list(db.session, "People", danish_numbers(40))
    campaign = campaigns.save_draft(db.session, sender, draft(people.id))
    preview_and_confirm(db.session, campaign, sender, sandbox, batch_size=5)
    secret = app.config["SECRET_KEY"]
    client = gateway_client(sandbox)
    dispatch.dispatch_campaign(
        db.session, campaign.id, client, retry_base_seconds=0.01, link_secret=secret
    )
    report_deliveries(db.session, campaign, ["DELIVERED"] * 20)
    for row in sandbox.store.received_for(label="Clicks"):
        if row["text"].startswith("B: "):
            (code,) = re.findall(r"go\.example/c/(\w+)", row["text"])
            assert clicks.follow_link(db.session, secret, code, PHONE) == "https://shop.example/b"
    return campaign.id


def test_each_variant_shows_its_clickers_and_click_through_rate(sent_test):
    campaign = db.session.get(Campaign, sent_test)
    results = {r.group: r for r in abtests.variant_results(db.session, campaign)}
    assert (results["A"].clickers, results["B"].clickers) == (0, 10)
    assert (results["A"].click_through_rate, results["B"].click_through_rate) == (0.0, 1.0)
    assert results["held"].clickers == 0
    report = abtests.ab_test_report(db.session, campaign)
    assert report["metric"] == "click-through rate"
    assert "B's click-through rate (100.0 %) is higher than A's (0.0 %)" in report["comparison"]
    assert any("delivery rate" in sentence for sentence in report["other_comparisons"])


def test_the_winner_by_click_through_rate_goes_to_the_held_back(sent_test):
    due_at = db.session.get(Campaign, sent_test).winner_due_at
    assert abtests.send_due_winners(db.session, now=due_at) == [sent_test]
    campaign = db.session.get(Campaign, sent_test)
    assert campaign.winner == "B"
    assert "click-through rate" in campaign.winner_reason


def test_the_campaign_page_has_the_click_columns(app, sent_test, login_as):
    page = login_as("viewer").get(f"/campaigns/{sent_test}").text
    rows = dict(re.findall(r'<tr data-test="variant-(\w+)">(.*?)</tr>', page, flags=re.S))
    assert re.search(r'data-label="Clicked">10<', rows["B"])
    assert re.search(r'data-label="Click-through rate">100\.0 %<', rows["B"])
    assert re.search(r'data-label="Click-through rate">0\.0 %<', rows["A"])


def test_choosing_by_click_through_rate_needs_tracked_links(sender):
    people = make_list(db.session, "People", danish_numbers(4))
    plain = draft(people.id, message="A plain", message_b="B plain")
    with pytest.raises(CampaignInvalid) as refused:
        campaigns.save_draft(db.session, sender, plain)
    assert "needs tracked links" in refused.value.errors["winner_metric"]
