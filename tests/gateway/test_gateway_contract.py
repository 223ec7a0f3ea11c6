"""Contract tests: the sandbox over real HTTP on loopback, case by case from mtsms-api.md."""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests
from oauthlib.oauth1 import Client as OAuthClient

from mtsms_sandbox import start_sandbox

DK = "4520123456"
DK2 = "4520123457"
SE = "46701234567"
SANDBOX_TOKEN = "contract-test-token-0123456789abcdef"


@pytest.fixture
def sandbox_token():
    return SANDBOX_TOKEN


def sms(**fields):
    body = {"message": "Hello", "recipients": [{"msisdn": DK}]}
    body.update(fields)
    return body


def post(sandbox, body, *, path="/rest/mtsms", token=True, **kwargs):
    """POST a JSON body, with the token in the body unless told otherwise."""
    if token and isinstance(body, dict):
        body = {**body, "token": sandbox.token}
    return requests.post(sandbox.url + path, json=body, timeout=10, **kwargs)


def error_of(response, status):
    """The error JSON of `response`, checked for the contract's shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"code", "message", "variables", "incident_uuid"}
    assert body["message"]
    uuid.UUID(body["incident_uuid"])
    if "variables" in body:
        assert body["variables"], "variables is left out when empty"
    if "code" in body:
        assert body["code"].startswith("0x")
    return body


# -- success ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/sms/mtsms", "/v2/mtsms/", "/v2/mtsms", "/rest/mtsms", "/rest/mtsms/"]
)
def test_every_contract_path_accepts_a_send(sandbox, path):
    response = post(sandbox, sms(), path=path)

    assert response.status_code == 200, response.text
    assert len(response.json()["ids"]) == 1
    assert sandbox.store.count_received() == 1


def test_success_answers_ids_and_usage_in_the_contract_shape(sandbox):
    response = post(sandbox, sms(recipients=[{"msisdn": DK}, {"msisdn": DK2}]))

    body = response.json(parse_float=Decimal)
    assert body["ids"] == [1_000_001]
    assert body["usage"] == {
        "countries": {"DK": 2},
        "currency": "DKK",
        "total_cost": Decimal("0.3"),
    }


def test_usage_prices_segments_per_country_with_a_default_for_unlisted_countries(sandbox):
    two_segments = "x" * 161
    iran = "989121234567"  # not in the price table: the default price applies
    response = post(
        sandbox,
        sms(message=two_segments, recipients=[{"msisdn": DK}, {"msisdn": SE}, {"msisdn": iran}]),
    )

    usage = response.json(parse_float=Decimal)["usage"]
    assert usage["countries"] == {"DK": 2, "SE": 2, "IR": 2}
    assert usage["total_cost"] == Decimal("0.15") * 2 + Decimal("0.25") * 2 + Decimal("0.50") * 2


def test_forced_ucs2_is_priced_by_ucs2_segments(sandbox):
    seventy_one = "a" * 71

    gsm = post(sandbox, sms(message=seventy_one, dry_run=True)).json()
    ucs2 = post(sandbox, sms(message=seventy_one, encoding="UCS2", dry_run=True)).json()

    assert gsm["usage"]["countries"] == {"DK": 1}
    assert ucs2["usage"]["countries"] == {"DK": 2}


def test_a_list_root_gets_one_id_per_sms_object(sandbox):
    body = [sms(token=sandbox.token), sms(token=sandbox.token, recipients=[{"msisdn": SE}])]

    response = post(sandbox, body)

    assert response.status_code == 200, response.text
    assert response.json()["ids"] == [1_000_001, 1_000_002]
    assert response.json()["usage"]["countries"] == {"DK": 1, "SE": 1}


def test_msisdn_may_be_a_string_or_an_integer(sandbox):
    response = post(sandbox, sms(recipients=[{"msisdn": DK}, {"msisdn": int(SE)}]))

    assert response.status_code == 200, response.text
    assert sorted(r["msisdn"] for r in sandbox.store.received_for()) == [DK, SE]


def test_extra_details_adds_parts_and_country_per_recipient(sandbox):
    body = sms(recipients=[{"msisdn": DK}, {"msisdn": SE}], extra_details="recipients_usage")

    answer = post(sandbox, body).json()

    assert answer["details"] == {
        "messages": [
            {
                "id": answer["ids"][0],
                "recipients": [
                    {"country": "DK", "msisdn": int(DK), "parts": 1},
                    {"country": "SE", "msisdn": int(SE), "parts": 1},
                ],
            }
        ]
    }


def test_advanced_options_are_accepted_and_kept(sandbox):
    options = {
        "class": "premium",
        "priority": "URGENT",
        "validity_period": 600,
        "destaddr": "MOBILE",
    }

    answer = post(sandbox, sms(label="Spring sale", userref="c-1", **options)).json()

    status = requests.get(
        f"{sandbox.mtsms_url}/{answer['ids'][0]}", auth=(sandbox.token, ""), timeout=5
    ).json()
    assert {key: status[key] for key in options} == options
    assert (status["label"], status["userref"]) == ("Spring sale", "c-1")


# -- tags ---------------------------------------------------------------------------------


def test_tagvalues_replace_tags_by_position_for_each_recipient(sandbox):
    body = sms(
        message="Hi %b%, meet %a%",
        tags=["%a%", "%b%"],
        recipients=[
            {"msisdn": DK, "tagvalues": ["Ann", "Bo"]},
            {"msisdn": SE, "tagvalues": ["%b%", "Cy"]},
        ],
    )

    assert post(sandbox, body).status_code == 200
    texts = {r["msisdn"]: r["text"] for r in sandbox.store.received_for()}
    assert texts == {DK: "Hi Bo, meet Ann", SE: "Hi Cy, meet %b%"}


def test_usage_counts_segments_after_tag_replacement(sandbox):
    body = sms(
        message="%text%",
        tags=["%text%"],
        recipients=[
            {"msisdn": DK, "tagvalues": ["short"]},
            {"msisdn": DK2, "tagvalues": ["y" * 200]},
        ],
        dry_run=True,
    )

    assert post(sandbox, body).json()["usage"]["countries"] == {"DK": 3}


@pytest.mark.parametrize(
    ("tags", "recipient"),
    [
        (["%name%"], {"msisdn": DK}),
        (["%name%"], {"msisdn": DK, "tagvalues": ["Ann", "extra"]}),
        (None, {"msisdn": DK, "tagvalues": ["Ann"]}),
    ],
    ids=["tags-without-tagvalues", "too-many-tagvalues", "tagvalues-without-tags"],
)
def test_tags_and_tagvalues_must_match(sandbox, tags, recipient):
    body = sms(message="Hi %name%", recipients=[recipient])
    if tags:
        body["tags"] = tags

    body = error_of(post(sandbox, body), 400)
    assert DK in body["variables"]


def test_max_parts_cannot_be_combined_with_tags(sandbox):
    body = sms(tags=["%n%"], recipients=[{"msisdn": DK, "tagvalues": ["x"]}], max_parts=2)

    assert error_of(post(sandbox, body), 400)["variables"][0] == "max_parts"


def test_max_parts_refuses_a_longer_message(sandbox):
    error = error_of(post(sandbox, sms(message="x" * 400, max_parts=2)), 400)

    assert error["variables"] == ["3", "2"]


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"recipients": [{"msisdn": DK}]}, "message"),
        ({"message": "", "recipients": [{"msisdn": DK}]}, "message"),
        ({"message": "Hi"}, "recipients"),
        ({"message": "Hi", "recipients": []}, "recipients"),
        ({"message": "Hi", "recipients": [{"tagvalues": []}]}, "recipients.0.msisdn"),
    ],
)
def test_a_missing_parameter_is_0x0222(sandbox, body, parameter):
    error = error_of(post(sandbox, body), 400)

    assert (error["code"], error["variables"]) == ("0x0222", [parameter])


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (sms(colour="red"), "colour"),
        (sms(recipients=[{"msisdn": DK, "name": "Ann"}]), "recipients.0.name"),
    ],
)
def test_an_unsupported_parameter_is_0x0220(sandbox, body, parameter):
    error = error_of(post(sandbox, body), 400)

    assert (error["code"], error["variables"]) == ("0x0220", [parameter])


def test_ten_thousand_recipients_are_accepted(sandbox):
    recipients = [{"msisdn": str(4520000000 + i)} for i in range(10_000)]

    response = post(sandbox, sms(recipients=recipients))

    assert response.status_code == 200, response.text
    assert sandbox.store.count_received() == 10_000


def test_ten_thousand_and_one_recipients_are_too_many(sandbox):
    recipients = [{"msisdn": str(4520000000 + i)} for i in range(10_001)]

    error = error_of(post(sandbox, sms(recipients=recipients)), 400)

    assert error["variables"] == ["10001", "10000"]
    assert sandbox.store.count_received() == 0


@pytest.mark.parametrize("sender", ["InfoSMS", "A", "12345678901", "123456789012345"])
def test_a_sender_of_11_alphanumerics_or_15_digits_is_accepted(sandbox, sender):
    assert post(sandbox, sms(sender=sender)).status_code == 200


@pytest.mark.parametrize(
    "sender", ["TwelveChars1", "Info SMS", "+4512345678", "1234567890123456", "", "Café"]
)
def test_a_bad_sender_is_refused(sandbox, sender):
    error = error_of(post(sandbox, sms(sender=sender)), 400)

    assert "Sender" in error["variables"][0]


@pytest.mark.parametrize(
    "msisdn", ["+4520123456", "004520123456", "45 20 12 34 56", "4520123456789012", "45", "999123"]
)
def test_a_bad_msisdn_is_refused(sandbox, msisdn):
    error = error_of(post(sandbox, sms(recipients=[{"msisdn": msisdn}])), 400)

    assert "MSISDN" in error["variables"][0]


def test_a_duplicated_msisdn_is_0x0310_even_when_one_is_an_integer(sandbox):
    body = sms(recipients=[{"msisdn": DK}, {"msisdn": SE}, {"msisdn": int(DK)}])

    error = error_of(post(sandbox, body), 422)

    assert (error["code"], error["variables"]) == ("0x0310", [DK])
    assert sandbox.store.count_received() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"message": "Hi", "recipients": [{"msisdn": "4520123456",}]}',  # the seed's own typo
        b'{"message": "Hi"',
        b'{"message": NaN, "recipients": []}',
        b"\xff\xfe not utf-8",
    ],
    ids=["trailing-comma", "truncated", "nan", "not-utf8"],
)
def test_a_body_that_is_not_valid_json_is_422(sandbox, raw):
    response = requests.post(
        sandbox.mtsms_url,
        data=raw,
        headers={"Content-Type": "application/json", "Authorization": f"Token {sandbox.token}"},
        timeout=5,
    )

    assert "code" not in error_of(response, 422)


@pytest.mark.parametrize("root", ['"Hello"', "42", "[]", '[{"message": "Hi"}, "x"]'])
def test_a_root_that_is_not_sms_objects_is_400(sandbox, root):
    response = requests.post(
        sandbox.mtsms_url,
        data=root,
        headers={"Content-Type": "application/json", "Authorization": f"Token {sandbox.token}"},
        timeout=5,
    )

    error_of(response, 400)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("encoding", "LATIN1"),
        ("dry_run", "maybe"),
        ("sendtime", "tomorrow"),
        ("callback_url", "ftp://example.com/reports"),
        ("validity_period", 30),
        ("class", "gold"),
        ("priority", "LOW"),
        ("destaddr", "PAGER"),
        ("extra_details", "everything"),
        ("label", 12),
        ("message", 12),
    ],
)
def test_a_bad_value_is_400_naming_the_parameter(sandbox, field, value):
    error = error_of(post(sandbox, sms(**{field: value})), 400)

    assert error["variables"][0] == field


# -- dry_run ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["1", 1, True, "true"])
def test_dry_run_prices_like_a_send_and_stores_nothing(sandbox, flag):
    body = sms(recipients=[{"msisdn": DK}, {"msisdn": SE}], message="x" * 200)

    dry = post(sandbox, {**body, "dry_run": flag})

    assert dry.status_code == 200, dry.text
    assert dry.json()["ids"] == []
    assert sandbox.store.count_received() == 0
    assert sandbox.store.spent() == 0
    real = post(sandbox, body)
    assert dry.json()["usage"] == real.json()["usage"]


def test_dry_run_validates_like_a_send(sandbox):
    error = error_of(post(sandbox, sms(sender="Far too long sender", dry_run="1")), 400)

    assert "Sender" in error["variables"][0]


def test_dry_run_false_sends(sandbox):
    assert post(sandbox, sms(dry_run="0")).json()["ids"] == [1_000_001]


def test_a_list_cannot_mix_dry_run_and_real_sends(sandbox):
    body = [sms(token=sandbox.token, dry_run=True), sms(token=sandbox.token)]

    error_of(post(sandbox, body), 400)
    assert sandbox.store.count_received() == 0


# -- form and query arguments ---------------------------------------------------------------


def test_a_form_encoded_body_sends_one_sms_with_dotted_indices(sandbox):
    form = {
        "token": sandbox.token,
        "message": "Hi %name%",
        "sender": "Shop",
        "tags.0": "%name%",
        "recipients.0.msisdn": DK,
        "recipients.0.tagvalues.0": "Ann",
        "recipients.1.msisdn": SE,
        "recipients.1.tagvalues.0": "Bo",
    }

    response = requests.post(sandbox.mtsms_url, data=form, timeout=5)

    assert response.status_code == 200, response.text
    texts = sorted(r["text"] for r in sandbox.store.received_for())
    assert texts == ["Hi Ann", "Hi Bo"]


def test_query_arguments_alone_send_one_sms(sandbox):
    query = {"token": sandbox.token, "message": "Hi", "recipients.0.msisdn": DK, "dry_run": "1"}

    response = requests.post(sandbox.mtsms_url, params=query, timeout=5)

    assert response.status_code == 200, response.text
    assert response.json()["ids"] == []


def test_a_json_body_takes_no_other_query_argument_than_the_token(sandbox):
    response = post(sandbox, sms(), params={"token": sandbox.token, "label": "x"})

    assert error_of(response, 400)["variables"] == ["label"]


def test_a_form_key_given_twice_is_refused(sandbox):
    form = [("message", "Hi"), ("recipients.0.msisdn", DK), ("recipients.0.msisdn", SE)]

    response = requests.post(sandbox.mtsms_url, data=form, auth=(sandbox.token, ""), timeout=5)

    assert error_of(response, 400)["variables"][0] == "recipients.0.msisdn"


def test_an_unknown_dotted_form_key_is_unsupported(sandbox):
    form = {"message": "Hi", "recipients.0.msisdn": DK, "recipients.0.name": "Ann"}

    response = requests.post(sandbox.mtsms_url, data=form, auth=(sandbox.token, ""), timeout=5)

    error = error_of(response, 400)
    assert (error["code"], error["variables"]) == ("0x0220", ["recipients.0.name"])


# -- authentication -------------------------------------------------------------------------


def _oauth_signed(url, body, token, secret, content_type="application/json"):
    signer = OAuthClient(token, client_secret=secret)
    return signer.sign(url, http_method="POST", body=body, headers={"Content-Type": content_type})


def _send_with(sandbox, mode):
    body = json.dumps(sms())
    url = sandbox.mtsms_url
    headers = {"Content-Type": "application/json"}
    if mode == "body":
        body = json.dumps(sms(token=sandbox.token))
    elif mode == "query":
        url += "?" + urlencode({"token": sandbox.token})
    elif mode == "basic":
        credentials = base64.b64encode(f"{sandbox.token}:".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    elif mode == "token-header":
        headers["Authorization"] = f"Token {sandbox.token}"
    elif mode == "oauth":
        url, headers, body = _oauth_signed(url, body, sandbox.token, sandbox.token)
    elif mode == "form-field":
        form = {"token": sandbox.token, "message": "Hello", "recipients.0.msisdn": DK}
        return requests.post(url, data=form, timeout=5)
    return requests.post(url, data=body, headers=headers, timeout=5)


@pytest.mark.parametrize("mode", ["body", "query", "form-field", "basic", "token-header", "oauth"])
def test_every_authentication_mode_of_the_contract_is_accepted(sandbox, mode):
    response = _send_with(sandbox, mode)

    assert response.status_code == 200, response.text


def test_oauth_signs_form_fields_too(sandbox):
    form = urlencode({"message": "Hello", "recipients.0.msisdn": DK})
    url, headers, body = _oauth_signed(
        sandbox.mtsms_url, form, sandbox.token, sandbox.token, "application/x-www-form-urlencoded"
    )

    assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200


def test_oauth_uses_the_configured_consumer_secret(tmp_path):
    running = start_sandbox(tmp_path / "s.sqlite3", token=SANDBOX_TOKEN, secret="consumer-secret")
    try:
        body = json.dumps(sms())
        good = _oauth_signed(running.mtsms_url, body, running.token, "consumer-secret")
        bad = _oauth_signed(running.mtsms_url, body, running.token, running.token)

        assert requests.post(good[0], data=good[2], headers=good[1], timeout=5).status_code == 200
        response = requests.post(bad[0], data=bad[2], headers=bad[1], timeout=5)
        assert error_of(response, 401)["code"] == "0x0229"
    finally:
        running.stop()


def test_an_oauth_request_cannot_be_replayed(sandbox):
    url, headers, body = _oauth_signed(
        sandbox.mtsms_url, json.dumps(sms()), sandbox.token, sandbox.token
    )

    assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200
    replay = requests.post(url, data=body, headers=headers, timeout=5)

    assert error_of(replay, 401)["code"] == "0x0229"


def test_an_oauth_signed_body_cannot_be_altered(sandbox):
    url, headers, body = _oauth_signed(
        sandbox.mtsms_url, json.dumps(sms()), sandbox.token, sandbox.token
    )

    altered = body.replace("Hello", "Pay me")
    response = requests.post(url, data=altered, headers=headers, timeout=5)

    assert error_of(response, 401)["code"] == "0x0229"
    assert sandbox.store.count_received() == 0


@pytest.mark.parametrize(
    ("describe", "kwargs"),
    [
        ("wrong body token", {"json": sms(token="wrong-token")}),
        ("token of the wrong type", {"json": sms(token=12345)}),
        ("wrong query token", {"json": sms(), "params": {"token": "wrong-token"}}),
        ("no token at all", {"json": sms()}),
        ("basic with a password", {"json": sms(), "auth": (SANDBOX_TOKEN, "password")}),
        ("basic with a wrong user", {"json": sms(), "auth": ("wrong-token", "")}),
        ("wrong token header", {"json": sms(), "headers": {"Authorization": "Token wrong-token"}}),
        ("bearer scheme", {"json": sms(), "headers": {"Authorization": f"Bearer {SANDBOX_TOKEN}"}}),
        (
            "right body token, wrong header",
            {"json": sms(token=SANDBOX_TOKEN), "headers": {"Authorization": "Token wrong-token"}},
        ),
        ("garbled basic", {"json": sms(), "headers": {"Authorization": "Basic !!!"}}),
    ],
)
def test_a_token_mistake_is_401_with_0x0229(sandbox, describe, kwargs):
    response = requests.post(sandbox.mtsms_url, timeout=5, **kwargs)

    error = error_of(response, 401)
    assert error["code"] == "0x0229"
    assert SANDBOX_TOKEN not in response.text
    assert sandbox.store.count_received() == 0


def test_a_wrong_oauth_signature_is_401(sandbox):
    url, headers, body = _oauth_signed(sandbox.mtsms_url, json.dumps(sms()), sandbox.token, "guess")

    error = error_of(requests.post(url, data=body, headers=headers, timeout=5), 401)

    assert error["code"] == "0x0229"


def test_authentication_comes_before_validation(sandbox):
    response = requests.post(sandbox.mtsms_url, json={"message": ""}, timeout=5)

    error_of(response, 401)


# -- limits -------------------------------------------------------------------------------


def test_more_than_40_open_connections_from_one_ip_are_refused_with_429(sandbox, poll):
    idle = [socket.create_connection((sandbox.host, sandbox.port)) for _ in range(40)]
    try:
        refused = post(sandbox, sms())

        error = error_of(refused, 429)
        assert error["variables"] == ["127.0.0.1", "40"]
        assert sandbox.store.count_received() == 0
    finally:
        for connection in idle:
            connection.close()
    assert poll(lambda: post(sandbox, sms()).status_code == 200)


# -- credit, status, account ------------------------------------------------------------------


def test_insufficient_credit_is_403_with_0x0216_and_stores_nothing(sandbox):
    sandbox.config.credit = Decimal("0.20")

    error = error_of(post(sandbox, sms(recipients=[{"msisdn": DK}, {"msisdn": DK2}])), 403)

    assert error["code"] == "0x0216"
    assert sandbox.store.count_received() == 0
    assert post(sandbox, sms()).status_code == 200  # 0.15 still fits
    assert error_of(post(sandbox, sms(dry_run=True)), 403)["code"] == "0x0216"


def test_a_request_from_an_ip_not_allowed_is_403_with_0x0213(sandbox):
    sandbox.config.allowed_ips = ["192.0.2.1"]

    error = error_of(post(sandbox, sms()), 403)

    assert (error["code"], error["variables"]) == ("0x0213", ["127.0.0.1"])
    sandbox.config.allowed_ips = ["127.0.0.1"]
    assert post(sandbox, sms()).status_code == 200


def test_account_balance_goes_down_by_what_was_sent(sandbox):
    before = requests.get(f"{sandbox.url}/rest/me", auth=(sandbox.token, ""), timeout=5)
    post(sandbox, sms(recipients=[{"msisdn": DK}, {"msisdn": SE}]))
    after = requests.get(f"{sandbox.url}/rest/me", auth=(sandbox.token, ""), timeout=5)

    assert set(after.json()) == {"credit", "currency", "id"}
    spent = before.json(parse_float=Decimal)["credit"] - after.json(parse_float=Decimal)["credit"]
    assert spent == Decimal("0.40")


def test_the_account_endpoint_needs_the_token(sandbox):
    assert error_of(requests.get(f"{sandbox.url}/rest/me", timeout=5), 401)["code"] == "0x0229"


def test_status_lists_each_recipient_with_its_delivery_status(sandbox, poll):
    message_id = post(sandbox, sms(recipients=[{"msisdn": DK}, {"msisdn": SE}])).json()["ids"][0]

    def delivered():
        status = requests.get(
            f"{sandbox.mtsms_url}/{message_id}",
            headers={"Authorization": f"Token {sandbox.token}"},
            timeout=5,
        ).json()
        final = all(r["dsnstatus"] not in ("ENROUTE", "SCHEDULED") for r in status["recipients"])
        return status if final else None

    status = poll(delivered)
    assert status["id"] == message_id
    assert [r["msisdn"] for r in status["recipients"]] == [int(DK), int(SE)]
    for recipient in status["recipients"]:
        assert {"dsnstatus", "dsnerror", "dsntime"} <= set(recipient)
        assert isinstance(recipient["dsntime"], int)


def test_status_of_an_unknown_message_is_404(sandbox):
    response = requests.get(f"{sandbox.mtsms_url}/999", auth=(sandbox.token, ""), timeout=5)

    assert error_of(response, 404)["variables"] == ["999"]


def test_a_sendtime_in_the_future_is_held_until_due(sandbox, poll):
    due = int(time.time()) + 1
    message_id = post(sandbox, sms(sendtime=due)).json()["ids"][0]

    assert sandbox.store.message(message_id)["recipients"][0]["status"] == "SCHEDULED"
    assert sandbox.store.inbox() == []
    sent = poll(lambda: sandbox.store.inbox(), timeout=5)
    assert sent[0]["message_id"] == message_id
    assert sent[0]["sent_at"].timestamp() >= due


def test_a_scheduled_message_can_be_cancelled_and_is_refunded(sandbox):
    message_id = post(sandbox, sms(sendtime=int(time.time()) + 3600)).json()["ids"][0]
    url = f"{sandbox.mtsms_url}/{message_id}"

    assert requests.delete(url, auth=(sandbox.token, ""), timeout=5).status_code == 204
    assert sandbox.store.message(message_id)["recipients"][0]["status"] == "DELETED"
    assert sandbox.store.spent() == 0
    error_of(requests.delete(url, auth=(sandbox.token, ""), timeout=5), 422)


# -- routing and the admin endpoint ---------------------------------------------------------


def test_an_unknown_path_is_a_404_in_the_error_shape(sandbox):
    error_of(requests.post(f"{sandbox.url}/rest/nothing", timeout=5), 404)


def test_a_wrong_method_is_a_405_in_the_error_shape(sandbox):
    error_of(requests.get(sandbox.mtsms_url, auth=(sandbox.token, ""), timeout=5), 405)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/rest/mtsms", "POST"),
        ("HEAD", "/rest/me", "GET"),
        ("PUT", "/rest/mtsms/1000001", "GET/DELETE"),
        ("DELETE", "/_sandbox/faults", "GET/POST"),
    ],
)
def test_a_405_names_the_methods_the_path_takes(sandbox, method, path, allowed):
    response = requests.request(method, sandbox.url + path, auth=(sandbox.token, ""), timeout=5)

    assert response.status_code == 405
    if method != "HEAD":
        assert error_of(response, 405)["variables"] == [method, allowed]


@pytest.mark.parametrize(
    "path", ["/sms/mtsms/", "/rest/mtsms/12x", "/rest/mtsms/1234567890123456789", "/rest/me/1"]
)
def test_paths_outside_the_contract_are_404(sandbox, path):
    response = requests.post(sandbox.url + path, json=sms(token=sandbox.token), timeout=5)

    assert error_of(response, 404)["variables"] == [path]
    assert sandbox.store.count_received() == 0


def test_message_and_account_paths_take_a_trailing_slash(sandbox):
    message_id = post(sandbox, sms()).json()["ids"][0]

    for path in (f"/rest/mtsms/{message_id}/", f"/rest/mtsms/00{message_id}", "/rest/me/"):
        response = requests.get(sandbox.url + path, auth=(sandbox.token, ""), timeout=5)
        assert response.status_code == 200, (path, response.text)


def test_faults_can_be_set_over_http_with_the_token(sandbox):
    response = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"token": sandbox.token, "error_share": 1},
        timeout=5,
    )

    assert response.status_code == 200, response.text
    assert response.json()["error_share"] == 1.0
    assert error_of(post(sandbox, sms()), 500)["message"]
    assert sandbox.store.count_received() == 0


def test_faults_need_the_token_and_valid_settings(sandbox):
    url = f"{sandbox.url}/_sandbox/faults"

    error_of(requests.post(url, json={"error_share": 1}, timeout=5), 401)
    error_of(requests.post(url, json={"error_share": 2}, auth=(sandbox.token, ""), timeout=5), 400)
    error_of(requests.post(url, json={"prices": {}}, auth=(sandbox.token, ""), timeout=5), 400)
    assert sandbox.config.error_share == 0
