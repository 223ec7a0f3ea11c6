"""A recipient's state follows its batch until something happens to that recipient alone."""

from __future__ import annotations

import itertools

from helpers import danish_numbers, gateway_client, sent_campaign
from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import Batch, BatchState, Campaign, CampaignRecipient, RecipientState
from webapp.services import dispatch
from webapp.services.recipient_states import current_state, state_in

NUMBERS = danish_numbers(4)


def expected_state(batch_state: BatchState | None, recorded: RecipientState) -> RecipientState:
    """The rule, spelt out: what a recipient's row records wins; "pending" follows the batch."""
    if recorded is not RecipientState.PENDING or batch_state is None:
        return recorded
    return batch_state.recipient_state


def test_the_state_follows_the_batch_unless_the_row_records_one_of_its_own(ctx):
    campaign = Campaign(name="Every state", sender="Shop")
    db.session.add(campaign)
    db.session.flush()
    batches = {
        state: Batch(campaign_id=campaign.id, number=n, state=state, size=1)
        for n, state in enumerate(BatchState, start=1)
    }
    db.session.add_all(batches.values())
    db.session.flush()
    combinations = list(itertools.product([*BatchState, None], RecipientState))
    for n, (batch_state, recorded) in enumerate(combinations):
        db.session.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                batch_id=batches[batch_state].id if batch_state else None,
                msisdn=f"4520{n:06d}",
                state=recorded,
            )
        )
    db.session.commit()
    rows = db.session.execute(
        select(CampaignRecipient.msisdn, current_state()).order_by(CampaignRecipient.msisdn)
    ).all()
    assert [state for _, state in rows] == [expected_state(*pair) for pair in combinations]
    for state in RecipientState:
        matching = db.session.scalars(
            select(CampaignRecipient.msisdn)
            .where(state_in(state))
            .order_by(CampaignRecipient.msisdn)
        ).all()
        assert matching == [msisdn for msisdn, current in rows if current is state], state


def test_a_batch_answered_by_the_gateway_rewrites_none_of_its_recipients(ctx, sender, sandbox):
    rows_updated = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE CAMPAIGN_RECIPIENTS"):
            rows_updated.append(cursor.rowcount)

    event.listen(db.engine, "after_cursor_execute", count)
    try:
        campaign = sent_campaign(db.session, sender, gateway_client(sandbox), NUMBERS)
    finally:
        event.remove(db.engine, "after_cursor_execute", count)
    assert sum(rows_updated) == 0
    assert [b.state for b in db.session.get(Campaign, campaign.id).batches] == [BatchState.SENT] * 2
    recorded = db.session.scalars(
        select(CampaignRecipient.state).where(CampaignRecipient.campaign_id == campaign.id)
    )
    assert set(recorded) == {RecipientState.PENDING}  # following their batch
    states = db.session.scalars(
        select(current_state()).where(CampaignRecipient.campaign_id == campaign.id)
    )
    assert set(states) == {RecipientState.SENT}


def test_rows_recording_unconfirmed_follow_the_users_decision(ctx, sender, sandbox):
    """Rows written before recipients followed their batch record the batch's state of then."""
    sandbox.config.lost_response_share = 1.0
    campaign = sent_campaign(db.session, sender, gateway_client(sandbox), NUMBERS)
    first, second = db.session.get(Campaign, campaign.id).batches
    for batch in (first, second):
        db.session.execute(
            CampaignRecipient.__table__.update()
            .where(CampaignRecipient.batch_id == batch.id)
            .values(state=RecipientState.UNCONFIRMED)
        )
    db.session.commit()
    dispatch.decide_unconfirmed(db.session, campaign, first, sender, accepted=True)
    dispatch.decide_unconfirmed(
        db.session, campaign, second, sender, accepted=False, typed="NOT SENT"
    )
    states = db.session.execute(
        select(CampaignRecipient.batch_id, current_state()).where(
            CampaignRecipient.campaign_id == campaign.id
        )
    ).all()
    assert sorted(set(states)) == [
        (first.id, RecipientState.SENT),
        (second.id, RecipientState.FAILED),
    ]
    failed = db.session.scalar(
        select(CampaignRecipient.id)
        .where(CampaignRecipient.campaign_id == campaign.id, state_in(RecipientState.FAILED))
        .limit(1)
    )
    assert failed is not None
