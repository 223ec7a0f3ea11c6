"""The sandbox's WSGI application: routes, fault injection, sending, status, cancel, balance.

It ties the other modules together for one request: authenticate (auth), read and validate
(parsing), price (webapp.gateway.pricing), store (store), hand over to the delivery simulator,
and answer in the contract's shapes (errors). The server that runs it is in server.py.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from werkzeug.exceptions import NotFound, RequestEntityTooLarge
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from mtsms_sandbox.auth import Authenticator
from mtsms_sandbox.config import SandboxConfig, SandboxStats
from mtsms_sandbox.deliveries import DeliverySimulator
from mtsms_sandbox.errors import (
    INSUFFICIENT_CREDIT,
    ApiError,
    invalid,
    json_response,
)
from mtsms_sandbox.parsing import ParsedSms, parse_json, parse_sms, read_sms_objects
from mtsms_sandbox.store import (
    SCHEDULED,
    CreditExhausted,
    NewMessage,
    SandboxStore,
)
from webapp.gateway.pricing import PricedMessage, price_message

logger = logging.getLogger(__name__)

_MAX_BODY_BYTES = 32 * 1024 * 1024
OVER_LIMIT_KEY = "sandbox.over_connection_limit"  # set in the environ by the server
FAULTS_PATH = "/_sandbox/faults"


class _MessageId(BaseConverter):
    """A message id in a path: 1 to 18 digits."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)


# Each path the contract names, with and without the slash where the API family takes both
# (strict slashes: any other spelling is a 404, never a redirect). Rules carry no methods
# because werkzeug adds HEAD to every GET rule; SandboxApp checks methods per endpoint.
ROUTES = Map(
    [
        *(
            Rule(path, endpoint="send")
            for path in ("/sms/mtsms", "/v2/mtsms/", "/v2/mtsms", "/rest/mtsms", "/rest/mtsms/")
        ),
        Rule("/rest/mtsms/<message_id:message_id>", endpoint="message"),
        Rule("/rest/mtsms/<message_id:message_id>/", endpoint="message"),
        Rule("/rest/me", endpoint="balance"),
        Rule("/rest/me/", endpoint="balance"),
        Rule(FAULTS_PATH, endpoint="faults"),
    ],
    converters={"message_id": _MessageId},
    merge_slashes=False,
)


class _DropConnection(Exception):
    """Fault injection: the message was stored, the client must never see the answer."""


