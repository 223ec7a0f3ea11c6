"""Delivery reports from the gateway: verified, matched to a campaign's recipient, recorded.

Reports repeat, arrive out of order and in parallel. The rule "a final status is never replaced
by a transient one; between finals the later report time wins" is the WHERE clause of the one
UPDATE that records a report, so it holds in the database whatever runs at the same moment.
Each report also lands in the recipient's history, and the campaign's counts per outcome move
in the same transaction as the recipient, so they never disagree with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, bindparam, func, select, text, update
from sqlalchemy.orm import Session, scoped_session

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
from webapp.services.group_commit import GroupCommit

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
    applied = _record_in_one_statement(session, report)
    if applied is not None:
        if applied.is_failure and guard is not None and guard.percent and applied.can_pause:
            _pause_if_failing(session, applied.campaign_id, guard)
        return True
    (result,) = record_delivery_reports(session, [report], guard=guard)
    if isinstance(result, UnknownReport):
        raise result
    return result


class ReportRecorder:
    """Records the reports that an app's request threads bring at the same moment, as the
    database does it best: on SQLite, where one writer at a time holds the database, together
    in one transaction (a group commit); on PostgreSQL, where a report locks only its own rows,
    each at once on its own. ``session`` is a scoped session: each thread's is its own."""

    def __init__(self, session: scoped_session, guard: Callable[[], FailureGuard]) -> None:
        self._session = session
        self._guard = guard
        self._together = GroupCommit(self._record_together, self._record_alone)

    def record(self, report: dict) -> bool | UnknownReport:
        """The report's result once it is committed: True, False, or why it is unknown."""
        if self._session.get_bind().dialect.name == "sqlite":
            return self._together.write(report)
        return self._record_alone(report)

    def _record_together(self, reports: Sequence[dict]) -> list[bool | UnknownReport]:
        return record_delivery_reports(self._session, reports, guard=self._guard())

    def _record_alone(self, report: dict) -> bool | UnknownReport:
        try:
            return record_delivery_report(self._session, report, guard=self._guard())
        except UnknownReport as error:
            return error


@dataclass(frozen=True)
class _Applied:
    campaign_id: int
    is_failure: bool
    can_pause: bool


def _record_in_one_statement(session: Session, report: dict) -> _Applied | None:
    """PostgreSQL, the common case: a timed report that applies is matched, recorded, counted
    and added to the history by one statement on its own (autocommit: two round trips with the
    pool's ping, instead of five). None when the statement wrote nothing (an unknown, stale or
    raced report, or not PostgreSQL): the general path then decides."""
    status = str(report.get("status", "")).upper()
    if (
        session.get_bind().dialect.name != "postgresql"
        or status not in DELIVERY_STATUSES
        or report.get("time") is None  # a replay is told by the history: the general path
        or _in_transaction(session)  # a caller's own transaction: not ours to end early
    ):
        return None
    named = _USERREF.fullmatch(str(report.get("userref") or ""))
    outcome = DeliveryOutcome.of(status)
    parameters = {
        **_report_values(report, status, outcome, recipient_id=None),
        "msisdn": str(report.get("msisdn", "")),
        "campaign_id": int(named[1]) if named else None,
        "number": int(named[2]) if named else None,
        "counted": outcome.value if outcome.is_final else None,
    }
    statement = _IN_ONE_STATEMENT[bool(named)][outcome.is_final]
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        row = connection.execute(statement, parameters).first()
    finally:
        session.commit()  # nothing to commit: ends the autocommit connection's use
    if row is None:
        return None
    return _Applied(row.campaign_id, outcome.is_failure, CampaignStatus(row.status).can_pause)


def record_delivery_reports(
    session: Session, reports: Sequence[dict], *, guard: FailureGuard | None = None
) -> list[bool | UnknownReport]:
    """`record_delivery_report` for several reports in one transaction (what a webhook's
    concurrent posts or a poll's answer bring at once): one commit instead of one each. Each
    result is True, False, or the UnknownReport that report alone raises.

    Recipients are updated in id order and the counts moved once per row, in key order, at the
    end, so two batches at once cannot deadlock on PostgreSQL. On a database error the whole
    batch is rolled back and the error raised.
    """
    results: list[bool | UnknownReport] = [False] * len(reports)
    try:
        connection = session.connection()
        matched, unmatched = [], []
        for place, report in enumerate(reports):
            status = str(report.get("status", "")).upper()
            if status not in DELIVERY_STATUSES:
                results[place] = UnknownReport(f"Unknown delivery status {status!r}.")
                continue
            try:
                match = _find_recipient(connection, report)
            except UnknownReport:
                unmatched.append(place)
                continue
            matched.append((match.recipient_id, place, status, match))
        matched.sort(key=lambda item: (item[0], item[1]))  # a recipient's reports keep order
        known: dict[int, DeliveryOutcome | None] = {}
        moves: dict[tuple[int, str, int], int] = {}
        failing: set[int] = set()
        for recipient_id, place, status, match in matched:
            previous = known.get(recipient_id, match.outcome)
            now = _record_one(connection, reports[place], status, match, previous)
            if now is None:
                continue
            results[place] = True
            known[recipient_id] = now
            for outcome, delta in _changes(previous, now):
                key = (match.campaign_id, outcome, recipient_id % COUNT_SHARDS)
                moves[key] = moves.get(key, 0) + delta
            if now.is_failure and match.can_pause:
                failing.add(match.campaign_id)
        _move_counts(connection, moves)
        session.commit()
    except Exception:
        session.rollback()
        raise
    for place in unmatched:
        report = reports[place]
        try:
            results[place] = _record_test_report(session, report)
        except UnknownReport as error:
            results[place] = error
    if guard is not None and guard.percent:
        for campaign_id in sorted(failing):
            _pause_if_failing(session, campaign_id, guard)
    return results


