"""Planner statistics for SQLite, which has none until asked: without them it may scan a
100,000-row table where an index would find one row. PostgreSQL's autovacuum keeps its own.

`refresh_statistics` runs after bulk changes (an import finished, a campaign frozen); the
engine also runs ``PRAGMA optimize`` as SQLite recommends, when a connection closes.
``SQLITE_ANALYSIS_LIMIT`` bounds the rows ANALYZE reads per index, so this stays cheap.
"""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


def refresh_statistics(session: Session) -> None:
    """Bring SQLite's statistics up to date after a bulk change, and commit; elsewhere nothing.

    The first time (no statistics at all) every table is analysed; then ``PRAGMA optimize``
    analyses only the tables that changed enough since.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    analysed = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).scalar()
    connection.exec_driver_sql("ANALYZE" if not analysed else "PRAGMA optimize")
    session.commit()


def tune_statistics(engine: Engine, analysis_limit: int) -> None:
    """Each SQLite connection bounds ANALYZE's work, and runs PRAGMA optimize before closing."""

    @event.listens_for(engine, "connect")
    def on_connect(connection, _record):
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA analysis_limit={int(analysis_limit)}")
        cursor.close()

    @event.listens_for(engine, "close")
    def on_close(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA optimize")
        cursor.close()
