"""Phone numbers from messy spreadsheets, normalised to the digits the gateway wants.

The gateway takes an MSISDN as international digits without `+` ("4520123456"). Recipient files
write numbers every way (`20 12 34 56`, `+45 20123456`, `0045-20123456`, `(+45) 20.12.34.56`)
and Excel mangles them (`4.52E+09`, `4520123456.0`, a dropped `+`). `normalise_msisdn` turns one
cell into an MSISDN or a reason a user can act on; it never guesses where a guess could send an
SMS to the wrong person. Pure: imports nothing from webapp.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
)

MISSING_PHONE = "missing phone number"
NOT_A_PHONE_NUMBER = "not a phone number"
UNKNOWN_COUNTRY_CODE = "not a valid number: unknown country calling code"
TOO_FEW_DIGITS = "not a phone number (too few digits)"
TOO_MANY_DIGITS = "not a phone number (too many digits)"

_CACHE_SIZE = 16_384
"""Distinct cells remembered per process: bounded so memory stays flat on huge files."""

_MIN_DIGITS_FOR_DROPPED_PLUS = 10
"""No number shorter than this is read as an international number whose `+` Excel dropped."""

# Excel shows a long number in a narrow "General" cell as 4.52012E+09 (4,52E+09 with a decimal
# comma) and saves the CSV as shown: the digits past the mantissa are gone for good.
_SCIENTIFIC_NOTATION = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
# A number cell that went through a float: "4520123456.0".
_FLOAT_SUFFIX = re.compile(r"(\+?\d+)\.0+")
# What people write around the digits of a phone number; anything else (letters, "ext", "#")
# means the cell is not just a phone number.
_PHONE_PUNCTUATION = re.compile(r"[0-9+\s\-\u2010-\u2015.()/]+")
_NOT_DIGIT_OR_PLUS = re.compile(r"[^0-9+]")


class PhoneResult(NamedTuple):
    """One normalised cell: an MSISDN with its region, or the reason it was rejected.

    `landline` is True when phonenumbers types the number as FIXED_LINE, so it probably cannot
    receive SMS; numbers typed FIXED_LINE_OR_MOBILE (all Danish ones, for instance) are not
    flagged.
    """

    msisdn: str | None
    country: str | None
    reason: str | None
    landline: bool = False

    @property
    def is_valid(self) -> bool:
        return self.msisdn is not None


def normalise_msisdn(raw: str, default_country: str) -> PhoneResult:
    """Normalise one cell to international digits, reading national numbers in default_country.

    Accepted: digits with spaces, dashes, dots, slashes and parentheses; a leading `+` or `00`;
    a national number of `default_country` (ISO region code such as "DK"); a trailing `.0` from
    a spreadsheet float; and, when the cell is only digits, is not valid as a national number and
    has at least 10 digits and at least two more than any national number of default_country,
    an international number whose `+` Excel dropped (the length rule keeps a mistyped national
    number from becoming a valid number abroad). Rejected with a reason: an empty cell, text,
    Excel scientific notation, and anything phonenumbers does not consider a valid number.
    """
    region = _known_region(default_country)
    text = raw.strip()
    if not text:
        return _MISSING
    return _normalise_text(text, region)


@functools.cache
def _known_region(country: str) -> str:
    """The region code in upper case; a ValueError for a code phonenumbers does not know."""
    region = country.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"Unknown default country {country!r}: use a region code such as 'DK'.")
    return region


_MISSING = PhoneResult(None, None, MISSING_PHONE)
_NOT_A_NUMBER = PhoneResult(None, None, NOT_A_PHONE_NUMBER)

_PARSE_ERROR_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: UNKNOWN_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: NOT_A_PHONE_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: TOO_FEW_DIGITS,
    NumberParseException.TOO_SHORT_NSN: TOO_FEW_DIGITS,
    NumberParseException.TOO_LONG: TOO_MANY_DIGITS,
}


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalise_text(text: str, region: str) -> PhoneResult:
    """normalise_msisdn for a stripped, non-empty cell; cached because lists repeat numbers."""
    if _SCIENTIFIC_NOTATION.fullmatch(text):
        return PhoneResult(None, None, f"Excel scientific notation (digits lost): {text}")
    if float_match := _FLOAT_SUFFIX.fullmatch(text):
        text = float_match.group(1)
    if not _PHONE_PUNCTUATION.fullmatch(text):
        return _NOT_A_NUMBER
    compact = _NOT_DIGIT_OR_PLUS.sub("", text)
    if not compact.lstrip("+"):
        return _NOT_A_NUMBER
    if "+" in compact[1:]:
        return _NOT_A_NUMBER
    if compact.startswith("00"):
        # The international prefix used across Europe; phonenumbers only knows it as such when
        # the default country dials 00, and would read "0045..." as a national number in the US.
        compact = "+" + compact[2:]
    fast = _fast_path(compact, region)
    if fast is not None:
        return fast
    return _normalise_with_parse(compact, region)


def _normalise_with_parse(compact: str, region: str) -> PhoneResult:
    """The general path: phonenumbers.parse, then validation, with the Excel dropped-`+` rule."""
    try:
        number = phonenumbers.parse(compact, region)
    except NumberParseException as error:
        return PhoneResult(
            None, None, _PARSE_ERROR_REASONS.get(error.error_type, NOT_A_PHONE_NUMBER)
        )
    result = _result_for(number)
    if result is not None:
        return result
    reason = _invalid_reason(number.country_code)
    if compact.isdigit() and not compact.startswith("0"):
        international = _parse_international(compact)
        if international is not None:
            if len(compact) >= _min_digits_for_dropped_plus(region):
                return international
            reason += (
                f"; +{compact} would be valid for {international.country}:"
                " add the + if that is what it means"
            )
    return PhoneResult(None, None, reason)


def _parse_international(digits: str) -> PhoneResult | None:
    """The result for +digits when that is a valid number, else None."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return None
    return _result_for(number)


