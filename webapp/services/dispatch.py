"""Sending a confirmed campaign, batch by batch, exactly once per recipient.

How "exactly once" holds, whatever crashes or retries:
- Recipients are frozen into numbered batches at confirmation; a batch is one gateway request.
- One dispatcher per campaign at a time: it holds a lease in the database and renews it.
- A batch moves ``pending -> sending`` by a compare-and-set committed *before* its request goes
  out, and to ``sent``/``failed``/``unconfirmed`` committed after the answer.
- Just before its request is handed to the HTTP client, ``request_started_at`` is committed.
  A batch a dead dispatcher left ``sending`` without it never went out: back to ``pending``.
- Only a batch the gateway certainly did not accept (connection refused, a 4xx) goes back to
  ``pending`` for a retry with backoff. A batch whose request may have reached the gateway (a
  timeout after sending, a 5xx, a lost answer, or a worker that died mid-request) becomes
  ``unconfirmed`` and is never resent silently: the user decides, and deciding "not sent" needs
  a typed confirmation naming the risk (a follow-up sends to them again).
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
from itertools import chain

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
    OptOut,
    RecipientState,
    User,
    utcnow,
)
from webapp.services.abtests import awaits_winner
from webapp.services.audience import resolve_fields
from webapp.services.budget import budget_pause_reason
from webapp.services.campaigns.approvals import withdraw_approval
from webapp.services.campaigns.errors import CampaignStateError
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.payload import link_numbers, message_text, tagged_batch_message
from webapp.services.optout_links import link_code
from webapp.services.progress import progress_text
from webapp.services.quiet_hours import QuietHours, country_window
from webapp.services.tracked_links import link_code as click_code
from webapp.sms.personalise import to_gateway_tags

log = logging.getLogger(__name__)

LEASE_SECONDS = 90
RENEW_AFTER = timedelta(seconds=LEASE_SECONDS / 3)  # the lease still has two thirds to run
MAX_ATTEMPTS = 5
LIVE = CampaignStatus.where(lambda status: status.is_live)
RETRYABLE = (GatewayUnavailable, TooManyConnections)  # certainly not accepted, may pass later
QUIET_WAIT_SECONDS = 60  # a longer wait (quiet hours) ends the run; the minute job resumes it
OPEN_TO_SEND = (BatchState.PENDING, BatchState.SENDING)
PAUSING = (Unauthorized, Forbidden)  # every later batch would fail the same way (incl. credit)
ROWS_PER_FETCH = 200  # a batch's recipients read this many a fetch


class DispatchInterrupted(Exception):
    """Raised by a test checkpoint to stop the dispatcher as a crash would."""


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def set_batch_state(session: Session, batch: Batch, state: BatchState, **values) -> None:
    """Move a batch along its lifecycle; its recipients follow it without a write of their rows
    (services.recipient_states), so a batch's answer costs one row, not 10,000."""
    leaving_unconfirmed = batch.state.awaits_decision
    batch.state = batch.state.move_to(state)
    for name, value in values.items():
        setattr(batch, name, value)
    if leaving_unconfirmed:
        # Rows written before recipients followed their batch may record "unconfirmed".
        session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.batch_id == batch.id,
                CampaignRecipient.state == RecipientState.UNCONFIRMED,
            )
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
        link_secret: str = "",
        quiet_hours: QuietHours | None = None,
        stopping: threading.Event | None = None,
        stop_grace_seconds: float = 30.0,
    ):
        self.session = session
        self.client = client
        self.max_connections = max(1, min(40, max_connections))
        self.callback_url = callback_url
        self.retry_base_seconds = retry_base_seconds
        self.checkpoint = checkpoint or (lambda step, batch: None)
        self.clock = clock
        self.link_secret = link_secret  # signs the opt-out link codes of a footer
        self.quiet_hours = quiet_hours  # None: send at any hour
        self._validity: dict[int, int] = {}  # batch id -> seconds until its window closes
        self.owner = uuid.uuid4().hex
        self._lease_renewed_at: datetime | None = None
        # Set when the process is asked to stop (SIGTERM): claim no more batches, let the
        # requests in flight finish within the grace, record them, release the lease.
        self.stopping = stopping or threading.Event()
        self.stop_grace_seconds = stop_grace_seconds

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
        lease" (another dispatcher took over), "stopped" (the process is stopping: the lease is
        released for another to carry on), "busy" (another dispatcher holds the campaign),
        "waiting" (scheduled for later, or every pending batch held by quiet hours), "missing"
        (no such campaign), or the status of a campaign that is no longer live.
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
        fields = resolve_fields(self.session, campaign)
        tagging: dict[str | None, tuple] = {}  # variant -> tags, fields, link numbers
        inflight: dict[Future, Batch] = {}
        last_launch: tuple[float, int] | None = None  # (monotonic time, batch size)
        stop_reason = None
        give_up_at = None  # when stopping: the end of the grace for requests in flight
        pool = ThreadPoolExecutor(self.max_connections, thread_name_prefix="dispatch")
        try:
            while True:
                self.session.refresh(campaign)
                if stop_reason is None and campaign.status != CampaignStatus.SENDING:
                    stop_reason = campaign.status.value
                if stop_reason is None and not self._renew(campaign):
                    stop_reason = "lost lease"
                if self.stopping.is_set() and give_up_at is None:
                    stop_reason = stop_reason or "stopped"
                    give_up_at = time.monotonic() + self.stop_grace_seconds
                while stop_reason is None and len(inflight) < self.max_connections:
                    if time.monotonic() < _next_launch(campaign, last_launch):
                        break
                    if self._pause_at_budget(campaign):
                        stop_reason = "paused"
                        break
                    batch = self._claim_next(campaign)
                    if batch is None:
                        break
                    if batch.variant not in tagging:
                        text = message_text(campaign, batch.variant)
                        tagging[batch.variant] = (
                            *to_gateway_tags(text, fields),
                            link_numbers(campaign, batch.variant),
                        )
                    tags, tag_fields, links = tagging[batch.variant]
                    message = tagged_batch_message(
                        campaign,
                        self._recipients_of(batch, tag_fields, campaign.opt_out_link, links),
                        tags,
                        number=batch.number,
                        callback_url=self.callback_url,
                        validity_period=self._validity.pop(batch.id, None),
                        variant=batch.variant,
                    )
                    batch.request_started_at = self.clock()
                    self.session.commit()  # from here on the request may reach the gateway
                    self.checkpoint("before-request", batch)
                    inflight[pool.submit(self.client.send, message)] = batch
                    last_launch = (time.monotonic(), batch.size)
                if not inflight:
                    if stop_reason is not None:
                        break
                    delay = self._seconds_until_next(campaign, _next_launch(campaign, last_launch))
                    if delay is None:
                        break
                    if delay > QUIET_WAIT_SECONDS:
                        # Held for quiet hours: free the worker; the every-minute job comes back.
                        stop_reason = "waiting"
                        break
                    self.stopping.wait(min(delay, 5.0))  # a stop request ends the wait
                    continue
                if give_up_at is not None and time.monotonic() >= give_up_at:
                    # Still no answer after the grace: left ``sending``, so whoever carries on
                    # counts them unconfirmed rather than sending them again.
                    log.warning(
                        "campaign %s: %d requests still under way at the end of the stop grace",
                        campaign.id,
                        len(inflight),
                    )
                    break
                wait_for_speed = _next_launch(campaign, last_launch) - time.monotonic()
                timeout = min(5.0, max(0.05, wait_for_speed)) if campaign.speed_per_minute else 1.0
                if give_up_at is not None:
                    timeout = max(0.05, min(timeout, give_up_at - time.monotonic()))
                done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = inflight.pop(future)
                    paused_by = self._record(campaign, batch, future)
                    if paused_by and stop_reason is None:
                        stop_reason = "paused"
        finally:
            pool.shutdown(wait=not inflight, cancel_futures=True)
        return self._finish(campaign, stop_reason)

    def _recover_interrupted(self, campaign: Campaign) -> None:
        """A batch left ``sending`` belongs to a dispatcher that died: claimed but its request
        never started, it goes back to pending; started, it may have reached the gateway, so
        it is unconfirmed."""
        for batch in self.session.scalars(
            select(Batch).where(Batch.campaign_id == campaign.id, Batch.state == BatchState.SENDING)
        ):
            if batch.request_started_at is None:
                set_batch_state(
                    self.session,
                    batch,
                    BatchState.PENDING,
                    error_message="The sending worker stopped after claiming this batch, before "
                    "its request went out; it is sent normally.",
                )
                continue
            set_batch_state(
                self.session,
                batch,
                BatchState.UNCONFIRMED,
                finished_at=self.clock(),
                error_message="The sending worker stopped while this batch's request was under "
                f"way (it went out at {batch.request_started_at:%H:%M:%S} UTC and no answer was "
                "recorded), so it may or may not have reached the gateway.",
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
            if self._held(batch_id, now):
                continue
            claimed = self.session.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.state == BatchState.PENDING)
                .values(
                    state=BatchState.SENDING,
                    attempts=Batch.attempts + 1,
                    started_at=now,
                    request_started_at=None,
                    next_attempt_at=None,
                )
            ).rowcount
            self.session.commit()  # recorded before the request goes out
            if claimed == 1:
                batch = self.session.get(Batch, batch_id, populate_existing=True)
                if not self._leave_out_opted_out(batch):
                    continue
                self.checkpoint("claimed", batch)
                return batch
        return None

    def _leave_out_opted_out(self, batch: Batch) -> bool:
        """Numbers opted out since confirmation (a STOP reply mid-send, say) are not sent to:
        their recipients are cancelled before the request. False when none is left, and the
        batch is then finished without a request."""
        self.session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.batch_id == batch.id,
                CampaignRecipient.state == RecipientState.PENDING,
                CampaignRecipient.msisdn.in_(select(OptOut.msisdn)),
            )
            .values(state=RecipientState.CANCELLED)
        )
        left = self.session.scalar(
            select(func.count()).where(
                CampaignRecipient.batch_id == batch.id,
                CampaignRecipient.state != RecipientState.CANCELLED,
            )
        )
        if not left:
            batch.state = batch.state.move_to(BatchState.SENT)
            batch.finished_at = self.clock()
            batch.error_message = "Every recipient opted out before the batch went out."
        self.session.commit()
        return bool(left)

    def _held(self, batch_id: int, now: datetime) -> bool:
        """True when the batch's country is inside its quiet hours: the batch then waits (still
        pending) until its window opens. A batch that may go gets the validity period that ends
        when the window closes, so a message that cannot arrive in time expires instead."""
        if self.quiet_hours is None:
            return False
        batch = self.session.get(Batch, batch_id)
        if batch.country is None:
            return False
        window = country_window(batch.country, self.quiet_hours, now)
        if not window.is_open:
            batch.next_attempt_at = window.opens_at or now + timedelta(days=1)
            self.session.commit()
            return True
        self._validity[batch_id] = max(60, int((window.closes_at - now).total_seconds()))
        return False

    def _recipients_of(
        self,
        batch: Batch,
        tag_fields: list[str],
        with_link: bool = False,
        tracked: Sequence[int] = (),
    ) -> Iterable[Sequence[str]]:
        """(msisdn, text of each tag field, ..., [code of each tracked link in ``tracked``],
        [opt-out link code]) of a batch's recipients, read as they are used.

        The database picks the texts out of the stored fields ("" where one is missing), which
        is much faster than decoding each recipient's JSON here.
        """
        texts = [
            func.coalesce(CampaignRecipient.fields[name].as_string(), "") for name in tag_fields
        ]
        ids = [CampaignRecipient.id] if with_link or tracked else []
        # Core rather than ORM execution, fetched ROWS_PER_FETCH rows at a time: one fetchone a
        # row costs psycopg twice as much, and more rows alive at once make the garbage
        # collector promote them and run full passes more often (see webapp.gateway.messages).
        result = self.session.connection().execute(
            select(CampaignRecipient.msisdn, *texts, *ids)
            .where(
                CampaignRecipient.batch_id == batch.id,
                CampaignRecipient.state != RecipientState.CANCELLED,  # opted out meanwhile
            )
            .order_by(CampaignRecipient.id)
        )
        rows = chain.from_iterable(result.partitions(ROWS_PER_FETCH))
        if not ids:
            return rows
        return ((*row[:-1], *self._codes(row[-1], with_link, tracked)) for row in rows)

    def _codes(self, recipient_id: int, with_link: bool, tracked: Sequence[int]) -> list[str]:
        codes = [click_code(self.link_secret, recipient_id, number) for number in tracked]
        if with_link:
            codes.append(link_code(self.link_secret, recipient_id))
        return codes

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
                currency=usage.currency,
                finished_at=now,
                error_code=None,
                error_message=None,
            )
            pause = self._pause_on_new_currency(campaign, batch, usage.currency)
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
        elif isinstance(error, GatewayUnavailable) and batch.attempts >= MAX_ATTEMPTS:
            # The gateway has been out of reach through every retry: an outage, not a refusal.
            # The batch waits with a fresh count and the campaign pauses until it answers.
            set_batch_state(
                self.session,
                batch,
                BatchState.PENDING,
                attempts=0,
                error_code=error.code,
                error_message=str(error),
            )
            pause = self._pause_for_outage(campaign, error)
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

    def _pause_for_outage(self, campaign: Campaign, error: GatewayError) -> bool:
        if not campaign.status.can_pause:
            return False
        last_answer = self.session.scalar(
            select(func.max(Batch.finished_at)).where(
                Batch.campaign_id == campaign.id, Batch.state == BatchState.SENT
            )
        )
        since = last_answer or campaign.started_at or self.clock()
        campaign.status = campaign.status.move_to(CampaignStatus.PAUSED)
        campaign.outage_since = since
        campaign.pause_reason = (
            f"The gateway has not answered since {since:%H:%M} UTC ({error.message}). "
            "Sending resumes by itself when it answers again."
        )
        record_event(self.session, campaign, "paused", None, campaign.pause_reason)
        return True

    def _pause_at_budget(self, campaign: Campaign) -> bool:
        """Before a batch goes out: pause when this month's spend is over the budget."""
        reason = budget_pause_reason(self.session, self.clock())
        if reason is None or not campaign.status.can_pause:
            return False
        campaign.status = campaign.status.move_to(CampaignStatus.PAUSED)
        campaign.pause_reason = reason
        record_event(self.session, campaign, "paused", None, reason)
        self.session.commit()
        return True

    def _pause_on_new_currency(self, campaign: Campaign, batch: Batch, currency) -> bool:
        """The first answer in a currency other than the preview's pauses the campaign: the
        cost the user confirmed does not hold. Once resumed, that currency is accepted."""
        if not currency or not campaign.currency or currency == campaign.currency:
            return False
        seen_before = self.session.scalar(
            select(func.count()).where(
                Batch.campaign_id == campaign.id, Batch.currency == currency, Batch.id != batch.id
            )
        )
        if seen_before or not campaign.status.can_pause:
            return False
        campaign.status = campaign.status.move_to(CampaignStatus.PAUSED)
        campaign.pause_reason = currency_mismatch(campaign.currency, currency)
        record_event(self.session, campaign, "paused", None, campaign.pause_reason)
        return True

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
        if stop_reason in ("paused", "lost lease", "waiting", "stopped"):
            return stop_reason
        if campaign.status == CampaignStatus.CANCELLED:
            return "cancelled"
        if campaign.status == CampaignStatus.SENDING and awaits_winner(
            self.session, campaign, self.clock()
        ):
            return "waiting for the winner"
        if campaign.status == CampaignStatus.SENDING:
            campaign.status = campaign.status.move_to(CampaignStatus.DONE)
            campaign.finished_at = self.clock()
            record_event(
                self.session, campaign, "finished", None, progress_text(self.session, campaign)
            )
            self.session.commit()
            return "done"
        return campaign.status.value


