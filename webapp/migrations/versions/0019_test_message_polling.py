"""test message polling, and an index for the campaigns list's cost

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 09:00:00

``test_sends.next_poll_at`` and ``poll_attempts``, as 0016 gave batches: with
``DELIVERY_REPORTS=poll`` test messages are polled on the same schedule, so their status comes
from the gateway in that mode too.

``ix_batches_campaign_state_cost``: the campaigns list shows and sorts by what each campaign's
sent batches cost; with this index that sum reads no table rows.
"""
from alembic import op
import sqlalchemy as sa

import webapp.models


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('test_sends') as batch:
        batch.add_column(
            sa.Column('next_poll_at', webapp.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column('poll_attempts', sa.Integer(), nullable=False, server_default='0')
        )
    op.create_index(
        'ix_batches_campaign_state_cost', 'batches', ['campaign_id', 'state', 'cost']
    )


def downgrade():
    op.drop_index('ix_batches_campaign_state_cost', table_name='batches')
    with op.batch_alter_table('test_sends') as batch:
        batch.drop_column('poll_attempts')
        batch.drop_column('next_poll_at')
