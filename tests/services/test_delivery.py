"""Delivery reports recorded on their recipients: valid, repeated, out of order, transient after
final, unknown, badly signed; counts per outcome kept as they arrive; the status history."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, gateway_client, sent_campaign

from webapp.extensions import db
from webapp.gateway.errors import InvalidDeliveryReport
from webapp.gateway.reports import sign_delivery_report
from webapp.models import Campaign, CampaignRecipient, DeliveryOutcome, DeliveryReport
from webapp.services.delivery import (
    UnknownReport,
    delivery_summary,
    record_delivery_report,
    record_delivery_reports,
    verify_report,
)

SECRET = "a-webhook-secret-long-enough-for-hs256-signatures"
NUMBERS = danish_numbers(4)


@pytest.fixture
def sent(sender, sandbox):
    campaign = sent_campaign(db.session, sender, gateway_client(sandbox), NUMBERS)
    return db.session.get(Campaign, campaign.id)


def report(campaign, msisdn, status, time, *, batch=None, error=None, code=None):
    number = batch or (1 if NUMBERS.index(msisdn) < 2 else 2)
    message_id = next(b.message_id for b in campaign.batches if b.number == number)
    return {
        "id": int(message_id),
        "msisdn": int(msisdn),
        "time": time,
        "status": status,
        "error": error,
        "code": code,
        "userref": f"campaign-{campaign.id}-batch-{number}",
    }


def recipient(msisdn) -> CampaignRecipient:
    db.session.expire_all()
    return db.session.query(CampaignRecipient).filter_by(msisdn=msisdn).one()


@pytest.fixture(autouse=True, params=["alone", "in a transaction"])
def recording(request):
    """Each report recorded as a webhook request records it (a session with nothing open:
    on PostgreSQL the one-statement path), or inside a caller's open transaction (the general
    path), so both paths hold every rule below."""
    global _ALONE
    _ALONE = request.param == "alone"
    return request.param


_ALONE = True


def record(campaign, *args, **kwargs) -> bool:
    the_report = report(campaign, *args, **kwargs)
    if _ALONE:
        db.session.commit()
    else:
        db.session.get(Campaign, campaign.id)  # a transaction of the caller's is open
    return record_delivery_report(db.session, the_report)


def test_a_final_report_gives_the_recipient_its_outcome_and_detail(sent):
    assert record(sent, NUMBERS[0], "UNDELIVERABLE", 100, error="Absent subscriber", code="0x0101")
    stored = recipient(NUMBERS[0])
    assert stored.delivery_outcome is DeliveryOutcome.UNDELIVERABLE
    assert stored.delivery_outcome.label == "Undeliverable"
    assert (stored.delivery_status, stored.delivery_error, stored.delivery_code) == (
        "UNDELIVERABLE",
        "Absent subscriber",
        "0x0101",
    )


def test_a_repeated_report_changes_nothing_and_counts_once(sent):
    assert record(sent, NUMBERS[0], "DELIVERED", 100)
    assert not record(sent, NUMBERS[0], "DELIVERED", 100)
    assert delivery_summary(db.session, sent).delivered == 1


def test_a_transient_report_after_a_final_one_is_ignored(sent):
    assert record(sent, NUMBERS[0], "DELIVERED", 100)
    assert not record(sent, NUMBERS[0], "ENROUTE", 200)
    assert recipient(NUMBERS[0]).delivery_status == "DELIVERED"


def test_a_final_report_wins_over_a_later_transient_one(sent):
    assert record(sent, NUMBERS[0], "BUFFERED", 300)
    assert record(sent, NUMBERS[0], "DELIVERED", 200)
    assert recipient(NUMBERS[0]).delivery_outcome is DeliveryOutcome.DELIVERED


def test_out_of_order_transients_keep_the_later_one(sent):
    assert record(sent, NUMBERS[0], "BUFFERED", 200)
    assert not record(sent, NUMBERS[0], "ENROUTE", 100)
    assert recipient(NUMBERS[0]).delivery_status == "BUFFERED"


def test_between_finals_the_later_report_wins_and_counts_move(sent):
    assert record(sent, NUMBERS[0], "EXPIRED", 200)
    assert not record(sent, NUMBERS[0], "DELIVERED", 100)
    assert record(sent, NUMBERS[0], "DELIVERED", 300)
    summary = delivery_summary(db.session, sent)
    assert (summary.delivered, summary.counts[DeliveryOutcome.EXPIRED]) == (1, 0)


def test_summary_counts_delivered_failed_by_reason_and_awaiting(sent):
    record(sent, NUMBERS[0], "DELIVERED", 100)
    record(sent, NUMBERS[1], "UNDELIVERABLE", 100)
    record(sent, NUMBERS[2], "ENROUTE", 100)
    summary = delivery_summary(db.session, sent)
    assert (summary.base, summary.delivered, summary.failed, summary.awaiting) == (4, 1, 1, 2)
    assert summary.failures == [(DeliveryOutcome.UNDELIVERABLE, 1)]
    assert summary.delivery_rate == "25.0 %"
    assert not summary.all_final


def test_every_report_is_kept_as_history(sent):
    record(sent, NUMBERS[0], "ENROUTE", 100)
    record(sent, NUMBERS[0], "DELIVERED", 200)
    record(sent, NUMBERS[0], "BUFFERED", 150)
    history = db.session.query(DeliveryReport).order_by(DeliveryReport.reported_at).all()
    assert [(h.status, h.applied) for h in history] == [
        ("ENROUTE", True),
        ("BUFFERED", False),
        ("DELIVERED", True),
    ]


def test_reports_recorded_together_each_get_their_own_result(sent):
    together = [
        report(sent, NUMBERS[0], "ENROUTE", 100),
        report(sent, NUMBERS[1], "EXPIRED", 100),
        report(sent, NUMBERS[0], "DELIVERED", 200),
        report(sent, NUMBERS[0], "BUFFERED", 300),  # transient after a final: ignored
        report(sent, NUMBERS[2], "DELIVERED", 100) | {"id": 999_999_999},
        report(sent, NUMBERS[1], "DELIVERED", 300),  # a later final: the count moves
        report(sent, NUMBERS[3], "SOMETHING", 100),
    ]
    results = record_delivery_reports(db.session, together)
    assert results[:4] + results[5:6] == [True, True, True, False, True]
    assert isinstance(results[4], UnknownReport) and isinstance(results[6], UnknownReport)
    summary = delivery_summary(db.session, sent)
    assert (summary.delivered, summary.counts[DeliveryOutcome.EXPIRED], summary.awaiting) == (
        2,
        0,
        2,
    )
    assert recipient(NUMBERS[0]).delivery_status == "DELIVERED"
    assert recipient(NUMBERS[2]).delivery_status is None
    assert db.session.query(DeliveryReport).count() == 5


def test_a_report_for_an_unknown_message_is_refused(sent):
    unknown = report(sent, NUMBERS[0], "DELIVERED", 100) | {"id": 999_999_999}
    with pytest.raises(UnknownReport):
        record_delivery_report(db.session, unknown)
    assert recipient(NUMBERS[0]).delivery_status is None


def test_a_report_naming_another_batch_is_refused(sent):
    with pytest.raises(UnknownReport):
        record(sent, NUMBERS[0], "DELIVERED", 100, batch=2)


def test_a_report_without_userref_is_matched_by_message_id(sent):
    bare = report(sent, NUMBERS[3], "DELIVERED", 100) | {"userref": None}
    assert record_delivery_report(db.session, bare)
    assert recipient(NUMBERS[3]).delivery_outcome is DeliveryOutcome.DELIVERED


def test_a_badly_signed_report_is_refused(sent):
    body = report(sent, NUMBERS[0], "DELIVERED", 100)
    with pytest.raises(InvalidDeliveryReport):
        verify_report(body, sign_delivery_report(body, SECRET + "x"), SECRET)
    with pytest.raises(InvalidDeliveryReport):
        verify_report(body | {"status": "EXPIRED"}, sign_delivery_report(body, SECRET), SECRET)
    assert verify_report(body, sign_delivery_report(body, SECRET), SECRET) == body
