"""Contact history: the header's search finds a number typed any way, and its page says what was
sent to it (campaigns and tests, text, status, cost), the lists it is on, and its consent."""

from __future__ import annotations

import re

import pytest
from helpers import (
    danish_numbers,
    gateway_client,
    inbound_reply,
    make_list,
    report_deliveries,
    sent_campaign,
)

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services import campaigns, contacts, replies

NUMBER, OTHER = danish_numbers(2)  # 4520100000, 4520100001


@pytest.fixture
def history(app, make_user, sandbox):
    """Two campaigns and a test to NUMBER; a STOP reply to the second opts it out."""
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        client = gateway_client(sandbox)
        spring = sent_campaign(
            db.session,
            user,
            client,
            [(NUMBER, {"name": "Ann <b>"}), (OTHER, {"name": "Bo"})],
            name="Spring",
            message="Hi %name%, spring sale",
            fields=["name"],
        )
        report_deliveries(db.session, spring, ["DELIVERED"])  # NUMBER, the first recipient
        summer = sent_campaign(db.session, user, client, [NUMBER], name="Summer", message="Sun!")
        report_deliveries(
            db.session, summer, ["UNDELIVERABLE"], error="Absent subscriber", code="0x0101"
        )
        campaigns.send_test(
            db.session,
            spring,
            user,
            client,
            numbers=["20 10 00 00"],
            sample_msisdn=None,
            default_country="DK",
        )
        words = replies.reply_words(db.session, app.config)
        replies.record_reply(db.session, inbound_reply(1, NUMBER, "STOP please"), words)
        return {"spring": spring.id, "summer": summer.id}


@pytest.mark.parametrize(
    "typed", ["+45 20 10 00 00", "0045-2010-0000", "20100000", "(20) 10 00 00"]
)
def test_the_header_search_finds_a_number_typed_any_way(login_as, typed):
    viewer = login_as(Role.VIEWER)
    assert 'role="search"' in viewer.get("/").text  # the box is in every page's header
    response = viewer.get("/contacts", query_string={"q": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{NUMBER}"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("", "Type a phone number"), ("hello <i>", "is not a phone number"), ("123", "not a phone")],
)
def test_what_is_not_a_number_is_refused_with_the_reason_and_kept_in_the_box(
    login_as, typed, reason
):
    response = login_as(Role.VIEWER).get("/contacts", query_string={"q": typed})
    assert response.status_code == 400
    error = re.search(r'data-test="contact-search-error">([^<]*)<', response.text).group(1)
    assert reason in error
    assert f'name="q" type="search" value="{typed.replace("<", "&lt;").replace(">", "&gt;")}"' in (
        response.text
    )
    assert "<i>" not in response.text


def test_a_numbers_page_shows_every_message_it_got_with_text_status_and_cost(login_as, history):
    page = login_as(Role.VIEWER).get(f"/contacts/{NUMBER}").text
    messages = campaign_messages(page)
    assert messages.index("Summer") < messages.index("Spring")  # newest first
    assert "Hi Ann &lt;b&gt;, spring sale" in messages  # the text it got, escaped
    assert "Sun!" in messages
    assert ">Delivered</span>" in messages and ">Undeliverable</span>" in messages
    assert "Absent subscriber" in messages and "<code>UNDELIVERABLE</code>" in messages
    assert re.search(r"\d+\.\d{2} DKK", messages)  # its share of its batch's cost
    tests = page[page.index('data-test="contact-tests"') :]
    assert "Hi Ann &lt;b&gt;, spring sale" in tests[: tests.index("</table>")]


def test_a_numbers_page_shows_its_lists_with_fields_and_its_consent(login_as, history):
    page = login_as(Role.VIEWER).get(f"/contacts/{NUMBER}").text
    assert "On 2 lists" in page
    lists = page[page.index('data-test="contact-lists"') :]
    assert "Spring list" in lists and "Summer list" in lists and "Ann &lt;b&gt;" in lists
    consent = page[page.index('data-test="consent-state"') :]
    consent = consent[: consent.index("</p>")]
    assert "Opted out</span> since" in consent
    assert "from the campaign" in consent and ">Summer</a>" in consent  # the STOP answered it
    assert "STOP please" in page  # the reply itself
    assert "opted out (reply, campaign Summer)" in page  # the consent record


def test_the_other_numbers_page_holds_only_its_own_history(login_as, history):
    page = login_as(Role.VIEWER).get(f"/contacts/{OTHER}").text
    assert "Not opted out" in page and "Hi Bo, spring sale" in page
    assert "Summer" not in page and "Ann" not in page


def test_a_number_nothing_was_sent_to_says_so(login_as):
    page = login_as(Role.VIEWER).get("/contacts/4520999999").text
    assert 'data-test="contact-unknown"' in page


def test_a_number_in_another_spelling_redirects_to_its_one_address(login_as):
    viewer = login_as(Role.VIEWER)
    assert viewer.get("/contacts/+4520100000").headers["Location"] == f"/contacts/{NUMBER}"
    assert viewer.get("/contacts/not-a-number").status_code == 404


def campaign_messages(page: str) -> str:
    table = page[page.index('data-test="contact-messages"') :]
    return table[: table.index("</section>")]


def test_many_campaigns_are_paged_newest_first(login_as, history, monkeypatch):
    monkeypatch.setattr(contacts, "MESSAGES_PER_PAGE", 1)
    viewer = login_as(Role.VIEWER)
    first = campaign_messages(viewer.get(f"/contacts/{NUMBER}").text)
    second = campaign_messages(viewer.get(f"/contacts/{NUMBER}?page=2").text)
    assert "Sun!" in first and "spring sale" not in first and "Page 1 of 2" in first
    assert "spring sale" in second and "Sun!" not in second and "Page 2 of 2" in second


def test_signed_out_people_are_sent_to_sign_in(client, make_user):
    make_user(Role.ADMIN)  # once a user exists, /login (not /setup) guards the pages
    assert client.get(f"/contacts/{NUMBER}").headers["Location"].startswith("/login")
    assert client.get("/contacts?q=1").headers["Location"].startswith("/login")


def test_a_list_of_a_number_is_found_even_when_nothing_was_sent(app, login_as):
    with app.app_context():
        make_list(db.session, "Prospects", [(OTHER, {"city": "Aarhus"})], fields=["city"])
    page = login_as(Role.VIEWER).get(f"/contacts/{OTHER}").text
    assert "On 1 list" in page and "Prospects" in page and "Aarhus" in page
    assert 'data-test="contact-unknown"' not in page
