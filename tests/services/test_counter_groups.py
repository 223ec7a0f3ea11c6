"""The counter's groups of recipients whose messages cost the same: built column by column
(one field: counted by value, then by shape), the same groups as walking each recipient."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.services.counter import _audience_of, _group
from webapp.sms import gsm_spelling, value_shape

FIELDS = ("first", "city")
ALPHABET = "aAbZ €[ÇñéëŁłçж😀"

recipient = st.tuples(
    st.fixed_dictionaries({}, optional={name: st.text(ALPHABET, max_size=4) for name in FIELDS}),
    st.sampled_from(["DK", "DK", "SE", None]),
)
audiences = st.lists(recipient, max_size=40)
tag_sets = st.lists(st.sampled_from(FIELDS), unique=True, max_size=2).map(tuple)


def groups_per_recipient(rows, tags, spell):
    """The reference: each recipient's country and shapes, in sending order."""
    first: dict[tuple, int] = {}
    sizes: dict[tuple, int] = {}
    for index, (fields, country) in enumerate(rows):
        key = (country or "ZZ", *(value_shape(spell(fields.get(n) or "")) for n in tags))
        first.setdefault(key, index)
        sizes[key] = sizes.get(key, 0) + 1
    return [
        ({n: spell(rows[index][0].get(n) or "") for n in tags}, sizes[key], index, key[0])
        for key, index in sorted(first.items(), key=lambda item: item[1])
    ]


@settings(max_examples=300, deadline=None)
@given(rows=audiences, tags=tag_sets, plain=st.booleans(), one_country=st.booleans())
def test_groups_agree_with_walking_each_recipient(rows, tags, plain, one_country):
    if one_country:
        rows = [(fields, "DK") for fields, _ in rows]
    spell = gsm_spelling if plain else str
    audience = _audience_of(
        [(f"45{20_100_000 + i}", fields, country) for i, (fields, country) in enumerate(rows)],
        FIELDS,
    )
    grouped = _group(audience, tags, spell)
    found = [
        (values, size, index, country)
        for (values, size, index), country in zip(grouped.groups, grouped.countries, strict=True)
    ]
    assert found == groups_per_recipient(rows, tags, spell)
