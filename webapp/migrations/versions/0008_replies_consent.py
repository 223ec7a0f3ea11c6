"""the consent record, replies, opt-out footers, batches by country for quiet hours, and how each opt-out came about

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:40:00

Every opt-out and opt-in becomes an append-only ``consent_events`` row; ``opt_outs`` stays the
current set and says how each number got there. Existing opt-outs get one "typed" event each,
so the record is complete from the start. ``replies`` holds the gateway's inbound messages.
"""
import sqlalchemy as sa
from alembic import op

import webapp.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.BigInteger(), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("receiver", sa.String(length=15), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sent_at", webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("keyword", sa.String(length=8), nullable=True),
        sa.Column("handled_at", webapp.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handled_by_id", sa.Integer(), nullable=True),
        sa.Column("confirmation", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_replies_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handled_by_id"], ["users.id"], name=op.f("fk_replies_handled_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
        sa.UniqueConstraint("gateway_id", name=op.f("uq_replies_gateway_id")),
    )
    op.create_index("ix_replies_msisdn", "replies", ["msisdn"])
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("reply_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consent_events_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_consent_events_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["replies.id"], name=op.f("fk_consent_events_reply_id_replies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    op.create_index("ix_consent_events_msisdn", "consent_events", ["msisdn", "id"])
    with op.batch_alter_table("opt_outs") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="typed")
        )
        batch.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_opt_outs_campaign_id_campaigns",
            "campaigns",
            ["campaign_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("opt_out_footer", sa.String(length=300), nullable=True))
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("country", sa.String(length=2), nullable=True))
    op.execute(
        "INSERT INTO consent_events (msisdn, action, source, at, user_id, note) "
        "SELECT msisdn, 'opt_out', 'typed', created_at, created_by_id, note FROM opt_outs"
    )


def downgrade():
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("country")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("opt_out_footer")
    with op.batch_alter_table("opt_outs") as batch:
        batch.drop_constraint("fk_opt_outs_campaign_id_campaigns", type_="foreignkey")
        batch.drop_column("campaign_id")
        batch.drop_column("source")
    op.drop_index("ix_consent_events_msisdn", table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_index("ix_replies_msisdn", table_name="replies")
    op.drop_table("replies")
