"""test send deliveries, campaign plain values

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('test_sends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deliveries', sa.JSON(), nullable=True))
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('plain_values', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('plain_values')
    with op.batch_alter_table('test_sends', schema=None) as batch_op:
        batch_op.drop_column('deliveries')
