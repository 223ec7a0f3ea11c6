"""The composer's live counter: what the typed message costs, alone and over the chosen lists.

`count_message` is the single source of the figures: the htmx counter calls it on every pause in
typing, and the compose page calls it on a plain submit, so both always agree. Counting a
template against a big list needs every recipient's values, so the recipients (as value codes),
their grouping by what their values cost and the per-list figures are kept in small in-process
LRU caches keyed by everything that changes the answer (`audience.audience_state`). A new
message renders one text per group of recipients whose values have the same length and
character classes (`sms.value_shape`), not one per recipient, and which recipients' values need
Unicode (it does not depend on the message) is found once per set of tags; typing again what was
already counted costs two small queries.

The counter also says what a few characters fewer would save (`SegmentSaving`): a message just
above a segment boundary, or one that look-alike characters push into Unicode, priced over the
chosen lists with the preview's local estimate (`PriceTable.cost_of`).
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import compress, islice
from operator import or_
from threading import Lock

from cachetools import LRUCache
from sqlalchemy.orm import Session

from webapp.gateway.pricing import PriceTable
from webapp.models import RecipientList
from webapp.services.audience import (
    KeptNumbers,
    audience_state,
    available_fields,
    flagged_in,
    list_sources,
    lists_by_id,
)
from webapp.services.campaigns.payload import ENCODINGS
from webapp.services.optouts import opted_out_numbers
from webapp.services.templates import find_template
from webapp.services.undeliverable import flag_state
from webapp.sms import (
    EXTENSION_CHARACTERS,
    GSM,
    Analysis,
    EncodingError,
    LongestMessage,
    PersonalisationSummary,
    Replacement,
    UnknownTagError,
    analyze,
    check_tags,
    find_tags,
    gsm_spelling,
    near_boundary,
    non_gsm_characters,
    render,
    replace_lookalikes,
    summarise_groups,
    value_shape,
    would_fix_encoding,
)
from webapp.sms.gsm import describe_character

AUDIENCE_CACHE_SIZE = 4
"""Recipient sets kept in memory: numbers and value codes, about 10 MB per 100,000 recipients."""

GROUPS_CACHE_SIZE = 64
"""Recipient sets grouped by the shapes of one set of tags: typing reuses them at each key.
As many of the tags' `UnicodeValues` are kept, for the same reason."""

COST_CACHE_SIZE = 256
"""Per-list figures kept, one per (message, encoding, lists) combination."""

MAX_LISTS = 100
"""More lists than this in one count is not a composer's request; refused with a clear error."""

UNICODE_EXAMPLES = 3
"""Recipients named when their field values force Unicode; the rest are counted."""


