"""the campaign page at scale: its recipients' countries kept, indexes for its table and reasons

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 19:00:00

``campaigns.recipient_countries``: the countries of a campaign's frozen recipients, written at
confirmation (filled in here for campaigns confirmed before), so the outcome table's country
menu reads one row instead of every recipient.

``ix_campaign_recipients_campaign_id``: a page of a campaign's recipients in order is read from
the index, not sorted out of all of them.

``ix_campaign_recipients_code``: the error codes that occur among a campaign's recipients are
found by a few index seeks (a skip scan), over the reported failures only.

"""
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

CODED = sa.text("delivery_code IS NOT NULL")
INDEXES = [
    ("ix_campaign_recipients_campaign_id", ["campaign_id", "id"], {}),
    (
        "ix_campaign_recipients_code",
        ["campaign_id", "delivery_code", "delivery_error"],
        {"postgresql_where": CODED, "sqlite_where": CODED},
    ),
]


def upgrade():
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('recipient_countries', sa.JSON(), nullable=True))
    _fill_countries()
    concurrently = op.get_bind().dialect.name == "postgresql"
    for name, columns, options in INDEXES:
        if concurrently:
            with op.get_context().autocommit_block():
                op.create_index(
                    name, "campaign_recipients", columns, postgresql_concurrently=True, **options
                )
        else:
            op.create_index(name, "campaign_recipients", columns, **options)


def _fill_countries():
    bind = op.get_bind()
    countries = defaultdict(list)
    rows = bind.execute(
        sa.text(
            "SELECT DISTINCT campaign_id, country FROM campaign_recipients "
            "WHERE country IS NOT NULL ORDER BY campaign_id, country"
        )
    )
    for campaign_id, country in rows:
        countries[campaign_id].append(country)
    confirmed = bind.execute(
        sa.text("SELECT DISTINCT campaign_id FROM campaign_recipients")
    ).scalars()
    campaigns = sa.table("campaigns", sa.column("id"), sa.column("recipient_countries", sa.JSON))
    for campaign_id in list(confirmed):
        bind.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(recipient_countries=countries.get(campaign_id, []))
        )


def downgrade():
    for name, _, _ in INDEXES:
        op.drop_index(name, table_name="campaign_recipients")
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('recipient_countries')
