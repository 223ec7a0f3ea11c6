"""Personalisation: %tags% rendered per recipient, and what a whole list costs."""

import pytest

from webapp.sms import (
    EncodingError,
    UnknownTagError,
    analyze,
    check_tags,
    find_tags,
    render,
    summarise_personalised,
    tagvalues_for,
    to_gateway_tags,
)

TEMPLATE = "Hi %first_name%, your code is %code%. Bye %first_name%!"


def test_find_tags_lists_field_names_once_in_order_of_first_appearance():
    assert find_tags(TEMPLATE) == ["first_name", "code"]


def test_percent_signs_that_are_not_tags_are_left_alone():
    assert find_tags("Save 20% today, 30 % tomorrow, 100%!") == []
    assert render("Save 20% today, 30 % tomorrow", {}) == "Save 20% today, 30 % tomorrow"


def test_render_replaces_every_occurrence_of_each_tag():
    rendered = render(TEMPLATE, {"first_name": "Ann", "code": "X1", "city": "Vejle"})
    assert rendered == "Hi Ann, your code is X1. Bye Ann!"


def test_render_treats_a_missing_value_as_empty():
    assert render("Hi %first_name%!", {"first_name": None}) == "Hi !"


def test_render_does_not_expand_tags_inside_values():
    assert render("%a% %b%", {"a": "%b%", "b": "x"}) == "%b% x"


def test_unknown_tag_error_lists_the_unknown_tags_and_the_offered_fields():
    with pytest.raises(UnknownTagError) as raised:
        render("Hi %frist_name% %cod%", {"first_name": "Ann", "code": "X1"})
    assert isinstance(raised.value, ValueError)
    assert raised.value.unknown == ("frist_name", "cod")
    assert str(raised.value) == (
        "Unknown tags %frist_name%, %cod% in the message. The list offers: %first_name%, %code%."
    )


def test_unknown_tag_error_says_when_the_list_offers_no_fields():
    with pytest.raises(UnknownTagError, match="no fields to personalise with"):
        check_tags("Hi %first_name%", [])


def test_check_tags_returns_the_tags_when_all_are_offered():
    assert check_tags(TEMPLATE, ["code", "first_name", "city"]) == ["first_name", "code"]


def test_gateway_tags_follow_the_field_order_and_skip_unused_fields():
    tags, fields = to_gateway_tags(TEMPLATE, ["city", "code", "first_name"])
    assert (tags, fields) == (["%code%", "%first_name%"], ["code", "first_name"])


def test_gateway_tags_reject_an_unknown_tag():
    with pytest.raises(UnknownTagError, match="%code%"):
        to_gateway_tags(TEMPLATE, ["first_name"])


def test_tagvalues_line_up_with_the_fields():
    row = {"first_name": "Ann", "code": None, "city": "Vejle"}
    assert tagvalues_for(row, ["code", "first_name"]) == ["", "Ann"]


def test_tagvalues_for_a_row_without_the_field_is_an_unknown_tag_error():
    with pytest.raises(UnknownTagError, match="%code%"):
        tagvalues_for({"first_name": "Ann"}, ["first_name", "code"])


def test_summary_adds_segments_over_all_recipients():
    rows = [{"name": "Ann"}, {"name": "B" * 160}, {"name": "Zoë"}]
    summary = summarise_personalised("Hi %name%!", rows)
    assert summary.recipients == 3
    assert summary.total_segments == 1 + 2 + 1
    assert summary.extra_segment_recipients == 1
    assert summary.ucs2_recipients == 1  # ë is not GSM


def test_summary_reports_the_longest_message_with_its_position_and_analysis():
    rows = [{"name": "Ann"}, {"name": "B" * 160}, {"name": "C" * 160}]
    longest = summarise_personalised("Hi %name%!", rows).longest
    assert longest.index == 1
    assert longest.text == "Hi " + "B" * 160 + "!"
    assert longest.analysis == analyze(longest.text)


def test_longest_prefers_more_segments_over_more_characters():
    rows = [{"name": "a" * 100}, {"name": "я"}]
    longest = summarise_personalised("%name%" + "я" * 69, rows).longest
    assert (longest.index, longest.analysis.segments) == (0, 3)


def test_template_alone_is_the_template_with_empty_values():
    summary = summarise_personalised("Hi %name%!", [])
    assert summary.template_alone == analyze("Hi !")
    assert (summary.recipients, summary.total_segments, summary.longest) == (0, 0, None)


def test_summary_reads_rows_once_from_a_generator():
    rows = ({"name": str(number)} for number in range(1000))
    assert summarise_personalised("Hi %name%", rows).recipients == 1000


def test_summary_names_the_recipient_missing_a_field():
    rows = [{"name": "Ann"}, {"city": "Vejle"}]
    with pytest.raises(
        UnknownTagError, match=r"\(recipient 2\)\. The list offers: %city%\."
    ) as raised:
        summarise_personalised("Hi %name%", rows)
    assert raised.value.recipient == 1


def test_summary_with_forced_gsm_names_the_recipient_whose_message_cannot_be_gsm():
    rows = [{"name": "Ann"}, {"name": "Zoë"}]
    with pytest.raises(EncodingError, match="message for recipient 2 contains") as raised:
        summarise_personalised("Hi %name%", rows, encoding="GSM")
    assert raised.value.characters == ("ë",)


def test_summary_with_forced_ucs2_counts_every_recipient_as_ucs2():
    summary = summarise_personalised("Hi %name%", [{"name": "Ann"}, {"name": "Bo"}], "UCS2")
    assert summary.ucs2_recipients == 2
