"""Typed requests and answers of the mtsms API, and the checks a message passes before sending.

`SmsMessage` is one SMS object of the contract (one message text, up to 10,000 recipients);
`validate_message` applies the contract's rules so a bad message fails here, with a sentence
naming the rule, instead of at the gateway; `payload_json` is the request body.

Both are written for batches of 10,000 (see `RecipientRows`): the common case (nothing wrong)
is checked in bulk, and the body is encoded a slice of recipients at a time. Thousands of
container objects alive at once make the garbage collector walk the whole heap again and again,
which costs more than the work itself; pairs of strings (tuples) it soon stops tracking.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, NoReturn
from urllib.parse import urlsplit

from webapp.gateway import rules
from webapp.gateway.errors import InvalidMessage


@dataclass
class Recipient:
    """One recipient: the full msisdn (country code + number, digits only) and its tag values
    (a list or a tuple of texts, one per tag)."""

    msisdn: str
    tagvalues: Sequence[str] | None = None


class RecipientRows(Sequence[Recipient]):
    """Many recipients kept as (msisdn, tagvalues) pairs, for a batch of thousands.

    A Recipient is made only when one is asked for; the checks and the request body read the
    pairs directly, so a batch of 10,000 is one list for the garbage collector, not 10,000
    objects (see the module's docstring).
    """

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[str, Sequence[str] | None]]) -> None:
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return RecipientRows(self.pairs[index])
        return Recipient(*self.pairs[index])

    def __repr__(self) -> str:
        return f"RecipientRows(<{len(self.pairs)} recipients>)"


class RecipientColumns(Sequence[Recipient]):
    """Many recipients kept as two lists: their msisdns, and every tag value of them all in
    one flat list, ``width`` values a recipient, for the dispatcher's batches of 10,000.

    Two lists of texts are two objects for the garbage collector, whatever the batch's size
    (RecipientRows holds two tuples a recipient until the request is answered); the checks
    and the request body read the columns directly.
    """

    __slots__ = ("msisdns", "values", "width")

    def __init__(self, msisdns: list[str], values: list[str], width: int) -> None:
        if len(values) != len(msisdns) * width:
            raise ValueError(f"{len(values)} tag values are not {width} each of {len(msisdns)}.")
        self.msisdns, self.values, self.width = msisdns, values, width

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]], width: int) -> RecipientColumns:
        """From rows of (msisdn, its ``width`` tag values); ValueError when a row has more or
        fewer (a bug: the rows are made for the tags)."""
        msisdns: list[str] = []
        values: list[str] = []
        add_msisdn, add_values = msisdns.append, values.extend
        for row in rows:
            add_msisdn(row[0])
            add_values(row[1:])
        return cls(msisdns, values, width)

    def tagvalues(self) -> Iterable[Sequence[str] | None]:
        """Each recipient's tag values in turn (None without tags)."""
        width, values = self.width, self.values
        if not width:
            return (None for _ in self.msisdns)
        if width == 1:
            return ((value,) for value in values)
        return (values[start : start + width] for start in range(0, len(values), width))

    def __len__(self) -> int:
        return len(self.msisdns)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return RecipientRows(_pairs(self)[index])
        values = self.values[index * self.width : (index + 1) * self.width] if self.width else None
        return Recipient(self.msisdns[index], values)

    def __repr__(self) -> str:
        return f"RecipientColumns(<{len(self.msisdns)} recipients, {self.width} tag values each>)"


def _pairs(recipients: Sequence[Recipient]) -> list[tuple[Any, Sequence[str] | None]]:
    if isinstance(recipients, RecipientRows):
        return recipients.pairs
    if isinstance(recipients, RecipientColumns):
        return list(zip(recipients.msisdns, recipients.tagvalues(), strict=True))
    return [(recipient.msisdn, recipient.tagvalues) for recipient in recipients]


@dataclass
class SmsMessage:
    """One SMS object of the contract.

    `encoding` None lets the gateway use GSM 03.38 where it can; "UCS2" forces Unicode.
    `sendtime` is Unix seconds or an aware datetime. `tags` are placeholders in `message`
    (e.g. "%first_name%"); each recipient's `tagvalues` line up with them by position.
    """

    message: str
    recipients: Sequence[Recipient]  # a list, or RecipientRows for a large batch
    sender: str | None = None
    label: str | None = None
    encoding: str | None = None
    tags: list[str] | None = None
    sendtime: int | datetime | None = None
    callback_url: str | None = None
    userref: str | None = None
    extra_details: str | None = None
    validity_period: int | None = None  # seconds (at least 60) the network keeps trying


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
    if isinstance(sms.recipients, RecipientColumns):
        if _columns_look_valid(sms.recipients, len(tags)):
            return
    elif _recipients_look_valid(_pairs(sms.recipients), len(tags)):
        return
    _validate_recipients_one_by_one(_pairs(sms.recipients), tags)


def _recipients_look_valid(pairs: Sequence[tuple[Any, Any]], tag_count: int) -> bool:
    """Every recipient rule checked at once, True only when no recipient breaks one (the usual
    case); False sends the caller to the one-by-one check, which names the first problem."""
    msisdns = [pair[0] for pair in pairs]
    if not _msisdns_look_valid(msisdns):
        return False
    groups = [pair[1] or () for pair in pairs]
    if any(len(values) != tag_count for values in groups):
        return False
    return _tag_values_look_valid([value for group in groups for value in group])


def _columns_look_valid(columns: RecipientColumns, tag_count: int) -> bool:
    """`_recipients_look_valid` for columns: each recipient has ``width`` values by design."""
    if columns.width != tag_count or not _msisdns_look_valid(columns.msisdns):
        return False
    return _tag_values_look_valid(columns.values)


def _msisdns_look_valid(msisdns: list[Any]) -> bool:
    if not all(type(msisdn) is str for msisdn in msisdns) or len(set(msisdns)) != len(msisdns):
        return False
    joined = "".join(msisdns)
    if not (joined.isascii() and joined.isdigit()):
        return False
    # For a string of digits, msisdn_problem depends only on its first three digits (the
    # calling code) and its length: one number of each shape stands for all the others.
    shapes = {(msisdn[:3], len(msisdn)): msisdn for msisdn in msisdns}
    return not any(rules.msisdn_problem(msisdn) for msisdn in shapes.values())


def _tag_values_look_valid(values: list[Any]) -> bool:
    if not all(type(value) is str for value in values):
        return False
    return rules.text_problem("".join(values), "tag values") is None


def _validate_recipients_one_by_one(pairs: Sequence[tuple[Any, Any]], tags: list[str]) -> None:
    msisdns = []
    for position, (raw_msisdn, tagvalues) in enumerate(pairs, start=1):
        msisdn = _msisdn_text(raw_msisdn, position)
        problem = rules.msisdn_problem(msisdn)
        if problem:
            _fail(f"Recipient {position}: {problem}")
        msisdns.append(msisdn)
        values = tagvalues or []
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
    return {
        "message": sms.message,
        "recipients": [
            {"msisdn": str(msisdn), "tagvalues": list(tagvalues)}
            if tagvalues
            else {"msisdn": str(msisdn)}
            for msisdn, tagvalues in _pairs(sms.recipients)
        ],
        **_optional_payload(sms),
    }


def payload_json(sms: SmsMessage, **extra: Any) -> bytes:
    """The request body: `to_payload(sms)` and the `extra` keys (the token, dry_run) as UTF-8
    JSON. Each recipient is written from its texts, each encoded by json's own string encoder,
    rather than made into a dict for json.dumps: a quarter of the time, and no 10,000 dicts for
    the garbage collector (see the module's docstring)."""
    if isinstance(sms.recipients, RecipientColumns):
        recipients = _columns_json(sms.recipients)
    else:
        pairs = _pairs(sms.recipients)
        recipients = ", ".join([_recipient_json(msisdn, values) for msisdn, values in pairs])
    # The rest is never empty ("message" is always there), so it continues the object.
    rest = json.dumps({"message": sms.message, **_optional_payload(sms), **extra})
    return ('{"recipients": [' + recipients + "], " + rest[1:]).encode("utf-8")


def _columns_json(columns: RecipientColumns) -> str:
    """The recipients' part of the body; one tag (the usual personalisation) or none written
    out inline, without a call a recipient."""
    msisdns = columns.msisdns
    if columns.width == 0:
        return ", ".join([f'{{"msisdn": {_json_string(str(m))}}}' for m in msisdns])
    if columns.width == 1:
        return ", ".join(
            [
                f'{{"msisdn": {_json_string(str(m))}, "tagvalues": [{_json_string(value)}]}}'
                for m, value in zip(msisdns, columns.values, strict=True)
            ]
        )
    pairs = zip(msisdns, columns.tagvalues(), strict=True)
    return ", ".join([_recipient_json(msisdn, values) for msisdn, values in pairs])


def _recipient_json(msisdn: Any, tagvalues: Sequence[str] | None) -> str:
    """One recipient as json.dumps writes ``to_payload``'s dict of it."""
    number = _json_string(str(msisdn))
    if not tagvalues:
        return f'{{"msisdn": {number}}}'
    values = ", ".join(map(_json_string, tagvalues))
    return f'{{"msisdn": {number}, "tagvalues": [{values}]}}'


def _optional_payload(sms: SmsMessage) -> dict[str, Any]:
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
        "validity_period": sms.validity_period,
    }
    return {key: value for key, value in optional.items() if value is not None}
