"""The dashboard's overview: what is sending now, recent campaigns, lists, the balance (the
spend of this month and the last is `webapp.services.spend`)."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError
from webapp.models import (
    Campaign,
    CampaignStatus,
    ImportStatus,
    ListImport,
    OptOut,
    RecipientList,
)
from webapp.money import money_text
from webapp.services.campaigns.approvals import awaiting_approval
from webapp.services.campaigns.queries import campaign_rows
from webapp.services.spend import WORKSPACE_ZONE, MonthSpend, monthly_spend

UNDER_WAY = CampaignStatus.where(lambda status: status.is_under_way)
FINISHED = CampaignStatus.where(lambda status: status.is_final)

__all__ = ["WORKSPACE_ZONE", "MonthSpend", "account_balance", "monthly_spend", "overview"]


def overview(session: Session) -> dict:
    # A list counts once a file was imported into it; an upload waiting for its columns (or
    # one that failed) is not a list yet.
    imported = exists().where(
        ListImport.list_id == RecipientList.id, ListImport.status == ImportStatus.DONE
    )
    lists, recipients = session.execute(
        select(func.count(), func.coalesce(func.sum(RecipientList.recipient_count), 0)).where(
            RecipientList.hidden.is_(False), imported
        )
    ).one()
    return {
        "lists": lists,
        "recipients": recipients,
        "opt_outs": session.scalar(select(func.count()).select_from(OptOut)),
        # Waiting for approval: the approvers' to decide (and their senders' to follow).
        "awaiting": awaiting_approval(session),
        "active": list(
            session.scalars(
                select(Campaign).where(Campaign.status.in_(UNDER_WAY)).order_by(Campaign.id.desc())
            )
        ),
        # With their delivery rates and what they cost (two queries for all five).
        "recent": campaign_rows(
            session,
            list(
                session.scalars(
                    select(Campaign)
                    .where(Campaign.status.in_(FINISHED))
                    .order_by(Campaign.finished_at.desc(), Campaign.id.desc())
                    .limit(5)
                )
            ),
        ),
        "drafts": list(
            session.scalars(
                select(Campaign)
                .where(Campaign.status.in_(CampaignStatus.where(lambda status: status.is_draft)))
                .order_by(Campaign.id.desc())
                .limit(5)
            )
        ),
    }


def account_balance(client) -> tuple[str | None, str | None]:
    """(balance text, problem): the gateway's credit, or why it could not be read."""
    try:
        balance = client.balance()
    except GatewayError as error:
        return None, str(error)
    return f"{money_text(balance.credit)} {balance.currency or ''}".strip(), None
