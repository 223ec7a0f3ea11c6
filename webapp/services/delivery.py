"""Delivery reports from the gateway: verified, matched to a campaign's recipient, recorded.

Reports repeat, arrive out of order and in parallel. The rule "a final status is never replaced
by a transient one; between finals the later report time wins" is the WHERE clause of the one
UPDATE that records a report, so it holds in the database whatever runs at the same moment.
Each report also lands in the recipient's history, and the campaign's counts per outcome move
in the same transaction as the recipient, so they never disagree with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from webapp.gateway.errors import InvalidDeliveryReport
from webapp.gateway.reports import DELIVERY_STATUSES, is_final, verify_delivery_report
from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignEvent,
    CampaignStatus,
    CampaignTestSend,
    DeliveryCount,
    DeliveryOutcome,
    UTCDateTime,
    utcnow,
)
from webapp.services import audit

COUNT_SHARDS = 16  # rows per campaign and outcome in delivery_counts (see DeliveryCount)
MAX_RACES = 8  # a recipient whose outcome changes under us this often in a row is very busy
_USERREF = re.compile(r"campaign-(\d+)-batch-(\d+)")


class UnknownReport(ValueError):
    """The report names a message or recipient this dashboard did not send."""


def verify_report(
    body: dict, signature: str | None, secret: str | None, *, allow_unsigned: bool = False
) -> dict:
    """The report's fields, once its signature is checked. Without a webhook secret a report
    cannot be checked: it is refused unless unsigned reports are explicitly allowed."""
    if secret:
        return verify_delivery_report(body, signature, secret)
    if allow_unsigned:
        return body
    raise InvalidDeliveryReport(
        "Unsigned delivery reports are refused: set WEBHOOK_SECRET to the gateway's webhook "
        "secret (or ALLOW_UNSIGNED_REPORTS=true to accept reports anyone could forge)."
    )


@dataclass(frozen=True)
class _Match:
    recipient_id: int
    campaign_id: int
    outcome: DeliveryOutcome | None
    can_pause: bool  # the campaign's status; a done one is no longer checked by the guard


@dataclass(frozen=True)
class FailureGuard:
    """A sending campaign pauses itself once ``percent`` of its reported recipients failed,
    counted from ``after_reports`` final reports on (``percent`` 0: never)."""

    percent: int = 20
    after_reports: int = 500


def record_delivery_report(
    session: Session, report: dict, *, guard: FailureGuard | None = None
) -> bool:
    """Store a report on its recipient and in its history; False when it changed nothing
    (repeated, older than what is stored, or transient after a final one). With a ``guard``,
    a failure that takes the campaign's failed share past it pauses the campaign."""
    status = str(report.get("status", "")).upper()
    if status not in DELIVERY_STATUSES:
        raise UnknownReport(f"Unknown delivery status {status!r}.")
    message_id = str(report.get("id", ""))
    msisdn = str(report.get("msisdn", ""))
    connection = session.connection()
    try:
        match = _find_recipient(connection, message_id, msisdn, report)
    except UnknownReport:
        return _record_test_report(session, message_id, msisdn, status, report)
    if report.get("time") is None and _received_before(connection, match.recipient_id, status):
        return False  # without a time, the same status again can only be a replay
    at = _report_time(report)
    outcome = DeliveryOutcome.of(status)
    values = {
        "id": match.recipient_id,
        "status": status,
        "outcome": outcome.value,
        "error": str(report["error"])[:200] if report.get("error") else None,
        "code": str(report["code"])[:16] if report.get("code") else None,
        "at": at,
        "message_id": message_id,
        "received_at": utcnow(),
    }
    previous = match.outcome
    for _ in range(MAX_RACES):
        if _apply(connection, match, previous, outcome, values):
            session.commit()
            if outcome.is_failure and guard is not None and guard.percent and match.can_pause:
                _pause_if_failing(session, match.campaign_id, guard)
            return True
        # Lost a race, or the rule said no: the outcome stored now tells which.
        stored = connection.execute(_OUTCOME_OF, {"id": match.recipient_id}).scalar()
        now_stored = DeliveryOutcome(stored) if stored else None
        if now_stored == previous:
            break  # nothing moved under us: the stored report wins
        previous = now_stored
    connection.execute(_INSERT_HISTORY, {**values, "applied": False})
    session.commit()
    return False


