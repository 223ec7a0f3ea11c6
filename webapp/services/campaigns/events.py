"""A campaign's history: who previewed, confirmed, paused, resumed or cancelled it, and when.

Each change of the campaign is also an audit event (`webapp.services.audit`); a preview changes
nothing that is sent, so it is history only.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignEvent, User
from webapp.services import audit
from webapp.services.actors import user_id_of

NOT_AUDITED = {"previewed"}


def record_event(
    session: Session,
    campaign: Campaign,
    action: str,
    user: User | None,
    detail=None,
    *,
    address: str | None = None,
):
    """``address``: the client's, when a user acted through a page."""
    session.add(
        CampaignEvent(
            campaign_id=campaign.id, action=action, detail=detail, user_id=user_id_of(user)
        )
    )
    if action not in NOT_AUDITED:
        audit.record(
            session,
            f"campaign_{action}",
            user=user,
            obj=campaign,
            address=address,
            detail=detail,
        )
