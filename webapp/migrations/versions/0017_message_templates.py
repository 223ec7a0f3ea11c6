"""message templates: saved messages shared in the workspace, and the campaign's template

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 10:00:00

A template's name is unique with case ignored (an index on lower(name)); a campaign remembers
the template its message was taken from, so confirming it can mark the template as used.
"""
import sqlalchemy as sa
from alembic import op

from webapp.models import UTCDateTime


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'message_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('encoding', sa.String(length=8), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('last_used_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'uq_message_templates_name', 'message_templates', [sa.text('lower(name)')], unique=True
    )
    op.add_column('campaigns', sa.Column('template_id', sa.Integer(), nullable=True))
    # SQLite adds a constraint only by rebuilding the table, and campaigns is referenced by
    # many tables: there the column stays unconstrained (deleting a template clears it).
    if op.get_bind().dialect.name != 'sqlite':
        op.create_foreign_key(
            'fk_campaigns_template_id',
            'campaigns',
            'message_templates',
            ['template_id'],
            ['id'],
            ondelete='SET NULL',
        )


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_campaigns_template_id', 'campaigns', type_='foreignkey')
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('template_id')
    op.drop_index('uq_message_templates_name', table_name='message_templates')
    op.drop_table('message_templates')
