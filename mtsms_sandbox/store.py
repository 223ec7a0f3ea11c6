"""What the sandbox gateway received and "delivered", kept in one SQLite file.

It survives a restart of the app, so the dashboard's inbox (what each phone would have got) and
the tests' exactly-once checks read the same truth. One connection behind a lock: writes are
short transactions (a 10,000-recipient message is one executemany), so a lock costs nothing
and keeps the store safe for the sandbox's request threads and its delivery thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from webapp.gateway.pricing import RecipientPrice
from webapp.gateway.reports import FINAL_DELIVERY_STATUSES

SCHEDULED = "SCHEDULED"
ENROUTE = "ENROUTE"
DELETED = "DELETED"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    message TEXT NOT NULL,
    sender TEXT,
    label TEXT,
    encoding TEXT,
    tags TEXT,
    sendtime INTEGER,
    callback_url TEXT,
    userref TEXT,
    options TEXT NOT NULL,
    recipient_count INTEGER NOT NULL,
    total_cost TEXT NOT NULL,
    currency TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (
    message_id INTEGER NOT NULL REFERENCES messages (id),
    msisdn TEXT NOT NULL,
    text TEXT NOT NULL,
    country TEXT NOT NULL,
    parts INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    code TEXT,
    status_time REAL NOT NULL,
    sent_at REAL,
    PRIMARY KEY (message_id, msisdn)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_by_msisdn ON recipients (msisdn, sent_at);
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    spent TEXT NOT NULL
);
INSERT OR IGNORE INTO account (id, spent) VALUES (1, '0');
"""

_FINALS_JSON = json.dumps(sorted(FINAL_DELIVERY_STATUSES))

# What a phone has received: sent (not scheduled), not deleted, optionally matching a search.
# The queries are spelled out whole (no string building): every value is a bound parameter.
_INBOX_OF_NUMBER = """
SELECT r.msisdn, r.message_id, r.text, r.status, r.country, r.parts, r.sent_at, m.sender, m.label
FROM recipients r JOIN messages m ON m.id = r.message_id
WHERE r.msisdn = :msisdn AND r.sent_at IS NOT NULL AND r.status != :deleted
  AND (:pattern IS NULL OR r.text LIKE :pattern ESCAPE '\\' OR r.msisdn LIKE :pattern ESCAPE '\\')
ORDER BY r.sent_at DESC, r.message_id DESC
LIMIT :limit
"""
# SQLite gives the bare columns of the row holding MAX(sent_at) in each group: its latest SMS.
_INBOX_LATEST_PER_NUMBER = """
SELECT r.msisdn, r.message_id, r.text, r.status, r.country, r.parts, r.sent_at, m.sender, m.label,
       latest.message_count
FROM (
    SELECT r.msisdn, r.message_id, MAX(r.sent_at) AS sent_at, COUNT(*) AS message_count
    FROM recipients r
    WHERE r.sent_at IS NOT NULL AND r.status != :deleted
      AND (:pattern IS NULL OR r.text LIKE :pattern ESCAPE '\\'
           OR r.msisdn LIKE :pattern ESCAPE '\\')
    GROUP BY r.msisdn
    ORDER BY sent_at DESC, r.message_id DESC
    LIMIT :limit
) AS latest
JOIN recipients r ON r.message_id = latest.message_id AND r.msisdn = latest.msisdn
JOIN messages m ON m.id = r.message_id
ORDER BY r.sent_at DESC, r.message_id DESC
"""
_COUNT_RECEIVED = """
SELECT COUNT(*) FROM recipients r JOIN messages m ON m.id = r.message_id
WHERE (:label IS NULL OR m.label = :label) AND (:msisdn IS NULL OR r.msisdn = :msisdn)
"""
_RECEIVED_FOR = """
SELECT r.message_id, r.msisdn, r.text, r.country, r.parts, r.status, r.error, r.code, r.sent_at,
       m.sender, m.label, m.userref, m.received_at
FROM recipients r JOIN messages m ON m.id = r.message_id
WHERE (:label IS NULL OR m.label = :label) AND (:msisdn IS NULL OR r.msisdn = :msisdn)
ORDER BY r.message_id, r.msisdn
"""


def _filter_params(label: str | None, msisdn: str | int | None) -> dict[str, Any]:
    return {"label": label, "msisdn": None if msisdn is None else str(msisdn)}


