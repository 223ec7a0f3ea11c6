"""Delivery reports through the webhook, and the sandbox inbox page."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, gateway_client, make_list

from webapp.extensions import db
from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report
from webapp.models import Campaign, CampaignRecipient, Role
from webapp.services import campaigns
from webapp.services.preview import preview_campaign


@pytest.fixture
def sent_campaign(app, make_user, sandbox, jobs):
    """A campaign of 3 recipients, sent through the sandbox."""
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        people = make_list(db.session, "People", danish_numbers(3))
        campaign = campaigns.save_draft(
            db.session,
            user,
            campaigns.CampaignDraft(
                name="Hello", sender="Shop", message="Hi", list_ids=[people.id]
            ),
        )
        preview_campaign(
            db.session,
            campaign,
            user,
            gateway_client(sandbox),
            honours_dry_run=True,
            batch_size=100,
        )
        campaigns.confirm_campaign(db.session, campaign, user, batch_size=100)
        jobs.dispatch_campaign(campaign.id)
        jobs.run_pending()
        batch = db.session.get(Campaign, campaign.id).batches[0]
        return {"id": campaign.id, "message_id": int(batch.message_id)}


def post_report(app, client, report, *, secret=None, path="/webhooks/delivery-reports"):
    secret = secret or app.config["WEBHOOK_SECRET"]
    url = path
    return client.post(
        url,
        json=report,
        headers={SIGNATURE_HEADER: sign_delivery_report(report, secret)},
        csrf=False,
    )


def report(message_id, msisdn, status, time):
    return {
        "id": message_id,
        "msisdn": int(msisdn),
        "time": time,
        "status": status,
        "error": None,
        "code": None,
        "userref": None,
    }


def status_of(app, msisdn):
    with app.app_context():
        return db.session.query(CampaignRecipient).filter_by(msisdn=msisdn).one().delivery_status


def test_signed_reports_are_recorded_and_stale_ones_ignored(app, client, sent_campaign):
    number = danish_numbers(1)[0]
    mid = sent_campaign["message_id"]
    assert post_report(app, client, report(mid, number, "ENROUTE", 100)).json == {"recorded": True}
    assert post_report(app, client, report(mid, number, "DELIVERED", 200)).status_code == 200
    late = post_report(app, client, report(mid, number, "BUFFERED", 150))
    assert late.json == {"recorded": False}
    assert status_of(app, number) == "DELIVERED"


def test_wrong_signature_or_path_is_refused(app, client, sent_campaign):
    number = danish_numbers(1)[0]
    mid = sent_campaign["message_id"]
    forged = post_report(
        app,
        client,
        report(mid, number, "DELIVERED", 100),
        secret="a-guessed-secret-that-is-long-enough-for-hs256",
    )
    assert forged.status_code == 401
    assert (
        post_report(
            app, client, report(mid, number, "DELIVERED", 1), path="/webhooks/reports"
        ).status_code
        == 404
    )
    assert status_of(app, number) is None


def test_campaign_page_summarises_delivery(app, login_as, sent_campaign):
    viewer = login_as(Role.VIEWER)
    for number in danish_numbers(2):
        post_report(app, viewer, report(sent_campaign["message_id"], number, "DELIVERED", 100))
    page = viewer.get(f"/campaigns/{sent_campaign['id']}").text
    assert re.search(r'Delivered</dt><dd data-test="delivered">2 <span class="hint">66.7 %', page)
    assert re.search(r'Awaiting report</dt><dd data-test="awaiting">1 ', page)


def test_sandbox_inbox_shows_what_each_phone_got(login_as, sent_campaign):
    viewer = login_as(Role.VIEWER)
    page = viewer.get("/sandbox/inbox").text
    for number in danish_numbers(3):
        assert f"+{number}" in page
    one = viewer.get(f"/sandbox/inbox?msisdn={danish_numbers(1)[0]}").text
    assert "Hi" in one and f"+{danish_numbers(2)[1]}" not in one


@pytest.mark.parametrize(
    "app_config",
    [{"SMS_API_TOKEN": "a-real-token-value", "SMS_GATEWAY_URL": "https://gw.example/rest/mtsms"}],
)
def test_inbox_is_gone_outside_sandbox_mode(login_as):
    viewer = login_as(Role.VIEWER)
    assert viewer.get("/sandbox/inbox").status_code == 404
    assert "Sandbox inbox" not in viewer.get("/").text
    assert "nothing is delivered" not in viewer.get("/").text


def test_delivery_statuses_are_words_with_the_gateway_code_as_detail(app, login_as, sent_campaign):
    viewer = login_as(Role.VIEWER)
    number = danish_numbers(1)[0]
    expired = report(sent_campaign["message_id"], number, "EXPIRED", 100)
    post_report(app, viewer, {**expired, "error": "Validity period expired", "code": "0x0102"})
    page = viewer.get(f"/campaigns/{sent_campaign['id']}").text
    assert 'title="not delivered in time">Expired</span>' in page
    assert "gateway status <code>EXPIRED</code> 0x0102: Validity period expired" in page
    inbox = viewer.get("/sandbox/inbox").text
    assert "gateway status <code>" in inbox


def test_a_test_message_shows_the_status_of_its_delivery_report(app, login_as, sent_campaign):
    sender = login_as(Role.SENDER)
    cid = sent_campaign["id"]
    sender.post(f"/campaigns/{cid}/test", data={"numbers": "+45 20 12 34 56", "sample": ""})
    with app.app_context():
        from webapp.models import CampaignTestSend

        test = db.session.scalars(db.select(CampaignTestSend)).one()
        message_id = int(test.message_id)
    page = sender.get(f"/campaigns/{cid}").text
    assert "+4520123456: sent to the gateway, awaiting a delivery report" in page
    for status, time in (("ENROUTE", 100), ("EXPIRED", 200), ("BUFFERED", 150)):
        post_report(app, sender, report(message_id, "4520123456", status, time))
    page = sender.get(f"/campaigns/{cid}").text
    assert "+4520123456: Expired: not delivered in time" in page
    assert "<code>EXPIRED</code>" in page
    unknown = post_report(app, sender, report(message_id, "4599999999", "DELIVERED", 300))
    assert unknown.status_code == 202
