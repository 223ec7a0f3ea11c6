"""Which recipients' values force Unicode: found a column at a time and once per set of tags,
the same answer as looking at each recipient's values in turn."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, make_list
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.extensions import db
from webapp.models import OptOut
from webapp.services import counter
from webapp.services.counter import (
    UNICODE_EXAMPLES,
    OffendingCharacter,
    UnicodeValue,
    UnicodeValues,
    _audience_of,
    _unicode_values,
    clear_counter_caches,
    count_message,
)
from webapp.sms import gsm_spelling, non_gsm_characters
from webapp.sms.gsm import describe_character

FIELDS = ("first", "city", "code")
# GSM letters, GSM extension characters, letters outside GSM, one beyond the BMP.
ALPHABET = "aAbZ €[ÇñéëŁłçж😀"

values = st.text(alphabet=ALPHABET, max_size=4)
recipient = st.fixed_dictionaries({}, optional={name: values for name in FIELDS})
audiences = st.lists(recipient, max_size=40)
tag_sets = st.lists(st.sampled_from(FIELDS), max_size=4)


def unicode_values_per_recipient(rows: list[dict], tags: list[str]) -> UnicodeValues:
    """The reference: each recipient in sending order, each tag in order."""
    examples: list[UnicodeValue] = []
    characters: dict[str, None] = {}
    recipients = 0
    for index, fields in enumerate(rows):
        found = False
        for name in tags:
            value = fields.get(name) or ""
            offending = non_gsm_characters(value)
            if not offending:
                continue
            characters.update(dict.fromkeys(offending))
            if not found and len(examples) < UNICODE_EXAMPLES:
                examples.append(
                    UnicodeValue(number(index), name, value, offending, gsm_spelling(value))
                )
            found = True
        recipients += found
    return UnicodeValues(
        tuple(examples),
        recipients,
        tuple(OffendingCharacter(visible(c), describe_character(c)) for c in characters),
    )


def number(index: int) -> str:
    return f"45{20_100_000 + index}"


def visible(char: str) -> str:
    return char if char.isprintable() and not char.isspace() else "␣"


@settings(max_examples=300, deadline=None)
@given(rows=audiences, tags=tag_sets)
def test_unicode_values_by_column_agree_with_each_recipient_in_turn(rows, tags):
    audience = _audience_of([(number(i), fields, "DK") for i, fields in enumerate(rows)], FIELDS)
    assert _unicode_values(audience, tuple(tags)) == unicode_values_per_recipient(rows, tags)


def test_characters_are_listed_in_the_order_the_recipients_show_them():
    rows = [{"first": "Ann", "city": "Łódź"}, {"first": "Zoë", "city": "Ås"}, {"first": "Łukasz"}]
    audience = _audience_of([(number(i), f, "DK") for i, f in enumerate(rows)], FIELDS)
    found = _unicode_values(audience, ("first", "city"))
    assert [c.shown for c in found.characters] == ["Ł", "ó", "ź", "ë"]
    assert found.recipients == 3
    assert [(e.msisdn, e.field) for e in found.examples] == [
        (number(0), "city"),
        (number(1), "first"),
        (number(2), "first"),
    ]


def people(names: list[str]):
    numbers = danish_numbers(len(names))
    rows = [(n, {"first_name": name}) for n, name in zip(numbers, names, strict=True)]
    return make_list(db.session, "People", rows, fields=["first_name"]), numbers


@pytest.fixture
def fresh_caches():
    clear_counter_caches()
    yield
    clear_counter_caches()


@pytest.fixture
def scans(monkeypatch):
    """The audiences `_unicode_values` scanned, one entry per scan."""
    seen: list[tuple[str, ...]] = []

    def counting(audience, tags):
        seen.append(tags)
        return _unicode_values(audience, tags)

    monkeypatch.setattr(counter, "_unicode_values", counting)
    return seen


def test_typing_does_not_scan_the_recipients_again_for_unicode(ctx, fresh_caches, scans):
    chosen, numbers = people(["Ann", "Zoë", "Bo"])
    for typed in ("Hi %first_name%", "Hi %first_name%!", "Hi %first_name%! Sale"):
        cost = count_message(db.session, typed, list_ids=[chosen.id]).list_cost
        assert cost.unicode_values.recipients == 1
    assert scans == [("first_name",)]


def test_the_unicode_recipients_follow_a_new_opt_out(ctx, fresh_caches, scans):
    chosen, numbers = people(["Ann", "Zoë", "Chloë"])
    before = count_message(db.session, "Hi %first_name%", list_ids=[chosen.id]).list_cost
    assert before.unicode_values.recipients == 2
    db.session.add(OptOut(msisdn=numbers[1]))
    db.session.commit()
    after = count_message(db.session, "Hi %first_name%!", list_ids=[chosen.id]).list_cost
    assert after.unicode_values.recipients == 1
    assert after.unicode_values.examples[0].msisdn == numbers[2]
    assert len(scans) == 2