def _result_for(number: PhoneNumber) -> PhoneResult | None:
    """The accepted result for a parsed number, or None when phonenumbers finds it invalid.

    number_type is UNKNOWN exactly when is_valid_number is False (both look the region up the
    same way and run the same type patterns), so one call answers both questions.
    """
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        return None
    msisdn = f"{number.country_code}{phonenumbers.national_significant_number(number)}"
    return PhoneResult(
        msisdn,
        phonenumbers.region_code_for_number(number),
        None,
        number_type == PhoneNumberType.FIXED_LINE,
    )


def _fast_path(compact: str, region: str) -> PhoneResult | None:
    """The result for plain digits, skipping phonenumbers.parse where it provably agrees.

    parse only does more than splitting off the country calling code when the national part
    could start with a national prefix, an international prefix or (for a national number)
    the default country's own calling code; those cells, and any number this path finds
    invalid, go the general way. This is three times faster for the common, clean cell.
    """
    if compact.startswith("+"):
        digits = compact[1:]
        if not digits.isdigit() or digits.startswith("0"):
            return None
        for length in (1, 2, 3):
            country_code = int(digits[:length])
            if country_code in COUNTRY_CODE_TO_REGION_CODE:
                main_region = phonenumbers.region_code_for_country_code(country_code)
                return _fast_result(country_code, main_region, digits[length:], national=False)
        return None
    if not compact.isdigit() or compact.startswith("0"):
        return None
    country_code = phonenumbers.country_code_for_region(region)
    if country_code == 0 or compact.startswith(str(country_code)):
        return None
    return _fast_result(country_code, region, compact, national=True)


