"""campaigns remember where their recipients start in id order

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 19:10:00

``campaigns.recipients_after_id``: the highest campaign recipient id before the campaign's own
were frozen, written at confirmation (filled in here for campaigns confirmed before). A page of
the campaign's recipients in id order then starts at its own rows: PostgreSQL, reading it along
the primary key, would otherwise step over every earlier campaign's rows first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("recipients_after_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE campaigns SET recipients_after_id = firsts.first_id - 1 "
        "FROM (SELECT campaign_id, min(id) AS first_id FROM campaign_recipients "
        "GROUP BY campaign_id) AS firsts WHERE firsts.campaign_id = campaigns.id"
    )


def downgrade():
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("recipients_after_id")
