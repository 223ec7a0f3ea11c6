"""A page of a campaign's recipients, read by the database, is that slice of the whole audience."""

from __future__ import annotations

from helpers import danish_numbers, make_list

from webapp.extensions import db
from webapp.models import Campaign, CampaignRecipient, CampaignStatus, OptOut, RecipientState
from webapp.services import campaigns
from webapp.services.audience import count_recipients, page_of_recipients
from webapp.services.campaigns import CampaignDraft


def overlapping_lists(sender):
    """Three lists sharing numbers, some of them opted out, chosen out of creation order."""
    numbers = danish_numbers(40)
    first = make_list(
        db.session, "First", [(n, {"name": f"a{n}"}) for n in numbers[:15]], fields=["name"]
    )
    second = make_list(
        db.session, "Second", [(n, {"name": f"b{n}"}) for n in numbers[10:30]], fields=["name"]
    )
    third = make_list(db.session, "Third", numbers[5:40:2], fields=["name"])
    db.session.add_all([OptOut(msisdn=numbers[n]) for n in (3, 12, 25, 31)])
    db.session.commit()
    draft = CampaignDraft(
        name="Sale",
        sender="Shop",
        message="Hi %name%",
        list_ids=[second.id, third.id, first.id],
    )
    return campaigns.save_draft(db.session, sender, draft)


def test_pages_of_recipients_are_slices_of_the_resolved_audience(sender):
    campaign = overlapping_lists(sender)
    everyone = campaigns.resolve_recipients(db.session, campaign).recipients
    assert count_recipients(db.session, campaign) == len(everyone)
    for per_page in (1, 7, 10, 50):
        for offset in range(0, len(everyone) + per_page, per_page):
            page = page_of_recipients(db.session, campaign, offset=offset, limit=per_page)
            assert page == everyone[offset : offset + per_page], (per_page, offset)


def test_a_follow_ups_pages_leave_out_numbers_opted_out_since(sender):
    numbers = danish_numbers(6)
    parent = Campaign(name="Parent", sender="Shop", message="Hi", status=CampaignStatus.DONE)
    db.session.add(parent)
    db.session.flush()
    db.session.add_all(
        CampaignRecipient(
            campaign_id=parent.id,
            msisdn=number,
            state=RecipientState.FAILED if n % 2 else RecipientState.SENT,
        )
        for n, number in enumerate(numbers)
    )
    db.session.add(OptOut(msisdn=numbers[3]))
    follow_up = Campaign(name="Again", sender="Shop", message="Hi", parent_id=parent.id)
    db.session.add(follow_up)
    db.session.commit()
    everyone = campaigns.resolve_recipients(db.session, follow_up).recipients
    assert [r.msisdn for r in everyone] == [numbers[1], numbers[5]]
    assert page_of_recipients(db.session, follow_up, offset=0, limit=10) == everyone
    assert page_of_recipients(db.session, follow_up, offset=1, limit=10) == everyone[1:]
    assert count_recipients(db.session, follow_up) == 2
