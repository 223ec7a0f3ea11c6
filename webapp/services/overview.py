"""The dashboard's overview: what is sending now, recent campaigns, lists, the spend of this
month and the last, the balance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError
from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignStatus,
    ImportStatus,
    ListImport,
    OptOut,
    RecipientList,
)
from webapp.money import money_text
from webapp.services.campaigns.queries import campaign_rows

# The workspace has no time-zone setting (see services/settings.py): its months are UTC's.
WORKSPACE_ZONE = UTC
UNDER_WAY = CampaignStatus.where(lambda status: status.is_under_way)
FINISHED = CampaignStatus.where(lambda status: status.is_final)


def overview(session: Session) -> dict:
    # A list counts once a file was imported into it; an upload waiting for its columns (or
    # one that failed) is not a list yet.
    imported = exists().where(
        ListImport.list_id == RecipientList.id, ListImport.status == ImportStatus.DONE
    )
    lists, recipients = session.execute(
        select(func.count(), func.coalesce(func.sum(RecipientList.recipient_count), 0)).where(
            RecipientList.hidden.is_(False), imported
        )
    ).one()
    return {
        "lists": lists,
        "recipients": recipients,
        "opt_outs": session.scalar(select(func.count()).select_from(OptOut)),
        "active": list(
            session.scalars(
                select(Campaign).where(Campaign.status.in_(UNDER_WAY)).order_by(Campaign.id.desc())
            )
        ),
        # With their delivery rates and what they cost (two queries for all five).
        "recent": campaign_rows(
            session,
            list(
                session.scalars(
                    select(Campaign)
                    .where(Campaign.status.in_(FINISHED))
                    .order_by(Campaign.finished_at.desc(), Campaign.id.desc())
                    .limit(5)
                )
            ),
        ),
        "drafts": list(
            session.scalars(
                select(Campaign)
                .where(Campaign.status.in_(CampaignStatus.where(lambda status: status.is_draft)))
                .order_by(Campaign.id.desc())
                .limit(5)
            )
        ),
    }


def account_balance(client) -> tuple[str | None, str | None]:
    """(balance text, problem): the gateway's credit, or why it could not be read."""
    try:
        balance = client.balance()
    except GatewayError as error:
        return None, str(error)
    return f"{money_text(balance.credit)} {balance.currency or ''}".strip(), None


# --- Spend per month ---------------------------------------------------------------------------


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
