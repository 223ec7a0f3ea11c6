"""Sending exactly once: batches, retries, crashes, unconfirmed batches, pauses, follow-ups.

Every test counts what the sandbox gateway really received over HTTP.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from helpers import danish_numbers, gateway_client, make_list
from sqlalchemy import select

from webapp.extensions import db
from webapp.gateway.client import MtsmsClient
from webapp.models import BatchState, Campaign, CampaignRecipient, CampaignStatus, RecipientState
from webapp.services import campaigns, dispatch
from webapp.services.campaigns import CampaignDraft, CampaignStateError
from webapp.services.dispatch import DispatchInterrupted
from webapp.services.preview import preview_campaign
from webapp.services.progress import campaign_progress

LABEL = "Black Friday"


def confirmed_campaign(user, sandbox, count=25, batch_size=10, **changes):
    people = make_list(
        db.session,
        "People",
        [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(count))],
        fields=["first_name"],
    )
    values = dict(name=LABEL, sender="Shop", message="Hi %first_name%!", list_ids=[people.id])
    values.update(changes)
    campaign = campaigns.save_draft(db.session, user, CampaignDraft(**values))
    preview_campaign(
        db.session,
        campaign,
        user,
        gateway_client(sandbox),
        honours_dry_run=True,
        batch_size=batch_size,
    )
    campaigns.confirm_campaign(db.session, campaign, user, batch_size=batch_size)
    return campaign


def send(campaign, client, **options):
    options.setdefault("retry_base_seconds", 0.01)
    return dispatch.dispatch_campaign(db.session, campaign.id, client, **options)


def states(campaign):
    db.session.expire_all()
    return [b.state for b in db.session.get(Campaign, campaign.id).batches]


def received_numbers(sandbox, label=LABEL):
    return [row["msisdn"] for row in sandbox.store.received_for(label=label)]


def campaign_numbers(campaign):
    """The campaign's numbers in the order they were frozen (the list's order)."""
    return list(
        db.session.scalars(
            select(CampaignRecipient.msisdn)
            .where(CampaignRecipient.campaign_id == campaign.id)
            .order_by(CampaignRecipient.id)
        )
    )


def crash_at(step, batch_number):
    def checkpoint(name, batch):
        if name == step and batch.number == batch_number:
            raise DispatchInterrupted(f"killed at {step} of batch {batch_number}")

    return checkpoint


def test_campaign_is_sent_once_in_batches(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    assert send(campaign, gateway_client(sandbox)) == "done"
    assert states(campaign) == [BatchState.SENT] * 3
    numbers = received_numbers(sandbox)
    assert len(numbers) == 25 and len(set(numbers)) == 25
    progress = campaign_progress(db.session, campaign)
    assert progress.sent == 25 and progress.segments == 25
    assert progress.cost == Decimal(campaign.cost)  # the preview's cost is what was spent
    assert campaign.status == CampaignStatus.DONE
    # Batches go out at once, so the sandbox may store any of them first: match by number.
    texts = {row["msisdn"]: row["text"] for row in sandbox.store.received_for(label=LABEL)}
    first = campaign_numbers(campaign)[0]
    assert texts[first] == "Hi N0!"


def test_a_duplicated_job_sends_nothing_again(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    send(campaign, gateway_client(sandbox))
    assert send(campaign, gateway_client(sandbox)) in ("done", "missing", "busy")
    assert len(received_numbers(sandbox)) == 25


def test_two_workers_at_once_send_each_recipient_once(app, sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox, count=60, batch_size=5)
    sandbox.config.latency_seconds = 0.02
    campaign_id = campaign.id  # ORM objects belong to this thread's session
    outcomes = []

    def worker():
        with app.app_context():
            try:
                outcomes.append(
                    dispatch.dispatch_campaign(db.session, campaign_id, gateway_client(sandbox))
                )
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                outcomes.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["busy", "done"]
    numbers = received_numbers(sandbox)
    assert len(numbers) == 60 and len(set(numbers)) == 60


def crash_one_at_a_time(campaign, sandbox, step, batch_number):
    with pytest.raises(DispatchInterrupted):
        send(
            campaign,
            gateway_client(sandbox, max_connections=1),
            max_connections=1,
            checkpoint=crash_at(step, batch_number),
        )


def test_crash_once_the_request_started_leaves_the_batch_unconfirmed(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    crash_one_at_a_time(campaign, sandbox, "before-request", 2)
    assert send(campaign, gateway_client(sandbox)) == "done"
    assert states(campaign) == [BatchState.SENT, BatchState.UNCONFIRMED, BatchState.SENT]
    assert len(received_numbers(sandbox)) == 15  # batch 2 was never resent silently
    batch = db.session.get(Campaign, campaign.id).batches[1]
    assert batch.request_started_at is not None and "it went out at" in batch.error_message


def test_a_batch_claimed_but_never_started_goes_back_to_pending_by_itself(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    crash_one_at_a_time(campaign, sandbox, "claimed", 2)
    assert send(campaign, gateway_client(sandbox)) == "done"
    assert states(campaign) == [BatchState.SENT] * 3  # its request had not gone out
    numbers = received_numbers(sandbox)
    assert len(numbers) == 25 and len(set(numbers)) == 25


def test_deciding_not_sent_needs_the_typed_confirmation_naming_the_risk(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    sandbox.config.lost_response_share = 1.0
    send(campaign, gateway_client(sandbox))
    batch = db.session.get(Campaign, campaign.id).batches[0]
    with pytest.raises(CampaignStateError, match="each of them gets the message twice"):
        dispatch.decide_unconfirmed(db.session, campaign, batch, sender, accepted=False)
    dispatch.decide_unconfirmed(
        db.session, campaign, batch, sender, accepted=False, typed="not sent"
    )
    assert batch.state == BatchState.FAILED


@pytest.mark.parametrize("step", ["response", "recorded"])
def test_crash_after_the_request_never_resends(sender, sandbox, step):
    campaign = confirmed_campaign(sender, sandbox)
    with pytest.raises(DispatchInterrupted):
        send(
            campaign,
            gateway_client(sandbox, max_connections=1),
            max_connections=1,
            checkpoint=crash_at(step, 2),
        )
    send(campaign, gateway_client(sandbox))
    numbers = received_numbers(sandbox)
    assert len(numbers) == 25 and len(set(numbers)) == 25
    expected = BatchState.UNCONFIRMED if step == "response" else BatchState.SENT
    assert states(campaign)[1] == expected


def test_lost_response_is_unconfirmed_until_the_user_decides(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    sandbox.config.lost_response_share = 1.0
    send(campaign, gateway_client(sandbox))
    assert states(campaign) == [BatchState.UNCONFIRMED] * 3
    assert len(received_numbers(sandbox)) == 25  # the gateway did take them
    sandbox.config.lost_response_share = 0.0
    send(campaign, gateway_client(sandbox))
    assert len(received_numbers(sandbox)) == 25  # and nothing was resent
    batch = db.session.get(Campaign, campaign.id).batches[0]
    dispatch.decide_unconfirmed(db.session, campaign, batch, sender, accepted=True)
    assert campaign_progress(db.session, campaign).sent == 10


def test_server_errors_are_unconfirmed_not_retried(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    sandbox.config.error_share = 1.0
    send(campaign, gateway_client(sandbox))
    assert states(campaign) == [BatchState.UNCONFIRMED] * 3
    assert received_numbers(sandbox) == []
    batch = db.session.get(Campaign, campaign.id).batches[0]
    assert "injected failure" in batch.error_message  # the gateway's own message


def test_retry_succeeds_when_the_gateway_comes_back(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox, count=5)
    calls = []

    class FlakyClient:
        """Refuses the first connection as a restarting gateway would, then works."""

        def send(self, message, dry_run=False):
            calls.append(1)
            if len(calls) == 1:
                return MtsmsClient("http://127.0.0.1:9/rest/mtsms", "x", timeout=(0.5, 1)).send(
                    message
                )
            return gateway_client(sandbox).send(message)

    send(campaign, FlakyClient())
    assert states(campaign) == [BatchState.SENT]
    assert len(received_numbers(sandbox)) == 5


def test_exhausted_credit_pauses_with_the_gateways_message(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    sandbox.config.credit = Decimal("1.60")  # enough for one batch of 10 at 0.15
    assert send(campaign, gateway_client(sandbox, max_connections=1), max_connections=1) == "paused"
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.status == CampaignStatus.PAUSED
    assert "credit" in campaign.pause_reason.lower()
    assert states(campaign) == [BatchState.SENT, BatchState.PENDING, BatchState.PENDING]
    sandbox.config.credit = Decimal("100")
    dispatch.resume_campaign(db.session, campaign, sender)
    assert send(campaign, gateway_client(sandbox)) == "done"
    numbers = received_numbers(sandbox)
    assert len(numbers) == 25 and len(set(numbers)) == 25


def test_pause_and_cancel_stop_the_remaining_batches(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)

    def pause_after_first(name, batch):
        if name == "recorded" and batch.number == 1:
            dispatch.pause_campaign(db.session, db.session.get(Campaign, campaign.id), sender)

    assert (
        send(
            campaign,
            gateway_client(sandbox, max_connections=1),
            max_connections=1,
            checkpoint=pause_after_first,
        )
        == "paused"
    )
    assert states(campaign) == [BatchState.SENT, BatchState.PENDING, BatchState.PENDING]
    assert dispatch.cancel_campaign(db.session, db.session.get(Campaign, campaign.id), sender) == 2
    assert states(campaign) == [BatchState.SENT, BatchState.CANCELLED, BatchState.CANCELLED]
    assert len(received_numbers(sandbox)) == 10
    actions = [e.action for e in db.session.get(Campaign, campaign.id).events]
    assert actions[-2:] == ["paused", "cancelled"]


def test_follow_up_reaches_exactly_the_failed_recipients(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    sandbox.config.error_share = 1.0
    with pytest.raises(DispatchInterrupted):
        send(
            campaign,
            gateway_client(sandbox, max_connections=1),
            max_connections=1,
            checkpoint=crash_at("before-request", 3),
        )
    sandbox.config.error_share = 0.0
    # batches 1 and 2 got a 500 (unconfirmed); batch 3 was interrupted as its request started
    # (unconfirmed too)
    send(campaign, gateway_client(sandbox))
    campaign = db.session.get(Campaign, campaign.id)
    first, second, third = campaign.batches
    for batch in (first, third):
        dispatch.decide_unconfirmed(
            db.session, campaign, batch, sender, accepted=False, typed="NOT SENT"
        )
    follow_up = campaigns.create_follow_up(db.session, campaign, sender)
    preview_campaign(
        db.session, follow_up, sender, gateway_client(sandbox), honours_dry_run=True, batch_size=10
    )
    assert follow_up.recipient_count == 15
    campaigns.confirm_campaign(db.session, follow_up, sender, batch_size=10)
    send(follow_up, gateway_client(sandbox))
    assert received_numbers(sandbox) == []  # nothing went out under the first campaign
    numbers = received_numbers(sandbox, label=follow_up.name)
    assert len(numbers) == 15 and len(set(numbers)) == 15
    expected = {
        r.msisdn
        for r in db.session.query(CampaignRecipient).filter(
            CampaignRecipient.batch_id.in_([first.id, third.id])
        )
    }
    assert set(numbers) == expected
    resent = (
        db.session.query(CampaignRecipient)
        .filter_by(campaign_id=campaign.id, state=RecipientState.RESENT)
        .count()
    )
    assert resent == 15
    with pytest.raises(campaigns.CampaignStateError):
        campaigns.create_follow_up(db.session, campaign, sender)


def test_speed_limit_makes_smaller_batches(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox, count=12, batch_size=100, speed_per_minute=6000)
    assert [b.size for b in campaign.batches] == [12]
    slower = confirmed_campaign(
        sender, sandbox, count=12, batch_size=100, speed_per_minute=5, name="Slow"
    )
    assert [b.size for b in slower.batches] == [5, 5, 2]


def test_speed_can_change_while_sending(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox, count=6, batch_size=2, speed_per_minute=60)
    # 2 per batch at 60/minute would wait 2 s between batches; raise the speed after batch 1.

    def speed_up(name, batch):
        if name == "recorded" and batch.number == 1:
            dispatch.set_speed(db.session, db.session.get(Campaign, campaign.id), sender, 600_000)

    assert send(campaign, gateway_client(sandbox), checkpoint=speed_up) == "done"
    assert len(received_numbers(sandbox)) == 6
    assert [e.action for e in db.session.get(Campaign, campaign.id).events][-2] == "speed"


def test_scheduled_campaign_is_sent_at_its_time(sender, sandbox):
    from datetime import timedelta

    from webapp.models import utcnow

    send_at = utcnow() + timedelta(hours=1)
    campaign = confirmed_campaign(sender, sandbox, count=3, send_at=send_at)
    assert campaign.status == CampaignStatus.SCHEDULED
    assert dispatch.due_campaigns(db.session) == []
    assert send(campaign, gateway_client(sandbox)) == "waiting"
    later = send_at + timedelta(seconds=1)
    assert dispatch.due_campaigns(db.session, now=later) == [campaign.id]
    assert send(campaign, gateway_client(sandbox), clock=lambda: later) == "done"
    assert len(received_numbers(sandbox)) == 3


def test_sweeper_picks_up_a_campaign_whose_worker_died(sender, sandbox, jobs):
    confirmed_campaign(sender, sandbox, count=3)  # confirmed, but its job never ran
    jobs.run_pending()
    assert received_numbers(sandbox) == []
    jobs.send_due_campaigns()  # what the every-minute task does
    jobs.run_pending()
    assert len(received_numbers(sandbox)) == 3


def test_a_stop_request_finishes_the_batch_in_flight_and_releases_the_lease(sender, sandbox):
    """The process got SIGTERM: no more batches are claimed, the one in flight is recorded."""
    campaign = confirmed_campaign(sender, sandbox)
    stopping = threading.Event()

    def stop_during_batch_one(step, batch):
        if step == "before-request" and batch.number == 1:
            stopping.set()

    outcome = send(
        campaign,
        gateway_client(sandbox),
        max_connections=1,
        stopping=stopping,
        checkpoint=stop_during_batch_one,
    )
    assert outcome == "stopped"
    assert states(campaign) == [BatchState.SENT, BatchState.PENDING, BatchState.PENDING]
    stopped = db.session.get(Campaign, campaign.id)
    assert stopped.lease_owner is None and stopped.status == CampaignStatus.SENDING
    assert send(campaign, gateway_client(sandbox)) == "done"  # whoever carries on, at once
    assert len(received_numbers(sandbox)) == 25


def unreachable_client():
    """A client of a gateway that refuses connections (nothing listens on the port)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return MtsmsClient(f"http://127.0.0.1:{port}/rest/mtsms", "token")


