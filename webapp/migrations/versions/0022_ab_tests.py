"""A/B tests

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 15:30:00

A campaign may carry variant texts B and C beside its message, each variant's share of the
audience, the seed of the split and its winner step; each frozen recipient records the variant
the split gave it ("held" for the held-back), each batch the variant whose text it sends.
"""
import sqlalchemy as sa
from alembic import op

import webapp.models

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("message_b", sa.Text(), nullable=True))
        batch.add_column(sa.Column("message_c", sa.Text(), nullable=True))
        batch.add_column(sa.Column("variant_shares", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("split_seed", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("winner_after_minutes", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "winner_metric",
                sa.String(length=32),
                nullable=False,
                server_default="delivery_rate",
            )
        )
        batch.add_column(
            sa.Column("winner_due_at", webapp.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("winner", sa.String(length=1), nullable=True))
        batch.add_column(sa.Column("winner_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("variant", sa.String(length=1), nullable=True))
    with op.batch_alter_table("campaign_recipients") as batch:
        batch.add_column(sa.Column("variant", sa.String(length=4), nullable=True))


def downgrade():
    with op.batch_alter_table("campaign_recipients") as batch:
        batch.drop_column("variant")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("variant")
    with op.batch_alter_table("campaigns") as batch:
        for column in (
            "winner_reason",
            "winner",
            "winner_due_at",
            "winner_metric",
            "winner_after_minutes",
            "split_seed",
            "variant_shares",
            "message_c",
            "message_b",
        ):
            batch.drop_column(column)
