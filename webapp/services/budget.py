"""The monthly budget: a ceiling on spend in the gateway's currency, set by an admin.

Spend against it is this month's charge from the gateway (`spend.monthly_spend`, the home
page's figure) plus what confirmed campaigns not yet sent will cost by their previews: each
under-way campaign's previewed cost less what its batches were charged so far, until it is
sent or cancelled. Confirming a campaign that would take the spend over the budget is refused;
a running campaign pauses when the spend goes over it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import Batch, Campaign, CampaignStatus
from webapp.money import money_text
from webapp.services.settings import SettingError, get_setting, set_setting
from webapp.services.spend import WORKSPACE_ZONE, MonthSpend, monthly_spend

BUDGET_KEY = "monthly_budget"  # "500.00 DKK"; empty: no budget
UNDER_WAY = CampaignStatus.where(lambda status: status.is_under_way)
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Budget:
    amount: Decimal
    currency: str

    @property
    def text(self) -> str:
        return f"{money_text(self.amount)} {self.currency}"


@dataclass(frozen=True)
class BudgetStatus:
    """This month's spend against the budget: ``charged`` by the gateway, ``committed`` by
    confirmed campaigns still to be sent."""

    budget: Budget
    charged: Decimal
    committed: Decimal

    @property
    def spent(self) -> Decimal:
        return self.charged + self.committed

    @property
    def percent(self) -> int:
        if not self.budget.amount:
            return 100 if self.spent else 0
        return int(100 * self.spent / self.budget.amount)

    @property
    def over(self) -> bool:
        return self.spent > self.budget.amount

    def money(self, amount) -> str:
        return f"{money_text(amount)} {self.budget.currency}"


def monthly_budget(session: Session) -> Budget | None:
    """The admin's budget, or None when none is set."""
    amount, _, currency = get_setting(session, BUDGET_KEY, "").partition(" ")
    if not amount:
        return None
    return Budget(Decimal(amount), currency)


def parse_amount(amount: str, currency: str, *, what: str = "The budget") -> Budget | None:
    """An amount and its currency as typed ("1,250.50", "dkk"), or None when ``amount`` is
    empty. Raises SettingError with what is wrong (``what`` names the setting)."""
    amount, currency = (amount or "").strip().replace(",", ""), (currency or "").strip().upper()
    if not amount:
        return None
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise SettingError(f"{amount} is not an amount such as 500 or 1250.50.") from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
        raise SettingError(f"{what} must be an amount from 0 up to 9,999,999,999.")
    if not _CURRENCY.fullmatch(currency):
        raise SettingError("Give the gateway's currency as three letters, e.g. DKK or EUR.")
    return Budget(value.quantize(Decimal("0.01")), currency)


def set_monthly_budget(session: Session, amount: str, currency: str) -> Budget | None:
    """Store the budget (``amount`` empty: none). Raises SettingError with what is wrong."""
    budget = parse_amount(amount, currency)
    set_setting(session, BUDGET_KEY, f"{budget.amount} {budget.currency}" if budget else "")
    return budget


def gateway_currency(session: Session) -> str:
    """The currency the gateway charged or priced in last ("" before any preview)."""
    return (
        session.scalar(
            select(Campaign.currency)
            .where(Campaign.currency.is_not(None))
            .order_by(Campaign.id.desc())
            .limit(1)
        )
        or ""
    )


def committed_cost(session: Session, currency: str) -> Decimal:
    """What confirmed campaigns not yet sent will still cost, by their previews: each under-way
    campaign's previewed cost less its batches' charge so far (never below nothing)."""
    charged = (
        select(Batch.campaign_id, func.sum(Batch.cost).label("cost"))
        .group_by(Batch.campaign_id)
        .subquery()
    )
    rows = session.execute(
        select(Campaign.cost, func.coalesce(charged.c.cost, 0))
        .outerjoin(charged, charged.c.campaign_id == Campaign.id)
        .where(Campaign.status.in_(UNDER_WAY), Campaign.currency == currency)
    ).all()
    return sum(
        (max(Decimal(0), Decimal(cost or 0) - Decimal(done or 0)) for cost, done in rows),
        Decimal(0),
    )


def budget_status(
    session: Session,
    now: datetime,
    zone: tzinfo = WORKSPACE_ZONE,
    this_month: MonthSpend | None = None,
) -> BudgetStatus | None:
    """This month's spend (months in ``zone``) against the budget; None without a budget.
    ``this_month``: the month's `monthly_spend` when the caller has it already."""
    budget = monthly_budget(session)
    if budget is None:
        return None
    if this_month is None:
        this_month, _ = monthly_spend(session, now, zone)
    return BudgetStatus(
        budget,
        charged=this_month.costs.get(budget.currency, Decimal(0)),
        committed=committed_cost(session, budget.currency),
    )


def over_budget_refusal(
    session: Session, campaign: Campaign, now: datetime, zone: tzinfo = WORKSPACE_ZONE
) -> str | None:
    """Why confirming ``campaign`` is refused (its cost would take the month over the budget),
    with both figures; None when it fits or there is no budget in its currency."""
    status = budget_status(session, now, zone)
    if status is None or (campaign.currency or status.budget.currency) != status.budget.currency:
        return None
    cost = Decimal(campaign.cost or 0)
    if status.spent + cost <= status.budget.amount:
        return None
    return (
        f"This send costs {status.money(cost)}, which would take this month's spend to "
        f"{status.money(status.spent + cost)}, over the monthly budget of "
        f"{status.budget.text} ({status.money(status.spent)} spent or committed so far). "
        "An admin can raise the budget under Settings, or reach fewer recipients."
    )


def budget_pause_reason(
    session: Session, now: datetime, zone: tzinfo = WORKSPACE_ZONE
) -> str | None:
    """Why a running campaign must pause before its next batch: this month's spend went over
    the budget (the gateway charged more than previewed, or the budget was lowered)."""
    status = budget_status(session, now, zone)
    if status is None or not status.over:
        return None
    return (
        f"This month's spend ({status.money(status.spent)}, with confirmed sends) is over the "
        f"monthly budget of {status.budget.text}. An admin can raise the budget under "
        "Settings; then resume the campaign."
    )
