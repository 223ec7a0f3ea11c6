"""A/B tests: a campaign's audience split at random between two or three texts, the results
compared per variant, and optionally the winner sent to the recipients held back.

How a test stays "exactly once per recipient":
- The split is a pure function of the frozen recipients' order and the campaign's stored seed
  (`split_groups`), so the preview prices the same split that confirmation records.
- At confirmation every recipient gets its group ("A", "B", "C" or "held") and a batch of that
  group: a variant's batches carry its letter, the held-back recipients' batches wait ``held``.
- The winner is chosen once, by a compare-and-set on ``campaigns.winner``; in the same
  transaction the held batches take the winner's letter and become pending, and the dispatcher
  sends them as it sends any batch. A test recipient is in no held batch, so no one gets a
  second variant; a held batch is released once, so no one gets the winner twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.orm import Session

from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignEvent,
    CampaignRecipient,
    CampaignStatus,
    DeliveryOutcome,
    LinkClick,
    RecipientState,
    User,
    utcnow,
)
from webapp.services.campaigns.errors import CampaignStateError
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.payload import VARIANTS, variant_text
from webapp.services.campaigns.split import HELD, held_back_percent
from webapp.services.recipient_states import state_in
from webapp.services.tracked_links import campaign_targets

SIGNIFICANCE = 0.05  # p below this: "more than chance"
ALREADY_SENT = "The winner of this test was already sent to the held-back recipients."


def texts_of(campaign: Campaign) -> dict[str, str]:
    """The test's variants and their texts, A first."""
    return {letter: variant_text(campaign, letter) for letter in variant_letters(campaign)}


def variant_letters(campaign: Campaign) -> list[str]:
    return [letter for letter in VARIANTS if letter in (campaign.variant_shares or {})]


