"""tracking: delivery outcomes in words, report history, delivery counts, lookup indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:40:00

Indexes: ``batches.message_id`` is on a small table (one row per 10,000 recipients), so a plain
CREATE INDEX takes its lock for moments. ``campaign_recipients`` can hold millions of rows, so
on PostgreSQL its new index is built CONCURRENTLY (outside the migration's transaction), and
reports keep arriving meanwhile. The new tables are empty when their indexes are made.
"""
from alembic import op
import sqlalchemy as sa

import webapp.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OUTCOMES = ("delivered", "expired", "undeliverable", "rejected", "skipped", "awaiting")
SHARDS = 16  # webapp.services.delivery.COUNT_SHARDS at the time of writing
FINAL_OUTCOME_OF_STATUS = {
    "DELIVERED": "delivered",
    "ACCEPTED": "delivered",
    "EXPIRED": "expired",
    "UNDELIVERABLE": "undeliverable",
    "REJECTED": "rejected",
    "DELETED": "rejected",
    "SKIPPED": "skipped",
}


def _outcome_enum():
    return sa.Enum(*OUTCOMES, name="deliveryoutcome", native_enum=False, length=16)


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_outcome", _outcome_enum(), nullable=True))
        batch_op.add_column(sa.Column("delivery_code", sa.String(length=16), nullable=True))
    cases = " ".join(f"WHEN '{s}' THEN '{o}'" for s, o in FINAL_OUTCOME_OF_STATUS.items())
    op.execute(
        "UPDATE campaign_recipients SET delivery_outcome = "
        f"CASE delivery_status {cases} ELSE 'awaiting' END WHERE delivery_status IS NOT NULL"
    )

    op.create_table(
        "delivery_reports",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("recipient_id", _big_id(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("reported_at", webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["campaign_recipients.id"],
            name=op.f("fk_delivery_reports_recipient_id_campaign_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_reports")),
    )
    op.create_index(
        "ix_delivery_reports_recipient", "delivery_reports", ["recipient_id", "reported_at"]
    )
    op.create_table(
        "delivery_counts",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("outcome", _outcome_enum(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_delivery_counts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "outcome", "shard", name=op.f("pk_delivery_counts")),
    )
    op.execute(
        "INSERT INTO delivery_counts (campaign_id, outcome, shard, count) "
        f"SELECT campaign_id, delivery_outcome, id % {SHARDS}, COUNT(*) FROM campaign_recipients "
        "WHERE delivery_outcome IS NOT NULL AND delivery_outcome <> 'awaiting' "
        f"GROUP BY campaign_id, delivery_outcome, id % {SHARDS}"
    )
    op.create_index("ix_batches_message_id", "batches", ["message_id"])
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_campaign_recipients_outcome",
                "campaign_recipients",
                ["campaign_id", "delivery_outcome"],
                postgresql_concurrently=True,
            )
    else:
        op.create_index(
            "ix_campaign_recipients_outcome",
            "campaign_recipients",
            ["campaign_id", "delivery_outcome"],
        )


def downgrade():
    op.drop_index("ix_campaign_recipients_outcome", table_name="campaign_recipients")
    op.drop_index("ix_batches_message_id", table_name="batches")
    op.drop_table("delivery_counts")
    op.drop_index("ix_delivery_reports_recipient", table_name="delivery_reports")
    op.drop_table("delivery_reports")
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_column("delivery_code")
        batch_op.drop_column("delivery_outcome")
