"""The characters to cut for one segment fewer, at every boundary the gateway bills by."""

import pytest

from webapp.sms import (
    HINT_UNITS,
    analyze,
    near_boundary,
    replace_lookalikes,
    summarise_personalised,
    units_to_save_segment,
)


def to_cut(text: str, encoding: str = "auto") -> int | None:
    return units_to_save_segment(analyze(text, encoding))


@pytest.mark.parametrize(
    ("length", "cut"),
    [
        (0, None),
        (1, None),
        (160, None),  # one segment: nothing to save
        (161, 1),
        (170, 10),
        (306, 146),  # two full parts: back to one takes 146
        (307, 1),
        (459, 153),
        (460, 1),
    ],
)
def test_gsm_boundaries(length, cut):
    assert to_cut("x" * length) == cut


@pytest.mark.parametrize(
    ("length", "cut"),
    [(70, None), (71, 1), (80, 10), (134, 64), (135, 1), (201, 67), (202, 1)],
)
def test_ucs2_boundaries(length, cut):
    assert to_cut("я" * length) == cut


def test_forced_unicode_counts_gsm_text_by_the_unicode_boundaries():
    assert to_cut("x" * 71, "UCS2") == 1
    assert to_cut("x" * 71) is None


@pytest.mark.parametrize("char", ["€", "{", "[", "~", "\\"])
def test_an_extension_character_counts_two_septets(char):
    # 159 characters, one of them taking two septets: 160 septets, one segment.
    assert to_cut(char + "x" * 158) is None
    assert to_cut(char + "x" * 159) == 1  # 161 septets
    assert to_cut(char * 3 + "x" * 158) == 4  # 164 septets


def test_back_to_one_segment_counts_septets_not_the_padding_of_two_parts():
    # The € at septets 153-154 would straddle the first part's end, so the two-part message
    # pads one septet before it; as one segment (after cutting 1) it needs no padding.
    text = "x" * 152 + "€" + "x" * 7  # 161 septets
    assert analyze(text).remaining == 153 * 2 - 162
    assert to_cut(text) == 1
    assert analyze(text[:-1]).segments == 1


def test_the_padding_of_a_third_part_counts_where_it_stays():
    text = "x" * 152 + "€" + "x" * 152  # 306 septets, 307 once padded: three parts
    assert analyze(text).segments == 3
    assert to_cut(text) == 1
    assert analyze(text[:-1]).segments == 2


def test_an_emoji_counts_two_units_in_unicode():
    assert to_cut("😀" + "я" * 69) == 1  # 71 units


def test_replacing_lookalikes_saves_what_gsm_holds_more():
    text = "It’s “great” – " + "x" * 140  # 155 characters, Unicode for the quotes
    assert analyze(text).segments == 3
    assert analyze(replace_lookalikes(text).text).segments == 1


def test_near_boundary_is_the_cut_only_within_the_hint_range():
    assert near_boundary(analyze("x" * (160 + HINT_UNITS))) == HINT_UNITS
    assert near_boundary(analyze("x" * (161 + HINT_UNITS))) is None
    assert near_boundary(analyze("x" * 100)) is None


def test_summary_counts_recipients_by_the_units_they_are_above_a_boundary():
    rows = [{"name": "x" * n} for n in (1, 3, 3, 20)] + [{"name": ""}]
    summary = summarise_personalised("y" * 160 + "%name%", rows)
    # 161, 163, 163 and 180 septets; the empty name's message is one segment.
    assert summary.near_boundary == (1, 0, 2) + (0,) * (HINT_UNITS - 3)
