"""reliability: idempotency key, outage pause, batch currency, upload checksum

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:30:00

``campaigns.idempotency_key``: a key the command line's ``--idempotency-key`` stores, so a
second call with the same key finds the first campaign instead of sending again.
``campaigns.outage_since``: set while the campaign is paused because the gateway could not be
reached (since when it has not answered); the probe resumes only such a campaign.
``batches.request_started_at``: when the batch's request was handed to the HTTP client; a batch
claimed but never started goes back to pending after a crash instead of becoming unconfirmed.
``batches.currency``: the currency of the gateway's ``usage`` for that batch, which is what the
campaign's cost so far is labelled with (not the preview's).
``list_imports.heartbeat_at``, ``run_number``, ``restarted_at``: a running import beats with every
chunk it stores; one whose heartbeat is over a minute old lost its worker and is restarted from
the start (what it stored removed); ``run_number`` keeps the lost run from writing again.
``list_imports.sha256``: the stored upload's checksum when its columns were confirmed; the
import checks it (and the size) at the end, so a file changed meanwhile fails the import.
"""
from alembic import op
import sqlalchemy as sa

import webapp.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint('uq_campaigns_idempotency_key', ['idempotency_key'])
        batch_op.add_column(sa.Column('outage_since', webapp.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(
            sa.Column('request_started_at', webapp.models.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table('list_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', webapp.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('restarted_at', webapp.models.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column('run_number', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('list_imports', schema=None) as batch_op:
        batch_op.drop_column('run_number')
        batch_op.drop_column('restarted_at')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('sha256')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('request_started_at')
        batch_op.drop_column('currency')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('outage_since')
        batch_op.drop_constraint('uq_campaigns_idempotency_key', type_='unique')
        batch_op.drop_column('idempotency_key')
