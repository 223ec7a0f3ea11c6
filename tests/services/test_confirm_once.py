"""Two confirmations of one draft at once: exactly one freezes and queues it."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, make_list
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import Batch, Campaign, CampaignStatus
from webapp.services import campaigns
from webapp.services.campaigns import CampaignDraft, CampaignStateError
from webapp.services.preview import preview_campaign


def test_a_second_confirmation_racing_the_first_is_told_already_confirmed(sender, sandbox):
    people = make_list(db.session, "People", danish_numbers(12))
    draft = CampaignDraft(name="Race", sender="Shop", message="Hi", list_ids=[people.id])
    campaign = campaigns.save_draft(db.session, sender, draft)
    preview_campaign(
        db.session, campaign, sender, sandbox.client(), honours_dry_run=True, batch_size=5
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
