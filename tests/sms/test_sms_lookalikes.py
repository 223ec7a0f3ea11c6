"""Look-alike replacement: typographic characters back to GSM, letters left alone."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.sms import GSM_CHARACTERS, analyze, is_gsm, replace_lookalikes, would_fix_encoding
from webapp.sms.lookalikes import LOOKALIKES


@pytest.mark.parametrize(
    ("original", "replaced"),
    [
        ("It\u2019s \u2018here\u2019", "It's 'here'"),
        ("\u201cSale\u201d \u201eJa\u201c \u00abOui\u00bb", '"Sale" "Ja" "Oui"'),
        ("5\u20327\u2033", "5'7\""),
        ("10\u201320 \u2014 now \u2212 5 \u2015 ok", "10-20 - now - 5 - ok"),
        ("Wait\u2026", "Wait..."),
        ("10\u00a0kr 5\u202f% a\u2009b c\u2002d e\u2003f 1\u20070", "10 kr 5 % a b c d e f 1 0"),
        ("zero\u200bwidth soft\u00adhyphen", "zerowidth softhyphen"),
        ("\u2022 one\n\u2022 two", "- one\n- two"),
        ("\uff33\uff21\uff2c\uff25\uff01", "SALE!"),
        ("tab\there `quoted\u00b4", "tab here 'quoted'"),
    ],
)
def test_lookalikes_are_replaced_with_gsm_characters(original, replaced):
    result = replace_lookalikes(original)
    assert result.text == replaced
    assert is_gsm(result.text)


def test_changes_list_each_character_once_with_its_count_in_order_of_appearance():
    result = replace_lookalikes("\u201cHi\u201d \u2013 it\u2019s \u201cme\u201d\u2026")
    assert result.changes == (
        ("\u201c", '"', 2),
        ("\u201d", '"', 2),
        ("\u2013", "-", 1),
        ("\u2019", "'", 1),
        ("\u2026", "...", 1),
    )


def test_text_without_lookalikes_comes_back_unchanged():
    result = replace_lookalikes("Plain text, {braces} and €5.")
    assert (result.text, result.changes) == ("Plain text, {braces} and €5.", ())


@pytest.mark.parametrize("letters", ["éäöüÄÖÜÇñàèùìòØøÅåÆæß", "çáíóúêł", "Привет", "😀"])
def test_letters_and_emoji_are_never_replaced(letters):
    assert replace_lookalikes(letters).text == letters


def test_every_replacement_is_gsm_and_no_original_is():
    assert all(is_gsm(replacement) for replacement in LOOKALIKES.values())
    assert not any(original in GSM_CHARACTERS for original in LOOKALIKES)


def test_replacement_makes_a_typographic_text_fit_gsm():
    text = "Don\u2019t miss our \u201cBlack Friday\u201d sale \u2013 50\u00a0% off\u2026"
    assert analyze(text).encoding == "UCS2"
    assert would_fix_encoding(text)
    assert analyze(replace_lookalikes(text).text).encoding == "GSM"


def test_replacement_does_not_fix_text_with_other_non_gsm_characters():
    assert not would_fix_encoding("Don\u2019t forget: Gar\u00e7on \U0001f600")


def test_gsm_text_needs_no_fix():
    assert not would_fix_encoding("Already fine")


@given(st.text(alphabet=sorted(GSM_CHARACTERS)))
def test_gsm_text_is_never_changed(text):
    assert replace_lookalikes(text).text == text


@given(st.text())
def test_replacing_twice_changes_nothing_more(text):
    once = replace_lookalikes(text).text
    assert replace_lookalikes(once).text == once


def test_gsm_spelling_writes_names_in_gsm_letters():
    from webapp.sms import gsm_spelling, is_gsm

    assert gsm_spelling("François") == "Francois"
    assert gsm_spelling("Łukasz Mirosław") == "Lukasz Miroslaw"
    assert gsm_spelling("Zoë O’Brien") == "Zoe O'Brien"
    assert gsm_spelling("Ñandú Çelik") == "Ñandu Çelik"  # Ñ and Ç are GSM already
    assert gsm_spelling("Anna 🌷") == "Anna 🌷"  # no letter to fall back to: left as it is
    assert is_gsm(gsm_spelling("Dvořák Šťastný"))