def _record_one(
    connection, report: dict, status: str, match: _Match, previous: DeliveryOutcome | None
) -> DeliveryOutcome | None:
    """Apply one report to its recipient, whose outcome is believed to be ``previous``, and
    add its line to the history: the outcome it gave the recipient, or None if the ordering
    rule (or a replay) said no. Counts are the caller's."""
    if report.get("time") is None and _received_before(connection, match.recipient_id, status):
        return None  # without a time, the same status again can only be a replay
    outcome = DeliveryOutcome.of(status)
    values = _report_values(report, status, outcome, recipient_id=match.recipient_id)
    for _ in range(MAX_RACES):
        if _apply(connection, previous, outcome, values):
            return outcome
        # Lost a race, or the rule said no: the outcome stored now tells which.
        stored = connection.execute(_OUTCOME_OF, {"id": match.recipient_id}).scalar()
        now_stored = DeliveryOutcome(stored) if stored else None
        if now_stored == previous:
            break  # nothing moved under us: the stored report wins
        previous = now_stored
    connection.execute(_INSERT_HISTORY, {**values, "applied": False})
    return None


def _in_transaction(session: Session | scoped_session) -> bool:
    real = session() if isinstance(session, scoped_session) else session
    return real.in_transaction()


def _report_values(
    report: dict, status: str, outcome: DeliveryOutcome, *, recipient_id: int | None
) -> dict:
    """A report's columns, as the statements below take them."""
    return {
        "id": recipient_id,
        "status": status,
        "outcome": outcome.value,
        "error": str(report["error"])[:200] if report.get("error") else None,
        "code": str(report["code"])[:16] if report.get("code") else None,
        "at": _report_time(report),
        "message_id": str(report.get("id", "")),
        "received_at": utcnow(),
    }


def _apply(
    connection, previous: DeliveryOutcome | None, outcome: DeliveryOutcome, values: dict
) -> bool:
    """Record the report (``values``) on its recipient if the ordering rule lets it and the
    recipient's outcome is still ``previous``, with its line in the history; False, and
    nothing written, if not. PostgreSQL does both in one statement (_UPDATE_AND_HISTORY)."""
    still = _STILL_NOTHING if previous is None else _STILL_OUTCOME
    parameters = {**values, "previous": _value(previous)}
    if connection.dialect.name == "postgresql":
        statement = _UPDATE_AND_HISTORY[outcome.is_final][still]
        return connection.execute(statement, parameters).first() is not None
    statement = (_RECORD_FINAL if outcome.is_final else _RECORD_TRANSIENT)[still]
    if not connection.execute(statement, parameters).rowcount:
        return False
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


# Unconfirmed batches have no message id yet: a report is how their message id is learnt.
_MATCH_BY_USERREF_SQL = (
    "SELECT r.id, r.campaign_id, r.delivery_outcome, c.status "
    "FROM campaign_recipients r "
    "JOIN batches b ON b.id = r.batch_id AND b.campaign_id = r.campaign_id "
    "JOIN campaigns c ON c.id = r.campaign_id "
    "WHERE r.campaign_id = :campaign_id AND r.msisdn = :msisdn AND b.number = :number "
    "AND (b.message_id IS NULL OR b.message_id = :message_id)"
)
_MATCH_BY_MESSAGE_ID_SQL = (
    "SELECT r.id, r.campaign_id, r.delivery_outcome, c.status FROM batches b "
    "JOIN campaign_recipients r ON r.batch_id = b.id AND r.campaign_id = b.campaign_id "
    "JOIN campaigns c ON c.id = b.campaign_id "
    "WHERE b.message_id = :message_id AND r.msisdn = :msisdn"
)
_MATCH_BY_USERREF = text(_MATCH_BY_USERREF_SQL)
_MATCH_BY_MESSAGE_ID = text(_MATCH_BY_MESSAGE_ID_SQL)

# PostgreSQL: the history line of the recipient a CTE named "updated" updated.
_HISTORY_OF_UPDATED = (
    "INSERT INTO delivery_reports (recipient_id, message_id, status, error, code, reported_at,"
    " received_at, applied) SELECT updated.id, :message_id, :status, :error, :code, :at,"
    " :received_at, true FROM updated"
)


