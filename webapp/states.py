"""Every lifecycle written down once: the states of campaigns, batches, recipients and imports,
which moves between them are allowed, and the questions the code asks of a state.

Services, the command line and the templates ask these questions (``status.can_pause``,
``ImportStatus.under_way()``) instead of spelling tuples of state names, so a new state or a
changed rule is a change here alone. Pure: no Flask, no database.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Self


class IllegalTransition(ValueError):
    """A move the lifecycle does not allow: a bug, or a race another check should have caught."""


class Lifecycle(enum.StrEnum):
    """A state enum with a transitions table (``_moves``, set below each class)."""

    @classmethod
    def moves(cls) -> dict[Self, frozenset[Self]]:
        return _MOVES[cls]

    def can_move_to(self, target: Self) -> bool:
        return target in _MOVES[type(self)][self]

    def move_to(self, target: Self) -> Self:
        """``target``, if the table allows the move; raises IllegalTransition otherwise."""
        if not self.can_move_to(target):
            raise IllegalTransition(f"A {type(self).__name__} cannot go from {self} to {target}.")
        return target

    @property
    def is_final(self) -> bool:
        return not _MOVES[type(self)][self]

    @classmethod
    def where(cls, question: Callable[[Self], bool]) -> tuple[Self, ...]:
        """The states for which ``question`` holds, for a query's ``in_()``."""
        return tuple(state for state in cls if question(state))


_MOVES: dict[type, dict] = {}


def _table(kind: type[Lifecycle], moves: dict) -> None:
    missing = set(kind) - set(moves)
    if missing:
        raise AssertionError(f"{kind.__name__}: no row for {sorted(missing)}")
    _MOVES[kind] = {state: frozenset(targets) for state, targets in moves.items()}


# --- Campaigns -----------------------------------------------------------------------------


class CampaignStatus(Lifecycle):
    DRAFT = "draft"
    # Confirmed by its sender but over the workspace's approval limits: its recipients are
    # frozen as at confirmation and it waits for an approver (services.approval).
    AWAITING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"  # confirmed, waiting for its send time
    QUEUED = "queued"  # confirmed, waiting for a worker
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def is_draft(self) -> bool:
        """Still being written: it can be edited, previewed, confirmed or deleted."""
        return self is CampaignStatus.DRAFT

    can_preview = can_confirm = can_delete = is_draft

    @property
    def awaits_approval(self) -> bool:
        """Confirmed by its sender and waiting for an approver: nothing is sent until one
        approves it; a rejection, a withdrawal or any change takes it back to a draft."""
        return self is CampaignStatus.AWAITING_APPROVAL

    can_approve = can_reject = can_withdraw = awaits_approval

    @property
    def can_edit(self) -> bool:
        """Its content can still be changed: a draft, or one waiting for approval (a change
        withdraws the request, so what an approver approves is what was asked for)."""
        return self.is_draft or self.awaits_approval

    @property
    def is_confirmed(self) -> bool:
        """Confirmed for sending (and approved, when it needed approval): it has progress and
        results to show, from queued to done or cancelled."""
        return not (self.is_draft or self.awaits_approval)

    @property
    def has_frozen_recipients(self) -> bool:
        """Its recipients were frozen into batches (at confirmation, or at the request for
        approval): every state but a draft."""
        return not self.is_draft

    @property
    def is_live(self) -> bool:
        """Confirmed and meant to be sending: a dispatcher should be at work (or waiting for its
        send time), and the progress on its page follows it live."""
        return self in (CampaignStatus.QUEUED, CampaignStatus.SCHEDULED, CampaignStatus.SENDING)

    @property
    def is_under_way(self) -> bool:
        """Confirmed and not finished: live, or paused."""
        return self.is_live or self.is_paused

    @property
    def is_scheduled(self) -> bool:
        return self is CampaignStatus.SCHEDULED

    @property
    def is_paused(self) -> bool:
        return self is CampaignStatus.PAUSED

    @property
    def is_sending(self) -> bool:
        return self is CampaignStatus.SENDING

    @property
    def is_cancelled(self) -> bool:
        return self is CampaignStatus.CANCELLED

    @property
    def can_pause(self) -> bool:
        return self.can_move_to(CampaignStatus.PAUSED)

    @property
    def can_resume(self) -> bool:
        return self.can_move_to(CampaignStatus.QUEUED) and self.is_confirmed

    @property
    def can_cancel(self) -> bool:
        return self.can_move_to(CampaignStatus.CANCELLED)


