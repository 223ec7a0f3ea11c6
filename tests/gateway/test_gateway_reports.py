"""Delivery reports: posted by the sandbox to a callback URL, signed, verified by the dashboard."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests

from webapp.gateway import (
    FINAL_DELIVERY_STATUSES,
    InvalidDeliveryReport,
    is_final,
    sign_delivery_report,
    verify_delivery_report,
)

WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789abcdef"
DK = "4520123456"
SE = "46701234567"
REPORT = {
    "id": 1000001,
    "msisdn": 4520123456,
    "time": 1764028800,
    "status": "DELIVERED",
    "error": None,
    "code": None,
    "userref": "campaign-12-batch-3",
    "country_code": "DK",
    "country_prefix": 45,
    "charge_status": "CAPTURED",
}


def send(sandbox, callback_url, recipients=(DK,), **fields):
    body = {
        "token": sandbox.token,
        "message": "Hello",
        "recipients": [{"msisdn": m} for m in recipients],
        "callback_url": callback_url,
        "userref": "campaign-12-batch-3",
        **fields,
    }
    response = requests.post(sandbox.mtsms_url, json=body, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["ids"][0]


def by_recipient(reports):
    grouped = defaultdict(list)
    for report, _ in reports:
        grouped[report["msisdn"]].append(report["status"])
    return grouped


def final_count(receiver, recipients):
    """How many recipients have had a final report so far."""
    statuses = by_recipient(receiver.reports)
    return sum(1 for r in recipients if any(is_final(s) for s in statuses[int(r)]))


# -- what the sandbox posts -----------------------------------------------------------------


def test_each_recipient_gets_reports_in_the_contract_format(sandbox, receiver, poll):
    message_id = send(sandbox, receiver.url, recipients=(DK, SE))

    poll(lambda: final_count(receiver, (DK, SE)) == 2)
    for report, _ in receiver.reports:
        assert set(report) == set(REPORT)
        assert report["id"] == message_id
        assert report["userref"] == "campaign-12-batch-3"
        assert isinstance(report["time"], int)
    dk = [r for r, _ in receiver.reports if r["msisdn"] == int(DK)][0]
    assert (dk["country_code"], dk["country_prefix"]) == ("DK", 45)


def test_intermediate_statuses_come_before_the_final_one(sandbox, receiver, poll):
    sandbox.config.report_disorder_share = 0
    sandbox.config.report_buffered_share = 1
    send(sandbox, receiver.url)

    poll(lambda: final_count(receiver, (DK,)) == 1)
    statuses = by_recipient(receiver.reports)[int(DK)]
    assert statuses[:2] == ["ENROUTE", "BUFFERED"]
    assert statuses[2] in FINAL_DELIVERY_STATUSES


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("DELIVERED", None),
        ("UNDELIVERABLE", "Absent subscriber"),
        ("EXPIRED", "Validity period expired"),
    ],
)
def test_the_configured_outcome_is_reported_and_kept(sandbox, receiver, poll, outcome, error):
    sandbox.config.report_outcomes = {outcome: 1}
    message_id = send(sandbox, receiver.url)

    poll(lambda: final_count(receiver, (DK,)) == 1)
    final = [r for r, _ in receiver.reports if is_final(r["status"])][0]
    assert (final["status"], final["error"]) == (outcome, error)
    assert (final["code"] is None) == (error is None)
    stored = sandbox.store.message(message_id)["recipients"][0]
    assert (stored["status"], stored["error"]) == (outcome, error)


def test_the_mix_of_outcomes_follows_the_configured_weights(sandbox, receiver, poll):
    sandbox.config.report_outcomes = {"DELIVERED": 1, "UNDELIVERABLE": 1}
    recipients = [str(4520000000 + i) for i in range(40)]
    send(sandbox, receiver.url, recipients=recipients)

    poll(lambda: final_count(receiver, recipients) == 40)
    finals = {r["status"] for r, _ in receiver.reports if is_final(r["status"])}
    assert finals == {"DELIVERED", "UNDELIVERABLE"}


def test_reports_may_repeat_or_arrive_out_of_order_but_the_status_stays_final(
    sandbox, receiver, poll
):
    sandbox.config.report_disorder_share = 1
    sandbox.config.report_buffered_share = 0
    sandbox.config.report_outcomes = {"DELIVERED": 1}
    recipients = [str(4520000000 + i) for i in range(20)]
    message_id = send(sandbox, receiver.url, recipients=recipients)

    reports = receiver.wait_for(60)  # ENROUTE, DELIVERED, then a repeat or a late ENROUTE
    sequences = by_recipient(reports).values()
    assert any(s.count("DELIVERED") == 2 for s in sequences), "some reports repeat"
    assert any(not is_final(s[-1]) for s in sequences), "some arrive after the final one"
    statuses = {r["status"] for r in sandbox.store.message(message_id)["recipients"]}
    assert statuses == {"DELIVERED"}


def test_reports_carry_a_jwt_whose_claims_repeat_the_report(sandbox, receiver, poll):
    sandbox.config.webhook_secret = WEBHOOK_SECRET
    send(sandbox, receiver.url, recipients=(DK, SE))

    poll(lambda: final_count(receiver, (DK, SE)) == 2)
    for report, signature in receiver.reports:
        assert verify_delivery_report(report, signature, WEBHOOK_SECRET) == report
        assert jwt.decode(signature, WEBHOOK_SECRET, algorithms=["HS256"]) == report


def test_without_a_webhook_secret_reports_are_unsigned(sandbox, receiver, poll):
    send(sandbox, receiver.url)

    poll(lambda: final_count(receiver, (DK,)) == 1)
    assert {signature for _, signature in receiver.reports} == {None}


def test_a_refused_report_is_retried(sandbox, receiver, poll):
    receiver.refuse_next = 2
    send(sandbox, receiver.url)

    poll(lambda: final_count(receiver, (DK,)) == 1)


def test_a_message_without_callback_still_reaches_a_final_status(sandbox, poll):
    response = requests.post(
        sandbox.mtsms_url,
        json={"token": sandbox.token, "message": "Hi", "recipients": [{"msisdn": DK}]},
        timeout=5,
    )
    message_id = response.json()["ids"][0]

    poll(lambda: is_final(sandbox.store.message(message_id)["recipients"][0]["status"]))


def test_a_slow_webhook_never_holds_up_the_send(sandbox):
    """Reports go out from a background pool: the answer comes while the webhook still hangs."""
    release = threading.Event()
    reached = threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def do_POST(self):
            reached.set()
            release.wait(10)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        send(sandbox, url)
        send(sandbox, url)  # answered although the first message's report is still hanging

        assert reached.wait(5)
        assert sandbox.store.count_received() == 2
    finally:
        release.set()
        server.shutdown()
        server.server_close()


# -- verifying a report (what the dashboard's webhook does) ----------------------------------


def test_a_correctly_signed_report_verifies():
    signature = sign_delivery_report(REPORT, WEBHOOK_SECRET)

    assert verify_delivery_report(dict(REPORT), signature, WEBHOOK_SECRET) == REPORT


def test_a_report_signed_with_another_secret_is_rejected():
    signature = sign_delivery_report(REPORT, "another-secret-of-sufficient-length-xx")

    with pytest.raises(InvalidDeliveryReport, match="signature"):
        verify_delivery_report(REPORT, signature, WEBHOOK_SECRET)


def test_an_altered_report_is_rejected():
    signature = sign_delivery_report(REPORT, WEBHOOK_SECRET)

    with pytest.raises(InvalidDeliveryReport, match="status"):
        verify_delivery_report({**REPORT, "status": "UNDELIVERABLE"}, signature, WEBHOOK_SECRET)


def test_a_field_missing_from_the_claims_is_rejected():
    signature = sign_delivery_report(
        {k: v for k, v in REPORT.items() if k != "userref"}, WEBHOOK_SECRET
    )

    with pytest.raises(InvalidDeliveryReport, match="userref"):
        verify_delivery_report(REPORT, signature, WEBHOOK_SECRET)


def test_a_signed_field_missing_from_the_report_is_rejected():
    signature = sign_delivery_report(REPORT, WEBHOOK_SECRET)
    report = {k: v for k, v in REPORT.items() if k != "msisdn"}

    with pytest.raises(InvalidDeliveryReport, match="msisdn"):
        verify_delivery_report(report, signature, WEBHOOK_SECRET)


@pytest.mark.parametrize("signature", [None, "", "not-a-jwt", "a.b.c"])
def test_a_missing_or_garbled_signature_is_rejected(signature):
    with pytest.raises(InvalidDeliveryReport):
        verify_delivery_report(REPORT, signature, WEBHOOK_SECRET)


def test_an_unsigned_algorithm_is_rejected():
    header = json.dumps({"alg": "none", "typ": "JWT"}).encode()
    claims = json.dumps(REPORT).encode()
    unsigned = b".".join(jwt.utils.base64url_encode(part) for part in (header, claims)) + b"."

    with pytest.raises(InvalidDeliveryReport):
        verify_delivery_report(REPORT, unsigned.decode(), WEBHOOK_SECRET)


def _token(header: dict, claims: dict, secret: str = WEBHOOK_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm=header.pop("alg", "HS256"), headers=header)


def test_a_signature_changed_by_one_character_is_rejected():
    signature = sign_delivery_report(REPORT, WEBHOOK_SECRET)
    changed = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    with pytest.raises(InvalidDeliveryReport, match="does not verify"):
        verify_delivery_report(REPORT, changed, WEBHOOK_SECRET)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: _token({"alg": "HS512"}, dict(REPORT)), "InvalidAlgorithmError"),
        (lambda: _token({}, {**REPORT, "exp": 1_000_000_000}), "ExpiredSignatureError"),
        (lambda: _token({}, {**REPORT, "nbf": 4_000_000_000}), "ImmatureSignatureError"),
        (lambda: _token({"kid": "k1"}, dict(REPORT), "another-secret-" * 3), "InvalidSignature"),
    ],
    ids=["another algorithm", "expired", "not yet valid", "another header, another secret"],
)
def test_tokens_unlike_the_gateways_are_judged_by_every_jwt_rule(token, reason):
    with pytest.raises(InvalidDeliveryReport, match=reason):
        verify_delivery_report(dict(REPORT), token(), WEBHOOK_SECRET)


def test_a_correct_token_with_another_header_still_verifies():
    with_kid = _token({"kid": "k1"}, dict(REPORT))

    assert verify_delivery_report(dict(REPORT), with_kid, WEBHOOK_SECRET) == REPORT
