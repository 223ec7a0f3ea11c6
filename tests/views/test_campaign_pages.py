"""Campaign pages through the test client: compose, preview, confirm, progress, decisions."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, form_errors, make_list

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus, Role


@pytest.fixture
def people(app):
    with app.app_context():
        rows = [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(12))]
        return make_list(db.session, "People", rows, fields=["first_name"]).id


@pytest.fixture
def sender_client(login_as):
    return login_as(Role.SENDER)


def compose(client, list_id, action="save", **changes):
    data = {
        "name": "Black Friday",
        "sender": "Shop",
        "message": "Hi %first_name%, 20% off",
        "list_ids": [list_id],
        "encoding": "auto",
        "action": action,
    }
    data.update(changes)
    return client.post("/campaigns/new", data=data)


def campaign_id(response) -> int:
    return int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))


def previewed_and_confirmed(client, list_id) -> int:
    """Compose, preview and confirm a campaign; its id."""
    cid = campaign_id(compose(client, list_id, action="preview"))
    page = client.get(f"/campaigns/{cid}/preview").text
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    client.post(f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint, "understood": "y"})
    return cid


def test_compose_page_shows_lists_and_counter(sender_client, people):
    page = sender_client.get("/campaigns/new").text
    assert "People (12 recipients)" in page
    assert 'id="counter"' in page


def test_form_errors_keep_what_was_typed(sender_client, people):
    response = compose(sender_client, people, sender="Much too long sender", message="Hi %nick%")
    assert response.status_code == 400
    assert 'value="Much too long sender"' in response.text
    assert "Hi %nick%" in response.text
    errors = " ".join(form_errors(response.text))
    assert "%nick%" in errors and "%first_name%" in errors


def test_sender_is_checked_as_the_user_types(sender_client):
    bad = sender_client.post("/campaigns/check-sender", data={"sender": "Bad sender!"})
    assert "is not allowed" in bad.text
    good = sender_client.post("/campaigns/check-sender", data={"sender": "Shop"})
    assert "can be used" in good.text


def test_save_draft_then_edit(sender_client, people):
    response = compose(sender_client, people)
    assert response.status_code == 302
    edit = sender_client.get(response.headers["Location"]).text
    assert 'value="Black Friday"' in edit and "Hi %first_name%, 20% off" in edit


def test_preview_confirm_and_send(app, sender_client, people, sandbox, jobs):
    response = compose(sender_client, people, action="preview")
    cid = campaign_id(response)
    assert response.headers["Location"].endswith(f"/campaigns/{cid}/preview")
    page = sender_client.get(f"/campaigns/{cid}/preview").text
    assert "1.80 DKK" in page and "priced by the gateway (dry run)" in page
    assert "Hi N0, 20% off" in page  # every recipient's own message
    # The confirmation needs the explicit tick.
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    refused = sender_client.post(f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint})
    assert "Tick the box" in sender_client.get(refused.headers["Location"]).text
    confirmed = sender_client.post(
        f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint, "understood": "y"}
    )
    assert confirmed.headers["Location"] == f"/campaigns/{cid}"
    live = sender_client.get(f"/campaigns/{cid}/progress").text
    assert 'hx-trigger="every 1s"' in live
    assert jobs.run_pending() >= 1
    done = sender_client.get(f"/campaigns/{cid}/progress").text
    assert "every 1s" not in done  # polling stops when finished
    assert re.search(r'data-test="sent">12<', done)
    assert sandbox.store.count_received(label="Black Friday") == 12
    page = sender_client.get(f"/campaigns/{cid}").text
    assert "Confirmed" in page and "sender@example.com" in page


def test_stale_preview_cannot_be_confirmed(app, sender_client, people, sandbox):
    cid = campaign_id(compose(sender_client, people, action="preview"))
    page = sender_client.get(f"/campaigns/{cid}/preview").text
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    sender_client.post(
        f"/campaigns/{cid}/edit",
        data={
            "name": "Black Friday",
            "sender": "Shop",
            "message": "Changed",
            "list_ids": [people],
            "encoding": "auto",
            "action": "save",
        },
    )
    response = sender_client.post(
        f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint, "understood": "y"}
    )
    assert "Preview it again" in sender_client.get(response.headers["Location"]).text
    with app.app_context():
        assert db.session.get(Campaign, cid).status == CampaignStatus.DRAFT


def test_messages_fragment_filters_and_pages(sender_client, people, sandbox):
    cid = campaign_id(compose(sender_client, people, action="preview"))
    fragment = sender_client.get(
        f"/campaigns/{cid}/messages?q=N11", headers={"HX-Request": "true"}
    ).text
    assert fragment.startswith('<div id="messages"')
    assert "Hi N11, 20% off" in fragment and "Hi N1," not in fragment


def test_send_a_test_is_recorded_but_not_the_campaign(sender_client, people, sandbox):
    cid = campaign_id(compose(sender_client, people, action="preview"))
    response = sender_client.post(
        f"/campaigns/{cid}/test", data={"numbers": "+45 20 12 34 56, 21345678", "sample": ""}
    )
    page = sender_client.get(response.headers["Location"]).text
    assert "Test sent to +4520123456, +4521345678" in page
    assert sandbox.store.count_received(label="Black Friday (test)") == 2
    assert sandbox.store.count_received(label="Black Friday") == 0
    too_many = sender_client.post(
        f"/campaigns/{cid}/test", data={"numbers": ",".join(["20123456"] * 6)}
    )
    assert "at most 5 numbers" in sender_client.get(too_many.headers["Location"]).text


def test_pause_resume_cancel(app, sender_client, people, sandbox, jobs):
    cid = previewed_and_confirmed(sender_client, people)
    sender_client.post(f"/campaigns/{cid}/pause")
    jobs.run_pending()
    assert sandbox.store.count_received() == 0
    assert "Paused by sender@example.com" in sender_client.get(f"/campaigns/{cid}").text
    sender_client.post(f"/campaigns/{cid}/cancel")
    with app.app_context():
        assert db.session.get(Campaign, cid).status == CampaignStatus.CANCELLED
    resumed = sender_client.post(f"/campaigns/{cid}/resume")
    assert (
        "Only a paused campaign can be resumed."
        in sender_client.get(resumed.headers["Location"]).text
    )


def test_unconfirmed_batches_are_decided_and_followed_up(app, sender_client, people, sandbox, jobs):
    cid = previewed_and_confirmed(sender_client, people)
    sandbox.config.error_share = 1.0
    jobs.run_pending()
    sandbox.config.error_share = 0.0
    page = sender_client.get(f"/campaigns/{cid}").text
    assert "Unconfirmed batches: your decision" in page
    with app.app_context():
        batch_id = db.session.get(Campaign, cid).batches[0].id
    sender_client.post(
        f"/campaigns/{cid}/batches/{batch_id}/decide", data={"accepted": "no", "typed": "not sent"}
    )
    page = sender_client.get(f"/campaigns/{cid}").text
    assert "Send the failed recipients again" in page
    response = sender_client.post(f"/campaigns/{cid}/follow-up")
    follow = campaign_id(response)
    assert follow != cid
    assert "failed recipients" in sender_client.get(f"/campaigns/{follow}/edit").text


def test_viewer_sees_history_but_no_buttons(app, client, make_user, login_as, people, sandbox):
    sender = login_as(Role.SENDER)
    cid = campaign_id(compose(sender, people))
    sender.post("/logout")
    viewer = login_as(Role.VIEWER)
    page = viewer.get(f"/campaigns/{cid}").text
    assert "Black Friday" in page and "Delete draft" not in page
    assert viewer.get("/campaigns/").status_code == 200


def test_lookalike_fix_works_without_javascript(sender_client, people):
    response = compose(sender_client, people, message="It’s “great” – really…", fix_lookalikes="1")
    assert response.status_code == 200
    assert 'It\'s "great" - really...' in response.text.replace("&#34;", '"').replace("&#39;", "'")


def test_tampered_encoding_is_a_form_error_not_a_crash(sender_client, people):
    response = compose(sender_client, people, encoding="UTF8")
    assert response.status_code == 400
    assert "Not a valid choice" in response.text


def test_dashboard_shows_lists_and_drafts_and_loads_the_balance(sender_client, people, sandbox):
    compose(sender_client, people)
    page = sender_client.get("/").text
    assert "Black Friday" in page and "recipient lists" in page
    balance = sender_client.get("/balance", headers={"HX-Request": "true"}).text
    assert "1,000,000.00 DKK" in balance


# --- First-run stumbles: errors at once, a confirmed preview (issue 15, items 6 and 9) -------


def test_every_compose_error_shows_at_once_beside_its_field(app, sender_client, people):
    response = compose(
        sender_client,
        people,
        action="preview",
        name="",
        sender="Much too long sender",
        list_ids=[],
        message="",
        speed_per_minute="0",
    )
    assert response.status_code == 400
    errors = form_errors(response.text)
    assert any("Give the campaign a name" in e for e in errors)
    assert any("sender" in e.lower() for e in errors)
    assert "Choose at least one recipient list." in errors
    assert "Write the message first." in errors
    assert "At least 1 recipient per minute." in errors
    assert "The draft was not saved" in response.text
    assert 'href="#list-chooser"' in response.text and 'href="#name"' in response.text
    with app.app_context():
        assert db.session.scalars(db.select(Campaign)).first() is None


def test_saving_without_a_list_is_fine_but_previewing_says_what_is_missing(sender_client, people):
    saved = compose(sender_client, people, list_ids=[], message="Hi")
    assert saved.status_code == 302
    cid = campaign_id(saved)
    refused = sender_client.post(
        f"/campaigns/{cid}/edit",
        data={"name": "Black Friday", "sender": "Shop", "message": "Hi", "action": "preview"},
    )
    assert refused.status_code == 400
    assert "Choose at least one recipient list." in form_errors(refused.text)
    assert "The changes were not saved" in refused.text


def test_a_saved_draft_that_cannot_be_previewed_says_it_was_saved(app, sender_client):
    from webapp.models import OptOut

    with app.app_context():
        number = danish_numbers(1)[0]
        everyone_opted_out = make_list(db.session, "Gone", [number]).id
        db.session.add(OptOut(msisdn=number))
        db.session.commit()
    response = compose(sender_client, everyone_opted_out, action="preview", message="Hi")
    page = sender_client.get(response.headers["Location"]).text
    assert "The draft was saved, but it cannot be previewed yet" in page


def test_preview_of_a_confirmed_campaign_says_it_was_sent(sender_client, people, sandbox):
    cid = campaign_id(compose(sender_client, people, action="preview"))
    page = sender_client.get(f"/campaigns/{cid}/preview")
    assert page.headers["Cache-Control"] == "no-store"  # Back asks the server again
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page.text)
    sender_client.post(
        f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint.group(1), "understood": "y"}
    )
    again = sender_client.get(f"/campaigns/{cid}/preview")
    assert again.headers["Cache-Control"] == "no-store"
    assert "This campaign was confirmed" in again.text
    assert f'href="/campaigns/{cid}">See the campaign and its progress' in again.text
    assert "Confirm and send" not in again.text and "Preview again" not in again.text
    assert "changed since this preview" not in again.text


# --- Words (issue 15, item 10) ---------------------------------------------------------------


def test_dry_run_preview_names_one_price_source(sender_client, people, sandbox):
    cid = campaign_id(compose(sender_client, people, action="preview"))
    page = sender_client.get(f"/campaigns/{cid}/preview").text
    assert "priced by the gateway (dry run)" in page
    assert "price table" not in page
    assert 'data-label="Price"' not in page  # no second, local price per recipient


@pytest.mark.parametrize("app_config", [{"SMS_GATEWAY_HONOURS_DRY_RUN": False}])
def test_estimated_preview_names_the_price_table_everywhere(sender_client, people, sandbox):
    cid = campaign_id(compose(sender_client, people, action="preview"))
    page = sender_client.get(f"/campaigns/{cid}/preview").text
    assert page.count("estimated from the price table") == 2  # headline and table
    assert "priced by the gateway" not in page
    assert 'data-label="Price"' in page


def test_so_far_only_while_the_campaign_sends(app, sender_client, people, sandbox, jobs):
    cid = previewed_and_confirmed(sender_client, people)
    with app.app_context():
        db.session.get(Campaign, cid).status = CampaignStatus.SENDING
        db.session.commit()
    assert "DKK so far" in sender_client.get(f"/campaigns/{cid}/progress").text
    with app.app_context():
        db.session.get(Campaign, cid).status = CampaignStatus.QUEUED
        db.session.commit()
    jobs.run_pending()
    done = sender_client.get(f"/campaigns/{cid}/progress").text
    assert "</span> of 12 recipients sent" in done
    assert "so far" not in done


def test_preview_shows_the_chosen_recipients_message_on_a_phone(sender_client, people, sandbox):
    long = "Hi %first_name%, " + "x" * 160
    cid = campaign_id(compose(sender_client, people, action="preview", message=long))
    page = sender_client.get(f"/campaigns/{cid}/preview").text
    assert '<figure class="phone">' in page and "segment 2 of 2" in page
    number = danish_numbers(12)[3]
    fragment = sender_client.get(
        f"/campaigns/{cid}/phone?phone={number}", headers={"HX-Request": "true"}
    ).text
    assert fragment.startswith('<div id="phone"')
    assert f"What <strong>+{number}</strong> sees: 2 segments" in fragment
    assert "Hi N3, " in fragment
    without_js = sender_client.get(f"/campaigns/{cid}/preview?phone={number}").text
    assert f'<option value="{number}" selected>' in without_js


def test_plain_values_are_saved_with_the_campaign_and_kept_by_a_copy(app, sender_client):
    with app.app_context():
        rows = [(danish_numbers(1)[0], {"first_name": "François"})]
        people = make_list(db.session, "Names", rows, fields=["first_name"]).id
    cid = campaign_id(compose(sender_client, people, plain_values="y", message="Hi %first_name%"))
    edit = sender_client.get(f"/campaigns/{cid}/edit").text
    assert 'id="plain_values" value="y" checked' in edit
    copy = campaign_id(sender_client.post(f"/campaigns/{cid}/copy"))
    with app.app_context():
        assert db.session.get(Campaign, copy).plain_values is True
    assert "sent in GSM 7-bit letters" in sender_client.get(f"/campaigns/{cid}").text


def test_plain_values_reach_the_phone_in_gsm_letters(app, sender_client, sandbox, jobs):
    with app.app_context():
        rows = [(danish_numbers(1)[0], {"first_name": "François"})]
        people = make_list(db.session, "Names", rows, fields=["first_name"]).id
    cid = campaign_id(
        compose(
            sender_client, people, action="preview", plain_values="y", message="Hi %first_name%"
        )
    )
    page = sender_client.get(f"/campaigns/{cid}/preview").text
    assert "Hi Francois" in page and "Unicode" not in page
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    sender_client.post(
        f"/campaigns/{cid}/confirm", data={"fingerprint": fingerprint, "understood": "y"}
    )
    jobs.run_pending()
    received = sandbox.store.received_for(label="Black Friday")
    assert [r["text"] for r in received] == ["Hi Francois"]
