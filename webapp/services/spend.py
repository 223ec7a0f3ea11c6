"""What the gateway charged per month: the home page's spend and the monthly budget's.

Months are the workspace's: it has no time-zone setting (see services/settings.py), so UTC's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from webapp.models import Batch, BatchState
from webapp.money import money_text

WORKSPACE_ZONE = UTC


@dataclass
class MonthSpend:
    """What the batches the gateway accepted in one month cost, per currency of its answers,
    with the messages (recipients of those batches) and segments they carried."""

    month: date  # its first day
    costs: dict[str, Decimal] = field(default_factory=dict)  # currency ("" unknown): amount
    messages: int = 0
    segments: int = 0

    @property
    def cost_texts(self) -> list[str]:
        """Each currency's amount as text, e.g. ["1,234.50 DKK"]; ["0.00"] for none."""
        if not self.costs:
            return ["0.00"]
        return [f"{money_text(cost)} {currency}".strip() for currency, cost in self.costs.items()]


def _month_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day.replace(day=1), time.min, zone).astimezone(UTC)


def monthly_spend(
    session: Session, now: datetime, zone: tzinfo = WORKSPACE_ZONE
) -> tuple[MonthSpend, MonthSpend]:
    """(this month, last month) up to ``now``, months in ``zone``: one grouped query over the
    accepted batches, each counted in the month the gateway accepted it."""
    today = now.astimezone(zone).date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    this_start, last_start = _month_start(this_month, zone), _month_start(last_month, zone)
    accepted = (
        select(
            case((Batch.finished_at >= this_start, 1), else_=0).label("this_month"),
            func.coalesce(Batch.currency, "").label("currency"),
            Batch.cost,
            Batch.size,
            Batch.segments,
        )
        .where(
            Batch.state == BatchState.SENT,
            Batch.message_id.is_not(None),  # its request went out (not every number opted out)
            Batch.finished_at >= last_start,
            Batch.finished_at <= now,
        )
        .subquery()
    )
    rows = session.execute(
        select(
            accepted.c.this_month,
            accepted.c.currency,
            func.sum(accepted.c.cost),
            func.sum(accepted.c.size),
            func.sum(accepted.c.segments),
        ).group_by(accepted.c.this_month, accepted.c.currency)
    ).all()
    months = {1: MonthSpend(this_month), 0: MonthSpend(last_month)}
    for which, currency, cost, messages, segments in rows:
        spend = months[int(which)]
        spend.costs[currency] = spend.costs.get(currency, Decimal(0)) + Decimal(cost or 0)
        spend.messages += int(messages or 0)
        spend.segments += int(segments or 0)
    for spend in months.values():
        spend.costs = dict(sorted(spend.costs.items()))
    return months[1], months[0]
