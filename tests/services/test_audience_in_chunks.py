"""The preview and the freeze read a campaign's audience a chunk at a time (a million recipients
are never held with their fields): what they find is still the plain rule's, whatever the chunk
and batch boundaries.

Two overlapping lists with repeated numbers, opt-outs in one, the other or both, a number
flagged undeliverable (repeated in the second list), three countries and values of one to three
segments; read in chunks of 4 and cut into batches of 3, so every boundary falls among them.
"""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import danish_numbers, gateway_client, make_list, past_campaign
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Batch, CampaignRecipient, OptOut
from webapp.services import audience, campaigns, dispatch
from webapp.services.campaigns import CampaignDraft
from webapp.services.campaigns.split import HELD, split_groups
from webapp.services.counter import count_message
from webapp.services.preview import preview_campaign, recipient_messages

BATCH = 3
DK = danish_numbers(16)
SE = [f"4670{1_000_000 + n}" for n in range(3)]
NO = [f"479{1_000_000 + n}" for n in range(3)]
OPTED_OUT = {DK[2], DK[12], SE[1]}  # in the first list, the second, both
FLAGGED = DK[7]  # in both lists
COUNTRY = {**dict.fromkeys(DK, "DK"), **dict.fromkeys(SE, "SE"), **dict.fromkeys(NO, "NO")}


def name(prefix: str, n: int) -> str:
    """One segment mostly; two or three for some (a long name in "Hi %first_name%")."""
    return prefix + str(n) + "x" * (320 if n % 5 == 0 else 200 if n % 3 == 0 else 0)


FIRST = [(m, {"first_name": name("F", n)}) for n, m in enumerate(DK[:10] + SE[:2] + NO[:2])]
SECOND = [(m, {"first_name": name("S", n)}) for n, m in enumerate(DK[6:] + SE[1:] + NO[1:])]


def plain_rule() -> tuple[list[tuple[str, str]], Counter]:
    """(msisdn, first_name) of who the two lists reach, in order, and what was left out: each
    number's first row wins, opted-out rows and the flagged number left out."""
    kept, seen, left_out = [], set(), Counter()
    for msisdn, values in FIRST + SECOND:
        if msisdn in OPTED_OUT:
            left_out["opted_out"] += 1
        elif msisdn in seen:
            left_out["duplicates"] += 1
        elif msisdn == FLAGGED:
            seen.add(msisdn)
            left_out["undeliverable"] += 1
        else:
            seen.add(msisdn)
            kept.append((msisdn, values["first_name"]))
    return kept, left_out


KEPT, LEFT_OUT = plain_rule()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(audience, "CHUNK", 4)


@pytest.fixture
def lists(sender):
    for _ in range(3):  # undeliverable in each of its last three campaigns: flagged
        past_campaign(db.session, {FLAGGED: "UNDELIVERABLE"})
    first = make_list(db.session, "First", FIRST, fields=["first_name"])
    second = make_list(db.session, "Second", SECOND, fields=["first_name"])
    db.session.add_all(OptOut(msisdn=m) for m in OPTED_OUT)
    db.session.commit()
    return [first.id, second.id]


class DryRuns:
    """The sandbox's client, remembering each dry run's batch and recipients (number, value)."""

    def __init__(self, sandbox) -> None:
        self.client = gateway_client(sandbox)
        self.batches: dict[str, list[tuple[str, str]]] = {}

    def send(self, message, dry_run=False):
        self.batches[message.userref] = [(r.msisdn, r.tagvalues[0]) for r in message.recipients]
        return self.client.send(message, dry_run=dry_run)


def new_campaign(sender, list_ids, **changes):
    draft = CampaignDraft(
        name="Spring", sender="Shop", message="Hi %first_name%", list_ids=list_ids, **changes
    )
    return campaigns.save_draft(db.session, sender, draft)


def preview(campaign, sender, client):
    return preview_campaign(
        db.session, campaign, sender, client, honours_dry_run=True, batch_size=BATCH
    )


def frozen_batches(campaign) -> list[tuple[str | None, str | None, list[tuple[str, str]]]]:
    """(country, variant, [(msisdn, first_name)]) of each frozen batch, in batch order."""
    rows = db.session.execute(
        select(Batch.number, Batch.country, Batch.variant, CampaignRecipient.msisdn)
        .add_columns(CampaignRecipient.fields)
        .join(CampaignRecipient, CampaignRecipient.batch_id == Batch.id)
        .where(Batch.campaign_id == campaign.id)
        .order_by(Batch.number, CampaignRecipient.id)
    ).all()
    batches: dict[int, tuple] = {}
    for number, country, variant, msisdn, values in rows:
        batches.setdefault(number, (country, variant, []))[2].append((msisdn, values["first_name"]))
    return [batches[number] for number in sorted(batches)]


