"""reliability: a campaign's idempotency key

Revision ID: 0005_reliability
Revises: 0004
Create Date: 2026-12-01 09:30:00

``campaigns.idempotency_key``: a key the command line's ``--idempotency-key`` stores, so a
second call with the same key finds the first campaign instead of sending again.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_reliability'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint('uq_campaigns_idempotency_key', ['idempotency_key'])


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint('uq_campaigns_idempotency_key', type_='unique')
        batch_op.drop_column('idempotency_key')
