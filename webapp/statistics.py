"""Planner statistics after bulk changes. SQLite has none until asked: without them it may
scan a 100,000-row table where an index would find one row. PostgreSQL's autovacuum analyses
a table some time after it changed; until then a list just imported looks empty to the planner,
which then passes over the search indexes.

`refresh_statistics` runs after bulk changes (an import finished, a campaign frozen); on SQLite
the engine also runs ``PRAGMA optimize`` as SQLite recommends, when a connection closes.
``SQLITE_ANALYSIS_LIMIT`` bounds the rows SQLite's ANALYZE reads per index, so this stays cheap;
PostgreSQL's ANALYZE reads a fixed sample.
"""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def refresh_statistics(session: Session) -> None:
    """Bring the planner's statistics up to date after a bulk change, and commit.

    PostgreSQL analyses the database (a sample per table: the recipients' estimates alone are
    not enough, a page of a list also joins its imports and the opt-outs). SQLite analyses
    every table the first time (no statistics at all), then ``PRAGMA optimize`` analyses only
    the tables that changed enough since.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return
    session.commit()  # the caller's work is done; statistics are only an optimisation
    try:
        if dialect == "postgresql":
            session.connection().exec_driver_sql("ANALYZE")
        else:
            connection = session.connection()
            analysed = connection.execute(
                text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
            ).scalar()
            connection.exec_driver_sql("ANALYZE" if not analysed else "PRAGMA optimize")
        session.commit()
    except OperationalError as error:  # another writer holds the database: next time, then
        session.rollback()
        log.info("planner statistics not refreshed now: %s", error.orig)


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
        try:
            cursor.execute("PRAGMA optimize")
        except sqlite3.OperationalError:  # another writer holds the database: a later close
            pass
        finally:
            cursor.close()
