"""A/B tests: the seeded split (deterministic, disjoint, its sizes), each variant's batches,
the winner sent once to the held-back recipients, the preview's cost, and the comparison.

Every send is counted as the sandbox gateway really received it over HTTP.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from helpers import (
    danish_numbers,
    gateway_client,
    make_list,
    preview_and_confirm,
    report_deliveries,
)
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Batch,
    BatchState,
    Campaign,
    CampaignEvent,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
    utcnow,
)
from webapp.services import abtests, audit, campaigns, dispatch, outcomes
from webapp.services.budget import committed_cost
from webapp.services.campaigns import CampaignDraft, CampaignInvalid, CampaignStateError
from webapp.services.campaigns.split import HELD, split_groups, split_sizes
from webapp.services.dispatch import DispatchInterrupted
from webapp.services.preview import preview_campaign, recipient_messages

LABEL = "Spring sale"
TEXTS = {"A": "Hi %first_name%, 10% off today", "B": "Hi %first_name%, free delivery today"}


def ab_draft(list_id: int, **changes) -> CampaignDraft:
    values = dict(
        name=LABEL,
        sender="Shop",
        message=TEXTS["A"],
        message_b=TEXTS["B"],
        list_ids=[list_id],
        variant_shares={"A": 10, "B": 10},
        winner_after_minutes=240,
    )
    values.update(changes)
    return CampaignDraft(**values)


def people(count: int):
    return make_list(
        db.session,
        "People",
        [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(count))],
        fields=["first_name"],
    )


def ab_campaign(user, sandbox, count=100, batch_size=10, confirm=True, **changes):
    campaign = campaigns.save_draft(db.session, user, ab_draft(people(count).id, **changes))
    return preview_and_confirm(
        db.session, campaign, user, sandbox, batch_size=batch_size, confirm=confirm
    )


def send(campaign, sandbox, **options):
    options.setdefault("retry_base_seconds", 0.01)
    return dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox), **options)


def received(sandbox) -> list[dict]:
    return sandbox.store.received_for(label=LABEL)


def split_of(campaign) -> dict[str, str]:
    """{msisdn: group} as confirmation recorded it."""
    return dict(
        db.session.execute(
            select(CampaignRecipient.msisdn, CampaignRecipient.variant).where(
                CampaignRecipient.campaign_id == campaign.id
            )
        ).all()
    )


def first_name_of(msisdn: str) -> str:
    return f"N{danish_numbers(1000).index(msisdn)}"


# --- The split as a pure function ------------------------------------------------------------


def test_the_same_seed_gives_the_same_split():
    shares = {"A": 10, "B": 10}
    assert split_groups(500, shares, seed=42) == split_groups(500, shares, seed=42)


def test_another_seed_gives_another_split():
    shares = {"A": 10, "B": 10}
    assert split_groups(500, shares, seed=42) != split_groups(500, shares, seed=43)


def test_the_split_has_the_chosen_sizes():
    groups = split_groups(1000, {"A": 10, "B": 10}, seed=7)
    assert Counter(groups) == {"A": 100, "B": 100, HELD: 800}


def test_rounded_sizes_add_up_to_everyone():
    assert split_sizes(7, {"A": 50, "B": 50}) == {"A": 4, "B": 3, HELD: 0}
    assert sum(split_sizes(333, {"A": 33, "B": 33, "C": 33}).values()) == 333
    assert split_sizes(333, {"A": 33, "B": 33, "C": 33})[HELD] == 3


# --- Confirmation records the split -----------------------------------------------------------


def test_confirmation_records_the_seeded_split_of_the_frozen_recipients(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=100)
    recorded = split_of(campaign)
    numbers = danish_numbers(100)
    expected = split_groups(100, {"A": 10, "B": 10}, campaign.split_seed)
    assert [recorded[n] for n in numbers] == expected
    assert Counter(recorded.values()) == {"A": 10, "B": 10, HELD: 80}


def test_each_batch_holds_one_group_and_the_held_back_wait(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=100, batch_size=10)
    rows = db.session.execute(
        select(Batch.number, Batch.state, Batch.variant, CampaignRecipient.variant)
        .join(CampaignRecipient, CampaignRecipient.batch_id == Batch.id)
        .where(Batch.campaign_id == campaign.id)
    ).all()
    for _, state, batch_variant, group in rows:
        if group == HELD:
            assert (state, batch_variant) == (BatchState.HELD, None)
        else:
            assert (state, batch_variant) == (BatchState.PENDING, group)
    assert len({number for number, *_ in rows}) == 1 + 1 + 8  # A, B, then 80 held in tens


def test_a_plain_split_holds_no_one_back(sender, sandbox):
    campaign = ab_campaign(
        sender, sandbox, count=20, variant_shares={"A": 50, "B": 50}, winner_after_minutes=None
    )
    assert Counter(split_of(campaign).values()) == {"A": 10, "B": 10}
    assert send(campaign, sandbox) == "done"
    assert len(received(sandbox)) == 20


def test_three_variants_each_send_their_text_and_any_can_win(sender, sandbox):
    c_text = "Hi %first_name%, a gift with every order"
    campaign = ab_campaign(
        sender,
        sandbox,
        count=60,
        message_c=c_text,
        variant_shares={"A": 10, "B": 10, "C": 10},
    )
    assert Counter(split_of(campaign).values()) == {"A": 6, "B": 6, "C": 6, HELD: 42}
    send(campaign, sandbox)
    texts = {**TEXTS, "C": c_text}
    split = split_of(campaign)
    for row in received(sandbox):
        expected = texts[split[row["msisdn"]]].replace("%first_name%", first_name_of(row["msisdn"]))
        assert row["text"] == expected
    abtests.send_winner(db.session, campaign, "C", sender)
    send(campaign, sandbox)
    got = received(sandbox)
    assert len(got) == len({row["msisdn"] for row in got}) == 60


def test_quiet_hours_batches_keep_one_group_and_one_country_each(sender, sandbox):
    numbers = danish_numbers(20) + [f"46701{n:06d}" for n in range(20)]  # DK and SE
    mixed = make_list(db.session, "Mixed", numbers)
    draft = ab_draft(mixed.id, message=TEXTS["A"].replace("%first_name%", "you"), message_b="B!")
    campaign = campaigns.save_draft(db.session, sender, draft)
    preview_and_confirm(db.session, campaign, sender, sandbox, confirm=False)
    campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10, by_country=True)
    rows = db.session.execute(
        select(Batch.id, Batch.country, CampaignRecipient.variant, CampaignRecipient.country)
        .join(CampaignRecipient, CampaignRecipient.batch_id == Batch.id)
        .where(Batch.campaign_id == campaign.id)
    ).all()
    by_batch: dict[int, set] = {}
    for batch_id, batch_country, group, country in rows:
        assert batch_country == country
        by_batch.setdefault(batch_id, set()).add(group)
    assert all(len(groups) == 1 for groups in by_batch.values())
    assert Counter(g for _, _, g, _ in rows) == {"A": 4, "B": 4, HELD: 32}


# --- The test send and the winner ---------------------------------------------------------------


def test_each_variant_gets_its_own_text_and_the_held_back_nothing_yet(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=100)
    assert send(campaign, sandbox) == "waiting for the winner"
    split = split_of(campaign)
    got = received(sandbox)
    assert len(got) == 20
    for row in got:
        group = split[row["msisdn"]]
        assert row["text"] == TEXTS[group].replace("%first_name%", first_name_of(row["msisdn"]))
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.status == CampaignStatus.SENDING
    assert campaign.winner_due_at is not None


def test_waiting_for_the_winner_is_recorded_once_and_not_redispatched(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30)
    send(campaign, sandbox)
    assert send(campaign, sandbox) == "waiting for the winner"
    events = db.session.scalars(
        select(CampaignEvent.action).where(
            CampaignEvent.campaign_id == campaign.id, CampaignEvent.action == "awaiting_winner"
        )
    ).all()
    assert len(events) == 1
    assert campaign.id not in dispatch.due_campaigns(db.session)


def test_the_winner_goes_to_the_held_back_after_its_time_exactly_once(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=100)
    send(campaign, sandbox)
    due_at = db.session.get(Campaign, campaign.id).winner_due_at
    assert abtests.send_due_winners(db.session, now=due_at - timedelta(minutes=1)) == []
    assert abtests.send_due_winners(db.session, now=due_at) == [campaign.id]
    assert abtests.send_due_winners(db.session, now=due_at + timedelta(hours=1)) == []
    assert campaign.id in dispatch.due_campaigns(db.session)
    assert send(campaign, sandbox) == "done"
    got = received(sandbox)
    assert len(got) == 100
    assert len({row["msisdn"] for row in got}) == 100  # no one twice
    winner = db.session.get(Campaign, campaign.id).winner
    split = split_of(campaign)
    for row in got:
        group = split[row["msisdn"]]
        sent_text = TEXTS[winner if group == HELD else group]
        assert row["text"] == sent_text.replace("%first_name%", first_name_of(row["msisdn"]))


def test_the_automatic_winner_is_the_best_delivery_rate(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=40, variant_shares={"A": 25, "B": 25})
    send(campaign, sandbox)
    split = split_of(campaign)
    order = db.session.scalars(
        select(CampaignRecipient.msisdn)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .join(Batch, Batch.id == CampaignRecipient.batch_id)
        .where(Batch.state == BatchState.SENT)
        .order_by(CampaignRecipient.id)
    ).all()
    # report_deliveries goes by recipient id: B's are all delivered, A's mostly expired.
    statuses = ["DELIVERED" if split[n] == "B" else "EXPIRED" for n in order]
    report_deliveries(db.session, campaign, statuses)
    due_at = db.session.get(Campaign, campaign.id).winner_due_at
    abtests.send_due_winners(db.session, now=due_at)
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.winner == "B"
    assert "B's delivery rate (100.0 %) is higher than A's (0.0 %)" in campaign.winner_reason


def test_the_system_audits_the_wait_and_the_automatic_winner_once_each(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30)
    send(campaign, sandbox)
    send(campaign, sandbox)
    abtests.send_due_winners(db.session, now=utcnow() + timedelta(days=1))
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor)
        .where(AuditEvent.object_id == str(campaign.id), AuditEvent.action.like("%winner%"))
        .order_by(AuditEvent.id)
    ).all()
    assert events == [
        ("campaign_awaiting_winner", audit.SYSTEM),
        ("campaign_winner", audit.SYSTEM),
    ]


def test_a_winner_picked_by_hand_is_sent_once_and_the_timer_sends_no_other(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=50)
    send(campaign, sandbox)
    assert abtests.send_winner(db.session, campaign, "B", sender) == 40
    with pytest.raises(CampaignStateError, match="already sent"):
        abtests.send_winner(db.session, campaign, "A", sender)
    later = utcnow() + timedelta(days=1)
    assert abtests.send_due_winners(db.session, now=later) == []
    send(campaign, sandbox)
    send(campaign, sandbox)
    got = received(sandbox)
    assert len(got) == len({row["msisdn"] for row in got}) == 50
    held = [n for n, group in split_of(campaign).items() if group == HELD]
    texts = {row["msisdn"]: row["text"] for row in got}
    assert all(texts[n].endswith("free delivery today") for n in held)


def test_a_crash_in_the_winners_send_sends_no_one_twice(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=100, batch_size=10)
    send(campaign, sandbox)
    abtests.send_winner(db.session, campaign, "A", sender)

    def crash(step, batch):
        if step == "recorded" and batch.number == 5:
            raise DispatchInterrupted("killed")

    with pytest.raises(DispatchInterrupted):
        send(campaign, sandbox, checkpoint=crash, max_connections=1)
    assert send(campaign, sandbox) == "done"
    got = received(sandbox)
    assert len(got) == len({row["msisdn"] for row in got}) == 100


def test_the_winner_can_be_picked_before_the_test_is_sent(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30)
    abtests.send_winner(db.session, campaign, "A", sender)
    assert send(campaign, sandbox) == "done"
    assert len({row["msisdn"] for row in received(sandbox)}) == len(received(sandbox)) == 30


def test_cancelling_while_waiting_sends_the_held_back_nothing(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30)
    send(campaign, sandbox)
    dispatch.cancel_campaign(db.session, campaign, sender)
    with pytest.raises(CampaignStateError):
        abtests.send_winner(db.session, campaign, "A", sender)
    assert len(received(sandbox)) == 6
    states = set(db.session.scalars(select(Batch.state).where(Batch.campaign_id == campaign.id)))
    assert BatchState.HELD not in states


def test_a_manual_only_test_waits_for_a_user(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30, winner_after_minutes=None)
    assert send(campaign, sandbox) == "waiting for the winner"
    assert db.session.get(Campaign, campaign.id).winner_due_at is None
    assert abtests.send_due_winners(db.session, now=utcnow() + timedelta(days=30)) == []


def test_a_follow_up_of_a_test_sends_the_winners_text(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=20)
    send(campaign, sandbox)
    abtests.send_winner(db.session, campaign, "B", sender)
    send(campaign, sandbox)
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .values(state=RecipientState.FAILED)
    )
    db.session.commit()
    follow_up = campaigns.create_follow_up(db.session, campaign, sender)
    assert follow_up.message == TEXTS["B"] and not follow_up.is_ab_test


def test_an_unknown_variant_cannot_win(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=20)
    with pytest.raises(CampaignStateError, match="no variant C"):
        abtests.send_winner(db.session, campaign, "C", sender)


# --- Preview and cost -------------------------------------------------------------------------


def test_the_preview_prices_each_variant_and_the_held_back_at_the_costliest(sender, sandbox):
    long_b = "Hi %first_name%, " + "free delivery on everything today " * 5  # 2 segments
    campaign = ab_campaign(sender, sandbox, count=100, message_b=long_b, confirm=False)
    for honours_dry_run in (True, False):
        summary = preview_campaign(
            db.session,
            campaign,
            sender,
            gateway_client(sandbox),
            honours_dry_run=honours_dry_run,
            batch_size=10,
        )
        assert summary["segments"] == 10 * 1 + 10 * 2 + 80 * 2
    groups = {row["group"]: row for row in summary["ab_test"]["groups"]}
    assert groups["held"]["recipients"] == 80


def test_the_real_send_costs_no_more_than_the_preview(sender, sandbox):
    long_b = "Hi %first_name%, " + "free delivery on everything today " * 5
    campaign = ab_campaign(sender, sandbox, count=50, message_b=long_b)
    previewed = db.session.get(Campaign, campaign.id).segments
    send(campaign, sandbox)
    abtests.send_winner(db.session, campaign, "A", sender)
    send(campaign, sandbox)
    charged = sum(row["parts"] for row in received(sandbox))
    assert charged <= previewed
    assert charged == 5 * 1 + 5 * 2 + 40 * 1


def test_every_recipients_message_is_of_their_own_variant(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30, confirm=False)
    split = dict(
        zip(
            danish_numbers(30),
            split_groups(30, {"A": 10, "B": 10}, campaign.split_seed),
            strict=True,
        )
    )
    rows, total = recipient_messages(db.session, campaign, per_page=30)
    assert total == 30
    for row in rows:
        assert row.group == split[row.msisdn]
        letter = "A" if row.group == HELD else row.group  # A and B cost the same here
        assert row.text == TEXTS[letter].replace("%first_name%", first_name_of(row.msisdn))
    found, _ = recipient_messages(db.session, campaign, search="free delivery")
    assert {row.group for row in found} == {"B"}


def test_the_budget_counts_the_held_back_part_until_the_winner_is_sent(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=50)
    send(campaign, sandbox)
    campaign = db.session.get(Campaign, campaign.id)
    charged = sum(batch.cost for batch in campaign.batches)
    assert committed_cost(db.session, campaign.currency) == campaign.cost - charged > 0


def test_changing_a_variant_makes_the_preview_stale(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=20, confirm=False)
    draft = ab_draft(campaign.lists[0].id, message_b="Hi %first_name%, something else")
    campaigns.save_draft(db.session, sender, draft, campaign)
    with pytest.raises(CampaignStateError, match="Preview it again"):
        campaigns.confirm_campaign(db.session, campaign, sender, batch_size=10)


# --- Drafts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"variant_shares": {"A": 60, "B": 50}}, "share_a", "add up to 110 %"),
        ({"variant_shares": {"A": 0, "B": 10}}, "share_a", "from 1 to 99"),
        ({"message_b": "  "}, "message_b", "Write variant B's text"),
        (
            {"variant_shares": {"A": 50, "B": 50}, "winner_after_minutes": 60},
            "winner_after_hours",
            "Nothing is held back",
        ),
        ({"message_b": "Hi %nickname%"}, "message_b", "nickname"),
        ({"winner_after_minutes": 0}, "winner_after_hours", "1 to 168 hours"),
    ],
)
def test_a_wrong_test_is_refused_with_a_clear_error(sender, changes, field, words):
    with pytest.raises(CampaignInvalid) as refused:
        campaigns.save_draft(db.session, sender, ab_draft(people(5).id, **changes))
    assert words in refused.value.errors[field]


def test_a_copy_keeps_the_test_with_a_new_seed(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=20, confirm=False)
    copy = campaigns.copy_campaign(db.session, campaign, sender)
    assert (copy.message_b, copy.variant_shares) == (TEXTS["B"], {"A": 10, "B": 10})
    assert copy.split_seed and copy.split_seed != campaign.split_seed


# --- The comparison ---------------------------------------------------------------------------


def result(group, sent, delivered):
    return abtests.VariantResult(group, None, sent, sent, delivered, sent - delivered)


def test_the_two_proportion_test_matches_a_hand_computation():
    # 50/100 against 30/100: pooled 0.4, z = 0.2 / sqrt(0.4 * 0.6 * 0.02) = 2.887, p = 0.0039
    assert abtests.two_proportion_p_value(50, 100, 30, 100) == pytest.approx(0.00389, abs=1e-5)
    assert abtests.two_proportion_p_value(30, 100, 30, 100) == pytest.approx(1.0)
    assert abtests.two_proportion_p_value(0, 0, 3, 10) is None


def test_a_large_difference_is_said_to_be_more_than_chance():
    comparison = abtests.compare_variants(
        [result("A", 1000, 930), result("B", 1000, 971)], abtests.METRICS["delivery_rate"]
    )
    assert comparison.best.group == "B" and comparison.significant
    assert comparison.sentence == (
        "B's delivery rate (97.1 %) is higher than A's (93.0 %); a difference this large would "
        "happen by chance less than 1 time in 1,000 (two-proportion z-test, p < 0.001)."
    )


def test_a_small_difference_is_said_to_be_chance():
    comparison = abtests.compare_variants(
        [result("A", 100, 90), result("B", 100, 92)], abtests.METRICS["delivery_rate"]
    )
    assert not comparison.significant
    assert "small enough to be chance" in comparison.sentence
    assert "p = 0.62" in comparison.sentence


def test_without_results_there_is_nothing_to_compare():
    comparison = abtests.compare_variants(
        [result("A", 0, 0), result("B", 0, 0)], abtests.METRICS["delivery_rate"]
    )
    assert comparison.p_value is None
    assert comparison.sentence.startswith("Not enough results yet")


def test_the_outcome_table_shows_the_text_each_recipient_got(sender, sandbox):
    campaign = ab_campaign(sender, sandbox, count=30)
    send(campaign, sandbox)
    split = split_of(campaign)

    def texts():
        page = outcomes.outcome_page(
            db.session, campaign, outcomes.OutcomeFilter(), page=1, per_page=30
        )
        return {row.msisdn: row.text for row in page.rows}

    for msisdn, text in texts().items():
        if split[msisdn] == HELD:
            assert text == outcomes.WAITS_FOR_WINNER
        else:
            assert text.startswith(TEXTS[split[msisdn]].split("%")[0])
            assert TEXTS[split[msisdn]].split("%")[-1] in text
    abtests.send_winner(db.session, campaign, "B", sender)
    send(campaign, sandbox)
    assert all(
        text.endswith("free delivery today")
        for msisdn, text in texts().items()
        if split[msisdn] == HELD
    )


def test_results_per_variant_count_sent_delivered_and_failed(sender, sandbox):
    campaign = ab_campaign(
        sender, sandbox, count=20, variant_shares={"A": 50, "B": 50}, winner_after_minutes=None
    )
    send(campaign, sandbox)
    report_deliveries(db.session, campaign, ["DELIVERED"] * 15 + ["EXPIRED"] * 5)
    results = {r.group: r for r in abtests.variant_results(db.session, campaign)}
    assert set(results) == {"A", "B"}
    assert sum(r.sent for r in results.values()) == 20
    assert sum(r.delivered for r in results.values()) == 15
    assert sum(r.failed for r in results.values()) == 5
