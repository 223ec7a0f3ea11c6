"""The approval flow of a campaign over the workspace's approval limits (`services.approval`).

ask       `request_approval`: every check of a confirmation runs (current preview, the
          confirmation's fingerprint, duplicates, balance, budget, send time) and the
          recipients freeze into batches as at confirmation, but the campaign then waits as
          ``pending_approval``: nothing is sent.
approve   `approve_campaign`, by an admin or an approver who did not ask for it: the balance and
          the monthly budget are checked again (the month's spend may have moved), then the
          campaign is queued, or scheduled for its send time.
reject    `reject_campaign`, with a comment: back to a draft, the comment shown to its sender.
withdraw  `withdraw_approval`: by a sender, or by any change to the campaign (the compose form,
          the undeliverable choice, the speed): back to a draft.

Every decision moves the status by a compare-and-set on ``pending_approval``, so of two
approvers clicking at once (or an approval and a withdrawal) exactly one goes through. Each
step is one history entry and one audit event (`record_event`).

Who acts: a signed-in user, or None for the command line (``flask campaigns approve``), which
cannot tell who is at the shell: it approves as "the command line" (the audit log's "system"),
like every other command. The command line never asks for approval, so what it approves was
always asked for by a user on the pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from webapp.gateway.messages import Balance
from webapp.models import (
    Batch,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
    User,
    utcnow,
)
from webapp.services.actors import user_id_of
from webapp.services.campaigns.confirmation import affordability_refusal, confirm_campaign
from webapp.services.campaigns.errors import (
    ApprovalRefused,
    CampaignInvalid,
    CampaignStateError,
)
from webapp.services.campaigns.events import record_event
from webapp.services.recipient_states import state_in

MAX_COMMENT = 1000
AT_THE_COMMAND_LINE = "at the command line"


def request_approval(session: Session, campaign: Campaign, user: User | None, **options):
    """Confirm ``campaign`` for approval: `confirm_campaign`'s checks and freeze (``options``
    are its own: batch_size, allow_duplicate, by_country, balance, now, address), the campaign
    then waiting for an approver. One history entry, "approval requested"."""
    return confirm_campaign(session, campaign, user, for_approval=True, **options)


def _not_waiting(campaign: Campaign) -> str:
    if campaign.status.is_draft:
        return "This campaign is not waiting for approval (it is a draft again)."
    return f"This campaign is not waiting for approval any more: it is {campaign.status.value}."


def _check_decider(campaign: Campaign, user: User | None, verb: str) -> None:
    """Refuse a user who may not decide: no approver right, or their own request."""
    if user is None:  # the command line: the operator's shell access is the right
        return
    if not user.may_approve:
        raise ApprovalRefused(f"Only admins and approvers {verb} campaigns.")
    if campaign.approval_requested_by_id == user.id:
        raise ApprovalRefused(
            f"You asked for this approval, so you cannot {verb} it: another admin or approver "
            "decides. Withdraw the request to change the campaign."
        )


def _check_fingerprint(campaign: Campaign, fingerprint: str | None) -> None:
    """The page the decider saw shows the request still waiting (a withdrawal and a new
    request in between change it)."""
    if fingerprint is not None and fingerprint != campaign.preview_fingerprint:
        raise CampaignStateError(
            "The campaign changed since you opened it. Look at it again before deciding."
        )


def _comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise CampaignInvalid({"comment": f"The comment can be at most {MAX_COMMENT} characters."})
    return text or None


def _move(session: Session, campaign: Campaign, target: CampaignStatus) -> None:
    """Compare-and-set from ``pending_approval``: of two decisions at once, one goes on, and
    the other (after the first's row lock) finds nothing waiting."""
    moved = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.AWAITING_APPROVAL)
        .values(status=target)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        session.rollback()
        raise CampaignStateError(_not_waiting(campaign))
    campaign.status = CampaignStatus.AWAITING_APPROVAL.move_to(target)


