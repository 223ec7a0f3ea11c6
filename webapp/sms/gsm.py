"""The GSM 03.38 default alphabet (3GPP TS 23.038): which characters a 7-bit SMS can carry.

The gateway sends a message in GSM 7-bit when every character is in the basic table or the
extension table, and in UCS-2 otherwise; this module is the single source of truth for that
test, and a codec (unpacked septets) so the tables can be checked by round trips.
"""

from __future__ import annotations

import re
import unicodedata

ESCAPE = 0x1B
"""The septet that introduces a character of the extension table."""

# The basic table, indexed by septet value. Position 0x1B is the escape, not a character.
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# The extension table: each of these is sent as two septets, ESCAPE then this code.
_EXTENSION_TABLE = {
    0x0A: "\x0c",  # form feed
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

BASIC_CHARACTERS = frozenset(_BASIC_TABLE) - {chr(ESCAPE)}
"""Characters that cost one septet."""

EXTENSION_CHARACTERS = frozenset(_EXTENSION_TABLE.values())
"""Characters that cost two septets (escape + code)."""

GSM_CHARACTERS = BASIC_CHARACTERS | EXTENSION_CHARACTERS
"""Every character a GSM 7-bit message can carry."""

_DENSITY_SAMPLE = 200

_ENCODE = {char: bytes([code]) for code, char in enumerate(_BASIC_TABLE) if code != ESCAPE}
_ENCODE.update({char: bytes([ESCAPE, code]) for code, char in _EXTENSION_TABLE.items()})


def _character_class(characters: frozenset[str], *, negate: bool = False) -> re.Pattern[str]:
    body = "".join(re.escape(char) for char in sorted(characters))
    return re.compile(f"[{'^' if negate else ''}{body}]")


NON_GSM_PATTERN = _character_class(GSM_CHARACTERS, negate=True)
"""Matches one character that GSM 7-bit cannot carry (searching runs in C, hence fast)."""

BEYOND_BASIC_PATTERN = _character_class(BASIC_CHARACTERS, negate=True)
"""Matches one character that is not in the basic table: an extension character or non-GSM."""

EXTENSION_PATTERN = _character_class(EXTENSION_CHARACTERS)
"""Matches one character of the extension table."""


class EncodingError(ValueError):
    """Text cannot be sent in GSM 7-bit; `characters` are the culprits, in order of appearance."""

    def __init__(self, characters: tuple[str, ...], subject: str = "The message") -> None:
        self.characters = tuple(characters)
        listed = ", ".join(describe_character(char) for char in self.characters)
        super().__init__(
            f"{subject} contains characters that GSM 7-bit cannot send: {listed}. "
            "Replace them, or send the message as Unicode (UCS-2)."
        )


def describe_character(char: str) -> str:
    """Name a character so a user can find it, even when it is invisible (a no-break space)."""
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}{' ' + name if name else ''}"
    if char.isprintable() and not char.isspace():
        return f"{char} ({code})"
    return code


def is_gsm(text: str) -> bool:
    """True when every character of `text` is in the GSM 03.38 basic or extension table."""
    return NON_GSM_PATTERN.search(text) is None


def non_gsm_characters(text: str, start: int = 0) -> tuple[str, ...]:
    """The distinct characters GSM 7-bit cannot carry, in order of first appearance.

    `start` skips a prefix already known to be GSM.
    """
    first = NON_GSM_PATTERN.search(text, start)
    if first is None:
        return ()
    rest = text[first.start() :]
    sample = rest[:_DENSITY_SAMPLE]
    if len(rest) <= _DENSITY_SAMPLE or len(NON_GSM_PATTERN.findall(sample)) * 4 > len(sample):
        # Short, or mostly non-GSM (Cyrillic, Greek, Arabic): deduplicating every character
        # first is up to twice as fast as collecting each non-GSM occurrence.
        return tuple(char for char in dict.fromkeys(rest) if char not in GSM_CHARACTERS)
    return tuple(dict.fromkeys(NON_GSM_PATTERN.findall(rest)))


def septet_count(text: str) -> int:
    """Septets `text` takes in GSM 7-bit (extension characters count two); text must be GSM."""
    if EXTENSION_PATTERN.search(text) is None:
        return len(text)
    return len(text) + sum(text.count(char) for char in EXTENSION_CHARACTERS)


def gsm_encode(text: str) -> bytes:
    """Encode to unpacked septets (one byte each, extension characters as 0x1B + code).

    Raises EncodingError naming the characters that GSM 7-bit cannot carry.
    """
    offending = non_gsm_characters(text)
    if offending:
        raise EncodingError(offending)
    return b"".join(_ENCODE[char] for char in text)


def gsm_decode(septets: bytes) -> str:
    """Decode unpacked septets, as produced by gsm_encode, back to text.

    An escape followed by a code the extension table does not define decodes as the basic
    table's character for that code, as TS 23.038 tells a receiver to display it.
    Raises ValueError for a byte above 0x7F or a message ending in a lone escape.
    """
    decoded: list[str] = []
    escaped = False
    for position, value in enumerate(septets):
        if value > 0x7F:
            raise ValueError(
                f"Byte 0x{value:02X} at position {position} is not a GSM septet (0x00 to 0x7F)."
            )
        if escaped:
            decoded.append(_EXTENSION_TABLE.get(value) or _fallback_for_escaped(value))
            escaped = False
        elif value == ESCAPE:
            escaped = True
        else:
            decoded.append(_BASIC_TABLE[value])
    if escaped:
        raise ValueError("The septets end with an escape (0x1B) but no character after it.")
    return "".join(decoded)


def _fallback_for_escaped(value: int) -> str:
    # TS 23.038: a second escape is reserved for a future table and shows as a space.
    return " " if value == ESCAPE else _BASIC_TABLE[value]