def batched(rows: list, size: int) -> list[list]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def segments_of(first_name: str) -> int:
    return 1 if len(first_name) < 150 else 2 if len(first_name) < 300 else 3


def test_the_preview_counts_each_number_once_across_chunks(sender, sandbox, lists):
    summary = preview(new_campaign(sender, lists), sender, gateway_client(sandbox))
    assert summary["recipients"] == len(KEPT) == 18
    assert (
        (
            summary["excluded_opted_out"],
            summary["excluded_duplicates"],
            summary["excluded_undeliverable"],
        )
        == (LEFT_OUT["opted_out"], LEFT_OUT["duplicates"], LEFT_OUT["undeliverable"])
        == (4, 5, 1)
    )
    segments = Counter()
    for msisdn, first_name in KEPT:
        segments[COUNTRY[msisdn]] += segments_of(first_name)
    assert summary["countries"] == dict(segments)
    assert list(summary["countries"]) == ["DK", "SE", "NO"]  # in the order the lists have them
    assert summary["batches"] == -(-len(KEPT) // BATCH)


def test_the_counter_agrees_with_the_preview_across_chunks(sender, sandbox, lists):
    summary = preview(new_campaign(sender, lists), sender, gateway_client(sandbox))
    counted = count_message(db.session, "Hi %first_name%", list_ids=lists).list_cost
    assert counted.recipients == summary["recipients"]
    assert counted.total_segments == summary["segments"]
    assert counted.segments_by_country == summary["countries"]
    assert (counted.excluded_opted_out, counted.excluded_duplicates) == (
        summary["excluded_opted_out"],
        summary["excluded_duplicates"],
    )


def test_the_dry_run_prices_the_batches_the_freeze_makes_and_the_send_sends(sender, sandbox, lists):
    campaign = new_campaign(sender, lists)
    dry_runs = DryRuns(sandbox)
    preview(campaign, sender, dry_runs)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=BATCH)
    expected = batched(KEPT, BATCH)
    assert list(dry_runs.batches.values()) == expected
    assert [members for _, _, members in frozen_batches(campaign)] == expected
    assert dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox)) == "done"
    sent: dict[str, set[str]] = {}
    for row in sandbox.store.received_for(label="Spring"):
        sent.setdefault(row["userref"], set()).add(row["msisdn"])
    assert sent == {
        userref: {msisdn for msisdn, _ in members} for userref, members in dry_runs.batches.items()
    }


def test_batches_by_country_keep_the_lists_order_within_each_country(sender, sandbox, lists):
    campaign = new_campaign(sender, lists)
    preview(campaign, sender, gateway_client(sandbox))
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=BATCH, by_country=True)
    expected = [
        (country, None, chunk)
        for country in ("DK", "NO", "SE")
        for chunk in batched([row for row in KEPT if COUNTRY[row[0]] == country], BATCH)
    ]
    assert frozen_batches(campaign) == expected
    assert campaign.recipient_countries == ["DK", "NO", "SE"]


def test_an_ab_tests_batches_are_its_seeded_split_group_by_group(sender, sandbox, lists):
    shares = {"A": 30, "B": 30}
    campaign = new_campaign(
        sender, lists, message_b="Hey %first_name%", variant_shares=shares, winner_after_minutes=60
    )
    summary = preview(campaign, sender, gateway_client(sandbox))
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=BATCH, by_country=True)
    groups = split_groups(len(KEPT), shares, campaign.split_seed)
    expected = [
        (country, None if group == HELD else group, chunk)
        for group in ("A", "B", HELD)
        for country in ("DK", "NO", "SE")
        for chunk in batched(
            [
                row
                for row, its_group in zip(KEPT, groups, strict=True)
                if its_group == group and COUNTRY[row[0]] == country
            ],
            BATCH,
        )
    ]
    assert frozen_batches(campaign) == expected
    sizes = Counter(groups)
    assert [g["recipients"] for g in summary["ab_test"]["groups"]] == [
        sizes["A"],
        sizes["B"],
        sizes[HELD],
    ]
    assert summary["batches"] == sum(-(-size // BATCH) for size in sizes.values())


@pytest.mark.parametrize("sort", ["segments", "-segments"])
def test_the_messages_table_pages_through_a_stable_sort_by_segments(sender, sandbox, lists, sort):
    campaign = new_campaign(sender, lists)
    ordered = sorted(KEPT, key=lambda row: segments_of(row[1]), reverse=sort == "-segments")
    pages = []
    for page in range(1, 7):
        rows, total = recipient_messages(db.session, campaign, sort=sort, page=page, per_page=4)
        assert total == len(KEPT)
        pages.extend((row.msisdn, row.segments) for row in rows)
    assert pages == [(msisdn, segments_of(first_name)) for msisdn, first_name in ordered]
