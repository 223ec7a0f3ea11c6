"""The mtsms HTTP client: one pooled session, typed messages, typed errors, no token leaks.

Authentication follows the contract's recommendation: the token travels in the JSON body of a
send (and in an `Authorization: Token` header for the GET endpoints), never in a URL, a log
line, an exception or a repr. Every failure is a GatewayError whose `may_have_been_accepted`
tells the dispatcher whether a resend could deliver the message twice.
"""

from __future__ import annotations

import json
import logging
import re
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from webapp.gateway.errors import (
    GatewayConnectionLost,
    GatewayError,
    GatewayProtocolError,
    GatewayTimeout,
    GatewayUnavailable,
    error_for_status,
    fill_placeholders,
)
from webapp.gateway.messages import (
    Balance,
    Recipient,
    SendResult,
    SmsMessage,
    Usage,
    payload_json,
    validate_message,
)

__all__ = ["Balance", "MtsmsClient", "Recipient", "SendResult", "SmsMessage", "Usage"]

logger = logging.getLogger(__name__)

MAX_CONNECTIONS_CAP = 40  # the gateway rejects more than 40 open connections per client IP
DEFAULT_TIMEOUT = (5.0, 30.0)
_SNIPPET_LENGTH = 200
_HTML_TAG = re.compile(r"<[^>]+>")
_WHITESPACE = re.compile(r"\s+")


class MtsmsClient:
    """A client of one gateway endpoint, safe to share between up to `max_connections` threads.

    `base_url` is the full mtsms endpoint (e.g. https://gw.example/rest/mtsms); the status and
    account endpoints are derived from it. `timeout` is (connect, read) seconds. The pool
    blocks rather than open more than `max_connections` connections to the gateway.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_connections: int = 4,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}.")
        if parts.query or parts.username or parts.password:
            raise ValueError("base_url must not carry a query or credentials; pass the token.")
        if not isinstance(token, str) or not token.strip():
            raise ValueError("The API token is empty.")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ValueError("max_connections must be an integer.")
        if not 1 <= max_connections <= MAX_CONNECTIONS_CAP:
            raise ValueError(
                f"max_connections must be 1 to {MAX_CONNECTIONS_CAP} (the gateway's limit per IP), "
                f"got {max_connections}."
            )
        self._timeout = _check_timeout(timeout)
        self._token = token
        self.base_url = base_url
        self.max_connections = max_connections
        self._api_root = _api_root(parts)
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_connections, pool_block=True)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {"Accept": "application/json", "User-Agent": "sms-dashboard-mtsms-client/1"}
        )

    def __repr__(self) -> str:
        return f"MtsmsClient(base_url={self.base_url!r}, max_connections={self.max_connections})"

    def __enter__(self) -> MtsmsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def send(self, message: SmsMessage, dry_run: bool = False) -> SendResult:
        """Send one SMS object (up to 10,000 recipients); with `dry_run`, only validate and price.

        Raises InvalidMessage before any request for a message the contract forbids, and a
        GatewayError subclass when the gateway refuses or fails.
        """
        validate_message(message)
        extra: dict[str, Any] = {"dry_run": True} if dry_run else {}
        data = payload_json(message, **extra, token=self._token)
        body = self._request("POST", self.base_url, data=data)
        result = _send_result(body, dry_run=dry_run)
        if dry_run and result.ids:
            logger.warning("The gateway ignored dry_run and sent message ids %s.", result.ids)
        return result

    def status(self, message_id: int) -> dict[str, Any]:
        """The message with each recipient's delivery status (dsnstatus, dsnerror, dsntime)."""
        if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 0:
            raise ValueError(f"message_id must be a non-negative integer, got {message_id!r}.")
        body = self._request("GET", f"{self._api_root}/mtsms/{message_id}")
        if not isinstance(body, dict):
            raise GatewayProtocolError("The gateway's status answer is not a JSON object.")
        return body

    def balance(self) -> Balance:
        """The account's remaining credit and its currency (GET /rest/me)."""
        body = self._request("GET", f"{self._api_root}/me")
        credit = body.get("credit") if isinstance(body, dict) else None
        if isinstance(credit, bool) or not isinstance(credit, int | Decimal):
            raise GatewayProtocolError("The gateway's account answer has no numeric credit.")
        currency = body.get("currency")
        return Balance(Decimal(credit), currency if isinstance(currency, str) else None)

    def _request(self, method: str, url: str, *, data: bytes | None = None) -> Any:
        """`data` is a JSON body carrying the token; without one, the token goes in a header."""
        headers = {}
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        else:
            headers["Authorization"] = f"Token {self._token}"
        path = urlsplit(url).path
        started = time.perf_counter()
        try:
            response = self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = self._network_error(exc, path)
            logger.debug("%s %s failed: %s", method, path, type(error).__name__)
            raise error from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug("%s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
        with response:
            if not 200 <= response.status_code < 300:
                raise self._error_from_response(response)
            try:
                return json.loads(response.content, parse_float=Decimal)
            except ValueError:
                raise GatewayProtocolError(
                    f"The gateway answered {response.status_code} with a body that is not JSON: "
                    f"{self._snippet(response)}",
                    status=response.status_code,
                ) from None

    def _network_error(self, exc: requests.RequestException, path: str) -> GatewayError:
        where = f"{urlsplit(self.base_url).netloc}{path}"
        if isinstance(exc, requests.ConnectTimeout):
            return GatewayUnavailable(f"Could not connect to the gateway at {where}: timed out.")
        if isinstance(exc, requests.ReadTimeout):
            return GatewayTimeout(
                f"The gateway at {where} did not answer within {self._timeout[1]:g} s; "
                "it may have accepted the request."
            )
        if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
            return GatewayUnavailable(
                f"Could not connect to the gateway at {where}: {_reason(exc)}"
            )
        if isinstance(exc, requests.ConnectionError) and _never_connected(exc):
            return GatewayUnavailable(
                f"Could not connect to the gateway at {where}: {_reason(exc)}"
            )
        return GatewayConnectionLost(
            f"The connection to the gateway at {where} broke after the request was sent "
            f"({_reason(exc)}); it may have accepted the request."
        )

    def _error_from_response(self, response: requests.Response) -> GatewayError:
        status = response.status_code
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = f"The gateway answered {status} {response.reason or ''}".rstrip()
            snippet = self._snippet(response)
            return error_for_status(status, None)(
                f"{text}: {snippet}" if snippet else f"{text}.", status=status
            )
        code = body.get("code") if isinstance(body.get("code"), str) else None
        variables = body.get("variables")
        variables = [str(v) for v in variables] if isinstance(variables, list) else []
        raw_message = body.get("message")
        if isinstance(raw_message, str) and raw_message:
            message = fill_placeholders(raw_message, variables)
        else:
            message = f"The gateway answered {status} {response.reason or ''}".rstrip() + "."
        incident = body.get("incident_uuid")
        return error_for_status(status, code)(
            self._redact(message),
            status=status,
            code=code,
            variables=[self._redact(v) for v in variables],
            incident_uuid=incident if isinstance(incident, str) else None,
        )

    def _snippet(self, response: requests.Response) -> str:
        """A readable, short, token-free piece of a non-JSON body (e.g. a proxy's HTML page)."""
        text = response.content[:4096].decode("utf-8", errors="replace")
        text = _WHITESPACE.sub(" ", _HTML_TAG.sub(" ", text)).strip()
        if len(text) > _SNIPPET_LENGTH:
            text = text[:_SNIPPET_LENGTH] + "..."
        return self._redact(text)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[token]")


def _check_timeout(timeout: tuple[float, float] | float) -> tuple[float, float]:
    pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if len(pair) != 2 or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and t > 0 for t in pair
    ):
        raise ValueError(f"timeout must be (connect, read) positive seconds, got {timeout!r}.")
    return (float(pair[0]), float(pair[1]))