class SandboxApp:
    """The WSGI application: routing, authentication, validation, pricing, storing, faults."""

    def __init__(
        self,
        store: SandboxStore,
        config: SandboxConfig,
        token: str,
        secret: str,
        stats: SandboxStats,
        deliveries: DeliverySimulator,
        stopping: threading.Event,
    ) -> None:
        self.store = store
        self.config = config
        self.stats = stats
        self._auth = Authenticator(token, secret, config)
        self._deliveries = deliveries
        self._stopping = stopping
        self._random = random.Random(config.seed)
        self._random_lock = threading.Lock()
        self._endpoints: dict[str, dict[str, Callable[..., Response]]] = {
            "send": {"POST": self._send},
            "message": {"GET": self._status, "DELETE": self._cancel},
            "balance": {"GET": self._balance},
            "faults": {"GET": self._faults, "POST": self._faults},
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        request.max_content_length = _MAX_BODY_BYTES
        self.stats.enter()
        try:
            response = self._respond(request, environ)
        finally:
            self.stats.leave()
        return response(environ, start_response)

    def _respond(self, request: Request, environ: dict[str, Any]) -> Response:
        if environ.get(OVER_LIMIT_KEY):
            response = ApiError(
                429,
                "Too many open connections from %1: at most %2 per IP address",
                [request.remote_addr, self.config.max_connections_per_ip],
            ).response()
            response.headers["Connection"] = "close"
            return response
        try:
            return self._dispatch(request)
        except ApiError as error:
            return error.response()
        except RequestEntityTooLarge:
            return ApiError(
                413, "The request body is larger than %1 bytes", [_MAX_BODY_BYTES]
            ).response()
        except _DropConnection:
            _drop(environ)
            return Response(b"", status=500)
        except Exception as error:  # the contract: a 500 with the exception details in the body
            failure = ApiError(500, "Internal error: %1", [type(error).__name__])
            logger.exception(
                "Sandbox failed on %s %s (incident %s)",
                request.method, request.path, failure.incident_uuid,
            )  # fmt: skip
            return failure.response()

    def _dispatch(self, request: Request) -> Response:
        # Read the body once and keep it: form parsing and the OAuth signature both need it.
        request.get_data(cache=True)
        try:
            endpoint, arguments = ROUTES.bind_to_environ(request.environ).match()
        except NotFound:
            raise ApiError(404, "No such endpoint: %1", [request.path]) from None
        handlers = self._endpoints[endpoint]
        handler = handlers.get(request.method)
        if handler is None:
            raise ApiError(
                405, "Method %1 is not allowed here; use %2", [request.method, "/".join(handlers)]
            )
        if endpoint != "faults":  # /_sandbox/faults answers even while faults are injected
            self._inject_faults_before()
        return handler(request, **arguments)

    # -- faults --

    def _roll(self, share: float) -> bool:
        if share <= 0:
            return False
        with self._random_lock:
            return self._random.random() < share

    def _inject_faults_before(self) -> None:
        config = self.config
        if config.latency_seconds > 0:
            self._stopping.wait(config.latency_seconds)
        if self._roll(config.error_share):
            raise ApiError(500, "Internal error: %1", ["injected failure (error_share)"])
        if self._roll(config.timeout_share):
            self._stopping.wait(config.hang_seconds)
        if self._stopping.is_set():
            raise ApiError(503, "The sandbox is shutting down")

    def _faults(self, request: Request) -> Response:
        changes: dict[str, Any] = {}
        body_tokens = []
        if request.method == "POST":
            raw = request.get_data()
            changes = parse_json(raw) if raw.strip() else {}
            if not isinstance(changes, dict):
                raise invalid("body", "must be a JSON object of settings")
            if "token" in changes:
                body_tokens.append(changes.pop("token"))
        self._auth.authenticate(request, body_tokens, check_ip=False)
        try:
            self.config.update(changes)
        except ValueError as error:
            raise ApiError(400, "Invalid fault settings: %1", [str(error)]) from None
        if changes:
            logger.info("Sandbox settings changed: %s", sorted(changes))
        return json_response(self.config.faults())

    # -- sending --

    def _send(self, request: Request) -> Response:
        objects, tokens = read_sms_objects(request)
        self._auth.authenticate(request, tokens)
        many = len(objects) > 1
        parsed = [parse_sms(obj, f"{index}." if many else "") for index, obj in enumerate(objects)]
        dry_runs = {sms.dry_run for sms in parsed}
        if len(dry_runs) > 1:
            raise invalid("dry_run", "must be the same for every SMS of one request")
        dry_run = dry_runs.pop()
        priced = [self._price(sms) for sms in parsed]
        total = sum((p.total_cost for p in priced), Decimal(0))
        if dry_run:
            remaining = self.config.credit - self.store.spent()
            if total > remaining:
                raise ApiError(403, "Insufficient credit", code=INSUFFICIENT_CREDIT)
            return json_response(self._answer([], parsed, priced))
        now = time.time()
        records = [_record(sms, price) for sms, price in zip(parsed, priced, strict=True)]
        try:
            ids = self.store.add_messages(records, credit=self.config.credit, now=now)
        except CreditExhausted:
            raise ApiError(403, "Insufficient credit", code=INSUFFICIENT_CREDIT) from None
        for message_id, sms in zip(ids, parsed, strict=True):
            self._deliveries.accepted(message_id, sms.sendtime, now)
        if self._roll(self.config.lost_response_share):
            logger.info("Sandbox stored messages %s and loses the response (fault injection)", ids)
            if self.config.lost_response_mode == "drop":
                raise _DropConnection
            raise ApiError(500, "Internal error: %1", ["injected failure after accepting"])
        return json_response(self._answer(ids, parsed, priced))

    def _price(self, sms: ParsedSms) -> PricedMessage:
        try:
            priced = price_message(
                sms.message,
                sms.recipients,
                tags=sms.tags,
                encoding=sms.encoding,
                table=self.config.prices,
            )
        except ValueError as error:
            raise invalid("message", str(error)) from None
        if sms.max_parts is not None:
            longest = max(r.parts for r in priced.recipients)
            if longest > sms.max_parts:
                raise ApiError(
                    400,
                    "The message needs %1 parts, more than max_parts %2",
                    [longest, sms.max_parts],
                )
        return priced

    def _answer(
        self, ids: list[int], parsed: list[ParsedSms], priced: list[PricedMessage]
    ) -> dict[str, Any]:
        countries: dict[str, int] = {}
        for price in priced:
            for country, parts in price.countries.items():
                countries[country] = countries.get(country, 0) + parts
        answer: dict[str, Any] = {
            "ids": ids,
            "usage": {
                "countries": countries,
                "currency": self.config.prices.currency,
                "total_cost": sum((p.total_cost for p in priced), Decimal(0)),
            },
        }
        detailed = [
            {
                "id": ids[index] if ids else None,
                "recipients": [
                    {"country": r.country, "msisdn": int(r.msisdn), "parts": r.parts}
                    for r in priced[index].recipients
                ],
            }
            for index, sms in enumerate(parsed)
            if sms.extra_details == "recipients_usage"
        ]
        if detailed:
            answer["details"] = {"messages": detailed}
        return answer

    # -- status, cancel, balance --

    def _status(self, request: Request, message_id: int) -> Response:
        self._auth.authenticate(request)
        message = self.store.message(message_id)
        if message is None:
            raise ApiError(404, "No message with id %1", [message_id])
        recipients = [
            {
                "msisdn": int(r["msisdn"]),
                "country": r["country"],
                "parts": r["parts"],
                "dsnstatus": r["status"],
                "dsnerror": r["error"],
                "dsnerrorcode": r["code"],
                "dsntime": int(r["status_time"]) if r["status"] != SCHEDULED else None,
            }
            for r in message["recipients"]
        ]
        body = {
            "id": message["id"],
            "message": message["message"],
            "sender": message["sender"],
            "label": message["label"],
            "userref": message["userref"],
            "callback_url": message["callback_url"],
            "sendtime": message["sendtime"],
            "encoding": message["encoding"] or "UTF8",
            "tags": message["tags"],
            "total_cost": message["total_cost"],
            "currency": message["currency"],
            "recipients": recipients,
            **message["options"],
        }
        return json_response(body)

    def _cancel(self, request: Request, message_id: int) -> Response:
        self._auth.authenticate(request)
        if self.store.message(message_id) is None:
            raise ApiError(404, "No message with id %1", [message_id])
        if not self.store.cancel(message_id):
            raise ApiError(
                422, "Message %1 is not scheduled any more and cannot be cancelled", [message_id]
            )
        return Response(status=204)

    def _balance(self, request: Request) -> Response:
        self._auth.authenticate(request)
        remaining = self.config.credit - self.store.spent()
        return json_response(
            {"credit": remaining, "currency": self.config.prices.currency, "id": 1}
        )


def _record(sms: ParsedSms, price: PricedMessage) -> NewMessage:
    return NewMessage(
        message=sms.message,
        recipients=price.recipients,
        total_cost=price.total_cost,
        currency=price.currency,
        sender=sms.sender,
        label=sms.label,
        encoding=sms.encoding,
        tags=sms.tags,
        sendtime=sms.sendtime,
        callback_url=sms.callback_url,
        userref=sms.userref,
        options=sms.options,
    )


def _drop(environ: dict[str, Any]) -> None:
    """Abort the TCP connection so the client sees it break instead of an answer."""
    connection = environ.get("werkzeug.socket")
    if connection is None:
        return
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError as error:  # already gone: the client sees a broken connection either way
        logger.debug("Dropping the connection: %s", error)
