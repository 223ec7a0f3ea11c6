"""imports remember the Excel sheet they read and the header row they confirmed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:40:00

``sheet`` names the worksheet of an uploaded .xlsx (NULL for CSV); ``header`` keeps the header
row's cells for the rejected-rows download. Both are NULL for earlier imports, which then
download without a header row.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('list_imports') as batch:
        batch.add_column(sa.Column('sheet', sa.String(length=31), nullable=True))
        batch.add_column(sa.Column('header', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('list_imports') as batch:
        batch.drop_column('header')
        batch.drop_column('sheet')