@dataclass(frozen=True, slots=True)
class ListCost:
    """What the message costs over the chosen lists, each recipient's message personalised.

    Recipients are the lists merged in the order chosen, each number once (the first list's
    fields win), opt-outs left out, as `campaigns.resolve_recipients` resolves a campaign.
    `extra_segment_recipients` need more segments than the template with its tags left empty.
    `segments_by_country` is what the preview prices; `near_boundary[country][n - 1]` counts
    that country's recipients whose message is n units above a segment boundary.
    """

    recipients: int
    total_segments: int
    longest: LongestMessage | None
    ucs2_recipients: int
    extra_segment_recipients: int
    excluded_opted_out: int
    excluded_duplicates: int
    unicode_values: UnicodeValues | None = None
    excluded_undeliverable: int = 0
    segments_by_country: dict[str, int] = field(default_factory=dict)
    near_boundary: dict[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SegmentSaving:
    """What a shorter message would save: cutting `characters` (None: replacing look-alikes
    with GSM characters instead) saves `per_message` segments on the longest message.

    Over the chosen lists, `messages` of the `recipients` messages get cheaper, by `segments`
    in all, costing `cost` less in `currency` at the preview's local prices; all None when no
    list is chosen.
    """

    characters: int | None
    per_message: int
    recipients: int | None = None
    messages: int | None = None
    segments: int | None = None
    cost: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class MissingTags:
    """A chosen list without some of the message's tags: its recipients get them empty."""

    list_name: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnicodeValue:
    """A recipient whose field values need Unicode: number, the field, its value, the
    characters GSM 7-bit cannot send, and the value in GSM 7-bit letters (`gsm_spelling`)."""

    msisdn: str
    field: str
    value: str
    characters: tuple[str, ...]
    spelled: str


@dataclass(frozen=True, slots=True)
class UnicodeValues:
    """Which recipients' values force Unicode when the template alone would be GSM 7-bit:
    the first few by name, how many in all, and every offending character with its name."""

    examples: tuple[UnicodeValue, ...]
    recipients: int
    characters: tuple[OffendingCharacter, ...]


@dataclass(frozen=True, slots=True)
class MessageCount:
    """Everything the counter shows for one message, encoding choice and set of lists.

    `analysis` counts the template before personalisation, with every %tag% left empty: the part
    every recipient pays for (the same baseline `summarise_personalised` compares against).
    When the chosen encoding is GSM but the text cannot be sent in it, `analysis` is the
    automatic (Unicode) count and `errors` says why GSM is impossible. `lists_chosen` counts the
    chosen lists that still exist; `list_cost` is None when none is chosen or an error prevents
    counting the recipients. `template_name` names the saved template the message came from,
    `missing_tags` the chosen lists that lack some of its tags. `cut_saving` and
    `lookalike_saving` say what cutting a few characters or replacing look-alikes would save.
    """

    message: str
    encoding: str
    analysis: Analysis
    tags: tuple[str, ...]
    available_fields: tuple[str, ...]
    lists_chosen: int
    errors: tuple[str, ...]
    fixable: bool
    extension_characters: tuple[str, ...]
    list_cost: ListCost | None
    plain_values: bool = False
    template_name: str | None = None
    missing_tags: tuple[MissingTags, ...] = ()
    cut_saving: SegmentSaving | None = None
    lookalike_saving: SegmentSaving | None = None
    include_undeliverable: bool = False

    @property
    def error(self) -> str | None:
        """The first problem, or None when the message can be sent as it is."""
        return self.errors[0] if self.errors else None

    @property
    def offending(self) -> tuple[str, ...]:
        """The distinct characters outside GSM 03.38, in order of first appearance."""
        return self.analysis.offending

    @property
    def tags_unchecked(self) -> bool:
        """Tags are used but no list is chosen, so nothing says whether they can be filled."""
        return bool(self.tags) and not self.lists_chosen

    def offending_characters(self) -> list[OffendingCharacter]:
        """Each offending character as it can be shown, with its name."""
        return [
            OffendingCharacter(_visible(char), describe_character(char)) for char in self.offending
        ]

    def highlighted(self) -> list[tuple[str, bool]]:
        """The message cut into (text, is_offending) pieces, to mark where the characters that
        force Unicode stand; an invisible one (a no-break space) is shown as ␣."""
        if not self.offending:
            return [(self.message, False)]
        pattern = re.compile("(" + "|".join(re.escape(char) for char in self.offending) + ")")
        pieces = pattern.split(self.message)
        return [
            (_visible(piece), True) if position % 2 else (piece, False)
            for position, piece in enumerate(pieces)
            if piece
        ]


@dataclass(frozen=True, slots=True)
class OffendingCharacter:
    """A character GSM 7-bit cannot send: `shown` is visible even for a space-like character,
    `description` names it ("U+00A0 NO-BREAK SPACE")."""

    shown: str
    description: str


def count_message(
    session: Session,
    message: str,
    encoding: str = "auto",
    list_ids: Sequence[int] = (),
    footer: str = "",
    *,
    plain_values: bool = False,
    template_id: int | None = None,
    price_table: PriceTable | None = None,
    include_undeliverable: bool = False,
) -> MessageCount:
    """Count `message` as the gateway will bill it, and over the lists in `list_ids`; an
    opt-out `footer` (as one recipient gets it) counts as part of every message. `template_id` is
    the saved template the message was taken from (an unknown one is ignored). Savings are
    priced from `price_table` (the preview's default table when None).

    Problems the user can fix (characters GSM cannot send, tags the lists do not offer, a
    recipient whose values need Unicode under forced GSM) are returned in `errors`, not raised.
    Lists that do not exist or are hidden are ignored. With `plain_values` the recipients'
    values are counted as `sms.gsm_spelling` writes them (the campaign's option); which values
    need Unicode as they are is reported either way. Numbers flagged undeliverable are left out
    unless `include_undeliverable` (the campaign's choice). Raises ValueError for an encoding other
    than "auto", "GSM" or "UCS2", or more than MAX_LISTS lists.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"Unknown encoding {encoding!r}: choose 'auto', 'GSM' or 'UCS2'.")
    if len(set(list_ids)) > MAX_LISTS:
        raise ValueError(f"Choose at most {MAX_LISTS} lists at a time.")
    tags = tuple(find_tags(message))
    template_alone = _alone(message, tags) + footer
    errors: list[str] = []
    try:
        analysis = analyze(template_alone, encoding)
    except EncodingError as error:
        errors.append(str(error))
        analysis = analyze(template_alone)

    lists = lists_by_id(session, list_ids)
    fields = tuple(available_fields(lists))
    if lists and tags:
        try:
            check_tags(message, fields)
        except UnknownTagError as error:
            errors.append(str(error))
    list_cost = None
    if lists and not errors:
        list_cost, list_error = _cost_over_lists(
            session, lists, message + footer, encoding, tags, plain_values, include_undeliverable
        )
        if list_error:
            errors.append(list_error)

    extension = ()
    if analysis.encoding == GSM and analysis.units != analysis.characters:
        extension = tuple(char for char in dict.fromkeys(message) if char in EXTENSION_CHARACTERS)
    table = price_table or PriceTable()
    fixable = bool(analysis.offending) and would_fix_encoding(message)
    lookalike_saving = None
    if fixable:
        fixed = replace_lookalikes(message).text
        try:
            fixed_alone = analyze(_alone(fixed, tags) + footer, encoding)
        except EncodingError:  # the footer, or forced Unicode, keeps it from fitting GSM
            fixed_alone = None
        fixed_cost = None
        if fixed_alone is not None and list_cost is not None and list_cost.recipients:
            fixed_cost, _ = _cost_over_lists(
                session, lists, fixed + footer, encoding, tags, plain_values, include_undeliverable
            )
        lookalike_saving = _lookalike_saving(
            (analysis, list_cost), (fixed_alone, fixed_cost), table
        )
    template = find_template(session, template_id)
    return MessageCount(
        message=message,
        encoding=encoding,
        analysis=analysis,
        tags=tags,
        available_fields=fields,
        lists_chosen=len(lists),
        errors=tuple(errors),
        fixable=fixable,
        extension_characters=extension,
        list_cost=list_cost,
        plain_values=plain_values,
        template_name=template.name if template else None,
        missing_tags=tuple(
            MissingTags(lst.name, missing)
            for lst in lists
            if (missing := tuple(tag for tag in tags if tag not in (lst.fields or ())))
        ),
        cut_saving=None if errors else _cut_saving(analysis, tags, list_cost, table),
        lookalike_saving=lookalike_saving,
        include_undeliverable=include_undeliverable,
    )


def _cut_saving(
    analysis: Analysis, tags: tuple[str, ...], cost: ListCost | None, table: PriceTable
) -> SegmentSaving | None:
    """The characters to cut for the longest message to take one segment fewer, when it is
    only a few (`sms.near_boundary`), and what that saves over the chosen lists."""
    if cost is None:
        # With tags but no list, the length of the messages is not known yet.
        units = None if tags else near_boundary(analysis)
        return SegmentSaving(units, 1) if units else None
    if not cost.recipients:
        return None
    units = near_boundary(cost.longest.analysis)
    if units is None:
        return None
    # Cutting `units` saves one segment on every message at most that far above a boundary.
    saved = {country: sum(counts[:units]) for country, counts in cost.near_boundary.items()}
    messages = sum(saved.values())
    return SegmentSaving(
        characters=units,
        per_message=1,
        recipients=cost.recipients,
        messages=messages,
        segments=messages,
        cost=table.cost_of(saved),
        currency=table.currency,
    )


def _lookalike_saving(
    now: tuple[Analysis, ListCost | None],
    fixed: tuple[Analysis | None, ListCost | None],
    table: PriceTable,
) -> SegmentSaving | None:
    """What replacing the look-alikes saves, when it does: (template alone, cost over the
    lists) as the message is `now` and once `fixed`."""
    (analysis, cost), (fixed_alone, fixed_cost) = now, fixed
    if fixed_alone is None:
        return None
    if cost is None or fixed_cost is None:
        per_message = analysis.segments - fixed_alone.segments
        return SegmentSaving(None, per_message) if per_message > 0 else None
    segments = cost.total_segments - fixed_cost.total_segments
    if segments <= 0:
        return None
    saved = table.cost_of(cost.segments_by_country) - table.cost_of(fixed_cost.segments_by_country)
    return SegmentSaving(
        characters=None,
        per_message=cost.longest.analysis.segments - fixed_cost.longest.analysis.segments,
        recipients=cost.recipients,
        segments=segments,
        cost=saved,
        currency=table.currency,
    )


def _alone(message: str, tags: tuple[str, ...]) -> str:
    """The template with every tag left empty: what every recipient's message holds."""
    return render(message, dict.fromkeys(tags, "")) if tags else message


def describe_replacements(replacement: Replacement) -> str:
    """Say what `replace_lookalikes` changed, so the user knows their text was edited:
    'Replaced “ ” with " (4×), – with - (1×); removed U+200B ZERO WIDTH SPACE (1×).'"""
    if not replacement.changes:
        return "Nothing to replace: the message has no look-alike characters."
    by_target: dict[str, tuple[list[str], int]] = {}
    for original, new, count in replacement.changes:
        originals, total = by_target.get(new, ([], 0))
        by_target[new] = ([*originals, original], total + count)
    described = {
        new: " ".join(_shown(char) for char in originals)
        + (f" with {_shown(new)}" if new else "")
        + f" ({total}×)"
        for new, (originals, total) in by_target.items()
    }
    sentences = []
    replaced = [text for new, text in described.items() if new]
    if replaced:
        sentences.append("Replaced " + ", ".join(replaced))
    if "" in described:
        sentences.append("removed " + described[""])
    text = "; ".join(sentences)
    return text[0].upper() + text[1:] + "."


def clear_counter_caches() -> None:
    """Forget every cached recipient set and list figure (for benchmarks and tests)."""
    with _cache_lock:
        _audiences.clear()
        _groups.clear()
        _unicode.clear()
        _list_costs.clear()


# --- Recipients of the chosen lists ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Audience:
    """The chosen lists resolved, in sending order, column by column: each recipient's number,
    for each field the code of its value (`values[field][code]`, "" when missing), and the
    code of their country (`countries[code]`, "ZZ" when unknown, as the preview prices it).
    `first_at[field][code]` is the position of the first recipient with that value.

    Kept instead of each recipient's dict of values: a million recipients fit in tens of MB.
    """

    msisdns: tuple[str, ...]
    codes: dict[str, array]
    values: dict[str, list[str]]
    excluded_opted_out: int
    excluded_duplicates: int
    excluded_undeliverable: int
    country_codes: array = field(default_factory=lambda: array("I"))
    countries: list[str] = field(default_factory=list)
    first_at: dict[str, array] = field(default_factory=dict)

    def values_of(self, index: int, names: Sequence[str]) -> dict[str, str]:
        return {name: self.values[name][self.codes[name][index]] for name in names}


@dataclass(frozen=True, slots=True)
class _Groups:
    """The audience grouped by country and the shapes of the values of some tags
    (`sms.value_shape`): (values of the group's first recipient, recipients in it, that
    recipient's position), in order of position, and each group's country. Every member's
    message costs what the first one's does, at the same price."""

    groups: tuple[tuple[dict[str, str], int, int], ...]
    countries: tuple[str, ...] = ()


# functools.lru_cache cannot take a session argument; cachetools' LRU with a lock can be shared
# by the web server's threads.
_audiences: LRUCache = LRUCache(AUDIENCE_CACHE_SIZE)
_groups: LRUCache = LRUCache(GROUPS_CACHE_SIZE)
_unicode: LRUCache = LRUCache(GROUPS_CACHE_SIZE)
_list_costs: LRUCache = LRUCache(COST_CACHE_SIZE)
_cache_lock = Lock()


def _cost_over_lists(
    session: Session,
    lists: Sequence[RecipientList],
    message: str,
    encoding: str,
    tags: tuple[str, ...],
    plain_values: bool = False,
    include_undeliverable: bool = False,
) -> tuple[ListCost, str | None]:
    """The personalised figures over `lists` and an error for forced GSM, cached."""
    # The database URL keeps two apps in one process apart.
    flags = True if include_undeliverable else flag_state(session)
    audience_key = (str(session.get_bind().url), audience_state(session, lists), flags)
    cost_key = (message, encoding, plain_values, audience_key)
    groups_key = (tags, plain_values, audience_key)
    with _cache_lock:
        cached = _list_costs.get(cost_key)
        audience = _audiences.get(audience_key)
        groups = _groups.get(groups_key)
    if cached is not None:
        return cached
    if audience is None:
        audience = _resolve_audience(session, lists, include_undeliverable)
        with _cache_lock:
            _audiences[audience_key] = audience
    if groups is None:
        groups = _group(audience, tags, gsm_spelling if plain_values else str)
        with _cache_lock:
            _groups[groups_key] = groups
    result = _personalised_cost(
        audience, groups, message, encoding, tags, plain_values, (tags, audience_key)
    )
    with _cache_lock:
        _list_costs[cost_key] = result
    return result


def _resolve_audience(
    session: Session, lists: Sequence[RecipientList], include_undeliverable: bool = False
) -> _Audience:
    """The recipients `campaigns.resolve_recipients` would find for a campaign with `lists`:
    finished imports only, list by list (the first list wins), each number once, no opt-outs,
    no numbers flagged undeliverable unless `include_undeliverable`."""
    chosen = list_sources(lists)
    flagged = set() if include_undeliverable else flagged_in(session, chosen)
    kept = KeptNumbers(chosen, opted_out_numbers(session), flagged, set())
    audience = _audience_of(
        (
            (msisdn, values or {}, country)
            for _, (msisdn, country, values) in kept.rows(session, ("country", "fields"))
        ),
        available_fields(lists),
    )
    return replace(
        audience,
        excluded_opted_out=kept.excluded_opted_out,
        excluded_duplicates=kept.excluded_duplicates,
        excluded_undeliverable=kept.excluded_undeliverable,
    )


def _audience_of(
    recipients: Iterable[tuple[str, dict, str | None]],
    names: Sequence[str],
    excluded: tuple[int, int, int] = (0, 0, 0),
) -> _Audience:
    """(msisdn, fields, country) of the recipients in sending order, read once, as columns of
    value codes for the fields `names`; `excluded` counts the opted-out, repeated and
    undeliverable rows."""
    codes = {name: array("I") for name in names}
    values: dict[str, list[str]] = {name: [] for name in names}
    known: dict[str, dict[str, int]] = {name: {} for name in names}
    first_at = {name: array("I") for name in names}
    country_codes = array("I")
    country_known: dict[str, int] = {}
    msisdns: list[str] = []
    for index, (msisdn, fields, country) in enumerate(recipients):
        msisdns.append(msisdn)
        country_codes.append(country_known.setdefault(country or "ZZ", len(country_known)))
        for name in names:
            value = fields.get(name) or ""
            code = known[name].get(value)
            if code is None:
                code = known[name][value] = len(values[name])
                values[name].append(value)
                first_at[name].append(index)
            codes[name].append(code)
    return _Audience(
        tuple(msisdns),
        codes,
        values,
        *excluded,
        country_codes,
        list(country_known),
        first_at,
    )


def _group(audience: _Audience, tags: tuple[str, ...], spell=str) -> _Groups:
    """Group the recipients by country and the shapes of their values of `tags` as ``spell``
    writes them (the plain-values option's GSM letters, or as they are): one group per country
    when no tag."""
    count = len(audience.msisdns)
    if not count:
        return _Groups(())
    one_country = len(audience.countries) == 1
    if not tags and one_country:
        return _Groups((({}, count, 0),), (audience.countries[0],))
    shape_codes = {name: _shape_codes(audience.values[name], spell) for name in tags}
    if one_country and len(tags) == 1:
        first, sizes = _by_one_field(audience, tags[0], shape_codes[tags[0]])
        return _in_order(audience, tags, spell, first, sizes)
    columns = [] if one_country else [audience.country_codes]
    for name in tags:
        codes_to_shapes = shape_codes[name]
        columns.append([codes_to_shapes[code] for code in audience.codes[name]])
    keys = columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))
    first: dict[object, int] = {}
    sizes: dict[object, int] = {}
    for index, key in enumerate(keys):
        if key in sizes:
            sizes[key] += 1
        else:
            first[key], sizes[key] = index, 1
    return _in_order(audience, tags, spell, first, sizes)


