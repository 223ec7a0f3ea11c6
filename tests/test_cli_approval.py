"""The command line honours the approval rule: `flask campaigns send` over the limits stops
with a clear message and exit code 7, sending nothing; `flask campaigns approve NAME` approves
a campaign a user asked for on the pages, as the command line (the audit log's "system")."""

from __future__ import annotations

import json

import pytest
from helpers import approval_limits, danish_numbers, make_list, waiting_campaign
from sqlalchemy import select

from webapp.cli import EXIT_NEEDS_APPROVAL
from webapp.extensions import db
from webapp.models import AuditEvent, Campaign, CampaignStatus, Role, User

ARGS = ["campaigns", "send", "--name", "Cli big", "--sender", "Shop", "--list", "People"]


@pytest.fixture
def people(app):
    with app.app_context():
        make_list(db.session, "People", danish_numbers(30))
        approval_limits(db.session, recipients=10)


def test_send_over_the_limits_stops_with_a_clear_message_and_sends_nothing(
    app, people, sandbox, jobs
):
    result = app.test_cli_runner().invoke(args=[*ARGS, "--message", "Hi", "--yes"])
    assert result.exit_code == EXIT_NEEDS_APPROVAL == 7
    assert "It needs approval before it is sent: 30 recipients is more than the limit of 10" in (
        result.output
    )
    assert "Nothing was sent." in result.output
    assert "flask campaigns approve 'Cli big'" in result.output
    jobs.run_pending()
    assert sandbox.store.count_received() == 0
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.name == "Cli big"))
        assert campaign.status is CampaignStatus.DRAFT  # kept, for a sender to ask


def test_send_with_a_key_of_a_waiting_campaign_stops_too(app, people, sandbox):
    runner = app.test_cli_runner()
    args = [*ARGS, "--message", "Hi", "--yes", "--idempotency-key", "k-1"]
    assert runner.invoke(args=args).exit_code == EXIT_NEEDS_APPROVAL
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.idempotency_key == "k-1"))
        campaign.status = CampaignStatus.AWAITING_APPROVAL  # a sender asked meanwhile
        db.session.commit()
    again = runner.invoke(args=[*args, "--json"])
    assert again.exit_code == EXIT_NEEDS_APPROVAL
    assert "waiting for approval" in again.output


def test_send_under_the_limits_is_unchanged(app, people, sandbox, jobs):
    with app.app_context():
        approval_limits(db.session, recipients=100)
    result = app.test_cli_runner().invoke(args=[*ARGS, "--message", "Hi", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "queued"


def test_approve_sends_a_campaign_a_user_asked_for(app, make_user, sandbox, jobs):
    with app.app_context():
        approval_limits(db.session, recipients=3)
        sender = db.session.get(User, make_user(Role.SENDER))
        campaign = waiting_campaign(db.session, sandbox, sender, name="Weekend", count=5)
        cid = campaign.id
    result = app.test_cli_runner().invoke(
        args=["campaigns", "approve", "Weekend", "--comment", "checked by phone"]
    )
    assert result.exit_code == 0, result.output
    assert "Approved 'Weekend'" in result.output and "queued to be sent now" in result.output
    jobs.run_pending()
    assert sandbox.store.count_received(label="Weekend") == 5
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "campaign_approved")
        )
        assert (event.actor, event.user_id, event.object_id) == ("system", None, str(cid))
        assert event.detail == "at the command line; checked by phone"


def test_approve_refuses_what_does_not_wait(app, make_user, sandbox):
    with app.app_context():
        make_list(db.session, "People", danish_numbers(2))
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["campaigns", "approve", "Nope"])
    assert unknown.exit_code == 1 and "No campaign is called" in unknown.output
    with app.app_context():
        db.session.add(Campaign(name="Drafty", sender="Shop", message="Hi"))
        db.session.commit()
    draft = runner.invoke(args=["campaigns", "approve", "Drafty"])
    assert draft.exit_code == 1
    assert "not waiting for approval" in draft.output and "Nothing was approved" in draft.output


def test_approve_checks_the_budget_again(app, make_user, sandbox):
    from webapp.services import budget

    with app.app_context():
        approval_limits(db.session, recipients=3)
        sender = db.session.get(User, make_user(Role.SENDER))
        waiting_campaign(db.session, sandbox, sender, name="Dear", count=5)
        budget.set_monthly_budget(db.session, "0.10", "DKK")
    result = app.test_cli_runner().invoke(args=["campaigns", "approve", "Dear"])
    assert result.exit_code == 1 and "over the monthly budget" in result.output


def test_send_stops_before_asking_to_send(app, people, sandbox):
    result = app.test_cli_runner().invoke(args=[*ARGS, "--message", "Hi"], input="y\n")
    assert result.exit_code == EXIT_NEEDS_APPROVAL
    assert "30 recipients" in result.output and "Send it?" not in result.output


def test_the_approver_right_is_given_and_taken_at_the_command_line(app, make_user):
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER))
        email = user.email
    runner = app.test_cli_runner()
    given = runner.invoke(args=["users", "approver", email])
    assert given.exit_code == 0, given.output
    assert f"{email} may approve campaigns." in given.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == email)).may_approve
    taken = runner.invoke(args=["users", "approver", email, "--off"])
    assert f"{email} no longer has the approver right." in taken.output
    with app.app_context():
        assert not db.session.scalar(select(User).where(User.email == email)).may_approve
        events = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "user_approver")
        ).all()
        assert len(events) == 2 and all("at the command line" in event for event in events)
    unknown = runner.invoke(args=["users", "approver", "nobody@example.com"])
    assert unknown.exit_code != 0 and "nobody@example.com" in unknown.output
