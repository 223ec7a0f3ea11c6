"""received delivery reports: a replayed report is recognised

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:25:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'received_delivery_reports',
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('msisdn', sa.String(length=15), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('received_at', webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            'message_id', 'msisdn', 'status', name=op.f('pk_received_delivery_reports')
        ),
    )


def downgrade():
    op.drop_table('received_delivery_reports')