def _shape_codes(values: list[str], spell) -> list[int]:
    """For each value code, the code of its shape (`sms.value_shape`) as ``spell`` writes it."""
    shapes: dict[object, int] = {}
    return [shapes.setdefault(value_shape(spell(value)), len(shapes)) for value in values]


def _by_one_field(
    audience: _Audience, name: str, shape_codes: list[int]
) -> tuple[dict[int, int], dict[int, int]]:
    """Each shape's first recipient and size for one field: the recipients of each value are
    counted in C (a million in 25 ms rather than 80), then added up by shape; values are
    numbered in order of their first recipient, so a shape's first value has its first one."""
    per_value = Counter(audience.codes[name])
    first_at = audience.first_at[name]
    first: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for code, shape in enumerate(shape_codes):
        first.setdefault(shape, first_at[code])
        sizes[shape] = sizes.get(shape, 0) + per_value[code]
    return first, sizes


def _in_order(
    audience: _Audience, tags: tuple[str, ...], spell, first: dict, sizes: dict
) -> _Groups:
    """The groups whose `first` recipient and `sizes` are known, in order of that recipient."""
    in_order = sorted(first.items(), key=lambda item: item[1])
    return _Groups(
        tuple(
            (
                {name: spell(value) for name, value in audience.values_of(index, tags).items()},
                sizes[key],
                index,
            )
            for key, index in in_order
        ),
        tuple(audience.countries[audience.country_codes[index]] for _, index in in_order),
    )


