"""Unconfirmed batches confirmed by their delivery reports, whole and partial."""

from __future__ import annotations

from helpers import danish_numbers, gateway_client, sent_campaign
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import BatchState, Campaign, CampaignRecipient, DeliveryOutcome, RecipientState
from webapp.services.delivery import delivery_summary, record_delivery_report
from webapp.services.recipient_states import current_state
from webapp.services.reconcile import reconcile_unconfirmed

NUMBERS = danish_numbers(4)


def lost_answers_campaign(sender, sandbox):
    sandbox.config.lost_response_share = 1.0
    campaign = sent_campaign(db.session, sender, gateway_client(sandbox), NUMBERS, batch_size=2)
    sandbox.config.lost_response_share = 0.0
    return db.session.get(Campaign, campaign.id)


def report_from_gateway(sandbox, campaign, msisdn, status):
    """The report the gateway would post: its message id, which the dashboard never heard."""
    row = next(r for r in sandbox.store.received_for(label=campaign.name) if r["msisdn"] == msisdn)
    return {
        "id": row["message_id"],
        "msisdn": int(msisdn),
        "time": 100,
        "status": status,
        "userref": row["userref"],
    }


def test_reports_confirm_an_unconfirmed_batch_and_give_its_recipients_their_statuses(
    sender, sandbox
):
    campaign = lost_answers_campaign(sender, sandbox)
    assert [b.state for b in campaign.batches] == [BatchState.UNCONFIRMED] * 2
    for msisdn in NUMBERS[:2]:
        report = report_from_gateway(sandbox, campaign, msisdn, "DELIVERED")
        assert record_delivery_report(db.session, report)
    confirmed = reconcile_unconfirmed(db.session)
    assert [(c.batch_number, c.reports) for c in confirmed] == [(1, 2)]
    db.session.expire_all()
    first, second = db.session.get(Campaign, campaign.id).batches
    assert (first.state, second.state) == (BatchState.SENT, BatchState.UNCONFIRMED)
    assert first.message_id == str(report_from_gateway(sandbox, campaign, NUMBERS[0], "")["id"])
    recipients = db.session.execute(
        select(current_state(), CampaignRecipient.delivery_outcome).where(
            CampaignRecipient.batch_id == first.id
        )
    ).all()
    assert set(recipients) == {(RecipientState.SENT, DeliveryOutcome.DELIVERED)}
    events = [e.detail for e in db.session.get(Campaign, campaign.id).events]
    assert "Batch 1 confirmed by 2 delivery reports" in events
    assert delivery_summary(db.session, campaign).delivered == 2


def test_one_report_is_enough_evidence_for_the_whole_batch(sender, sandbox):
    campaign = lost_answers_campaign(sender, sandbox)
    record_delivery_report(
        db.session, report_from_gateway(sandbox, campaign, NUMBERS[3], "ENROUTE")
    )
    confirmed = reconcile_unconfirmed(db.session, campaign.id)
    assert [(c.batch_number, c.reports) for c in confirmed] == [(2, 1)]
    events = [e.detail for e in db.session.get(Campaign, campaign.id).events]
    assert "Batch 2 confirmed by 1 delivery report" in events


def test_a_batch_without_reports_waits_for_the_user(sender, sandbox):
    campaign = lost_answers_campaign(sender, sandbox)
    assert reconcile_unconfirmed(db.session) == []
    db.session.expire_all()
    batches = db.session.get(Campaign, campaign.id).batches
    assert [b.state for b in batches] == [BatchState.UNCONFIRMED] * 2