def currency_mismatch(previewed: str, charged: str) -> str:
    return (
        f"The gateway charges this campaign in {charged}, but its preview priced it in "
        f"{previewed}: the confirmed cost does not hold. Check the cost so far; resume to go on "
        f"in {charged}."
    )


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


def pause_campaign(
    session: Session, campaign: Campaign, user: User, *, address: str | None = None
) -> None:
    if not campaign.status.can_pause:
        raise CampaignStateError("Only a queued, scheduled or sending campaign can be paused.")
    campaign.status = campaign.status.move_to(CampaignStatus.PAUSED)
    campaign.pause_reason = f"Paused by {user.email}."
    record_event(session, campaign, "paused", user, address=address)
    session.commit()


def resume_campaign(
    session: Session,
    campaign: Campaign,
    user: User | None,
    detail: str | None = None,
    *,
    address: str | None = None,
) -> None:
    """Back to the queue; the caller enqueues the dispatch job."""
    if not campaign.status.can_resume:
        raise CampaignStateError("Only a paused campaign can be resumed.")
    campaign.status = campaign.status.move_to(CampaignStatus.QUEUED)
    campaign.pause_reason = None
    campaign.outage_since = None
    record_event(session, campaign, "resumed", user, detail, address=address)
    session.commit()


def probe_after_outage(
    session: Session,
    campaign: Campaign,
    client,
    *,
    give_up_after: timedelta,
    now: datetime | None = None,
) -> str:
    """Ask the gateway whether it answers again, for a campaign paused by an outage.

    "resumed" (it answered: the campaign is queued again; the caller enqueues the dispatch),
    "still out" (probe again later), "gave up" (out for longer than ``give_up_after``: the
    campaign stays paused for the user), or "not paused" (nothing to do any more).
    """
    now = now or utcnow()
    if not campaign.status.is_paused or campaign.outage_since is None:
        return "not paused"
    try:
        client.balance()
    except GatewayUnavailable:
        answered = False
    except GatewayError:
        answered = True  # it answered, if not kindly: the dispatcher deals with what it says
    else:
        answered = True
    if answered:
        down_for = int((now - campaign.outage_since).total_seconds() // 60)
        resume_campaign(
            session, campaign, None, f"The gateway answers again (out for {down_for} min)."
        )
        return "resumed"
    if now - campaign.outage_since >= give_up_after:
        campaign.outage_since = None
        campaign.pause_reason = (
            f"{campaign.pause_reason} It still had not answered at {now:%H:%M} UTC, so the "
            "campaign stays paused: resume it when the gateway is back."
        )
        record_event(session, campaign, "paused", None, "The gateway stayed out of reach.")
        session.commit()
        return "gave up"
    return "still out"


def cancel_campaign(
    session: Session, campaign: Campaign, user: User, *, address: str | None = None
) -> int:
    """Cancel what has not gone out; batches already sent stay sent. Returns batches cancelled."""
    if not campaign.status.can_cancel:
        raise CampaignStateError("Only a campaign that is still sending can be cancelled.")
    campaign.status = campaign.status.move_to(CampaignStatus.CANCELLED)
    pending = list(
        session.scalars(
            select(Batch).where(
                Batch.campaign_id == campaign.id,
                Batch.state.in_((BatchState.PENDING, BatchState.HELD)),  # held: an A/B test's
            )
        )
    )
    for batch in pending:
        set_batch_state(session, batch, BatchState.CANCELLED, finished_at=utcnow())
    campaign.finished_at = utcnow()
    detail = f"{len(pending)} batches not sent"
    record_event(session, campaign, "cancelled", user, detail, address=address)
    session.commit()
    return len(pending)


def set_speed(
    session: Session,
    campaign: Campaign,
    user: User,
    per_minute: int | None,
    *,
    address: str | None = None,
) -> None:
    """Obeyed by the dispatcher from its next batch on, without a restart."""
    if per_minute is not None and per_minute < 1:
        raise CampaignStateError("The speed must be at least 1 recipient per minute.")
    detail = f"{per_minute or 'no limit'} per minute"
    if campaign.status.awaits_approval:  # a change after the request withdraws it: one event
        reason = f"the campaign was changed after the request (speed: {detail})"
        withdraw_approval(session, campaign, user, reason=reason, address=address, commit=False)
    else:
        record_event(session, campaign, "speed", user, detail, address=address)
    campaign.speed_per_minute = per_minute
    session.commit()


NOT_SENT_CONFIRMATION = "NOT SENT"


def not_sent_risk(batch: Batch) -> str:
    """What deciding "not sent" risks, in the words the user confirms it with."""
    return (
        f"A follow-up campaign will send to these {batch.size:,} recipients again; if the "
        "gateway did accept the request, each of them gets the message twice."
    )


def decide_unconfirmed(
    session: Session,
    campaign: Campaign,
    batch: Batch,
    user: User,
    *,
    accepted: bool,
    typed: str = "",
    address: str | None = None,
) -> None:
    """The user's decision on a batch whose outcome is unknown (e.g. after checking phones).

    "Not sent" makes its recipients reachable by a follow-up, so it needs ``typed`` to be
    NOT_SENT_CONFIRMATION: the user typed that they accept the risk of a second message.
    """
    if batch.campaign_id != campaign.id or not batch.state.awaits_decision:
        raise CampaignStateError("That batch is not waiting for a decision.")
    if not accepted and typed.strip().upper() != NOT_SENT_CONFIRMATION:
        raise CampaignStateError(
            f"{not_sent_risk(batch)} Type {NOT_SENT_CONFIRMATION} to count batch "
            f"{batch.number} as not sent."
        )
    state = BatchState.SENT if accepted else BatchState.FAILED
    note = "counted as sent" if accepted else "counted as not sent"
    set_batch_state(
        session, batch, state, error_message=f"{batch.error_message or ''} Decided: {note}.".strip()
    )
    record_event(
        session, campaign, "decided", user, f"Batch {batch.number} {note}", address=address
    )
    session.commit()


def due_campaigns(session: Session, now: datetime | None = None) -> list[int]:
    """Campaigns that should be sending but have no live dispatcher (after a restart, say);
    not an A/B test whose test went out and whose held-back recipients wait for the winner."""
    now = now or utcnow()
    batches = select(Batch.campaign_id).where(Batch.campaign_id == Campaign.id)
    waits_for_winner = batches.where(Batch.state == BatchState.HELD).exists()
    has_open_batches = batches.where(Batch.state.in_(OPEN_TO_SEND)).exists()
    return list(
        session.scalars(
            select(Campaign.id).where(
                or_(
                    Campaign.status == CampaignStatus.QUEUED,
                    (Campaign.status == CampaignStatus.SENDING)
                    & (has_open_batches | ~waits_for_winner),
                    (Campaign.status == CampaignStatus.SCHEDULED) & (Campaign.send_at <= now),
                ),
                or_(Campaign.lease_expires_at.is_(None), Campaign.lease_expires_at < now),
            )
        )
    )
