"""The mtsms client over real HTTP: typed results, validation, typed errors, limits, no leaks."""

from __future__ import annotations

import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import gateway_client

from webapp.gateway import (
    BadRequest,
    Balance,
    Forbidden,
    GatewayConnectionLost,
    GatewayError,
    GatewayProtocolError,
    GatewayServerError,
    GatewayTimeout,
    GatewayUnavailable,
    InsufficientCredit,
    InvalidMessage,
    MtsmsClient,
    NotFound,
    Recipient,
    SmsMessage,
    TooManyConnections,
    Unauthorized,
    Unprocessable,
)

DK = "4520123456"
SE = "46701234567"


def message(*msisdns: str, **fields) -> SmsMessage:
    recipients = [Recipient(m) for m in (msisdns or (DK,))]
    return SmsMessage(fields.pop("text", "Hello"), recipients, **fields)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CannedGateway:
    """A loopback HTTP server answering every request with one canned response, and recording."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.content_type = "application/json"
        self.requests: list[dict] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                canned.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(canned.status)
                self.send_header("Content-Type", canned.content_type)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            do_GET = do_POST = _answer

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    def answer(self, status: int, body, content_type: str = "application/json") -> None:
        self.status = status
        self.body = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.content_type = content_type

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def canned():
    gateway = CannedGateway()
    yield gateway
    gateway.stop()


@pytest.fixture
def client(sandbox):
    with gateway_client(sandbox, timeout=(2, 5)) as connected:
        yield connected


# -- sending ------------------------------------------------------------------------------


def test_send_returns_the_message_id_and_typed_usage(sandbox, client):
    result = client.send(message(DK, SE, text="x" * 161, label="Spring sale"))

    assert result.ids == [1_000_001]
    assert result.message_id == 1_000_001
    assert result.usage.countries == {"DK": 2, "SE": 2}
    assert result.usage.currency == "DKK"
    assert result.usage.total_cost == Decimal("0.80")
    assert isinstance(result.usage.raw["total_cost"], Decimal)
    assert sandbox.store.count_received(label="Spring sale") == 2


def test_a_dry_run_prices_without_sending(sandbox, client):
    result = client.send(message(DK, SE), dry_run=True)

    assert (result.ids, result.message_id, result.dry_run) == ([], None, True)
    assert result.usage.total_cost == Decimal("0.40")
    assert sandbox.store.count_received() == 0


def test_tagvalues_are_sent_per_recipient(sandbox, client):
    sms = SmsMessage(
        "Hi %name%, code %code%",
        [Recipient(DK, ["Ann", "A1"]), Recipient(SE, ["Bo", "B2"])],
        tags=["%name%", "%code%"],
        extra_details="recipients_usage",
    )

    result = client.send(sms)

    assert sorted(r["text"] for r in sandbox.store.received_for()) == [
        "Hi Ann, code A1",
        "Hi Bo, code B2",
    ]
    assert result.details["messages"][0]["recipients"][0]["parts"] == 1


def test_ten_thousand_recipients_go_in_one_request(sandbox, client):
    recipients = [Recipient(str(4520000000 + i)) for i in range(10_000)]

    client.send(SmsMessage("Hello", recipients))

    assert sandbox.stats.requests == 1
    assert sandbox.store.count_received() == 10_000


def test_a_scheduled_message_is_held_by_the_gateway(sandbox, client):
    sendtime = datetime.fromtimestamp(4_000_000_000).astimezone()

    result = client.send(message(sendtime=sendtime))

    assert client.status(result.message_id)["recipients"][0]["dsnstatus"] == "SCHEDULED"


def test_status_and_balance_are_typed(client):
    message_id = client.send(message(DK, SE)).message_id

    status = client.status(message_id)
    balance = client.balance()

    assert status["id"] == message_id
    assert len(status["recipients"]) == 2
    assert balance == Balance(Decimal("999999.60"), "DKK")


@pytest.mark.parametrize("path", ["/sms/mtsms", "/v2/mtsms/", "/rest/mtsms"])
def test_status_and_balance_are_found_from_every_endpoint_form(sandbox, path):
    with MtsmsClient(sandbox.url + path, sandbox.token) as gateway_client:
        message_id = gateway_client.send(message()).message_id

        assert gateway_client.status(message_id)["id"] == message_id
        assert gateway_client.balance().currency == "DKK"


def test_the_token_travels_in_the_body_or_a_header_never_in_the_url(canned):
    canned.answer(200, {"ids": [7], "usage": {}})
    client = MtsmsClient(f"{canned.origin}/rest/mtsms", "secret-token-123")

    client.send(message())
    canned.answer(200, {"credit": 5, "currency": "DKK", "id": 1})
    client.balance()

    sent, asked = canned.requests
    assert json.loads(sent["body"])["token"] == "secret-token-123"
    assert "Authorization" not in sent["headers"]
    assert asked["headers"]["Authorization"] == "Token secret-token-123"
    assert all("secret-token-123" not in r["path"] for r in canned.requests)


# -- validation before sending -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sms", "complaint"),
    [
        (message(text=""), "empty"),
        (message(text="   "), "empty"),
        (SmsMessage("Hi", []), "no recipients"),
        (SmsMessage("Hi", [Recipient(str(4520000000 + i)) for i in range(10_001)]), "10,000"),
        (message(sender="TwelveChars1"), "Sender"),
        (message(sender="Info SMS"), "Sender"),
        (message(sender="1234567890123456"), "Sender"),
        (message("+4520123456"), "digits only"),
        (message("004520123456"), "not with 0"),
        (message("45 20 12 34 56"), "digits only"),
        (message("4520123456789012"), "at most 15"),
        (message("999123456"), "country code"),
        (message(DK, SE, DK), "more than once"),
        (SmsMessage("Hi %n%", [Recipient(DK)], tags=["%n%"]), "0 tagvalues for 1 tags"),
        (SmsMessage("Hi", [Recipient(DK, ["x"])]), "no tags"),
        (SmsMessage("Hi", [Recipient(DK, ["x"])], tags=["%n%", "%n%"]), "more than once"),
        (message(encoding="LATIN1"), "Encoding"),
        (message(sendtime=datetime(2030, 1, 1)), "timezone-aware"),
        (message(sendtime=-5), "sendtime"),
        (message(callback_url="reports.example.com"), "callback_url"),
        (message(extra_details="all"), "extra_details"),
        (message(text="bad \ud800 surrogate"), "surrogate"),
    ],
)
def test_a_message_breaking_a_rule_is_refused_before_any_request(sandbox, client, sms, complaint):
    with pytest.raises(InvalidMessage, match=complaint):
        client.send(sms)

    assert sandbox.stats.requests == 0


def test_invalid_message_is_a_value_error():
    assert issubclass(InvalidMessage, ValueError)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"max_connections": 41}, "1 to 40"),
        ({"max_connections": 0}, "1 to 40"),
        ({"max_connections": True}, "integer"),
        ({"timeout": (5, 0)}, "timeout"),
        ({"token": " "}, "token"),
        ({"base_url": "ftp://gw.example/rest/mtsms"}, "http"),
        ({"base_url": "gw.example/rest/mtsms"}, "http"),
        ({"base_url": "https://gw.example/rest/mtsms?token=abc"}, "query"),
    ],
)
def test_a_misconfigured_client_is_refused(arguments, complaint):
    settings = {"base_url": "https://gw.example/rest/mtsms", "token": "t0ken"} | arguments

    with pytest.raises(ValueError, match=complaint):
        MtsmsClient(settings.pop("base_url"), settings.pop("token"), **settings)


def test_forty_connections_is_the_most_allowed():
    assert (
        MtsmsClient("https://gw.example/rest/mtsms", "t", max_connections=40).max_connections == 40
    )


# -- errors from the gateway ---------------------------------------------------------------


def test_a_wrong_token_is_unauthorized_and_certainly_not_accepted(sandbox):
    client = MtsmsClient(sandbox.mtsms_url, "not-the-token")

    with pytest.raises(Unauthorized) as caught:
        client.send(message())

    error = caught.value
    assert (error.status, error.code, error.message) == (401, "0x0229", "Invalid token")
    assert error.may_have_been_accepted is False
    assert error.incident_uuid


def test_insufficient_credit_is_its_own_forbidden_error(sandbox, client):
    sandbox.config.credit = Decimal("0.10")

    with pytest.raises(InsufficientCredit) as caught:
        client.send(message())

    assert isinstance(caught.value, Forbidden)
    assert (caught.value.code, caught.value.may_have_been_accepted) == ("0x0216", False)


def test_an_ip_not_allowed_is_forbidden_with_the_gateways_message(sandbox, client):
    sandbox.config.allowed_ips = ["192.0.2.1"]

    with pytest.raises(Forbidden) as caught:
        client.send(message())

    assert caught.value.message == "Unauthorized IP-address: 127.0.0.1"
    assert (caught.value.code, caught.value.may_have_been_accepted) == ("0x0213", False)


def test_an_unknown_message_id_is_not_found(client):
    with pytest.raises(NotFound):
        client.status(42)


@pytest.mark.parametrize(
    ("status", "body", "error_class", "text", "accepted"),
    [
        (
            400,
            {"code": "0x0222", "message": "Missing parameter %1 near %2", "variables": ["a", "b"]},
            BadRequest,
            "Missing parameter a near b",
            False,
        ),
        (
            403,
            {"code": "0x0213", "message": "Unauthorized IP-address: %1", "variables": ["1.2.3.4"]},
            Forbidden,
            "Unauthorized IP-address: 1.2.3.4",
            False,
        ),
        (422, {"message": "Invalid JSON"}, Unprocessable, "Invalid JSON", False),
        (429, {"message": "Too many connections"}, TooManyConnections, "Too many", False),
        (
            500,
            {"message": "Internal error: %1", "variables": ["KeyError"]},
            GatewayServerError,
            "KeyError",
            True,
        ),
        (503, b"", GatewayServerError, "503", True),
        (418, {}, GatewayError, "418", False),
    ],
)
def test_each_error_status_becomes_its_typed_error(
    canned, status, body, error_class, text, accepted
):
    canned.answer(status, body)
    client = MtsmsClient(f"{canned.origin}/rest/mtsms", "tok")

    with pytest.raises(error_class) as caught:
        client.send(message())

    assert type(caught.value) is error_class
    assert text in caught.value.message
    assert caught.value.status == status
    assert caught.value.may_have_been_accepted is accepted


def test_an_html_error_page_still_reads_as_a_message(canned):
    page = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    canned.answer(502, page, "text/html")
    client = MtsmsClient(f"{canned.origin}/rest/mtsms", "tok")

    with pytest.raises(GatewayServerError) as caught:
        client.send(message())

    assert "502 Bad Gateway nginx" in caught.value.message
    assert "<" not in caught.value.message


@pytest.mark.parametrize(
    "body", [b"<html>OK</html>", json.dumps({"usage": {}}).encode(), json.dumps([1]).encode()]
)
def test_an_unreadable_success_may_have_been_accepted(canned, body):
    canned.answer(200, body)
    client = MtsmsClient(f"{canned.origin}/rest/mtsms", "tok")

    with pytest.raises(GatewayProtocolError) as caught:
        client.send(message())

    assert caught.value.may_have_been_accepted is True


def test_a_gateway_ignoring_dry_run_is_visible_in_the_result(canned, caplog):
    canned.answer(200, {"ids": [99], "usage": {"total_cost": 0.15}})
    client = MtsmsClient(f"{canned.origin}/rest/mtsms", "tok")

    result = client.send(message(), dry_run=True)

    assert (result.ids, result.dry_run) == ([99], True)
    assert "ignored dry_run" in caplog.text


def test_a_usage_of_another_shape_does_not_break_the_send(canned):
    canned.answer(200, {"ids": [5], "usage": {"amount": "12"}})
    client = MtsmsClient(f"{canned.origin}/rest/mtsms", "tok")

    usage = client.send(message()).usage

    assert (usage.countries, usage.currency, usage.total_cost) == ({}, None, None)
    assert usage.raw == {"amount": "12"}


# -- failures injected into the sandbox ------------------------------------------------------


def test_a_500_may_have_been_accepted(sandbox, client):
    sandbox.config.error_share = 1

    with pytest.raises(GatewayServerError) as caught:
        client.send(message())

    assert caught.value.may_have_been_accepted is True
    assert sandbox.store.count_received() == 0


def test_a_timeout_after_sending_may_have_been_accepted(sandbox, poll):
    sandbox.config.timeout_share = 1
    sandbox.config.hang_seconds = 0.4
    client = gateway_client(sandbox, timeout=(2, 0.1))

    with pytest.raises(GatewayTimeout) as caught:
        client.send(message())

    assert caught.value.may_have_been_accepted is True
    assert poll(lambda: sandbox.store.count_received() == 1)  # it was accepted, late


@pytest.mark.parametrize(
    ("mode", "error_class"), [("drop", GatewayConnectionLost), ("500", GatewayServerError)]
)
def test_an_accepted_message_whose_answer_is_lost_may_have_been_accepted(
    sandbox, client, mode, error_class
):
    sandbox.config.lost_response_share = 1
    sandbox.config.lost_response_mode = mode

    with pytest.raises(error_class) as caught:
        client.send(message())

    assert caught.value.may_have_been_accepted is True
    assert sandbox.store.count_received() == 1


def test_a_refused_connection_is_certainly_not_accepted():
    client = MtsmsClient(f"http://127.0.0.1:{free_port()}/rest/mtsms", "tok")

    with pytest.raises(GatewayUnavailable) as caught:
        client.send(message())

    assert caught.value.may_have_been_accepted is False
    assert "Could not connect" in caught.value.message


def test_an_unknown_host_is_certainly_not_accepted():
    client = MtsmsClient("http://gateway.invalid/rest/mtsms", "tok", timeout=(2, 2))

    with pytest.raises(GatewayUnavailable):
        client.send(message())


def test_added_latency_still_succeeds(sandbox, client):
    sandbox.config.latency_seconds = 0.05

    assert client.send(message()).message_id


# -- connection limit ------------------------------------------------------------------------


def test_never_more_than_max_connections_are_open_at_once(sandbox):
    sandbox.config.latency_seconds = 0.03
    client = gateway_client(sandbox, max_connections=2)
    numbers = [str(4520000000 + i) for i in range(16)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda m: client.send(message(m)), numbers))

    assert len({r.message_id for r in results}) == 16
    assert 1 <= sandbox.stats.peak_in_flight <= 2


# -- no token leaks --------------------------------------------------------------------------


def test_the_token_never_appears_in_logs_errors_or_reprs(sandbox, canned, caplog):
    caplog.set_level(logging.DEBUG)
    client = gateway_client(sandbox, timeout=(2, 0.2))
    errors: list[GatewayError] = []

    client.send(message())
    client.balance()
    client.status(1_000_001)
    for fault in ({"error_share": 1}, {"lost_response_share": 1}, {"timeout_share": 1}):
        sandbox.config.update({"error_share": 0, "lost_response_share": 0, "timeout_share": 0})
        sandbox.config.update(fault)
        sandbox.config.hang_seconds = 0.4
        with pytest.raises(GatewayError) as caught:
            client.send(message())
        errors.append(caught.value)
    canned.answer(400, {"message": f"Bad token {sandbox.token}", "variables": [sandbox.token]})
    with pytest.raises(BadRequest) as echoed:
        MtsmsClient(f"{canned.origin}/rest/mtsms", sandbox.token).send(message())
    errors.append(echoed.value)
    with pytest.raises(GatewayUnavailable) as refused:
        MtsmsClient(f"http://127.0.0.1:{free_port()}/rest/mtsms", sandbox.token).send(message())
    errors.append(refused.value)

    assert "urllib3" in caplog.text  # the HTTP layer's own debug lines were captured
    assert sandbox.token not in caplog.text
    assert sandbox.token not in repr(client)
    for error in errors:
        assert sandbox.token not in str(error)
        assert sandbox.token not in repr(error)
        assert sandbox.token not in " ".join(error.variables)
        # no chained requests exception (it holds the request, body and token included)
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
