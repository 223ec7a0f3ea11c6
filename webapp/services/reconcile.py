"""Unconfirmed batches settle themselves: delivery reports for a batch whose request got no
answer prove the gateway accepted it. Such a batch is recorded as sent (its recipients too, with
the statuses the reports gave them), and the campaign's history says how many reports proved it.
A batch with no reports stays for the user's decision."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import Batch, BatchState, Campaign, CampaignRecipient, DeliveryReport
from webapp.services.campaigns.events import record_event
from webapp.services.dispatch import set_batch_state

R = CampaignRecipient


@dataclass(frozen=True)
class Confirmed:
    campaign_id: int
    batch_number: int
    reports: int  # recipients of the batch with at least one delivery report


def reports_for_batch(session: Session, batch: Batch) -> int:
    """How many of the batch's recipients the gateway has sent a delivery report about."""
    return session.scalar(
        select(func.count()).where(R.batch_id == batch.id, R.delivery_status.is_not(None))
    )


def reconcile_unconfirmed(session: Session, campaign_id: int | None = None) -> list[Confirmed]:
    """Confirm every unconfirmed batch (of one campaign, or of all) that delivery reports
    prove was accepted; returns what was confirmed."""
    query = select(Batch).where(Batch.state == BatchState.UNCONFIRMED).order_by(Batch.id)
    if campaign_id is not None:
        query = query.where(Batch.campaign_id == campaign_id)
    confirmed = []
    for batch in session.scalars(query).all():
        evidence = reports_for_batch(session, batch)
        if not evidence:
            continue
        message_id = session.scalar(
            select(DeliveryReport.message_id)
            .join(R, R.id == DeliveryReport.recipient_id)
            .where(R.batch_id == batch.id)
            .limit(1)
        )
        detail = f"Batch {batch.number} confirmed by {evidence:,} delivery report" + (
            "s" if evidence != 1 else ""
        )
        set_batch_state(
            session,
            batch,
            BatchState.SENT,
            message_id=batch.message_id or message_id,
            error_message=f"{batch.error_message or ''} {detail}.".strip(),
        )
        record_event(session, session.get(Campaign, batch.campaign_id), "reconciled", None, detail)
        session.commit()
        confirmed.append(Confirmed(batch.campaign_id, batch.number, evidence))
    return confirmed
