"""Sending a confirmed campaign, batch by batch, exactly once per recipient.

How "exactly once" holds, whatever crashes or retries:
- Recipients are frozen into numbered batches at confirmation; a batch is one gateway request.
- One dispatcher per campaign at a time: it holds a lease in the database and renews it.
- A batch moves ``pending -> sending`` by a compare-and-set committed *before* its request goes
  out, and to ``sent``/``failed``/``unconfirmed`` committed after the answer.
- Only a batch the gateway certainly did not accept (connection refused, a 4xx) goes back to
  ``pending`` for a retry with backoff. A batch whose request may have reached the gateway (a
  timeout after sending, a 5xx, a lost answer, or a worker that died mid-request) becomes
  ``unconfirmed`` and is never resent silently: the user decides.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from webapp.gateway.errors import (
    Forbidden,
    GatewayError,
    GatewayUnavailable,
    InvalidMessage,
    TooManyConnections,
    Unauthorized,
)
from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    User,
    utcnow,
)
from webapp.services.audience import resolve_fields
from webapp.services.campaigns.errors import CampaignStateError
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.payload import tagged_batch_message
from webapp.services.progress import progress_text
from webapp.sms.personalise import to_gateway_tags

log = logging.getLogger(__name__)

LEASE_SECONDS = 90
RENEW_AFTER = timedelta(seconds=LEASE_SECONDS / 3)  # the lease still has two thirds to run
MAX_ATTEMPTS = 5
LIVE = CampaignStatus.where(lambda status: status.is_live)
RETRYABLE = (GatewayUnavailable, TooManyConnections)  # certainly not accepted, may pass later
PAUSING = (Unauthorized, Forbidden)  # every later batch would fail the same way (incl. credit)


class DispatchInterrupted(Exception):
    """Raised by a test checkpoint to stop the dispatcher as a crash would."""


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def set_batch_state(session: Session, batch: Batch, state: BatchState, **values) -> None:
    """Move a batch (and its recipients with it) along its lifecycle."""
    batch.state = batch.state.move_to(state)
    for name, value in values.items():
        setattr(batch, name, value)
    session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.batch_id == batch.id)
        .values(state=state.recipient_state)
    )


class Dispatcher:
    """Sends one campaign's pending batches with up to ``max_connections`` requests at once."""

    def __init__(
        self,
        session: Session,
        client,
        *,
        max_connections: int = 4,
        callback_url: str | None = None,
        retry_base_seconds: float = 2.0,
        checkpoint: Callable[[str, Batch], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.session = session
        self.client = client
        self.max_connections = max(1, min(40, max_connections))
        self.callback_url = callback_url
        self.retry_base_seconds = retry_base_seconds
        self.checkpoint = checkpoint or (lambda step, batch: None)
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self._lease_renewed_at: datetime | None = None
        self._wake = threading.Event()

    # -- lease ---------------------------------------------------------------------------------

    def _acquire(self, campaign_id: int) -> bool:
        now = self.clock()
        claimed = self.session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.status.in_(LIVE),
                or_(
                    Campaign.lease_expires_at.is_(None),
                    Campaign.lease_expires_at < now,
                    Campaign.lease_owner == self.owner,
                ),
            )
            .values(lease_owner=self.owner, lease_expires_at=now + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
        self.session.commit()
        if claimed == 1:
            self._lease_renewed_at = now
        return claimed == 1

    def _renew(self, campaign: Campaign) -> bool:
        """Extend the lease once a third of it has passed (not a commit per batch); False when
        this dispatcher no longer holds it. Each batch is still claimed by compare-and-set."""
        now = self.clock()
        if self._lease_renewed_at is not None and now - self._lease_renewed_at < RENEW_AFTER:
            return True
        renewed = self.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id, Campaign.lease_owner == self.owner)
            .values(lease_expires_at=now + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
        self.session.commit()
        self._lease_renewed_at = now
        return renewed == 1

    def _release(self, campaign_id: int) -> None:
        self.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.lease_owner == self.owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        self.session.commit()

    # -- the loop ------------------------------------------------------------------------------

    def run(self, campaign_id: int) -> str:
        """Send what is pending; returns why it stopped.

        "done" (every batch finished), "cancelled", "paused" (by a user or the gateway), "lost
        lease" (another dispatcher took over), "busy" (another dispatcher holds the campaign),
        "waiting" (scheduled for later), "missing" (no such campaign), or the status of a
        campaign that is no longer live.
        """
        campaign = self.session.get(Campaign, campaign_id)
        if campaign is None:
            return "missing"
        if campaign.status == CampaignStatus.SCHEDULED and campaign.send_at > self.clock():
            return "waiting"
        if not self._acquire(campaign_id):
            return "busy"
        try:
            return self._run(campaign)
        finally:
            self.session.rollback()
            self._release(campaign_id)

    def _run(self, campaign: Campaign) -> str:
        self._recover_interrupted(campaign)
        if campaign.status in (CampaignStatus.QUEUED, CampaignStatus.SCHEDULED):
            campaign.status = campaign.status.move_to(CampaignStatus.SENDING)
            campaign.started_at = campaign.started_at or self.clock()
            self.session.commit()
        tags, tag_fields = to_gateway_tags(campaign.message, resolve_fields(self.session, campaign))
        inflight: dict[Future, Batch] = {}
        last_launch: tuple[float, int] | None = None  # (monotonic time, batch size)
        stop_reason = None
        with ThreadPoolExecutor(self.max_connections, thread_name_prefix="dispatch") as pool:
            while True:
                self.session.refresh(campaign)
                if stop_reason is None and campaign.status != CampaignStatus.SENDING:
                    stop_reason = campaign.status.value
                if stop_reason is None and not self._renew(campaign):
                    stop_reason = "lost lease"
                while stop_reason is None and len(inflight) < self.max_connections:
                    if time.monotonic() < _next_launch(campaign, last_launch):
                        break
                    batch = self._claim_next(campaign)
                    if batch is None:
                        break
                    message = tagged_batch_message(
                        campaign,
                        self._recipients_of(batch, tag_fields),
                        tags,
                        number=batch.number,
                        callback_url=self.callback_url,
                    )
                    self.checkpoint("before-request", batch)
                    inflight[pool.submit(self.client.send, message)] = batch
                    last_launch = (time.monotonic(), batch.size)
                if not inflight:
                    if stop_reason is not None:
                        break
                    delay = self._seconds_until_next(campaign, _next_launch(campaign, last_launch))
                    if delay is None:
                        break
                    self._wake.wait(min(delay, 5.0))
                    continue
                wait_for_speed = _next_launch(campaign, last_launch) - time.monotonic()
                timeout = min(5.0, max(0.05, wait_for_speed)) if campaign.speed_per_minute else None
                done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = inflight.pop(future)
                    paused_by = self._record(campaign, batch, future)
                    if paused_by and stop_reason is None:
                        stop_reason = "paused"
        return self._finish(campaign, stop_reason)

    def _recover_interrupted(self, campaign: Campaign) -> None:
        """A batch left ``sending`` belongs to a dispatcher that died mid-request: unconfirmed."""
        for batch in self.session.scalars(
            select(Batch).where(Batch.campaign_id == campaign.id, Batch.state == BatchState.SENDING)
        ):
            set_batch_state(
                self.session,
                batch,
                BatchState.UNCONFIRMED,
                finished_at=self.clock(),
                error_message="The sending worker stopped while this batch's request was under "
                "way, so it may or may not have reached the gateway.",
            )
        self.session.commit()

    def _claim_next(self, campaign: Campaign) -> Batch | None:
        now = self.clock()
        candidates = self.session.scalars(
            select(Batch.id)
            .where(
                Batch.campaign_id == campaign.id,
                Batch.state == BatchState.PENDING,
                or_(Batch.next_attempt_at.is_(None), Batch.next_attempt_at <= now),
            )
            .order_by(Batch.number)
            .limit(5)
        ).all()
        for batch_id in candidates:
            claimed = self.session.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.state == BatchState.PENDING)
                .values(
                    state=BatchState.SENDING,
                    attempts=Batch.attempts + 1,
                    started_at=now,
                    next_attempt_at=None,
                )
            ).rowcount
            self.session.commit()  # recorded before the request goes out
            if claimed == 1:
                batch = self.session.get(Batch, batch_id, populate_existing=True)
                self.checkpoint("claimed", batch)
                return batch
        return None

    def _recipients_of(self, batch: Batch, tag_fields: list[str]) -> Iterable[Sequence[str]]:
        """(msisdn, text of each tag field, ...) of a batch's recipients, read as they are used.

        The database picks the texts out of the stored fields ("" where one is missing), which
        is much faster than decoding each recipient's JSON here.
        """
        texts = [
            func.coalesce(CampaignRecipient.fields[name].as_string(), "") for name in tag_fields
        ]
        # Core rather than ORM execution: rows are made one at a time as they are read, not all
        # 10,000 at once (see webapp.gateway.messages on why that matters).
        return self.session.connection().execute(
            select(CampaignRecipient.msisdn, *texts)
            .where(CampaignRecipient.batch_id == batch.id)
            .order_by(CampaignRecipient.id)
        )

    def _record(self, campaign: Campaign, batch: Batch, future: Future) -> bool:
        """Store a batch's outcome; True when the campaign must pause."""
        now = self.clock()
        self.checkpoint("response", batch)
        error = future.exception()
        pause = False
        if error is None:
            result = future.result()
            usage = result.usage
            set_batch_state(
                self.session,
                batch,
                BatchState.SENT,
                message_id=str(result.message_id) if result.message_id is not None else None,
                usage=_jsonable(usage.raw),
                segments=sum(int(parts) for parts in usage.countries.values()),
                cost=usage.total_cost or Decimal(0),
                finished_at=now,
                error_code=None,
                error_message=None,
            )
        elif isinstance(error, InvalidMessage):
            set_batch_state(
                self.session, batch, BatchState.FAILED, error_message=str(error), finished_at=now
            )
        elif not isinstance(error, GatewayError):
            # A bug or an unexpected library error after the request may have gone out.
            log.exception("batch %s of campaign %s: unexpected error", batch.number, campaign.id)
            set_batch_state(
                self.session,
                batch,
                BatchState.UNCONFIRMED,
                error_message=f"Unexpected error: {error.__class__.__name__}",
                finished_at=now,
            )
        elif error.may_have_been_accepted:
            set_batch_state(
                self.session,
                batch,
                BatchState.UNCONFIRMED,
                error_code=error.code,
                error_message=str(error),
                finished_at=now,
            )
        elif isinstance(error, PAUSING):
            # Not accepted: the batch waits, the campaign pauses with the gateway's message.
            set_batch_state(
                self.session,
                batch,
                BatchState.PENDING,
                error_code=error.code,
                error_message=str(error),
            )
            campaign.status = campaign.status.move_to(CampaignStatus.PAUSED)
            campaign.pause_reason = str(error)
            record_event(self.session, campaign, "paused", None, f"By the gateway: {error}")
            pause = True
        elif isinstance(error, RETRYABLE) and batch.attempts < MAX_ATTEMPTS:
            delay = self.retry_base_seconds * 2 ** (batch.attempts - 1)
            set_batch_state(
                self.session,
                batch,
                BatchState.PENDING,
                error_code=error.code,
                error_message=f"{error} (retrying, attempt {batch.attempts} of {MAX_ATTEMPTS})",
                next_attempt_at=now + timedelta(seconds=delay),
            )
        else:
            set_batch_state(
                self.session,
                batch,
                BatchState.FAILED,
                error_code=error.code,
                error_message=str(error),
                finished_at=now,
            )
        self.session.commit()
        self.checkpoint("recorded", batch)
        return pause

    def _seconds_until_next(self, campaign: Campaign, next_launch: float) -> float | None:
        """How long to wait for a pending batch (backoff or speed), or None when none is left."""
        next_attempt = self.session.scalar(
            select(func.min(func.coalesce(Batch.next_attempt_at, self.clock()))).where(
                Batch.campaign_id == campaign.id, Batch.state == BatchState.PENDING
            )
        )
        if next_attempt is None:
            return None
        if next_attempt.tzinfo is None:
            next_attempt = next_attempt.replace(tzinfo=self.clock().tzinfo)
        by_backoff = (next_attempt - self.clock()).total_seconds()
        by_speed = next_launch - time.monotonic()
        return max(0.01, by_backoff, by_speed)

    def _finish(self, campaign: Campaign, stop_reason: str | None) -> str:
        self.session.refresh(campaign)
        if stop_reason in ("paused", "lost lease"):
            return stop_reason
        if campaign.status == CampaignStatus.CANCELLED:
            return "cancelled"
        if campaign.status == CampaignStatus.SENDING:
            campaign.status = campaign.status.move_to(CampaignStatus.DONE)
            campaign.finished_at = self.clock()
            record_event(
                self.session, campaign, "finished", None, progress_text(self.session, campaign)
            )
            self.session.commit()
            return "done"
        return campaign.status.value


