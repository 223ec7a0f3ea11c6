"""Quiet hours in a send: each country has its own batches, a country in its quiet hours waits
until its window opens, and every message expires when the window closes."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers import danish_numbers, gateway_client, make_list

from webapp.extensions import db
from webapp.models import BatchState, Campaign
from webapp.services import campaigns, dispatch
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import preview_campaign
from webapp.services.quiet_hours import QuietHours

HOURS = QuietHours()  # 08:00 to 21:00
JAPANESE = ["819012345678", "819012345679"]


def at(hour, minute=0):
    return datetime(2026, 12, 1, hour, minute, tzinfo=UTC)


def confirmed(user, sandbox, now):
    people = make_list(db.session, "People", [*danish_numbers(3), *JAPANESE])
    draft = CampaignDraft(name="Night", sender="Shop", message="Hi", list_ids=[people.id])
    campaign = campaigns.save_draft(db.session, user, draft)
    summary = preview_campaign(
        db.session,
        campaign,
        user,
        gateway_client(sandbox),
        honours_dry_run=True,
        batch_size=100,
        quiet_hours=HOURS,
        now=now,
    )
    campaigns.confirm_campaign(db.session, campaign, user, batch_size=100, by_country=True, now=now)
    return campaign, summary


def test_the_preview_says_which_country_waits_and_until_when(sender, sandbox):
    _, summary = confirmed(sender, sandbox, at(3))  # 04:00 in Denmark, 12:00 in Tokyo
    assert summary["quiet_hours"] == ["DK: waits until 08:00 Copenhagen time, Tue 01 Dec."]


def test_a_country_in_quiet_hours_waits_while_an_open_one_is_sent(sender, sandbox):
    campaign, _ = confirmed(sender, sandbox, at(3))
    assert [(b.country, b.size) for b in campaign.batches] == [("DK", 3), ("JP", 2)]

    outcome = dispatch.dispatch_campaign(
        db.session, campaign.id, gateway_client(sandbox), quiet_hours=HOURS, clock=lambda: at(3)
    )

    assert outcome == "waiting"
    db.session.expire_all()
    denmark, japan = db.session.get(Campaign, campaign.id).batches
    assert (denmark.state, japan.state) == (BatchState.PENDING, BatchState.SENT)
    assert denmark.next_attempt_at == at(7)  # 08:00 in Copenhagen
    # Tokyo closes at 21:00, 12:00 UTC: nine hours to deliver, then the message expires.
    assert sandbox.store.message(int(japan.message_id))["options"]["validity_period"] == 9 * 3600
    assert sorted(r["msisdn"] for r in sandbox.store.received_for(label="Night")) == JAPANESE

    later = dispatch.dispatch_campaign(
        db.session, campaign.id, gateway_client(sandbox), quiet_hours=HOURS, clock=lambda: at(7, 30)
    )
    assert later == "done"
    db.session.expire_all()
    denmark = db.session.get(Campaign, campaign.id).batches[0]
    assert denmark.state == BatchState.SENT
    assert sandbox.store.message(int(denmark.message_id))["options"]["validity_period"] == (
        12 * 3600 + 30 * 60  # until 21:00 in Copenhagen, 20:00 UTC
    )


def test_without_quiet_hours_batches_mix_countries_as_before(sender, sandbox):
    people = make_list(db.session, "People", [*danish_numbers(3), *JAPANESE])
    draft = CampaignDraft(name="Day", sender="Shop", message="Hi", list_ids=[people.id])
    campaign = campaigns.save_draft(db.session, sender, draft)
    preview_campaign(
        db.session, campaign, sender, gateway_client(sandbox), honours_dry_run=True, batch_size=100
    )
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=100)
    assert [(b.country, b.size) for b in campaign.batches] == [(None, 5)]
