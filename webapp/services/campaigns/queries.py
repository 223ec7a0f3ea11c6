"""What the campaign pages read: campaigns, the lists a campaign can use, batches, tests."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, load_only

from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignTestSend,
    RecipientList,
)
from webapp.services.pages import Page

PER_PAGE = 50


def campaigns_page(session: Session, page: int = 1, per_page: int = PER_PAGE) -> Page[Campaign]:
    """One page of campaigns, newest first, with only the columns the list shows.

    Two queries whatever the page: the count and the page (with its creators joined). The
    stored preview (JSON) and the message are not read; touching them on a row raises.
    """
    total = session.scalar(select(func.count()).select_from(Campaign)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.scalars(
        select(Campaign)
        .options(
            load_only(
                Campaign.name,
                Campaign.status,
                Campaign.parent_id,
                Campaign.recipient_count,
                Campaign.cost,
                Campaign.currency,
                Campaign.cost_is_estimate,
                Campaign.created_at,
                Campaign.confirmed_at,
                raiseload=True,
            ),
            joinedload(Campaign.created_by),
        )
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Page(list(rows), total, page, per_page)


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
