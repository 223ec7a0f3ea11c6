"""A/B tests through the pages: composing variants (with and without htmx), each variant's
counter, the form's errors, the preview, the results per variant and the winner by hand."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, form_errors, make_list, preview_via_pages, text_of

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus, Role

B_TEXT = "Hi %first_name%, free delivery today"
TEST_FORM = {
    "variants": "2",
    "message_b": B_TEXT,
    "share_a": "20",
    "share_b": "20",
    "send_winner": "y",
    "winner_after_hours": "4",
}


@pytest.fixture
def people(app):
    with app.app_context():
        rows = [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(20))]
        return make_list(db.session, "People", rows, fields=["first_name"]).id


def compose_form(list_id: int, **changes) -> dict:
    form = {
        "name": "Spring sale",
        "sender": "Shop",
        "message": "Hi %first_name%, 10% off",
        "list_ids": [list_id],
        "encoding": "auto",
        "action": "save",
        **TEST_FORM,
    }
    form.update(changes)
    return form


def test_a_variant_is_added_by_htmx_with_its_own_counter(sender, people):
    fragment = sender.post(
        "/campaigns/ab-test",
        data={"variants": "1", "add_variant": "1", "list_ids": [people], "encoding": "auto"},
        headers={"HX-Request": "true"},
    ).text
    assert 'name="message_b"' in fragment and 'id="counter-b"' in fragment
    assert 'name="share_a"' in fragment and 'value="10"' in fragment
    assert "Held back for the winner: 80 %" in text_of(fragment)


def test_the_held_back_share_follows_the_typed_shares(sender):
    held = sender.post(
        "/campaigns/ab-test/held-back", data={"variants": "2", "share_a": "30", "share_b": "20"}
    )
    assert "Held back for the winner: 50 %" in text_of(held.text)
    over = sender.post(
        "/campaigns/ab-test/held-back", data={"variants": "2", "share_a": "70", "share_b": "40"}
    )
    assert "add up to 110 %" in text_of(over.text)


def test_a_variant_is_added_without_javascript_keeping_what_was_typed(sender, people):
    form = compose_form(people, variants="1", message="Typed text", add_variant="1")
    del form["action"]
    page = sender.post("/campaigns/new", data=form).text
    assert "Typed text" in page and 'name="message_b"' in page


def test_each_variant_counter_shows_its_encoding_and_segments(sender, people):
    counter = sender.post(
        "/compose/counter/B",
        data={"message_b": "Hej Søren ✓", "list_ids": [people], "encoding": "auto"},
    ).text
    assert "Unicode" in counter and "1 segment" in text_of(counter)
    assert sender.post("/compose/counter/D", data={}).status_code == 404


def test_a_test_is_saved_with_its_variants_shares_and_winner_step(app, sender, people):
    response = sender.post("/campaigns/new", data=compose_form(people))
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.scalar(db.select(Campaign))
        assert campaign.message_b == B_TEXT
        assert campaign.variant_shares == {"A": 20, "B": 20}
        assert campaign.winner_after_minutes == 240
    edit = sender.get(response.headers["Location"]).text
    assert B_TEXT in edit and 'value="20"' in edit


def test_wrong_shares_are_refused_and_keep_the_variant_text(sender, people):
    response = sender.post("/campaigns/new", data=compose_form(people, share_a="70", share_b="40"))
    assert response.status_code == 400
    assert B_TEXT in response.text
    assert any("add up to 110 %" in error for error in form_errors(response.text))


def test_the_preview_shows_each_group(sender, people, sandbox):
    _, page, _ = preview_via_pages(
        sender, people, name="Spring sale", message="Hi %first_name%, 10% off", **TEST_FORM
    )
    text = text_of(page)
    assert "Variant A" in text and "Variant B" in text and "Held back" in text


def test_results_per_variant_and_the_winner_sent_by_hand(app, sender, people, sandbox, jobs):
    cid, _, confirmation = preview_via_pages(
        sender, people, name="Spring sale", message="Hi %first_name%, 10% off", **TEST_FORM
    )
    sender.post(f"/campaigns/{cid}/confirm", data=confirmation)
    jobs.run_pending()
    page = sender.get(f"/campaigns/{cid}").text
    assert 'data-test="variant-A"' in page and 'data-test="variant-held"' in page
    assert "12 held-back recipients wait for the winner" in text_of(page)
    assert sandbox.store.count_received(label="Spring sale") == 8
    progress = sender.get(f"/campaigns/{cid}/progress?live=1").text
    assert 'hx-trigger="every 10s"' in progress and "wait for the winner" in progress
    sent = sender.post(f"/campaigns/{cid}/winner", data={"variant": "B"})
    assert sent.status_code == 302
    jobs.run_pending()
    assert sandbox.store.count_received(label="Spring sale") == 20
    done = text_of(sender.get(f"/campaigns/{cid}").text)
    assert "Variant B went to the held-back recipients" in done
    with app.app_context():
        assert db.session.get(Campaign, cid).status == CampaignStatus.DONE
    again = sender.post(f"/campaigns/{cid}/winner", data={"variant": "A"}, follow_redirects=True)
    assert "already sent" in again.text
    assert sandbox.store.count_received(label="Spring sale") == 20


def test_a_viewer_cannot_send_the_winner(app, login_as, people):
    viewer = login_as(Role.VIEWER)
    assert viewer.post("/campaigns/1/winner", data={"variant": "B"}).status_code == 403


def test_sending_the_winner_needs_the_csrf_token(app, sender, people, sandbox):
    cid, _, _ = preview_via_pages(sender, people, name="Spring sale", **TEST_FORM)
    response = sender.post(f"/campaigns/{cid}/winner", data={"variant": "B"}, csrf=False)
    assert response.status_code == 400


def test_the_results_fragment_refreshes_with_the_delivery_results(sender, people, sandbox):
    cid, _, confirmation = preview_via_pages(sender, people, name="Spring sale", **TEST_FORM)
    sender.post(f"/campaigns/{cid}/confirm", data=confirmation)
    fragment = sender.get(f"/campaigns/{cid}/ab-test").text
    assert re.search(r'hx-trigger="results-changed from:body"', fragment)
    assert "Not enough results yet" in text_of(fragment)


def test_a_test_message_of_variant_b_goes_to_the_users_phone(sender, people, sandbox):
    cid, page, _ = preview_via_pages(
        sender, people, name="Spring sale", message="Hi %first_name%, 10% off", **TEST_FORM
    )
    assert 'name="variant"' in page
    sender.post(f"/campaigns/{cid}/test", data={"numbers": "+45 20 12 34 56", "variant": "B"})
    (test,) = sandbox.store.received_for(label="Spring sale (test)")
    assert test["text"] == "Hi N0, free delivery today"
    refused = sender.post(
        f"/campaigns/{cid}/test",
        data={"numbers": "+45 20 12 34 56", "variant": "C"},
        follow_redirects=True,
    )
    assert "no variant C" in refused.text


def test_a_follow_up_of_a_test_says_it_sends_one_text(app, sender, people, sandbox, jobs):
    from sqlalchemy import update

    from webapp.models import CampaignRecipient, RecipientState

    cid, _, confirmation = preview_via_pages(sender, people, name="Spring sale", **TEST_FORM)
    sender.post(f"/campaigns/{cid}/confirm", data=confirmation)
    jobs.run_pending()
    with app.app_context():
        db.session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == cid)
            .values(state=RecipientState.FAILED)
        )
        db.session.commit()
    created = sender.post(f"/campaigns/{cid}/follow-up")
    page = sender.get(created.headers["Location"]).text
    assert "The original was an A/B test" in text_of(page)
    assert 'id="ab-test"' not in page  # a follow-up is no test of its own
