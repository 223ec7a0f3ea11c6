"""The replies inbox: newest first, the campaign each answers, filters; senders mark handled."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, gateway_client, inbound_reply, make_list, sent_campaign

from webapp.extensions import db
from webapp.models import Reply, Role, User
from webapp.services import replies

NUMBERS = danish_numbers(2)


@pytest.fixture
def inbox(app, make_user, sandbox):
    """Two campaigns; a STOP answering the second, a question answering the first."""
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        first = sent_campaign(
            db.session,
            user,
            gateway_client(sandbox),
            make_list(db.session, "A", NUMBERS[:1]),
            name="Spring",
        )
        sent_campaign(
            db.session,
            user,
            gateway_client(sandbox),
            make_list(db.session, "B", NUMBERS[1:]),
            name="Summer",
        )
        words = replies.reply_words(db.session, app.config)
        replies.record_reply(db.session, inbound_reply(1, NUMBERS[0], "When do you open?"), words)
        replies.record_reply(db.session, inbound_reply(2, NUMBERS[1], "STOP"), words)
        return {"first": first.id}


def rows(html):
    return re.findall(r'<tr id="reply-\d+" data-test="reply"', html)


def test_a_viewer_reads_every_reply_newest_first_with_its_campaign(login_as, inbox):
    page = login_as(Role.VIEWER).get("/replies").text
    assert len(rows(page)) == 2
    assert page.index("STOP") < page.index("When do you open?")
    assert ">Summer</a>" in page and ">Spring</a>" in page
    assert f'href="/contacts/{NUMBERS[0]}"' in page  # its history, one click away
    assert "Mark handled" not in page


def test_the_inbox_filters_by_campaign_kind_and_handled(app, login_as, inbox):
    viewer = login_as(Role.VIEWER)
    assert rows(viewer.get(f"/replies?campaign={inbox['first']}").text) == rows(
        viewer.get("/replies?kind=other").text
    )
    only_stop = viewer.get("/replies?kind=stop").text
    assert len(rows(only_stop)) == 1 and "When do you open?" not in only_stop
    assert len(rows(viewer.get("/replies?handled=no").text)) == 2
    assert rows(viewer.get("/replies?handled=yes").text) == []


def test_a_sender_marks_a_reply_handled_and_a_viewer_cannot(app, client, login_as, inbox):
    with app.app_context():
        reply_id = db.session.query(Reply).filter_by(gateway_id=1).one().id
    viewer = login_as(Role.VIEWER)
    assert viewer.post(f"/replies/{reply_id}/handled").status_code == 403
    viewer.post("/logout")
    sender = login_as(Role.SENDER, "sally@example.com")
    fragment = sender.post(f"/replies/{reply_id}/handled", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Handled" in fragment.text and "sally@example.com" in fragment.text
    assert len(rows(sender.get("/replies?handled=yes").text)) == 1
    sender.post(f"/replies/{reply_id}/handled")
    assert rows(sender.get("/replies?handled=yes").text) == []
