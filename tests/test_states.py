"""The lifecycles: every (state, move) pair of each table, and the questions asked of states."""

from __future__ import annotations

import itertools

import pytest

from webapp.states import (
    BatchState,
    CampaignStatus,
    IllegalTransition,
    ImportStatus,
    RecipientState,
)

C, B, R, IS = CampaignStatus, BatchState, RecipientState, ImportStatus

ALLOWED = {
    C: {
        (C.DRAFT, C.QUEUED),
        (C.DRAFT, C.SCHEDULED),
        (C.DRAFT, C.AWAITING_APPROVAL),  # asked for approval: frozen, waiting
        (C.AWAITING_APPROVAL, C.QUEUED),  # approved
        (C.AWAITING_APPROVAL, C.SCHEDULED),  # approved, for its send time
        (C.AWAITING_APPROVAL, C.DRAFT),  # rejected, withdrawn or changed
        (C.SCHEDULED, C.SENDING),
        (C.SCHEDULED, C.PAUSED),
        (C.SCHEDULED, C.CANCELLED),
        (C.QUEUED, C.SENDING),
        (C.QUEUED, C.PAUSED),
        (C.QUEUED, C.CANCELLED),
        (C.SENDING, C.DONE),
        (C.SENDING, C.PAUSED),
        (C.SENDING, C.CANCELLED),
        (C.PAUSED, C.QUEUED),
        (C.PAUSED, C.CANCELLED),
    },
    B: {
        (B.PENDING, B.SENDING),
        (B.PENDING, B.CANCELLED),
        (B.HELD, B.PENDING),  # an A/B test's winner released to the held-back recipients
        (B.HELD, B.CANCELLED),
        (B.SENDING, B.SENT),
        (B.SENDING, B.FAILED),
        (B.SENDING, B.UNCONFIRMED),
        (B.SENDING, B.PENDING),
        (B.UNCONFIRMED, B.SENT),
        (B.UNCONFIRMED, B.FAILED),
    },
    R: {
        (R.PENDING, R.PENDING),
        (R.PENDING, R.SENT),
        (R.PENDING, R.FAILED),
        (R.PENDING, R.UNCONFIRMED),
        (R.PENDING, R.CANCELLED),
        (R.UNCONFIRMED, R.SENT),
        (R.UNCONFIRMED, R.FAILED),
        (R.FAILED, R.RESENT),
        (R.RESENT, R.FAILED),  # its follow-up went back to a draft before it was sent
    },
    IS: {
        (IS.AWAITING_COLUMNS, IS.PENDING),
        (IS.PENDING, IS.RUNNING),
        (IS.PENDING, IS.FAILED),
        (IS.RUNNING, IS.DONE),
        (IS.RUNNING, IS.FAILED),
        (IS.RUNNING, IS.PENDING),  # its worker died: restarted from the start
    },
}

EVERY_PAIR = [
    (kind, source, target) for kind in ALLOWED for source, target in itertools.product(kind, kind)
]


@pytest.mark.parametrize(
    ("kind", "source", "target"), EVERY_PAIR, ids=[f"{s}->{t}" for _, s, t in EVERY_PAIR]
)
def test_every_move_is_allowed_or_refused_as_the_table_says(kind, source, target):
    allowed = (source, target) in ALLOWED[kind]
    assert source.can_move_to(target) is allowed
    if allowed:
        assert source.move_to(target) is target
    else:
        with pytest.raises(IllegalTransition):
            source.move_to(target)


@pytest.mark.parametrize("kind", list(ALLOWED))
def test_final_states_are_those_without_moves(kind):
    for state in kind:
        leaves = any(source is state and target is not state for source, target in ALLOWED[kind])
        assert state.is_final is not leaves


