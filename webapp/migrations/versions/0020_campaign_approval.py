"""campaign approval: the approver right, and who asked for and gave a campaign's approval

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-10 10:00:00

A user may be given the approver right (admins always have it). A campaign over the
workspace's approval limits waits as ``pending_approval`` (the status column's strings need no
change): it keeps who asked for approval and when, who approved it and when, and the
approver's comment. The limits themselves are settings rows.
"""
import sqlalchemy as sa
from alembic import op

from webapp.models import UTCDateTime


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

USER_COLUMNS = (('approval_requested_by_id', 'fk_campaigns_approval_requested_by_id_users'),
                ('approved_by_id', 'fk_campaigns_approved_by_id_users'))


def upgrade():
    op.add_column(
        'users',
        sa.Column('approver', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column('campaigns', sa.Column('approval_requested_at', UTCDateTime(), nullable=True))
    op.add_column('campaigns', sa.Column('approved_at', UTCDateTime(), nullable=True))
    op.add_column('campaigns', sa.Column('approval_comment', sa.Text(), nullable=True))
    for column, _ in USER_COLUMNS:
        op.add_column('campaigns', sa.Column(column, sa.Integer(), nullable=True))
    # As in 0017: SQLite adds a constraint only by rebuilding the table, which many tables
    # reference, so there the columns stay unconstrained.
    if op.get_bind().dialect.name != 'sqlite':
        for column, name in USER_COLUMNS:
            op.create_foreign_key(name, 'campaigns', 'users', [column], ['id'])


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        for _, name in USER_COLUMNS:
            op.drop_constraint(name, 'campaigns', type_='foreignkey')
    with op.batch_alter_table('campaigns') as batch:
        for column, _ in USER_COLUMNS:
            batch.drop_column(column)
        batch.drop_column('approval_comment')
        batch.drop_column('approved_at')
        batch.drop_column('approval_requested_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('approver')
