"""Delivery reports by polling (``DELIVERY_REPORTS=poll``), for a dashboard the gateway cannot
reach with its webhooks.

A job asks the gateway for each sent batch's statuses (``GET /rest/mtsms/<id>``): first a while
after the send, then waiting twice as long each time, until every recipient of the batch has a
final status or the batch's validity period has ended (one last look then, and no more). Each
status goes through `delivery.record_delivery_report`, the webhook's own path, so the ordering
rule, the history and the counts hold alike and the campaign page shows the same.

Test messages are polled alike, on the same schedule from their send, so a test's status on the
campaign page comes from the gateway in this mode too.

A batch (or a test message) is claimed for a poll by a compare-and-set on its attempt count,
committed before the request: two workers polling at once ask the gateway once. A gateway error
is logged and the batch waits for its next poll, as it would after an answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError
from webapp.gateway.reports import DELIVERY_STATUSES, is_final
from webapp.models import (
    Batch,
    BatchState,
    CampaignRecipient,
    CampaignTestSend,
    DeliveryOutcome,
    RecipientState,
    utcnow,
)
from webapp.services.campaigns.payload import batch_userref
from webapp.services.delivery import (
    FailureGuard,
    record_delivery_report,
    record_delivery_reports,
)
from webapp.services.recipient_states import state_in

log = logging.getLogger(__name__)

BATCHES_PER_ROUND = 200
"""Batches polled by one round at most (each is one request); the rest wait for the next."""


@dataclass(frozen=True)
class PollSchedule:
    """When a sent batch is polled: ``first`` after its send, then after each poll twice the
    previous wait, at most ``longest``, until ``validity`` after the send."""

    first: timedelta = timedelta(seconds=60)
    longest: timedelta = timedelta(minutes=30)
    validity: timedelta = timedelta(hours=48)

    def wait_after(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th poll (1, 2, ...)."""
        doubled = self.first * 2 ** min(max(attempts, 0), 30)
        return min(self.longest, doubled)

    def next_poll(self, sent_at: datetime, attempts: int, now: datetime) -> datetime | None:
        """When to poll after the ``attempts``-th poll at ``now``; None: polling has ended (the
        validity period is over, so this was the last look)."""
        ends = sent_at + self.validity
        if now >= ends:
            return None
        return min(now + self.wait_after(attempts), ends)


@dataclass
class PollRound:
    """What one round did: batches asked about, recipients whose status changed, gateway
    errors (each logged; the batch is asked again later), batches whose polling ended, and test
    messages asked about."""

    batches: int = 0
    recorded: int = 0
    errors: int = 0
    ended: int = 0
    test_messages: int = 0


def _awaiting(batch_id):
    """Criteria for a batch's recipients that were sent and have no final status yet."""
    return (
        CampaignRecipient.batch_id == batch_id,
        state_in(RecipientState.SENT),
        or_(
            CampaignRecipient.delivery_outcome.is_(None),
            CampaignRecipient.delivery_outcome == DeliveryOutcome.AWAITING,
        ),
    )


def due_batches(
    session: Session, schedule: PollSchedule, now: datetime, limit: int = BATCHES_PER_ROUND
) -> list[Batch]:
    """Sent batches with recipients awaiting a final status whose next poll is due: never
    polled and sent at least ``schedule.first`` ago, or polled and due again."""
    due = or_(
        and_(Batch.poll_attempts == 0, Batch.finished_at <= now - schedule.first),
        and_(Batch.poll_attempts > 0, Batch.next_poll_at <= now),
    )
    return list(
        session.scalars(
            select(Batch)
            .where(
                Batch.state == BatchState.SENT,
                Batch.message_id.is_not(None),
                due,
                exists().where(*_awaiting(Batch.id)),
            )
            .order_by(func.coalesce(Batch.next_poll_at, Batch.finished_at), Batch.id)
            .limit(limit)
        )
    )


def poll_delivery_reports(
    session: Session,
    client,
    *,
    schedule: PollSchedule | None = None,
    guard: FailureGuard | None = None,
    now: datetime | None = None,
) -> PollRound:
    """Poll every batch that is due (see `due_batches`) and record what the gateway says."""
    schedule = schedule or PollSchedule()
    now = now or utcnow()
    done = PollRound()
    for batch in due_batches(session, schedule, now):
        claimed = _claim(session, batch, schedule, now)
        if claimed is None:
            continue  # another worker polls it
        done.batches += 1
        done.ended += claimed.ended
        try:
            answer = client.status(int(claimed.message_id))
        except GatewayError as error:
            done.errors += 1
            log.warning(
                "campaign %s batch %s: polling message %s for delivery statuses failed (%s); %s",
                claimed.campaign_id,
                claimed.number,
                claimed.message_id,
                error,
                "no more polls: its validity period is over"
                if claimed.ended
                else f"asked again at {claimed.next_poll_at:%H:%M:%S} UTC",
            )
            continue
        done.recorded += record_polled_statuses(session, claimed, answer, guard=guard)
    for test in due_test_messages(session, schedule, now):
        if _all_final(test):  # its reports came another way (webhooks before a switch to poll)
            _stop_polling(session, test)
            continue
        if _claim_poll(session, CampaignTestSend, test, test.created_at, schedule, now) is False:
            continue
        done.test_messages += 1
        try:
            answer = client.status(int(test.message_id))
        except GatewayError as error:
            done.errors += 1
            log.warning("test message %s: polling for statuses failed (%s)", test.id, error)
            continue
        done.recorded += record_polled_test_statuses(session, test, answer)
    return done


