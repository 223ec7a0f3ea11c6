"""The SMS text engine: encoding, segments, look-alikes, personalisation and segment savings.

Pure functions: no Flask, no database, no HTTP, and nothing else from webapp. Import from here:
`from webapp.sms import analyze`.
"""

from webapp.sms.gsm import (
    EXTENSION_CHARACTERS,
    GSM_CHARACTERS,
    EncodingError,
    gsm_decode,
    gsm_encode,
    is_gsm,
    non_gsm_characters,
)
from webapp.sms.lookalikes import (
    Replacement,
    gsm_spelling,
    replace_lookalikes,
    would_fix_encoding,
)
from webapp.sms.personalise import (
    LongestMessage,
    PersonalisationSummary,
    UnknownTagError,
    check_tags,
    find_tags,
    render,
    summarise_groups,
    summarise_personalised,
    tagvalues_for,
    to_gateway_tags,
    value_shape,
)
from webapp.sms.savings import HINT_UNITS, near_boundary, units_to_save_segment
from webapp.sms.segments import (
    GSM,
    GSM_PER_SEGMENT,
    GSM_SINGLE_SEGMENT,
    UCS2,
    UCS2_PER_SEGMENT,
    UCS2_SINGLE_SEGMENT,
    Analysis,
    analyze,
    split_segments,
)

__all__ = [
    "EXTENSION_CHARACTERS",
    "GSM",
    "GSM_CHARACTERS",
    "GSM_PER_SEGMENT",
    "GSM_SINGLE_SEGMENT",
    "HINT_UNITS",
    "UCS2",
    "UCS2_PER_SEGMENT",
    "UCS2_SINGLE_SEGMENT",
    "Analysis",
    "EncodingError",
    "LongestMessage",
    "PersonalisationSummary",
    "Replacement",
    "UnknownTagError",
    "analyze",
    "check_tags",
    "find_tags",
    "gsm_decode",
    "gsm_encode",
    "gsm_spelling",
    "is_gsm",
    "near_boundary",
    "non_gsm_characters",
    "render",
    "replace_lookalikes",
    "split_segments",
    "summarise_groups",
    "summarise_personalised",
    "tagvalues_for",
    "units_to_save_segment",
    "to_gateway_tags",
    "value_shape",
    "would_fix_encoding",
]
