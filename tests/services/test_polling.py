"""Delivery reports by polling (DELIVERY_REPORTS=poll): the gateway's statuses recorded as
webhooks record them, with backoff per batch, until the validity period ends, through gateway
errors. Against the sandbox over HTTP."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from helpers import confirmed_campaign_of, danish_numbers, gateway_client, poll, sent_campaign

from webapp import create_app
from webapp.extensions import db
from webapp.gateway.reports import is_final
from webapp.models import (
    Batch,
    Campaign,
    CampaignRecipient,
    CampaignTestSend,
    DeliveryOutcome,
    DeliveryReport,
    Role,
    User,
)
from webapp.services import campaigns
from webapp.services.delivery import delivery_summary
from webapp.services.polling import PollSchedule, poll_delivery_reports

SCHEDULE = PollSchedule(
    first=timedelta(seconds=60), longest=timedelta(minutes=10), validity=timedelta(hours=1)
)


def gateway_statuses(sandbox, message_ids) -> dict[str, str]:
    """Each recipient's status as the gateway holds it: what its reports end with."""
    return {
        recipient["msisdn"]: recipient["status"]
        for message_id in message_ids
        for recipient in sandbox.store.message(int(message_id))["recipients"]
    }


def stored_statuses(campaign_id: int) -> dict[str, str | None]:
    db.session.expire_all()
    return dict(
        db.session.query(CampaignRecipient.msisdn, CampaignRecipient.delivery_status).filter_by(
            campaign_id=campaign_id
        )
    )


def only_batch(campaign_id: int) -> Batch:
    db.session.expire_all()
    return db.session.query(Batch).filter_by(campaign_id=campaign_id).one()


@pytest.mark.parametrize("mode", ["webhook", "poll"])
def test_a_campaign_ends_with_the_same_statuses_whether_reports_are_posted_or_polled(
    app, make_user, sandbox, live_server, jobs, mode
):
    app.config.update(DELIVERY_REPORTS=mode, PUBLIC_URL=live_server, DELIVERY_POLL_FIRST_SECONDS=0)
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER))
        campaign = confirmed_campaign_of(
            db.session, sandbox, name="Spring", count=30, batch_size=10, user=user
        )
        campaign_id = campaign.id
    jobs.dispatch_campaign(campaign_id)
    jobs.run_pending()
    with app.app_context():
        batches = db.session.get(Campaign, campaign_id).batches
        message_ids = [batch.message_id for batch in batches]
        assert len(message_ids) == 3 and all(message_ids)
        callbacks = {sandbox.store.message(int(m))["callback_url"] for m in message_ids}
        assert callbacks == (
            {None} if mode == "poll" else {f"{live_server}/webhooks/delivery-reports"}
        )
        truth = poll(
            lambda: (
                (s := gateway_statuses(sandbox, message_ids))
                and all(is_final(status) for status in s.values())
                and s
            ),
            what="the sandbox to give every recipient a final status",
        )
        if mode == "poll":
            jobs.poll_delivery_reports()
            jobs.run_pending()
        poll(lambda: stored_statuses(campaign_id) == truth, what="every final status recorded")
        summary = delivery_summary(db.session, db.session.get(Campaign, campaign_id))
        assert summary.awaiting == 0
        assert summary.delivered == list(truth.values()).count("DELIVERED")
        assert summary.counts[DeliveryOutcome.UNDELIVERABLE] == list(truth.values()).count(
            "UNDELIVERABLE"
        )


def test_polling_records_each_status_once_in_the_history(sender, sandbox):
    client = gateway_client(sandbox)
    campaign = sent_campaign(db.session, sender, client, danish_numbers(2), batch_size=2)
    batch = only_batch(campaign.id)
    poll(
        lambda: all(is_final(s) for s in gateway_statuses(sandbox, [batch.message_id]).values()),
        what="final statuses at the sandbox",
    )
    start = batch.finished_at
    first = poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=start + SCHEDULE.first)
    assert (first.batches, first.recorded) == (1, 2)
    again = poll_delivery_reports(
        db.session, client, schedule=SCHEDULE, now=start + SCHEDULE.validity
    )
    assert again.batches == 0  # every recipient is final: nothing left to ask about
    assert db.session.query(DeliveryReport).count() == 2


