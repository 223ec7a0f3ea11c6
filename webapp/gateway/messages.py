"""Typed requests and answers of the mtsms API, and the checks a message passes before sending.

`SmsMessage` is one SMS object of the contract (one message text, up to 10,000 recipients);
`validate_message` applies the contract's rules so a bad message fails here, with a sentence
naming the rule, instead of at the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import urlsplit

from webapp.gateway import rules
from webapp.gateway.errors import InvalidMessage


@dataclass
class Recipient:
    """One recipient: the full msisdn (country code + number, digits only) and its tag values."""

    msisdn: str
    tagvalues: list[str] | None = None


@dataclass
class SmsMessage:
    """One SMS object of the contract.

    `encoding` None lets the gateway use GSM 03.38 where it can; "UCS2" forces Unicode.
    `sendtime` is Unix seconds or an aware datetime. `tags` are placeholders in `message`
    (e.g. "%first_name%"); each recipient's `tagvalues` line up with them by position.
    """

    message: str
    recipients: list[Recipient]
    sender: str | None = None
    label: str | None = None
    encoding: str | None = None
    tags: list[str] | None = None
    sendtime: int | datetime | None = None
    callback_url: str | None = None
    userref: str | None = None
    extra_details: str | None = None


@dataclass(frozen=True)
class Usage:
    """What a request costs, as the gateway reported it.

    `raw` is the usage object exactly as received (numbers as Decimal), for storing; the
    gateway warns its shape may change, so `currency`/`total_cost` are None when absent.
    """

    countries: dict[str, int]
    currency: str | None
    total_cost: Decimal | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """The gateway's answer to a send: one id per SMS object, and the usage.

    For a dry run `ids` is empty; a gateway that ignores dry_run returns an id, which means
    the message WAS sent (`dry_run` records what was asked, so callers can tell).
    """

    ids: list[int]
    usage: Usage
    details: dict[str, Any] | None = None
    dry_run: bool = False

    @property
    def message_id(self) -> int | None:
        """The id of the (single) SMS object sent, or None for an honoured dry run."""
        return self.ids[0] if self.ids else None


@dataclass(frozen=True)
class Balance:
    """The account's remaining credit, from GET /rest/me."""

    credit: Decimal
    currency: str | None


def _fail(problem: str) -> NoReturn:
    raise InvalidMessage(problem)


def validate_message(sms: SmsMessage) -> None:
    """Raise InvalidMessage naming the first rule of the contract that `sms` breaks."""
    if not isinstance(sms.message, str) or not sms.message.strip():
        _fail("The message is empty: write the text to send.")
    problem = rules.text_problem(sms.message, "message")
    if problem:
        _fail(problem)
    count = len(sms.recipients)
    if count == 0:
        _fail("The message has no recipients: add at least one.")
    if count > rules.MAX_RECIPIENTS:
        _fail(
            f"The message has {count:,} recipients; one SMS may have at most "
            f"{rules.MAX_RECIPIENTS:,}. Split it into batches."
        )
    if sms.sender is not None:
        problem = rules.sender_problem(sms.sender) if isinstance(sms.sender, str) else None
        if not isinstance(sms.sender, str) or problem:
            _fail(problem or "The sender must be a string.")
    if sms.encoding not in (None, *rules.ENCODINGS):
        _fail(f"Encoding {sms.encoding!r} is not supported: use None (GSM 03.38) or 'UCS2'.")
    if sms.extra_details not in (None, *rules.EXTRA_DETAILS):
        _fail(f"extra_details {sms.extra_details!r} is not supported: use 'recipients_usage'.")
    _validate_sendtime(sms.sendtime)
    if sms.callback_url is not None:
        parts = urlsplit(sms.callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            _fail(f"callback_url {sms.callback_url!r} must be an absolute http(s) URL.")
    for name in ("label", "userref"):
        value = getattr(sms, name)
        if value is not None and not isinstance(value, str):
            _fail(f"{name} must be a string.")
    _validate_recipients(sms)


def _validate_sendtime(sendtime: int | datetime | None) -> None:
    if sendtime is None:
        return
    if isinstance(sendtime, datetime):
        if sendtime.tzinfo is None:
            _fail("sendtime must be timezone-aware, e.g. datetime(..., tzinfo=UTC).")
    elif isinstance(sendtime, bool) or not isinstance(sendtime, int) or sendtime < 0:
        _fail("sendtime must be Unix seconds (a non-negative integer) or an aware datetime.")


def _validate_recipients(sms: SmsMessage) -> None:
    tags = list(sms.tags or [])
    if tags:
        problem = rules.tags_problem(tags)
        if problem:
            _fail(problem)
    msisdns = []
    for position, recipient in enumerate(sms.recipients, start=1):
        msisdn = _msisdn_text(recipient.msisdn, position)
        problem = rules.msisdn_problem(msisdn)
        if problem:
            _fail(f"Recipient {position}: {problem}")
        msisdns.append(msisdn)
        values = recipient.tagvalues or []
        if len(values) != len(tags):
            if not tags:
                _fail(f"Recipient {position} ({msisdn}) has tagvalues but the message has no tags.")
            _fail(
                f"Recipient {position} ({msisdn}) has {len(values)} tagvalues for "
                f"{len(tags)} tags; give one value per tag, in the order of the tags."
            )
        for value in values:
            if not isinstance(value, str):
                _fail(f"Recipient {position} ({msisdn}): every tag value must be a string.")
            problem = rules.text_problem(value, f"tag value of recipient {position}")
            if problem:
                _fail(problem)
    repeated = rules.duplicated(msisdns)
    if repeated:
        shown = ", ".join(repeated[:5]) + (" ..." if len(repeated) > 5 else "")
        _fail(f"The same recipient is in the message more than once: {shown}.")


def _msisdn_text(msisdn: object, position: int) -> str:
    if isinstance(msisdn, bool) or not isinstance(msisdn, str | int):
        _fail(f"Recipient {position}: the msisdn must be a string of digits.")
    return str(msisdn)


def to_payload(sms: SmsMessage) -> dict[str, Any]:
    """The SMS object as the contract's JSON (without the token); optional fields left out."""
    payload: dict[str, Any] = {
        "message": sms.message,
        "recipients": [_recipient_payload(recipient) for recipient in sms.recipients],
    }
    sendtime = sms.sendtime
    if isinstance(sendtime, datetime):
        sendtime = int(sendtime.timestamp())
    optional = {
        "sender": sms.sender,
        "label": sms.label,
        "encoding": sms.encoding,
        "tags": list(sms.tags) if sms.tags else None,
        "sendtime": sendtime,
        "callback_url": sms.callback_url,
        "userref": sms.userref,
        "extra_details": sms.extra_details,
    }
    payload.update({key: value for key, value in optional.items() if value is not None})
    return payload


def _recipient_payload(recipient: Recipient) -> dict[str, Any]:
    item: dict[str, Any] = {"msisdn": str(recipient.msisdn)}
    if recipient.tagvalues:
        item["tagvalues"] = list(recipient.tagvalues)
    return item