def _personalised_cost(
    audience: _Audience,
    groups: _Groups,
    message: str,
    encoding: str,
    tags: tuple[str, ...],
    plain_values: bool,
    unicode_key: tuple,
) -> tuple[ListCost, str | None]:
    # Under forced GSM, count as the gateway would send it ("auto") and report the recipients
    # whose values need Unicode by number: "recipient 17" means nothing to a user.
    counted_as = "auto" if encoding == GSM else encoding
    by_country = _summarise_by_country(message, groups, counted_as)
    summary = _merged(list(by_country.values())) if by_country else None
    if summary is None:
        summary = summarise_groups(message, (), counted_as)
    unicode_values = None
    if (summary.ucs2_recipients or plain_values) and summary.template_alone.encoding == GSM:
        unicode_values = _cached_unicode_values(audience, tags, unicode_key)
    cost = ListCost(
        recipients=summary.recipients,
        total_segments=summary.total_segments,
        longest=summary.longest,
        ucs2_recipients=summary.ucs2_recipients,
        extra_segment_recipients=summary.extra_segment_recipients,
        excluded_opted_out=audience.excluded_opted_out,
        excluded_duplicates=audience.excluded_duplicates,
        unicode_values=unicode_values,
        segments_by_country={c: part.total_segments for c, part in by_country.items()},
        near_boundary={c: part.near_boundary for c, part in by_country.items()},
        excluded_undeliverable=audience.excluded_undeliverable,
    )
    if encoding != GSM or not summary.ucs2_recipients:
        return cost, None
    return cost, _gsm_refused_for(audience, groups, message, summary.ucs2_recipients)


