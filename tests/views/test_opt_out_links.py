"""Opt-out links: a footer unique per recipient, counted at its real length, and the public
page that opts the number out with one click."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, gateway_client, make_list
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    Campaign,
    ConsentEvent,
    ConsentSource,
    OptOut,
    Role,
    User,
)
from webapp.services import campaigns, dispatch, optout_links
from webapp.services.campaigns import CampaignDraft
from webapp.services.counter import count_message
from webapp.services.preview import preview_campaign

NUMBERS = danish_numbers(3)
FOOTER = optout_links.footer_for("Afmeld: {link}", "https://shop.example/")


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": "https://shop.example/", "OPT_OUT_LINK_LIMIT": "5 per minute"}


@pytest.fixture
def sent(app, make_user, sandbox):
    """A campaign with an opt-out footer, sent to NUMBERS: {msisdn: text received}."""
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        people = make_list(db.session, "People", NUMBERS)
        draft = CampaignDraft(
            name="Sale",
            sender="Shop",
            message="Sale today",
            list_ids=[people.id],
            opt_out_footer=FOOTER,
        )
        campaign = campaigns.save_draft(db.session, user, draft)
        preview_campaign(
            db.session,
            campaign,
            user,
            gateway_client(sandbox),
            honours_dry_run=True,
            batch_size=100,
        )
        campaigns.confirm_campaign(db.session, campaign, user, batch_size=100)
        dispatch.dispatch_campaign(
            db.session, campaign.id, gateway_client(sandbox), link_secret=app.config["SECRET_KEY"]
        )
        return {row["msisdn"]: row["text"] for row in sandbox.store.received_for(label="Sale")}


def code_in(text):
    return re.search(r"shop\.example/u/([0-9A-Za-z]+)$", text).group(1)


def test_each_recipient_gets_a_link_of_their_own_of_one_length(sent):
    assert sorted(sent) == sorted(NUMBERS)
    codes = {code_in(text) for text in sent.values()}
    assert len(codes) == 3 and {len(c) for c in codes} == {optout_links.CODE_LENGTH}
    for text in sent.values():
        assert text.startswith("Sale today\nAfmeld: shop.example/u/")
    assert 62**optout_links.MAC_CHARS >= 2**40


def test_the_counter_and_preview_count_the_footer_at_its_real_length(app, sent):
    text = next(iter(sent.values()))
    with app.app_context():
        assert count_message(
            db.session, "Sale today", footer=FOOTER.replace("{code}", "x" * 13)
        ).analysis.characters == len(text)
        campaign = db.session.scalars(select(Campaign)).one()
        assert campaigns.render_for(campaign, [], {}) == text.replace(
            code_in(text), optout_links.SAMPLE_CODE
        )


def test_the_link_page_names_the_sender_and_opts_out_with_one_click(app, client, sent):
    number, text = next(iter(sent.items()))
    page = client.get(f"/u/{code_in(text)}")
    assert page.status_code == 200 and "No more messages from Shop?" in page.text
    assert number not in page.text and number[2:] not in page.text
    done = client.post(f"/u/{code_in(text)}")
    assert done.status_code == 200 and "You will get no more messages from Shop." in done.text
    with app.app_context():
        opt_out = db.session.get(OptOut, number)
        assert opt_out.source == ConsentSource.LINK and opt_out.campaign.name == "Sale"


def test_a_repeated_click_records_nothing_more(app, client, sent):
    code = code_in(next(iter(sent.values())))
    client.post(f"/u/{code}")
    again = client.post(f"/u/{code}")
    assert again.status_code == 200 and "already opted out" in again.text
    with app.app_context():
        assert len(db.session.scalars(select(ConsentEvent)).all()) == 1


def test_an_unknown_or_altered_code_is_not_found(client, sent):
    code = code_in(next(iter(sent.values())))
    altered = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert client.get(f"/u/{altered}").status_code == 404
    assert client.get("/u/0000000000000").status_code == 404
    assert client.get("/u/short").status_code == 404


def test_the_link_page_is_rate_limited_per_address(client, sent):
    statuses = [client.get("/u/0000000000000").status_code for _ in range(6)]
    assert statuses == [404] * 5 + [429]


def test_a_copy_keeps_the_footer_and_the_compose_form_adds_it(app, login_as):
    sender = login_as(Role.SENDER)
    with app.app_context():
        people = make_list(db.session, "People", NUMBERS)
        list_id = people.id
    response = sender.post(
        "/campaigns/new",
        data={
            "name": "Linked",
            "sender": "Shop",
            "message": "Hi",
            "list_ids": [list_id],
            "encoding": "auto",
            "opt_out_link": "y",
            "action": "save",
        },
    )
    assert response.status_code == 302, response.text
    with app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        assert campaign.opt_out_footer == "\nOpt out: shop.example/u/{code}"
        copy = campaigns.copy_campaign(db.session, campaign, None)
        assert copy.opt_out_footer == campaign.opt_out_footer
    counted = sender.post(
        "/compose/counter", data={"message": "Hi", "encoding": "auto", "opt_out_link": "y"}
    )
    assert f"{len('Hi') + len(chr(10) + 'Opt out: shop.example/u/') + 13}" in counted.text


@pytest.mark.parametrize(
    "app_config",
    [{"SMS_API_TOKEN": "a-real-token-value", "SMS_GATEWAY_URL": "https://gw.example/rest/mtsms"}],
)
def test_without_a_public_address_a_footer_is_refused_with_why(app, login_as):
    sender = login_as(Role.SENDER)
    response = sender.post(
        "/campaigns/new",
        data={"name": "Linked", "sender": "Shop", "message": "Hi", "opt_out_link": "y"},
    )
    assert response.status_code == 400
    assert "Set PUBLIC_URL, the dashboard&#39;s public address, to link to." in response.text
    with app.app_context():
        assert db.session.scalars(select(Campaign)).all() == []


def test_an_opt_out_by_link_is_one_audit_event_by_the_system_with_the_address(app, client, sent):
    from webapp.models import AuditEvent

    number, text = next(iter(sent.items()))
    with app.app_context():
        before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    client.post(f"/u/{code_in(text)}")
    client.post(f"/u/{code_in(text)}")  # a repeat changes nothing: no second event
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
        assert [e.action for e in events] == ["opt_out_added"]
        (event,) = events
        assert (event.actor, event.user_id, event.address) == ("system", None, "127.0.0.1")
        assert (event.object_type, event.object_id) == ("opt_out", number)
        assert event.detail == f"by the opt-out link of campaign “Sale” ({event_campaign_id(app)})"


def event_campaign_id(app) -> int:
    with app.app_context():
        return db.session.scalars(select(Campaign.id)).one()
