"""count_message: the composer's figures for the message alone and over the chosen lists."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, make_list

from webapp.extensions import db
from webapp.models import ImportStatus, ListImport, OptOut, Recipient
from webapp.services import campaigns
from webapp.services.counter import (
    UnicodeValue,
    clear_counter_caches,
    count_message,
    describe_replacements,
)
from webapp.sms import (
    find_tags,
    non_gsm_characters,
    render,
    replace_lookalikes,
    summarise_personalised,
)


@pytest.fixture(autouse=True)
def fresh_caches():
    clear_counter_caches()
    yield
    clear_counter_caches()


def people(names, *, name="People", start=20_100_000):
    numbers = danish_numbers(len(names), start=start)
    rows = [(n, {"first_name": first}) for n, first in zip(numbers, names, strict=True)]
    return make_list(db.session, name, rows, fields=["first_name"])


def test_plain_text_counts_in_gsm(ctx):
    counter = count_message(db.session, "Hello there")
    assert (counter.analysis.encoding, counter.analysis.units) == ("GSM", 11)
    assert (counter.analysis.segments, counter.analysis.remaining) == (1, 149)
    assert counter.errors == () and counter.error is None
    assert counter.list_cost is None and not counter.fixable


def test_tags_count_as_empty_before_personalisation(ctx):
    counter = count_message(db.session, "Hi %first_name%!")
    assert counter.analysis.units == len("Hi !")
    assert counter.tags == ("first_name",)
    assert counter.tags_unchecked
    assert counter.errors == ()


def test_extension_characters_cost_two_septets_and_are_named(ctx):
    counter = count_message(db.session, "Pay €5 [now]")
    assert counter.analysis.units == 15
    assert counter.extension_characters == ("€", "[", "]")


def test_forced_gsm_with_unicode_text_is_an_error_but_still_counted(ctx):
    counter = count_message(db.session, "Hej 😀", "GSM")
    assert "😀" in counter.error and "GSM 7-bit cannot send" in counter.error
    assert counter.analysis.encoding == "UCS2"
    assert counter.offending == ("😀",)


def test_forced_ucs2_counts_gsm_text_as_unicode(ctx):
    counter = count_message(db.session, "x" * 71, "UCS2")
    assert (counter.analysis.encoding, counter.analysis.segments) == ("UCS2", 2)


def test_lookalikes_make_the_message_fixable(ctx):
    assert count_message(db.session, "“Hi” – see you…").fixable
    assert not count_message(db.session, "Привет “you”").fixable


def test_highlighting_marks_each_offending_character_where_it_stands(ctx):
    counter = count_message(db.session, "a“b”\u00a0c")
    assert counter.highlighted() == [
        ("a", False),
        ("“", True),
        ("b", False),
        ("”", True),
        ("␣", True),
        ("c", False),
    ]
    assert counter.offending_characters()[2].description == "U+00A0 NO-BREAK SPACE"


def test_unknown_encoding_is_refused(ctx):
    with pytest.raises(ValueError, match="Unknown encoding 'utf8'"):
        count_message(db.session, "Hi", "utf8")


def test_unknown_tag_names_the_tags_the_lists_offer(ctx):
    chosen = people(["Ann"])
    counter = count_message(db.session, "Hi %name%", list_ids=[chosen.id])
    assert counter.error == "Unknown tag %name% in the message. The list offers: %first_name%."
    assert counter.list_cost is None


def test_list_cost_adds_up_every_recipients_own_message(ctx):
    chosen = people(["Ann", "Zoë", "A" * 150])
    counter = count_message(db.session, "Hi %first_name%, welcome!", list_ids=[chosen.id])
    cost = counter.list_cost
    assert counter.errors == () and counter.available_fields == ("first_name",)
    assert cost.recipients == 3
    assert cost.total_segments == 1 + 1 + 2
    assert cost.ucs2_recipients == 1  # ë is not in GSM 03.38
    assert cost.extra_segment_recipients == 1
    assert cost.longest.text == "Hi " + "A" * 150 + ", welcome!"
    assert cost.longest.analysis.segments == 2


def test_lists_are_merged_once_without_opt_outs_as_a_campaign_resolves_them(ctx, sender):
    a, b, c = danish_numbers(3)
    first = make_list(db.session, "First", [(a, {"first_name": "Ann"}), (b, {"first_name": "Bo"})])
    second = make_list(db.session, "Second", [(b, {"first_name": "Other"}), c])
    db.session.add(OptOut(msisdn=c))
    db.session.commit()
    counter = count_message(db.session, "Hello", list_ids=[first.id, second.id])
    draft = campaigns.CampaignDraft(
        name="Spring", sender="Shop", message="Hello", list_ids=[first.id, second.id]
    )
    campaign = campaigns.save_draft(db.session, sender, draft)
    resolved = campaigns.resolve_recipients(db.session, campaign)
    cost = counter.list_cost
    assert cost.recipients == len(resolved.recipients) == 2
    assert cost.excluded_opted_out == resolved.excluded_opted_out == 1
    assert cost.excluded_duplicates == resolved.excluded_duplicates == 1


def test_the_first_chosen_list_gives_a_duplicate_its_values(ctx):
    (number,) = danish_numbers(1)
    short = make_list(db.session, "Short", [(number, {"first_name": "Bo"})], fields=["first_name"])
    long = make_list(
        db.session, "Long", [(number, {"first_name": "B" * 200})], fields=["first_name"]
    )
    counter = count_message(db.session, "Hi %first_name%", list_ids=[short.id, long.id])
    assert counter.list_cost.longest.text == "Hi Bo"


def test_recipients_of_unfinished_imports_do_not_count(ctx):
    chosen = people(["Ann"])
    running = ListImport(list_id=chosen.id, filename="more.csv", status=ImportStatus.RUNNING)
    db.session.add(running)
    db.session.flush()
    db.session.add(
        Recipient(list_id=chosen.id, import_id=running.id, msisdn="4529999999", line=2, fields={})
    )
    db.session.commit()
    assert count_message(db.session, "Hi", list_ids=[chosen.id]).list_cost.recipients == 1


def test_hidden_and_missing_lists_are_ignored(ctx):
    hidden = people(["Ann"])
    hidden.hidden = True
    db.session.commit()
    counter = count_message(db.session, "Hi", list_ids=[hidden.id, 9999])
    assert counter.lists_chosen == 0 and counter.list_cost is None


def test_a_list_with_no_one_to_send_to_costs_nothing(ctx):
    empty = make_list(db.session, "Empty", [])
    cost = count_message(db.session, "Hi", list_ids=[empty.id]).list_cost
    assert (cost.recipients, cost.total_segments, cost.longest) == (0, 0, None)


def test_a_new_opt_out_is_counted_at_once_despite_the_cache(ctx):
    chosen = people(["Ann", "Bo"])
    assert count_message(db.session, "Hi", list_ids=[chosen.id]).list_cost.recipients == 2
    db.session.add(OptOut(msisdn=danish_numbers(1)[0]))
    db.session.commit()
    cost = count_message(db.session, "Hi", list_ids=[chosen.id]).list_cost
    assert (cost.recipients, cost.excluded_opted_out) == (1, 1)


def test_a_finished_import_is_counted_at_once_despite_the_cache(ctx):
    chosen = people(["Ann"])
    assert count_message(db.session, "Hi", list_ids=[chosen.id]).list_cost.recipients == 1
    more = ListImport(list_id=chosen.id, filename="more.csv", status=ImportStatus.DONE)
    db.session.add(more)
    db.session.flush()
    db.session.add(
        Recipient(list_id=chosen.id, import_id=more.id, msisdn="4529999999", line=2, fields={})
    )
    chosen.recipient_count += 1
    db.session.commit()
    assert count_message(db.session, "Hi", list_ids=[chosen.id]).list_cost.recipients == 2


def test_forced_gsm_names_the_recipient_whose_values_need_unicode(ctx):
    chosen = people(["Ann", "Zoë", "Chloë"])
    counter = count_message(db.session, "Hi %first_name%", "GSM", [chosen.id])
    first_unicode = danish_numbers(2)[1]
    assert counter.error.startswith(f"The message for +{first_unicode} and 1 more cannot be sent")
    assert "ë (U+00EB LATIN SMALL LETTER E WITH DIAERESIS)" in counter.error
    assert counter.list_cost.ucs2_recipients == 2


def test_replacements_are_described_grouped_by_what_replaced_them():
    replacement = replace_lookalikes("“Hi” – x\u200b")
    assert describe_replacements(replacement) == (
        'Replaced “ ” with " (2×), – with - (1×); removed U+200B ZERO WIDTH SPACE (1×).'
    )


def test_nothing_replaced_is_said_so():
    assert describe_replacements(replace_lookalikes("plain")).startswith("Nothing to replace")


def test_values_that_force_unicode_name_the_recipients_and_characters(ctx):
    names = ["François", "Ann", "Łukasz", "Çelik", "Bo", "Zoë", "Añá", "Mirosław"]
    list_id = people(names).id
    counter = count_message(db.session, "Hi %first_name%", list_ids=[list_id])
    values = counter.list_cost.unicode_values
    assert values.recipients == 5  # ç, Ł, ë, á, ł; Ç and ñ are GSM 7-bit
    first = danish_numbers(1)[0]
    assert values.examples[0] == UnicodeValue(first, "first_name", "François", ("ç",), "Francois")
    assert len(values.examples) == 3
    assert [c.shown for c in values.characters] == ["ç", "Ł", "ë", "á", "ł"]
    assert "U+00E7 LATIN SMALL LETTER C WITH CEDILLA" in values.characters[0].description


def test_a_unicode_template_does_not_blame_the_values(ctx):
    list_id = people(["François"]).id
    counter = count_message(db.session, "Hi %first_name% 🌷", list_ids=[list_id])
    assert counter.list_cost.unicode_values is None


def test_plain_values_count_names_in_gsm_letters(ctx):
    list_id = people(["François", "Ann"]).id
    plain = count_message(db.session, "Hi %first_name%", list_ids=[list_id], plain_values=True)
    assert plain.list_cost.ucs2_recipients == 0 and plain.list_cost.total_segments == 2
    assert plain.list_cost.unicode_values.examples[0].spelled == "Francois"
    as_is = count_message(db.session, "Hi %first_name%", list_ids=[list_id])
    assert as_is.list_cost.ucs2_recipients == 1  # cached apart from the plain count


GROUPED_VALUES = [
    "Ann",
    "Bo",
    "Søren",
    "Zoë",
    "Ĳssel",
    "€uro",
    "[x]",
    "😀 hi",
    "a😀",
    "Ann",
    "",
    "Karen Marie",
    "Jürgen",
    "{brace}",
    "Ωmega",
    "x" * 80,
    "ж" * 30,
    "~",
]
GROUPED_MESSAGES = [
    "Hi %first%",
    "Dear %first% from %city%, " + "x" * 120 + " [offer] " + "y" * 20,
    "%city%%first%" + "€" * 70,
    "No tags at all, " * 12,
    "😀" * 33 + "%first%",
    "%first%" + "x" * 157,  # 160 septets with a plain three-letter name, more with "[x]"
    "x" * 151 + "%first%",  # where a two-septet character in the name falls decides
    "ж" * 66 + "%first%",
]


@pytest.mark.parametrize("encoding", ["auto", "GSM", "UCS2"])
@pytest.mark.parametrize("message", GROUPED_MESSAGES)
def test_grouped_counting_agrees_with_rendering_every_recipient(ctx, encoding, message):
    """Recipients are counted a group of equally costly values at a time; the figures, the
    longest message and the forced-GSM error must be those of rendering each one."""
    numbers = danish_numbers(90)
    rows = [
        {"first": GROUPED_VALUES[n % len(GROUPED_VALUES)], "city": GROUPED_VALUES[(n * 7) % 11]}
        for n in range(len(numbers))
    ]
    mixed = make_list(
        db.session, "Mixed", list(zip(numbers, rows, strict=True)), fields=["first", "city"]
    )
    counted = count_message(db.session, message, encoding, [mixed.id])
    if counted.list_cost is None:  # the template alone cannot be sent in forced GSM
        assert encoding == "GSM"
        return
    tags = find_tags(message)
    texts = [render(message, {name: row[name] for name in tags}) for row in rows]
    expected = summarise_personalised(
        message,
        ({name: row[name] for name in tags} for row in rows),
        "auto" if encoding == "GSM" else encoding,
    )
    cost = counted.list_cost
    assert (cost.recipients, cost.total_segments, cost.ucs2_recipients) == (
        expected.recipients,
        expected.total_segments,
        expected.ucs2_recipients,
    )
    assert cost.extra_segment_recipients == expected.extra_segment_recipients
    assert cost.longest == expected.longest
    refused = [n for n, text in zip(numbers, texts, strict=True) if non_gsm_characters(text)]
    if encoding == "GSM" and refused:
        assert f"The message for +{refused[0]} and {len(refused) - 1} more" in counted.error
