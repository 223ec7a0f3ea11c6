"""The workspace's approval limits: a campaign above a number of recipients or a cost is sent
only once an approver approves it.

An admin sets the limits under Settings (each empty: no limit of that kind; both empty: no
approval). Who may approve is `User.may_approve` (admins, and users given the approver right);
the flow itself (ask, approve, reject, withdraw) is `webapp.services.campaigns.approvals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import Campaign, Setting
from webapp.money import money_text
from webapp.services.budget import Budget, parse_amount
from webapp.services.settings import SettingError, set_setting

RECIPIENTS_KEY = "approval_recipients"  # "1000"; empty: no limit on recipients
COST_KEY = "approval_cost"  # "500.00 DKK"; empty: no limit on cost


@dataclass(frozen=True)
class ApprovalLimits:
    """Above ``recipients`` recipients, or above ``cost`` (in its currency), a campaign needs
    approval; None: no limit of that kind."""

    recipients: int | None = None
    cost: Budget | None = None

    @property
    def on(self) -> bool:
        return self.recipients is not None or self.cost is not None

    @property
    def text(self) -> str:
        """The limits in words, for the settings page, the audit log and the history."""
        parts = []
        if self.recipients is not None:
            parts.append(f"more than {self.recipients:,} recipients")
        if self.cost is not None:
            parts.append(f"more than {self.cost.text}")
        return " or ".join(parts) if parts else "none"


def approval_limits(session: Session) -> ApprovalLimits:
    """The admin's limits (one query: the preview page asks for them)."""
    stored = dict(
        session.execute(
            select(Setting.key, Setting.value).where(Setting.key.in_((RECIPIENTS_KEY, COST_KEY)))
        ).all()
    )
    recipients = stored.get(RECIPIENTS_KEY, "")
    amount, _, currency = stored.get(COST_KEY, "").partition(" ")
    return ApprovalLimits(
        recipients=int(recipients) if recipients else None,
        cost=Budget(Decimal(amount), currency) if amount else None,
    )


def set_approval_limits(
    session: Session, recipients: str, amount: str, currency: str
) -> ApprovalLimits:
    """Store the limits (an empty value: no limit of that kind). Raises SettingError with what
    is wrong, storing nothing."""
    recipients = (recipients or "").strip().replace(",", "")
    count = None
    if recipients:
        if not recipients.isascii() or not recipients.isdigit() or len(recipients) > 9:
            raise SettingError(
                f"{recipients} is not a number of recipients such as 1000 (at most 999,999,999)."
            )
        count = int(recipients)
    cost = parse_amount(amount, currency, what="The approval limit")
    set_setting(session, RECIPIENTS_KEY, "" if count is None else str(count))
    set_setting(session, COST_KEY, f"{cost.amount} {cost.currency}" if cost else "")
    return ApprovalLimits(count, cost)


def approval_reasons(session: Session, campaign: Campaign) -> list[str]:
    """Why ``campaign`` needs approval, by its preview's figures (recipients, cost): one line per
    limit it is above; empty when it needs none."""
    limits = approval_limits(session)
    reasons = []
    if limits.recipients is not None and campaign.recipient_count > limits.recipients:
        reasons.append(
            f"{campaign.recipient_count:,} recipients is more than the limit of "
            f"{limits.recipients:,}"
        )
    if limits.cost is not None:
        cost = Decimal(campaign.cost or 0)
        if campaign.currency and campaign.currency != limits.cost.currency:
            # Not comparable: the safe answer is that someone looks at it.
            reasons.append(
                f"its cost is in {campaign.currency} and the limit ({limits.cost.text}) in "
                f"{limits.cost.currency}, so they cannot be compared"
            )
        elif cost > limits.cost.amount:
            reasons.append(
                f"{money_text(cost)} {limits.cost.currency} is more than the limit of "
                f"{limits.cost.text}"
            )
    return reasons


def approval_reason(session: Session, campaign: Campaign) -> str | None:
    """`approval_reasons` as one sentence, or None when the campaign needs no approval."""
    return "; ".join(approval_reasons(session, campaign)) or None


__all__ = [
    "ApprovalLimits",
    "SettingError",
    "approval_limits",
    "approval_reason",
    "approval_reasons",
    "set_approval_limits",
]
