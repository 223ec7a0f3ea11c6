"""Guardrails on money: the preview shows the balance beside the cost, and a send that costs
more than the balance is refused with both figures."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from helpers import danish_numbers, make_list

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus, Role


@pytest.fixture
def previewed(app, login_as, sandbox):
    client = login_as(Role.SENDER)
    with app.app_context():
        people = make_list(db.session, "People", danish_numbers(12)).id
    data = {"name": "Costly", "sender": "Shop", "message": "Hi", "list_ids": [people]}
    response = client.post("/campaigns/new", data={**data, "encoding": "auto", "action": "preview"})
    cid = int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))
    return client, cid


def confirm(client, cid):
    page = client.get(f"/campaigns/{cid}/preview").text
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint, "understood": "y"}
    )
    return client.get(response.headers["Location"]).text


def test_preview_shows_the_balance_beside_the_cost(previewed, sandbox):
    client, cid = previewed
    page = client.get(f"/campaigns/{cid}/preview").text
    assert re.search(r'data-test="balance"><div class="value">1,000,000\.00 DKK', page)
    assert "account balance" in page


def test_a_send_costing_more_than_the_balance_is_refused_with_both_figures(app, previewed, sandbox):
    client, cid = previewed
    sandbox.config.credit = Decimal("1.00")
    preview = client.get(f"/campaigns/{cid}/preview").text
    assert "balance: too low for this send" in preview
    page = confirm(client, cid)
    assert "This send costs 1.80 DKK but the account&#39;s balance is 1.00 DKK" in page
    with app.app_context():
        assert db.session.get(Campaign, cid).status is CampaignStatus.DRAFT
    assert sandbox.store.count_received(label="Costly") == 0
