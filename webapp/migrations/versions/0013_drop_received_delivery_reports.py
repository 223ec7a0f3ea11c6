"""drop received_delivery_reports: replays are recognised by the delivery_reports history

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 11:05:00

A replayed report (the same message, recipient, status and time) changes nothing under the one
conditional update that records reports (a final status is never replaced by a transient one;
between finals the later report time wins), and every report is kept in ``delivery_reports``.
The separate replay table, which also refused a status that legitimately came again later,
goes.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table('received_delivery_reports')


def downgrade():
    op.create_table(
        'received_delivery_reports',
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('msisdn', sa.String(length=15), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('message_id', 'msisdn', 'status'),
    )
