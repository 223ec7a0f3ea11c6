"""Tracked links: sent as a short link unique per recipient, counted at its real length, and
the public redirect that counts a person's click once (not a bot's, not a double tap)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from helpers import danish_numbers, gateway_client, report_deliveries, sent_campaign
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Campaign, CampaignLink, CampaignRecipient, LinkClick, Role, User, utcnow
from webapp.services import campaigns, clicks, tracked_links
from webapp.services.campaigns import CampaignDraft
from webapp.services.counter import count_message

NUMBERS = danish_numbers(3)
TARGET = "https://shop.example/spring/sale?id=42&utm_source=sms"
MESSAGE = f"Spring sale: [track:{TARGET}] and [track:https://shop.example/map] Bye"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": "https://dash.shop.example/", "LINK_BASE_URL": "https://go.example"}


@pytest.fixture
def sent(app, make_user, sandbox):
    """A campaign with two tracked links sent to NUMBERS: {msisdn: text received}."""
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        campaign = sent_campaign(
            db.session,
            user,
            gateway_client(sandbox),
            NUMBERS,
            name="Sale",
            message=MESSAGE,
            link_host="go.example",
            link_secret=app.config["SECRET_KEY"],
        )
        report_deliveries(db.session, campaign, ["DELIVERED"] * 3)
        return {row["msisdn"]: row["text"] for row in sandbox.store.received_for(label="Sale")}


def codes_in(text):
    return re.findall(r"go\.example/c/([0-9A-Za-z]+)", text)


def campaign_id(app):
    with app.app_context():
        return db.session.scalars(select(Campaign.id)).one()


def test_each_recipient_gets_short_links_of_their_own_and_never_the_long_address(sent):
    assert sorted(sent) == sorted(NUMBERS)
    codes = [code for text in sent.values() for code in codes_in(text)]
    assert len(set(codes)) == 6 and {len(code) for code in codes} == {tracked_links.CODE_LENGTH}
    for text in sent.values():
        assert "shop.example" not in text and "[track" not in text
        assert re.fullmatch(r"Spring sale: go\.example/c/\w{14} and go\.example/c/\w{14} Bye", text)


def test_the_counter_and_preview_count_the_short_links_at_their_real_length(app, sent):
    text = next(iter(sent.values()))
    with app.app_context():
        shown = tracked_links.sample_text(MESSAGE, "go.example")
        assert count_message(db.session, shown).analysis.characters == len(text)
        campaign = db.session.scalars(select(Campaign)).one()
        assert campaigns.render_for(campaign, [], {}) == shown


def test_the_counter_fragment_counts_the_short_link_not_the_target(login_as):
    client = login_as(Role.SENDER)
    long_target = "https://shop.example/" + "a" * 300
    page = client.post("/compose/counter", data={"message": f"Hi [track:{long_target}]"})
    assert page.status_code == 200
    assert long_target not in page.text
    # "Hi " and go.example/c/ and a 14-character code: 30 of 160
    assert "1 segment, 130 characters left" in page.text


def test_the_track_links_button_wraps_the_addresses_with_utm_parameters(login_as):
    client = login_as(Role.SENDER)
    page = client.post(
        "/compose/track-links",
        data={"message": "See https://shop.example/sale!", "utm_source": "sms"},
    )
    assert page.status_code == 200
    assert "See [track:https://shop.example/sale?utm_source=sms]!" in page.text
    assert "now a tracked link" in page.text


def test_a_click_redirects_to_the_stored_target_and_counts_once_per_minute(app, client, sent):
    first, second = codes_in(next(iter(sent.values())))
    answer = client.get(f"/c/{first}", headers={"User-Agent": PHONE})
    assert answer.status_code == 302 and answer.headers["Location"] == TARGET
    assert answer.headers["Cache-Control"] == "no-store"
    again = client.get(f"/c/{first}", headers={"User-Agent": PHONE})  # a double tap
    assert again.status_code == 302
    assert client.get(f"/c/{second}", headers={"User-Agent": PHONE}).headers["Location"] == (
        "https://shop.example/map"
    )
    with app.app_context():
        stored = db.session.scalars(select(LinkClick).order_by(LinkClick.id)).all()
        assert [(c.counted, c.is_bot) for c in stored] == [(True, False), (False, False)] + [
            (True, False)
        ]
        figures = clicks.campaign_clicks(db.session, campaign_id(app))
        assert [(link.clicks, link.clickers) for link in figures.links] == [(1, 1), (1, 1)]
        assert (figures.total.clicks, figures.total.clickers, figures.total.rate) == (
            2,
            1,
            "33.3 %",
        )


def test_a_click_after_the_double_tap_minute_counts_again(app, sent):
    code = codes_in(next(iter(sent.values())))[0]
    secret = app.config["SECRET_KEY"]
    now = utcnow()
    with app.app_context():
        clicks.follow_link(db.session, secret, code, PHONE, now=now)
        clicks.follow_link(db.session, secret, code, PHONE, now=now + timedelta(seconds=59))
        clicks.follow_link(db.session, secret, code, PHONE, now=now + timedelta(seconds=61))
        counted = db.session.scalars(select(LinkClick.counted).order_by(LinkClick.id)).all()
        assert counted == [True, False, True]


def test_preview_bots_and_clicks_right_after_delivery_do_not_count(app, client, sent):
    bot_code, early_code = codes_in(next(iter(sent.values())))
    bot = client.get(f"/c/{bot_code}", headers={"User-Agent": "WhatsApp/2.23.20.0 A"})
    assert bot.status_code == 302  # a preview still works
    with app.app_context():
        recipient = db.session.get(
            CampaignRecipient, tracked_links.decode(app.config["SECRET_KEY"], early_code)[0]
        )
        recipient.delivery_updated_at = utcnow() - timedelta(seconds=3)
        db.session.commit()
    client.get(f"/c/{early_code}", headers={"User-Agent": PHONE})
    with app.app_context():
        stored = db.session.scalars(select(LinkClick).order_by(LinkClick.id)).all()
        assert [(c.agent, c.is_bot, c.counted) for c in stored] == [
            ("WhatsApp", True, False),
            (clicks.EARLY, True, False),
        ]
        assert clicks.unique_clickers(db.session, campaign_id(app)) == 0


def test_unknown_altered_and_open_redirect_attempts_are_not_found(app, client, sent):
    code = codes_in(next(iter(sent.values())))[0]
    altered = code[:-1] + ("A" if code[-1] != "A" else "B")
    for path in (
        f"/c/{altered}",
        "/c/00000000000000",
        "/c/short",
        "/c/https://evil.example",
        f"/c/{code}?next=https://evil.example",
    ):
        answer = client.get(path, headers={"User-Agent": PHONE})
        if path.startswith(f"/c/{code}"):
            assert answer.headers["Location"] == TARGET  # the query changes nothing
        else:
            assert answer.status_code == 404, path
    lean = app.test_client().get(f"/c/{altered}")
    assert "This link does not work" in lean.text
    assert "Set-Cookie" not in lean.headers  # no session for a stranger
    # Werkzeug's slash merging answers //evil.example on the dashboard itself, never elsewhere.
    for path in ("/c//evil.example", "/c/%2F%2Fevil.example"):
        merged = client.get(path)
        assert urlsplit(merged.headers["Location"]).netloc in ("", "localhost"), path
    with app.app_context():
        assert len(db.session.scalars(select(LinkClick)).all()) == 1


def test_a_link_of_another_campaigns_number_is_not_found(app, client, sent):
    """A valid code names a link number the recipient's campaign does not have: 404."""
    code = codes_in(next(iter(sent.values())))[0]
    recipient_id, _ = tracked_links.decode(app.config["SECRET_KEY"], code)
    third = tracked_links.link_code(app.config["SECRET_KEY"], recipient_id, 3)
    assert client.get(f"/c/{third}").status_code == 404