def _next_launch(campaign: Campaign, last_launch: tuple[float, int] | None) -> float:
    """When the next batch may start under the campaign's current speed (read every loop, so a
    change applies from the next batch on)."""
    if not campaign.speed_per_minute or last_launch is None:
        return 0.0
    started, size = last_launch
    return started + 60.0 * size / campaign.speed_per_minute


def dispatch_campaign(session: Session, campaign_id: int, client, **options) -> str:
    """Send a campaign's pending batches; safe to call twice, after a crash, from two workers."""
    return Dispatcher(session, client, **options).run(campaign_id)


# --- The user's decisions -------------------------------------------------------------------


def pause_campaign(session: Session, campaign: Campaign, user: User) -> None:
    if not campaign.status.can_pause:
        raise CampaignStateError("Only a queued, scheduled or sending campaign can be paused.")
    campaign.status = campaign.status.move_to(CampaignStatus.PAUSED)
    campaign.pause_reason = f"Paused by {user.email}."
    record_event(session, campaign, "paused", user)
    session.commit()


def resume_campaign(session: Session, campaign: Campaign, user: User) -> None:
    """Back to the queue; the caller enqueues the dispatch job."""
    if not campaign.status.can_resume:
        raise CampaignStateError("Only a paused campaign can be resumed.")
    campaign.status = campaign.status.move_to(CampaignStatus.QUEUED)
    campaign.pause_reason = None
    record_event(session, campaign, "resumed", user)
    session.commit()


