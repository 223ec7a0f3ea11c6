"""Bulk inserts, the fastest way each database offers, inside the session's transaction.

PostgreSQL with psycopg: COPY on the session's own connection. SQLite: the driver's executemany
with values prepared by the caller, skipping the per-row work of SQLAlchemy's types. Elsewhere:
SQLAlchemy's executemany. Values are plain tuples in ``columns`` order; a JSON column's value
is its JSON text already (``json_text``), which the generic path decodes again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from json.encoder import encode_basestring

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def json_text(value: object) -> str:
    """A value as compact JSON text, non-ASCII kept as it is, for a JSON column."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_object_text(value: Mapping[str, str]) -> str:
    """json_text of a mapping of strings to strings, the same text about four times as fast.

    json.dumps with options builds an encoder on every call; an import writes a row's fields
    a million times, so their JSON is put together from the C string encoder json.dumps uses.
    """
    pairs = [encode_basestring(key) + ":" + encode_basestring(text) for key, text in value.items()]
    return "{" + ",".join(pairs) + "}"


class BulkWriter:
    def __init__(self, session: Session) -> None:
        self.session = session
        dialect = session.get_bind().dialect
        if (dialect.name, dialect.driver) == ("postgresql", "psycopg"):
            self.method = "copy"
        elif dialect.name == "sqlite":
            self.method = "executemany"
        else:
            self.method = "insert"

    def write(
        self,
        table: Table,
        columns: Sequence[str],
        values: list[tuple],
        *,
        json_columns: Collection[str] = (),
    ) -> None:
        if not values:
            return
        if self.method == "copy":
            self._copy(table, columns, values)
        elif self.method == "executemany":
            self._executemany(table, columns, values)
        else:
            rows = [dict(zip(columns, row, strict=True)) for row in values]
            for row in rows:
                for name in json_columns:
                    row[name] = json.loads(row[name])
            self.session.execute(insert(table), rows)

    def _copy(self, table: Table, columns: Sequence[str], values: list[tuple]) -> None:
        connection = self.session.connection().connection.driver_connection
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)

    def _executemany(self, table: Table, columns: Sequence[str], values: list[tuple]) -> None:
        names, placeholders = ", ".join(columns), ", ".join("?" for _ in columns)
        # Table and column names are the model's, never user input; the values are bound.
        statement = f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})"  # noqa: S608
        self.session.connection().exec_driver_sql(statement, values)
