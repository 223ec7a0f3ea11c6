"""Typed errors of the mtsms gateway, shared by the client and its callers.

The split that matters to the dispatcher is `may_have_been_accepted`: False means the gateway
certainly did not take the message (safe to send again), True means it may have (a timeout after
the request went out, a 5xx, a lost response) and must be reconciled before any resend.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"%(\d+)")


def fill_placeholders(message: str, variables: list[str]) -> str:
    """Replace `%1`, `%2`, ... in a gateway message with its variables, as the contract says.

    A placeholder without a matching variable is left as it is, so nothing is silently lost.
    """

    def substitute(match: re.Match[str]) -> str:
        position = int(match.group(1))
        if 1 <= position <= len(variables):
            return str(variables[position - 1])
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, message)


class InvalidMessage(ValueError):
    """The message breaks a rule of the contract; it was not sent. The text says which rule."""


class InvalidDeliveryReport(ValueError):
    """A delivery report whose signature or claims do not verify: it must be rejected."""


class GatewayError(Exception):
    """The gateway refused the request, failed, or could not be reached.

    `message` is the gateway's own message with `%1`... filled in from `variables`, fit to show
    a user. It never contains the API token or the request body.
    """

    may_have_been_accepted = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        variables: list[str] | None = None,
        incident_uuid: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.variables = list(variables or [])
        self.incident_uuid = incident_uuid

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        prefix = f"[{' '.join(parts)}] " if parts else ""
        suffix = f" (incident {self.incident_uuid})" if self.incident_uuid else ""
        return f"{prefix}{self.message}{suffix}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, may_have_been_accepted={self.may_have_been_accepted})"
        )


class BadRequest(GatewayError):
    """400: invalid arguments; the message says which."""


class Unauthorized(GatewayError):
    """401: the API token (or OAuth signature) was refused."""


class Forbidden(GatewayError):
    """403: not allowed, e.g. the IP address, the destination or a blacklisted number."""


class InsufficientCredit(Forbidden):
    """403 with code 0x0216: the account's balance does not cover the message."""


class NotFound(GatewayError):
    """404: no such message id or path."""


class Unprocessable(GatewayError):
    """422: invalid JSON, or a semantic error such as a duplicated recipient (0x0310)."""


class TooManyConnections(GatewayError):
    """429: more open connections from this IP than the gateway allows; nothing was accepted."""


class GatewayServerError(GatewayError):
    """5xx: the gateway failed while processing; the message may or may not have been accepted."""

    may_have_been_accepted = True


class GatewayUnavailable(GatewayError):
    """No connection could be made (refused, DNS, connect timeout): nothing was sent."""


class GatewayTimeout(GatewayError):
    """The request went out but no answer came in time: the gateway may have accepted it."""

    may_have_been_accepted = True


class GatewayConnectionLost(GatewayError):
    """The connection broke after the request went out: the gateway may have accepted it."""

    may_have_been_accepted = True


class GatewayProtocolError(GatewayError):
    """A 2xx answer the client cannot read (not JSON, no ids): the message may have been taken."""

    may_have_been_accepted = True


ERRORS_BY_STATUS: dict[int, type[GatewayError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    422: Unprocessable,
    429: TooManyConnections,
}

INSUFFICIENT_CREDIT_CODE = "0x0216"


def error_for_status(status: int, code: str | None) -> type[GatewayError]:
    """The error class for an HTTP error status and gateway code."""
    if status == 403 and code == INSUFFICIENT_CREDIT_CODE:
        return InsufficientCredit
    if status >= 500:
        return GatewayServerError
    return ERRORS_BY_STATUS.get(status, GatewayError)
