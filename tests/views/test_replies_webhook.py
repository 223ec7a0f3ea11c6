"""The inbound webhook: signed like delivery reports, each reply stored once, STOP and START
acted on at once, the STOP confirmation sent once."""

from __future__ import annotations

import pytest
from helpers import (
    danish_numbers,
    gateway_client,
    inbound_reply,
    make_list,
    poll,
    sent_campaign,
)
from sqlalchemy import func, select

from webapp.addresses import REPLY_WEBHOOK_PATH
from webapp.extensions import db
from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report
from webapp.models import ConsentAction, ConsentEvent, ConsentSource, OptOut, Reply, Role, User
from webapp.services import replies

NUMBERS = danish_numbers(3)


@pytest.fixture
def campaign_id(app, make_user, sandbox):
    """A campaign sent to NUMBERS through the sandbox: what their replies answer."""
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        people = make_list(db.session, "People", NUMBERS)
        return sent_campaign(db.session, user, gateway_client(sandbox), people).id


def post_reply(app, client, body, *, secret=None):
    secret = secret or app.config["WEBHOOK_SECRET"]
    return client.post(
        "/webhooks/replies",
        json=body,
        headers={SIGNATURE_HEADER: sign_delivery_report(body, secret)},
        csrf=False,
    )


def stored_replies(app):
    with app.app_context():
        return [(r.gateway_id, r.msisdn, r.keyword) for r in db.session.scalars(select(Reply))]


def test_a_stop_reply_opts_the_number_out_with_its_campaign(app, client, campaign_id):
    response = post_reply(app, client, inbound_reply(1000001, NUMBERS[0], "  stop. "))

    assert response.status_code == 200 and response.json["keyword"] == "stop"
    with app.app_context():
        opt_out = db.session.get(OptOut, NUMBERS[0])
        assert opt_out.source == ConsentSource.REPLY and opt_out.campaign_id == campaign_id
        event = db.session.scalars(select(ConsentEvent)).one()
        reply = db.session.get(Reply, event.reply_id)
        assert (event.action, event.campaign_id) == (ConsentAction.OPT_OUT, campaign_id)
        assert reply.message == "  stop. " and reply.campaign_id == campaign_id
        assert event.at == reply.sent_at and reply.sent_at.timestamp() == 1764028800


def test_a_repeated_reply_is_stored_once(app, client, campaign_id):
    body = inbound_reply(1000002, NUMBERS[0], "STOP")
    first, again = post_reply(app, client, body), post_reply(app, client, body)
    assert first.status_code == again.status_code == 200
    assert (first.json["stored"], again.json["stored"]) == (True, False)
    assert stored_replies(app) == [(1000002, NUMBERS[0], "stop")]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 1


def test_a_badly_signed_or_unsigned_reply_is_refused_and_not_stored(app, client):
    body = inbound_reply(1000003, NUMBERS[0], "STOP")
    forged = post_reply(app, client, body, secret="a-guessed-secret-that-is-long-enough-for-hs")
    unsigned = client.post("/webhooks/replies", json=body, csrf=False)
    assert forged.status_code == unsigned.status_code == 401
    assert stored_replies(app) == []


def test_an_altered_reply_is_refused(app, client):
    body = inbound_reply(1000004, NUMBERS[0], "Hello")
    signature = sign_delivery_report(body, app.config["WEBHOOK_SECRET"])
    altered = client.post(
        "/webhooks/replies",
        json={**body, "message": "STOP"},
        headers={SIGNATURE_HEADER: signature},
        csrf=False,
    )
    assert altered.status_code == 401 and stored_replies(app) == []


def test_a_reply_without_a_keyword_is_stored_and_changes_nothing(app, client, campaign_id):
    response = post_reply(app, client, inbound_reply(1000005, NUMBERS[1], "Do you stop at 5?"))
    assert response.status_code == 200 and response.json["keyword"] is None
    assert stored_replies(app) == [(1000005, NUMBERS[1], None)]
    with app.app_context():
        assert db.session.get(OptOut, NUMBERS[1]) is None


def test_a_body_that_is_no_reply_is_a_bad_request(app, client):
    assert post_reply(app, client, {"id": "x", "msisdn": 1, "message": "STOP"}).status_code == 400
    assert post_reply(app, client, {"id": 7, "msisdn": 4520, "text": "STOP"}).status_code == 400