# --- Results and the comparison ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One group of a test: its recipients, how many the gateway accepted, were delivered and
    failed (a final report other than delivered), and with tracked links how many clicked
    (people, not preview bots: `services.clicks`; None for a campaign without links)."""

    group: str  # "A", "B", "C" or HELD
    text: str | None
    recipients: int
    sent: int
    delivered: int
    failed: int
    clickers: int | None = None

    @property
    def awaiting(self) -> int:
        """Sent, and no final report yet: counted as not delivered by the rate."""
        return max(0, self.sent - self.delivered - self.failed)

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.sent if self.sent else None

    @property
    def click_through_rate(self) -> float | None:
        """People who clicked out of those delivered to (None: no links, or none delivered)."""
        if self.clickers is None or not self.delivered:
            return None
        return self.clickers / self.delivered

    @property
    def label(self) -> str:
        return "Held back" if self.group == HELD else f"Variant {self.group}"


@dataclass(frozen=True, slots=True)
class Metric:
    """What makes a variant the winner: ``successes`` out of ``trials`` of a result.

    Pluggable: the click-through rate is one more entry (clicks out of delivered)."""

    name: str
    successes: Callable[[VariantResult], int]
    trials: Callable[[VariantResult], int]

    def rate(self, result: VariantResult) -> float | None:
        trials = self.trials(result)
        return self.successes(result) / trials if trials else None


METRICS: dict[str, Metric] = {
    "delivery_rate": Metric(
        "delivery rate", successes=lambda r: r.delivered, trials=lambda r: r.sent
    ),
    # Only for a campaign with tracked links: without them no variant has a rate to compare.
    "click_through_rate": Metric(
        "click-through rate",
        successes=lambda r: r.clickers or 0,
        trials=lambda r: r.delivered if r.clickers is not None else 0,
    ),
}


def metric_of(campaign: Campaign) -> Metric:
    return METRICS.get(campaign.winner_metric or "", METRICS["delivery_rate"])


def other_comparisons(results: Sequence[VariantResult], chosen: Metric) -> list[Comparison]:
    """The comparisons by the metrics the winner is not chosen by, where the test has what they
    measure (the click-through rate only with tracked links)."""
    tracked = any(result.clickers is not None for result in results)
    return [
        compare_variants(results, metric)
        for key, metric in METRICS.items()
        if metric is not chosen and (key != "click_through_rate" or tracked)
    ]


def variant_results(session: Session, campaign: Campaign) -> list[VariantResult]:
    """Per group of the test (held back last, when some are): counted in one query."""
    if not campaign.is_ab_test:
        return []
    rows = session.execute(
        select(
            CampaignRecipient.variant,
            func.count(),
            func.sum(case((state_in(RecipientState.SENT), 1), else_=0)),
            func.sum(
                case((CampaignRecipient.delivery_outcome == DeliveryOutcome.DELIVERED, 1), else_=0)
            ),
            func.sum(
                case(
                    (CampaignRecipient.delivery_outcome.in_(DeliveryOutcome.failures()), 1), else_=0
                )
            ),
        )
        .where(CampaignRecipient.campaign_id == campaign.id)
        .group_by(CampaignRecipient.variant)
    ).all()
    counted = {group: tuple(int(n or 0) for n in numbers) for group, *numbers in rows}
    clicked = _clickers_by_group(session, campaign)
    texts = texts_of(campaign)
    groups = [*texts, HELD] if held_back_percent(campaign.variant_shares) else [*texts]
    return [
        VariantResult(
            group,
            texts.get(group),
            *counted.get(group, (0, 0, 0, 0)),
            clickers=None if clicked is None else clicked.get(group, 0),
        )
        for group in groups
    ]


def _clickers_by_group(session: Session, campaign: Campaign) -> dict[str, int] | None:
    """{group: recipients with a person's click}; None when the campaign has no tracked links."""
    if not campaign_targets(campaign):
        return None
    rows = session.execute(
        select(CampaignRecipient.variant, func.count(distinct(LinkClick.recipient_id)))
        .join(CampaignRecipient, CampaignRecipient.id == LinkClick.recipient_id)
        .where(LinkClick.campaign_id == campaign.id, LinkClick.counted)
        .group_by(CampaignRecipient.variant)
    ).all()
    return {group: int(count) for group, count in rows}


def normal_cdf(x: float) -> float:
    """The standard normal distribution's CDF (by math.erf: no scipy needed)."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def two_proportion_p_value(
    successes_1: int, trials_1: int, successes_2: int, trials_2: int
) -> float | None:
    """The two-sided p-value of a two-proportion z-test (pooled), or None when it cannot be
    computed (no trials on a side, or every trial a success or every one a failure)."""
    if not trials_1 or not trials_2:
        return None
    pooled = (successes_1 + successes_2) / (trials_1 + trials_2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / trials_1 + 1 / trials_2))
    if spread == 0:
        return None
    z = (successes_1 / trials_1 - successes_2 / trials_2) / spread
    return 2 * (1 - normal_cdf(abs(z)))


@dataclass(frozen=True, slots=True)
class Comparison:
    """The best variant by a metric against the runner-up, said in words."""

    best: VariantResult | None
    runner_up: VariantResult | None
    p_value: float | None
    sentence: str

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE


def percent_text(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def _chance_text(p_value: float) -> str:
    for limit, words in (
        (0.001, "1 time in 1,000"),
        (0.01, "1 time in 100"),
        (0.05, "1 time in 20"),
    ):
        if p_value < limit:
            return f"less than {words}"
    return ""


def _p_text(p_value: float) -> str:
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.3f}" if p_value < 0.1 else f"p = {p_value:.2f}"


def compare_variants(results: Sequence[VariantResult], metric: Metric) -> Comparison:
    """The best variant (ties: the earlier letter) against the runner-up, with a two-proportion
    z-test of the difference; with three variants the best is tested against the second."""
    variants = [r for r in results if r.group != HELD]
    measured = [r for r in variants if metric.rate(r) is not None]
    if len(measured) < 2:
        return Comparison(
            variants[0] if variants else None,
            None,
            None,
            f"Not enough results yet to compare the variants' {metric.name}s.",
        )
    ranked = sorted(measured, key=lambda r: -metric.rate(r))  # stable: A before B on a tie
    best, runner_up = ranked[0], ranked[1]
    p_value = two_proportion_p_value(
        metric.successes(best),
        metric.trials(best),
        metric.successes(runner_up),
        metric.trials(runner_up),
    )
    best_rate, other_rate = percent_text(metric.rate(best)), percent_text(metric.rate(runner_up))
    if p_value is None:
        sentence = (
            f"{best.group}'s and {runner_up.group}'s {metric.name}s ({best_rate}, {other_rate}) "
            "cannot be told apart by a test yet."
        )
    elif p_value < SIGNIFICANCE:
        sentence = (
            f"{best.group}'s {metric.name} ({best_rate}) is higher than {runner_up.group}'s "
            f"({other_rate}); a difference this large would happen by chance "
            f"{_chance_text(p_value)} (two-proportion z-test, {_p_text(p_value)})."
        )
    else:
        sentence = (
            f"{best.group}'s {metric.name} ({best_rate}) against {runner_up.group}'s "
            f"({other_rate}): the difference is small enough to be chance (two-proportion "
            f"z-test, {_p_text(p_value)})."
        )
    return Comparison(best, runner_up, p_value, sentence)


def ab_test_report(session: Session, campaign: Campaign) -> dict | None:
    """An A/B test's part of ``flask campaigns report``: each group's results, the comparison
    in words and the winner (None: no test)."""
    if not campaign.is_ab_test:
        return None
    results = variant_results(session, campaign)
    metric = metric_of(campaign)
    return {
        "groups": [
            {
                "group": r.group,
                "recipients": r.recipients,
                "sent": r.sent,
                "delivered": r.delivered,
                "failed": r.failed,
                "delivery_rate": None if r.delivery_rate is None else round(r.delivery_rate, 4),
                "clickers": r.clickers,
                "click_through_rate": None
                if r.click_through_rate is None
                else round(r.click_through_rate, 4),
            }
            for r in results
        ],
        "comparison": compare_variants(results, metric).sentence,
        "metric": metric.name,
        "other_comparisons": [c.sentence for c in other_comparisons(results, metric)],
        "winner": campaign.winner,
        "winner_reason": campaign.winner_reason,
        "held_back_waiting": held_back_count(session, campaign),
    }


# --- The winner ------------------------------------------------------------------------------


def held_back_count(session: Session, campaign: Campaign) -> int:
    """Recipients still waiting for the winner (in held batches)."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Batch.size), 0)).where(
                Batch.campaign_id == campaign.id, Batch.state == BatchState.HELD
            )
        )
    )


