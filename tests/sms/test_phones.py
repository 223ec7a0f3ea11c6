"""Phone numbers from spreadsheets: every way people write them, and every way Excel breaks them."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from webapp.sms.phones import (
    MISSING_PHONE,
    NOT_A_PHONE_NUMBER,
    PhoneResult,
    normalise_msisdn,
)


@pytest.mark.parametrize(
    "raw",
    [
        "20123456",
        "20 12 34 56",
        "20-12-34-56",
        "20.12.34.56",
        "(20) 12 34 56",
        "+4520123456",
        "+45 20 12 34 56",
        "(+45) 20-12-34-56",
        "0045 20123456",
        "0045-20-12-34-56",
        "4520123456",
        "  20123456\t",
        "20123456.0",
        "+4520123456.0",
        "20\u00a012\u00a034\u00a056",
        "20\u201312\u201334\u201356",
    ],
)
def test_danish_mobile_written_any_way_becomes_the_same_msisdn(raw):
    assert normalise_msisdn(raw, "DK") == PhoneResult("4520123456", "DK", None, False)


@pytest.mark.parametrize(
    ("raw", "msisdn", "country"),
    [
        ("+46 70 987 65 43", "46709876543", "SE"),
        ("0046 70 987 65 43", "46709876543", "SE"),
        ("+977 9812345678", "9779812345678", "NP"),
        ("+44 7911 123456", "447911123456", "GG"),
        ("+39 06 1234 5678", "390612345678", "IT"),
        ("+41 (0) 78 927 2696", "41789272696", "CH"),
    ],
)
def test_international_number_keeps_its_own_country(raw, msisdn, country):
    result = normalise_msisdn(raw, "DK")

    assert (result.msisdn, result.country, result.reason) == (msisdn, country, None)


def test_national_number_is_read_in_the_default_country():
    assert normalise_msisdn("070 123 45 67", "SE").msisdn == "46701234567"
    assert normalise_msisdn("07911 123456", "GB").msisdn == "447911123456"
    assert normalise_msisdn("(212) 555-1234", "US").msisdn == "12125551234"


def test_double_zero_prefix_is_international_even_where_people_dial_011():
    assert normalise_msisdn("0045 20123456", "US").msisdn == "4520123456"


def test_default_country_code_is_case_insensitive():
    assert normalise_msisdn("20123456", "dk").msisdn == "4520123456"


def test_unknown_default_country_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown default country 'XX'"):
        normalise_msisdn("20123456", "XX")


@pytest.mark.parametrize("raw", ["", "   ", "\t", "\u00a0"])
def test_blank_cell_is_a_missing_phone_number(raw):
    assert normalise_msisdn(raw, "DK") == PhoneResult(None, None, MISSING_PHONE)


@pytest.mark.parametrize(
    "raw",
    ["not a number", "Karen", "20123456 ext 12", "1-800-FLOWERS", "n/a", "-", "+", "++4520123456"],
)
def test_text_is_not_a_phone_number(raw):
    assert normalise_msisdn(raw, "DK").reason == NOT_A_PHONE_NUMBER


@pytest.mark.parametrize("raw", ["4.52012E+09", "4,52E+09", "4.52E+09", "4.520123456E+09", "4E9"])
def test_excel_scientific_notation_is_rejected_naming_the_cell(raw):
    result = normalise_msisdn(raw, "DK")

    assert result.msisdn is None
    assert result.reason == f"Excel scientific notation (digits lost): {raw}"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("123", "not a valid number for DK (+45)"),
        ("201234567", "not a valid number for DK (+45)"),
        ("+44 7700 900123", "not a valid number for GB (+44)"),
        ("+999 1234 5678", "not a valid number: unknown country calling code"),
        ("+45 1", "not a phone number (too few digits)"),
    ],
)
def test_invalid_number_says_for_which_country(raw, reason):
    assert normalise_msisdn(raw, "DK") == PhoneResult(None, None, reason)


def test_number_excel_stripped_of_its_plus_is_read_as_international_when_long_enough():
    # 11 digits can be no Danish number (8 digits) nor a Danish number with one digit too many.
    assert normalise_msisdn("46709876543", "DK").msisdn == "46709876543"


def test_short_number_without_plus_is_not_guessed_to_be_foreign_but_the_reason_hints():
    # Could be a Faroese number without its +, or a mistyped Danish one: the user decides.
    result = normalise_msisdn("298212345", "DK")

    assert result.msisdn is None
    assert result.reason == (
        "not a valid number for DK (+45); +298212345 would be valid for FO:"
        " add the + if that is what it means"
    )


def test_number_one_digit_longer_than_a_national_number_is_not_read_as_foreign():
    # US numbers have 10 digits: an 11-digit cell is more likely a typo than Sweden without +.
    assert normalise_msisdn("46709876543", "US").msisdn is None


def test_fixed_line_number_is_accepted_and_flagged_as_landline():
    result = normalise_msisdn("+49 30 123456", "DK")

    assert (result.msisdn, result.landline) == ("4930123456", True)


def test_mobile_and_fixed_line_or_mobile_numbers_are_not_flagged():
    assert normalise_msisdn("+49 151 12345678", "DK").landline is False
    # Danish numbers do not tell mobiles apart: phonenumbers types them FIXED_LINE_OR_MOBILE.
    assert normalise_msisdn("33 12 34 56", "DK").landline is False


def reference(raw: str, region: str) -> PhoneResult | None:
    """What phonenumbers itself says of a cell, for comparison with the fast path."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return PhoneResult(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:],
        phonenumbers.region_code_for_number(number),
        None,
        phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE,
    )


