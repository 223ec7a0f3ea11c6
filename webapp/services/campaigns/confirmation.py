"""Confirming a campaign: the preview must be current, then its recipients freeze into batches.

`content_fingerprint` says whether what would be sent changed since the preview; it includes
the audience's `audience_state`, the same description the composer's counter caches by.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError
from webapp.gateway.messages import Balance
from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
    User,
    campaign_lists,
    utcnow,
)
from webapp.money import money_text
from webapp.services.actors import user_id_of
from webapp.services.approval import approval_reason
from webapp.services.audience import (
    Audience,
    Source,
    audience_state,
    id_in,
    left_out_undeliverable,
    resolve_audience,
)
from webapp.services.budget import over_budget_refusal
from webapp.services.campaigns.errors import (
    RECENT_DAYS,
    ApprovalNeeded,
    CampaignInvalid,
    CampaignStateError,
    DuplicateCampaign,
)
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.split import GROUP_ORDER, HELD, groups_of
from webapp.services.recipient_states import state_in
from webapp.services.templates import mark_template_used
from webapp.services.tracked_links import sync_links
from webapp.statistics import refresh_statistics


def content_fingerprint(session: Session, campaign: Campaign) -> str:
    """Changes whenever what would be sent changes: text, sender, encoding, lists, opt-outs,
    and the numbers flagged undeliverable it leaves out (or that it includes them)."""
    state = {
        "name": campaign.name,
        "sender": campaign.sender,
        "message": campaign.message,
        "encoding": campaign.encoding,
        "speed": campaign.speed_per_minute,
        "footer": campaign.opt_out_footer,
        "links": campaign.link_host,
        "audience": audience_state(session, campaign.lists),
        "parent": campaign.parent_id,
    }
    if campaign.is_ab_test:  # likewise: the variants, their split and the winner step
        state["ab_test"] = {
            "texts": [campaign.message_b, campaign.message_c],
            "shares": campaign.variant_shares,
            "seed": campaign.split_seed,
            "winner_after": campaign.winner_after_minutes,
        }
    if campaign.plain_values:  # only when set, so the fingerprints of earlier previews hold
        state["plain_values"] = True
    if campaign.include_undeliverable:
        state["include_undeliverable"] = True
    else:
        left_out = left_out_undeliverable(session, campaign)
        if left_out:  # the numbers themselves: a flag that comes or goes changes the audience
            digest = hashlib.sha256(" ".join(sorted(left_out)).encode()).hexdigest()
            state["undeliverable"] = digest
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def preview_is_current(session: Session, campaign: Campaign) -> bool:
    return bool(campaign.preview_fingerprint) and campaign.preview_fingerprint == (
        content_fingerprint(session, campaign)
    )


def batch_size_for(campaign: Campaign, configured: int) -> int:
    """Recipients per request: the configured size, smaller when a speed limit asks for it."""
    size = max(1, min(10_000, configured))
    if campaign.speed_per_minute:
        size = max(1, min(size, campaign.speed_per_minute))
    return size


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_positions(
    audience: Audience, groups: Sequence[str | None], size: int, *, by_country: bool = False
) -> Iterator[tuple[str | None, str | None, Sequence[int]]]:
    """(country, group, positions) of each batch of `size` at most: the recipients in their
    order, an A/B test's groups apart (A's first, the held-back last) and, ``by_country``,
    each country apart in alphabetical order (the batch's country; None otherwise).

    What a stable sort of every recipient by (group, country) would cut into batches, from
    positions gathered per group and country (4 bytes each).
    """
    if not by_country and not any(groups):
        yield from ((None, None, chunk) for chunk in chunks(range(len(audience)), size))
        return
    buckets: dict[tuple[int, str], array] = {}
    for position, group in enumerate(groups):
        country = (by_country and audience.country_at(position)) or ""
        key = (GROUP_ORDER.get(group, 0), country)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = array("I")
        bucket.append(position)
    for key in sorted(buckets):
        positions = buckets[key]
        group = groups[positions[0]]
        for country, run in _country_runs(audience, positions, by_country):
            for chunk in chunks(run, size):
                yield country, group, chunk


def _country_runs(audience: Audience, positions: array, by_country: bool):
    """(country, positions) of each run of one country: a bucket holds one, but for None and
    "" (sorted alike), which take turns as they come."""
    if not by_country:
        yield None, positions
        return
    start = 0
    for end in range(1, len(positions) + 1):
        if end == len(positions) or (
            audience.country_at(positions[end]) != audience.country_at(positions[start])
        ):
            yield audience.country_at(positions[start]), positions[start:end]
            start = end


def recent_duplicates(
    session: Session,
    message: str,
    list_ids: Sequence[int],
    *,
    now: datetime | None = None,
    exclude_id: int | None = None,
) -> list[Campaign]:
    """Campaigns confirmed in the last ``RECENT_DAYS`` days with this message and exactly these
    lists: sending again would reach each of their recipients a second time."""
    wanted = set(list_ids)
    if not wanted:
        return []
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    same_lists = select(campaign_lists.c.campaign_id).where(campaign_lists.c.list_id.in_(wanted))
    candidates = session.scalars(
        select(Campaign)
        .where(
            Campaign.id.in_(same_lists),
            Campaign.message == message,
            Campaign.confirmed_at >= since,
            Campaign.status.not_in(CampaignStatus.where(lambda status: status.is_draft)),
        )
        .order_by(Campaign.id)
    )
    return [
        campaign
        for campaign in candidates
        if campaign.id != exclude_id and {lst.id for lst in campaign.lists} == wanted
    ]


def duplicates_of(session: Session, campaign: Campaign, now: datetime | None = None):
    """``recent_duplicates`` of a draft (a follow-up reaches failed recipients: never one)."""
    if campaign.parent_id is not None:
        return []
    return recent_duplicates(
        session,
        campaign.message,
        [lst.id for lst in campaign.lists],
        now=now,
        exclude_id=campaign.id,
    )


def account_balance(client) -> Balance | None:
    """The gateway account's balance (GET /rest/me), or None when the gateway cannot say."""
    try:
        return client.balance()
    except GatewayError:
        return None


def affordability_refusal(
    session: Session, campaign: Campaign, balance: Balance | None, now: datetime
) -> str | None:
    """Why sending ``campaign`` now is refused for money: a cost above the account's
    ``balance`` (when known), or one that takes the month over the monthly budget; None when
    it can be paid. Asked at confirmation, and again when an approver approves it."""
    if balance is not None and Decimal(campaign.cost or 0) > balance.credit:
        currency = balance.currency or campaign.currency or ""
        return (
            f"This send costs {money_text(campaign.cost)} {currency} but the account's balance "
            f"is {money_text(balance.credit)} {currency}. Top up the account, or reach fewer "
            "recipients."
        )
    return over_budget_refusal(session, campaign, now)


def confirm_campaign(
    session: Session,
    campaign: Campaign,
    user: User | None,
    *,
    batch_size: int,
    allow_duplicate: bool = False,
    now: datetime | None = None,
    by_country: bool = False,
    balance: Balance | None = None,
    address: str | None = None,
    for_approval: bool = False,
) -> Campaign:
    """Freeze the recipients into batches and queue the campaign (or schedule it).

    Requires a preview of the current content, ``allow_duplicate`` when the same message went
    to the same lists in the last days (DuplicateCampaign otherwise), and (when the account
    ``balance`` is known) a cost the balance covers, and one that keeps the month within the
    monthly budget (when one is set). After this, list changes do not change who
    the campaign reaches. ``by_country`` (quiet hours) gives each country batches of its own,
    so the dispatcher can hold one country while another is sent.

    A campaign over the workspace's approval limits is refused with ApprovalNeeded; with
    ``for_approval`` (`approvals.request_approval`) the same checks run and the same freeze
    happens, but the campaign then waits for an approver instead of being queued.
    """
    now = now or utcnow()
    if not campaign.status.can_confirm:
        raise CampaignStateError(not_a_draft(campaign))
    refusal = affordability_refusal(session, campaign, balance, now)
    if refusal is not None:
        raise CampaignStateError(refusal)
    if not preview_is_current(session, campaign):
        raise CampaignStateError(
            "The campaign changed since its preview (text, lists, opt-outs or numbers flagged "
            "undeliverable). "
            "Preview it again before sending."
        )
    if not allow_duplicate:
        earlier = duplicates_of(session, campaign, now)
        if earlier:
            raise DuplicateCampaign(earlier)
    if campaign.send_at is not None and campaign.send_at <= now:
        raise CampaignInvalid({"send_at": "The send time has passed. Change it or clear it."})
    needs_approval = approval_reason(session, campaign)
    if needs_approval and not for_approval:
        raise ApprovalNeeded(needs_approval)
    if for_approval:
        target = CampaignStatus.AWAITING_APPROVAL
    else:
        target = CampaignStatus.SCHEDULED if campaign.send_at else CampaignStatus.QUEUED
    _claim_confirmation(session, campaign, target)
    audience = resolve_audience(session, campaign)
    campaign.recipient_countries = sorted(country for country in audience.countries if country)
    # An A/B test's split, recorded per recipient: each group has batches of its own.
    groups = groups_of(campaign, len(audience))
    connection = session.connection()
    # Every recipient row committed so far got its id before this freeze asks for any.
    campaign.recipients_after_id = connection.scalar(select(func.max(CampaignRecipient.id))) or 0
    size = batch_size_for(campaign, batch_size)
    batches = batch_positions(audience, groups, size, by_country=by_country)
    for number, (country, group, positions) in enumerate(batches, start=1):
        batch_id = connection.execute(
            insert(Batch.__table__).values(
                campaign_id=campaign.id,
                number=number,
                size=len(positions),
                country=country,
                **_batch_of_group(group),
            )
        ).inserted_primary_key[0]
        for index, _, ids in audience.runs(positions):
            _freeze(connection, campaign, batch_id, audience.sources[index], ids, group)
    campaign.recipient_count = len(audience)
    sync_links(session, campaign)  # the message is fixed from here: its links are too
    campaign.status = campaign.status.move_to(target)
    campaign.confirmed_at = now
    campaign.confirmed_by_id = user_id_of(user)
    mark_template_used(session, campaign.template_id, now)
    cost = f"{money_text(campaign.cost)} {campaign.currency or ''}"
    detail = f"{campaign.recipient_count} recipients, {cost}".strip()
    if for_approval:
        campaign.approval_requested_at = now
        campaign.approval_requested_by_id = user_id_of(user)
        campaign.approved_at = campaign.approved_by_id = campaign.approval_comment = None
        why = f"; needs approval: {needs_approval}" if needs_approval else ""
        record_event(session, campaign, "approval_requested", user, detail + why, address=address)
    else:
        record_event(session, campaign, "confirmed", user, detail, address=address)
    session.commit()
    refresh_statistics(session)  # campaign_recipients just grew by a whole audience
    return campaign


def not_a_draft(campaign: Campaign) -> str:
    """Why a campaign that is no longer a draft cannot be confirmed, changed or previewed."""
    if campaign.status.awaits_approval:
        return (
            "This campaign is waiting for approval. Withdraw the request (or change the "
            "campaign, which withdraws it) to preview or confirm it again."
        )
    return "This campaign was already confirmed."


def _claim_confirmation(session: Session, campaign: Campaign, target: CampaignStatus) -> None:
    """Move the campaign out of its draft state by a compare-and-set before anything is frozen,
    so of two confirmations at once (a double submit, two tabs) exactly one goes on; the other
    waits for the first's row lock and then finds nothing to claim."""
    confirmable = CampaignStatus.where(lambda status: status.can_confirm)
    claimed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status.in_(confirmable))
        .values(status=target)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        raise CampaignStateError(not_a_draft(campaign))


