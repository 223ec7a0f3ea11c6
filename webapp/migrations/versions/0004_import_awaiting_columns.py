"""uploads waiting for their columns get a state of their own

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:45:00

Before, such an upload was ``pending`` with no phone column; now it is ``awaiting_columns`` and
``pending`` means queued. The status column is a plain string (no native enum, no CHECK), so
only the rows change.
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE list_imports SET status = 'awaiting_columns' "
        "WHERE status = 'pending' AND phone_column IS NULL"
    )


def downgrade():
    op.execute("UPDATE list_imports SET status = 'pending' WHERE status = 'awaiting_columns'")
