"""The monthly budget through the pages: an admin sets it under Settings, the home page shows
the month's spend against it, and confirming a send that would go over it is refused with
both figures."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, form_errors, make_list, preview_via_pages

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus, Role
from webapp.services.budget import monthly_budget, set_monthly_budget


def stat(page: str, name: str) -> str:
    html = re.search(rf'data-test="{name}">(.*?)</div>\s*</div>', page, re.S)[1]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_an_admin_sets_the_budget_and_the_home_page_shows_spend_against_it(app, login_as):
    admin = login_as(Role.ADMIN)
    assert 'data-test="budget"' not in admin.get("/").text
    response = admin.post("/settings/budget", data={"amount": "1,250.5", "currency": "dkk"})
    assert response.status_code == 302
    assert "The monthly budget is 1,250.50 DKK." in admin.get("/settings/").text
    with app.app_context():
        assert str(monthly_budget(db.session).amount) == "1250.50"
    assert stat(admin.get("/").text, "budget") == (
        "0.00 DKK of the monthly budget of 1,250.50 DKK (0 %) "
        "0.00 DKK charged, 0.00 DKK confirmed not yet sent"
    )


def test_a_budget_that_cannot_be_read_is_shown_beside_its_field(login_as):
    admin = login_as(Role.ADMIN)
    response = admin.post("/settings/budget", data={"amount": "a lot", "currency": "DKK"})
    assert response.status_code == 400
    assert "a lot is not an amount such as 500 or 1250.50." in form_errors(response.text)


def test_a_sender_cannot_set_the_budget(app, login_as):
    sender = login_as(Role.SENDER)
    assert sender.post("/settings/budget", data={"amount": "1", "currency": "DKK"}).status_code == (
        403
    )
    with app.app_context():
        assert monthly_budget(db.session) is None


@pytest.fixture
def people(app):
    with app.app_context():
        return make_list(db.session, "People", danish_numbers(12)).id


def test_confirming_over_the_budget_is_refused_with_both_figures(app, login_as, people, sandbox):
    client = login_as(Role.SENDER)
    with app.app_context():
        set_monthly_budget(db.session, "1", "DKK")
    cid, _, form = preview_via_pages(client, people, name="Costly")
    response = client.post(f"/campaigns/{cid}/confirm", data=form)
    page = client.get(response.headers["Location"]).text
    assert "This send costs 1.80 DKK" in page
    assert "over the monthly budget of 1.00 DKK" in page
    with app.app_context():
        assert db.session.get(Campaign, cid).status is CampaignStatus.DRAFT
    assert sandbox.store.count_received(label="Costly") == 0


def test_a_confirmed_send_shows_as_committed_on_the_home_page(app, login_as, people, sandbox):
    client = login_as(Role.SENDER)
    with app.app_context():
        set_monthly_budget(db.session, "3", "DKK")
    cid, _, form = preview_via_pages(client, people, name="Costly")
    assert client.post(f"/campaigns/{cid}/confirm", data=form).status_code == 302
    assert stat(client.get("/").text, "budget") == (
        "1.80 DKK of the monthly budget of 3.00 DKK (60 %) "
        "0.00 DKK charged, 1.80 DKK confirmed not yet sent"
    )
