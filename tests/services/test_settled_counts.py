"""A finished campaign's delivery counts are folded into one row per outcome by a periodic job,
with the same figures before and after, and none lost to reports that arrive meanwhile."""

from __future__ import annotations

import threading

from helpers import danish_numbers, gateway_client, report_deliveries, sent_campaign
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus, DeliveryCount, DeliveryOutcome
from webapp.services.delivery import delivery_summary
from webapp.services.settled_counts import fold_settled_counts

STATUSES = ["DELIVERED"] * 30 + ["UNDELIVERABLE"] * 6 + ["EXPIRED"] * 4


def count_rows(campaign_id: int) -> int:
    return db.session.scalar(select(func.count()).where(DeliveryCount.campaign_id == campaign_id))


def figures(campaign_id: int) -> dict:
    db.session.expire_all()
    summary = delivery_summary(db.session, db.session.get(Campaign, campaign_id))
    return dict(summary.counts)


def test_a_done_campaign_keeps_its_figures_in_one_row_per_outcome(sender, sandbox):
    client = gateway_client(sandbox)
    campaign = sent_campaign(db.session, sender, client, danish_numbers(len(STATUSES)))
    assert campaign.status == CampaignStatus.DONE
    report_deliveries(db.session, campaign, STATUSES)
    before = figures(campaign.id)
    assert before[DeliveryOutcome.DELIVERED] == 30 and count_rows(campaign.id) > 3
    assert fold_settled_counts(db.session) > 0
    assert count_rows(campaign.id) == 3  # delivered, undeliverable, expired
    assert figures(campaign.id) == before
    assert fold_settled_counts(db.session) == 0  # nothing left to fold


def test_a_campaign_still_sending_keeps_its_shards(sender, sandbox):
    client = gateway_client(sandbox)
    campaign = sent_campaign(db.session, sender, client, danish_numbers(20))
    report_deliveries(db.session, campaign, ["DELIVERED"] * 20)
    campaign.status = CampaignStatus.SENDING  # as while its later batches go out
    db.session.commit()
    rows = count_rows(campaign.id)
    assert fold_settled_counts(db.session) == 0
    assert count_rows(campaign.id) == rows > 1


def test_a_late_report_after_the_fold_counts_and_is_folded_next_time(sender, sandbox):
    client = gateway_client(sandbox)
    campaign = sent_campaign(db.session, sender, client, danish_numbers(20))
    report_deliveries(db.session, campaign, ["DELIVERED"] * 19)
    fold_settled_counts(db.session)
    report_deliveries(db.session, campaign, ["DELIVERED"] * 20, time=300)  # the 20th arrives
    assert figures(campaign.id)[DeliveryOutcome.DELIVERED] == 20
    fold_settled_counts(db.session)
    assert count_rows(campaign.id) == 1
    assert figures(campaign.id)[DeliveryOutcome.DELIVERED] == 20


def test_reports_arriving_while_counts_are_folded_are_all_counted(app, sender, sandbox):
    """Reports recorded by four threads while a fifth folds again and again: every one counts
    (on PostgreSQL the fold and the reports really run at the same time)."""
    client = gateway_client(sandbox)
    campaign = sent_campaign(db.session, sender, client, danish_numbers(200), batch_size=50)
    campaign_id = campaign.id
    done = threading.Event()
    failures = []

    def report(part: int):
        try:
            with app.app_context():
                mine = db.session.get(Campaign, campaign_id)
                statuses = ["DELIVERED" if i % 4 == part else None for i in range(200)]
                report_deliveries(db.session, mine, statuses)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    def fold():
        with app.app_context():
            while not done.is_set():
                fold_settled_counts(db.session)

    folder = threading.Thread(target=fold)
    folder.start()
    reporters = [threading.Thread(target=report, args=(part,)) for part in range(4)]
    for thread in reporters:
        thread.start()
    for thread in reporters:
        thread.join()
    done.set()
    folder.join()
    assert failures == []
    assert figures(campaign_id)[DeliveryOutcome.DELIVERED] == 200
    fold_settled_counts(db.session)
    assert count_rows(campaign_id) == 1
    assert figures(campaign_id)[DeliveryOutcome.DELIVERED] == 200


def test_the_quarter_hourly_job_folds(sender, sandbox):
    from webapp.tasks import JOBS

    campaign = sent_campaign(db.session, sender, gateway_client(sandbox), danish_numbers(20))
    report_deliveries(db.session, campaign, ["DELIVERED"] * 20)
    assert JOBS["fold_settled_counts"]() > 0
    assert count_rows(campaign.id) == 1
