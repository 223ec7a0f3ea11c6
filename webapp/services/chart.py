"""The charts' numbers and shapes, drawn as server-rendered SVG by the templates with the same
numbers as a table beside them:

- a campaign's deliveries over time: by minute in the first hour after the send started, then
  by hour, counted by the database (one grouped query on the outcome index);
- its tracked links' clicks by people over time, the same way;

  both counted again only when the figure they show has moved (the delivered recipients, the
  clicks), and then no more often than their counting time allows (see `_Recent`): a
  campaign's page and its results poll would otherwise group every delivered recipient on each
  view (100,000 recipients: about 100 ms, ten times that at a million);
- the home page's delivery rate per day over the last 30 days, from the kept delivery counts.
"""

from __future__ import annotations

import threading
import time as clock
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignRecipient, DeliveryCount, DeliveryOutcome, LinkClick
from webapp.services.campaigns.queries import delivery_rate_text

R = CampaignRecipient
FIRST_HOUR_MINUTES = 60
WIDTH, HEIGHT = 600, 160  # the SVG's view box


@dataclass(frozen=True)
class Bar:
    start: datetime
    label: str
    count: int  # delivered recipients, or clicks
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class DeliveryChart:
    bars: list[Bar]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def total(self) -> int:
        return sum(bar.count for bar in self.bars)


