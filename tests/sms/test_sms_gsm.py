"""The GSM 03.38 tables and codec, checked against TS 23.038 transcribed by Unicode name."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.sms import (
    EXTENSION_CHARACTERS,
    GSM_CHARACTERS,
    EncodingError,
    analyze,
    gsm_decode,
    gsm_encode,
    is_gsm,
)

# Every basic-table position whose character is not the ASCII character of the same code.
NON_ASCII_BASIC = {
    0x00: "COMMERCIAL AT",
    0x01: "POUND SIGN",
    0x02: "DOLLAR SIGN",
    0x03: "YEN SIGN",
    0x04: "LATIN SMALL LETTER E WITH GRAVE",
    0x05: "LATIN SMALL LETTER E WITH ACUTE",
    0x06: "LATIN SMALL LETTER U WITH GRAVE",
    0x07: "LATIN SMALL LETTER I WITH GRAVE",
    0x08: "LATIN SMALL LETTER O WITH GRAVE",
    0x09: "LATIN CAPITAL LETTER C WITH CEDILLA",
    0x0B: "LATIN CAPITAL LETTER O WITH STROKE",
    0x0C: "LATIN SMALL LETTER O WITH STROKE",
    0x0E: "LATIN CAPITAL LETTER A WITH RING ABOVE",
    0x0F: "LATIN SMALL LETTER A WITH RING ABOVE",
    0x10: "GREEK CAPITAL LETTER DELTA",
    0x11: "LOW LINE",
    0x12: "GREEK CAPITAL LETTER PHI",
    0x13: "GREEK CAPITAL LETTER GAMMA",
    0x14: "GREEK CAPITAL LETTER LAMDA",
    0x15: "GREEK CAPITAL LETTER OMEGA",
    0x16: "GREEK CAPITAL LETTER PI",
    0x17: "GREEK CAPITAL LETTER PSI",
    0x18: "GREEK CAPITAL LETTER SIGMA",
    0x19: "GREEK CAPITAL LETTER THETA",
    0x1A: "GREEK CAPITAL LETTER XI",
    0x1C: "LATIN CAPITAL LETTER AE",
    0x1D: "LATIN SMALL LETTER AE",
    0x1E: "LATIN SMALL LETTER SHARP S",
    0x1F: "LATIN CAPITAL LETTER E WITH ACUTE",
    0x24: "CURRENCY SIGN",
    0x40: "INVERTED EXCLAMATION MARK",
    0x5B: "LATIN CAPITAL LETTER A WITH DIAERESIS",
    0x5C: "LATIN CAPITAL LETTER O WITH DIAERESIS",
    0x5D: "LATIN CAPITAL LETTER N WITH TILDE",
    0x5E: "LATIN CAPITAL LETTER U WITH DIAERESIS",
    0x5F: "SECTION SIGN",
    0x60: "INVERTED QUESTION MARK",
    0x7B: "LATIN SMALL LETTER A WITH DIAERESIS",
    0x7C: "LATIN SMALL LETTER O WITH DIAERESIS",
    0x7D: "LATIN SMALL LETTER N WITH TILDE",
    0x7E: "LATIN SMALL LETTER U WITH DIAERESIS",
    0x7F: "LATIN SMALL LETTER A WITH GRAVE",
}
CONTROL_BASIC = {0x0A: "\n", 0x0D: "\r"}
EXTENSION = {
    0x0A: "\x0c",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "\N{EURO SIGN}",
}


def expected_basic_character(code: int) -> str:
    if code in NON_ASCII_BASIC:
        return unicodedata.lookup(NON_ASCII_BASIC[code])
    return CONTROL_BASIC.get(code, chr(code))


@pytest.mark.parametrize("code", [code for code in range(128) if code != 0x1B])
def test_every_basic_character_encodes_to_its_septet(code):
    assert gsm_encode(expected_basic_character(code)) == bytes([code])


@pytest.mark.parametrize(("code", "char"), EXTENSION.items())
def test_every_extension_character_encodes_to_escape_and_code(code, char):
    assert gsm_encode(char) == bytes([0x1B, code])


def test_alphabet_has_127_basic_and_10_extension_characters():
    assert len(GSM_CHARACTERS) == 137
    assert set(EXTENSION.values()) == EXTENSION_CHARACTERS


@pytest.mark.parametrize("char", ["é", "ä", "ö", "ü", "Ä", "Ç", "ñ", "à", "¤", "§", "$", "@"])
def test_latin_letters_and_signs_of_the_table_are_gsm(char):
    assert is_gsm(char)


@pytest.mark.parametrize(
    "char", ["ç", "á", "í", "ó", "ú", "ê", "ł", "`", "\t", "\x1b", "\u00a0", "\u201c", "😀"]
)
def test_characters_outside_the_table_are_not_gsm(char):
    assert not is_gsm(char)


def test_encoding_non_gsm_text_names_the_characters():
    with pytest.raises(EncodingError) as raised:
        gsm_encode("Hej “Ann” 😀")
    assert raised.value.characters == ("“", "”", "😀")
    assert "U+201C LEFT DOUBLE QUOTATION MARK" in str(raised.value)


def test_decoding_rejects_a_byte_above_0x7f():
    with pytest.raises(ValueError, match="0x80 at position 1"):
        gsm_decode(b"A\x80")


def test_decoding_rejects_a_trailing_escape():
    with pytest.raises(ValueError, match="escape"):
        gsm_decode(b"A\x1b")


def test_undefined_escape_decodes_as_the_basic_character():
    assert gsm_decode(b"\x1bA") == "A"


def test_double_escape_decodes_as_a_space():
    assert gsm_decode(b"\x1b\x1b") == " "


@given(st.text(alphabet=sorted(GSM_CHARACTERS)))
def test_gsm_text_round_trips_through_the_codec(text):
    assert gsm_decode(gsm_encode(text)) == text


@given(st.text(alphabet=sorted(GSM_CHARACTERS)))
def test_encoded_length_is_the_septet_count(text):
    assert len(gsm_encode(text)) == analyze(text, "GSM").units


@given(st.binary().map(lambda data: bytes(value & 0x7F for value in data) + b"@"))
def test_any_septet_string_decodes_to_gsm_text(septets):
    # The final "@" (0x40) keeps the string from ending in a lone escape.
    assert is_gsm(gsm_decode(septets))
