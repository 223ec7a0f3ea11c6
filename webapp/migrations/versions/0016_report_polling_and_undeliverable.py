"""report polling and undeliverable flags: when a batch is polled next, and who is left out

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00

``batches.next_poll_at`` and ``poll_attempts``: with ``DELIVERY_REPORTS=poll`` a job asks the
gateway for each sent batch's statuses, waiting longer after each attempt, until the validity
period ends. ``campaigns.include_undeliverable``: a campaign that reaches the numbers flagged as
undeliverable in their last three campaigns too (by default they are left out).

A partial index on ``campaign_recipients`` finds those numbers without reading the whole table:
the undeliverable rows by number (a few per cent of the rows); every row of a number newest
first is 0014's index. On PostgreSQL it is built CONCURRENTLY, as in 0011, so reports keep
arriving meanwhile.
"""
from alembic import op
import sqlalchemy as sa

import webapp.models


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

UNDELIVERABLE = sa.text("delivery_outcome = 'undeliverable'")


def upgrade():
    with op.batch_alter_table('batches') as batch:
        batch.add_column(
            sa.Column('next_poll_at', webapp.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column('poll_attempts', sa.Integer(), nullable=False, server_default='0')
        )
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(
            sa.Column(
                'include_undeliverable', sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    concurrently = op.get_bind().dialect.name == "postgresql"
    indexes = [
        (
            "ix_campaign_recipients_undeliverable",
            ["msisdn"],
            {"postgresql_where": UNDELIVERABLE, "sqlite_where": UNDELIVERABLE},
        ),
    ]
    for name, columns, options in indexes:
        if concurrently:
            with op.get_context().autocommit_block():
                op.create_index(
                    name, "campaign_recipients", columns, postgresql_concurrently=True, **options
                )
        else:
            op.create_index(name, "campaign_recipients", columns, **options)


def downgrade():
    op.drop_index("ix_campaign_recipients_undeliverable", table_name="campaign_recipients")
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('include_undeliverable')
    with op.batch_alter_table('batches') as batch:
        batch.drop_column('poll_attempts')
        batch.drop_column('next_poll_at')
