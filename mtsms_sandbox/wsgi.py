"""A local, faithful mtsms gateway: a real HTTP server speaking the contract of mtsms-api.md.

Code that passes against it should pass against the real gateway, so it is strict:

Paths (served from the root): POST /sms/mtsms, /v2/mtsms/ (and /v2/mtsms), /rest/mtsms;
GET /rest/mtsms/<id> (per-recipient dsnstatus, dsnerror, dsnerrorcode, dsntime);
DELETE /rest/mtsms/<id> (cancel a still-scheduled message, refunded); GET /rest/me (balance).

Authentication, all five modes of the API family: `token` in the JSON body (every SMS object
of a list may carry it), `?token=` in the query, a `token` form field, HTTP Basic with the token
as user name and an empty password, `Authorization: Token <token>`, and two-legged OAuth 1.0a
(HMAC-SHA1 `Authorization: OAuth ...` header, consumer key = token, consumer secret = the
configured secret, by default the token; verified by oauthlib, nonces not reusable). Every
credential given must be right; a wrong or missing one answers 401 with code 0x0229.

Request formats: a JSON body whose root is one SMS object or a list of them (the query may then
carry only `token`); or ONE SMS object as form fields and/or query arguments, using dotted
indices for arrays: `message=Hi&recipients.0.msisdn=4512345678&recipients.1.msisdn=...`,
`tags.0=%name%`, `recipients.0.tagvalues.0=Anne` (indices give the order; each key once).

Errors are the contract's JSON `{"code", "message", "variables", "incident_uuid"}` (`code` and
`variables` left out when empty; `%1` in `message` refers to `variables`): 400 invalid arguments
(0x0222 missing parameter, 0x0220 unsupported parameter, too many recipients, bad sender, bad
msisdn, tags/tagvalues mismatch, bad values), 401 (0x0229), 403 (0x0216 insufficient credit;
0x0213 when SandboxConfig.allowed_ips is set and the client's IP is not in it),
404, 405, 413, 422 (invalid JSON; 0x0310 duplicated msisdn), 429 (more than 40 open connections
from one client IP: the connection is answered and closed, nothing is processed), 500.

dry_run ("1", 1, true, "true"): validated and priced exactly like a send (including the credit
check), answered with `"ids": []`, nothing stored or sent. Prices: segments (webapp.sms, after
tag replacement) x price per country (webapp.gateway.pricing). `sendtime` holds a message as
SCHEDULED until due. Delivery reports, fault injection and limits are configured with
SandboxConfig, mutable at runtime, or POST /_sandbox/faults (JSON, same authentication).

It runs in its own threaded server (daemon threads) on its own port, so a dashboard served
single-threaded that calls it over HTTP never waits on itself; delivery reports are posted from
a background pool, never from a request thread. What it receives is kept in SQLite
(SandboxStore) and survives a restart; scheduled and undelivered messages resume on start.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from mtsms_sandbox.auth import Authenticator
from mtsms_sandbox.config import FAILURES, SandboxConfig, SandboxStats
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
    StatusChange,
)
from webapp.gateway.client import MtsmsClient
from webapp.gateway.numbers import calling_code_of
from webapp.gateway.pricing import PricedMessage, price_message
from webapp.gateway.reports import SIGNATURE_HEADER, is_final, sign_delivery_report

__all__ = ["RunningSandbox", "SandboxConfig", "SandboxStats", "serve_sandbox", "start_sandbox"]

logger = logging.getLogger(__name__)

SEND_PATHS = frozenset({"/sms/mtsms", "/v2/mtsms/", "/v2/mtsms", "/rest/mtsms", "/rest/mtsms/"})
FAULTS_PATH = "/_sandbox/faults"
_MESSAGE_PATH = re.compile(r"/rest/mtsms/([0-9]{1,18})/?")
_MAX_BODY_BYTES = 32 * 1024 * 1024
_OVER_LIMIT = "sandbox.over_connection_limit"


_CHARGE_STATUS = {"DELIVERED": "CAPTURED", "UNDELIVERABLE": "CAPTURED", "EXPIRED": "CAPTURED"}


# -- parsing and validating SMS objects ----------------------------------------------------


# -- the WSGI application -----------------------------------------------------------------


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
        deliveries: _DeliverySimulator,
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
        if environ.get(_OVER_LIMIT):
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
            incident = str(uuid.uuid4())
            logger.exception(
                "Sandbox failed on %s %s (incident %s)", request.method, request.path, incident
            )
            body = {
                "message": "Internal error: %1",
                "variables": [type(error).__name__],
                "incident_uuid": incident,
            }
            return json_response(body, 500)

    def _dispatch(self, request: Request) -> Response:
        # Read the body once and keep it: form parsing and the OAuth signature both need it.
        request.get_data(cache=True)
        path = request.path
        if path in SEND_PATHS:
            self._require_method(request, "POST")
            self._inject_faults_before()
            return self._send(request)
        match = _MESSAGE_PATH.fullmatch(path)
        if match:
            self._require_method(request, "GET", "DELETE")
            self._inject_faults_before()
            self._auth.authenticate(request, [])
            if request.method == "DELETE":
                return self._cancel(int(match.group(1)))
            return self._status(int(match.group(1)))
        if path in ("/rest/me", "/rest/me/"):
            self._require_method(request, "GET")
            self._inject_faults_before()
            self._auth.authenticate(request, [])
            remaining = self.config.credit - self.store.spent()
            return json_response(
                {"credit": remaining, "currency": self.config.prices.currency, "id": 1}
            )
        if path == FAULTS_PATH:
            self._require_method(request, "GET", "POST")
            return self._faults(request)
        raise ApiError(404, "No such endpoint: %1", [path])

    @staticmethod
    def _require_method(request: Request, *methods: str) -> None:
        if request.method not in methods:
            raise ApiError(
                405, "Method %1 is not allowed here; use %2", [request.method, "/".join(methods)]
            )

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

    # -- status --

    def _status(self, message_id: int) -> Response:
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

    def _cancel(self, message_id: int) -> Response:
        if self.store.message(message_id) is None:
            raise ApiError(404, "No message with id %1", [message_id])
        if not self.store.cancel(message_id):
            raise ApiError(
                422, "Message %1 is not scheduled any more and cannot be cancelled", [message_id]
            )
        return Response(status=204)


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


# -- delivery simulation --------------------------------------------------------------------


class _DeliverySimulator:
    """Moves accepted messages through their statuses and posts delivery reports.

    One scheduler thread keeps a heap of due actions (a scheduled message going out, a
    message's final statuses, a report's retry); reports are posted by a thread pool, so no
    request ever waits on a callback URL.
    """

    def __init__(
        self, store: SandboxStore, config: SandboxConfig, stopping: threading.Event
    ) -> None:
        self._store = store
        self._config = config
        self._stopping = stopping
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._random = random.Random(config.seed)
        self._random_lock = threading.Lock()
        self._sessions = threading.local()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.report_workers), thread_name_prefix="sandbox-reports"
        )
        self._thread = threading.Thread(target=self._run, name="sandbox-deliveries", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._resume()

    def stop(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._thread.join(timeout=2)

    def accepted(self, message_id: int, sendtime: int | None, now: float) -> None:
        """Plan a just-stored message: out at its sendtime, final statuses a delay later."""
        if sendtime is not None and sendtime > now:
            self._at(sendtime, lambda: self._send_due(message_id))
        else:
            self._at(now + self._config.report_delay_seconds, lambda: self._finish(message_id))

    def _resume(self) -> None:
        now = time.time()
        for message in self._store.pending():
            message_id = message["id"]
            if self._store.recipients_of(message_id, [SCHEDULED]):
                self._at(
                    max(now, message["sendtime"] or now), lambda m=message_id: self._send_due(m)
                )
            else:
                delay = self._config.report_delay_seconds
                self._at(now + delay, lambda m=message_id: self._finish(m))

    def _at(self, due: float, action: Callable[[], None]) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (due, next(self._order), action))
            self._wakeup.notify()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._wakeup:
                if not self._heap:
                    self._wakeup.wait(timeout=1.0)
                    continue
                due, _, action = self._heap[0]
                wait = due - time.time()
                if wait > 0:
                    self._wakeup.wait(timeout=min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
            try:
                action()
            except Exception:  # one bad action must not stop deliveries of every other message
                if self._stopping.is_set():
                    return
                logger.exception("Sandbox delivery step failed")

    def _send_due(self, message_id: int) -> None:
        if self._store.mark_sent(message_id):
            self._at(
                time.time() + self._config.report_delay_seconds, lambda: self._finish(message_id)
            )

    def _finish(self, message_id: int) -> None:
        message = self._store.message(message_id)
        if message is None:
            return
        now = time.time()
        changes: list[StatusChange] = []
        reports: list[list[dict[str, Any]]] = []
        for recipient in message["recipients"]:
            if recipient["status"] == SCHEDULED or is_final(recipient["status"]):
                continue
            final_status, sequence = self._plan(recipient["sent_at"] or now, now)
            error, code = FAILURES.get(final_status, (None, None))
            changes.append(StatusChange(recipient["msisdn"], final_status, now, error, code))
            if message["callback_url"]:
                reports.append([_report(message, recipient, status, at) for status, at in sequence])
        self._store.record_statuses(message_id, changes)
        for start in range(0, len(reports), 100):
            chunk = reports[start : start + 100]
            self._pool.submit(self._post_chunk, message["callback_url"], chunk)

    def _plan(self, sent_at: float, now: float) -> tuple[str, list[tuple[str, float]]]:
        """The final outcome, and the reports: ENROUTE, sometimes BUFFERED, the outcome;
        sometimes the outcome again, or an earlier status arriving after it."""
        config = self._config
        with self._random_lock:
            outcomes = config.report_outcomes
            final = self._random.choices(list(outcomes), weights=list(outcomes.values()))[0]
            sequence = [("ENROUTE", sent_at)]
            if self._random.random() < config.report_buffered_share:
                sequence.append(("BUFFERED", (sent_at + now) / 2))
            sequence.append((final, now))
            if self._random.random() < config.report_disorder_share:
                if self._random.random() < 0.5:
                    sequence.append((final, now))  # the same report again
                else:
                    sequence.append(sequence[-2])  # an earlier status arriving late
        return final, sequence

    def _post_chunk(self, url: str, chunk: list[list[dict[str, Any]]]) -> None:
        for sequence in chunk:
            for report in sequence:
                if self._stopping.is_set():
                    return
                self._post(url, report, attempt=0)

    def _post(self, url: str, report: dict[str, Any], attempt: int) -> None:
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        headers = {"Content-Type": "application/json"}
        secret = self._config.webhook_secret
        if secret:
            headers[SIGNATURE_HEADER] = sign_delivery_report(report, secret)
        try:
            response = session.post(
                url,
                data=json.dumps(report),
                headers=headers,
                timeout=self._config.report_timeout_seconds,
            )
            outcome = f"HTTP {response.status_code}"
            delivered = 200 <= response.status_code < 300
            response.close()
        except requests.RequestException as error:
            outcome, delivered = type(error).__name__, False
        if delivered:
            return
        delays = self._config.report_retry_delays
        if attempt < len(delays) and not self._stopping.is_set():
            logger.info(
                "Delivery report for message %s to %s failed (%s); retry in %s s",
                report["id"], urlsplit(url).netloc, outcome, delays[attempt],
            )  # fmt: skip
            self._at(
                time.time() + delays[attempt],
                lambda: self._pool.submit(self._post, url, report, attempt + 1),
            )
        else:
            logger.warning(
                "Delivery report for message %s dropped after %s tries", report["id"], attempt + 1
            )


def _report(
    message: dict[str, Any], recipient: dict[str, Any], status: str, at: float
) -> dict[str, Any]:
    error, code = FAILURES.get(status, (None, None))
    return {
        "id": message["id"],
        "msisdn": int(recipient["msisdn"]),
        "time": int(at),
        "status": status,
        "error": error,
        "code": code,
        "userref": message["userref"],
        "country_code": recipient["country"],
        "country_prefix": calling_code_of(recipient["msisdn"]),
        "charge_status": _CHARGE_STATUS.get(status, "AUTHORIZED"),
    }


# -- the server -----------------------------------------------------------------------------


class _ConnectionTracker:
    """Open connections per client IP, to enforce the contract's 40-connection limit."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._per_ip: dict[str, int] = {}
        self._open: dict[socket.socket, tuple[str, bool]] = {}

    def opened(self, connection: socket.socket, ip: str) -> None:
        with self._lock:
            count = self._per_ip.get(ip, 0) + 1
            self._per_ip[ip] = count
            self._open[connection] = (ip, count > self._config.max_connections_per_ip)

    def closed(self, connection: socket.socket) -> None:
        with self._lock:
            entry = self._open.pop(connection, None)
            if entry is None:
                return
            ip = entry[0]
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]

    def over_limit(self, connection: socket.socket) -> bool:
        with self._lock:
            entry = self._open.get(connection)
        return bool(entry and entry[1])

    def close_all(self) -> None:
        """Shut every open connection, so no handler thread outlives the server."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError as error:  # closed by its handler meanwhile: nothing left to do
                logger.debug("Closing a sandbox connection: %s", error)


_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])token=)[^&\s\"]*")


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, marking over-limit connections and logging without tokens."""

    protocol_version = "HTTP/1.1"
    server: _SandboxServer

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[_OVER_LIMIT] = self.server.tracker.over_limit(self.connection)
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "")).path
        logger.debug(
            '%s "%s %s" %s', self.address_string(), getattr(self, "command", "-"), path, code
        )

    def log(self, type: str, message: str, *args: Any) -> None:
        text = message % args if args else message
        level = logging.ERROR if type == "error" else logging.INFO
        logger.log(level, "%s", _TOKEN_IN_QUERY.sub(r"\1[redacted]", text))


