"""Confirmation copies the recipients into batches inside the database: who, in which order,
with which fields, is exactly what the preview resolved."""

from __future__ import annotations

from helpers import danish_numbers, gateway_client, make_list
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Batch, CampaignRecipient, OptOut, RecipientState
from webapp.services import campaigns
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import preview_campaign


def frozen(campaign):
    rows = db.session.execute(
        select(Batch.number, CampaignRecipient.msisdn, CampaignRecipient.fields)
        .join(Batch, CampaignRecipient.batch_id == Batch.id)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .order_by(CampaignRecipient.id)
    )
    return [tuple(row) for row in rows]


def confirm(sender, sandbox, list_ids, batch_size):
    draft = CampaignDraft(name="Spring", sender="Shop", message="Hi %name%", list_ids=list_ids)
    campaign = campaigns.save_draft(db.session, sender, draft)
    preview_campaign(
        db.session,
        campaign,
        sender,
        gateway_client(sandbox),
        honours_dry_run=True,
        batch_size=batch_size,
    )
    resolved = campaigns.resolve_recipients(db.session, campaign)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=batch_size)
    return campaign, resolved


def test_each_number_is_frozen_once_with_the_fields_of_the_first_list(sender, sandbox):
    a, b, c, d = danish_numbers(4)
    first = make_list(
        db.session, "First", [(c, {"name": "C"}), (a, {"name": "A-first"})], fields=["name"]
    )
    second = make_list(
        db.session, "Second", [(a, {"name": "A"}), (b, {"name": "B"})], fields=["name"]
    )
    make_list(db.session, "Unused", [(d, {"name": "D"})], fields=["name"])
    db.session.add(OptOut(msisdn=b))
    db.session.commit()

    campaign, resolved = confirm(sender, sandbox, [first.id, second.id], batch_size=2)

    assert frozen(campaign) == [(1, c, {"name": "C"}), (1, a, {"name": "A-first"})]
    assert [(r.msisdn, r.fields) for r in resolved.recipients] == [
        (c, {"name": "C"}),
        (a, {"name": "A-first"}),
    ]
    assert campaign.recipient_count == 2


def test_batches_are_cut_in_order_across_lists(sender, sandbox):
    numbers = danish_numbers(7)
    first = make_list(
        db.session, "First", [(n, {"name": "F"}) for n in numbers[:3]], fields=["name"]
    )
    second = make_list(
        db.session, "Second", [(n, {"name": "S"}) for n in numbers[3:]], fields=["name"]
    )

    campaign, _ = confirm(sender, sandbox, [first.id, second.id], batch_size=2)

    assert [(number, msisdn, fields["name"]) for number, msisdn, fields in frozen(campaign)] == [
        (1, numbers[0], "F"),
        (1, numbers[1], "F"),
        (2, numbers[2], "F"),
        (2, numbers[3], "S"),
        (3, numbers[4], "S"),
        (3, numbers[5], "S"),
        (4, numbers[6], "S"),
    ]
    assert [b.size for b in campaign.batches] == [2, 2, 2, 1]
    states = db.session.scalars(
        select(CampaignRecipient.state).where(CampaignRecipient.campaign_id == campaign.id)
    )
    assert set(states) == {RecipientState.PENDING}
