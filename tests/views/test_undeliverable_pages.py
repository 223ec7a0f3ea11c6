"""Numbers flagged undeliverable on the pages: marked on their list, left out in the counter
and the preview, which offers to include them (a CSRF-protected form)."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, make_list, past_campaign, preview_via_pages

from webapp.extensions import db
from webapp.models import Campaign, Role

FLAGGED, HEALTHY, OTHER = danish_numbers(3)


@pytest.fixture
def list_id(app):
    """A list of three numbers, the first undeliverable in each of its last 3 campaigns."""
    with app.app_context():
        for _ in range(3):
            past_campaign(db.session, {FLAGGED: "UNDELIVERABLE", HEALTHY: "DELIVERED"})
        return make_list(db.session, "Customers", [FLAGGED, HEALTHY, OTHER]).id


def row_of(page: str, msisdn: str) -> str:
    return next(row for row in page.split("<tr>") if f"+{msisdn}" in row)


def test_the_list_page_marks_the_flagged_number_only(login_as, list_id):
    page = login_as(Role.VIEWER).get(f"/lists/{list_id}").text
    assert 'data-test="undeliverable"' in row_of(page, FLAGGED)
    assert 'data-test="undeliverable"' not in row_of(page, HEALTHY)
    assert 'data-test="undeliverable"' not in row_of(page, OTHER)


def test_the_counter_leaves_the_flagged_number_out_unless_ticked(login_as, list_id):
    client = login_as(Role.SENDER)
    form = {"message": "Hi", "encoding": "auto", "list_ids": [str(list_id)]}
    left_out = client.post("/compose/counter", data=form).text
    assert "for 2 recipients" in left_out
    assert re.search(r'data-test="excluded-undeliverable">1 number flagged undeliverable', left_out)
    included = client.post("/compose/counter", data={**form, "include_undeliverable": "y"}).text
    assert "for 3 recipients" in included
    assert "excluded-undeliverable" not in included


def test_the_preview_lists_them_among_the_exclusions_and_can_include_them(
    app, login_as, list_id, sandbox
):
    client = login_as(Role.SENDER)
    cid, page, _ = preview_via_pages(client, list_id)
    assert re.search(r'data-test="excluded-undeliverable">1 flagged undeliverable', page)
    assert "undeliverable in each of the last 3 campaigns sent to them" in page
    assert f'action="/campaigns/{cid}/undeliverable"' in page
    unprotected = client.post(f"/campaigns/{cid}/undeliverable", data={"include": "1"}, csrf=False)
    assert unprotected.status_code == 400
    included = client.post(f"/campaigns/{cid}/undeliverable", data={"include": "1"})
    assert included.headers["Location"] == f"/campaigns/{cid}/preview"
    page = client.get(f"/campaigns/{cid}/preview").text
    assert 'data-test="included-undeliverable"' in page
    assert "Leave the flagged numbers out" in page
    with app.app_context():
        campaign = db.session.get(Campaign, cid)
        assert campaign.include_undeliverable
        assert campaign.preview_summary["recipients"] == 3


def test_the_compose_form_saves_the_choice_with_the_draft(app, login_as, list_id):
    client = login_as(Role.SENDER)
    response = client.post(
        "/campaigns/new",
        data={
            "name": "New",
            "sender": "Shop",
            "message": "Hi",
            "list_ids": [list_id],
            "encoding": "auto",
            "include_undeliverable": "y",
            "action": "save",
        },
    )
    cid = int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))
    with app.app_context():
        assert db.session.get(Campaign, cid).include_undeliverable
    edit = client.get(f"/campaigns/{cid}/edit").text
    assert re.search(r'<input checked id="include_undeliverable"', edit)
