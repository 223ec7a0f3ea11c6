"""The campaign page of a sent campaign reads its kept figures, not its recipients (issue 13):
the outcome table's menus, totals and page come from the figures kept at confirmation and by
the webhook and from indexes, so the page costs the same with a million recipients."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, gateway_client, sent_campaign
from sqlalchemy import event, select, text

from webapp.extensions import db
from webapp.models import Campaign, CampaignRecipient, Role, User
from webapp.services import outcomes
from webapp.services.delivery import record_delivery_report

SWEDISH = ["46701234561", "46701234562"]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def campaign_id(app, make_user, sandbox):
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        numbers = [*danish_numbers(4), *SWEDISH]
        campaign = sent_campaign(db.session, user, gateway_client(sandbox), numbers, batch_size=3)
        return campaign.id


def report(app, campaign_id, msisdn, status, **extra):
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        recipient = db.session.scalar(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.msisdn == msisdn
            )
        )
        batch = next(b for b in campaign.batches if b.id == recipient.batch_id)
        record_delivery_report(
            db.session,
            {
                "id": int(batch.message_id),
                "msisdn": int(msisdn),
                "time": 100,
                "status": status,
                "userref": f"campaign-{campaign_id}-batch-{batch.number}",
                **extra,
            },
        )


def some_reports(app, campaign_id):
    dk = danish_numbers(4)
    report(app, campaign_id, dk[0], "DELIVERED")
    report(app, campaign_id, dk[1], "UNDELIVERABLE", error="Absent", code="0x0101")
    report(app, campaign_id, dk[2], "UNDELIVERABLE", error="Absent subscriber", code="0x0101")
    report(app, campaign_id, SWEDISH[0], "REJECTED", error="Barred", code="0x0202")
    report(app, campaign_id, SWEDISH[1], "ENROUTE")


def test_confirmation_keeps_the_recipients_countries(app, campaign_id):
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).recipient_countries == ["DK", "SE"]


def test_filter_menus_list_the_countries_and_each_code_with_its_first_error(app, campaign_id):
    some_reports(app, campaign_id)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        choices = outcomes.filter_choices(db.session, campaign)
    assert choices == {
        "countries": ["DK", "SE"],
        "reasons": [("0x0101", "0x0101 Absent"), ("0x0202", "0x0202 Barred")],
    }


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ("", 6),
        ("outcome=failed", 3),
        ("outcome=awaiting", 2),
        ("outcome=delivered", 1),
        ("outcome=expired", 0),
        ("outcome=nonsense", 6),
        ("country=SE", 2),
        ("reason=0x0101", 2),
    ],
)
def test_outcome_totals_match_the_recipients_shown(app, login_as, campaign_id, query, total):
    some_reports(app, campaign_id)
    viewer = login_as(Role.VIEWER)
    page = viewer.get(f"/campaigns/{campaign_id}/outcomes?{query}", headers=HTMX).text
    assert f'data-test="outcome-total">{total:,} recipient' in page
    assert page.count("<tr><td>+") == total


def plans_on_recipients(app, client, path) -> list[str]:
    """SQLite's plan lines, for each statement the request issues on campaign_recipients."""
    statements = []
    with app.app_context():
        engine = db.engine

        def seen(_conn, _cursor, statement, parameters, _context, _many):
            if "campaign_recipients" in statement and statement.lstrip().upper().startswith(
                ("SELECT", "WITH")
            ):
                statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", seen)
        try:
            assert client.get(path, headers=HTMX).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        with engine.connect() as connection:
            return [
                row[-1]
                for statement, parameters in statements
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]


@pytest.mark.parametrize("query", ["", "outcome=failed", "outcome=delivered", "page=2"])
def test_outcome_table_neither_scans_nor_sorts_the_recipients(app, login_as, campaign_id, query):
    some_reports(app, campaign_id)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the plans read are SQLite's")
        db.session.execute(text("ANALYZE"))  # as PRAGMA optimize leaves the statistics
        db.session.commit()
    viewer = login_as(Role.VIEWER)
    plans = plans_on_recipients(app, viewer, f"/campaigns/{campaign_id}/outcomes?{query}")
    assert plans
    assert not [p for p in plans if "TEMP B-TREE" in p or p.startswith("SCAN campaign_recipients")]


def test_sent_campaign_page_issues_the_same_statements_however_many_reports(
    app, login_as, campaign_id
):
    viewer = login_as(Role.VIEWER)
    with app.app_context():
        engine = db.engine
    counted = []
    event.listen(engine, "before_cursor_execute", lambda *_: counted.append(1))

    def statements() -> int:
        viewer.get(f"/campaigns/{campaign_id}")
        before = len(counted)
        assert viewer.get(f"/campaigns/{campaign_id}").status_code == 200
        return len(counted) - before

    quiet = statements()
    some_reports(app, campaign_id)
    assert statements() == quiet
    assert quiet <= 24


def test_a_later_campaigns_pages_start_at_its_own_recipients(app, make_user, sandbox, campaign_id):
    """Confirmation keeps the id its recipients come after; every page of a later campaign's
    outcome table holds its own recipients, each once, in order."""
    with app.app_context():
        user = db.session.scalars(select(User)).first()
        later = sent_campaign(
            db.session, user, gateway_client(sandbox), danish_numbers(7, 20_300_000), name="Later"
        )
        earlier_ids = db.session.scalars(
            select(CampaignRecipient.id).where(CampaignRecipient.campaign_id == campaign_id)
        ).all()
        own = db.session.scalars(
            select(CampaignRecipient.id)
            .where(CampaignRecipient.campaign_id == later.id)
            .order_by(CampaignRecipient.id)
        ).all()
        assert later.recipients_after_id >= max(earlier_ids)
        assert min(own) > later.recipients_after_id
        shown = [
            row.id
            for page in (1, 2, 3)
            for row in outcomes.outcome_page(db.session, later, page=page, per_page=3).rows
        ]
        assert shown == own
