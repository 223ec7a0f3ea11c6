"""contact history: numbers indexed where a number's history looks them up

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:40:00

The header's number search reads every campaign a number got and every list it is on; both
tables were indexed by campaign or list first, so the lookup by number alone scanned them.
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_campaign_recipients_msisdn', 'campaign_recipients', ['msisdn', 'id'])
    op.create_index('ix_recipients_msisdn', 'recipients', ['msisdn'])


def downgrade():
    op.drop_index('ix_recipients_msisdn', table_name='recipients')
    op.drop_index('ix_campaign_recipients_msisdn', table_name='campaign_recipients')