@pytest.fixture
def slow_batch(sender, sandbox):
    """A sent batch of two recipients whose statuses stay ENROUTE at the gateway (an hour)."""
    sandbox.config.report_delay_seconds = 3600
    campaign = sent_campaign(
        db.session, sender, gateway_client(sandbox), danish_numbers(2), batch_size=2
    )
    return only_batch(campaign.id)


def test_a_batch_is_polled_first_after_a_while_then_waiting_twice_as_long_each_time(
    slow_batch, sandbox
):
    client = gateway_client(sandbox)
    sent_at = slow_batch.finished_at
    rounds = [
        (sent_at + timedelta(seconds=59), 0),  # not yet: the first poll waits a minute
        (sent_at + timedelta(seconds=60), 1),
        (sent_at + timedelta(seconds=179), 0),  # the next waits twice as long: 2 minutes
        (sent_at + timedelta(seconds=180), 1),
        (sent_at + timedelta(seconds=419), 0),  # then 4 minutes
        (sent_at + timedelta(seconds=420), 1),
    ]
    for now, polled in rounds:
        done = poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=now)
        assert done.batches == polled, now - sent_at
    batch = only_batch(slow_batch.campaign_id)
    assert batch.poll_attempts == 3
    assert batch.next_poll_at == sent_at + timedelta(seconds=420 + 480)
    recipient = db.session.query(CampaignRecipient).filter_by(batch_id=batch.id).first()
    assert (recipient.delivery_status, recipient.delivery_outcome) == (
        "ENROUTE",
        DeliveryOutcome.AWAITING,
    )


def test_the_wait_between_polls_stops_growing_at_the_longest(slow_batch, sandbox):
    client = gateway_client(sandbox)
    now = slow_batch.finished_at + timedelta(seconds=60)
    for _ in range(6):
        poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=now)
        now = only_batch(slow_batch.campaign_id).next_poll_at
    last = only_batch(slow_batch.campaign_id)
    assert last.poll_attempts == 6
    polled_at = now - SCHEDULE.longest
    assert last.next_poll_at - polled_at == SCHEDULE.longest


def test_polling_stops_once_the_validity_period_is_over(slow_batch, sandbox):
    client = gateway_client(sandbox)
    ends = slow_batch.finished_at + SCHEDULE.validity
    near_end = poll_delivery_reports(
        db.session, client, schedule=SCHEDULE, now=ends - timedelta(minutes=2)
    )
    assert near_end.batches == 1
    assert only_batch(slow_batch.campaign_id).next_poll_at == ends  # one last look at the end
    last = poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=ends)
    assert (last.batches, last.ended) == (1, 1)
    assert only_batch(slow_batch.campaign_id).next_poll_at is None
    later = poll_delivery_reports(
        db.session, client, schedule=SCHEDULE, now=ends + timedelta(days=1)
    )
    assert later.batches == 0


def test_a_gateway_error_while_polling_is_logged_and_the_batch_is_asked_again(
    slow_batch, sandbox, caplog
):
    client = gateway_client(sandbox)
    sent_at = slow_batch.finished_at
    sandbox.config.error_share = 1.0
    with caplog.at_level(logging.WARNING, logger="webapp.services.polling"):
        failed = poll_delivery_reports(
            db.session, client, schedule=SCHEDULE, now=sent_at + timedelta(seconds=60)
        )
    assert (failed.batches, failed.errors, failed.recorded) == (1, 1, 0)
    assert f"batch {slow_batch.number}: polling message {slow_batch.message_id}" in caplog.text
    assert "asked again at" in caplog.text
    sandbox.config.error_share = 0.0
    retried = poll_delivery_reports(
        db.session, client, schedule=SCHEDULE, now=only_batch(slow_batch.campaign_id).next_poll_at
    )
    assert (retried.batches, retried.errors, retried.recorded) == (1, 0, 2)
    assert set(stored_statuses(slow_batch.campaign_id).values()) == {"ENROUTE"}


def test_the_polling_job_does_nothing_when_reports_come_by_webhook(app, slow_batch, jobs):
    from webapp.tasks import JOBS

    app.config["DELIVERY_POLL_FIRST_SECONDS"] = 0
    assert JOBS["poll_delivery_reports"]() == 0
    assert only_batch(slow_batch.campaign_id).poll_attempts == 0
    app.config["DELIVERY_REPORTS"] = "poll"
    assert JOBS["poll_delivery_reports"]() == 2
    assert only_batch(slow_batch.campaign_id).poll_attempts == 1


