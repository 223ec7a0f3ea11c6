"""The campaign page's results: live delivery figures, the outcome table, the exports."""

from __future__ import annotations

import csv
import io

import pytest
from helpers import danish_numbers, gateway_client, sent_campaign

from webapp.extensions import db
from webapp.models import Campaign, Role, User
from webapp.services.delivery import record_delivery_report

NUMBERS = danish_numbers(3)


@pytest.fixture
def campaign_id(app, make_user, sandbox):
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "ops@example.com"))
        people = [
            (NUMBERS[0], {"name": "Ann"}),
            (NUMBERS[1], {"name": "=HYPERLINK(1)"}),
            (NUMBERS[2], {"name": "Bo"}),
        ]
        campaign = sent_campaign(
            db.session, user, gateway_client(sandbox), people, message="%name% hi", fields=["name"]
        )
        return campaign.id


def report_for(app, campaign_id, msisdn, status, time=100, **extra):
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        number = 1 if NUMBERS.index(msisdn) < 2 else 2
        batch = next(b for b in campaign.batches if b.number == number)
        record_delivery_report(
            db.session,
            {
                "id": int(batch.message_id),
                "msisdn": int(msisdn),
                "time": time,
                "status": status,
                "userref": f"campaign-{campaign_id}-batch-{number}",
                **extra,
            },
        )


def test_results_poll_while_reports_are_awaited_and_stop_when_all_are_final(
    app, login_as, campaign_id
):
    viewer = login_as(Role.VIEWER)
    report_for(app, campaign_id, NUMBERS[0], "DELIVERED")
    live = viewer.get(f"/campaigns/{campaign_id}/results", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 2s"' in live
    assert 'data-test="delivered">1 <span class="hint">33.3 %' in live
    report_for(app, campaign_id, NUMBERS[1], "UNDELIVERABLE", error="Absent", code="0x0101")
    report_for(app, campaign_id, NUMBERS[2], "EXPIRED")
    done = viewer.get(f"/campaigns/{campaign_id}/results", headers={"HX-Request": "true"}).text
    assert "every 2s" not in done
    assert 'data-test="undeliverable">1 ' in done and 'data-test="awaiting">0 ' in done
    assert "DK" in done  # segments and cost per country


def test_outcome_table_filters_by_outcome_and_searches_fields(app, login_as, campaign_id):
    viewer = login_as(Role.VIEWER)
    report_for(app, campaign_id, NUMBERS[0], "ENROUTE", time=50)
    report_for(app, campaign_id, NUMBERS[0], "DELIVERED")
    report_for(app, campaign_id, NUMBERS[1], "UNDELIVERABLE", error="Absent", code="0x0101")
    htmx = {"HX-Request": "true"}
    failed = viewer.get(f"/campaigns/{campaign_id}/outcomes?outcome=failed", headers=htmx).text
    assert f"+{NUMBERS[1]}" in failed and f"+{NUMBERS[0]}" not in failed
    assert "Undeliverable" in failed and "0x0101" in failed
    found = viewer.get(f"/campaigns/{campaign_id}/outcomes?q=ann", headers=htmx).text
    assert "Ann hi" in found and f"+{NUMBERS[2]}" not in found
    assert "ENROUTE" in found and "DELIVERED" in found  # the status history
    by_reason = viewer.get(f"/campaigns/{campaign_id}/outcomes?reason=0x0101", headers=htmx).text
    assert 'data-test="outcome-total">1 recipient match' in by_reason


def test_csv_export_is_excel_ready_and_formula_safe(app, login_as, campaign_id):
    viewer = login_as(Role.VIEWER)
    report_for(app, campaign_id, NUMBERS[0], "DELIVERED")
    response = viewer.get(f"/campaigns/{campaign_id}/export?sep=semicolon")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:3] == ["msisdn", "country", "outcome"]
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number[NUMBERS[0]][2] == "Delivered"
    assert by_number[NUMBERS[1]][2] == "Awaiting report"
    assert by_number[NUMBERS[1]][-1] == "'=HYPERLINK(1) hi"


def test_xlsx_export_holds_every_outcome_as_text(app, login_as, campaign_id):
    from openpyxl import load_workbook

    viewer = login_as(Role.VIEWER)
    response = viewer.get(f"/campaigns/{campaign_id}/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows())
    assert len(rows) == 4
    formula = next(row for row in rows if row[0].value == NUMBERS[1])
    # A text cell, never a formula, whatever it starts with.
    assert (formula[-1].value, formula[-1].data_type) == ("=HYPERLINK(1) hi", "s")


def test_deliveries_over_time_are_drawn_as_svg_with_a_table_of_numbers(app, login_as, campaign_id):
    with app.app_context():
        started = db.session.get(Campaign, campaign_id).started_at.timestamp()
    report_for(app, campaign_id, NUMBERS[0], "DELIVERED", time=int(started) + 30)
    report_for(app, campaign_id, NUMBERS[1], "DELIVERED", time=int(started) + 150)
    report_for(app, campaign_id, NUMBERS[2], "DELIVERED", time=int(started) + 2 * 3600 + 5)
    viewer = login_as(Role.VIEWER)
    page = viewer.get(f"/campaigns/{campaign_id}/results", headers={"HX-Request": "true"}).text
    assert page.count('<rect x="') == 3
    assert 'class="bar"' in page and "style=" not in page  # the CSP allows no inline styles
    numbers = page[page.index('data-test="chart-numbers"') :]
    assert numbers.count("(minute)") == 2 and numbers.count("(hour)") == 1