ACTIONS = {
    "can_edit": {C.DRAFT, C.AWAITING_APPROVAL},  # a change to a waiting one withdraws it
    "can_preview": {C.DRAFT},
    "can_confirm": {C.DRAFT},
    "can_delete": {C.DRAFT},
    "can_pause": {C.QUEUED, C.SCHEDULED, C.SENDING},
    "can_resume": {C.PAUSED},
    "can_cancel": {C.QUEUED, C.SCHEDULED, C.SENDING, C.PAUSED},
    "is_live": {C.QUEUED, C.SCHEDULED, C.SENDING},
    "is_under_way": {C.QUEUED, C.SCHEDULED, C.SENDING, C.PAUSED},
    "awaits_approval": {C.AWAITING_APPROVAL},
    "can_approve": {C.AWAITING_APPROVAL},
    "can_reject": {C.AWAITING_APPROVAL},
    "can_withdraw": {C.AWAITING_APPROVAL},
    "is_confirmed": {C.QUEUED, C.SCHEDULED, C.SENDING, C.PAUSED, C.DONE, C.CANCELLED},
    "has_frozen_recipients": set(CampaignStatus) - {C.DRAFT},
}


@pytest.mark.parametrize(
    ("question", "state"),
    list(itertools.product(ACTIONS, CampaignStatus)),
    ids=[f"{q}-{s}" for q, s in itertools.product(ACTIONS, CampaignStatus)],
)
def test_campaign_questions_answer_for_every_state(question, state):
    assert getattr(state, question) is (state in ACTIONS[question])


def test_a_campaign_action_is_possible_exactly_when_its_move_is():
    for state in CampaignStatus:
        assert state.can_pause is state.can_move_to(C.PAUSED)
        assert state.can_cancel is state.can_move_to(C.CANCELLED)
        assert state.can_confirm is (state.can_move_to(C.AWAITING_APPROVAL))
        assert state.can_approve is (
            state.can_move_to(C.QUEUED) and state.can_move_to(C.SCHEDULED) and not state.is_draft
        )
        assert state.can_withdraw is (state.can_move_to(C.DRAFT))


def test_a_waiting_campaign_is_never_live_nor_sent_by_a_sweep():
    waiting = C.AWAITING_APPROVAL
    assert not (waiting.is_live or waiting.is_under_way or waiting.is_final)
    assert not waiting.can_pause and not waiting.can_cancel and not waiting.can_resume


IMPORT_QUESTIONS = {
    "awaits_mapping": {IS.AWAITING_COLUMNS},
    "is_under_way": {IS.PENDING, IS.RUNNING},
    "is_unfinished": {IS.AWAITING_COLUMNS, IS.PENDING, IS.RUNNING},
    "can_cancel": {IS.AWAITING_COLUMNS, IS.PENDING, IS.RUNNING},
    "is_done": {IS.DONE},
}


@pytest.mark.parametrize(
    ("question", "state"),
    list(itertools.product(IMPORT_QUESTIONS, ImportStatus)),
    ids=[f"{q}-{s}" for q, s in itertools.product(IMPORT_QUESTIONS, ImportStatus)],
)
def test_import_questions_answer_for_every_state(question, state):
    assert getattr(state, question) is (state in IMPORT_QUESTIONS[question])


def test_recipients_follow_their_batch_along_allowed_moves():
    for source, target in ALLOWED[B]:
        before, after = source.recipient_state, target.recipient_state
        assert before is after or before.can_move_to(after), (source, target)


def test_states_are_stored_as_their_values():
    assert [state.value for state in ImportStatus] == [
        "awaiting_columns",
        "pending",
        "running",
        "done",
        "failed",
    ]
    assert max(len(state.value) for kind in ALLOWED for state in kind) <= 16  # the column size


def test_every_gateway_status_has_one_outcome_final_exactly_when_the_gateway_says_so():
    from webapp.gateway.reports import DELIVERY_STATUSES, is_final
    from webapp.states import DeliveryOutcome

    for status in DELIVERY_STATUSES:
        assert DeliveryOutcome.of(status).is_final == is_final(status), status
    assert DeliveryOutcome.of(None) is DeliveryOutcome.AWAITING
    assert [o.label for o in DeliveryOutcome] == [
        "Delivered",
        "Expired",
        "Undeliverable",
        "Rejected",
        "Skipped",
        "Awaiting report",
    ]