_table(
    CampaignStatus,
    {
        CampaignStatus.DRAFT: {
            CampaignStatus.QUEUED,
            CampaignStatus.SCHEDULED,
            CampaignStatus.AWAITING_APPROVAL,
        },
        # Approved: queued or scheduled as a confirmation would have it. Rejected, withdrawn
        # or changed: a draft again, its frozen recipients let go.
        CampaignStatus.AWAITING_APPROVAL: {
            CampaignStatus.QUEUED,
            CampaignStatus.SCHEDULED,
            CampaignStatus.DRAFT,
        },
        CampaignStatus.SCHEDULED: {
            CampaignStatus.SENDING,
            CampaignStatus.PAUSED,
            CampaignStatus.CANCELLED,
        },
        CampaignStatus.QUEUED: {
            CampaignStatus.SENDING,
            CampaignStatus.PAUSED,
            CampaignStatus.CANCELLED,
        },
        CampaignStatus.SENDING: {
            CampaignStatus.DONE,
            CampaignStatus.PAUSED,
            CampaignStatus.CANCELLED,
        },
        CampaignStatus.PAUSED: {CampaignStatus.QUEUED, CampaignStatus.CANCELLED},
        CampaignStatus.DONE: set(),
        CampaignStatus.CANCELLED: set(),
    },
)


# --- Batches and recipients ------------------------------------------------------------------


class BatchState(Lifecycle):
    """A batch is one gateway request. ``unconfirmed``: the request went out, no answer came back.

    It is never resent silently; the user decides whether it reached the gateway.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    CANCELLED = "cancelled"
    # An A/B test's held-back recipients, waiting for the winner's text (services.abtests):
    # never claimed by a dispatcher until the winner releases it to pending.
    HELD = "held"

    @property
    def is_open(self) -> bool:
        """Not yet done with: waiting to go out (or for an A/B test's winner), or its request
        under way."""
        return self in (BatchState.PENDING, BatchState.SENDING, BatchState.HELD)

    @property
    def is_held(self) -> bool:
        return self is BatchState.HELD

    @property
    def awaits_decision(self) -> bool:
        return self is BatchState.UNCONFIRMED

    @property
    def recipient_state(self) -> RecipientState:
        """What the batch's recipients are while the batch is in this state."""
        return _RECIPIENT_STATE_OF_BATCH[self]


_table(
    BatchState,
    {
        BatchState.PENDING: {BatchState.SENDING, BatchState.CANCELLED},
        BatchState.HELD: {BatchState.PENDING, BatchState.CANCELLED},
        # Back to pending: certainly refused, retried later or after a pause.
        BatchState.SENDING: {
            BatchState.SENT,
            BatchState.FAILED,
            BatchState.UNCONFIRMED,
            BatchState.PENDING,
        },
        BatchState.UNCONFIRMED: {BatchState.SENT, BatchState.FAILED},
        BatchState.SENT: set(),
        BatchState.FAILED: set(),
        BatchState.CANCELLED: set(),
    },
)


class RecipientState(Lifecycle):
    PENDING = "pending"
    SENT = "sent"  # accepted by the gateway
    FAILED = "failed"  # certainly not accepted
    UNCONFIRMED = "unconfirmed"  # may or may not have been accepted
    CANCELLED = "cancelled"  # its batch was cancelled before it went out
    RESENT = "resent"  # handed to a follow-up campaign

    @property
    def can_follow_up(self) -> bool:
        """A follow-up campaign may reach this recipient again: certainly not accepted."""
        return self is RecipientState.FAILED


_table(
    RecipientState,
    {
        RecipientState.PENDING: {
            RecipientState.PENDING,  # its batch went back to pending
            RecipientState.SENT,
            RecipientState.FAILED,
            RecipientState.UNCONFIRMED,
            RecipientState.CANCELLED,
        },
        RecipientState.UNCONFIRMED: {RecipientState.SENT, RecipientState.FAILED},
        RecipientState.FAILED: {RecipientState.RESENT},
        RecipientState.SENT: set(),
        RecipientState.CANCELLED: set(),
        # Handed back: the follow-up that took it went back to a draft before it was sent (its
        # approval was rejected or withdrawn), so a follow-up can reach it again.
        RecipientState.RESENT: {RecipientState.FAILED},
    },
)

_RECIPIENT_STATE_OF_BATCH = {
    BatchState.PENDING: RecipientState.PENDING,
    BatchState.SENDING: RecipientState.PENDING,
    BatchState.SENT: RecipientState.SENT,
    BatchState.FAILED: RecipientState.FAILED,
    BatchState.UNCONFIRMED: RecipientState.UNCONFIRMED,
    BatchState.CANCELLED: RecipientState.CANCELLED,
    BatchState.HELD: RecipientState.PENDING,
}


# --- Imports -----------------------------------------------------------------------------


class ImportStatus(Lifecycle):
    """An upload waits for its columns, is queued (``pending``), runs, then is done or failed.

    Recipients of an import that is not ``done`` are never shown or sent to, so a failure midway
    leaves no half-made list that looks complete.
    """

    AWAITING_COLUMNS = "awaiting_columns"  # uploaded; the user has not chosen the phone column
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def awaits_mapping(self) -> bool:
        return self is ImportStatus.AWAITING_COLUMNS

    @property
    def is_under_way(self) -> bool:
        """Queued or running: another file cannot go into the list meanwhile."""
        return self in (ImportStatus.PENDING, ImportStatus.RUNNING)

    @property
    def is_unfinished(self) -> bool:
        """Waiting for its columns, queued or running: it can still be cancelled."""
        return not self.is_final

    can_cancel = is_unfinished

    @property
    def is_queued(self) -> bool:
        return self is ImportStatus.PENDING

    @property
    def is_running(self) -> bool:
        return self is ImportStatus.RUNNING

    @property
    def is_done(self) -> bool:
        return self is ImportStatus.DONE

    @property
    def is_failed(self) -> bool:
        return self is ImportStatus.FAILED


_table(
    ImportStatus,
    {
        # An upload nobody maps is discarded (deleted), not moved.
        ImportStatus.AWAITING_COLUMNS: {ImportStatus.PENDING},
        ImportStatus.PENDING: {ImportStatus.RUNNING, ImportStatus.FAILED},
        # Back to pending: its worker died (no heartbeat); it starts over, what it stored gone.
        ImportStatus.RUNNING: {ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.PENDING},
        ImportStatus.DONE: set(),
        ImportStatus.FAILED: set(),
    },
)


# --- Delivery outcomes ------------------------------------------------------------------------


class DeliveryOutcome(enum.StrEnum):
    """What became of a sent message, in the user's words; the gateway's own status and error
    code stay beside it as detail. Every gateway status maps to exactly one outcome."""

    DELIVERED = "delivered"
    EXPIRED = "expired"
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    AWAITING = "awaiting"

    @classmethod
    def of(cls, gateway_status: str | None) -> DeliveryOutcome:
        """The outcome of a gateway status (``None``: no report yet)."""
        return _OUTCOME_OF_STATUS.get((gateway_status or "").upper(), cls.AWAITING)

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self][0]

    @property
    def explanation(self) -> str:
        return _OUTCOME_LABELS[self][1]

    @property
    def is_final(self) -> bool:
        return self is not DeliveryOutcome.AWAITING

    @property
    def is_failure(self) -> bool:
        """Final, and the message did not reach the phone."""
        return self.is_final and self is not DeliveryOutcome.DELIVERED

    @classmethod
    def failures(cls) -> tuple[DeliveryOutcome, ...]:
        return cls.where(lambda outcome: outcome.is_failure)

    @classmethod
    def where(cls, question: Callable[[DeliveryOutcome], bool]) -> tuple[DeliveryOutcome, ...]:
        return tuple(outcome for outcome in cls if question(outcome))


