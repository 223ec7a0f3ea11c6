"""A campaign's history: who previewed, confirmed, paused, resumed or cancelled it, and when."""

from __future__ import annotations

from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignEvent, User
from webapp.services.actors import user_id_of


def record_event(session: Session, campaign: Campaign, action: str, user: User | None, detail=None):
    session.add(
        CampaignEvent(
            campaign_id=campaign.id, action=action, detail=detail, user_id=user_id_of(user)
        )
    )
