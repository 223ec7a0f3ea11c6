"""Two confirmations of one draft at once: exactly one freezes and queues it."""

from __future__ import annotations

import pytest
from helpers import confirmed_campaign_of
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import Batch, Campaign, CampaignStatus
from webapp.services import campaigns
from webapp.services.campaigns import CampaignStateError


def test_a_second_confirmation_racing_the_first_is_told_already_confirmed(sender, sandbox):
    campaign = confirmed_campaign_of(
        db.session, sandbox, name="Race", count=12, batch_size=5, user=sender, confirm=False
    )
    with Session(db.engine) as other_tab:
        stale = other_tab.get(Campaign, campaign.id)  # read while it was still a draft
        assert stale.status.can_confirm
        campaigns.confirm_campaign(db.session, campaign, sender, batch_size=5)
        with pytest.raises(CampaignStateError, match="already confirmed"):
            campaigns.confirm_campaign(other_tab, stale, None, batch_size=5)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.QUEUED
    batches = db.session.scalar(select(func.count()).where(Batch.campaign_id == campaign.id))
    assert batches == 3