def test_the_campaign_stores_its_links_at_confirmation(app, sent):
    with app.app_context():
        links = db.session.scalars(select(CampaignLink).order_by(CampaignLink.ordinal)).all()
        assert [(link.ordinal, link.target) for link in links] == [
            (1, TARGET),
            (2, "https://shop.example/map"),
        ]


def test_a_draft_with_tracked_links_needs_a_public_address(app, make_user):
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        draft = CampaignDraft(name="X", sender="Shop", message="[track:https://a.example]")
        with pytest.raises(campaigns.CampaignInvalid) as error:
            campaigns.save_draft(db.session, user, draft)
        assert "PUBLIC_URL" in error.value.errors["message"]


def test_a_draft_saved_from_the_composer_keeps_the_link_host(app, login_as):
    client = login_as(Role.SENDER)
    answer = client.post(
        "/campaigns/new",
        data={"name": "Spring", "sender": "Shop", "message": MESSAGE, "action": "save"},
    )
    assert answer.status_code == 302, answer.text
    with app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        assert campaign.link_host == "go.example" and campaign.message == MESSAGE


def click_as_a_person(client, sent, number):
    """Click the first link of ``number``'s message as its recipient would."""
    code = codes_in(sent[number])[0]
    assert client.get(f"/c/{code}", headers={"User-Agent": PHONE}).status_code == 302