def _batch_of_group(group: str | None) -> dict:
    """A batch's variant (and state) for an A/B test's group: held back, it waits held."""
    if group == HELD:
        return {"state": BatchState.HELD, "variant": None}
    return {"variant": group}


def _freeze(
    connection,
    campaign: Campaign,
    batch_id: int,
    source: Source,
    ids: list[int],
    group: str | None = None,
):
    """Copy the chosen rows of one source into the batch, in their order, within the database:
    their fields are never decoded and encoded again here; ``group`` is the A/B test's split.
    A follow-up's copies are marked as handed over on its parent."""
    table = source.table
    pending = literal(RecipientState.PENDING, CampaignRecipient.__table__.c.state.type)
    variant = literal(group, CampaignRecipient.__table__.c.variant.type)
    copies = select(
        literal(campaign.id),
        literal(batch_id),
        table.msisdn,
        table.country,
        table.fields,
        pending,
        variant,
    )
    connection.execute(
        insert(CampaignRecipient.__table__).from_select(
            ["campaign_id", "batch_id", "msisdn", "country", "fields", "state", "variant"],
            copies.where(id_in(table.id, ids, connection.dialect.name)).order_by(table.id),
        )
    )
    if table is CampaignRecipient:
        connection.execute(
            update(CampaignRecipient.__table__)
            .where(
                id_in(CampaignRecipient.id, ids, connection.dialect.name),
                state_in(RecipientState.FAILED),
            )
            .values(state=RecipientState.RESENT)
        )