FIRST_MESSAGE_ID = 1_000_001  # the contract's example id; ids grow from there


class CreditExhausted(Exception):
    """The account's remaining credit does not cover the messages; nothing was stored."""

    def __init__(self, needed: Decimal, remaining: Decimal) -> None:
        super().__init__(f"needed {needed}, remaining {remaining}")
        self.needed = needed
        self.remaining = remaining


@dataclass
class NewMessage:
    """One accepted SMS object, priced, ready to store."""

    message: str
    recipients: Sequence[RecipientPrice]
    total_cost: Decimal
    currency: str
    sender: str | None = None
    label: str | None = None
    encoding: str | None = None
    tags: list[str] | None = None
    sendtime: int | None = None
    callback_url: str | None = None
    userref: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusChange:
    """A recipient's new delivery status (never applied over a final one)."""

    msisdn: str
    status: str
    time: float
    error: str | None = None
    code: str | None = None


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


class SandboxStore:
    """The sandbox's SQLite file: messages, per-recipient texts and statuses, money spent."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------

    def add_messages(
        self, messages: Sequence[NewMessage], *, credit: Decimal, now: float | None = None
    ) -> list[int]:
        """Store `messages` atomically and charge them; return their ids, in order.

        Raises CreditExhausted (storing nothing) when `credit` minus what was already spent
        does not cover them all. A message with a future `sendtime` is SCHEDULED, the others
        are ENROUTE at once.
        """
        now = time.time() if now is None else now
        cost = sum((m.total_cost for m in messages), Decimal(0))
        with self._lock, self._transaction():
            spent = Decimal(self._db.execute("SELECT spent FROM account").fetchone()[0])
            if cost > credit - spent:
                raise CreditExhausted(cost, credit - spent)
            next_id = self._db.execute(
                "SELECT COALESCE(MAX(id) + 1, ?) FROM messages", (FIRST_MESSAGE_ID,)
            ).fetchone()[0]
            ids = []
            for message in messages:
                message_id = next_id
                next_id += 1
                ids.append(message_id)
                self._insert(message_id, message, now)
            self._db.execute("UPDATE account SET spent = ?", (str(spent + cost),))
        return ids

    def _insert(self, message_id: int, message: NewMessage, now: float) -> None:
        scheduled = message.sendtime is not None and message.sendtime > now
        status, sent_at = (SCHEDULED, None) if scheduled else (ENROUTE, now)
        self._db.execute(
            "INSERT INTO messages (id, received_at, message, sender, label, encoding, tags,"
            " sendtime, callback_url, userref, options, recipient_count, total_cost, currency)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                now,
                message.message,
                message.sender,
                message.label,
                message.encoding,
                json.dumps(message.tags) if message.tags else None,
                message.sendtime,
                message.callback_url,
                message.userref,
                json.dumps(message.options),
                len(message.recipients),
                str(message.total_cost),
                message.currency,
            ),
        )
        self._db.executemany(
            "INSERT INTO recipients (message_id, msisdn, text, country, parts, status,"
            " status_time, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (message_id, r.msisdn, r.text, r.country, r.parts, status, now, sent_at)
                for r in message.recipients
            ),
        )

    def mark_sent(self, message_id: int, now: float | None = None) -> int:
        """Move a scheduled message's recipients to ENROUTE (its sendtime is due)."""
        now = time.time() if now is None else now
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "UPDATE recipients SET status = ?, status_time = ?, sent_at = ?"
                " WHERE message_id = ? AND status = ?",
                (ENROUTE, now, now, message_id, SCHEDULED),
            )
        return cursor.rowcount

    def record_statuses(self, message_id: int, changes: Iterable[StatusChange]) -> None:
        """Apply status changes; a final status is never replaced (late reports are stale)."""
        with self._lock, self._transaction():
            self._db.executemany(
                "UPDATE recipients SET status = ?, error = ?, code = ?, status_time = ?"
                " WHERE message_id = ? AND msisdn = ?"
                " AND status NOT IN (SELECT value FROM json_each(?))",
                (
                    (c.status, c.error, c.code, c.time, message_id, c.msisdn, _FINALS_JSON)
                    for c in changes
                ),
            )

    def cancel(self, message_id: int, now: float | None = None) -> bool:
        """Delete a still-scheduled message and refund it; False when it is not scheduled."""
        now = time.time() if now is None else now
        with self._lock, self._transaction():
            row = self._db.execute(
                "SELECT m.total_cost, COUNT(r.msisdn) AS waiting FROM messages m"
                " JOIN recipients r ON r.message_id = m.id AND r.status = ?"
                " WHERE m.id = ? GROUP BY m.id",
                (SCHEDULED, message_id),
            ).fetchone()
            if row is None:
                return False
            self._db.execute(
                "UPDATE recipients SET status = ?, status_time = ? WHERE message_id = ?",
                (DELETED, now, message_id),
            )
            spent = Decimal(self._db.execute("SELECT spent FROM account").fetchone()[0])
            refund = Decimal(row["total_cost"])
            self._db.execute("UPDATE account SET spent = ?", (str(spent - refund),))
        return True

    # -- reading -------------------------------------------------------------------------

    def spent(self) -> Decimal:
        """What all stored messages cost together (refunds deducted)."""
        with self._lock:
            return Decimal(self._db.execute("SELECT spent FROM account").fetchone()[0])

    def message(self, message_id: int) -> dict[str, Any] | None:
        """One stored message with its recipients and their statuses, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return None
            recipients = self._db.execute(
                "SELECT * FROM recipients WHERE message_id = ? ORDER BY msisdn", (message_id,)
            ).fetchall()
        result = self._message_dict(row)
        result["recipients"] = [dict(r) for r in recipients]
        return result

    def pending(self) -> list[dict[str, Any]]:
        """Messages with a recipient not yet final (scheduled or en route): resumed on start."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM messages WHERE id IN (SELECT DISTINCT message_id FROM recipients"
                " WHERE status NOT IN (SELECT value FROM json_each(?))) ORDER BY id",
                (_FINALS_JSON,),
            ).fetchall()
        return [self._message_dict(row) for row in rows]

    def recipients_of(self, message_id: int, statuses: Iterable[str]) -> list[dict[str, Any]]:
        """The recipients of a message currently in one of `statuses`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT msisdn, country, status, sent_at FROM recipients"
                " WHERE message_id = ? AND status IN (SELECT value FROM json_each(?))",
                (message_id, json.dumps(list(statuses))),
            ).fetchall()
        return [dict(row) for row in rows]

    def inbox(
        self, limit: int = 50, msisdn: str | None = None, search: str | None = None
    ) -> list[dict[str, Any]]:
        """What the phones got, newest first: messages already sent (not scheduled or deleted).

        Without `msisdn`: one row per phone number, its latest message, with `message_count`.
        With `msisdn`: that number's messages. `search` matches the text or the number.
        Each row: msisdn, message_id, text, sender, label, status, country, parts, sent_at
        (aware UTC datetime).
        """
        limit = max(1, min(int(limit), 1000))
        pattern = None
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        params = {"msisdn": msisdn, "pattern": pattern, "limit": limit, "deleted": DELETED}
        with self._lock:
            rows = self._db.execute(
                _INBOX_OF_NUMBER if msisdn is not None else _INBOX_LATEST_PER_NUMBER, params
            ).fetchall()
        result = []
        for row in rows:
            item = dict(row)
            item["sent_at"] = _utc(item["sent_at"])
            result.append(item)
        return result

    def count_received(self, label: str | None = None, msisdn: str | None = None) -> int:
        """How many SMS (message x recipient) were accepted, optionally for a label or number."""
        with self._lock:
            return self._db.execute(_COUNT_RECEIVED, _filter_params(label, msisdn)).fetchone()[0]

    def received_for(
        self, label: str | None = None, msisdn: str | None = None
    ) -> list[dict[str, Any]]:
        """Every accepted SMS (message x recipient), oldest first, for a label or number."""
        with self._lock:
            rows = self._db.execute(_RECEIVED_FOR, _filter_params(label, msisdn)).fetchall()
        result = []
        for row in rows:
            item = dict(row)
            item["sent_at"] = _utc(item["sent_at"])
            item["received_at"] = _utc(item["received_at"])
            result.append(item)
        return result

    @staticmethod
    def _message_dict(row: sqlite3.Row) -> dict[str, Any]:
        item = dict(row)
        item["tags"] = json.loads(item["tags"]) if item["tags"] else None
        item["options"] = json.loads(item["options"])
        item["total_cost"] = Decimal(item["total_cost"])
        return item

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