def _apply(
    connection,
    match: _Match,
    previous: DeliveryOutcome | None,
    outcome: DeliveryOutcome,
    values: dict,
) -> bool:
    """Record the report (``values``) on its recipient if the ordering rule lets it and the
    recipient's outcome is still ``previous``, with the counts it moves and its line in the
    history; False, and nothing written, if not. PostgreSQL does it in one statement
    (_ALL_IN_ONE)."""
    still = _STILL_NOTHING if previous is None else _STILL_OUTCOME
    if connection.dialect.name == "postgresql":
        moves = _count_moves(match, previous, outcome)
        statement = _ALL_IN_ONE[outcome.is_final][still]
        return (
            connection.execute(statement, {**values, **moves, "previous": _value(previous)}).first()
            is not None
        )
    statement = (_RECORD_FINAL if outcome.is_final else _RECORD_TRANSIENT)[still]
    if not connection.execute(statement, {**values, "previous": _value(previous)}).rowcount:
        return False
    _move_count(connection, match, previous, outcome)
    connection.execute(_INSERT_HISTORY, {**values, "applied": True})
    return True


def _value(outcome: DeliveryOutcome | None) -> str | None:
    return outcome.value if outcome is not None else None


def _pause_if_failing(session: Session, campaign_id: int, guard: FailureGuard) -> None:
    finals = delivery_counts(session, [campaign_id])[campaign_id]
    reported = sum(finals.values())
    failed = sum(finals.get(outcome, 0) for outcome in DeliveryOutcome.failures())
    if reported < guard.after_reports or 100 * failed <= guard.percent * reported:
        return
    reason = (
        f"Paused by itself: {failed:,} of {reported:,} reported recipients "
        f"({100 * failed / reported:.1f} %) were not delivered, more than {guard.percent} %. "
        "Check the list and the message before resuming."
    )
    pausable = CampaignStatus.where(lambda status: status.can_pause)
    paused = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(pausable))
        .values(status=CampaignStatus.PAUSED, pause_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if paused:  # one report wins the pause, and records it once
        session.add(CampaignEvent(campaign_id=campaign_id, action="paused", detail=reason))
        campaign = session.get(Campaign, campaign_id)
        audit.record(session, "campaign_paused", user=None, obj=campaign, detail=reason)
    session.commit()


# The hot path's statements, built once (a webhook takes a thousand reports a second).
_STILL_NOTHING, _STILL_OUTCOME = "nothing", "outcome"
_SET = (
    "UPDATE campaign_recipients SET delivery_status = :status, delivery_outcome = :outcome, "
    "delivery_error = :error, delivery_code = :code, delivery_updated_at = :at WHERE id = :id "
)
# Each UPDATE first checks the recipient's outcome is still the one the counts will be moved
# from, then the contract's ordering rule: a final report beats no report, any transient one
# and an earlier final; a transient one beats no report and an earlier transient, never a final.
_FINAL_WINS = (
    " AND (delivery_outcome IS NULL OR delivery_outcome = 'awaiting' OR delivery_updated_at < :at)"
)
_TRANSIENT_WINS = (
    " AND (delivery_outcome IS NULL"
    " OR (delivery_outcome = 'awaiting' AND delivery_updated_at < :at))"
)
_AT = bindparam("at", type_=UTCDateTime())
_RECORD_FINAL = {
    _STILL_NOTHING: text(_SET + "AND delivery_outcome IS NULL" + _FINAL_WINS).bindparams(_AT),
    _STILL_OUTCOME: text(_SET + "AND delivery_outcome = :previous" + _FINAL_WINS).bindparams(_AT),
}
_RECORD_TRANSIENT = {
    _STILL_NOTHING: text(_SET + "AND delivery_outcome IS NULL" + _TRANSIENT_WINS).bindparams(_AT),
    _STILL_OUTCOME: text(_SET + "AND delivery_outcome = :previous" + _TRANSIENT_WINS).bindparams(
        _AT
    ),
}
_OUTCOME_OF = text("SELECT delivery_outcome FROM campaign_recipients WHERE id = :id")


def _all_in_one(update: str):
    """PostgreSQL: ``update`` (one of the statements above), the counts it moves and its line
    in the history as one statement, whose data-modifying parts all run to completion: a
    report that applies is one round trip instead of three or four. A row comes back only if
    the update applied; if not, nothing was written and the caller goes on as on SQLite."""
    return text(
        f"WITH updated AS ({update} RETURNING id), "  # noqa: S608 - this module's own SQL
        "counted AS ("
        " INSERT INTO delivery_counts (campaign_id, outcome, shard, count)"
        " SELECT :campaign_id, moves.outcome, :shard, moves.delta FROM (VALUES"
        "  (1, CAST(:outcome_1 AS VARCHAR), CAST(:delta_1 AS INTEGER)),"
        "  (2, CAST(:outcome_2 AS VARCHAR), CAST(:delta_2 AS INTEGER))"
        " ) AS moves (place, outcome, delta)"
        " WHERE moves.delta <> 0 AND EXISTS (SELECT 1 FROM updated)"
        " ORDER BY moves.place"  # the fixed order of _changes: no deadlock between two reports
        " ON CONFLICT (campaign_id, outcome, shard)"
        " DO UPDATE SET count = delivery_counts.count + excluded.count) "
        "INSERT INTO delivery_reports (recipient_id, message_id, status, error, code, "
        "reported_at, received_at, applied) "
        "SELECT :id, :message_id, :status, :error, :code, :at, :received_at, true FROM updated "
        "RETURNING id"
    ).bindparams(
        bindparam("at", type_=UTCDateTime()), bindparam("received_at", type_=UTCDateTime())
    )


_ALL_IN_ONE = {
    final: {still: _all_in_one(statement[still].text) for still in statement}
    for final, statement in ((True, _RECORD_FINAL), (False, _RECORD_TRANSIENT))
}
_INSERT_HISTORY = text(
    "INSERT INTO delivery_reports (recipient_id, message_id, status, error, code, reported_at, "
    "received_at, applied) VALUES (:id, :message_id, :status, :error, :code, :at, "
    ":received_at, :applied)"
).bindparams(
    bindparam("at", type_=UTCDateTime()),
    bindparam("received_at", type_=UTCDateTime()),
    bindparam("applied", type_=Boolean()),
)
# INSERT ... ON CONFLICT DO UPDATE: the same words on SQLite (3.24+) and PostgreSQL.
_ADD_COUNT = text(
    "INSERT INTO delivery_counts (campaign_id, outcome, shard, count) "
    "VALUES (:campaign_id, :outcome, :shard, :delta) "
    "ON CONFLICT (campaign_id, outcome, shard) "
    "DO UPDATE SET count = delivery_counts.count + excluded.count"
)
_MATCH_BY_USERREF = text(
    "SELECT r.id, r.campaign_id, r.delivery_outcome, b.message_id, c.status "
    "FROM campaign_recipients r "
    "JOIN batches b ON b.id = r.batch_id AND b.campaign_id = r.campaign_id "
    "JOIN campaigns c ON c.id = r.campaign_id "
    "WHERE r.campaign_id = :campaign_id AND r.msisdn = :msisdn AND b.number = :number"
)
_MATCH_BY_MESSAGE_ID = text(
    "SELECT r.id, r.campaign_id, r.delivery_outcome, b.message_id, c.status FROM batches b "
    "JOIN campaign_recipients r ON r.batch_id = b.id AND r.campaign_id = b.campaign_id "
    "JOIN campaigns c ON c.id = b.campaign_id "
    "WHERE b.message_id = :message_id AND r.msisdn = :msisdn"
)


def _changes(old: DeliveryOutcome | None, new: DeliveryOutcome) -> list[tuple[str, int]]:
    """How a recipient's move from ``old`` to ``new`` changes its campaign's counts (finals
    only): (outcome, +1 or -1) pairs, in a fixed order, so two reports moving counts in opposite
    directions cannot deadlock on PostgreSQL."""
    changes: dict[DeliveryOutcome, int] = {}
    if old is not None and old.is_final:
        changes[old] = -1
    if new.is_final:
        changes[new] = changes.get(new, 0) + 1
    return [(outcome.value, changes[outcome]) for outcome in sorted(changes) if changes[outcome]]


def _count_moves(match: _Match, old: DeliveryOutcome | None, new: DeliveryOutcome) -> dict:
    """`_changes` as the parameters of _ALL_IN_ONE: two (outcome, delta) slots, 0 if unused."""
    moves = _changes(old, new) + [("", 0), ("", 0)]
    return {
        "campaign_id": match.campaign_id,
        "shard": match.recipient_id % COUNT_SHARDS,
        "outcome_1": moves[0][0],
        "delta_1": moves[0][1],
        "outcome_2": moves[1][0],
        "delta_2": moves[1][1],
    }


def _move_count(connection, match: _Match, old: DeliveryOutcome | None, new: DeliveryOutcome):
    """One recipient moves from ``old`` to ``new`` in its campaign's counts (finals only).

    Rows are touched in a fixed order, so two reports moving counts in opposite directions
    cannot deadlock on PostgreSQL.
    """
    shard = match.recipient_id % COUNT_SHARDS
    for outcome, delta in _changes(old, new):
        connection.execute(
            _ADD_COUNT,
            {"campaign_id": match.campaign_id, "outcome": outcome, "shard": shard, "delta": delta},
        )


def _find_recipient(connection, message_id: str, msisdn: str, report: dict) -> _Match:
    """The recipient a report is about: by the batch its ``userref`` names (campaign and batch
    number), the number and the message id; a report without a userref by message id alone."""
    named = _USERREF.fullmatch(str(report.get("userref") or ""))
    if named:
        row = connection.execute(
            _MATCH_BY_USERREF,
            {"campaign_id": int(named[1]), "number": int(named[2]), "msisdn": msisdn},
        ).first()
        # An unconfirmed batch has no message id yet: the report is how we learn it.
        if row is not None and row.message_id not in (None, message_id):
            row = None
    else:
        row = connection.execute(
            _MATCH_BY_MESSAGE_ID, {"message_id": message_id, "msisdn": msisdn}
        ).first()
    if row is None:
        raise UnknownReport(f"No recipient {msisdn} in message {message_id}.")
    outcome = DeliveryOutcome(row.delivery_outcome) if row.delivery_outcome else None
    return _Match(row.id, row.campaign_id, outcome, CampaignStatus(row.status).can_pause)


def _report_time(report: dict) -> datetime:
    try:
        return datetime.fromtimestamp(int(report.get("time")), UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


# --- Reading the results -------------------------------------------------------------------


@dataclass(frozen=True)
class DeliverySummary:
    """A campaign's recipients by outcome, out of those sent (``base``)."""

    base: int
    counts: dict[DeliveryOutcome, int]

    @property
    def reported(self) -> int:
        return sum(count for outcome, count in self.counts.items() if outcome.is_final)

    @property
    def awaiting(self) -> int:
        return self.counts[DeliveryOutcome.AWAITING]

    @property
    def delivered(self) -> int:
        return self.counts[DeliveryOutcome.DELIVERED]

    @property
    def failed(self) -> int:
        return sum(self.counts[outcome] for outcome in DeliveryOutcome.failures())

    @property
    def failures(self) -> list[tuple[DeliveryOutcome, int]]:
        """Failed recipients by reason, largest first; reasons with none left out."""
        rows = [(o, self.counts[o]) for o in DeliveryOutcome.failures() if self.counts[o]]
        return sorted(rows, key=lambda row: -row[1])

    @property
    def all_final(self) -> bool:
        return self.base > 0 and self.awaiting == 0

    def share(self, count: int) -> str:
        """``count`` as a percentage of the recipients sent, e.g. "93.4 %"."""
        return f"{100 * count / self.base:.1f} %" if self.base else "–"

    @property
    def delivery_rate(self) -> str:
        return self.share(self.delivered)


def delivery_counts(session: Session, campaign_ids: Iterable[int]) -> dict[int, dict]:
    """{campaign id: {final outcome: recipients}} from the kept counts (no recipient scan)."""
    ids = list(campaign_ids)
    result: dict[int, dict] = {campaign_id: {} for campaign_id in ids}
    if not ids:
        return result
    rows = session.execute(
        select(DeliveryCount.campaign_id, DeliveryCount.outcome, func.sum(DeliveryCount.count))
        .where(DeliveryCount.campaign_id.in_(ids))
        .group_by(DeliveryCount.campaign_id, DeliveryCount.outcome)
    )
    for campaign_id, outcome, count in rows:
        if count:
            result[campaign_id][outcome] = int(count)
    return result


def delivery_summary(session: Session, campaign: Campaign) -> DeliverySummary:
    """Delivered, failed by reason and awaiting, out of the recipients the gateway accepted
    (a reported recipient of an unconfirmed batch counts as accepted: the report proves it)."""
    finals = delivery_counts(session, [campaign.id])[campaign.id]
    sent = session.scalar(
        select(func.coalesce(func.sum(Batch.size), 0)).where(
            Batch.campaign_id == campaign.id, Batch.state == BatchState.SENT
        )
    )
    reported = sum(finals.values())
    base = max(int(sent or 0), reported)
    counts = {outcome: finals.get(outcome, 0) for outcome in DeliveryOutcome}
    counts[DeliveryOutcome.AWAITING] = base - reported
    return DeliverySummary(base, counts)


def _record_test_report(
    session: Session, message_id: str, msisdn: str, status: str, report: dict
) -> bool:
    test = session.scalar(select(CampaignTestSend).where(CampaignTestSend.message_id == message_id))
    if test is None or msisdn not in test.numbers:
        raise UnknownReport(f"No recipient {msisdn} in message {message_id}.")
    at = _report_time(report)
    current = (test.deliveries or {}).get(msisdn)
    if current and _is_stale(
        current["status"], datetime.fromtimestamp(current["time"], UTC), status, at
    ):
        return False
    entry = {"status": status, "error": _error_text(report), "time": at.timestamp()}
    test.deliveries = {**(test.deliveries or {}), msisdn: entry}  # a new dict: JSON is not tracked
    session.commit()
    return True


def _is_stale(current: str | None, current_at: datetime | None, status: str, at: datetime) -> bool:
    if current is None:
        return False
    older = current_at is not None and at < current_at
    transient_after_final = is_final(current) and not is_final(status)
    final_after_transient = is_final(status) and not is_final(current)
    return transient_after_final or (older and not final_after_transient)


def _error_text(report: dict) -> str | None:
    error = report.get("error")
    code = report.get("code")
    return (f"{error} ({code})" if code else str(error))[:200] if error else None


def _received_before(connection, recipient_id: int, status: str) -> bool:
    return (
        connection.execute(
            text(
                "SELECT 1 FROM delivery_reports WHERE recipient_id = :id AND status = :status "
                "LIMIT 1"
            ),
            {"id": recipient_id, "status": status},
        ).first()
        is not None
    )
