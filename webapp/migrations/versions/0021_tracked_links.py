"""tracked links and their clicks

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 16:00:00

A campaign remembers where its tracked links point (``link_host``); ``campaign_links`` holds
each link's target, numbered as in the message; ``link_clicks`` every click, with whether it
counts as a person's (not a preview bot, not a double tap). Indexed for the redirect's
double-tap check, a recipient's clicks and a campaign's clicks over time.
"""
import sqlalchemy as sa
from alembic import op

import webapp.models

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("link_host", sa.String(length=200), nullable=True))
    op.create_table(
        "campaign_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_links_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_links")),
        sa.UniqueConstraint("campaign_id", "ordinal", name="uq_campaign_links_campaign_ordinal"),
    )
    op.create_table(
        "link_clicks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", BIG_ID, nullable=False),
        sa.Column("clicked_at", webapp.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(length=40), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_link_clicks_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["campaign_links.id"],
            name=op.f("fk_link_clicks_link_id_campaign_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["campaign_recipients.id"],
            name=op.f("fk_link_clicks_recipient_id_campaign_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    op.create_index(
        "ix_link_clicks_link_recipient", "link_clicks", ["link_id", "recipient_id", "clicked_at"]
    )
    op.create_index("ix_link_clicks_recipient", "link_clicks", ["recipient_id", "clicked_at"])
    op.create_index("ix_link_clicks_campaign", "link_clicks", ["campaign_id", "clicked_at"])


def downgrade():
    op.drop_index("ix_link_clicks_campaign", table_name="link_clicks")
    op.drop_index("ix_link_clicks_recipient", table_name="link_clicks")
    op.drop_index("ix_link_clicks_link_recipient", table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_table("campaign_links")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("link_host")