def _fast_result(
    country_code: int, region: str, digits: str, *, national: bool
) -> PhoneResult | None:
    """The result for country_code + digits read with region's metadata, as parse would.

    `national` says the digits were written without a country code, so parse would first look
    for region's international dialling prefix in them.
    """
    if not digits or digits.startswith("0"):
        return None
    prefixes = _prefix_patterns(country_code, region)
    if prefixes is None:
        return None
    national_prefix, international_prefix = prefixes
    if national_prefix is not None and national_prefix.match(digits):
        return None
    if national and international_prefix.match(digits):
        return None
    regions = COUNTRY_CODE_TO_REGION_CODE[country_code]
    if len(regions) > 1:
        # Which of several regions (+1: US, CA, ...) a number is from takes phonenumbers' rules.
        return _result_for(PhoneNumber(country_code=country_code, national_number=int(digits)))
    matcher = _type_matcher(country_code, regions[0])
    number_type = matcher.number_type(digits) if matcher is not None else PhoneNumberType.UNKNOWN
    if number_type == PhoneNumberType.UNKNOWN:
        return None
    return PhoneResult(
        f"{country_code}{digits}", regions[0], None, number_type == PhoneNumberType.FIXED_LINE
    )


_Desc = tuple[frozenset[int], re.Pattern[str]] | None

_SPECIAL_TYPES = (
    (PhoneNumberType.PREMIUM_RATE, "premium_rate"),
    (PhoneNumberType.TOLL_FREE, "toll_free"),
    (PhoneNumberType.SHARED_COST, "shared_cost"),
    (PhoneNumberType.VOIP, "voip"),
    (PhoneNumberType.PERSONAL_NUMBER, "personal_number"),
    (PhoneNumberType.PAGER, "pager"),
    (PhoneNumberType.UAN, "uan"),
    (PhoneNumberType.VOICEMAIL, "voicemail"),
)


class _TypeMatcher:
    """phonenumbers.number_type for one region's national numbers, patterns compiled once.

    The same rules in the same order as phonenumbers' own type check (which recompiles or
    looks up every pattern on every call, a third of the time of a clean cell); the tests hold
    it to phonenumbers' answers.
    """

    def __init__(self, metadata: PhoneMetadata) -> None:
        self._general = self._desc(metadata.general_desc)
        self._special = [
            (kind, self._desc(getattr(metadata, name))) for kind, name in _SPECIAL_TYPES
        ]
        self._fixed_line = self._desc(metadata.fixed_line)
        self._mobile = self._desc(metadata.mobile)
        self._same_fixed_and_mobile = bool(metadata.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _desc(desc: object) -> _Desc:
        pattern = getattr(desc, "national_number_pattern", None)
        if not pattern:
            return None  # phonenumbers matches nothing against a missing or empty pattern
        return frozenset(desc.possible_length), re.compile(pattern)

    @staticmethod
    def _matches(nsn: str, desc: _Desc) -> bool:
        if desc is None:
            return False
        lengths, pattern = desc
        return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None

    def number_type(self, nsn: str) -> int:
        if not self._matches(nsn, self._general):
            return PhoneNumberType.UNKNOWN
        for kind, desc in self._special:
            if self._matches(nsn, desc):
                return kind
        if self._matches(nsn, self._fixed_line):
            if self._same_fixed_and_mobile or self._matches(nsn, self._mobile):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self._same_fixed_and_mobile and self._matches(nsn, self._mobile):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


@functools.cache
def _type_matcher(country_code: int, region: str) -> _TypeMatcher | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    return _TypeMatcher(metadata) if metadata is not None else None


@functools.cache
def _prefix_patterns(
    country_code: int, region: str
) -> tuple[re.Pattern[str] | None, re.Pattern[str]] | None:
    """The national and international dialling prefix patterns parse uses for a region."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return None
    national = metadata.national_prefix_for_parsing
    international = metadata.international_prefix or "NonMatch"
    return (re.compile(national) if national else None, re.compile(international))


@functools.cache
def _min_digits_for_dropped_plus(region: str) -> int:
    metadata = PhoneMetadata.metadata_for_region(region)
    lengths = metadata.general_desc.possible_length if metadata is not None else ()
    return max(_MIN_DIGITS_FOR_DROPPED_PLUS, max(lengths, default=0) + 2)


def _invalid_reason(country_code: int) -> str:
    region = phonenumbers.region_code_for_country_code(country_code)
    if region == phonenumbers.UNKNOWN_REGION:
        return f"not a valid number (+{country_code})"
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return f"not a valid number for +{country_code}"
    return f"not a valid number for {region} (+{country_code})"
