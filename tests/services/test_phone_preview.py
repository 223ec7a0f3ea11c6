"""phone_view: one recipient's message as their phone shows it, cut into the gateway's segments."""

from __future__ import annotations

from helpers import danish_numbers, gateway_client, make_list

from webapp.extensions import db
from webapp.services import campaigns
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import phone_view


def draft(sender, message, names):
    rows = [(n, {"first_name": f}) for n, f in zip(danish_numbers(len(names)), names, strict=True)]
    people = make_list(db.session, "People", rows, fields=["first_name"])
    return campaigns.save_draft(
        db.session,
        sender,
        CampaignDraft(name="Spring", sender="Shop", message=message, list_ids=[people.id]),
    )


def test_the_chosen_recipient_sees_their_own_message_in_segments(sender):
    campaign = draft(sender, "Hi %first_name%! " + "x" * 160, ["Ann", "Bo"])
    view = phone_view(db.session, campaign, danish_numbers(2)[1])
    assert view.recipient.msisdn == danish_numbers(2)[1]
    assert view.recipient.text.startswith("Hi Bo! ")
    assert len(view.segments) == 2 and view.per_segment == 153
    assert "".join(view.segments) == view.recipient.text
    assert len(view.segments[0]) == 153


def test_a_unicode_value_cuts_at_67(sender):
    campaign = draft(sender, "Hi %first_name%, " + "y" * 100, ["François"])
    view = phone_view(db.session, campaign, None)
    assert view.recipient.encoding == "UCS2"
    assert view.per_segment == 67 and [len(s) for s in view.segments] == [67, 46]


def test_an_unknown_number_shows_the_first_recipient(sender):
    campaign = draft(sender, "Hello", ["Ann", "Bo"])
    assert phone_view(db.session, campaign, "4599999999").recipient.msisdn == danish_numbers(1)[0]
    assert phone_view(db.session, campaign, "not a number").segments == ["Hello"]


def test_plain_values_are_sent_and_previewed_in_gsm_letters(sender, sandbox):
    from webapp.services.campaigns import batch_message

    campaign = draft(sender, "Hi %first_name%, " + "y" * 100, ["François"])
    campaign.plain_values = True
    view = phone_view(db.session, campaign, None)
    assert view.recipient.text.startswith("Hi Francois, ") and view.recipient.encoding == "GSM"
    message = batch_message(
        campaign, [(danish_numbers(1)[0], {"first_name": "François"})], ["first_name"], number=1
    )
    result = gateway_client(sandbox).send(message, dry_run=True)
    assert result.usage.countries == {"DK": 1}  # one GSM segment, not two Unicode ones
