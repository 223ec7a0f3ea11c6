"""A campaign recipient's state, read in one place: every query about it goes through here.

A recipient's row records only what happened to that recipient alone: ``cancelled`` (opted out
before its batch went out), ``resent`` (handed to a follow-up) and ``failed`` again (handed
back). While it records ``pending`` the recipient follows its batch
(``BatchState.recipient_state``), so a batch's move is one row, not a rewrite of its 10,000
recipients. Rows written before recipients followed their batch record their batch's state of
then, which is still right: only an unconfirmed batch moves on from there, and
``dispatch.set_batch_state`` moves its rows with it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, case, exists, false, func, literal, or_, select, type_coerce
from sqlalchemy.orm import aliased

from webapp.models import Batch, BatchState, CampaignRecipient, RecipientState

_STATE_TYPE = CampaignRecipient.__table__.c.state.type
_FOLLOWS_BATCH = RecipientState.PENDING


def state_in(*states: RecipientState, recipients=CampaignRecipient) -> ColumnElement[bool]:
    """True for the recipients (``CampaignRecipient`` or an alias of it) whose state is one of
    ``states``: for a WHERE, a CASE or an UPDATE's WHERE."""
    wanted = set(states)
    recorded = recipients.state
    follows = recorded == _FOLLOWS_BATCH
    own = [state for state in wanted if state is not _FOLLOWS_BATCH]
    batch_states = BatchState.where(lambda batch_state: batch_state.recipient_state in wanted)
    clauses = []
    if own:
        clauses.append(recorded.in_(own))
    if batch_states:
        batch = aliased(Batch)
        in_batch = exists().where(batch.id == recipients.batch_id, batch.state.in_(batch_states))
        clauses.append(follows & in_batch)
    if _FOLLOWS_BATCH in wanted:
        clauses.append(follows & recipients.batch_id.is_(None))
    return or_(*clauses) if clauses else false()


def current_state(recipients=CampaignRecipient) -> ColumnElement[RecipientState]:
    """The state of each recipient as a column, for a SELECT (a lookup of its batch per row:
    filter with ``state_in`` instead)."""
    batch = aliased(Batch)
    of_batch_state = case(
        {state.value: state.recipient_state.value for state in BatchState}, value=batch.state
    )
    of_batch = select(of_batch_state).where(batch.id == recipients.batch_id).scalar_subquery()
    follows = func.coalesce(of_batch, literal(_FOLLOWS_BATCH.value))
    state = case((recipients.state == _FOLLOWS_BATCH, follows), else_=recipients.state)
    return type_coerce(state, _STATE_TYPE)
