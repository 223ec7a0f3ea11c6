"""Campaign drafts: compose, check, save, copy, delete, and the follow-up of failed recipients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.gateway.rules import sender_problem
from webapp.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientList,
    RecipientState,
    User,
    campaign_lists,
    utcnow,
)
from webapp.services import audit, tracked_links
from webapp.services.actors import user_id_of
from webapp.services.audience import available_fields, lists_by_id
from webapp.services.campaigns.approvals import withdraw_approval
from webapp.services.campaigns.errors import CampaignInvalid, CampaignStateError
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.payload import ENCODINGS, VARIANTS, variant_text
from webapp.services.campaigns.split import check_shares, new_seed
from webapp.services.recipient_states import state_in
from webapp.services.templates import find_template
from webapp.sms import EncodingError, UnknownTagError, analyze, check_tags


@dataclass
class CampaignDraft:
    """What the compose form holds, as plain values."""

    name: str
    sender: str
    message: str
    list_ids: list[int] = field(default_factory=list)
    encoding: str = "auto"
    send_at: datetime | None = None
    speed_per_minute: int | None = None
    plain_values: bool = False
    opt_out_footer: str | None = None  # from `optout_links.footer_for`; None: no footer
    # Where tracked links point, from `tracked_links.link_host`; kept only if the message has some.
    link_host: str | None = None
    template_id: int | None = None  # the saved template the message was taken from
    # Reach the numbers flagged undeliverable too (services.undeliverable); left out otherwise.
    include_undeliverable: bool = False
    # An A/B test (services.abtests): the texts of variants B and C (the message is A), each
    # variant's share of the audience in percent (None: no test; the rest is held back), and
    # the minutes after the test send when the winner goes to the held-back (None: by hand).
    message_b: str | None = None
    message_c: str | None = None
    variant_shares: dict[str, int] | None = None
    winner_after_minutes: int | None = None
    winner_metric: str = "delivery_rate"  # a key of `abtests.METRICS`


def validate_draft(
    session: Session, draft: CampaignDraft, *, now: datetime | None = None
) -> list[RecipientList]:
    """Check a draft; raise CampaignInvalid naming every field that is wrong, else return the
    chosen lists."""
    errors: dict[str, str] = {}
    if not draft.name.strip():
        errors["name"] = "Give the campaign a name; it is shown in the gateway's statistics."
    elif len(draft.name) > 200:
        errors["name"] = "The name can be at most 200 characters."
    problem = sender_problem(draft.sender.strip()) if draft.sender.strip() else None
    if not draft.sender.strip():
        errors["sender"] = "Enter a sender: up to 11 letters and digits, or up to 15 digits."
    elif problem:
        errors["sender"] = problem
    if draft.encoding not in ENCODINGS:
        errors["encoding"] = "Choose automatic, GSM or Unicode."
    lists = lists_by_id(session, draft.list_ids)
    if len(lists) != len(set(draft.list_ids)):
        errors["list_ids"] = "One of the chosen lists no longer exists."
    for name, text in _texts_of(draft).items():
        problem = _text_problem(text, available_fields(lists), draft.encoding, draft.link_host)
        if problem:
            errors[name] = problem
    if draft.variant_shares:
        errors.update(_variant_problems(draft))
    if draft.send_at is not None and draft.send_at <= (now or utcnow()):
        errors["send_at"] = "The send time is in the past. Leave it empty to send at once."
    if draft.speed_per_minute is not None and draft.speed_per_minute < 1:
        errors["speed_per_minute"] = "The speed must be at least 1 recipient per minute."
    if draft.opt_out_footer and len(draft.opt_out_footer) > 300:
        errors["opt_out_link"] = "The opt-out footer can be at most 300 characters."
    if errors:
        raise CampaignInvalid(errors)
    return lists


WINNER_METRICS = ("delivery_rate", "click_through_rate")  # the keys of `abtests.METRICS`


def _texts_of(draft: CampaignDraft) -> dict[str, str]:
    """The draft's texts by form field: the message, and an A/B test's variants B and C."""
    texts = {"message": draft.message}
    for letter in VARIANTS[1:]:
        if letter in (draft.variant_shares or {}):
            texts[f"message_{letter.lower()}"] = getattr(draft, f"message_{letter.lower()}") or ""
    return texts


def _text_problem(
    text: str, fields: Sequence[str], encoding: str, link_host: str | None
) -> str | None:
    """What is wrong with a text: an unknown %tag%, a tracked link that cannot be sent, or a
    letter GSM cannot send."""
    if not text:
        return None
    # Counted as sent: a tracked link's target (whose "%" are not tags) is not.
    sent = tracked_links.sample_text(text, link_host)
    try:
        check_tags(sent, fields)
    except UnknownTagError as error:
        return str(error)
    problem = tracked_links.link_problem(text, link_host)
    if problem:
        return problem
    if encoding == "GSM":
        try:
            analyze(sent, "GSM")
        except EncodingError as error:
            return str(error)
    return None


def _variant_problems(draft: CampaignDraft) -> dict[str, str]:
    shares = draft.variant_shares or {}
    errors = {}
    if "B" not in shares or set(shares) - set(VARIANTS):
        errors["share_b"] = "An A/B test needs variant B (and at most variants A, B and C)."
    for letter in shares:
        text = getattr(draft, f"message_{letter.lower()}", None) if letter != "A" else "-"
        if text is not None and not text.strip():
            errors[f"message_{letter.lower()}"] = (
                f"Write variant {letter}'s text, or remove the variant."
            )
    errors.update(check_shares(shares, draft.winner_after_minutes))
    if draft.winner_metric not in WINNER_METRICS:
        errors["winner_metric"] = "Choose the delivery rate or the click-through rate."
    elif draft.winner_metric == "click_through_rate" and not any(
        tracked_links.has_links(text) for text in _texts_of(draft).values()
    ):
        errors["winner_metric"] = (
            "The click-through rate needs tracked links in the variants: track a link, or "
            "choose the winner by delivery rate."
        )
    return errors


def save_draft(
    session: Session,
    user: User | None,
    draft: CampaignDraft,
    campaign: Campaign | None = None,
    *,
    address: str | None = None,
) -> Campaign:
    """Create or update a draft. A draft may be incomplete in message and lists, not in name.

    Saving a campaign that waits for approval withdraws the request first, in the same
    transaction (one history entry: "withdrawn", changed after the request)."""
    lists = validate_draft(session, draft)
    if campaign is None:
        campaign = Campaign(created_by_id=user_id_of(user), status=CampaignStatus.DRAFT)
        session.add(campaign)
    elif not campaign.status.can_edit:
        raise CampaignStateError("Only a draft can be edited; copy the campaign to change it.")
    elif campaign.status.awaits_approval:
        withdraw_approval(
            session,
            campaign,
            user,
            reason="the campaign was changed after the request",
            address=address,
            commit=False,
        )
    campaign.name = draft.name.strip()
    campaign.sender = draft.sender.strip()
    campaign.message = draft.message
    campaign.encoding = draft.encoding
    campaign.send_at = draft.send_at
    campaign.speed_per_minute = draft.speed_per_minute
    campaign.plain_values = draft.plain_values
    campaign.opt_out_footer = draft.opt_out_footer or None
    campaign.link_host = draft.link_host if tracked_links.has_links(draft.message) else None
    # A template deleted since it was chosen is forgotten; the message stays as it is.
    template = find_template(session, draft.template_id)
    campaign.template_id = template.id if template else None
    campaign.include_undeliverable = draft.include_undeliverable
    _set_ab_test(campaign, draft)
    if campaign.parent_id is None:
        _set_lists(session, campaign, lists)
    session.commit()
    return campaign


def _set_ab_test(campaign: Campaign, draft: CampaignDraft) -> None:
    """The draft's A/B test; a campaign keeps its split's seed while it stays a test."""
    shares = draft.variant_shares or None
    campaign.variant_shares = dict(shares) if shares else None
    campaign.message_b = draft.message_b if shares and "B" in shares else None
    campaign.message_c = draft.message_c if shares and "C" in shares else None
    campaign.winner_after_minutes = draft.winner_after_minutes if shares else None
    campaign.winner_metric = draft.winner_metric if shares else "delivery_rate"
    campaign.split_seed = (campaign.split_seed or new_seed()) if shares else None


def _set_lists(session: Session, campaign: Campaign, lists: Sequence[RecipientList]) -> None:
    """Choose the campaign's lists and keep their order (the first list wins for a number)."""
    campaign.lists = list(lists)
    session.flush()
    for position, recipient_list in enumerate(lists):
        session.execute(
            update(campaign_lists)
            .where(
                campaign_lists.c.campaign_id == campaign.id,
                campaign_lists.c.list_id == recipient_list.id,
            )
            .values(position=position)
        )


