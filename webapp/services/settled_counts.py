"""A finished campaign's delivery counts folded into one row per outcome.

While a campaign sends, its counts are spread over `delivery.COUNT_SHARDS` rows per outcome so
that parallel reports rarely wait on one row. Once it is done or cancelled, reports come seldom
(late ones, for up to the validity period), and sixteen rows per outcome only make the campaigns
list's sort by delivery rate sum sixteen times as many rows. A periodic job folds them.

Each fold deletes the campaign's rows with ``DELETE ... RETURNING``, which hands back exactly
the counts it removed (on PostgreSQL after waiting for any report that holds one of them), and
adds their sums to shard 0 with the same upsert a report uses. A report that arrives meanwhile
lands in a row of its own and is folded next time: nothing is counted twice or lost.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignStatus, DeliveryCount

CAMPAIGNS_PER_FOLD = 100
"""Campaigns folded per transaction: short transactions, so reports never wait long."""

_ADD_FOLDED = text(
    "INSERT INTO delivery_counts (campaign_id, outcome, shard, count) "
    "VALUES (:campaign_id, :outcome, 0, :count) "
    "ON CONFLICT (campaign_id, outcome, shard) "
    "DO UPDATE SET count = delivery_counts.count + excluded.count"
)


def unfolded_campaigns(session: Session, limit: int = CAMPAIGNS_PER_FOLD) -> list[int]:
    """Done or cancelled campaigns that still have counts outside shard 0."""
    return list(
        session.scalars(
            select(DeliveryCount.campaign_id)
            .distinct()
            .join(Campaign, Campaign.id == DeliveryCount.campaign_id)
            .where(
                DeliveryCount.shard != 0,
                Campaign.status.in_(CampaignStatus.where(lambda status: status.is_final)),
            )
            .limit(limit)
        )
    )


def fold_counts(session: Session, campaign_ids: list[int]) -> int:
    """Fold the campaigns' counts into shard 0, in one transaction; returns the rows removed."""
    if not campaign_ids:
        return 0
    removed = session.execute(
        delete(DeliveryCount)
        .where(DeliveryCount.campaign_id.in_(campaign_ids))
        .returning(DeliveryCount.campaign_id, DeliveryCount.outcome, DeliveryCount.count)
        .execution_options(synchronize_session=False)
    ).all()
    sums: dict[tuple[int, str], int] = defaultdict(int)
    for campaign_id, outcome, count in removed:
        sums[(campaign_id, outcome.value)] += count
    if sums:
        session.execute(
            _ADD_FOLDED,
            [
                {"campaign_id": campaign_id, "outcome": outcome, "count": count}
                for (campaign_id, outcome), count in sorted(sums.items())
            ],
        )
    session.commit()
    return len(removed) - len(sums)


def fold_settled_counts(session: Session, limit: int = CAMPAIGNS_PER_FOLD) -> int:
    """Fold every finished campaign that needs it, ``limit`` at a time; returns rows removed."""
    folded = 0
    while ids := unfolded_campaigns(session, limit):
        folded += fold_counts(session, ids)
    return folded