def test_the_campaign_page_shows_clicks_per_link_and_over_time(app, login_as, sent):
    viewer = login_as(Role.VIEWER)
    click_as_a_person(app.test_client(), sent, NUMBERS[0])
    page = viewer.get(f"/campaigns/{campaign_id(app)}").text
    table = page[
        page.index('data-test="link-clicks"') : page.index("</table>", page.index("link-clicks"))
    ]
    assert "1. https://shop.example/spring/sale?id=42&amp;utm_source=sms" in table
    assert "33.3 %" in table and "All links" in table
    assert "Clicks over time" in page and 'data-test="chart-numbers-clicks"' in page
    assert 'data-test="clicked"><span class="tag ok">Clicked</span>' in page


def test_the_export_says_who_clicked_and_when_first(app, login_as, sent):
    viewer = login_as(Role.VIEWER)
    click_as_a_person(app.test_client(), sent, NUMBERS[1])
    text = viewer.get(f"/campaigns/{campaign_id(app)}/export").data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:])))
    clicked, first = rows[0].index("clicked"), rows[0].index("first click (UTC)")
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number[NUMBERS[1]][clicked] == "yes" and by_number[NUMBERS[1]][first]
    assert (by_number[NUMBERS[0]][clicked], by_number[NUMBERS[0]][first]) == ("no", "")


def test_the_contact_history_shows_the_clicks(app, login_as, sent):
    viewer = login_as(Role.VIEWER)
    click_as_a_person(app.test_client(), sent, NUMBERS[2])
    page = viewer.get(f"/contacts/{NUMBERS[2]}").text
    assert 'data-test="contact-clicks">1 click, first' in page
    assert (
        'data-test="contact-clicks"><span class="muted">no click'
        in viewer.get(f"/contacts/{NUMBERS[0]}").text
    )


def test_the_sandbox_inbox_shows_the_short_links_as_a_phone_would(login_as, sent):
    viewer = login_as(Role.VIEWER)
    code = codes_in(sent[NUMBERS[0]])[0]
    page = viewer.get(f"/sandbox/inbox?msisdn={NUMBERS[0]}").text
    assert (
        f'<a href="https://go.example/c/{code}" data-test="short-link">go.example/c/{code}</a>'
        in (page)
    )


def test_unique_clickers_can_count_a_part_of_the_recipients(app, client, sent):
    """What an A/B comparison asks: the clickers among one variant's recipients."""
    click_as_a_person(client, sent, NUMBERS[0])
    click_as_a_person(client, sent, NUMBERS[1])
    with app.app_context():
        chosen = CampaignRecipient.msisdn.in_([NUMBERS[1], NUMBERS[2]])
        assert clicks.unique_clickers(db.session, campaign_id(app), chosen) == 1
        assert clicks.unique_clickers(db.session, campaign_id(app)) == 2


@pytest.mark.parametrize("app_config", [{"SMS_API_TOKEN": "not-sandbox-mode"}])
def test_the_track_links_button_says_what_is_missing_without_a_public_address(login_as):
    client = login_as(Role.SENDER)
    page = client.post("/compose/track-links", data={"message": "See https://shop.example/"})
    assert "See https://shop.example/" in page.text and "[track:" not in page.text
    assert "set PUBLIC_URL" in page.text


