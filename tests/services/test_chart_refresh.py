"""A campaign's delivery chart is counted again when the delivered figure moves (at once for a
small campaign, no sooner than its counting time allows for a big one), and not at all while
the figure stands still."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers import danish_numbers, gateway_client, report_deliveries, sent_campaign

from webapp.extensions import db
from webapp.services import chart
from webapp.services.delivery import delivery_summary

SENT_AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SECONDS_IN = int(SENT_AT.timestamp())


def charted(campaign) -> int:
    delivered = delivery_summary(db.session, campaign).delivered
    found = chart.delivery_chart(db.session, campaign, delivered=delivered)
    return found.total if found else 0


def sent(sender, sandbox, count):
    client = gateway_client(sandbox)
    return sent_campaign(db.session, sender, client, danish_numbers(count), clock=lambda: SENT_AT)


def test_a_small_campaigns_chart_follows_every_report(sender, sandbox):
    campaign = sent(sender, sandbox, 4)
    assert charted(campaign) == 0  # nothing delivered yet
    report_deliveries(db.session, campaign, ["DELIVERED"], time=SECONDS_IN + 30)
    assert charted(campaign) == 1  # no chart yet: counted as soon as there is something
    report_deliveries(db.session, campaign, [None, "DELIVERED"], time=SECONDS_IN + 90)
    assert charted(campaign) == 2  # cheap to count (a few rows): counted again at once


def test_a_costly_chart_waits_before_it_is_counted_again(sender, sandbox, monkeypatch):
    campaign = sent(sender, sandbox, 4)
    report_deliveries(db.session, campaign, ["DELIVERED"], time=SECONDS_IN + 30)
    assert charted(campaign) == 1
    # As if counting it were costly, and took far more than the share of the time it may take.
    monkeypatch.setattr(chart._Recent, "CHEAP_SECONDS", 0)
    monkeypatch.setattr(chart._Recent, "COUNTING_SHARE", 1e-9)
    report_deliveries(db.session, campaign, [None, "DELIVERED"], time=SECONDS_IN + 90)
    assert charted(campaign) == 1  # the figure moved, but the chart was counted a moment ago
    monkeypatch.setattr(chart._Recent, "COUNTING_SHARE", 1e9)
    assert charted(campaign) == 2
    assert chart.delivery_chart(db.session, campaign).total == 2  # no figure: counted now


def test_a_chart_whose_figure_stands_still_is_not_counted_again(sender, sandbox, monkeypatch):
    campaign = sent(sender, sandbox, 2)
    report_deliveries(db.session, campaign, ["DELIVERED", "DELIVERED"], time=SECONDS_IN + 30)
    assert charted(campaign) == 2

    counts = []
    real_execute = db.session.execute
    monkeypatch.setattr(
        db.session, "execute", lambda *a, **k: counts.append(a) or real_execute(*a, **k)
    )
    for _ in range(3):
        assert chart.delivery_chart(db.session, campaign, delivered=2).total == 2
    assert counts == []  # no query: the delivered figure is where it was