def _draft_like(campaign: Campaign, what: str, user: User | None, **values) -> Campaign:
    """A new draft with ``campaign``'s sender, text and encoding, named "<name> (<what>)"."""
    return Campaign(
        name=f"{campaign.name} ({what})"[:200],
        sender=campaign.sender,
        message=campaign.message,
        encoding=campaign.encoding,
        plain_values=campaign.plain_values,
        opt_out_footer=campaign.opt_out_footer,
        link_host=campaign.link_host,
        template_id=campaign.template_id,
        include_undeliverable=campaign.include_undeliverable,
        created_by_id=user_id_of(user),
        status=CampaignStatus.DRAFT,
        **values,
    )


def set_include_undeliverable(
    session: Session,
    campaign: Campaign,
    user: User | None,
    include: bool,
    *,
    address: str | None = None,
) -> None:
    """Reach (or leave out) the numbers flagged undeliverable: saved with the draft, so its
    preview must be made again."""
    if not campaign.status.can_edit:
        raise CampaignStateError("Only a draft can be changed; copy the campaign to change it.")
    if campaign.include_undeliverable != include:
        what = f"numbers flagged undeliverable {'included' if include else 'left out'}"
        if campaign.status.awaits_approval:  # one event: the withdrawal, naming the change
            reason = f"the campaign was changed after the request ({what})"
            withdraw_approval(session, campaign, user, reason=reason, address=address, commit=False)
        else:
            record_event(session, campaign, "changed", user, what, address=address)
        campaign.include_undeliverable = include
    session.commit()


