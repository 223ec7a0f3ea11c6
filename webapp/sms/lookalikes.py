"""Swap typographic look-alikes for GSM characters, so a pasted text can go out in GSM 7-bit.

Word processors turn ' into ’ and - into –; one such character makes the whole message UCS-2,
which holds 70 characters per segment instead of 160. Only punctuation, spaces and invisible
characters are replaced: letters are never changed, because that would change the words (é, ä,
ö, ü, Ä, Ç are GSM anyway; á, ç, ł are not, and stay as they are).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from webapp.sms.gsm import is_gsm

_SPACE = " "
_REMOVED = ""

LOOKALIKES: dict[str, str] = {
    # Single quotes, apostrophes and primes.
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark (the typographic apostrophe)
    "\u201a": "'",  # single low-9 quotation mark
    "\u201b": "'",  # single high-reversed-9 quotation mark
    "\u2032": "'",  # prime
    "\u00b4": "'",  # acute accent, typed as an apostrophe
    "`": "'",  # grave accent: ASCII, but not in GSM 03.38
    "\u2039": "'",  # single left-pointing angle quotation mark
    "\u203a": "'",  # single right-pointing angle quotation mark
    # Double quotes.
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u201e": '"',  # double low-9 quotation mark
    "\u201f": '"',  # double high-reversed-9 quotation mark
    "\u2033": '"',  # double prime
    "\u00ab": '"',  # left-pointing double angle quotation mark (guillemet)
    "\u00bb": '"',  # right-pointing double angle quotation mark (guillemet)
    # Dashes and hyphens.
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2022": "-",  # bullet, as in a pasted list
    # Other punctuation.
    "\u2026": "...",  # horizontal ellipsis
    "\u2044": "/",  # fraction slash
    # Spaces.
    "\t": _SPACE,  # tab: ASCII, but not in GSM 03.38
    "\u00a0": _SPACE,  # no-break space
    "\u2002": _SPACE,  # en space
    "\u2003": _SPACE,  # em space
    "\u2004": _SPACE,  # three-per-em space
    "\u2005": _SPACE,  # four-per-em space
    "\u2006": _SPACE,  # six-per-em space
    "\u2007": _SPACE,  # figure space
    "\u2008": _SPACE,  # punctuation space
    "\u2009": _SPACE,  # thin space
    "\u200a": _SPACE,  # hair space
    "\u202f": _SPACE,  # narrow no-break space
    "\u205f": _SPACE,  # medium mathematical space
    "\u3000": _SPACE,  # ideographic space
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
    # Invisible characters: removed.
    "\u200b": _REMOVED,  # zero width space
    "\u2060": _REMOVED,  # word joiner
    "\ufeff": _REMOVED,  # zero width no-break space (byte order mark)
    "\u00ad": _REMOVED,  # soft hyphen
    # Symbols with a GSM twin of another code point.
    "\u2126": "\u03a9",  # ohm sign -> Greek capital omega
    "\u2206": "\u0394",  # increment -> Greek capital delta
    # Ligatures from text copied out of PDFs.
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
}
# Fullwidth ASCII (U+FF01..U+FF5E), as typed with East Asian input methods: same shape, half
# width. The fullwidth grave accent becomes an apostrophe, since ` itself is not GSM.
LOOKALIKES.update({chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)})
LOOKALIKES["\uff40"] = "'"

_TRANSLATION = str.maketrans(LOOKALIKES)
_LOOKALIKE_PATTERN = re.compile("[" + "".join(re.escape(char) for char in LOOKALIKES) + "]")


@dataclass(frozen=True, slots=True)
class Replacement:
    """The text after replacement, and each change as (original, replacement, occurrences)."""

    text: str
    changes: tuple[tuple[str, str, int], ...] = ()


def replace_lookalikes(text: str) -> Replacement:
    """Replace every known look-alike with its GSM twin; `changes` lists them in order of
    first appearance. Characters that are already GSM are never touched."""
    first = _LOOKALIKE_PATTERN.search(text)
    if first is None:
        return Replacement(text)
    found = dict.fromkeys(_LOOKALIKE_PATTERN.findall(text, first.start()))
    changes = tuple((char, LOOKALIKES[char], text.count(char)) for char in found)
    return Replacement(text.translate(_TRANSLATION), changes)


def would_fix_encoding(text: str) -> bool:
    """True when `text` needs UCS-2 but replace_lookalikes would make it fit GSM 7-bit."""
    return not is_gsm(text) and is_gsm(replace_lookalikes(text).text)


# Letters without a GSM twin by decomposition (their stroke is not a combining mark).
_LETTER_FALLBACKS = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"}


def gsm_spelling(value: str) -> str:
    """`value` in GSM 7-bit letters where it can be: look-alikes replaced, then each letter GSM
    lacks written as its base letter (ç -> c, á -> a, Ł -> L, ë -> e). Unlike replace_lookalikes
    this changes letters, so it is only for field values a sender chose to send this way (a name
    such as "François" then costs a GSM message instead of a Unicode one); other characters stay.
    """
    if is_gsm(value):
        return value
    value = replace_lookalikes(value).text
    if is_gsm(value):
        return value
    return "".join(char if is_gsm(char) else _base_letter(char) for char in value)


def _base_letter(char: str) -> str:
    if char in _LETTER_FALLBACKS:
        return _LETTER_FALLBACKS[char]
    base = "".join(part for part in unicodedata.normalize("NFKD", char) if is_gsm(part))
    return base or char
