"""A sending campaign whose failed share of reported recipients passes the threshold pauses
itself with that reason, as it does when credit runs out."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, gateway_client, sent_campaign

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus
from webapp.services.delivery import FailureGuard, record_delivery_report
from webapp.services.dispatch import DispatchInterrupted

NUMBERS = danish_numbers(4)


def stop_after_first_batch(step, batch):
    if step == "recorded" and batch.number == 1:
        raise DispatchInterrupted("the worker stops after batch 1")


@pytest.fixture
def sending(sender, sandbox):
    """A campaign still sending: batch 1 went out, batch 2 has not."""
    with pytest.raises(DispatchInterrupted):
        sent_campaign(
            db.session, sender, gateway_client(sandbox), NUMBERS, checkpoint=stop_after_first_batch
        )
    campaign = db.session.query(Campaign).one()
    assert campaign.status is CampaignStatus.SENDING
    return campaign


def post(campaign, msisdn, status, guard):
    batch = campaign.batches[0]
    report = {
        "id": int(batch.message_id),
        "msisdn": int(msisdn),
        "time": 100,
        "status": status,
        "userref": f"campaign-{campaign.id}-batch-1",
    }
    return record_delivery_report(db.session, report, guard=guard)


def test_too_many_failures_pause_the_campaign_with_the_reason(sending):
    guard = FailureGuard(percent=20, after_reports=2)
    post(sending, NUMBERS[0], "UNDELIVERABLE", guard)
    db.session.expire_all()
    assert sending.status is CampaignStatus.SENDING  # 1 report is not enough to judge
    post(sending, NUMBERS[1], "UNDELIVERABLE", guard)
    db.session.expire_all()
    campaign = db.session.get(Campaign, sending.id)
    assert campaign.status is CampaignStatus.PAUSED
    assert "2 of 2 reported recipients (100.0 %) were not delivered" in campaign.pause_reason
    assert [e.action for e in campaign.events].count("paused") == 1


def test_failures_under_the_threshold_do_not_pause(sending):
    guard = FailureGuard(percent=60, after_reports=2)
    post(sending, NUMBERS[0], "DELIVERED", guard)
    post(sending, NUMBERS[1], "EXPIRED", guard)
    db.session.expire_all()
    assert db.session.get(Campaign, sending.id).status is CampaignStatus.SENDING