def _minutes_since(session: Session, start: datetime, moment=R.delivery_updated_at):
    """SQL for the whole minutes between ``start`` and ``moment`` (the recipient's report time)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor((func.extract("epoch", moment) - start.timestamp()) / 60)
    # SQLite: julianday() is in days; CAST truncates (Python's SQLite may lack floor()).
    days = func.julianday(moment) - func.julianday(_sqlite_text(start))
    return cast(days * 1440, Integer)


def _sqlite_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class _Recent:
    """Charts counted lately, by campaign. One is reused while the figure it shows (its
    ``version``: the delivered recipients, the clicks) stands still. Once the figure moves it
    is counted again, at once if counting it last took under ``CHEAP_SECONDS`` (a small
    campaign's chart follows every report), else no sooner than its last counting took,
    ``1 / COUNTING_SHARE`` times over: a million recipients' chart takes a second to count, so
    while their reports stream in it is counted every 20 s rather than on each view and poll
    (at most 5 % of the time goes to it). A chart of no
    deliveries yet is counted again as soon as there are some. An unchanged figure is recounted
    after ``MAX_AGE_SECONDS`` all the same: a later final report can move a delivery to another
    minute without changing the number delivered."""

    SIZE = 256
    MAX_AGE_SECONDS = 300.0
    CHEAP_SECONDS = 0.01
    COUNTING_SHARE = 0.05

    def __init__(self) -> None:
        # key -> (version, counted at, seconds the counting took, chart)
        self._charts: OrderedDict[Hashable, tuple[Hashable, float, float, DeliveryChart | None]]
        self._charts = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, version: Hashable, count: Callable[[], DeliveryChart | None]
    ) -> DeliveryChart | None:
        now = clock.monotonic()
        with self._lock:
            kept = self._charts.get(key)
        if kept is not None:
            kept_version, counted_at, took, chart = kept
            age = now - counted_at
            if kept_version == version:
                if age < self.MAX_AGE_SECONDS:
                    return chart
            elif (
                chart is not None
                and took >= self.CHEAP_SECONDS
                and age < took / self.COUNTING_SHARE
            ):
                return chart
        chart = count()
        took = clock.monotonic() - now
        with self._lock:
            self._charts[key] = (version, now, took, chart)
            self._charts.move_to_end(key)
            while len(self._charts) > self.SIZE:
                self._charts.popitem(last=False)
        return chart

    def clear(self) -> None:
        with self._lock:
            self._charts.clear()


_recent = _Recent()
clear_chart_cache = _recent.clear


def delivery_chart(
    session: Session, campaign: Campaign, *, delivered: int | None = None
) -> DeliveryChart | None:
    """Delivered recipients per minute (first hour), then per hour; None before any.

    ``delivered`` (the kept count) tells whether a chart counted lately still holds: see
    `_Recent`. Without it the chart is counted now."""
    delivered_recipients = and_(
        R.campaign_id == campaign.id, R.delivery_outcome == DeliveryOutcome.DELIVERED
    )
    return _per_minute(session, campaign, R.delivery_updated_at, delivered_recipients, delivered)


def click_chart(
    session: Session, campaign: Campaign, *, clicks: int | None = None
) -> DeliveryChart | None:
    """Clicks by people on the campaign's tracked links per minute (first hour), then per hour;
    None before any. ``clicks`` (the people's clicks so far) as ``delivered`` above."""
    counted_clicks = and_(LinkClick.campaign_id == campaign.id, LinkClick.counted)
    return _per_minute(session, campaign, LinkClick.clicked_at, counted_clicks, clicks)


def _per_minute(session, campaign, moment, rows_counted, figure):
    """The chart of ``rows_counted`` by their ``moment`` since the campaign started sending."""
    start = campaign.started_at
    if start is None:
        return None

    def count() -> DeliveryChart | None:
        minute = _minutes_since(session, start, moment)
        rows = session.execute(select(minute, func.count()).where(rows_counted).group_by(minute))
        return _chart_of(start, rows.all())

    if figure is None:
        return count()
    key = (str(session.get_bind().url), str(moment), campaign.id)
    return _recent.get(key, (start, figure), count)


def _chart_of(start: datetime, rows) -> DeliveryChart | None:
    """Bars from (minutes after ``start``, count) rows: a bar a minute, then an hour."""
    if not rows:
        return None
    buckets: dict[int, int] = {}  # bucket index: minutes 0..59, then 60 + hours after the first
    for minutes, count in rows:
        minutes = max(0, int(minutes or 0))
        index = minutes if minutes < FIRST_HOUR_MINUTES else 59 + -(-(minutes - 59) // 60)
        buckets[index] = buckets.get(index, 0) + int(count)
    last = max(buckets)
    indexes = range(0, last + 1)
    peak = max(buckets.values())
    slot = WIDTH / len(indexes)
    bars = []
    for position, index in enumerate(indexes):
        if index < FIRST_HOUR_MINUTES:
            begins = start + timedelta(minutes=index)
        else:
            begins = start + timedelta(hours=index - FIRST_HOUR_MINUTES + 1)
        count = buckets.get(index, 0)
        height = round((HEIGHT - 20) * count / peak) if peak else 0
        bars.append(
            Bar(
                start=begins,
                label="minute" if index < FIRST_HOUR_MINUTES else "hour",
                count=count,
                x=round(position * slot),
                y=HEIGHT - height,
                width=max(1, round(slot * 0.8)),
                height=height,
            )
        )
    return DeliveryChart(bars, peak)


# --- The delivery rate per day ---------------------------------------------------------------

RATE_DAYS = 30


@dataclass(frozen=True)
class DayRate:
    """One day's bar: the recipients of campaigns that started sending that day, delivered out
    of those with a final report."""

    day: date
    delivered: int
    reported: int
    x: int
    y: int
    width: int
    height: int

    @property
    def rate_text(self) -> str:
        return delivery_rate_text(self.delivered, self.reported)


@dataclass(frozen=True)
class RateChart:
    days: list[DayRate]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def reported(self) -> int:
        return sum(day.reported for day in self.days)

    @property
    def delivered(self) -> int:
        return sum(day.delivered for day in self.days)

    @property
    def first(self) -> date:
        return self.days[0].day

    @property
    def last(self) -> date:
        return self.days[-1].day

    def level(self, percent: int) -> int:
        """The y of a guide line at ``percent`` %."""
        return HEIGHT - round(HEIGHT * percent / 100)


def delivery_rate_by_day(
    session: Session, today: date, zone: tzinfo = UTC, days: int = RATE_DAYS
) -> RateChart:
    """The delivery rate of each of the ``days`` days up to ``today`` (days in ``zone``), by
    the day each campaign started sending: one grouped query of the kept counts."""
    first = today - timedelta(days=days - 1)
    # Each day's start in UTC (daylight saving time included): the database sorts campaigns
    # into days with them, and sums, so a month of campaigns is a few dozen rows.
    starts = [
        datetime.combine(first + timedelta(days=n), time.min, zone).astimezone(UTC)
        for n in range(days + 1)
    ]
    day = case(*((Campaign.started_at < starts[n + 1], n) for n in range(days)))
    delivered = case((DeliveryCount.outcome == DeliveryOutcome.DELIVERED, DeliveryCount.count))
    per_campaign = (  # the day is worked out once per campaign, not once per count row
        select(
            day.label("day"),
            func.coalesce(func.sum(delivered), 0).label("delivered"),
            func.sum(DeliveryCount.count).label("reported"),
        )
        .join(DeliveryCount, DeliveryCount.campaign_id == Campaign.id)
        .where(Campaign.started_at >= starts[0], Campaign.started_at < starts[-1])
        .group_by(Campaign.id, Campaign.started_at)
        .subquery()
    )
    totals = {
        index: (int(ok or 0), int(out_of or 0))
        for index, ok, out_of in session.execute(
            select(
                per_campaign.c.day,
                func.sum(per_campaign.c.delivered),
                func.sum(per_campaign.c.reported),
            ).group_by(per_campaign.c.day)
        )
    }
    slot = WIDTH / days
    bars = []
    for position in range(days):
        ok, out_of = totals.get(position, (0, 0))
        height = round(HEIGHT * ok / out_of) if out_of else 0
        bars.append(
            DayRate(
                day=first + timedelta(days=position),
                delivered=ok,
                reported=out_of,
                x=round(position * slot),
                y=HEIGHT - height,
                width=max(1, round(slot * 0.8)),
                height=height,
            )
        )
    return RateChart(bars)
