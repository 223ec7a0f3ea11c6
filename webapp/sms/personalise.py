"""Personalised messages: `%field%` tags filled in per recipient, as the gateway's tags do.

The gateway receives the template once with `tags` (["%first_name%", ...]) and, per recipient,
`tagvalues` in the same order, and bills each recipient's message after replacement. This
module renders a recipient's message the same way and adds up what a whole list will cost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from webapp.sms.gsm import EXTENSION_CHARACTERS, EncodingError, non_gsm_characters
from webapp.sms.savings import HINT_UNITS, near_boundary
from webapp.sms.segments import AUTO, UCS2, Analysis, analyze

TAG_PATTERN = re.compile(r"%([A-Za-z0-9_]+)%")
"""A tag: a field name of letters, digits and underscores between two percent signs."""

_ANALYSIS_CACHE_SIZE = 4096
_TWO_UNITS_PATTERN = re.compile(
    "[" + re.escape("".join(sorted(EXTENSION_CHARACTERS))) + "\ud800-\udfff\U00010000-\U0010ffff]"
)


class UnknownTagError(ValueError):
    """The template uses tags the recipient list does not offer."""

    def __init__(
        self, unknown: Iterable[str], offered: Iterable[str], recipient: int | None = None
    ) -> None:
        self.unknown = tuple(unknown)
        self.offered = tuple(offered)
        self.recipient = recipient
        listed = ", ".join(f"%{name}%" for name in self.unknown)
        noun = "tag" if len(self.unknown) == 1 else "tags"
        where = "" if recipient is None else f" (recipient {recipient + 1})"
        if self.offered:
            offer = "The list offers: " + ", ".join(f"%{name}%" for name in self.offered) + "."
        else:
            offer = "The list has no fields to personalise with."
        super().__init__(f"Unknown {noun} {listed} in the message{where}. {offer}")


@dataclass(frozen=True, slots=True)
class LongestMessage:
    """The recipient whose message costs the most: position in the list, text, analysis."""

    index: int
    text: str
    analysis: Analysis


@dataclass(frozen=True, slots=True)
class PersonalisationSummary:
    """What a personalised message costs over a whole list.

    `template_alone` is the template with every tag left empty: the part every recipient pays
    for. `longest` is None for an empty list. `near_boundary[n - 1]` counts the recipients whose
    message is n units above a segment boundary (`savings.near_boundary`), n up to HINT_UNITS:
    cutting n units from the template saves each of them, and those nearer, one segment.
    """

    recipients: int
    total_segments: int
    longest: LongestMessage | None
    ucs2_recipients: int
    extra_segment_recipients: int
    template_alone: Analysis
    near_boundary: tuple[int, ...] = (0,) * HINT_UNITS


def find_tags(template: str) -> list[str]:
    """The field names the template's tags refer to (without the % signs), each once, in order
    of first appearance: "Hi %first_name%" gives ["first_name"]."""
    return list(_parse(template)[1])


def check_tags(template: str, fields: Collection[str]) -> list[str]:
    """Return find_tags(template), or raise UnknownTagError if a tag is not among `fields`."""
    used = find_tags(template)
    unknown = [name for name in used if name not in fields]
    if unknown:
        raise UnknownTagError(unknown, fields)
    return used


def render(template: str, values: Mapping[str, str | None]) -> str:
    """One recipient's message: every tag replaced by its value (None counts as empty).

    `values` are keyed by field name without % signs; a tag with no key raises UnknownTagError.
    """
    return _render_parts(_parse(template)[0], values)


def summarise_personalised(
    template: str, rows: Iterable[Mapping[str, str | None]], encoding: str = AUTO
) -> PersonalisationSummary:
    """Render the template for each row, once and streaming, and add up what the list costs.

    Each recipient's message gets its own encoding, as the gateway bills per recipient after
    replacement. Raises UnknownTagError for a row missing a tag's field, and EncodingError
    (naming the recipient) when `encoding` is "GSM" and a rendered message does not fit it.
    """
    return summarise_groups(template, ((row, 1, index) for index, row in enumerate(rows)), encoding)


def summarise_groups(
    template: str, groups: Iterable[tuple[Mapping[str, str | None], int, int]], encoding: str = AUTO
) -> PersonalisationSummary:
    """`summarise_personalised` over groups of recipients whose messages cost the same.

    Each group is (the values of its first recipient, how many recipients, that recipient's
    position), in order of position; `value_shape` says which values cost the same. The
    figures are those of every recipient rendered one by one, the longest message included.
    """
    parts, names = _parse(template)
    template_alone = analyze(_render_parts(parts, dict.fromkeys(names, "")), encoding)
    analyze_cached = functools.lru_cache(maxsize=_ANALYSIS_CACHE_SIZE)(
        functools.partial(analyze, encoding=encoding)
    )
    recipients = total_segments = ucs2_recipients = extra_segment_recipients = 0
    near = [0] * HINT_UNITS
    longest: LongestMessage | None = None
    longest_key = (-1, 0)
    for row, count, index in groups:
        try:
            text = _render_parts(parts, row)
            analysis = analyze_cached(text)
        except UnknownTagError as error:
            raise UnknownTagError(error.unknown, error.offered, recipient=index) from None
        except EncodingError as error:
            raise EncodingError(
                error.characters, f"The message for recipient {index + 1}"
            ) from None
        recipients += count
        total_segments += analysis.segments * count
        if analysis.encoding == UCS2:
            ucs2_recipients += count
        if analysis.segments > template_alone.segments:
            extra_segment_recipients += count
        units_to_cut = near_boundary(analysis)
        if units_to_cut is not None:
            near[units_to_cut - 1] += count
        # Most segments first; among equals, the one with the least room left.
        key = (analysis.segments, -analysis.remaining)
        if key > longest_key:
            longest, longest_key = LongestMessage(index, text, analysis), key
    return PersonalisationSummary(
        recipients=recipients,
        total_segments=total_segments,
        longest=longest,
        ucs2_recipients=ucs2_recipients,
        extra_segment_recipients=extra_segment_recipients,
        template_alone=template_alone,
        near_boundary=tuple(near),
    )


def value_shape(value: str) -> str | tuple[int, bool]:
    """What a tag's value changes in any message's cost: (length, needs Unicode) when each of
    its characters takes one unit in either encoding, else the value itself.

    Two values of the same shape give every template the same encoding, units and segments:
    only characters that take two units (GSM extension characters, characters beyond the
    BMP, whose place decides where a segment must break early) or lone surrogates (an error)
    make the exact text matter.
    """
    if _TWO_UNITS_PATTERN.search(value):
        return value
    return len(value), bool(non_gsm_characters(value))


def to_gateway_tags(template: str, field_order: Sequence[str]) -> tuple[list[str], list[str]]:
    """The gateway's `tags` for this template, and the field names they stand for.

    Only the fields the template uses, in `field_order`: (["%first_name%"], ["first_name"]).
    Raises UnknownTagError when the template uses a field outside `field_order`.
    """
    used = set(check_tags(template, field_order))
    fields = [name for name in dict.fromkeys(field_order) if name in used]
    return [f"%{name}%" for name in fields], fields


def tagvalues_for(row: Mapping[str, str | None], fields: Sequence[str]) -> list[str]:
    """A recipient's `tagvalues`, lined up with the `fields` from to_gateway_tags."""
    missing = [name for name in fields if name not in row]
    if missing:
        raise UnknownTagError(missing, row)
    return [row[name] or "" for name in fields]


@functools.lru_cache(maxsize=256)
def _parse(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split once into alternating literal text and field names, plus the distinct names."""
    parts = tuple(TAG_PATTERN.split(template))
    return parts, tuple(dict.fromkeys(parts[1::2]))


def _render_parts(parts: tuple[str, ...], values: Mapping[str, str | None]) -> str:
    if len(parts) == 1:
        return parts[0]
    pieces = list(parts)
    try:
        for position in range(1, len(parts), 2):
            pieces[position] = values[parts[position]] or ""
    except KeyError:
        names = dict.fromkeys(parts[1::2])
        raise UnknownTagError([n for n in names if n not in values], values) from None
    return "".join(pieces)
