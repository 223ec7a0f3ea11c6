"""search index over recipients; indexes for a list's recipients and campaigns in order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:35:00

A list's page of recipients, and a preview's, is read in id order within the list: the index
on (list_id, id) gives it without sorting the whole list. The list search finds a number containing the query's digits or a field value containing the
query. Without an index that is a scan of every recipient's JSON fields.

SQLite: an FTS5 table with the trigram tokenizer (substring matching) holds each recipient's
number and field values (one per line), under the recipient's id; triggers keep it in step
with every insert, update and delete of a recipient (the import's bulk writes included).
PostgreSQL: ``pg_trgm`` GIN indexes on the number and on ``recipient_field_values(fields)``
(the values, one per line), built CONCURRENTLY so imports and sends go on meanwhile. Without
FTS5 or ``pg_trgm`` (a database where extensions cannot be created) the indexes are left out
and the search scans, as before.
"""

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE_VALUES = "(SELECT group_concat(value, char(10)) FROM json_each({row}.fields))"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER recipients_search_insert AFTER INSERT ON recipients BEGIN
        INSERT INTO recipient_search (rowid, msisdn, field_values)
        VALUES (new.id, new.msisdn, {SQLITE_VALUES.format(row="new")});
    END""",
    """CREATE TRIGGER recipients_search_delete AFTER DELETE ON recipients BEGIN
        DELETE FROM recipient_search WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER recipients_search_update AFTER UPDATE OF msisdn, fields ON recipients
    BEGIN
        DELETE FROM recipient_search WHERE rowid = old.id;
        INSERT INTO recipient_search (rowid, msisdn, field_values)
        VALUES (new.id, new.msisdn, {SQLITE_VALUES.format(row="new")});
    END""",
]

POSTGRES_FUNCTION = r"""
CREATE OR REPLACE FUNCTION recipient_field_values(fields json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN json_typeof(fields) = 'object'
        THEN (SELECT string_agg(value, E'\n') FROM json_each_text(fields)) END
$$
"""


def _sqlite_has_fts5(bind) -> bool:
    options = {row[0] for row in bind.execute(text("PRAGMA compile_options"))}
    return "ENABLE_FTS5" in options


def _postgres_has_trigram(bind) -> bool:
    """Whether pg_trgm is (or could just be) installed; a failed CREATE does not abort."""
    available = bind.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).scalar()
    if not available:
        return False
    savepoint = bind.begin_nested()
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError:  # no privilege to create it: the search scans instead
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.create_index("ix_campaigns_created", "campaigns", ["created_at", "id"])
        op.create_index("ix_recipients_list", "recipients", ["list_id", "id"])
        if _sqlite_has_fts5(bind):
            op.execute(
                "CREATE VIRTUAL TABLE recipient_search "
                "USING fts5(msisdn, field_values, tokenize='trigram')"
            )
            for trigger in SQLITE_TRIGGERS:
                op.execute(trigger)
            op.execute(
                "INSERT INTO recipient_search (rowid, msisdn, field_values) "
                f"SELECT id, msisdn, {SQLITE_VALUES.format(row='recipients')} FROM recipients"
            )
        return
    if bind.dialect.name != "postgresql":
        op.create_index("ix_campaigns_created", "campaigns", ["created_at", "id"])
        op.create_index("ix_recipients_list", "recipients", ["list_id", "id"])
        return
    op.execute(POSTGRES_FUNCTION)
    trigram = _postgres_has_trigram(bind)
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_campaigns_created "
            "ON campaigns (created_at, id)"
        )
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_recipients_list ON recipients (list_id, id)"
        )
        if trigram:
            op.execute(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_recipients_msisdn_trgm "
                "ON recipients USING gin (msisdn gin_trgm_ops)"
            )
            op.execute(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_recipients_field_values_trgm "
                "ON recipients USING gin (recipient_field_values(fields) gin_trgm_ops)"
            )


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS recipients_search_{name}")
        op.execute("DROP TABLE IF EXISTS recipient_search")
        op.drop_index("ix_recipients_list", table_name="recipients")
        op.drop_index("ix_campaigns_created", table_name="campaigns")
        return
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_recipients_field_values_trgm")
        op.execute("DROP INDEX IF EXISTS ix_recipients_msisdn_trgm")
        op.execute("DROP FUNCTION IF EXISTS recipient_field_values(json)")
    op.drop_index("ix_recipients_list", table_name="recipients")
    op.drop_index("ix_campaigns_created", table_name="campaigns")