class _SandboxServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, counting open connections per client IP."""

    def __init__(
        self, listener: socket.socket, app: SandboxApp, tracker: _ConnectionTracker
    ) -> None:
        self.tracker = tracker
        host, port = listener.getsockname()[:2]
        super().__init__(host, port, app, handler=_RequestHandler, fd=listener.fileno())

    def process_request(self, request: Any, client_address: Any) -> None:
        self.tracker.opened(request, client_address[0])
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.tracker.closed(request)
        super().shutdown_request(request)

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.INFO
        logger.log(level, message, *args)


class RunningSandbox:
    """A sandbox serving in a daemon thread: its URLs, token, store, config, and stop()."""

    def __init__(
        self,
        *,
        server: _SandboxServer,
        thread: threading.Thread,
        app: SandboxApp,
        deliveries: _DeliverySimulator,
        stopping: threading.Event,
        token: str,
    ) -> None:
        host, port = server.server_address[:2]
        shown_host = f"[{host}]" if ":" in host else host
        self.host = host
        self.port = port
        self.url = f"http://{shown_host}:{port}"
        self.mtsms_url = f"{self.url}/rest/mtsms"
        self.token = token
        self.store = app.store
        self.config = app.config
        self.stats = app.stats
        self._server = server
        self._thread = thread
        self._deliveries = deliveries
        self._stopping = stopping
        self._tracker = server.tracker

    def __repr__(self) -> str:
        return f"RunningSandbox(url={self.url!r}, storage={str(self.store.path)!r})"

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, **options: Any) -> MtsmsClient:
        """An MtsmsClient for this sandbox (options: timeout, max_connections)."""
        return MtsmsClient(self.mtsms_url, self.token, **options)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server stops (or `timeout` passes)."""
        self._thread.join(timeout)

    def _wake_accept_loop(self) -> None:
        # The accept loop notices shutdown at its next poll; a connection wakes it at once.
        try:
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError as error:  # not accepting any more: it is stopping anyway
            logger.debug("Waking the sandbox's accept loop: %s", error)

    def stop(self) -> None:
        """Stop serving, close open connections and background threads, close the store."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        stopper = threading.Thread(target=self._server.shutdown, name="sandbox-stop")
        stopper.start()
        self._wake_accept_loop()
        stopper.join()
        self._server.server_close()
        self._tracker.close_all()
        self._deliveries.stop()
        self._thread.join(timeout=2)
        self.store.close()


def start_sandbox(
    storage_path: str | Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    secret: str | None = None,
    config: SandboxConfig | None = None,
) -> RunningSandbox:
    """Start the sandbox on `host:port` (0: a free port) in a daemon thread and return it.

    `token` is the one API token it accepts (generated when None: read it from the result);
    `secret` is the OAuth 1.0a consumer secret (default: the token). Raises OSError when the
    port is taken.
    """
    token = token or secrets.token_urlsafe(32)
    config = config or SandboxConfig()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=128)
    store = SandboxStore(storage_path)
    stopping = threading.Event()
    stats = SandboxStats()
    deliveries = _DeliverySimulator(store, config, stopping)
    app = SandboxApp(store, config, token, secret or token, stats, deliveries, stopping)
    try:
        server = _SandboxServer(listener, app, _ConnectionTracker(config))
    finally:
        listener.close()  # the server works on its own duplicate of the socket
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="sandbox-server",
        daemon=True,
    )
    thread.start()
    deliveries.start()
    running = RunningSandbox(
        server=server, thread=thread, app=app, deliveries=deliveries, stopping=stopping, token=token
    )
    logger.info("Sandbox gateway serving %s (storage %s)", running.mtsms_url, store.path)
    return running


def serve_sandbox(
    storage_path: str | Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    secret: str | None = None,
    config: SandboxConfig | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C (for `flask sandbox --port N --token T`).

    `announce` gets the URL to point SMS_GATEWAY_URL at, and the token when it was generated
    here (the operator needs it; a token they passed in is not repeated).
    """
    running = start_sandbox(
        storage_path, host=host, port=port, token=token, secret=secret, config=config
    )
    announce(f"Sandbox mtsms gateway: {running.mtsms_url} (also /sms/mtsms, /v2/mtsms/)")
    if token is None:
        announce(f"Generated API token: {running.token}")
    try:
        while running.running:
            running.wait(timeout=0.5)
    except KeyboardInterrupt:
        announce("Stopping the sandbox.")
    finally:
        running.stop()
