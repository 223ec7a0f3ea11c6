"""The list search's index on SQLite: an FTS5 trigram table beside `recipients` (migration 0010).

Updates and deletes of recipients reach it through triggers. Inserts do not (migration 0023): a
trigger runs once per row, and fed row by row the table cost an import three times its other
writes (100,000 rows: 2.5 s against 0.5 s). The import adds each stored chunk to the index in one
statement instead (`index_new_recipients`), inside the chunk's own transaction, so a recipient is
never stored without being searchable. PostgreSQL's pg_trgm indexes need none of this.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from webapp.models import Recipient

_seen: set[str] = set()

_INDEX_NEW = text(
    "INSERT INTO recipient_search (rowid, msisdn, field_values) "
    "SELECT id, msisdn, (SELECT group_concat(value, char(10)) FROM json_each(recipients.fields)) "
    "FROM recipients WHERE import_id = :import_id AND id > :after_id"
)


def has_search_table(session: Session) -> bool:
    """Whether this database is SQLite with the FTS5 table; remembered once seen."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    url = str(bind.url)
    if url not in _seen:
        found = session.scalar(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recipient_search'")
        )
        if not found:
            return False
        _seen.add(url)
    return True


def last_recipient_id(session: Session) -> int:
    """The highest recipient id so far: rows stored after this call have higher ones."""
    return session.scalar(select(func.max(Recipient.id))) or 0


def index_new_recipients(session: Session, import_id: int, after_id: int = 0) -> None:
    """Add the import's recipients stored since `last_recipient_id` gave ``after_id`` (all of
    them by default) to the index, if this database has one."""
    if has_search_table(session):
        session.execute(_INDEX_NEW, {"import_id": import_id, "after_id": after_id})
