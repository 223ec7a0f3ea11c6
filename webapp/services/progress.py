"""A campaign's progress as its pages and the command line show it: batches and recipients by
state, segments and cost so far. Read only; the dispatcher writes what this reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import Batch, BatchState, Campaign
from webapp.money import money_text

MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class CampaignProgress:
    """``batches`` and ``recipients`` map every batch state's value to a count (0 included)."""

    batches: dict[str, int]
    recipients: dict[str, int]
    segments: int = 0
    cost: Decimal = Decimal(0)
    errors: list[tuple[int, BatchState, str]] = field(default_factory=list)
    # The currency of the gateway's answers (the preview's until one came back), and what is
    # wrong when the gateway charged in another currency than the preview priced in.
    currency: str | None = None
    currency_problem: str | None = None

    @property
    def batches_total(self) -> int:
        return sum(self.batches.values())

    @property
    def batches_done(self) -> int:
        open_states = [state.value for state in BatchState if state.is_open]
        return self.batches_total - sum(self.batches[state] for state in open_states)

    @property
    def recipients_total(self) -> int:
        return sum(self.recipients.values())

    @property
    def sent(self) -> int:
        return self.recipients[BatchState.SENT.value]

    @property
    def failed(self) -> int:
        return self.recipients[BatchState.FAILED.value]

    @property
    def unconfirmed(self) -> int:
        return self.recipients[BatchState.UNCONFIRMED.value]

    @property
    def percent(self) -> int:
        total = self.batches_total
        return int(100 * self.batches_done / total) if total else 0


def campaign_progress(session: Session, campaign: Campaign) -> CampaignProgress:
    """Batches and recipients by state, and the cost so far: what the progress bar shows."""
    rows = session.execute(
        select(
            Batch.state,
            func.count(),
            func.sum(Batch.size),
            func.sum(Batch.cost),
            func.sum(Batch.segments),
        )
        .where(Batch.campaign_id == campaign.id)
        .group_by(Batch.state)
    ).all()
    batches = {state.value: 0 for state in BatchState}
    recipients = {state.value: 0 for state in BatchState}
    cost = Decimal(0)
    segments = 0
    for state, count, size, batch_cost, batch_segments in rows:
        batches[state.value] = count
        recipients[state.value] = int(size or 0)
        cost += Decimal(batch_cost or 0)
        segments += int(batch_segments or 0)
    errors = [
        tuple(row)
        for row in session.execute(
            select(Batch.number, Batch.state, Batch.error_message)
            .where(Batch.campaign_id == campaign.id, Batch.error_message.is_not(None))
            .order_by(Batch.number)
            .limit(MAX_ERRORS_SHOWN)
        )
    ]
    charged = sorted(
        session.scalars(
            select(Batch.currency)
            .where(Batch.campaign_id == campaign.id, Batch.currency.is_not(None))
            .distinct()
        )
    )
    currency, problem = campaign.currency, None
    if len(charged) > 1:
        currency = "/".join(charged)
        problem = (
            f"The gateway charged this campaign in several currencies ({', '.join(charged)}): "
            "the cost so far adds them up and is not a real amount."
        )
    elif charged:
        currency = charged[0]
        if campaign.currency and currency != campaign.currency:
            problem = (
                f"The gateway charges in {currency}; the preview priced this campaign in "
                f"{campaign.currency} ({money_text(campaign.cost)} {campaign.currency})."
            )
    return CampaignProgress(batches, recipients, segments, cost, errors, currency, problem)


def progress_text(session: Session, campaign: Campaign) -> str:
    p = campaign_progress(session, campaign)
    return (
        f"{p.sent} sent, {p.failed} failed, {p.unconfirmed} unconfirmed; "
        f"{p.segments} segments, {money_text(p.cost)} {p.currency or ''}".strip()
    )
