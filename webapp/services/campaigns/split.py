"""An A/B test's split: which variant each frozen recipient gets, or whether it is held back.

A pure function of the recipients' order, the shares and the stored seed, so the preview prices
the very split that confirmation records (see `webapp.services.abtests`).
"""

from __future__ import annotations

import random
import secrets
from array import array

from webapp.models import Campaign
from webapp.services.campaigns.payload import VARIANTS

HELD = "held"  # the group of the recipients held back for the winner
GROUP_ORDER = {"A": 1, "B": 2, "C": 3, HELD: 4}  # an A/B test's batches: A's first, held last
MIN_WINNER_MINUTES = 60  # delivery reports need time to come in
MAX_WINNER_MINUTES = 7 * 24 * 60  # a week: reports of a test older than that say little more


def held_back_percent(shares: dict[str, int]) -> int:
    return 100 - sum(shares.values())


def split_sizes(count: int, shares: dict[str, int]) -> dict[str, int]:
    """How many of ``count`` recipients each group gets: its share, rounded so the sizes add up
    to ``count`` (the largest remainders get the leftovers; a 0 % group gets none)."""
    percents = {letter: shares[letter] for letter in VARIANTS if letter in shares}
    percents[HELD] = held_back_percent(shares)
    sizes = {group: count * percent // 100 for group, percent in percents.items()}
    leftover = count - sum(sizes.values())
    by_remainder = sorted(percents, key=lambda group: -(count * percents[group] % 100))
    for group in by_remainder[:leftover]:
        sizes[group] += 1
    return sizes


def split_groups(count: int, shares: dict[str, int], seed: int) -> list[str]:
    """The group of each of ``count`` recipients, in their order: a shuffle seeded by ``seed``
    deals out `split_sizes`. The same count, shares and seed always give the same split."""
    positions = array("I", range(count))  # 4 bytes each; the shuffle is the same as a list's
    random.Random(seed).shuffle(positions)
    groups = [HELD] * count
    start = 0
    for group, size in split_sizes(count, shares).items():
        for position in positions[start : start + size]:
            groups[position] = group
        start += size
    return groups


def groups_of(campaign: Campaign, count: int) -> list[str | None]:
    """The campaign's split of ``count`` frozen recipients; all None outside a test."""
    if not campaign.is_ab_test:
        return [None] * count
    return split_groups(count, campaign.variant_shares, campaign.split_seed or 0)


def new_seed() -> int:
    """A seed for a campaign's split (63 bits: fits PostgreSQL's bigint)."""
    return secrets.randbits(62)


# --- The split -------------------------------------------------------------------------------


def check_shares(shares: dict[str, int], winner_after_minutes: int | None) -> dict[str, str]:
    """The problems of a test's shares and winner step, by form field ({} when fine)."""
    errors: dict[str, str] = {}
    for letter, share in shares.items():
        if not 1 <= share <= 99:
            errors[f"share_{letter.lower()}"] = (
                f"Variant {letter}'s share must be a whole percent from 1 to 99."
            )
    if not errors and sum(shares.values()) > 100:
        errors["share_a"] = (
            f"The variants' shares add up to {sum(shares.values())} %: at most 100 % of the "
            "audience can be split."
        )
    if winner_after_minutes is not None:
        if not errors and held_back_percent(shares) == 0:
            errors["winner_after_hours"] = (
                "Nothing is held back, so there is no one to send the winner to: hold back a "
                "share of the audience, or send no winner."
            )
        elif not MIN_WINNER_MINUTES <= winner_after_minutes <= MAX_WINNER_MINUTES:
            errors["winner_after_hours"] = (
                "Send the winner 1 to 168 hours (7 days) after the test is sent."
            )
    return errors
