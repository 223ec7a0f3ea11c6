"""indexes for the campaigns list and the home page's spend

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 09:00:00

The campaigns list sorts and filters by when sending started and by sender; the home page sums
the cost of the batches the gateway accepted this month and last, and finds the campaigns
sending now, the drafts (by status) and the latest finished ones (by when they finished)
without reading every campaign. ``campaigns`` and ``batches``
are small tables (one row per campaign, one per 10,000 recipients), so plain CREATE INDEX
takes their locks for moments only.
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_campaigns_started", "campaigns", ["started_at", "id"])
    op.create_index("ix_campaigns_sender", "campaigns", ["sender"])
    op.create_index("ix_campaigns_status", "campaigns", ["status", "id"])
    op.create_index("ix_campaigns_finished", "campaigns", ["finished_at", "id"])
    op.create_index("ix_batches_state_finished", "batches", ["state", "finished_at"])


def downgrade():
    op.drop_index("ix_batches_state_finished", table_name="batches")
    op.drop_index("ix_campaigns_finished", table_name="campaigns")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_index("ix_campaigns_sender", table_name="campaigns")
    op.drop_index("ix_campaigns_started", table_name="campaigns")
