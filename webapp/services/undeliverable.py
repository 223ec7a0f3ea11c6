"""Numbers flagged undeliverable: undeliverable in each of the last three campaigns sent to them.

Such a number is marked on its lists and left out of new campaigns, listed among the preview's
exclusions, unless the campaign asks to include them (``Campaign.include_undeliverable``). A
campaign "sent to" a number is one whose batch the gateway accepted for it (the recipient is
``sent``), newest first by when it was confirmed (its row's id); one still awaiting its report,
or delivered, breaks the run.

One set-based query finds them: the numbers with at least three undeliverable rows (a partial
index holds only those), then for each of them its three newest sent rows (an index by number
and id) by a window function. Nothing is read per recipient.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, case, func, literal_column, select
from sqlalchemy.orm import Session

from webapp.models import CampaignRecipient, DeliveryCount, DeliveryOutcome, RecipientState
from webapp.services.recipient_states import state_in

IN_A_ROW = 3
"""Campaigns in a row a number must have been undeliverable in to be flagged."""

EXPLANATION = f"undeliverable in each of the last {IN_A_ROW} campaigns sent to them"


def flagged_select(numbers: Select | Collection[str] | None = None) -> Select:
    """A query of the flagged numbers (one ``msisdn`` column), among ``numbers`` (a query of
    one column of msisdns, or msisdns) when given, else among all."""
    table = CampaignRecipient.__table__
    # A literal, not a bound value: the partial index's condition must be seen in the query.
    undeliverable_row = table.c.delivery_outcome == literal_column("'undeliverable'")
    candidates = select(table.c.msisdn).where(undeliverable_row)
    if numbers is not None:
        candidates = candidates.where(table.c.msisdn.in_(numbers))
    candidates = (
        candidates.group_by(table.c.msisdn).having(func.count() >= IN_A_ROW).correlate(None)
    )
    newest = (
        select(
            table.c.msisdn,
            table.c.delivery_outcome,
            func.row_number()
            .over(partition_by=table.c.msisdn, order_by=table.c.id.desc())
            .label("position"),
        )
        .where(table.c.msisdn.in_(candidates), state_in(RecipientState.SENT))
        .subquery()
    )
    undeliverable = case((newest.c.delivery_outcome == DeliveryOutcome.UNDELIVERABLE, 1), else_=0)
    return (
        select(newest.c.msisdn)
        .where(newest.c.position <= IN_A_ROW)
        .group_by(newest.c.msisdn)
        .having(func.sum(undeliverable) == IN_A_ROW)
    )


def flagged_numbers(session: Session, numbers: Select | Collection[str] | None = None) -> set[str]:
    """The flagged numbers (see the module), among ``numbers`` when given."""
    if numbers is not None and not isinstance(numbers, Select) and not numbers:
        return set()
    return set(session.scalars(flagged_select(numbers)))


def flag_state(session: Session) -> tuple:
    """Cheap values that move whenever a number's flag may have changed: the undeliverable
    count kept per campaign, and the newest campaign recipient (a new send). For caches; what
    must be exact (a campaign's preview) compares the flagged numbers themselves."""
    undeliverable = session.scalar(
        select(func.coalesce(func.sum(DeliveryCount.count), 0)).where(
            DeliveryCount.outcome == DeliveryOutcome.UNDELIVERABLE
        )
    )
    newest = session.scalar(select(func.max(CampaignRecipient.id)))
    return (int(undeliverable or 0), newest)