def awaits_winner(session: Session, campaign: Campaign, now: datetime) -> bool:
    """Asked by the dispatcher when nothing is left to send: True while held-back recipients
    wait for the winner (the campaign is not done). The first time, it starts the winner's
    timer and records that the test part went out."""
    waiting = held_back_count(session, campaign)
    if not waiting:
        return False
    if campaign.winner is None and not _timer_started(session, campaign):
        then = "a user sends the winner to them"
        if campaign.winner_after_minutes:
            campaign.winner_due_at = now + timedelta(minutes=campaign.winner_after_minutes)
            then = f"the winner goes to them at {campaign.winner_due_at:%Y-%m-%d %H:%M} UTC"
        record_event(
            session,
            campaign,
            "awaiting_winner",
            None,
            f"Test sent; {waiting} held-back recipients wait: {then}.",
        )
        session.commit()
    return True


def _timer_started(session: Session, campaign: Campaign) -> bool:
    return campaign.winner_due_at is not None or bool(
        session.scalar(
            select(func.count()).where(
                CampaignEvent.campaign_id == campaign.id,
                CampaignEvent.action == "awaiting_winner",
            )
        )
    )


def send_winner(
    session: Session,
    campaign: Campaign,
    letter: str,
    user: User | None,
    *,
    reason: str | None = None,
    address: str | None = None,
) -> int:
    """Send variant ``letter`` to the held-back recipients, once: returns how many. The caller
    enqueues the dispatch. Refused when a winner was already sent or nothing is held back."""
    if letter not in variant_letters(campaign):
        raise CampaignStateError(f"This campaign has no variant {letter}.")
    if campaign.winner is not None:
        raise CampaignStateError(ALREADY_SENT)
    if not campaign.status.is_under_way:
        raise CampaignStateError("Only a campaign that is still under way can send its winner.")
    claimed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.winner.is_(None))
        .values(winner=letter, winner_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        raise CampaignStateError(ALREADY_SENT)
    count = held_back_count(session, campaign)
    released = session.execute(
        update(Batch)
        .where(Batch.campaign_id == campaign.id, Batch.state == BatchState.HELD)
        .values(state=BatchState.HELD.move_to(BatchState.PENDING), variant=letter)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not released:
        session.rollback()
        raise CampaignStateError("No recipient of this campaign is held back for a winner.")
    session.refresh(campaign)
    by = "chosen by hand" if user is not None else "chosen automatically"
    detail = f"Variant {letter} ({by}) to {count} held-back recipients."
    if reason:
        detail = f"{detail} {reason}"
    record_event(session, campaign, "winner", user, detail, address=address)
    session.commit()
    return count


def send_due_winners(session: Session, now: datetime | None = None) -> list[int]:
    """Every minute: for each sending test whose winner's time has come, send the best variant
    by its metric to the held-back recipients (the statement of chance goes with it into the
    history). Returns the campaigns to dispatch."""
    now = now or utcnow()
    due = session.scalars(
        select(Campaign).where(
            Campaign.status == CampaignStatus.SENDING,
            Campaign.winner.is_(None),
            Campaign.winner_due_at <= now,
        )
    ).all()
    sent = []
    for campaign in due:
        comparison = compare_variants(variant_results(session, campaign), metric_of(campaign))
        if comparison.best is None:
            continue
        try:
            send_winner(session, campaign, comparison.best.group, None, reason=comparison.sentence)
        except CampaignStateError:  # another worker sent it first, or it was cancelled
            continue
        sent.append(campaign.id)
    return sent
