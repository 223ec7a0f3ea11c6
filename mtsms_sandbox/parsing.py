"""What a send request says: its SMS objects, read from JSON, form fields or the query, validated.

The contract's rules are checked in the order a user fixes them, each failure an ApiError
naming the parameter (`0.recipients.3.msisdn` in a list root). The value rules themselves
live in webapp.gateway.rules, shared with the dashboard's client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request

from mtsms_sandbox.errors import DUPLICATED_MSISDN, ApiError, invalid, missing, unsupported
from webapp.gateway import rules

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

SMS_FIELDS = frozenset(
    {
        "message",
        "sender",
        "recipients",
        "label",
        "dry_run",
        "token",
        "encoding",
        "tags",
        "sendtime",
        "callback_url",
        "userref",
        "max_parts",
        "extra_details",
        "class",
        "priority",
        "validity_period",
        "destaddr",
    }
)
RECIPIENT_FIELDS = frozenset({"msisdn", "tagvalues"})
CLASSES = ("standard", "premium", "secret")
PRIORITIES = ("BULK", "NORMAL", "URGENT", "VERY_URGENT")
DESTADDRS = ("DISPLAY", "MOBILE", "SIMCARD", "EXTUNIT")


def is_form(request: Request) -> bool:
    """Whether the body is form fields (which may carry the token and the OAuth signature)."""
    return request.mimetype in FORM_TYPES


@dataclass
class ParsedSms:
    """One validated SMS object of a request."""

    message: str
    recipients: list[tuple[str, list[str] | None]]
    sender: str | None
    label: str | None
    encoding: str | None
    tags: list[str] | None
    sendtime: int | None
    callback_url: str | None
    userref: str | None
    max_parts: int | None
    extra_details: str | None
    dry_run: bool
    options: dict[str, Any]


def parse_json(raw: bytes) -> Any:
    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON")

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "Invalid JSON: %1", ["the body is not UTF-8"]) from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(422, "Invalid JSON: %1", [str(error)]) from None


def _sms_from_fields(fields: MultiDict) -> dict[str, Any]:
    """One SMS object from form fields / query arguments with dotted indices."""
    sms: dict[str, Any] = {}
    recipients: dict[int, dict[str, Any]] = {}
    tags: dict[int, str] = {}
    for key in fields:
        values = fields.getlist(key)
        if len(values) > 1:
            raise invalid(key, "given more than once; use indices like recipients.0.msisdn")
        value = values[0]
        parts = key.split(".")
        index_ok = len(parts) > 1 and parts[1].isdigit()
        if parts[0] == "recipients" and index_ok and parts[2:] == ["msisdn"]:
            recipients.setdefault(int(parts[1]), {})["msisdn"] = value
        elif (
            parts[0] == "recipients"
            and index_ok
            and len(parts) == 4
            and parts[2] == "tagvalues"
            and parts[3].isdigit()
        ):
            values_by_index = recipients.setdefault(int(parts[1]), {}).setdefault("tagvalues", {})
            values_by_index[int(parts[3])] = value
        elif parts[0] == "tags" and index_ok and len(parts) == 2:
            tags[int(parts[1])] = value
        elif len(parts) == 1:
            sms[key] = value
        else:
            raise unsupported(key)
    if recipients:
        sms["recipients"] = []
        for index in sorted(recipients):
            recipient = recipients[index]
            if "tagvalues" in recipient:
                by_index = recipient["tagvalues"]
                recipient["tagvalues"] = [by_index[i] for i in sorted(by_index)]
            sms["recipients"].append(recipient)
    if tags:
        sms["tags"] = [tags[i] for i in sorted(tags)]
    return sms


def _integer(value: Any, parameter: str) -> int:
    """An integer given as a JSON number or, from forms, as digits."""
    if isinstance(value, bool):
        raise invalid(parameter, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise invalid(parameter, "must be an integer")


def _optional_string(sms: dict[str, Any], name: str, where: str) -> str | None:
    value = sms.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(where + name, "must be a string")
    return value


def _choice(sms: dict[str, Any], name: str, choices: tuple[str, ...], where: str) -> str | None:
    value = sms.get(name)
    if value is None:
        return None
    if value not in choices:
        raise invalid(where + name, "must be one of " + ", ".join(choices))
    return value


def _dry_run(value: Any, where: str) -> bool:
    if value is None:
        return False
    if value is True or (isinstance(value, int) and value == 1) or value in ("1", "true"):
        return True
    if value is False or (isinstance(value, int) and value == 0) or value in ("0", "false"):
        return False
    raise invalid(where + "dry_run", 'must be "1", 1, true or "true" (or 0/false)')


def parse_sms(sms: Any, where: str) -> ParsedSms:
    """Validate one SMS object by the contract's rules, in the order a user fixes them."""
    if not isinstance(sms, dict):
        raise ApiError(400, "Every SMS must be a JSON object; %1 is not", [where.rstrip(".")])
    for name in sms:
        if name not in SMS_FIELDS:
            raise unsupported(where + name)
    message = sms.get("message")
    if message is None or message == "":
        raise missing(where + "message")
    if not isinstance(message, str):
        raise invalid(where + "message", "must be a string")
    problem = rules.text_problem(message, "message")
    if problem:
        raise invalid(where + "message", problem)
    recipients = _parse_recipients(sms, where)
    sender = _optional_string(sms, "sender", where)
    if sender is not None:
        problem = rules.sender_problem(sender)
        if problem:
            raise ApiError(400, "Invalid sender: %1", [problem])
    tags = sms.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise invalid(where + "tags", "must be a list of strings")
        problem = rules.tags_problem(tags)
        if problem:
            raise invalid(where + "tags", problem)
    _check_tagvalues(recipients, tags or [], where)
    sendtime = sms.get("sendtime")
    if sendtime is not None:
        sendtime = _integer(sendtime, where + "sendtime")
    max_parts = sms.get("max_parts")
    if max_parts is not None:
        max_parts = _integer(max_parts, where + "max_parts")
        if not 1 <= max_parts <= 255:
            raise invalid(where + "max_parts", "must be 1 to 255")
        if tags:
            raise invalid(where + "max_parts", "cannot be combined with tags")
    options: dict[str, Any] = {}
    for name, choices in (("class", CLASSES), ("priority", PRIORITIES), ("destaddr", DESTADDRS)):
        value = _choice(sms, name, choices, where)
        if value is not None:
            options[name] = value
    if sms.get("validity_period") is not None:
        period = _integer(sms["validity_period"], where + "validity_period")
        if period < 60:
            raise invalid(where + "validity_period", "must be at least 60 seconds")
        options["validity_period"] = period
    if max_parts is not None:
        options["max_parts"] = max_parts
    callback_url = _optional_string(sms, "callback_url", where)
    if callback_url is not None:
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid(where + "callback_url", "must be an absolute http(s) URL")
    return ParsedSms(
        message=message,
        recipients=recipients,
        sender=sender,
        label=_optional_string(sms, "label", where),
        encoding=_choice(sms, "encoding", rules.ENCODINGS, where),
        tags=tags or None,
        sendtime=sendtime,
        callback_url=callback_url,
        userref=_optional_string(sms, "userref", where),
        max_parts=max_parts,
        extra_details=_choice(sms, "extra_details", rules.EXTRA_DETAILS, where),
        dry_run=_dry_run(sms.get("dry_run"), where),
        options=options,
    )


