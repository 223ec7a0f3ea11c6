"""The confirm step asks for an explicit tick before the same message goes to the same lists
a second time within a week."""

from __future__ import annotations

from helpers import danish_numbers, make_list, preview_via_pages

from webapp.extensions import db
from webapp.models import Role


def test_a_duplicate_send_needs_its_own_tick(app, login_as, sandbox):
    client = login_as(Role.SENDER)
    with app.app_context():
        list_id = make_list(db.session, "People", danish_numbers(5)).id
    first, page, form = preview_via_pages(client, list_id, name="First", message="Same")
    assert "Send it again to the same people" not in page
    assert client.post(f"/campaigns/{first}/confirm", data=form).status_code == 302

    second, page, form = preview_via_pages(client, list_id, name="Second", message="Same")
    assert "This message already went to the same lists" in page and "“First”" in page
    refused = client.post(f"/campaigns/{second}/confirm", data=form, follow_redirects=True)
    assert refused.request.path == f"/campaigns/{second}/preview"
    assert "reaches every recipient twice" in refused.text
    confirmed = client.post(f"/campaigns/{second}/confirm", data={**form, "send_again": "y"})
    assert confirmed.headers["Location"].endswith(f"/campaigns/{second}")
