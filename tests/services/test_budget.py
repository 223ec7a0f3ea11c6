"""The monthly budget: confirming a send that would take the month over it is refused with both
figures; confirmed campaigns count until sent or cancelled; a running campaign pauses when the
month goes over it; months end in the workspace's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from helpers import danish_numbers, gateway_client, make_list, sent_campaign

from webapp.extensions import db
from webapp.models import BatchState, Campaign, CampaignStatus
from webapp.services import campaigns, dispatch
from webapp.services.budget import budget_status, set_monthly_budget
from webapp.services.preview import preview_campaign
from webapp.services.settings import SettingError

# The sandbox prices a Danish message at 0.15 DKK.


def previewed(sender, client, count, *, name="Spring", start=20_100_000):
    people = make_list(db.session, f"{name} list", danish_numbers(count, start=start))
    draft = campaigns.CampaignDraft(name=name, sender="Shop", message="Hi", list_ids=[people.id])
    campaign = campaigns.save_draft(db.session, sender, draft)
    preview_campaign(db.session, campaign, sender, client, honours_dry_run=True, batch_size=2)
    return campaign


def test_a_send_over_the_budget_is_refused_with_both_figures(sender, sandbox):
    set_monthly_budget(db.session, "1", "dkk")
    campaign = previewed(sender, gateway_client(sandbox), 12)
    with pytest.raises(campaigns.CampaignStateError) as refused:
        campaigns.confirm_campaign(db.session, campaign, sender, batch_size=2)
    assert "This send costs 1.80 DKK" in str(refused.value)
    assert "over the monthly budget of 1.00 DKK" in str(refused.value)
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.DRAFT
    assert sandbox.store.count_received(label="Spring") == 0


def test_a_send_within_the_budget_is_confirmed(sender, sandbox):
    set_monthly_budget(db.session, "1.80", "DKK")
    campaign = previewed(sender, gateway_client(sandbox), 12)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=2)
    assert campaign.status is CampaignStatus.QUEUED


def test_confirmed_campaigns_count_until_they_are_cancelled(sender, sandbox):
    client = gateway_client(sandbox)
    set_monthly_budget(db.session, "3", "DKK")
    first = previewed(sender, client, 12, name="First")
    campaigns.confirm_campaign(db.session, first, sender, batch_size=2)
    status = budget_status(db.session, datetime.now(UTC))
    assert (status.charged, status.committed) == (0, Decimal("1.80"))
    second = previewed(sender, client, 12, name="Second", start=20_200_000)
    with pytest.raises(campaigns.CampaignStateError, match="1.80 DKK spent or committed"):
        campaigns.confirm_campaign(db.session, second, sender, batch_size=2)
    dispatch.cancel_campaign(db.session, first, sender)
    assert budget_status(db.session, datetime.now(UTC)).committed == 0
    campaigns.confirm_campaign(db.session, second, sender, batch_size=2)
    assert second.status is CampaignStatus.QUEUED


def test_a_sent_campaign_counts_what_the_gateway_charged(sender, sandbox):
    set_monthly_budget(db.session, "10", "DKK")
    sent_campaign(db.session, sender, gateway_client(sandbox), danish_numbers(4))
    status = budget_status(db.session, datetime.now(UTC))
    assert (status.charged, status.committed, status.spent) == (Decimal("0.60"), 0, Decimal("0.60"))
    assert status.percent == 6 and not status.over


def test_a_running_campaign_pauses_when_the_month_goes_over_the_budget(sender, sandbox):
    client = gateway_client(sandbox, max_connections=1)
    set_monthly_budget(db.session, "10", "DKK")
    campaign = previewed(sender, client, 4)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=2)

    def lower_the_budget(step, batch):
        if step == "recorded" and batch.number == 1:  # as an admin would, meanwhile
            set_monthly_budget(db.session, "0.50", "DKK")

    outcome = dispatch.dispatch_campaign(
        db.session, campaign.id, client, max_connections=1, checkpoint=lower_the_budget
    )
    assert outcome == "paused"
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.status is CampaignStatus.PAUSED
    assert "over the monthly budget of 0.50 DKK" in campaign.pause_reason
    assert "0.60 DKK" in campaign.pause_reason  # 0.30 charged, 0.30 still to go
    assert [b.state for b in campaign.batches] == [BatchState.SENT, BatchState.PENDING]
    assert [e.action for e in campaign.events].count("paused") == 1
    assert sandbox.store.count_received(label="Spring") == 2

    set_monthly_budget(db.session, "1", "DKK")  # raised: resuming sends the rest
    dispatch.resume_campaign(db.session, campaign, sender)
    assert dispatch.dispatch_campaign(db.session, campaign.id, client) == "done"
    assert sandbox.store.count_received(label="Spring") == 4


def test_the_month_ends_in_the_workspace_zone(sender, sandbox):
    set_monthly_budget(db.session, "10", "DKK")
    last_minute_of_january = datetime(2025, 1, 31, 23, 59, tzinfo=UTC)  # February in Copenhagen
    sent_campaign(
        db.session,
        sender,
        gateway_client(sandbox),
        danish_numbers(4),
        clock=lambda: last_minute_of_january,
    )
    february = datetime(2025, 2, 10, 12, tzinfo=UTC)
    assert budget_status(db.session, february).charged == 0  # UTC: January's spend
    copenhagen = budget_status(db.session, february, ZoneInfo("Europe/Copenhagen"))
    assert copenhagen.charged == Decimal("0.60")
    assert budget_status(db.session, datetime(2025, 1, 31, 23, 59, 30, tzinfo=UTC)).charged == (
        Decimal("0.60")
    )


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        ("lots", "DKK", "not an amount"),
        ("-5", "DKK", "from 0 up to"),
        ("500", "kroner", "three letters"),
        ("NaN", "DKK", "from 0 up to"),
    ],
)
def test_a_budget_that_cannot_be_read_is_refused(ctx, amount, currency, problem):
    with pytest.raises(SettingError, match=problem):
        set_monthly_budget(db.session, amount, currency)


def test_no_budget_means_no_refusal(sender, sandbox):
    set_monthly_budget(db.session, "1", "DKK")
    set_monthly_budget(db.session, "", "")
    assert budget_status(db.session, datetime.now(UTC)) is None
    campaign = previewed(sender, gateway_client(sandbox), 12)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=2)
    assert campaign.status is CampaignStatus.QUEUED