def _parse_recipients(sms: dict[str, Any], where: str) -> list[tuple[str, list[str] | None]]:
    recipients = sms.get("recipients")
    if recipients is None or recipients == []:
        raise missing(where + "recipients")
    if not isinstance(recipients, list):
        raise invalid(where + "recipients", "must be a list of objects with an msisdn")
    if len(recipients) > rules.MAX_RECIPIENTS:
        raise ApiError(
            400,
            "Too many recipients: %1 in one SMS, at most %2",
            [len(recipients), rules.MAX_RECIPIENTS],
        )
    parsed = []
    for position, recipient in enumerate(recipients):
        here = f"{where}recipients.{position}"
        if not isinstance(recipient, dict):
            raise invalid(here, "must be an object with an msisdn")
        for name in recipient:
            if name not in RECIPIENT_FIELDS:
                raise unsupported(f"{here}.{name}")
        msisdn = recipient.get("msisdn")
        if msisdn is None or msisdn == "":
            raise missing(f"{here}.msisdn")
        if isinstance(msisdn, bool) or not isinstance(msisdn, str | int):
            raise invalid(f"{here}.msisdn", "must be a string or integer of digits")
        msisdn = str(msisdn)
        problem = rules.msisdn_problem(msisdn)
        if problem:
            raise ApiError(400, "Invalid MSISDN: %1", [problem])
        tagvalues = recipient.get("tagvalues")
        if tagvalues is not None and (
            not isinstance(tagvalues, list) or not all(isinstance(v, str) for v in tagvalues)
        ):
            raise invalid(f"{here}.tagvalues", "must be a list of strings")
        parsed.append((msisdn, tagvalues))
    repeated = rules.duplicated(msisdn for msisdn, _ in parsed)
    if repeated:
        raise ApiError(
            422,
            "A message contains the same recipient more than once: MSISDNs %1 is duplicated",
            [", ".join(repeated)],
            DUPLICATED_MSISDN,
        )
    return parsed


def _check_tagvalues(
    recipients: list[tuple[str, list[str] | None]], tags: list[str], where: str
) -> None:
    for position, (msisdn, tagvalues) in enumerate(recipients):
        count = len(tagvalues or [])
        if count == len(tags):
            for value in tagvalues or []:
                problem = rules.text_problem(value, f"tag value for {msisdn}")
                if problem:
                    raise invalid(f"{where}recipients.{position}.tagvalues", problem)
            continue
        if not tags:
            raise ApiError(400, "Recipient %1 has tagvalues but the SMS has no tags", [msisdn])
        raise ApiError(
            400,
            "Recipient %1 has %2 tagvalues for %3 tags: give one value per tag, in tag order",
            [msisdn, count, len(tags)],
        )


def read_sms_objects(request: Request) -> tuple[list[Any], list[Any]]:
    """The SMS objects of a request and the tokens they carry (removed from them)."""
    query = MultiDict(
        (key, value)
        for key, value in request.args.items(multi=True)
        if key != "token" and not key.startswith("oauth_")
    )
    if is_form(request):
        fields = MultiDict(query)
        for key, value in request.form.items(multi=True):
            if key != "token":
                fields.add(key, value)
        objects: list[Any] = [_sms_from_fields(fields)]
    else:
        raw = request.get_data()
        if not raw.strip():
            objects = [_sms_from_fields(query)]
        else:
            if query:
                raise unsupported(next(iter(query)))
            data = parse_json(raw)
            if isinstance(data, dict):
                objects = [data]
            elif isinstance(data, list):
                if not data:
                    raise missing("message")
                objects = data
            else:
                raise ApiError(400, "The body must be an SMS object or a list of SMS objects")
    tokens = [obj.pop("token") for obj in objects if isinstance(obj, dict) and "token" in obj]
    return objects, tokens
