"""The audit log's service and model: events are append-only, and what the system does to a
campaign (finishing it, pausing it for the budget or for failures) is an event by the system."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, gateway_client, make_list, sent_campaign
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Campaign, CampaignStatus
from webapp.services import audit, campaigns, dispatch
from webapp.services.budget import set_monthly_budget
from webapp.services.delivery import FailureGuard, record_delivery_report
from webapp.services.dispatch import DispatchInterrupted
from webapp.services.preview import preview_campaign
from webapp.services.reconcile import reconcile_unconfirmed


def events(**where) -> list[tuple[str, str, str | None]]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    return [(e.action, e.actor, e.object_id) for e in db.session.scalars(query)]


def test_an_event_cannot_be_changed(ctx):
    event = audit.record(db.session, "list_exported", user=None, detail="10 recipients")
    db.session.commit()
    event.detail = "nothing happened"
    with pytest.raises(ValueError, match="never changed or deleted"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).detail == "10 recipients"


def test_an_event_cannot_be_deleted(ctx):
    event = audit.record(db.session, "list_exported", user=None)
    db.session.commit()
    db.session.delete(event)
    with pytest.raises(ValueError, match="never changed or deleted"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id) is not None


def test_an_unknown_action_is_refused(ctx):
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit.record(db.session, "erased", user=None)


def test_a_campaign_sent_through_is_confirmed_by_its_user_and_finished_by_the_system(
    sender, sandbox
):
    campaign = sent_campaign(db.session, sender, gateway_client(sandbox), danish_numbers(3))
    assert events(object_type="campaign") == [
        ("campaign_confirmed", sender.email, str(campaign.id)),
        ("campaign_finished", audit.SYSTEM, str(campaign.id)),
    ]


def test_a_pause_for_the_budget_is_the_systems(sender, sandbox):
    client = gateway_client(sandbox)

    def lower_the_budget(step, batch):
        if step == "recorded" and batch.number == 1:
            set_monthly_budget(db.session, "0.10", "DKK")

    campaign = sent_campaign(
        db.session,
        sender,
        client,
        danish_numbers(4),
        max_connections=1,
        checkpoint=lower_the_budget,
    )
    assert campaign.status is CampaignStatus.PAUSED
    paused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "campaign_paused")
    ).one()
    assert (paused.actor, paused.user_id, paused.address) == (audit.SYSTEM, None, None)
    assert "over the monthly budget of 0.10 DKK" in paused.detail


def test_a_pause_for_failures_is_one_event_by_the_system(sender, sandbox):
    numbers = danish_numbers(4)

    def stop_after_first_batch(step, batch):
        if step == "recorded" and batch.number == 1:
            raise DispatchInterrupted("the worker stops after batch 1")

    with pytest.raises(DispatchInterrupted):
        sent_campaign(
            db.session, sender, gateway_client(sandbox), numbers, checkpoint=stop_after_first_batch
        )
    campaign = db.session.scalars(select(Campaign)).one()
    guard = FailureGuard(percent=20, after_reports=1)
    batch = campaign.batches[0]
    for msisdn in numbers[:2]:
        report = {
            "id": int(batch.message_id),
            "msisdn": int(msisdn),
            "time": 100,
            "status": "UNDELIVERABLE",
            "userref": f"campaign-{campaign.id}-batch-1",
        }
        record_delivery_report(db.session, report, guard=guard)
    assert events(action="campaign_paused") == [("campaign_paused", audit.SYSTEM, str(campaign.id))]


def test_a_users_confirm_pause_and_resume_carry_the_address_given(sender, sandbox):
    client = gateway_client(sandbox)
    people = make_list(db.session, "People", danish_numbers(2))
    draft = campaigns.save_draft(
        db.session,
        sender,
        campaigns.CampaignDraft(name="Later", sender="Shop", message="Hi", list_ids=[people.id]),
    )
    preview_campaign(db.session, draft, sender, client, honours_dry_run=True, batch_size=2)
    campaigns.confirm_campaign(db.session, draft, sender, batch_size=2, address="192.0.2.7")
    dispatch.pause_campaign(db.session, draft, sender, address="192.0.2.7")
    dispatch.resume_campaign(db.session, draft, sender, address="192.0.2.8")
    addresses = db.session.execute(
        select(AuditEvent.action, AuditEvent.address)
        .where(AuditEvent.object_id == str(draft.id))
        .order_by(AuditEvent.id)
    ).all()
    assert addresses == [
        ("campaign_confirmed", "192.0.2.7"),
        ("campaign_paused", "192.0.2.7"),
        ("campaign_resumed", "192.0.2.8"),
    ]


def test_a_batch_confirmed_by_its_reports_is_one_event_by_the_system(sender, sandbox):
    sandbox.config.lost_response_share = 1.0  # every answer lost: both batches unconfirmed
    campaign = sent_campaign(db.session, sender, gateway_client(sandbox), danish_numbers(2))
    sandbox.config.lost_response_share = 0.0
    (row,) = sandbox.store.received_for(label=campaign.name)[:1]
    report = {
        "id": row["message_id"],
        "msisdn": int(row["msisdn"]),
        "time": 100,
        "status": "DELIVERED",
        "userref": row["userref"],
    }
    record_delivery_report(db.session, report)
    before = events(action="campaign_reconciled")
    reconcile_unconfirmed(db.session)
    assert before == []
    assert events(action="campaign_reconciled") == [
        ("campaign_reconciled", audit.SYSTEM, str(campaign.id))
    ]