def test_start_after_stop_opts_back_in_as_a_new_consent(app, client, campaign_id):
    post_reply(app, client, inbound_reply(1000006, NUMBERS[2], "Stop"))
    post_reply(app, client, inbound_reply(1000007, NUMBERS[2], "start!", senttime=1764032400))
    with app.app_context():
        assert db.session.get(OptOut, NUMBERS[2]) is None
        actions = [
            (e.action, e.source)
            for e in db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        ]
        assert actions == [
            (ConsentAction.OPT_OUT, ConsentSource.REPLY),
            (ConsentAction.OPT_IN, ConsentSource.REPLY),
        ]


@pytest.mark.parametrize(
    ("message", "keyword"),
    [
        ("STOP", "stop"),
        ("stopp", "stop"),
        ("  Afmeld!", "stop"),
        ("AFMELDING tak", "stop"),
        ("unsubscribe", "stop"),
        ('"quit"', "stop"),
        ("End.", "stop"),
        ("cancel please", "stop"),
        ("START", "start"),
        ("stopwatch", None),
        ("please stop", None),
        ("", None),
        ("?!", None),
    ],
)
def test_keywords_are_the_first_word_in_any_case_and_punctuation(message, keyword):
    words = replies.ReplyWords.of(
        replies.split_words("STOP, STOPP, AFMELD, AFMELDING, UNSUBSCRIBE, END, CANCEL, QUIT"),
        ["START"],
    )
    assert replies.keyword_of(message, words) == keyword


def test_stop_words_come_from_the_settings(app, client):
    with app.app_context():
        replies.set_reply_words(db.session, "NEJ, STOP", "JA", "")
    post_reply(app, client, inbound_reply(1000008, NUMBERS[0], "nej tak"))
    post_reply(app, client, inbound_reply(1000009, NUMBERS[1], "quit"))
    assert [keyword for _, _, keyword in stored_replies(app)] == ["stop", None]


@pytest.mark.parametrize("app_config", [{"REPLY_STOP_CONFIRMATION": "No more messages from Shop."}])
def test_the_stop_confirmation_is_sent_once(app, client, campaign_id, sandbox, jobs):
    body = inbound_reply(1000010, NUMBERS[0], "STOP")
    post_reply(app, client, body)
    post_reply(app, client, body)
    post_reply(app, client, inbound_reply(1000011, NUMBERS[0], "STOP again"))
    jobs.run_pending()
    jobs.run_pending()
    sent = sandbox.store.received_for(label="Opt-out confirmation")
    assert [(row["msisdn"], row["text"]) for row in sent] == [
        (NUMBERS[0], "No more messages from Shop.")
    ]
    with app.app_context():
        assert db.session.scalar(select(Reply.confirmation).where(Reply.gateway_id == 1000010)) == (
            "sent"
        )


def test_the_sandbox_posts_replies_of_delivered_recipients_to_the_dashboard(
    app, live_server, sandbox, make_user
):
    """The loop with no gateway account: a campaign goes out through the sandbox, is delivered,
    and recipients answer; STOP opts the number out (marked simulated), a question lands in the
    inbox, each reply answering the campaign."""
    sandbox.config.report_outcomes = {"DELIVERED": 1.0}
    sandbox.config.reply_stop_share, sandbox.config.reply_question_share = 0.5, 0.5
    sandbox.config.reply_webhook_url = live_server + REPLY_WEBHOOK_PATH
    numbers = danish_numbers(6)
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER))
        campaign_id = sent_campaign(db.session, user, gateway_client(sandbox), numbers).id

    def replies_stored() -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(Reply))

    poll(lambda: replies_stored() == 6, timeout=30, what="every recipient's reply")
    with app.app_context():
        stored = db.session.scalars(select(Reply)).all()
        assert {r.msisdn for r in stored} == set(numbers)
        assert {r.campaign_id for r in stored} == {campaign_id}
        stops = {r.msisdn for r in stored if r.keyword == "stop"}
        assert stops == set(db.session.scalars(select(OptOut.msisdn)))
        assert 0 < len(stops) < 6  # the others asked a question
        notes = db.session.scalars(select(ConsentEvent.note)).all()
        assert len(notes) == len(stops) and all(n.startswith("Sandbox, simulated") for n in notes)
        gateway_ids = [r.gateway_id for r in stored]
        assert len(set(gateway_ids)) == 6  # unique ids, as the gateway's are
