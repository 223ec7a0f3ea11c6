"""The dispatcher reads each recipient's tag values from the database: what arrives is what the
preview showed, whatever the fields hold."""

from __future__ import annotations

from helpers import danish_numbers, gateway_client, make_list

from webapp.extensions import db
from webapp.services import campaigns, dispatch
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import preview_campaign

FIELDS = {
    "full": {"first_name": "Ann", "city": "Aarhus"},
    "no city": {"first_name": "Bo"},
    "empty name": {"first_name": "", "city": "Odense"},
    "null city": {"first_name": "Cy", "city": None},
    "awkward": {"first_name": 'Zoë "Z" \\ 👋', "city": "Köln/Ærø"},
}


def sent_texts(sender, sandbox, message, fields):
    numbers = danish_numbers(len(fields))
    people = make_list(
        db.session, "People", list(zip(numbers, fields, strict=True)), fields=["first_name", "city"]
    )
    draft = CampaignDraft(name="Hello", sender="Shop", message=message, list_ids=[people.id])
    campaign = campaigns.save_draft(db.session, sender, draft)
    preview_campaign(
        db.session, campaign, sender, gateway_client(sandbox), honours_dry_run=True, batch_size=2
    )
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=2)
    assert dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox)) == "done"
    received = {row["msisdn"]: row["text"] for row in sandbox.store.received_for(label="Hello")}
    return [received[number] for number in numbers]


def test_each_recipient_gets_their_own_values_and_missing_ones_are_empty(sender, sandbox):
    texts = sent_texts(sender, sandbox, "Hi %first_name% from %city%!", list(FIELDS.values()))

    assert texts == [
        "Hi Ann from Aarhus!",
        "Hi Bo from !",
        "Hi  from Odense!",
        "Hi Cy from !",
        'Hi Zoë "Z" \\ 👋 from Köln/Ærø!',
    ]


def test_a_message_without_tags_is_sent_as_written(sender, sandbox):
    texts = sent_texts(sender, sandbox, "Sale today!", list(FIELDS.values()))

    assert texts == ["Sale today!"] * len(FIELDS)