def test_a_gateway_outage_pauses_the_campaign_instead_of_failing_it(sender, sandbox):
    campaign = confirmed_campaign(sender, sandbox)
    assert send(campaign, unreachable_client(), max_connections=1) == "paused"
    db.session.expire_all()
    paused = db.session.get(Campaign, campaign.id)
    assert paused.status == CampaignStatus.PAUSED and paused.outage_since is not None
    assert "The gateway has not answered since" in paused.pause_reason
    assert BatchState.FAILED not in states(campaign)
    assert campaign_progress(db.session, paused).failed == 0


def test_the_probe_resumes_the_campaign_when_the_gateway_answers_again(sender, sandbox):
    from datetime import timedelta

    campaign = confirmed_campaign(sender, sandbox)
    send(campaign, unreachable_client(), max_connections=1)
    paused = db.session.get(Campaign, campaign.id)
    wait = timedelta(minutes=60)
    probe = dispatch.probe_after_outage
    assert probe(db.session, paused, unreachable_client(), give_up_after=wait) == "still out"
    assert probe(db.session, paused, gateway_client(sandbox), give_up_after=wait) == "resumed"
    assert paused.status == CampaignStatus.QUEUED and paused.outage_since is None
    assert send(campaign, gateway_client(sandbox)) == "done"
    assert len(received_numbers(sandbox)) == 25


def test_after_the_configured_time_the_campaign_stays_paused_for_the_user(sender, sandbox):
    from datetime import timedelta

    campaign = confirmed_campaign(sender, sandbox)
    send(campaign, unreachable_client(), max_connections=1)
    paused = db.session.get(Campaign, campaign.id)
    later = paused.outage_since + timedelta(minutes=61)
    outcome = dispatch.probe_after_outage(
        db.session, paused, unreachable_client(), give_up_after=timedelta(minutes=60), now=later
    )
    assert outcome == "gave up"
    assert paused.status == CampaignStatus.PAUSED and "stays paused" in paused.pause_reason
    assert (
        dispatch.probe_after_outage(
            db.session, paused, gateway_client(sandbox), give_up_after=timedelta(minutes=60)
        )
        == "not paused"
    )
