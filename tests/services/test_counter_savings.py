"""The counter's segment-savings hint: characters to cut, or look-alikes to replace, and what
that saves over the chosen lists at the preview's local prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers import danish_numbers, make_list

from webapp.extensions import db
from webapp.gateway.pricing import PriceTable
from webapp.services import campaigns
from webapp.services.counter import SegmentSaving, clear_counter_caches, count_message
from webapp.services.preview import preview_campaign

SWEDISH = "46701234567"


@pytest.fixture(autouse=True)
def fresh_caches():
    clear_counter_caches()
    yield
    clear_counter_caches()


def saving(message, *args, **options) -> SegmentSaving | None:
    return count_message(db.session, message, *args, **options).cut_saving


@pytest.mark.parametrize(
    ("message", "cut"),
    [
        ("x" * 160, None),
        ("x" * 161, 1),
        ("x" * 170, 10),
        ("x" * 171, None),  # 11 above the boundary: no hint
        ("x" * 306, None),
        ("x" * 307, 1),
        ("я" * 70, None),
        ("я" * 71, 1),
        ("я" * 134, None),
        ("я" * 135, 1),
        ("€" + "x" * 158, None),  # 160 septets
        ("€" + "x" * 159, 1),  # 161 septets
        ("{" * 2 + "x" * 158, 2),  # 162 septets
    ],
)
def test_cut_hint_at_each_boundary(ctx, message, cut):
    found = saving(message)
    assert (found.characters if found else None) == cut
    if found:
        assert found.per_message == 1 and found.segments is None


def test_forced_unicode_hints_at_the_unicode_boundary(ctx):
    assert saving("x" * 71, "UCS2").characters == 1
    assert saving("x" * 71) is None


def test_the_opt_out_footer_counts_towards_the_boundary(ctx):
    assert saving("x" * 150, footer=" Opt out: x.dk/u/abc").characters == 10


def test_tags_without_a_list_give_no_hint(ctx):
    assert saving("x" * 161 + "%first_name%") is None


def test_over_the_lists_the_hint_says_what_it_saves_at_the_preview_prices(ctx):
    people = make_list(db.session, "People", [*danish_numbers(3), SWEDISH])
    found = saving("x" * 164, "auto", [people.id])
    assert (found.characters, found.messages, found.recipients, found.segments) == (4, 4, 4, 4)
    prices = PriceTable()
    assert found.cost == 3 * prices.price_for("DK") + prices.price_for("SE")
    assert found.currency == prices.currency


def test_the_saving_agrees_with_the_local_preview(ctx, sender):
    people = make_list(db.session, "People", [*danish_numbers(3), SWEDISH])
    found = saving("x" * 164, "auto", [people.id])

    def previewed(message):
        draft = campaigns.CampaignDraft(
            name=message[:5], sender="Shop", message=message, list_ids=[people.id]
        )
        campaign = campaigns.save_draft(db.session, sender, draft)
        preview_campaign(db.session, campaign, sender, None, honours_dry_run=False, batch_size=10)
        return campaign.segments, campaign.cost

    long_segments, long_cost = previewed("x" * 164)
    short_segments, short_cost = previewed("x" * 160)
    assert found.segments == long_segments - short_segments
    assert found.cost == Decimal(long_cost) - Decimal(short_cost)


def test_personalised_hint_follows_the_longest_message(ctx):
    rows = zip(danish_numbers(3), ["Al", "Bea", "Christoffer"], strict=True)
    people = make_list(db.session, "People", [(n, {"name": v}) for n, v in rows], fields=["name"])
    # "x" * 150 + the name: 152, 153 and 161 septets. Only Christoffer's message is two segments.
    found = saving("x" * 150 + "%name%", "auto", [people.id])
    assert (found.characters, found.messages, found.recipients) == (1, 1, 3)
    assert found.cost == PriceTable().price_for("DK")


def test_a_cut_saves_on_every_message_at_most_that_far_above_a_boundary(ctx):
    rows = zip(danish_numbers(3), ["A", "AAAA", "AAAAAAA"], strict=True)
    people = make_list(db.session, "People", [(n, {"name": v}) for n, v in rows], fields=["name"])
    # 161, 164 and 167 septets: cutting 7 (for the longest) saves a segment on all three.
    found = saving("x" * 160 + "%name%", "auto", [people.id])
    assert (found.characters, found.messages, found.segments) == (7, 3, 3)


def test_no_hint_when_the_longest_message_is_far_from_a_boundary(ctx):
    rows = zip(danish_numbers(2), ["A", "A" * 40], strict=True)
    people = make_list(db.session, "People", [(n, {"name": v}) for n, v in rows], fields=["name"])
    assert saving("x" * 160 + "%name%", "auto", [people.id]) is None


def test_no_hint_when_the_message_cannot_be_sent_as_it_is(ctx):
    assert (
        saving("x" * 161 + "%unknown%", "auto", [make_list(db.session, "P", ["4520100000"]).id])
        is None
    )


def test_replacing_lookalikes_says_what_gsm_saves_per_message(ctx):
    counter = count_message(db.session, "It’s “great” – " + "x" * 140)
    assert counter.fixable
    assert counter.lookalike_saving == SegmentSaving(None, 2)


def test_replacing_lookalikes_that_save_nothing_gives_no_saving(ctx):
    counter = count_message(db.session, "It’s “great”")
    assert counter.fixable and counter.lookalike_saving is None


def test_replacing_lookalikes_is_priced_over_the_lists(ctx):
    people = make_list(db.session, "People", [*danish_numbers(2), SWEDISH])
    counter = count_message(db.session, "It’s “great” – " + "x" * 140, "auto", [people.id])
    found = counter.lookalike_saving
    assert (found.per_message, found.recipients, found.segments) == (2, 3, 6)
    prices = PriceTable()
    assert found.cost == 2 * (2 * prices.price_for("DK") + prices.price_for("SE"))


def test_forced_gsm_with_lookalikes_still_says_what_replacing_saves(ctx):
    counter = count_message(db.session, "It’s “great” – " + "x" * 140, "GSM")
    assert counter.error and counter.lookalike_saving == SegmentSaving(None, 2)


def test_forced_unicode_saves_nothing_by_replacing(ctx):
    counter = count_message(db.session, "It’s “great” – " + "x" * 140, "UCS2")
    assert counter.lookalike_saving is None


def test_list_cost_counts_segments_per_country(ctx):
    people = make_list(db.session, "People", [*danish_numbers(2), SWEDISH])
    cost = count_message(db.session, "x" * 161, "auto", [people.id]).list_cost
    assert cost.segments_by_country == {"DK": 4, "SE": 2}
    assert cost.total_segments == 6
    assert cost.longest.index == 0


def test_the_longest_message_is_the_first_in_sending_order_across_countries(ctx):
    rows = [(SWEDISH, {"name": "Bo"}), (danish_numbers(1)[0], {"name": "Bo"})]
    people = make_list(db.session, "People", rows, fields=["name"])
    cost = count_message(db.session, "Hi %name%", "auto", [people.id]).list_cost
    assert cost.longest.index == 0 and cost.recipients == 2


def test_a_price_table_of_ones_own_prices_the_saving(ctx):
    people = make_list(db.session, "People", danish_numbers(2))
    table = PriceTable(prices={"DK": Decimal("1.00")}, currency="EUR")
    found = saving("x" * 161, "auto", [people.id], price_table=table)
    assert (found.cost, found.currency) == (Decimal("2.00"), "EUR")
