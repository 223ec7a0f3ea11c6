"""Column headers of recipient files: which column holds the phones, and tag names.

Spreadsheets name their phone column in many languages ("Mobil", "Handynummer", "Tlf.");
the guess looks at the name first, then at what the column holds. Tag names turn headers into
the `%field%` tags a message can use. Pure: only the phone-number rules of `webapp.sms`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from webapp.sms.phones import normalise_msisdn


def is_phone_header(name: str) -> bool:
    """True when a column name says the column holds phone numbers (in any of our languages)."""
    return _header_score(name) > 0


def guess_phone_column(
    header: Sequence[str], sample_rows: Sequence[Sequence[str]], default_country: str
) -> int | None:
    """Guess which column holds the phone numbers: by its name, else by its content.

    A column named like a phone column (phone, mobile, msisdn, telefon, mobil, handy, ...) wins
    even when its sample cells are broken, so the user sees why they are rejected. A column with
    only a generic name (number, nr, numero) needs half its non-empty sample cells to be valid
    numbers, as does any column chosen by content alone. None when nothing qualifies.
    """
    width = max([len(header), *(len(row) for row in sample_rows)], default=0)
    validity = [
        _share_of_valid_numbers(sample_rows, index, default_country) for index in range(width)
    ]
    scored = [
        (score, index) for index, name in enumerate(header) if (score := _header_score(name)) > 0
    ]
    for score, index in sorted(scored, key=lambda pair: (-pair[0], pair[1])):
        share = validity[index]
        if score >= _STRONG_NAME or share is None or share >= 0.5:
            return index
    best = max(
        (index for index in range(width) if validity[index] is not None),
        key=lambda index: (validity[index], -index),
        default=None,
    )
    if best is not None and validity[best] >= 0.5:
        return best
    return None


def tag_name(column_header: str) -> str:
    """The personalisation tag for a column: "First name" -> "first_name", "Fornavn" -> "fornavn".

    Lower case ASCII letters, digits and underscores (æ, ø, å become ae, oe, aa; other accents
    are dropped); "field" when nothing is left.
    """
    return fold_name(column_header) or "field"


def unique_tag_names(column_headers: Sequence[str]) -> list[str]:
    """tag_name for each column, with "_2", "_3", ... added where two columns would clash."""
    names: list[str] = []
    taken: set[str] = set()
    for header in column_headers:
        base = name = tag_name(header)
        suffix = 2
        while name in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names


# Header names, folded like tag names (lower case, ASCII, underscores). A strong name is trusted
# whatever the column holds; a weak one only when the content agrees.
_STRONG_NAME = 2
_WEAK_NAME = 1
_PHONE_WORDS = {
    "msisdn": 3,
    "mobile": 3,
    "mobil": 3,
    "mobiltelefon": 3,
    "mobilnummer": 3,
    "mobilnr": 3,
    "mobilenumber": 3,
    "mobilephone": 3,
    "mobileno": 3,
    "handy": 3,
    "handynummer": 3,
    "cell": 3,
    "cellphone": 3,
    "cellular": 3,
    "celular": 3,
    "portable": 3,
    "movil": 3,
    "cellulare": 3,
    "gsm": 3,
    "sms": 3,
    "phone": _STRONG_NAME,
    "phonenumber": _STRONG_NAME,
    "phoneno": _STRONG_NAME,
    "telephone": _STRONG_NAME,
    "tel": _STRONG_NAME,
    "tlf": _STRONG_NAME,
    "tlfnr": _STRONG_NAME,
    "telefon": _STRONG_NAME,
    "telefonnummer": _STRONG_NAME,
    "telefonnr": _STRONG_NAME,
    "telefono": _STRONG_NAME,
    "telephone_number": _STRONG_NAME,
    "number": _WEAK_NAME,
    "nummer": _WEAK_NAME,
    "numero": _WEAK_NAME,
    "nr": _WEAK_NAME,
    "no": _WEAK_NAME,
}
_PHONE_STEMS = ("msisdn", "mobil", "phone", "telefon", "handy", "celular")
_NOT_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]+")
_TRANSLITERATION = str.maketrans(
    {"æ": "ae", "ø": "oe", "å": "aa", "ß": "ss", "œ": "oe", "þ": "th", "ð": "d", "ł": "l"}
)


def fold_name(name: str) -> str:
    """A column name as lower-case ASCII words joined by underscores: "Efter Navn" -> "efter_navn".

    æ, ø, å become ae, oe, aa; other letters lose their accents; anything that is not a letter
    or digit separates words. Used to match phone column names and to name personalisation tags.
    """
    folded = unicodedata.normalize("NFKD", name.strip().lower().translate(_TRANSLITERATION))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    return _NOT_LETTER_OR_DIGIT.sub("_", ascii_only).strip("_")


def _header_score(name: str) -> int:
    folded = fold_name(name)
    if not folded:
        return 0
    words = folded.split("_")
    score = max(
        (_PHONE_WORDS.get(word, 0) for word in [folded.replace("_", ""), *words]), default=0
    )
    if score == 0 and any(stem in folded for stem in _PHONE_STEMS):
        score = _STRONG_NAME
    return score


def _share_of_valid_numbers(
    rows: Sequence[Sequence[str]], index: int, default_country: str
) -> float | None:
    """The share of non-empty cells in a column that are valid numbers; None if all empty."""
    cells = [row[index] for row in rows if index < len(row) and row[index].strip()]
    if not cells:
        return None
    valid = sum(normalise_msisdn(cell, default_country).is_valid for cell in cells)
    return valid / len(cells)
