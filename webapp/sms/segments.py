"""How many segments a message costs, in which encoding: the numbers the gateway bills.

GSM 7-bit: up to 160 septets is one segment, longer messages take 153 septets per segment and
an extension character (escape + code) never straddles two segments. UCS-2: up to 70 UTF-16
code units is one segment, else 67 per segment, and a surrogate pair (most emoji) never
straddles two segments. Both rules are greedy packing: when a two-unit character does not fit
in what is left of a segment, that unit is left empty and the character opens the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from webapp.sms.gsm import (
    BEYOND_BASIC_PATTERN,
    EXTENSION_CHARACTERS,
    EXTENSION_PATTERN,
    EncodingError,
    non_gsm_characters,
    septet_count,
)

GSM = "GSM"
UCS2 = "UCS2"
AUTO = "auto"

GSM_SINGLE_SEGMENT = 160
GSM_PER_SEGMENT = 153
UCS2_SINGLE_SEGMENT = 70
UCS2_PER_SEGMENT = 67

_ENCODING_CHOICES = {"auto": AUTO, "gsm": GSM, "ucs2": UCS2}
_ASTRAL_PATTERN = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE_PATTERN = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a message costs.

    `units` are septets (GSM) or UTF-16 code units (UCS-2). `per_segment` is the capacity that
    applies: 160/70 for a single segment, 153/67 once the message is split. `remaining` is the
    room left in the last segment (units skipped to keep a pair whole are not counted as room).
    `offending` lists the distinct characters outside GSM 03.38, whatever the encoding.
    """

    encoding: str
    units: int
    segments: int
    per_segment: int
    remaining: int
    characters: int
    offending: tuple[str, ...] = ()


def analyze(text: str, encoding: str = AUTO) -> Analysis:
    """Count encoding, units and segments of `text` exactly as the gateway will bill it.

    `encoding` is "auto" (GSM 7-bit when every character allows it, else UCS-2), "GSM" (raises
    EncodingError naming the characters that do not fit) or "UCS2"; case does not matter.
    """
    choice = _encoding_choice(encoding)
    first_beyond_basic = BEYOND_BASIC_PATTERN.search(text)
    if first_beyond_basic is None:  # The common case, settled by one scan: one septet each.
        return _analyze_ucs2(text, ()) if choice == UCS2 else _analyze_gsm(text, len(text))
    offending = non_gsm_characters(text, first_beyond_basic.start())
    if offending and choice == GSM:
        raise EncodingError(offending)
    if offending or choice == UCS2:
        return _analyze_ucs2(text, offending)
    return _analyze_gsm(text, septet_count(text))


def split_segments(text: str, encoding: str = AUTO) -> list[str]:
    """Cut `text` where the gateway will cut it; joined, the pieces give back `text`.

    The empty message is no segment at all. Validates like analyze.
    """
    analysis = analyze(text, encoding)
    if analysis.segments <= 1:
        return [text] if text else []
    capacity = analysis.per_segment
    is_gsm = analysis.encoding == GSM
    pieces: list[str] = []
    start = used = 0
    for index, char in enumerate(text):
        cost = 2 if (char in EXTENSION_CHARACTERS if is_gsm else char > "\uffff") else 1
        if used + cost > capacity:
            pieces.append(text[start:index])
            start, used = index, 0
        used += cost
    pieces.append(text[start:])
    return pieces


def _encoding_choice(encoding: str) -> str:
    try:
        return _ENCODING_CHOICES[encoding.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"Unknown encoding {encoding!r}: choose 'auto', 'GSM' or 'UCS2'."
        ) from None


def _analyze_gsm(text: str, septets: int) -> Analysis:
    if septets <= GSM_SINGLE_SEGMENT:
        return Analysis(
            encoding=GSM,
            units=septets,
            segments=1 if septets else 0,
            per_segment=GSM_SINGLE_SEGMENT,
            remaining=GSM_SINGLE_SEGMENT - septets,
            characters=len(text),
        )
    packed = septets
    if septets != len(text):
        packed += _padding(text, EXTENSION_PATTERN, GSM_PER_SEGMENT)
    return _split_analysis(GSM, septets, packed, GSM_PER_SEGMENT, len(text), ())


def _analyze_ucs2(text: str, offending: tuple[str, ...]) -> Analysis:
    lone_surrogate = _SURROGATE_PATTERN.search(text)
    if lone_surrogate is not None:
        raise ValueError(
            f"The message contains a lone UTF-16 surrogate (U+{ord(lone_surrogate[0]):04X}) at "
            f"character {lone_surrogate.start() + 1}: it is not a character and cannot be sent."
        )
    units = len(text.encode("utf-16-le")) // 2
    if units <= UCS2_SINGLE_SEGMENT:
        return Analysis(
            encoding=UCS2,
            units=units,
            segments=1 if units else 0,
            per_segment=UCS2_SINGLE_SEGMENT,
            remaining=UCS2_SINGLE_SEGMENT - units,
            characters=len(text),
            offending=offending,
        )
    packed = units
    if units != len(text):
        packed += _padding(text, _ASTRAL_PATTERN, UCS2_PER_SEGMENT)
    return _split_analysis(UCS2, units, packed, UCS2_PER_SEGMENT, len(text), offending)


def _split_analysis(
    encoding: str,
    units: int,
    packed: int,
    per_segment: int,
    characters: int,
    offending: tuple[str, ...],
) -> Analysis:
    segments = -(-packed // per_segment)
    return Analysis(
        encoding=encoding,
        units=units,
        segments=segments,
        per_segment=per_segment,
        remaining=segments * per_segment - packed,
        characters=characters,
        offending=offending,
    )


def _padding(text: str, two_unit_pattern: re.Pattern[str], capacity: int) -> int:
    """Units left empty so that no two-unit character straddles a segment boundary.

    Walks only the two-unit characters: the one at index i starts at unit i + (two-unit
    characters before it) + (padding so far); if that is a segment's last unit, it moves on.
    """
    padding = 0
    for earlier, match in enumerate(two_unit_pattern.finditer(text)):
        if (match.start() + earlier + padding) % capacity == capacity - 1:
            padding += 1
    return padding
