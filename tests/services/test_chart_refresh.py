"""A campaign's delivery chart is counted again when the delivered figure moves, at most every
``refresh_seconds`` while it keeps moving, and not at all while it stands still."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers import danish_numbers, gateway_client, report_deliveries, sent_campaign

from webapp.extensions import db
from webapp.services.chart import delivery_chart
from webapp.services.delivery import delivery_summary

SENT_AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SECONDS_IN = int(SENT_AT.timestamp())


def charted(campaign, refresh_seconds: float) -> int:
    delivered = delivery_summary(db.session, campaign).delivered
    chart = delivery_chart(
        db.session, campaign, delivered=delivered, refresh_seconds=refresh_seconds
    )
    return chart.total if chart else 0


def test_a_chart_is_counted_again_once_its_figure_moves_and_its_time_is_up(sender, sandbox):
    campaign = sent_campaign(
        db.session, sender, gateway_client(sandbox), danish_numbers(4), clock=lambda: SENT_AT
    )
    report_deliveries(db.session, campaign, ["DELIVERED"], time=SECONDS_IN + 30)
    assert charted(campaign, refresh_seconds=3600) == 1

    report_deliveries(db.session, campaign, [None, "DELIVERED"], time=SECONDS_IN + 90)
    # The figure moved, but the chart was counted a moment ago: it stands for an hour.
    assert charted(campaign, refresh_seconds=3600) == 1
    # Its time is up: counted again, with both deliveries.
    assert charted(campaign, refresh_seconds=0) == 2

    counted_without_the_figure = delivery_chart(db.session, campaign)
    assert counted_without_the_figure.total == 2


def test_a_chart_whose_figure_stands_still_is_not_counted_again(sender, sandbox, monkeypatch):
    campaign = sent_campaign(
        db.session, sender, gateway_client(sandbox), danish_numbers(2), clock=lambda: SENT_AT
    )
    report_deliveries(db.session, campaign, ["DELIVERED", "DELIVERED"], time=SECONDS_IN + 30)
    assert charted(campaign, refresh_seconds=0) == 2

    counts = []
    real_execute = db.session.execute
    monkeypatch.setattr(
        db.session, "execute", lambda *a, **k: counts.append(a) or real_execute(*a, **k)
    )
    for _ in range(3):
        chart = delivery_chart(db.session, campaign, delivered=2, refresh_seconds=0)
        assert chart.total == 2
    assert counts == []  # no query: the delivered figure is where it was
