"""The home page's figures: spend, messages and segments per month (each batch in the month
the gateway accepted it, months in the workspace's zone) and the delivery rate per day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import danish_numbers, gateway_client, report_deliveries, sent_campaign

from webapp.extensions import db
from webapp.services.chart import delivery_rate_by_day
from webapp.services.overview import monthly_spend
from webapp.services.progress import campaign_progress

JANUARY_LAST_MINUTE = datetime(2025, 1, 31, 23, 59, tzinfo=UTC)  # 1 February in Copenhagen
FEBRUARY_FIRST_MOMENT = datetime(2025, 2, 1, 0, 0, tzinfo=UTC)
DECEMBER = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 2, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def sent(sender, sandbox):
    """Three campaigns either side of 1 February 2025 (UTC): (December, January, February)."""
    client = gateway_client(sandbox)
    made = []
    for n, (when, count) in enumerate(
        [(DECEMBER, 1), (JANUARY_LAST_MINUTE, 3), (FEBRUARY_FIRST_MOMENT, 2)]
    ):
        made.append(
            sent_campaign(
                db.session,
                sender,
                client,
                danish_numbers(count, start=20_100_000 + 1_000 * n),
                name=f"Campaign {n}",
                clock=lambda when=when: when,
            )
        )
    return made


def cost_of(campaign):
    return campaign_progress(db.session, campaign).cost


def test_each_batch_counts_in_the_month_the_gateway_accepted_it(sent):
    december, january, february = sent
    this_month, last_month = monthly_spend(db.session, NOW)
    assert (this_month.month, last_month.month) == (date(2025, 2, 1), date(2025, 1, 1))
    assert this_month.costs == {"DKK": cost_of(february)}
    assert last_month.costs == {"DKK": cost_of(january)}  # December's is two months back
    assert (this_month.messages, this_month.segments) == (2, 2)
    assert (last_month.messages, last_month.segments) == (3, 3)
    assert cost_of(february) > 0


def test_months_follow_the_zone_they_are_counted_in(sent):
    december, january, february = sent
    this_month, last_month = monthly_spend(db.session, NOW, ZoneInfo("Europe/Copenhagen"))
    # 23:59 UTC on 31 January is already February in Copenhagen.
    assert this_month.costs == {"DKK": cost_of(january) + cost_of(february)}
    assert last_month.costs == {}
    assert last_month.cost_texts == ["0.00"]


def test_a_month_ending_now_leaves_out_what_is_later(sent):
    this_month, last_month = monthly_spend(db.session, datetime(2025, 1, 31, 12, tzinfo=UTC))
    assert this_month.costs == {} and this_month.messages == 0
    assert last_month.costs == {"DKK": cost_of(sent[0])}


def test_the_delivery_rate_per_day_counts_final_reports_by_the_day_sending_started(sent):
    december, january, february = sent
    report_deliveries(db.session, january, ["DELIVERED", "UNDELIVERABLE", "ENROUTE"])
    report_deliveries(db.session, february, ["DELIVERED", "DELIVERED"])
    report_deliveries(db.session, december, ["EXPIRED"])  # more than 30 days before
    chart = delivery_rate_by_day(db.session, date(2025, 2, 15))
    assert (chart.first, chart.last, len(chart.days)) == (date(2025, 1, 17), date(2025, 2, 15), 30)
    reported = {
        day.day: (day.delivered, day.reported, day.rate_text) for day in chart.days if day.reported
    }
    # ENROUTE is not final: January's third recipient is not counted yet.
    assert reported == {
        date(2025, 1, 31): (1, 2, "50.0 %"),
        date(2025, 2, 1): (2, 2, "100.0 %"),
    }
    full = next(day for day in chart.days if day.day == date(2025, 2, 1))
    half = next(day for day in chart.days if day.day == date(2025, 1, 31))
    assert (full.y, full.height) == (0, chart.height)
    assert half.height == chart.height // 2