def _summarise_by_country(
    message: str, groups: _Groups, counted_as: str
) -> dict[str, PersonalisationSummary]:
    """`sms.summarise_groups` for each country's groups: what the preview prices per country."""
    by_country: dict[str, list[tuple[dict[str, str], int, int]]] = {}
    for group, country in zip(groups.groups, groups.countries, strict=True):
        by_country.setdefault(country, []).append(group)
    return {
        country: summarise_groups(message, part, counted_as) for country, part in by_country.items()
    }


def _merged(parts: list[PersonalisationSummary]) -> PersonalisationSummary:
    """The countries' summaries as one; the longest message is the one summarise_groups would
    pick from all of them (most segments, least room left, then the first in sending order)."""
    longest = max(
        (part.longest for part in parts if part.longest is not None),
        key=lambda m: (m.analysis.segments, -m.analysis.remaining, -m.index),
        default=None,
    )
    return PersonalisationSummary(
        recipients=sum(part.recipients for part in parts),
        total_segments=sum(part.total_segments for part in parts),
        longest=longest,
        ucs2_recipients=sum(part.ucs2_recipients for part in parts),
        extra_segment_recipients=sum(part.extra_segment_recipients for part in parts),
        template_alone=parts[0].template_alone,
        near_boundary=tuple(map(sum, zip(*(part.near_boundary for part in parts), strict=True))),
    )