REGIONS = st.sampled_from(["DK", "SE", "NO", "DE", "GB", "US", "FR", "IT", "IS", "FO", "BR"])


@given(digits=st.text("0123456789", min_size=1, max_size=16), region=REGIONS)
@example(digits="4520123456", region="DK")
@example(digits="390612345678", region="DK")
@example(digits="4420123456", region="GB")
def test_international_digits_agree_with_phonenumbers(digits, region):
    result = normalise_msisdn("+" + digits, region)

    expected = reference("+" + digits, region)
    if expected is None:
        assert result.msisdn is None and result.reason
    else:
        assert result == expected


@given(digits=st.text("0123456789", min_size=1, max_size=16), region=REGIONS)
@example(digits="4520123456", region="DK")
@example(digits="11234567", region="IS")
@example(digits="07911123456", region="GB")
def test_national_digits_agree_with_phonenumbers_or_are_a_dropped_plus(digits, region):
    result = normalise_msisdn(digits, region)

    if digits.startswith("00"):
        expected = reference("+" + digits[2:], region)
    else:
        expected = reference(digits, region)
    if expected is not None:
        assert result == expected
    elif result.msisdn is not None:
        assert len(digits) >= 10
        assert result == reference("+" + digits, region)
    else:
        assert result.reason


@given(raw=st.text(max_size=30), region=REGIONS)
def test_any_cell_gets_a_number_or_a_reason(raw, region):
    result = normalise_msisdn(raw, region)

    assert (result.msisdn is None) != (result.reason is None)
    if result.msisdn is not None:
        assert result.msisdn.isdigit() and result.msisdn.isascii()
        assert result.country
        assert normalise_msisdn("+" + result.msisdn, region) == result


def test_example_numbers_of_every_region_and_type_agree_with_phonenumbers():
    disagreements = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in range(phonenumbers.PhoneNumberType.VOICEMAIL + 1):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            for style in (
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.NATIONAL,
            ):
                written = phonenumbers.format_number(example, style)
                if normalise_msisdn(written, region) != reference(written, region):
                    disagreements.append((region, number_type, written))

    assert disagreements == []