def _api_root(parts) -> str:
    """`<origin>[/prefix]/rest`: where `mtsms/<id>` and `me` live for this endpoint."""
    path = parts.path.rstrip("/")
    root = path[: -len("/mtsms")] if path.endswith("/rest/mtsms") else "/rest"
    return urlunsplit((parts.scheme, parts.netloc, root, "", ""))


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the connection itself failed (refused, DNS), so no byte of the request left."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", None)
    return isinstance(reason, NewConnectionError)


def _reason(exc: Exception) -> str:
    cause = exc.args[0] if exc.args else exc
    reason = getattr(cause, "reason", cause)
    if isinstance(reason, NewConnectionError):
        reason = reason.args[-1] if reason.args else reason
    return type(reason).__name__ if not str(reason) else str(reason)[:_SNIPPET_LENGTH]


def _send_result(body: Any, *, dry_run: bool) -> SendResult:
    if not isinstance(body, dict):
        raise GatewayProtocolError(
            "The gateway's answer to a send is not a JSON object.", status=200
        )
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise GatewayProtocolError("The gateway's answer has no list of message ids.", status=200)
    if not dry_run and len(ids) != 1:
        raise GatewayProtocolError(
            f"The gateway answered with {len(ids)} message ids for one SMS object.", status=200
        )
    raw_usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    details = body.get("details") if isinstance(body.get("details"), dict) else None
    return SendResult(ids=ids, usage=parse_usage(raw_usage), details=details, dry_run=dry_run)


def parse_usage(raw: dict[str, Any]) -> Usage:
    """Read the contract's three usage keys, tolerating a changed shape (keys may be absent)."""
    countries_raw = raw.get("countries")
    countries = {}
    if isinstance(countries_raw, dict):
        countries = {
            str(country): int(parts)
            for country, parts in countries_raw.items()
            if isinstance(parts, int | Decimal) and not isinstance(parts, bool)
        }
    currency = raw.get("currency")
    total = raw.get("total_cost")
    is_number = isinstance(total, int | Decimal) and not isinstance(total, bool)
    total_cost = Decimal(total) if is_number else None
    return Usage(
        countries=countries,
        currency=currency if isinstance(currency, str) else None,
        total_cost=total_cost,
        raw=raw,
    )
