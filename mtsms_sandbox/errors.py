"""The sandbox's replies in the contract's JSON: the error shape and codes, money as numbers.

An ApiError raised anywhere while a request is handled becomes `{"code", "message",
"variables", "incident_uuid"}` with its HTTP status (`code` and `variables` left out when empty).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Response

MISSING_PARAMETER = "0x0222"
UNSUPPORTED_PARAMETER = "0x0220"
UNAUTHORIZED_IP = "0x0213"
INVALID_CREDENTIALS = "0x0229"
INSUFFICIENT_CREDIT = "0x0216"
DUPLICATED_MSISDN = "0x0310"


class ApiError(Exception):
    """An answer in the contract's error shape."""

    def __init__(
        self, status: int, message: str, variables: list[Any] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.variables = [str(v) for v in variables or []]
        self.code = code
        self.incident_uuid = str(uuid.uuid4())  # for the log line that goes with this answer

    def response(self) -> Response:
        body: dict[str, Any] = {}
        if self.code:
            body["code"] = self.code
        body["message"] = self.message
        if self.variables:
            body["variables"] = self.variables
        body["incident_uuid"] = self.incident_uuid
        return json_response(body, self.status)


def missing(parameter: str) -> ApiError:
    return ApiError(400, "Missing required parameter: %1", [parameter], MISSING_PARAMETER)


def unsupported(parameter: str) -> ApiError:
    return ApiError(400, "Unsupported parameter: %1", [parameter], UNSUPPORTED_PARAMETER)


def invalid(parameter: str, reason: str) -> ApiError:
    return ApiError(400, "Invalid value for %1: %2", [parameter, reason])


def unauthorized(message: str = "Invalid token") -> ApiError:
    return ApiError(401, message, code=INVALID_CREDENTIALS)


def _json_default(value: Any) -> Any:
    # Money is Decimal inside; JSON numbers on the wire. A float's repr is the shortest exact
    # decimal, so 0.30 travels as 0.3 and a client parsing with Decimal gets the same amount.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, default=_json_default), status=status, mimetype="application/json"
    )
