"""Numbers undeliverable in each of their last 3 campaigns: flagged, left out of new campaigns
(counter, preview, dry-run cost and send agreeing), unless the campaign includes them."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, gateway_client, make_list, past_campaign

from webapp.extensions import db
from webapp.models import Campaign, CampaignRecipient
from webapp.services import campaigns
from webapp.services.counter import count_message
from webapp.services.preview import preview_campaign
from webapp.services.undeliverable import flagged_numbers

NUMBERS = danish_numbers(4)
FLAGGED, HEALTHY, OTHER, LAST = NUMBERS


def history(session, *runs: str) -> None:
    """Past campaigns to FLAGGED, oldest first: U undeliverable, D delivered, A awaiting."""
    words = {"U": "UNDELIVERABLE", "D": "DELIVERED", "A": None}
    for run in runs:
        past_campaign(session, {FLAGGED: words[run], HEALTHY: "DELIVERED"})


@pytest.mark.parametrize(
    ("runs", "flagged"),
    [
        ("UUU", True),
        ("DUUU", True),  # only the last three count
        ("UU", False),
        ("UDUU", False),  # a delivered one among the last three
        ("UUUD", False),  # delivered since
        ("UUUA", False),  # sent again and still awaiting: not undeliverable in that one
    ],
)
def test_a_number_is_flagged_when_undeliverable_in_each_of_its_last_three_campaigns(
    sender, runs, flagged
):
    history(db.session, *runs)
    assert flagged_numbers(db.session) == ({FLAGGED} if flagged else set())


def test_the_flag_can_be_asked_for_some_numbers_only(sender):
    history(db.session, "U", "U", "U")
    assert flagged_numbers(db.session, [HEALTHY]) == set()
    assert flagged_numbers(db.session, [FLAGGED, HEALTHY]) == {FLAGGED}
    assert flagged_numbers(db.session, []) == set()


@pytest.fixture
def draft(sender):
    """A draft to FLAGGED (flagged undeliverable) and three other numbers."""
    history(db.session, "U", "U", "U")
    people = make_list(db.session, "Customers", NUMBERS)
    draft = campaigns.CampaignDraft(name="New", sender="Shop", message="Hi", list_ids=[people.id])
    return campaigns.save_draft(db.session, sender, draft)


def counted(campaign, *, include: bool):
    list_ids = [lst.id for lst in campaign.lists]
    return count_message(db.session, "Hi", "auto", list_ids, include_undeliverable=include)


def frozen_numbers(campaign) -> set[str]:
    return set(
        db.session.scalars(
            db.select(CampaignRecipient.msisdn).where(CampaignRecipient.campaign_id == campaign.id)
        )
    )


def test_a_flagged_number_is_left_out_and_counter_preview_cost_and_send_agree(
    sender, sandbox, draft
):
    client = gateway_client(sandbox)
    cost = counted(draft, include=False).list_cost
    summary = preview_campaign(
        db.session, draft, sender, client, honours_dry_run=True, batch_size=2
    )
    assert (summary["recipients"], summary["excluded_undeliverable"]) == (3, 1)
    assert (cost.recipients, cost.excluded_undeliverable) == (3, 1)
    assert cost.total_segments == summary["segments"] == 3  # the dry run priced three
    campaigns.confirm_campaign(db.session, draft, sender, batch_size=2)
    assert draft.recipient_count == 3
    assert frozen_numbers(draft) == {HEALTHY, OTHER, LAST}
    assert sum(batch.size for batch in draft.batches) == 3


def test_a_campaign_that_includes_flagged_numbers_reaches_them(sender, sandbox, draft):
    client = gateway_client(sandbox)
    campaigns.set_include_undeliverable(db.session, draft, sender, True)
    cost = counted(draft, include=True).list_cost
    summary = preview_campaign(
        db.session, draft, sender, client, honours_dry_run=True, batch_size=2
    )
    assert (summary["recipients"], summary["excluded_undeliverable"]) == (4, 0)
    assert summary["included_undeliverable"] == 1
    assert (cost.recipients, cost.excluded_undeliverable) == (4, 0)
    assert cost.total_segments == summary["segments"] == 4
    campaigns.confirm_campaign(db.session, draft, sender, batch_size=2)
    assert frozen_numbers(draft) == set(NUMBERS)
    assert "numbers flagged undeliverable included" in [event.detail for event in draft.events]


def test_the_choice_to_include_them_is_saved_with_the_draft(sender, draft):
    form = campaigns.CampaignDraft(
        name="New",
        sender="Shop",
        message="Hi",
        list_ids=[lst.id for lst in draft.lists],
        include_undeliverable=True,
    )
    campaigns.save_draft(db.session, sender, form, draft)
    db.session.expire_all()
    assert db.session.get(Campaign, draft.id).include_undeliverable is True
    copy = campaigns.copy_campaign(db.session, draft, sender)
    assert copy.include_undeliverable is True


def test_a_number_flagged_after_the_preview_makes_it_stale(sender, sandbox):
    history(db.session, "U", "U")
    people = make_list(db.session, "Customers", NUMBERS)
    draft = campaigns.save_draft(
        db.session,
        sender,
        campaigns.CampaignDraft(name="New", sender="Shop", message="Hi", list_ids=[people.id]),
    )
    preview_campaign(
        db.session, draft, sender, gateway_client(sandbox), honours_dry_run=True, batch_size=2
    )
    assert campaigns.preview_is_current(db.session, draft)
    history(db.session, "U")  # the third in a row: now left out
    assert not campaigns.preview_is_current(db.session, draft)
    with pytest.raises(campaigns.CampaignStateError, match="flagged"):
        campaigns.confirm_campaign(db.session, draft, sender, batch_size=2)


def test_the_page_of_messages_leaves_flagged_numbers_out_too(sender, draft):
    from webapp.services.preview import recipient_messages

    rows, total = recipient_messages(db.session, draft, per_page=10)
    assert total == 3
    assert FLAGGED not in {row.msisdn for row in rows}
