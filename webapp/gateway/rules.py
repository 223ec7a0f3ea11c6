"""The contract's rules for one SMS object, shared by the client (before sending) and the sandbox.

Each check returns a sentence a user can act on, or None when the value is fine; the client
turns it into InvalidMessage and the sandbox into the contract's 400/422 error JSON.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from webapp.gateway.numbers import calling_code_of

MAX_RECIPIENTS = 10_000
MAX_MSISDN_DIGITS = 15
MAX_ALPHANUMERIC_SENDER = 11
MAX_NUMERIC_SENDER = 15
ENCODINGS = ("UTF8", "UCS2")
EXTRA_DETAILS = ("recipients_usage",)

_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9]{1,11}")
_NUMERIC_SENDER = re.compile(r"[0-9]{1,15}")
_DIGITS = re.compile(r"[0-9]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def sender_problem(sender: str) -> str | None:
    """Why `sender` cannot be shown as the SMS sender, or None when it can."""
    if _ALPHANUMERIC_SENDER.fullmatch(sender) or _NUMERIC_SENDER.fullmatch(sender):
        return None
    return (
        f"Sender {sender!r} is not allowed: use 1 to {MAX_ALPHANUMERIC_SENDER} letters and "
        f"digits (A-Z, a-z, 0-9, no spaces), or 1 to {MAX_NUMERIC_SENDER} digits."
    )


def msisdn_problem(msisdn: str) -> str | None:
    """Why `msisdn` is not a full mobile number in the contract's form, or None when it is."""
    if not _DIGITS.fullmatch(msisdn):
        return (
            f"MSISDN {msisdn!r} must be digits only: the country code and number, "
            "without '+', spaces or dashes."
        )
    if msisdn.startswith("0"):
        return f"MSISDN {msisdn} must start with the country code, not with 0."
    if len(msisdn) > MAX_MSISDN_DIGITS:
        return f"MSISDN {msisdn} has {len(msisdn)} digits; at most {MAX_MSISDN_DIGITS} are allowed."
    code = calling_code_of(msisdn)
    if code is None:
        return f"MSISDN {msisdn} does not start with a known country code."
    if len(msisdn) - len(str(code)) < 4:
        return f"MSISDN {msisdn} is too short: after country code {code} it needs the number."
    return None


def duplicated(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, in order of their second occurrence."""
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for value in values:
        if value in seen:
            repeated[value] = None
        seen.add(value)
    return list(repeated)


def tags_problem(tags: Sequence[str]) -> str | None:
    """Why a list of tags cannot be used, or None: tags must be non-empty and distinct."""
    if any(not tag for tag in tags):
        return "Every tag must be a non-empty string, e.g. '%first_name%'."
    repeated = duplicated(tags)
    if repeated:
        return f"Tag {repeated[0]!r} is given more than once."
    return None


def text_problem(text: str, what: str) -> str | None:
    """Why `text` cannot travel as UTF-8 (a lone surrogate), or None."""
    match = _LONE_SURROGATE.search(text)
    if match:
        return (
            f"The {what} contains a lone UTF-16 surrogate (U+{ord(match.group(0)):04X}), "
            "which is not a character and cannot be sent."
        )
    return None


@functools.lru_cache(maxsize=64)
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so that "%name%s" wins over "%name%" where both would match.
    ordered = sorted(tags, key=len, reverse=True)
    return re.compile("|".join(re.escape(tag) for tag in ordered))


def replace_tags(message: str, tags: Sequence[str], tagvalues: Sequence[str]) -> str:
    """The text one recipient gets: each tag replaced by the value at the same position.

    One pass over the message, so a value that happens to contain a tag is not replaced again.
    """
    if not tags:
        return message
    values = dict(zip(tags, tagvalues, strict=True))
    return _tag_pattern(tuple(tags)).sub(lambda match: values[match.group(0)], message)
