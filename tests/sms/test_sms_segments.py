"""Encoding choice, units and segments at every boundary the gateway bills by."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.sms import (
    EXTENSION_CHARACTERS,
    GSM_CHARACTERS,
    Analysis,
    EncodingError,
    analyze,
    split_segments,
)

CYRILLIC = "я"  # one UTF-16 unit, not GSM
EMOJI = "😀"  # a surrogate pair: two UTF-16 units


def cost(text):
    return (analyze(text).encoding, analyze(text).units, analyze(text).segments)


def test_empty_message_is_no_segment_with_a_full_segment_left():
    assert analyze("") == Analysis(
        encoding="GSM", units=0, segments=0, per_segment=160, remaining=160, characters=0
    )


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [
        (1, 1, 160, 159),
        (159, 1, 160, 1),
        (160, 1, 160, 0),
        (161, 2, 153, 145),
        (306, 2, 153, 0),
        (307, 3, 153, 152),
        (459, 3, 153, 0),
        (460, 4, 153, 152),
    ],
)
def test_gsm_segment_boundaries(length, segments, per_segment, remaining):
    analysis = analyze("a" * length)
    assert (analysis.encoding, analysis.units) == ("GSM", length)
    assert (analysis.segments, analysis.per_segment, analysis.remaining) == (
        segments,
        per_segment,
        remaining,
    )


@pytest.mark.parametrize("char", sorted(EXTENSION_CHARACTERS))
def test_each_extension_character_costs_two_septets(char):
    analysis = analyze("a" + char)
    assert (analysis.encoding, analysis.units, analysis.characters) == ("GSM", 3, 2)


def test_extension_character_ending_at_160_septets_is_one_segment():
    assert cost("a" * 158 + "€") == ("GSM", 160, 1)


def test_extension_character_crossing_160_septets_makes_two_segments():
    assert cost("a" * 159 + "€") == ("GSM", 161, 2)


def test_extension_character_that_fits_the_end_of_a_segment_stays_there():
    text = "a" * 151 + "€" + "a" * 10
    assert [len(piece) for piece in split_segments(text)] == [152, 10]
    assert analyze(text).remaining == 306 - 163


def test_extension_character_on_the_153rd_septet_moves_whole_to_the_next_segment():
    text = "a" * 152 + "€" + "a" * 10
    assert split_segments(text) == ["a" * 152, "€" + "a" * 10]
    analysis = analyze(text)
    assert (analysis.units, analysis.segments, analysis.remaining) == (164, 2, 141)


def test_a_moved_escape_can_cost_an_extra_segment():
    # 306 septets would fill two segments exactly, but the skipped septet pushes one out.
    text = "a" * 152 + "€" + "a" * 152
    analysis = analyze(text)
    assert (analysis.units, analysis.segments, analysis.remaining) == (306, 3, 152)


@pytest.mark.parametrize("line_break", ["\n", "\r", "\r\n"])
def test_newline_and_carriage_return_are_one_gsm_septet_each(line_break):
    assert cost("Hi" + line_break + "there") == ("GSM", 7 + len(line_break), 1)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [
        (69, 1, 70, 1),
        (70, 1, 70, 0),
        (71, 2, 67, 63),
        (134, 2, 67, 0),
        (135, 3, 67, 66),
        (201, 3, 67, 0),
        (202, 4, 67, 66),
    ],
)
def test_ucs2_segment_boundaries(length, segments, per_segment, remaining):
    analysis = analyze(CYRILLIC * length)
    assert (analysis.encoding, analysis.units) == ("UCS2", length)
    assert (analysis.segments, analysis.per_segment, analysis.remaining) == (
        segments,
        per_segment,
        remaining,
    )


def test_emoji_counts_two_units_and_one_character():
    analysis = analyze(EMOJI)
    assert (analysis.encoding, analysis.units, analysis.characters) == ("UCS2", 2, 1)


def test_emoji_ending_at_70_units_is_one_segment():
    assert cost(CYRILLIC * 68 + EMOJI) == ("UCS2", 70, 1)


def test_emoji_crossing_70_units_makes_two_segments():
    assert cost(CYRILLIC * 69 + EMOJI) == ("UCS2", 71, 2)


def test_emoji_on_the_67th_unit_moves_whole_to_the_next_segment():
    text = CYRILLIC * 66 + EMOJI + CYRILLIC * 10
    assert split_segments(text) == [CYRILLIC * 66, EMOJI + CYRILLIC * 10]
    analysis = analyze(text)
    assert (analysis.units, analysis.segments, analysis.remaining) == (78, 2, 55)


def test_a_moved_surrogate_pair_can_cost_an_extra_segment():
    assert cost(CYRILLIC * 66 + EMOJI + CYRILLIC * 66) == ("UCS2", 134, 3)


def test_auto_uses_gsm_when_every_character_is_gsm():
    analysis = analyze("Tilbud på æbler: 10 kr. {i dag} €5 — nej", "auto")
    assert analysis.encoding == "UCS2"  # the em dash
    assert analyze("Tilbud på æbler: 10 kr. {i dag} €5 - ja").encoding == "GSM"


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2():
    analysis = analyze("a" * 100 + "ç")
    assert (analysis.encoding, analysis.units, analysis.segments) == ("UCS2", 101, 2)
    assert analysis.offending == ("ç",)


def test_offending_lists_distinct_characters_in_order_of_first_appearance():
    assert analyze("“a” “b” 😀 ç “").offending == ("“", "”", "😀", "ç")


def test_forced_ucs2_counts_gsm_text_in_utf16_units():
    analysis = analyze("a€" * 40, "UCS2")
    assert (analysis.encoding, analysis.units, analysis.segments) == ("UCS2", 80, 2)
    assert analysis.offending == ()


def test_forced_gsm_with_non_gsm_text_is_an_error_naming_the_characters():
    with pytest.raises(EncodingError) as raised:
        analyze("Hej “Ann”\u00a0😀", "GSM")
    assert isinstance(raised.value, ValueError)
    assert raised.value.characters == ("“", "”", "\u00a0", "😀")
    message = str(raised.value)
    assert "“ (U+201C LEFT DOUBLE QUOTATION MARK)" in message
    assert "U+00A0 NO-BREAK SPACE" in message
    assert "😀 (U+1F600 GRINNING FACE)" in message


@pytest.mark.parametrize("encoding", ["auto", "AUTO", "gsm", "Gsm", "ucs2", "UCS2"])
def test_encoding_names_are_case_insensitive(encoding):
    assert analyze("Hi", encoding).units == 2


@pytest.mark.parametrize("encoding", ["utf8", "UCS-2", "", None])
def test_unknown_encoding_is_an_error_listing_the_choices(encoding):
    with pytest.raises(ValueError, match="choose 'auto', 'GSM' or 'UCS2'"):
        analyze("Hi", encoding)


def test_lone_surrogate_is_an_error():
    with pytest.raises(ValueError, match="lone UTF-16 surrogate"):
        analyze("Hi \ud83d")


def test_split_of_empty_text_is_no_segment():
    assert split_segments("") == []


def test_split_of_single_segment_text_is_the_text():
    assert split_segments("Hello") == ["Hello"]


def test_split_with_forced_gsm_rejects_non_gsm_text():
    with pytest.raises(EncodingError):
        split_segments("“quoted”", "GSM")


# Property tests. The alphabet mixes one- and two-unit characters of both encodings, so
# random text lands escapes and surrogate pairs on segment boundaries often.
MIXED_ALPHABET = st.sampled_from(["a", "€", "[", "\n", "é", CYRILLIC, "ç", EMOJI, "👍🏽"[1]])
# Long enough to span several segments: hypothesis otherwise favours short text.
mixed_text = st.text(alphabet=MIXED_ALPHABET, min_size=60, max_size=1200) | st.text(
    alphabet=MIXED_ALPHABET
)
gsm_text = st.text(
    alphabet=st.sampled_from(["a", "a", "a", "€", "{", "\x0c"]), min_size=140, max_size=1200
) | st.text(alphabet=sorted(GSM_CHARACTERS))
any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=400) | mixed_text
encodings = st.sampled_from(["auto", "UCS2"])


@given(any_text, st.characters(exclude_categories=["Cs"]) | MIXED_ALPHABET, encodings)
def test_segments_never_fall_when_a_character_is_appended(text, char, encoding):
    assert analyze(text + char, encoding).segments >= analyze(text, encoding).segments


@given(any_text, st.characters(exclude_categories=["Cs"]) | MIXED_ALPHABET, encodings)
def test_units_never_fall_when_a_character_is_appended_in_the_same_encoding(text, char, encoding):
    # In "auto", units are septets before and UTF-16 units after a switch to UCS-2, which are
    # not comparable: "€€€" is 6 septets, "€€€“" 4 UTF-16 units (and still one segment).
    before, after = analyze(text, encoding), analyze(text + char, encoding)
    if before.encoding == after.encoding:
        assert after.units >= before.units


@given(gsm_text, st.sampled_from(sorted(GSM_CHARACTERS)))
def test_gsm_units_never_fall_when_a_gsm_character_is_appended(text, char):
    assert analyze(text + char, "GSM").units > analyze(text, "GSM").units


@given(mixed_text | gsm_text, encodings)
def test_segments_never_exceed_the_plain_division_plus_one(text, encoding):
    # Holds while at most per_segment segments pad one unit each, far past these lengths.
    analysis = analyze(text, encoding)
    assert analysis.segments <= math.ceil(analysis.units / analysis.per_segment) + 1


@given(mixed_text | gsm_text | any_text, encodings)
def test_split_segments_give_back_the_text_and_fit_their_capacity(text, encoding):
    analysis = analyze(text, encoding)
    pieces = split_segments(text, encoding)
    assert "".join(pieces) == text
    assert len(pieces) == analysis.segments
    piece_units = [analyze(piece, analysis.encoding).units for piece in pieces]
    assert all(units <= analysis.per_segment for units in piece_units)
    if pieces:
        assert analysis.remaining == analysis.per_segment - piece_units[-1]


@given(mixed_text | gsm_text, encodings)
def test_split_segments_fill_each_segment_before_opening_the_next(text, encoding):
    analysis = analyze(text, encoding)
    pieces = split_segments(text, encoding)
    for piece, following in zip(pieces, pieces[1:], strict=False):
        with_next = analyze(piece + following[0], analysis.encoding).units
        assert with_next > analysis.per_segment


def test_offending_in_a_long_mostly_gsm_text_includes_a_late_character():
    assert analyze("a" * 1000 + "“" + "a" * 1000 + "”").offending == ("“", "”")


def test_offending_in_a_long_mostly_non_gsm_text_includes_a_late_character():
    assert analyze(CYRILLIC * 1000 + "a" + "ж").offending == (CYRILLIC, "ж")


@given(
    st.text(alphabet=st.sampled_from(["a", " ", "я", "ж", "“", EMOJI]), min_size=250)
    | st.text(alphabet=st.sampled_from(["a", "b", " ", "€", "я", "ж", EMOJI]), min_size=250)
    | any_text
)
def test_offending_are_the_distinct_non_gsm_characters_in_order(text):
    expected = tuple(dict.fromkeys(char for char in text if char not in GSM_CHARACTERS))
    assert analyze(text).offending == expected
