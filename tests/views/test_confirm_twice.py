"""A double submit of the confirmation (two tabs, a double click) sends the campaign once and
shows the others the campaign page with "already confirmed", never a 500."""

from __future__ import annotations

import threading

from helpers import danish_numbers, make_list, preview_via_pages

from webapp.extensions import db
from webapp.models import Role


def _previewed(app, client):
    with app.app_context():
        list_id = make_list(db.session, "People", danish_numbers(20)).id
    cid, _, form = preview_via_pages(client, list_id, name="Twice")
    return cid, form


def test_confirming_again_shows_the_campaign_page_already_confirmed(app, login_as, sandbox):
    client = login_as(Role.SENDER)
    cid, form = _previewed(app, client)
    first = client.post(f"/campaigns/{cid}/confirm", data=form)
    assert first.headers["Location"].endswith(f"/campaigns/{cid}")
    second = client.post(f"/campaigns/{cid}/confirm", data=form, follow_redirects=True)
    assert second.status_code == 200
    assert second.request.path == f"/campaigns/{cid}"
    assert "already confirmed" in second.text


def test_concurrent_confirmations_never_answer_500(app, login_as, sandbox):
    client = login_as(Role.SENDER)
    cid, form = _previewed(app, client)
    cookie = client.get_cookie("session")
    tabs = []
    for _ in range(4):
        tab = app.test_client()
        tab.set_cookie(cookie.key, cookie.value)
        tab.csrf = client.csrf_token()
        tabs.append(tab)
    start = threading.Barrier(len(tabs))
    answers = []

    def submit(tab):
        start.wait(timeout=10)
        response = tab.post(
            f"/campaigns/{cid}/confirm", data=form, headers={"X-CSRFToken": tab.csrf}
        )
        answers.append((response.status_code, response.headers.get("Location", "")))

    threads = [threading.Thread(target=submit, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 4
    assert all(status == 302 for status, _ in answers), answers
    assert all(location.endswith(f"/campaigns/{cid}") for _, location in answers), answers