def test_an_unknown_delivery_reports_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="DELIVERY_REPORTS must be webhook or poll"):
        create_app({"DELIVERY_REPORTS": "carrier-pigeon"}, instance_path=tmp_path)


def test_the_poll_command_polls_what_is_due_now(app, slow_batch):
    import json

    app.config["DELIVERY_POLL_FIRST_SECONDS"] = 0
    result = app.test_cli_runner().invoke(args=["campaigns", "poll-reports", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "batches": 1,
        "recorded": 2,
        "errors": 0,
        "ended": 0,
        "test_messages": 0,
    }


def sent_test_message(sender, client, numbers):
    """A test message of a sent campaign to ``numbers``, sent without a callback URL."""
    campaign = sent_campaign(db.session, sender, client, danish_numbers(1), batch_size=1)
    return campaigns.send_test(
        db.session,
        campaign,
        sender,
        client,
        numbers=numbers,
        sample_msisdn=None,
        default_country="DK",
    )


def test_a_test_message_gets_its_status_by_polling_too(sender, sandbox):
    """Without webhooks (no callback URL), a test message's status comes from the same polls,
    on the same schedule from its send, and polling it stops once every number is final."""
    client = gateway_client(sandbox)
    numbers = danish_numbers(2, start=30_100_000)
    test = sent_test_message(sender, client, numbers)
    assert test.message_id and sandbox.store.message(int(test.message_id))["callback_url"] is None
    truth = poll(
        lambda: (
            (s := gateway_statuses(sandbox, [test.message_id]))
            and all(is_final(status) for status in s.values())
            and s
        ),
        what="final statuses for the test message at the sandbox",
    )
    sent_at = test.created_at
    early = poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=sent_at)
    assert early.test_messages == 0  # the first poll waits as a batch's does
    done = poll_delivery_reports(
        db.session, client, schedule=SCHEDULE, now=sent_at + SCHEDULE.first
    )
    assert done.test_messages == 1
    db.session.expire_all()
    test = db.session.get(CampaignTestSend, test.id)
    assert {n: entry["status"] for n, entry in test.deliveries.items()} == {
        n: truth[n] for n in numbers
    }
    later = poll_delivery_reports(
        db.session, client, schedule=SCHEDULE, now=sent_at + SCHEDULE.validity
    )
    assert later.test_messages == 0  # every number final: nothing left to ask


def test_a_test_message_still_in_flight_is_asked_again_with_backoff(sender, sandbox):
    sandbox.config.report_delay_seconds = 3600  # ENROUTE for an hour
    client = gateway_client(sandbox)
    test = sent_test_message(sender, client, danish_numbers(1, start=30_100_000))
    sent_at = test.created_at
    asked = [
        poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=now).test_messages
        for now in (
            sent_at + timedelta(seconds=60),
            sent_at + timedelta(seconds=179),  # the next waits twice as long
            sent_at + timedelta(seconds=180),
            sent_at + SCHEDULE.validity,  # the last look
            sent_at + SCHEDULE.validity + SCHEDULE.longest,  # then no more
        )
    ]
    assert asked == [1, 0, 1, 1, 0]
    db.session.expire_all()
    test = db.session.get(CampaignTestSend, test.id)
    assert test.deliveries[test.numbers[0]]["status"] == "ENROUTE"


def test_a_test_message_already_final_is_not_asked_about_and_drops_out(sender, sandbox):
    """Its reports came by webhook before the switch to polling: no request, and it no longer
    takes a place among the due ones."""
    from webapp.services.polling import due_test_messages

    client = gateway_client(sandbox)
    test = sent_test_message(sender, client, danish_numbers(1, start=30_100_000))
    test.deliveries = {test.numbers[0]: {"status": "DELIVERED", "error": None, "time": 100.0}}
    db.session.commit()
    due = test.created_at + SCHEDULE.first
    assert [t.id for t in due_test_messages(db.session, SCHEDULE, due)] == [test.id]
    done = poll_delivery_reports(db.session, client, schedule=SCHEDULE, now=due)
    assert done.test_messages == 0
    assert due_test_messages(db.session, SCHEDULE, due + SCHEDULE.longest) == []