def _cached_unicode_values(audience: _Audience, tags: tuple[str, ...], key: tuple) -> UnicodeValues:
    """`_unicode_values`, found once per audience and set of tags: it does not depend on the
    message, and scanning 100,000 recipients at every keystroke took most of its time."""
    with _cache_lock:
        found = _unicode.get(key)
    if found is None:
        found = _unicode_values(audience, tags)
        with _cache_lock:
            _unicode[key] = found
    return found


def _unicode_values(audience: _Audience, tags: tuple[str, ...]) -> UnicodeValues:
    """Scan the used fields' values (not the rendered texts) for characters outside GSM: each
    distinct value once, then which recipients have one, a column at a time. The same figures
    as looking at each recipient's tags in turn (`tests/services/test_counter_unicode.py`)."""
    used: list[tuple[str, list[tuple[str, ...]]]] = []
    for name in dict.fromkeys(tags):
        offending = [non_gsm_characters(value) if value else () for value in audience.values[name]]
        if any(offending):
            used.append((name, offending))
    if not used:
        return UnicodeValues(examples=(), recipients=0, characters=())
    flags = _needing_unicode(audience, used)
    first_ones = islice(compress(range(len(flags)), flags), UNICODE_EXAMPLES)
    return UnicodeValues(
        examples=tuple(_unicode_example(audience, used, index) for index in first_ones),
        recipients=flags.count(1),
        characters=tuple(
            OffendingCharacter(_visible(char), describe_character(char))
            for char in _in_order_met(audience, used)
        ),
    )


