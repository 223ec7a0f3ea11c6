"""The approval flow (issue 18): a campaign over the workspace's limits waits, frozen as at
confirmation, until an admin or an approver who did not ask for it approves it; a rejection, a
withdrawal or any change takes it back to a draft. Each step is one history entry and one
audit event."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from helpers import (
    approval_limits,
    danish_numbers,
    gateway_client,
    make_list,
    report_deliveries,
    sent_campaign,
    waiting_campaign,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.gateway.messages import Balance
from webapp.models import (
    AuditEvent,
    Batch,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    ImportStatus,
    ListImport,
    Recipient,
    RecipientState,
    Role,
    User,
    utcnow,
)
from webapp.services import approval, budget, campaigns, dispatch, optouts
from webapp.services.campaigns import (
    ApprovalNeeded,
    ApprovalRefused,
    CampaignInvalid,
    CampaignStateError,
)
from webapp.services.preview import preview_campaign, recipient_messages
from webapp.services.settings import SettingError


@pytest.fixture
def admin(ctx, make_user):
    return db.session.get(User, make_user(Role.ADMIN, "admin@example.com"))


@pytest.fixture
def approver(ctx, make_user):
    """A sender given the approver right."""
    user = db.session.get(User, make_user(Role.SENDER, "approver@example.com"))
    user.approver = True
    db.session.commit()
    return user


@pytest.fixture
def limits(ctx):
    """Campaigns to more than 3 recipients need approval."""
    return approval_limits(db.session, recipients=3)


def frozen_count(campaign) -> int:
    return db.session.scalar(
        select(func.count()).where(CampaignRecipient.campaign_id == campaign.id)
    )


def history(campaign) -> list[str]:
    db.session.expire(campaign, ["events"])
    return [event.action for event in campaign.events if event.action != "previewed"]


def audit_actions(campaign) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "campaign", AuditEvent.object_id == str(campaign.id))
            .order_by(AuditEvent.id)
        )
    )


def previewed_draft(sender, sandbox, count=5, name="Big"):
    people = make_list(db.session, f"{name} list", danish_numbers(count))
    campaign = campaigns.save_draft(
        db.session,
        sender,
        campaigns.CampaignDraft(name=name, sender="Shop", message="Hi", list_ids=[people.id]),
    )
    preview_campaign(
        db.session, campaign, sender, gateway_client(sandbox), honours_dry_run=True, batch_size=10
    )
    return campaign


# --- The limits ---------------------------------------------------------------------------------


def test_no_limits_means_no_approval(ctx, sender, sandbox):
    assert not approval.approval_limits(db.session).on
    campaign = previewed_draft(sender, sandbox, count=50)
    assert approval.approval_reason(db.session, campaign) is None
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10)
    assert campaign.status is CampaignStatus.QUEUED


def test_limits_are_kept_and_read_back(ctx):
    limits = approval_limits(db.session, recipients=1000, cost="250.5 dkk")
    assert approval.approval_limits(db.session) == limits
    assert limits.text == "more than 1,000 recipients or more than 250.50 DKK"
    assert not approval_limits(db.session).on  # both empty: off


@pytest.mark.parametrize(
    ("recipients", "amount", "currency", "problem"),
    [
        ("many", "", "", "not a number of recipients"),
        ("-3", "", "", "not a number of recipients"),
        ("", "lots", "DKK", "not an amount"),
        ("", "10", "kroner", "three letters"),
    ],
)
def test_limits_that_cannot_be_read_are_refused_and_nothing_is_stored(
    ctx, recipients, amount, currency, problem
):
    approval_limits(db.session, recipients=7)
    with pytest.raises(SettingError, match=problem):
        approval.set_approval_limits(db.session, recipients, amount, currency)
    assert approval.approval_limits(db.session).recipients == 7


def test_a_campaign_above_either_limit_needs_approval_and_says_why(ctx, sender, sandbox):
    campaign = previewed_draft(sender, sandbox, count=5)  # 5 recipients, 0.75 DKK
    approval_limits(db.session, recipients=5)
    assert approval.approval_reason(db.session, campaign) is None  # not above: equal
    approval_limits(db.session, recipients=4)
    assert approval.approval_reasons(db.session, campaign) == [
        "5 recipients is more than the limit of 4"
    ]
    approval_limits(db.session, cost="0.50 DKK")
    assert approval.approval_reasons(db.session, campaign) == [
        "0.75 DKK is more than the limit of 0.50 DKK"
    ]
    approval_limits(db.session, cost="1.00 EUR")  # not comparable: someone looks at it
    assert "cannot be compared" in approval.approval_reason(db.session, campaign)


# --- Asking ---------------------------------------------------------------------------------


def test_confirming_a_campaign_over_the_limits_is_refused_and_nothing_is_frozen(
    limits, sender, sandbox
):
    campaign = previewed_draft(sender, sandbox)
    with pytest.raises(ApprovalNeeded, match="5 recipients is more than the limit of 3"):
        campaigns.confirm_campaign(db.session, campaign, sender, batch_size=2)
    db.session.expire_all()
    assert campaign.status is CampaignStatus.DRAFT
    assert frozen_count(campaign) == 0
    assert audit_actions(campaign) == []


def test_asking_freezes_the_recipients_as_a_confirmation_does_and_sends_nothing(
    limits, sender, sandbox
):
    campaign = waiting_campaign(db.session, sandbox, sender, count=5, batch_size=2)
    assert campaign.status is CampaignStatus.AWAITING_APPROVAL
    assert frozen_count(campaign) == 5
    assert [b.size for b in campaign.batches] == [2, 2, 1]
    assert campaign.approval_requested_by_id == sender.id
    assert campaign.confirmed_by_id == sender.id
    assert history(campaign) == ["approval_requested"]
    assert audit_actions(campaign) == ["campaign_approval_requested"]
    (event,) = [e for e in campaign.events if e.action == "approval_requested"]
    assert "needs approval: 5 recipients is more than the limit of 3" in event.detail
    # Neither the sweep nor a dispatch sends it.
    assert campaign.id not in dispatch.due_campaigns(db.session)
    # (A dispatcher acquires only a live campaign: it finds nothing to do.)
    dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox))
    db.session.expire_all()
    assert campaign.status is CampaignStatus.AWAITING_APPROVAL
    assert sandbox.store.count_received() == 0


def test_a_scheduled_campaign_waiting_is_never_sent_by_the_sweep_even_when_due(
    limits, sender, sandbox
):
    campaign = waiting_campaign(
        db.session, sandbox, sender, send_at=utcnow() + timedelta(minutes=5)
    )
    later = utcnow() + timedelta(hours=1)
    assert campaign.id not in dispatch.due_campaigns(db.session, later)
    client = gateway_client(sandbox)
    dispatch.dispatch_campaign(db.session, campaign.id, client, clock=lambda: later)
    assert sandbox.store.count_received() == 0


def test_list_changes_after_the_request_do_not_change_what_is_approved(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender, count=5)
    lst = campaign.lists[0]
    added = ListImport(list_id=lst.id, filename="more.csv", status=ImportStatus.DONE)
    db.session.add(added)
    db.session.flush()
    for line, msisdn in enumerate(danish_numbers(3, start=20_300_000), start=2):
        db.session.add(
            Recipient(list_id=lst.id, import_id=added.id, msisdn=msisdn, country="DK", line=line)
        )
    db.session.commit()
    rows, total = recipient_messages(db.session, campaign)
    assert total == 5 and {r.msisdn for r in rows} == set(danish_numbers(5))


def test_the_approvers_view_reads_the_frozen_recipients(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender, count=5)
    # Recipients taken out of the list after the request are still in what waits.
    db.session.execute(
        Recipient.__table__.delete().where(Recipient.list_id == campaign.lists[0].id)
    )
    db.session.commit()
    rows, total = recipient_messages(db.session, campaign)
    assert total == 5 and {row.msisdn for row in rows} == set(danish_numbers(5))
    rows, total = recipient_messages(db.session, campaign, search="Hi")
    assert total == 5 and all(row.text == "Hi" for row in rows)


def test_the_budget_applies_when_asking(limits, sender, sandbox):
    campaign = previewed_draft(sender, sandbox)  # 0.75 DKK
    budget.set_monthly_budget(db.session, "0.50", "DKK")
    with pytest.raises(CampaignStateError, match="over the monthly budget"):
        campaigns.request_approval(db.session, campaign, sender, batch_size=2)
    assert campaign.status is CampaignStatus.DRAFT


# --- Approving --------------------------------------------------------------------------------


def test_an_admin_approves_and_it_is_queued_then_sent(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender, count=5)
    campaigns.approve_campaign(db.session, campaign, admin, comment="Fine by me")
    assert campaign.status is CampaignStatus.QUEUED
    assert (campaign.approved_by_id, campaign.approval_comment) == (admin.id, "Fine by me")
    assert history(campaign) == ["approval_requested", "approved"]
    assert audit_actions(campaign) == ["campaign_approval_requested", "campaign_approved"]
    dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox))
    assert sandbox.store.count_received(label="Big") == 5
    db.session.refresh(campaign)
    assert campaign.status is CampaignStatus.DONE


def test_an_approved_scheduled_campaign_waits_for_its_time(limits, sender, admin, sandbox):
    send_at = utcnow() + timedelta(hours=2)
    campaign = waiting_campaign(db.session, sandbox, sender, send_at=send_at)
    campaigns.approve_campaign(db.session, campaign, admin)
    assert campaign.status is CampaignStatus.SCHEDULED
    assert campaign.id not in dispatch.due_campaigns(db.session)
    assert campaign.id in dispatch.due_campaigns(db.session, send_at + timedelta(seconds=1))


def test_a_send_time_that_passed_while_waiting_is_refused(limits, sender, admin, sandbox):
    send_at = utcnow() + timedelta(minutes=10)
    campaign = waiting_campaign(db.session, sandbox, sender, send_at=send_at)
    with pytest.raises(CampaignStateError, match="send time has passed"):
        campaigns.approve_campaign(db.session, campaign, admin, now=send_at + timedelta(minutes=1))
    assert campaign.status is CampaignStatus.AWAITING_APPROVAL


def test_a_user_given_the_approver_right_approves(limits, sender, approver, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    campaigns.approve_campaign(db.session, campaign, approver)
    assert campaign.approved_by_id == approver.id


def test_a_sender_without_the_approver_right_cannot_approve(limits, sender, make_user, sandbox):
    other = db.session.get(User, make_user(Role.SENDER, "other@example.com"))
    campaign = waiting_campaign(db.session, sandbox, sender)
    for decide in (
        lambda: campaigns.approve_campaign(db.session, campaign, other),
        lambda: campaigns.reject_campaign(db.session, campaign, other, comment="No"),
    ):
        with pytest.raises(ApprovalRefused, match="Only admins and approvers"):
            decide()
    assert campaign.status is CampaignStatus.AWAITING_APPROVAL
    assert audit_actions(campaign) == ["campaign_approval_requested"]


def test_a_deactivated_approver_cannot_approve(limits, sender, approver, sandbox):
    approver.active = False
    db.session.commit()
    campaign = waiting_campaign(db.session, sandbox, sender)
    with pytest.raises(ApprovalRefused):
        campaigns.approve_campaign(db.session, campaign, approver)


def test_nobody_approves_their_own_campaign_not_even_an_admin(limits, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, admin)
    with pytest.raises(ApprovalRefused, match="You asked for this approval"):
        campaigns.approve_campaign(db.session, campaign, admin)
    with pytest.raises(ApprovalRefused, match="You asked for this approval"):
        campaigns.reject_campaign(db.session, campaign, admin, comment="Hmm")
    assert campaign.status is CampaignStatus.AWAITING_APPROVAL


def test_the_budget_is_checked_again_at_approval(limits, sender, admin, sandbox):
    budget.set_monthly_budget(db.session, "1.00", "DKK")
    campaign = waiting_campaign(db.session, sandbox, sender)  # 0.75 DKK: fits when asked
    budget.set_monthly_budget(db.session, "0.50", "DKK")  # ... lowered meanwhile
    with pytest.raises(CampaignStateError, match="cannot be approved now.*0.75 DKK.*0.50 DKK"):
        campaigns.approve_campaign(db.session, campaign, admin)
    assert campaign.status is CampaignStatus.AWAITING_APPROVAL
    budget.set_monthly_budget(db.session, "10", "DKK")
    campaigns.approve_campaign(db.session, campaign, admin)
    assert campaign.status is CampaignStatus.QUEUED


def test_the_months_spend_since_the_request_counts_at_approval(limits, sender, admin, sandbox):
    budget.set_monthly_budget(db.session, "1.00", "DKK")
    campaign = waiting_campaign(db.session, sandbox, sender)  # 0.75 DKK
    # Another campaign (under the limits) was sent meanwhile: 0.45 DKK charged this month.
    sent_campaign(db.session, sender, gateway_client(sandbox), danish_numbers(3, 20_500_000))
    with pytest.raises(CampaignStateError, match="over the monthly budget"):
        campaigns.approve_campaign(db.session, campaign, admin)


def test_a_waiting_campaign_does_not_count_as_committed_spend(limits, sender, sandbox):
    budget.set_monthly_budget(db.session, "100", "DKK")
    waiting_campaign(db.session, sandbox, sender)
    assert budget.committed_cost(db.session, "DKK") == Decimal(0)


def test_the_balance_is_checked_again_at_approval(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    short = Balance(credit=Decimal("0.10"), currency="DKK")
    with pytest.raises(CampaignStateError, match="balance is 0.10 DKK"):
        campaigns.approve_campaign(db.session, campaign, admin, balance=short)


def test_two_approvers_at_once_approve_once(limits, sender, admin, approver, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    with Session(db.engine) as other_tab:
        stale = other_tab.get(Campaign, campaign.id)  # read while it still waited
        other = other_tab.get(User, approver.id)
        assert stale.status.can_approve
        campaigns.approve_campaign(db.session, campaign, admin)
        with pytest.raises(CampaignStateError, match="not waiting for approval"):
            campaigns.approve_campaign(other_tab, stale, other)
    db.session.expire_all()
    assert history(campaign) == ["approval_requested", "approved"]
    assert audit_actions(campaign) == ["campaign_approval_requested", "campaign_approved"]
    assert campaign.approved_by_id == admin.id


def test_an_approval_racing_a_withdrawal_loses_cleanly(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    with Session(db.engine) as approvers_tab:
        stale = approvers_tab.get(Campaign, campaign.id)
        deciding = approvers_tab.get(User, admin.id)
        campaigns.withdraw_approval(db.session, campaign, sender)
        with pytest.raises(CampaignStateError, match="not waiting for approval"):
            campaigns.approve_campaign(approvers_tab, stale, deciding)
    db.session.expire_all()
    assert campaign.status is CampaignStatus.DRAFT
    assert frozen_count(campaign) == 0


def test_a_page_from_before_a_new_request_cannot_approve_it(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    seen = campaign.preview_fingerprint
    campaigns.withdraw_approval(db.session, campaign, sender)
    campaign.message = "Hi, changed"
    db.session.commit()
    preview_campaign(
        db.session, campaign, sender, gateway_client(sandbox), honours_dry_run=True, batch_size=10
    )
    campaigns.request_approval(db.session, campaign, sender, batch_size=2)
    with pytest.raises(CampaignStateError, match="changed since you opened it"):
        campaigns.approve_campaign(db.session, campaign, admin, fingerprint=seen)
    campaigns.approve_campaign(
        db.session, campaign, admin, fingerprint=campaign.preview_fingerprint
    )


def test_the_command_line_approves_as_the_system(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    campaigns.approve_campaign(db.session, campaign, None, comment="ok")
    assert (campaign.status, campaign.approved_by_id) == (CampaignStatus.QUEUED, None)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign_approved"))
    assert (event.user_id, event.actor) == (None, "system")
    assert event.detail == "at the command line; ok"


# --- Rejecting, withdrawing, changing ----------------------------------------------------------


def test_a_rejection_needs_a_comment_and_makes_it_a_draft_again(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    with pytest.raises(CampaignInvalid, match="Say why"):
        campaigns.reject_campaign(db.session, campaign, admin, comment="  ")
    campaigns.reject_campaign(db.session, campaign, admin, comment="Too many at once")
    assert campaign.status is CampaignStatus.DRAFT
    assert campaign.approval_comment == "Too many at once"
    assert (frozen_count(campaign), len(campaign.batches)) == (0, 0)
    assert campaign.confirmed_at is None
    assert history(campaign) == ["approval_requested", "rejected"]
    assert audit_actions(campaign) == ["campaign_approval_requested", "campaign_rejected"]
    # Its preview still holds: asked again at once, approved by another.
    campaigns.request_approval(db.session, campaign, sender, batch_size=2)
    assert campaign.approval_comment is None and frozen_count(campaign) == 5


def test_its_sender_withdraws_the_request(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    campaigns.withdraw_approval(db.session, campaign, sender)
    assert campaign.status is CampaignStatus.DRAFT and frozen_count(campaign) == 0
    assert history(campaign) == ["approval_requested", "withdrawn"]
    with pytest.raises(CampaignStateError, match="not waiting"):
        campaigns.withdraw_approval(db.session, campaign, sender)


def test_saving_the_campaign_withdraws_the_request_in_one_event(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    draft = campaigns.CampaignDraft(
        name="Big",
        sender="Shop",
        message="Hi again",
        list_ids=[campaign.lists[0].id],
        send_at=utcnow() + timedelta(days=1),
    )
    campaigns.save_draft(db.session, sender, draft, campaign, address="10.0.0.7")
    assert campaign.status is CampaignStatus.DRAFT and campaign.message == "Hi again"
    assert frozen_count(campaign) == 0
    assert history(campaign) == ["approval_requested", "withdrawn"]
    assert audit_actions(campaign) == ["campaign_approval_requested", "campaign_withdrawn"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign_withdrawn"))
    assert event.detail == "the campaign was changed after the request"
    assert (event.user_id, event.address) == (sender.id, "10.0.0.7")
    assert not campaigns.preview_is_current(db.session, campaign)  # preview again, then ask


def test_the_undeliverable_choice_withdraws_the_request_in_one_event(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    campaigns.set_include_undeliverable(db.session, campaign, sender, True)
    assert campaign.status is CampaignStatus.DRAFT and campaign.include_undeliverable
    assert audit_actions(campaign) == ["campaign_approval_requested", "campaign_withdrawn"]
    assert "numbers flagged undeliverable included" in campaign.events[-1].detail


def test_a_speed_change_withdraws_the_request_in_one_event(limits, sender, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    dispatch.set_speed(db.session, campaign, sender, 60)
    assert campaign.status is CampaignStatus.DRAFT and campaign.speed_per_minute == 60
    assert audit_actions(campaign) == ["campaign_approval_requested", "campaign_withdrawn"]
    assert "speed: 60 per minute" in campaign.events[-1].detail


def test_a_change_racing_an_approval_is_refused_and_changes_nothing(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender)
    with Session(db.engine) as senders_tab:
        stale = senders_tab.get(Campaign, campaign.id)
        editing = senders_tab.get(User, sender.id)
        campaigns.approve_campaign(db.session, campaign, admin)
        draft = campaigns.CampaignDraft(
            name="Big", sender="Shop", message="Changed", list_ids=[stale.lists[0].id]
        )
        with pytest.raises(CampaignStateError):
            campaigns.save_draft(senders_tab, editing, draft, stale)
    db.session.expire_all()
    assert (campaign.status, campaign.message) == (CampaignStatus.QUEUED, "Hi")


def test_a_rejected_follow_up_hands_its_recipients_back_to_its_parent(
    limits, sender, admin, sandbox
):
    client = gateway_client(sandbox)
    approval_limits(db.session)  # the original goes out without approval
    parent = sent_campaign(db.session, sender, client, danish_numbers(5), batch_size=5)
    db.session.execute(
        CampaignRecipient.__table__.update()
        .where(CampaignRecipient.campaign_id == parent.id)
        .values(state=RecipientState.FAILED)
    )
    db.session.commit()
    approval_limits(db.session, recipients=3)
    follow_up = campaigns.create_follow_up(db.session, parent, sender)
    preview_campaign(db.session, follow_up, sender, client, honours_dry_run=True, batch_size=10)
    campaigns.request_approval(db.session, follow_up, sender, batch_size=5)
    states = select(CampaignRecipient.state).where(CampaignRecipient.campaign_id == parent.id)
    assert set(db.session.scalars(states)) == {RecipientState.RESENT}
    rows, total = recipient_messages(db.session, follow_up)  # the approver sees the five
    assert total == 5
    campaigns.reject_campaign(db.session, follow_up, admin, comment="Not now")
    assert set(db.session.scalars(states)) == {RecipientState.FAILED}
    assert campaigns.create_follow_up(db.session, parent, sender).id == follow_up.id


def test_a_number_opted_out_while_waiting_is_not_sent(limits, sender, admin, sandbox):
    campaign = waiting_campaign(db.session, sandbox, sender, count=5)
    gone = danish_numbers(5)[0]
    optouts.add_opt_outs(db.session, [f"+{gone}"], default_country="DK")
    campaigns.approve_campaign(db.session, campaign, admin)
    dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox))
    received = {row["msisdn"] for row in sandbox.store.received_for(label="Big")}
    assert gone not in received and len(received) == 4
    report_deliveries(db.session, campaign, [])  # nothing else to report


def test_a_draft_is_neither_approved_nor_rejected(sender, admin, sandbox):
    campaign = previewed_draft(sender, sandbox)
    for decide in (
        lambda: campaigns.approve_campaign(db.session, campaign, admin),
        lambda: campaigns.reject_campaign(db.session, campaign, admin, comment="x"),
    ):
        with pytest.raises(CampaignStateError, match="not waiting for approval"):
            decide()
    assert db.session.scalar(select(func.count()).select_from(Batch)) == 0
