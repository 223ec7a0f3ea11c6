"""Delivery reports: unsigned ones are refused unless allowed, and a replay changes nothing."""

from __future__ import annotations

import pytest

from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report
from webapp.models import Role

LIVE = {
    "SMS_API_TOKEN": "live-token-for-tests",
    "SMS_GATEWAY_URL": "http://127.0.0.1:9/rest/mtsms",
    "PUBLIC_URL": "https://dash.example",
}


def report(message_id: str, msisdn: str, status: str, time: int | None = None) -> dict:
    fields = {"id": int(message_id), "msisdn": int(msisdn), "status": status}
    return fields if time is None else fields | {"time": time}


@pytest.fixture
def post(app, client, webhook_path):
    def send(body: dict, *, signed: bool = True):
        secret = app.config["WEBHOOK_SECRET"]
        headers = {SIGNATURE_HEADER: sign_delivery_report(body, secret)} if signed else {}
        return client.post(webhook_path, json=body, headers=headers, csrf=False)

    return send


@pytest.mark.parametrize("app_config", [LIVE])
def test_unsigned_reports_are_refused_outside_sandbox_mode(
    app, post, sent_recipient, delivery_status
):
    message_id, msisdn = sent_recipient
    assert not app.config["WEBHOOK_SECRET"]
    refused = post(report(message_id, msisdn, "DELIVERED"), signed=False)
    assert refused.status_code == 401
    assert "WEBHOOK_SECRET" in refused.json["error"]
    assert delivery_status(msisdn)[0] is None


@pytest.mark.parametrize("app_config", [LIVE | {"ALLOW_UNSIGNED_REPORTS": True}])
def test_unsigned_reports_when_allowed_and_the_settings_page_warns(
    post, sent_recipient, delivery_status, login_as
):
    message_id, msisdn = sent_recipient
    accepted = post(report(message_id, msisdn, "ENROUTE"), signed=False)
    assert accepted.json == {"recorded": True}
    post(report(message_id, msisdn, "BUFFERED"), signed=False)
    replayed = post(report(message_id, msisdn, "ENROUTE"), signed=False)
    assert replayed.json == {"recorded": False}
    assert delivery_status(msisdn)[0] == "BUFFERED"
    page = login_as(Role.ADMIN).get("/settings/").text
    assert "Unsigned delivery reports are accepted" in page


def test_the_settings_page_does_not_warn_by_default(login_as):
    assert "Unsigned delivery reports" not in login_as(Role.ADMIN).get("/settings/").text


def test_a_replayed_signed_report_changes_nothing(app, post, sent_recipient, delivery_status):
    message_id, msisdn = sent_recipient
    first = post(report(message_id, msisdn, "DELIVERED", 1_764_028_800))
    assert first.json == {"recorded": True}
    before = delivery_status(msisdn)
    again = post(report(message_id, msisdn, "DELIVERED", 1_764_028_800))
    assert again.status_code == 200 and again.json == {"recorded": False}
    assert delivery_status(msisdn) == before