def copy_campaign(
    session: Session, campaign: Campaign, user: User | None, *, address: str | None = None
) -> Campaign:
    """A new draft like ``campaign`` (its visible lists, text, speed, its A/B test with a new
    split): "copied" in its history and the audit log."""
    copy = _draft_like(
        campaign,
        "copy",
        user,
        speed_per_minute=campaign.speed_per_minute,
        message_b=campaign.message_b,
        message_c=campaign.message_c,
        variant_shares=campaign.variant_shares,
        winner_after_minutes=campaign.winner_after_minutes,
        winner_metric=campaign.winner_metric,
        split_seed=new_seed() if campaign.is_ab_test else None,
    )
    session.add(copy)
    _set_lists(session, copy, [lst for lst in campaign.lists if not lst.hidden])
    detail = f"from “{campaign.name}” (campaign {campaign.id})"
    record_event(session, copy, "copied", user, detail, address=address)
    session.commit()
    return copy


def delete_draft(
    session: Session, campaign: Campaign, user: User | None = None, *, address: str | None = None
) -> None:
    """Delete a draft (its history goes with it; the audit log keeps the deletion)."""
    if not campaign.status.can_delete:
        raise CampaignStateError("Only a draft can be deleted; a sent campaign stays in history.")
    target = audit.Target("campaign", campaign.id, campaign.name)
    audit.record(session, "campaign_deleted", user=user, obj=target, address=address)
    session.delete(campaign)
    session.commit()


def create_follow_up(
    session: Session, campaign: Campaign, user: User | None, *, address: str | None = None
) -> Campaign:
    """A draft that reaches exactly this campaign's failed recipients, never the accepted ones.

    It sends one text: of an A/B test, the winner's (A's when none was chosen), whatever
    variant each failed recipient had; the compose page says so."""
    existing = session.scalar(
        select(Campaign).where(
            Campaign.parent_id == campaign.id, Campaign.status == CampaignStatus.DRAFT
        )
    )
    if existing is not None:
        return existing
    failed = session.scalar(
        select(func.count()).where(
            CampaignRecipient.campaign_id == campaign.id,
            state_in(RecipientState.FAILED),
        )
    )
    if not failed:
        raise CampaignStateError(
            "No recipient of this campaign is marked as failed. Decide the unconfirmed batches "
            "first if some are waiting."
        )
    follow_up = _draft_like(campaign, "follow-up", user, parent_id=campaign.id)
    if campaign.is_ab_test:  # one text for every failed recipient: the winner's, or A's
        follow_up.message = variant_text(campaign, campaign.winner)
    session.add(follow_up)
    session.flush()
    detail = f"for {failed:,} failed recipients of “{campaign.name}” (campaign {campaign.id})"
    record_event(session, follow_up, "follow_up", user, detail, address=address)
    session.commit()
    return follow_up