def _needing_unicode(audience: _Audience, used: list[tuple[str, list[tuple[str, ...]]]]) -> bytes:
    """One byte per recipient, 1 when one of the `used` fields' values needs Unicode."""
    flags = None
    for name, offending in used:
        needs = [1 if characters else 0 for characters in offending]
        column = bytes(map(needs.__getitem__, audience.codes[name]))
        flags = column if flags is None else bytes(map(or_, flags, column))
    return flags


def _unicode_example(
    audience: _Audience, used: list[tuple[str, list[tuple[str, ...]]]], index: int
) -> UnicodeValue:
    """The recipient at `index` named by the first used field whose value needs Unicode."""
    for name, offending in used:
        code = audience.codes[name][index]
        if offending[code]:
            value = audience.values[name][code]
            return UnicodeValue(
                audience.msisdns[index], name, value, offending[code], gsm_spelling(value)
            )
    raise AssertionError("a recipient flagged for Unicode has no such value")


def _in_order_met(audience: _Audience, used: list[tuple[str, list[tuple[str, ...]]]]) -> list[str]:
    """The offending characters in the order a walk through the recipients, field by field and
    character by character, first meets them: each value's first recipient says when."""
    first_met: dict[str, tuple[int, int, int]] = {}
    for position, (name, offending) in enumerate(used):
        first_at = audience.first_at[name]
        for code, characters in enumerate(offending):
            for place, char in enumerate(characters):
                met = (first_at[code], position, place)
                if char not in first_met or met < first_met[char]:
                    first_met[char] = met
    return sorted(first_met, key=first_met.__getitem__)


def _gsm_refused_for(audience: _Audience, groups: _Groups, message: str, refused: int) -> str:
    # The members of a group agree on needing Unicode; the first such group's first recipient
    # is the first recipient who does.
    for values, _, index in groups.groups:
        offending = non_gsm_characters(render(message, values))
        if offending:
            listed = ", ".join(describe_character(char) for char in offending)
            others = f" and {refused - 1} more" if refused > 1 else ""
            return (
                f"The message for +{audience.msisdns[index]}{others} cannot be sent in GSM "
                f"7-bit: their list values contain {listed}. Choose automatic or Unicode "
                "encoding, or correct the list."
            )
    raise AssertionError("summarise_groups counted a Unicode recipient that is not there")


def _shown(text: str) -> str:
    if text == " ":
        return "a space"
    if text == "\n":
        return "a line break"
    if len(text) == 1 and (not text.isprintable() or text.isspace()):
        return describe_character(text)
    return text


def _visible(char: str) -> str:
    return char if char.isprintable() and not char.isspace() else "␣"
