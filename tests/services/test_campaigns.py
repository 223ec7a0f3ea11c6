"""Compose, preview and confirm: the campaign service."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from helpers import danish_numbers, gateway_client, make_list

from webapp.extensions import db
from webapp.gateway.pricing import PriceTable
from webapp.models import (
    BatchState,
    CampaignRecipient,
    CampaignStatus,
    OptOut,
    Recipient,
    utcnow,
)
from webapp.services import campaigns
from webapp.services.campaigns import CampaignDraft, CampaignInvalid, CampaignStateError
from webapp.services.preview import preview_campaign, recipient_messages


def draft(list_ids, message="Hi %first_name%, 20% off today", **changes):
    values = dict(name="Black Friday", sender="Shop", message=message, list_ids=list_ids)
    values.update(changes)
    return CampaignDraft(**values)


def preview(campaign, user, sandbox, *, dry_run=True, batch_size=10_000):
    return preview_campaign(
        db.session,
        campaign,
        user,
        gateway_client(sandbox),
        honours_dry_run=dry_run,
        batch_size=batch_size,
    )


def test_draft_errors_name_every_wrong_field(sender):
    people = make_list(db.session, "People", [danish_numbers(1)[0]], fields=["first_name"])
    with pytest.raises(CampaignInvalid) as caught:
        campaigns.save_draft(
            db.session,
            sender,
            CampaignDraft(
                name=" ",
                sender="Much too long sender",
                message="Hi %nickname%",
                list_ids=[people.id],
                send_at=utcnow() - timedelta(minutes=1),
            ),
        )
    errors = caught.value.errors
    assert set(errors) == {"name", "sender", "message", "send_at"}
    assert "%nickname%" in errors["message"] and "%first_name%" in errors["message"]


def test_forced_gsm_refuses_unicode_text(sender):
    with pytest.raises(CampaignInvalid) as caught:
        campaigns.save_draft(db.session, sender, draft([], message="Hej 😀", encoding="GSM"))
    assert "😀" in caught.value.errors["message"]


def test_recipients_are_merged_once_and_opt_outs_excluded(sender):
    a, b, c = danish_numbers(3)
    first = make_list(
        db.session,
        "First",
        [(a, {"first_name": "Ann"}), (b, {"first_name": "Bo"})],
        fields=["first_name"],
    )
    second = make_list(
        db.session, "Second", [(b, {"first_name": "Other"}), c], fields=["first_name"]
    )
    db.session.add(OptOut(msisdn=c))
    db.session.commit()
    campaign = campaigns.save_draft(db.session, sender, draft([first.id, second.id]))
    resolved = campaigns.resolve_recipients(db.session, campaign)
    assert [r.msisdn for r in resolved.recipients] == [a, b]
    assert resolved.recipients[1].fields == {"first_name": "Bo"}  # the first list wins
    assert (resolved.excluded_duplicates, resolved.excluded_opted_out) == (1, 1)


def test_preview_dry_run_prices_without_sending(sender, sandbox):
    numbers = danish_numbers(25)
    people = make_list(
        db.session, "People", [(n, {"first_name": "Ann"}) for n in numbers], fields=["first_name"]
    )
    campaign = campaigns.save_draft(db.session, sender, draft([people.id]))
    summary = preview(campaign, sender, sandbox, batch_size=10)
    assert summary["recipients"] == 25 and summary["batches"] == 3
    assert summary["segments"] == 25
    assert summary["countries"] == {"DK": 25}
    assert Decimal(summary["cost"]) == Decimal("0.15") * 25
    assert summary["estimate"] is False
    assert sandbox.store.count_received() == 0


def test_local_estimate_agrees_with_the_gateway_dry_run(sender, sandbox):
    numbers = danish_numbers(6) + ["46701234567", "9779812345678"]
    names = ["Ann", "Bo", "Zoë", "Łukasz", "A" * 150, "Eve", "Lars", "Sita"]
    people = make_list(
        db.session,
        "People",
        [(n, {"first_name": f}) for n, f in zip(numbers, names, strict=True)],
        fields=["first_name"],
    )
    campaign = campaigns.save_draft(db.session, sender, draft([people.id]))
    by_gateway = preview(campaign, sender, sandbox)
    by_table = preview(campaign, sender, sandbox, dry_run=False)
    assert by_table["estimate"] is True
    for key in ("segments", "countries", "recipients"):
        assert by_gateway[key] == by_table[key], key
    assert Decimal(by_gateway["cost"]) == Decimal(by_table["cost"])


def test_preview_warns_where_money_is_at_stake(sender, sandbox):
    people = make_list(
        db.session,
        "People",
        [(danish_numbers(1)[0], {"first_name": "Łukasz"}), ("46701234567", {"first_name": "Bo"})],
        fields=["first_name"],
    )
    long_text = "Hi %first_name% " + "x" * 500
    campaign = campaigns.save_draft(db.session, sender, draft([people.id], message=long_text))
    warnings = " ".join(preview(campaign, sender, sandbox)["warnings"])
    assert "1 of 2 messages needs Unicode (UCS-2)" in warnings
    assert "segments long" in warnings
    assert "outside DK: SE (1)" in warnings


def test_same_text_to_same_list_within_a_week_is_flagged(sender, sandbox):
    people = make_list(db.session, "People", danish_numbers(2), fields=["first_name"])
    first = campaigns.save_draft(db.session, sender, draft([people.id]))
    preview(first, sender, sandbox)
    campaigns.confirm_campaign(db.session, first, sender, batch_size=10_000)
    second = campaigns.save_draft(db.session, sender, draft([people.id], name="Again"))
    warnings = " ".join(preview(second, sender, sandbox)["warnings"])
    assert "already sent to the same list in the last 7 days" in warnings


def test_confirm_needs_a_current_preview(sender, sandbox):
    people = make_list(db.session, "People", danish_numbers(3), fields=["first_name"])
    campaign = campaigns.save_draft(db.session, sender, draft([people.id]))
    with pytest.raises(CampaignStateError):
        campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10)
    preview(campaign, sender, sandbox)
    campaign.message = "Changed after the preview"
    db.session.commit()
    with pytest.raises(CampaignStateError, match="Preview it again"):
        campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10)


def test_confirm_freezes_recipients_into_batches(sender, sandbox):
    people = make_list(db.session, "People", danish_numbers(25), fields=["first_name"])
    campaign = campaigns.save_draft(db.session, sender, draft([people.id]))
    preview(campaign, sender, sandbox, batch_size=10)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10)
    assert campaign.status == CampaignStatus.QUEUED
    assert [b.size for b in campaign.batches] == [10, 10, 5]
    assert all(b.state == BatchState.PENDING for b in campaign.batches)
    # A list changed afterwards does not change who the campaign reaches.
    db.session.query(Recipient).filter_by(list_id=people.id).delete()
    db.session.commit()
    frozen = db.session.query(CampaignRecipient).filter_by(campaign_id=campaign.id).count()
    assert frozen == 25
    assert [e.action for e in campaign.events] == ["previewed", "confirmed"]


def test_scheduled_campaign_waits_for_its_time(sender, sandbox):
    people = make_list(db.session, "People", danish_numbers(2), fields=["first_name"])
    later = utcnow() + timedelta(hours=2)
    campaign = campaigns.save_draft(db.session, sender, draft([people.id], send_at=later))
    preview(campaign, sender, sandbox)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10)
    assert campaign.status == CampaignStatus.SCHEDULED


def test_recipient_messages_show_each_rendered_text(sender, sandbox):
    numbers = danish_numbers(3)
    people = make_list(
        db.session,
        "People",
        [
            (numbers[0], {"first_name": "Ann"}),
            (numbers[1], {"first_name": "Zoë😀"}),
            (numbers[2], {"first_name": "B" * 200}),
        ],
        fields=["first_name"],
    )
    campaign = campaigns.save_draft(db.session, sender, draft([people.id]))
    rows, total = recipient_messages(db.session, campaign)
    assert total == 3
    assert rows[0].text == "Hi Ann, 20% off today" and rows[0].segments == 1
    costlier, count = recipient_messages(db.session, campaign, costlier_only=True, sort="-segments")
    assert count == 2
    assert costlier[0].msisdn == numbers[2] and costlier[0].segments == 2
    assert costlier[1].encoding == "UCS2"
    assert costlier[0].price == PriceTable().price_for("DK") * 2
    found, _ = recipient_messages(db.session, campaign, search="zoë")
    assert [r.msisdn for r in found] == [numbers[1]]


def test_copy_and_delete_drafts(sender):
    people = make_list(db.session, "People", danish_numbers(1), fields=["first_name"])
    campaign = campaigns.save_draft(db.session, sender, draft([people.id]))
    copy = campaigns.copy_campaign(db.session, campaign, sender)
    assert copy.name == "Black Friday (copy)" and copy.lists == [people]
    campaigns.delete_draft(db.session, campaign)
    assert db.session.get(type(campaign), campaign.id) is None


def test_the_first_chosen_list_wins_after_a_reload(sender):
    number = danish_numbers(1)[0]
    older = make_list(db.session, "Older", [(number, {"first_name": "Old"})], fields=["first_name"])
    newer = make_list(db.session, "Newer", [(number, {"first_name": "New"})], fields=["first_name"])
    campaign = campaigns.save_draft(db.session, sender, draft([newer.id, older.id]))
    db.session.expire_all()
    assert [lst.name for lst in campaign.lists] == ["Newer", "Older"]
    resolved = campaigns.resolve_recipients(db.session, campaign)
    assert [r.fields["first_name"] for r in resolved.recipients] == ["New"]
    copy = campaigns.copy_campaign(db.session, campaign, sender)
    db.session.expire_all()
    assert [lst.name for lst in copy.lists] == ["Newer", "Older"]