def _update_and_history(update: str):
    """PostgreSQL: ``update`` (one of the statements above) and its line in the history as
    one statement, whose data-modifying parts both run to completion: a row comes back only if
    the update applied; if not, nothing was written and the caller goes on as on SQLite."""
    return text(
        f"WITH updated AS ({update} RETURNING id) {_HISTORY_OF_UPDATED} RETURNING id"  # noqa: S608
    ).bindparams(
        bindparam("at", type_=UTCDateTime()), bindparam("received_at", type_=UTCDateTime())
    )


_UPDATE_AND_HISTORY = {
    final: {still: _update_and_history(statement[still].text) for still in statement}
    for final, statement in ((True, _RECORD_FINAL), (False, _RECORD_TRANSIENT))
}


def _in_one_statement(by_userref: bool, final: bool):
    """PostgreSQL: the match (as _MATCH_BY_USERREF or _MATCH_BY_MESSAGE_ID), the update (as
    _RECORD_FINAL or _RECORD_TRANSIENT, from the outcome the match read), the counts it moves
    (rows in outcome order, as `_changes` orders them: no deadlock with another report) and
    its history line, as one statement. Under READ COMMITTED the update checks its condition
    again on a row another report changed meanwhile, so a race writes nothing and comes back
    as no row, as does an unknown, stale or repeated report."""
    match = _MATCH_BY_USERREF_SQL if by_userref else _MATCH_BY_MESSAGE_ID_SQL
    wins = (_FINAL_WINS if final else _TRANSIENT_WINS).replace("delivery_", "r.delivery_")
    return text(
        f"WITH found AS ({match} LIMIT 1), "  # noqa: S608 - this module's own SQL
        "updated AS ("
        " UPDATE campaign_recipients r SET delivery_status = :status,"
        " delivery_outcome = :outcome, delivery_error = :error, delivery_code = :code,"
        " delivery_updated_at = :at FROM found"
        " WHERE r.id = found.id"
        " AND r.delivery_outcome IS NOT DISTINCT FROM found.delivery_outcome"
        f" {wins} RETURNING r.id, found.campaign_id, found.delivery_outcome AS previous,"
        " found.status), "
        "counted AS ("
        " INSERT INTO delivery_counts (campaign_id, outcome, shard, count)"
        f" SELECT updated.campaign_id, moves.outcome, updated.id % {COUNT_SHARDS}, moves.delta"
        " FROM updated CROSS JOIN LATERAL (VALUES"
        "  (CASE WHEN updated.previous <> 'awaiting' THEN updated.previous END, -1),"
        "  (CAST(:counted AS VARCHAR), 1)"
        " ) AS moves (outcome, delta)"
        " WHERE moves.outcome IS NOT NULL"
        " AND updated.previous IS DISTINCT FROM CAST(:counted AS VARCHAR)"
        " ORDER BY moves.outcome"
        " ON CONFLICT (campaign_id, outcome, shard)"
        " DO UPDATE SET count = delivery_counts.count + excluded.count), "
        f"history AS ({_HISTORY_OF_UPDATED}) "
        "SELECT updated.campaign_id, updated.status FROM updated"
    ).bindparams(
        bindparam("at", type_=UTCDateTime()), bindparam("received_at", type_=UTCDateTime())
    )


_IN_ONE_STATEMENT = {
    by_userref: {final: _in_one_statement(by_userref, final) for final in (True, False)}
    for by_userref in (True, False)
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


def _move_counts(connection, moves: dict[tuple[int, str, int], int]) -> None:
    """Add a batch's moves ({(campaign id, outcome, shard): delta}) to the kept counts, rows
    in key order (no deadlock between two batches), those that net to nothing left alone."""
    rows = [
        {"campaign_id": campaign_id, "outcome": outcome, "shard": shard, "delta": delta}
        for (campaign_id, outcome, shard), delta in sorted(moves.items())
        if delta
    ]
    if rows:
        connection.execute(_ADD_COUNT, rows)


def _find_recipient(connection, report: dict) -> _Match:
    """The recipient a report is about: by the batch its ``userref`` names (campaign and batch
    number), the number and the message id; a report without a userref by message id alone."""
    message_id = str(report.get("id", ""))
    msisdn = str(report.get("msisdn", ""))
    named = _USERREF.fullmatch(str(report.get("userref") or ""))
    if named:
        row = connection.execute(
            _MATCH_BY_USERREF,
            {
                "campaign_id": int(named[1]),
                "number": int(named[2]),
                "msisdn": msisdn,
                "message_id": message_id,
            },
        ).first()
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


def _record_test_report(session: Session, report: dict) -> bool:
    """A report on a test message (not a campaign's recipient), kept on the test send."""
    message_id = str(report.get("id", ""))
    msisdn = str(report.get("msisdn", ""))
    status = str(report.get("status", "")).upper()
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
