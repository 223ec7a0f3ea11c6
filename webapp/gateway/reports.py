"""Delivery reports: the contract's format, its statuses, and the X-Gwapi-Signature JWT.

The gateway posts one JSON object per recipient and status change. With a webhook secret, the
header `X-Gwapi-Signature` carries an HS256 JWT whose claims repeat the report's fields; the
dashboard's webhook calls `verify_delivery_report` and rejects the report when it raises.
"""

from __future__ import annotations

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
    try:
        claims = jwt.decode(
            signature,
            secret,
            algorithms=[SIGNATURE_ALGORITHM],
            options={"require": [], "verify_aud": False},
        )
    except jwt.InvalidTokenError as error:
        raise InvalidDeliveryReport(
            f"The delivery report's signature does not verify ({type(error).__name__})."
        ) from None
    signed_fields = set(claims) & set(REPORT_FIELDS)
    for key in set(body) | signed_fields:
        if key not in claims:
            raise InvalidDeliveryReport(f"The report's field {key!r} is not in the signed claims.")
        if key not in body or body[key] != claims[key]:
            raise InvalidDeliveryReport(
                f"The report's field {key!r} differs from the signed claims."
            )
    return body
