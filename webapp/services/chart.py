"""Deliveries over time, for the campaign page's chart: by minute in the first hour after the
send started, then by hour. Counted by the database (one grouped query on the outcome index),
drawn as server-rendered SVG by the template, with the same numbers as a table beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignRecipient, DeliveryOutcome

R = CampaignRecipient
FIRST_HOUR_MINUTES = 60
WIDTH, HEIGHT = 600, 160  # the SVG's view box


@dataclass(frozen=True)
class Bar:
    start: datetime
    label: str
    delivered: int
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
        return sum(bar.delivered for bar in self.bars)


def _minutes_since(session: Session, start: datetime):
    """SQL for the whole minutes between ``start`` and the recipient's report time."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor((func.extract("epoch", R.delivery_updated_at) - start.timestamp()) / 60)
    # SQLite: julianday() is in days; CAST truncates (Python's SQLite may lack floor()).
    days = func.julianday(R.delivery_updated_at) - func.julianday(_sqlite_text(start))
    return cast(days * 1440, Integer)


def _sqlite_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def delivery_chart(session: Session, campaign: Campaign) -> DeliveryChart | None:
    """Delivered recipients per minute (first hour), then per hour; None before any."""
    start = campaign.started_at
    if start is None:
        return None
    minute = _minutes_since(session, start)
    rows = session.execute(
        select(minute, func.count())
        .where(R.campaign_id == campaign.id, R.delivery_outcome == DeliveryOutcome.DELIVERED)
        .group_by(minute)
    ).all()
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
                delivered=count,
                x=round(position * slot),
                y=HEIGHT - height,
                width=max(1, round(slot * 0.8)),
                height=height,
            )
        )
    return DeliveryChart(bars, peak)