def approve_campaign(
    session: Session,
    campaign: Campaign,
    user: User | None,
    *,
    comment: str | None = None,
    balance: Balance | None = None,
    fingerprint: str | None = None,
    now: datetime | None = None,
    address: str | None = None,
) -> Campaign:
    """Approve a waiting campaign: queued at once, or scheduled for its send time (the caller
    enqueues its dispatch). The balance (when known) and the monthly budget are checked again.
    ``user`` None: the command line."""
    now = now or utcnow()
    if not campaign.status.can_approve:
        raise CampaignStateError(_not_waiting(campaign))
    _check_decider(campaign, user, "approve")
    _check_fingerprint(campaign, fingerprint)
    note = _comment(comment)
    refusal = affordability_refusal(session, campaign, balance, now)
    if refusal is not None:
        raise CampaignStateError(f"It cannot be approved now. {refusal}")
    if campaign.send_at is not None and campaign.send_at <= now:
        raise CampaignStateError(
            "Its send time has passed while it waited. Reject it with a comment, so its sender "
            "can choose a new time."
        )
    _move(
        session,
        campaign,
        CampaignStatus.SCHEDULED if campaign.send_at else CampaignStatus.QUEUED,
    )
    campaign.approved_at = now
    campaign.approved_by_id = user_id_of(user)
    campaign.approval_comment = note
    detail = "; ".join(part for part in (None if user else AT_THE_COMMAND_LINE, note) if part)
    record_event(session, campaign, "approved", user, detail or None, address=address)
    session.commit()
    return campaign


def reject_campaign(
    session: Session,
    campaign: Campaign,
    user: User | None,
    *,
    comment: str,
    fingerprint: str | None = None,
    address: str | None = None,
) -> Campaign:
    """Reject a waiting campaign with a comment (required): it is a draft again, its frozen
    recipients let go, the comment shown to its sender."""
    if not campaign.status.can_reject:
        raise CampaignStateError(_not_waiting(campaign))
    _check_decider(campaign, user, "reject")
    _check_fingerprint(campaign, fingerprint)
    note = _comment(comment)
    if note is None:
        raise CampaignInvalid({"comment": "Say why it is rejected: its sender reads it."})
    _back_to_draft(session, campaign)
    campaign.approval_comment = note
    record_event(session, campaign, "rejected", user, note, address=address)
    session.commit()
    return campaign


def withdraw_approval(
    session: Session,
    campaign: Campaign,
    user: User | None,
    *,
    reason: str | None = None,
    address: str | None = None,
    commit: bool = True,
) -> Campaign:
    """Take a waiting campaign back to a draft: its sender withdraws the request, or a change
    to the campaign does (``reason`` says which change; ``commit=False`` leaves the commit to
    the caller making the change, so both land together)."""
    if not campaign.status.can_withdraw:
        raise CampaignStateError(_not_waiting(campaign))
    _back_to_draft(session, campaign)
    campaign.approval_comment = None
    record_event(
        session,
        campaign,
        "withdrawn",
        user,
        reason or "withdrawn by its sender",
        address=address,
    )
    if commit:
        session.commit()
    return campaign


def _back_to_draft(session: Session, campaign: Campaign) -> None:
    """A draft again: the recipients frozen at the request are let go (a follow-up's go back to
    its parent, reachable by a follow-up again), as before the request."""
    _move(session, campaign, CampaignStatus.DRAFT)
    if campaign.parent_id is not None:
        handed = select(CampaignRecipient.msisdn).where(
            CampaignRecipient.campaign_id == campaign.id
        )
        session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign.parent_id,
                state_in(RecipientState.RESENT),
                CampaignRecipient.msisdn.in_(handed),
            )
            .values(state=RecipientState.RESENT.move_to(RecipientState.FAILED))
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Batch)
        .where(Batch.campaign_id == campaign.id)
        .execution_options(synchronize_session=False)
    )
    session.expire(campaign, ["batches"])
    campaign.confirmed_at = campaign.confirmed_by_id = None
    campaign.approval_requested_at = campaign.approval_requested_by_id = None


def awaiting_approval(session: Session) -> list[Campaign]:
    """Every campaign waiting for approval, oldest request first (the home page's list)."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.status == CampaignStatus.AWAITING_APPROVAL)
            .options(selectinload(Campaign.approval_requested_by))
            .order_by(Campaign.approval_requested_at, Campaign.id)
        )
    )