def cancel_campaign(session: Session, campaign: Campaign, user: User) -> int:
    """Cancel what has not gone out; batches already sent stay sent. Returns batches cancelled."""
    if not campaign.status.can_cancel:
        raise CampaignStateError("Only a campaign that is still sending can be cancelled.")
    campaign.status = campaign.status.move_to(CampaignStatus.CANCELLED)
    pending = list(
        session.scalars(
            select(Batch).where(Batch.campaign_id == campaign.id, Batch.state == BatchState.PENDING)
        )
    )
    for batch in pending:
        set_batch_state(session, batch, BatchState.CANCELLED, finished_at=utcnow())
    campaign.finished_at = utcnow()
    record_event(session, campaign, "cancelled", user, f"{len(pending)} batches not sent")
    session.commit()
    return len(pending)


def set_speed(session: Session, campaign: Campaign, user: User, per_minute: int | None) -> None:
    """Obeyed by the dispatcher from its next batch on, without a restart."""
    if per_minute is not None and per_minute < 1:
        raise CampaignStateError("The speed must be at least 1 recipient per minute.")
    campaign.speed_per_minute = per_minute
    record_event(session, campaign, "speed", user, f"{per_minute or 'no limit'} per minute")
    session.commit()


def decide_unconfirmed(
    session: Session, campaign: Campaign, batch: Batch, user: User, *, accepted: bool
) -> None:
    """The user's decision on a batch whose outcome is unknown (e.g. after checking phones)."""
    if batch.campaign_id != campaign.id or not batch.state.awaits_decision:
        raise CampaignStateError("That batch is not waiting for a decision.")
    state = BatchState.SENT if accepted else BatchState.FAILED
    note = "counted as sent" if accepted else "counted as not sent"
    set_batch_state(
        session, batch, state, error_message=f"{batch.error_message or ''} Decided: {note}.".strip()
    )
    record_event(session, campaign, "decided", user, f"Batch {batch.number} {note}")
    session.commit()


def due_campaigns(session: Session, now: datetime | None = None) -> list[int]:
    """Campaigns that should be sending but have no live dispatcher (after a restart, say)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Campaign.id).where(
                or_(
                    Campaign.status.in_((CampaignStatus.QUEUED, CampaignStatus.SENDING)),
                    (Campaign.status == CampaignStatus.SCHEDULED) & (Campaign.send_at <= now),
                ),
                or_(Campaign.lease_expires_at.is_(None), Campaign.lease_expires_at < now),
            )
        )
    )
