"""How close a message is to a segment boundary: the characters to cut for one segment fewer.

A message of n segments costs n; cutting it to the capacity of n - 1 segments saves one. That
capacity is the single-segment limit (160 GSM septets, 70 UCS-2 units) when n - 1 is one, else
n - 1 times the per-segment limit (153 or 67). Cutting to one segment counts units only (a
single segment has no boundary to keep a two-unit character whole at); cutting to two or more
counts the units as packed, which is exact for characters cut from the end of the message.
"""

from __future__ import annotations

from webapp.sms.segments import GSM, GSM_SINGLE_SEGMENT, UCS2_SINGLE_SEGMENT, Analysis

HINT_UNITS = 10
"""A message this many units (or fewer) above a segment boundary is worth a hint."""


def units_to_save_segment(analysis: Analysis) -> int | None:
    """Units (GSM septets or UTF-16 units) to cut for one segment fewer; None for a message of
    one segment or none, which cannot get cheaper by cutting."""
    if analysis.segments < 2:
        return None
    fewer = analysis.segments - 1
    if fewer == 1:
        single = GSM_SINGLE_SEGMENT if analysis.encoding == GSM else UCS2_SINGLE_SEGMENT
        return analysis.units - single
    packed = analysis.segments * analysis.per_segment - analysis.remaining
    return packed - fewer * analysis.per_segment


def near_boundary(analysis: Analysis) -> int | None:
    """`units_to_save_segment` when it is at most HINT_UNITS, else None."""
    units = units_to_save_segment(analysis)
    return units if units is not None and units <= HINT_UNITS else None