# The contract's statuses: DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, ACCEPTED, REJECTED and
# SKIPPED are final; UNKNOWN, SCHEDULED, BUFFERED and ENROUTE are on the way (awaiting).
_OUTCOME_OF_STATUS = {
    "DELIVERED": DeliveryOutcome.DELIVERED,
    # Accepted by the destination network, which sends no handset receipt: as far as anyone
    # will ever know, delivered. The gateway status (ACCEPTED) stays visible as detail.
    "ACCEPTED": DeliveryOutcome.DELIVERED,
    "EXPIRED": DeliveryOutcome.EXPIRED,
    "UNDELIVERABLE": DeliveryOutcome.UNDELIVERABLE,
    "REJECTED": DeliveryOutcome.REJECTED,
    "DELETED": DeliveryOutcome.REJECTED,  # removed by the gateway or the network before delivery
    "SKIPPED": DeliveryOutcome.SKIPPED,
}

_OUTCOME_LABELS = {
    DeliveryOutcome.DELIVERED: ("Delivered", "reached the phone"),
    DeliveryOutcome.EXPIRED: ("Expired", "not delivered in time"),
    DeliveryOutcome.UNDELIVERABLE: ("Undeliverable", "the number is not in service"),
    DeliveryOutcome.REJECTED: ("Rejected", "refused by the network or the gateway"),
    DeliveryOutcome.SKIPPED: ("Skipped", "not sent by the gateway"),
    DeliveryOutcome.AWAITING: ("Awaiting report", "no final delivery report yet"),
}
