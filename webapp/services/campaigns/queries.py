"""What the campaign pages read: campaigns, the lists a campaign can use, batches, tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignTestSend,
    RecipientList,
)


def list_campaigns(session: Session) -> list[Campaign]:
    return list(
        session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()))
    )


def selectable_lists(session: Session) -> list[RecipientList]:
    """Lists the composer offers: every visible list that has recipients, by name."""
    return list(
        session.scalars(
            select(RecipientList)
            .where(RecipientList.hidden.is_(False), RecipientList.recipient_count > 0)
            .order_by(RecipientList.name, RecipientList.id)
        )
    )


def batches_in_state(session: Session, campaign: Campaign, state: BatchState) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch)
            .where(Batch.campaign_id == campaign.id, Batch.state == state)
            .order_by(Batch.number)
        )
    )


def sent_tests_of(session: Session, campaign: Campaign) -> list[CampaignTestSend]:
    return list(
        session.scalars(
            select(CampaignTestSend)
            .where(CampaignTestSend.campaign_id == campaign.id)
            .order_by(CampaignTestSend.id.desc())
        )
    )


def follow_ups_of(session: Session, campaign: Campaign) -> list[Campaign]:
    return list(session.scalars(select(Campaign).where(Campaign.parent_id == campaign.id)))
