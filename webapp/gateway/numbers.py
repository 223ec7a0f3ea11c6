"""Where a full msisdn points: its country calling code and ISO country, via phonenumbers."""

from __future__ import annotations

import functools

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumber, region_code_for_number


def calling_code_of(msisdn: str) -> int | None:
    """The country calling code `msisdn` starts with, or None when none is assigned.

    E.164 calling codes are prefix-free, so the first 1-3 digit prefix that is a code is it;
    the first three digits decide, which makes the lookup cacheable for bulk messages.
    """
    return _calling_code_of_prefix(msisdn[:3])


@functools.lru_cache(maxsize=2048)
def _calling_code_of_prefix(prefix: str) -> int | None:
    for length in range(1, len(prefix) + 1):
        if prefix[:length].isdigit() and int(prefix[:length]) in COUNTRY_CODE_TO_REGION_CODE:
            return int(prefix[:length])
    return None


def country_of(msisdn: str) -> str | None:
    """The ISO country (region) of a full msisdn, e.g. "DK"; "001" for non-geographic numbers.

    None when the msisdn starts with no assigned calling code.
    """
    code = calling_code_of(msisdn)
    if code is None:
        return None
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    if len(regions) == 1:
        return regions[0]
    national = msisdn[len(str(code)) :]
    return _shared_code_region(code, national) or regions[0]


@functools.lru_cache(maxsize=4096)
def _shared_code_region(code: int, national: str) -> str | None:
    # Shared codes (+1, +7, +44, ...) need the number itself to tell the countries apart.
    if not national:
        return None
    return region_code_for_number(PhoneNumber(country_code=code, national_number=int(national)))
