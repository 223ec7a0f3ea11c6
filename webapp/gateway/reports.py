"""Delivery reports: the contract's format, its statuses, and the X-Gwapi-Signature JWT.

The gateway posts one JSON object per recipient and status change. With a webhook secret, the
header `X-Gwapi-Signature` carries an HS256 JWT whose claims repeat the report's fields; the
dashboard's webhook calls `verify_delivery_report` and rejects the report when it raises.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

import jwt

from webapp.gateway.errors import InvalidDeliveryReport

SIGNATURE_HEADER = "X-Gwapi-Signature"
SIGNATURE_ALGORITHM = "HS256"

DELIVERY_STATUSES = frozenset(
    {
        "UNKNOWN",
        "SCHEDULED",
        "BUFFERED",
        "ENROUTE",
        "DELIVERED",
        "EXPIRED",
        "DELETED",
        "UNDELIVERABLE",
        "ACCEPTED",
        "REJECTED",
        "SKIPPED",
    }
)
# Once a recipient reaches one of these, a later transient status is stale and must be ignored.
FINAL_DELIVERY_STATUSES = frozenset(
    {"DELIVERED", "EXPIRED", "DELETED", "UNDELIVERABLE", "ACCEPTED", "REJECTED", "SKIPPED"}
)
REPORT_FIELDS = (
    "id",
    "msisdn",
    "time",
    "status",
    "error",
    "code",
    "userref",
    "country_code",
    "country_prefix",
    "charge_status",
)


def is_final(status: str) -> bool:
    """True when `status` ends a recipient's delivery (no later report can change it)."""
    return status in FINAL_DELIVERY_STATUSES


def sign_delivery_report(report: dict[str, Any], secret: str) -> str:
    """The X-Gwapi-Signature value for `report`: an HS256 JWT whose claims are its fields."""
    return jwt.encode(dict(report), secret, algorithm=SIGNATURE_ALGORITHM)


def verify_delivery_report(
    body: dict[str, Any], signature: str | None, secret: str
) -> dict[str, Any]:
    """Return `body` when `signature` is a valid JWT of `secret` whose claims repeat its fields.

    Raises InvalidDeliveryReport when the signature is missing or wrong, or when a field of the
    report differs from (or is missing in) the signed claims, so a forged or altered report
    can never be recorded.
    """
    if not isinstance(body, dict):
        raise InvalidDeliveryReport("The delivery report is not a JSON object.")
    if not signature:
        raise InvalidDeliveryReport(f"The delivery report has no {SIGNATURE_HEADER} header.")
    if not secret:
        raise InvalidDeliveryReport("No webhook secret is configured to verify the report.")
    claims = _plain_hs256_claims(signature, secret)
    if claims is None:
        try:
            claims = jwt.decode(
                signature,
                secret,
                algorithms=[SIGNATURE_ALGORITHM],
                options={"require": [], "verify_aud": False},
            )
        except jwt.InvalidTokenError as error:
            raise _not_verified(type(error).__name__) from None
    signed_fields = set(claims) & set(REPORT_FIELDS)
    for key in set(body) | signed_fields:
        if key not in claims:
            raise InvalidDeliveryReport(f"The report's field {key!r} is not in the signed claims.")
        if key not in body or body[key] != claims[key]:
            raise InvalidDeliveryReport(
                f"The report's field {key!r} differs from the signed claims."
            )
    return body


# JWT claims with rules of their own (expiry, audience...): such a token is left to PyJWT.
_REGISTERED_CLAIMS = frozenset({"exp", "nbf", "iat", "iss", "aud", "sub", "jti"})


def _plain_hs256_claims(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a token as the gateway signs reports (header exactly ``alg`` HS256 and
    ``typ`` JWT, no registered claims) whose signature is the HMAC of its first two parts: what
    PyJWT would accept, at a quarter of its cost (the webhook takes a thousand reports a
    second). None for any other token, a wrong signature included: PyJWT judges those, so this
    only ever accepts sooner, never refuses."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header, claims = _json_segment(parts[0]), _json_segment(parts[1])
    if header != {"alg": SIGNATURE_ALGORITHM, "typ": "JWT"} or not isinstance(claims, dict):
        return None
    if _REGISTERED_CLAIMS & claims.keys():
        return None
    digest = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
    expected = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(expected, parts[2]):
        return None
    return claims


def _json_segment(segment: str) -> Any:
    """A base64url JSON segment of a JWT, or None unless it is in its one canonical form."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
            return None
        return json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None


def _not_verified(reason: str) -> InvalidDeliveryReport:
    return InvalidDeliveryReport(f"The delivery report's signature does not verify ({reason}).")