def test_each_ab_variant_sends_its_own_tracked_links_numbered_across_the_campaign(
    app, client, make_user, sandbox
):
    """Variant B's link that A lacks is a link of the campaign too; a link both share is one
    link; every recipient gets only their own variant's links, and a click on B's counts."""
    from helpers import make_list, preview_and_confirm

    from webapp.services import dispatch

    shared, only_b = "https://shop.example/sale", "https://shop.example/b"
    numbers = danish_numbers(20, start=20_200_000)
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ab@example.com"))
        people = make_list(db.session, "AB people", numbers)
        draft = CampaignDraft(
            name="AB",
            sender="Shop",
            message=f"A: [track:{shared}]",
            message_b=f"B: [track:{only_b}] or [track:{shared}]",
            list_ids=[people.id],
            variant_shares={"A": 50, "B": 50},
            link_host="go.example",
        )
        campaign = campaigns.save_draft(db.session, user, draft)
        preview_and_confirm(db.session, campaign, user, sandbox, batch_size=5)
        dispatch.dispatch_campaign(
            db.session,
            campaign.id,
            gateway_client(sandbox),
            retry_base_seconds=0.01,
            link_secret=app.config["SECRET_KEY"],
        )
        stored = db.session.scalars(
            select(CampaignLink.target).where(CampaignLink.campaign_id == campaign.id)
        ).all()
        assert sorted(stored) == sorted([shared, only_b])
        texts = {row["msisdn"]: row["text"] for row in sandbox.store.received_for(label="AB")}
    assert sorted(texts) == sorted(numbers)
    a_texts = [t for t in texts.values() if t.startswith("A: ")]
    b_texts = [t for t in texts.values() if t.startswith("B: ")]
    assert len(a_texts) == len(b_texts) == 10
    assert all(len(codes_in(t)) == 1 for t in a_texts)
    assert all(len(codes_in(t)) == 2 for t in b_texts)

    def followed(text):
        return [client.get(f"/c/{code}").headers["Location"] for code in codes_in(text)]

    assert followed(b_texts[0]) == [only_b, shared]  # each short link where its text said
    assert followed(a_texts[0]) == [shared]


def test_the_results_keep_looking_for_clicks_slowly_once_reports_are_final(app, login_as, sent):
    """Every report is in, but people open links for days: the results poll every 30 s for a
    week after the send, then stop."""
    viewer = login_as("viewer")
    cid = campaign_id(app)
    results = viewer.get(f"/campaigns/{cid}/results").text
    assert 'hx-trigger="every 30s"' in results
    with app.app_context():
        campaign = db.session.get(Campaign, cid)
        campaign.started_at = utcnow() - timedelta(days=8)
        db.session.commit()
    assert "hx-trigger" not in viewer.get(f"/campaigns/{cid}/results").text


def test_a_test_messages_links_open_their_targets_and_count_no_click(app, client, sent, sandbox):
    with app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        user = db.session.scalars(select(User)).one()
        record = campaigns.send_test(
            db.session,
            campaign,
            user,
            gateway_client(sandbox),
            numbers=["+45 20 99 99 99"],
            sample_msisdn=None,
            default_country="DK",
            link_secret=app.config["SECRET_KEY"],
        )
        kept_text = record.message
    (received,) = sandbox.store.received_for(label="Sale (test)")
    first, second = codes_in(received["text"])
    assert codes_in(kept_text) == [first, second]  # the campaign page shows what was sent
    assert not set(codes_in(received["text"])) & {c for t in sent.values() for c in codes_in(t)}

    opened = client.get(f"/c/{first}", headers={"User-Agent": PHONE})
    assert opened.status_code == 302 and opened.headers["Location"] == TARGET
    assert client.get(f"/c/{second}").headers["Location"] == "https://shop.example/map"
    altered = first[:-1] + ("A" if first[-1] != "A" else "B")
    assert client.get(f"/c/{altered}").status_code == 404
    with app.app_context():
        assert db.session.scalars(select(LinkClick)).all() == []
        # A recipient's code and a test's are told apart by their MAC, not by luck.
        test_id, number = tracked_links.decode_test(app.config["SECRET_KEY"], first)
        as_recipient = tracked_links.link_code(app.config["SECRET_KEY"], test_id, number)
        assert tracked_links.decode_test(app.config["SECRET_KEY"], as_recipient) is None