def due_test_messages(
    session: Session, schedule: PollSchedule, now: datetime, limit: int = BATCHES_PER_ROUND
) -> list[CampaignTestSend]:
    """Test messages the gateway took whose next poll is due (as `due_batches`)."""
    due = or_(
        and_(
            CampaignTestSend.poll_attempts == 0,
            CampaignTestSend.created_at <= now - schedule.first,
            CampaignTestSend.created_at > now - schedule.validity - schedule.longest,
        ),
        and_(CampaignTestSend.poll_attempts > 0, CampaignTestSend.next_poll_at <= now),
    )
    return list(
        session.scalars(
            select(CampaignTestSend)
            .where(CampaignTestSend.message_id.is_not(None), due)
            .order_by(CampaignTestSend.id)
            .limit(limit)
        )
    )


def _all_final(test: CampaignTestSend) -> bool:
    deliveries = test.deliveries or {}
    return all(is_final((deliveries.get(n) or {}).get("status") or "") for n in test.numbers)


def _stop_polling(session: Session, test: CampaignTestSend) -> None:
    """No more polls for it: counted as polled, with no next poll (see `due_test_messages`)."""
    test.poll_attempts = max(test.poll_attempts, 1)
    test.next_poll_at = None
    session.commit()


def record_polled_test_statuses(session: Session, test: CampaignTestSend, answer: dict) -> int:
    """Record a status answer's entries for a test message's numbers, as delivery reports
    (the webhook's path, so the same ordering rule holds); returns how many changed one."""
    deliveries = test.deliveries or {}
    held = {}
    for number in test.numbers:
        entry = deliveries.get(number) or {}
        held[number] = (entry.get("status"), entry.get("time"))
    recorded = sum(
        record_delivery_report(session, _as_report(test.message_id, entry))
        for entry in _new_statuses(answer.get("recipients"), held)
    )
    if _all_final(test):
        _stop_polling(session, test)  # nothing left to ask about
    return recorded


@dataclass(frozen=True)
class _Claimed:
    batch_id: int
    campaign_id: int
    number: int
    message_id: str
    next_poll_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.next_poll_at is None


def _claim(session: Session, batch: Batch, schedule: PollSchedule, now: datetime):
    """Count the poll and set the next one before asking; None when another worker claimed it
    first."""
    next_poll_at = _claim_poll(session, Batch, batch, batch.finished_at, schedule, now)
    if next_poll_at is False:
        return None
    return _Claimed(batch.id, batch.campaign_id, batch.number, batch.message_id, next_poll_at)


def _claim_poll(session: Session, model, row, sent_at: datetime, schedule, now):
    """Compare-and-set on the attempts read, committed: the next poll's time (None: this is the
    last look), or False when another worker claimed this poll first."""
    attempts = row.poll_attempts + 1
    next_poll_at = schedule.next_poll(sent_at, attempts, now)
    changed = session.execute(
        update(model)
        .where(model.id == row.id, model.poll_attempts == row.poll_attempts)
        .values(poll_attempts=attempts, next_poll_at=next_poll_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return next_poll_at if changed == 1 else False


def record_polled_statuses(
    session: Session, batch, answer: dict, *, guard: FailureGuard | None = None
) -> int:
    """Record the statuses of a ``GET /rest/mtsms/<id>`` answer for the batch's recipients
    still awaiting a final one, as delivery reports; returns how many changed a recipient.

    A status the recipient already holds, with the same time, is not recorded again (each
    poll would otherwise add it to the history once more).
    """
    held = {
        msisdn: (status, at.timestamp() if at is not None else None)
        for msisdn, status, at in session.execute(
            select(
                CampaignRecipient.msisdn,
                CampaignRecipient.delivery_status,
                CampaignRecipient.delivery_updated_at,
            ).where(*_awaiting(batch.batch_id))
        )
    }
    recipients = answer.get("recipients")
    if not isinstance(recipients, list):
        log.warning(
            "campaign %s batch %s: the gateway's status answer lists no recipients",
            batch.campaign_id,
            batch.number,
        )
        return 0
    userref = batch_userref(batch.campaign_id, batch.number)
    reports = [
        _as_report(batch.message_id, entry, userref=userref)
        for entry in _new_statuses(recipients, held)
    ]
    # One transaction for the answer. An UnknownReport (e.g. a recipient who opted out
    # since: no longer ours to track) is that report's result alone.
    return sum(result is True for result in record_delivery_reports(session, reports, guard=guard))


def _new_statuses(entries, held: dict[str, tuple[str | None, float | None]]):
    """The status answer's entries for the numbers in ``held`` ({msisdn: (status, its report
    time in epoch seconds)}) that say something new: a known status, other than the one held
    with the same time (each poll would otherwise add it to the history once more)."""
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        msisdn = str(entry.get("msisdn", ""))
        status = str(entry.get("dsnstatus") or "").upper()
        if msisdn not in held or status not in DELIVERY_STATUSES:
            continue
        held_status, held_at = held[msisdn]
        time = entry.get("dsntime")
        same_time = time is None or (held_at is not None and int(held_at) == int(time))
        if held_status == status and same_time:
            continue
        yield entry


def _as_report(message_id: str, entry: dict, **extra) -> dict:
    """A status answer's recipient entry as the delivery report a webhook would have posted."""
    return {
        "id": int(message_id),
        "msisdn": str(entry.get("msisdn", "")),
        "time": entry.get("dsntime"),
        "status": str(entry.get("dsnstatus") or "").upper(),
        "error": entry.get("dsnerror"),
        "code": entry.get("dsnerrorcode"),
        **extra,
    }
