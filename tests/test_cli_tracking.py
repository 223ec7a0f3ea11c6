"""``flask campaigns report`` and ``flask campaigns export``: what happened, from the shell."""

from __future__ import annotations

import json

import pytest
from helpers import danish_numbers, gateway_client, sent_campaign

from webapp.extensions import db
from webapp.models import Campaign, Role, User
from webapp.services.delivery import record_delivery_report

NUMBERS = danish_numbers(3)


@pytest.fixture
def tracked(app, make_user, sandbox):
    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER))
        campaign = sent_campaign(db.session, user, gateway_client(sandbox), NUMBERS, batch_size=3)
        message_id = db.session.get(Campaign, campaign.id).batches[0].message_id
        for msisdn, status in zip(NUMBERS, ["DELIVERED", "DELIVERED", "EXPIRED"], strict=True):
            record_delivery_report(
                db.session,
                {
                    "id": int(message_id),
                    "msisdn": int(msisdn),
                    "time": 100,
                    "status": status,
                    "userref": f"campaign-{campaign.id}-batch-1",
                },
            )


def test_report_prints_outcomes_in_words_and_gateway_statuses(app, tracked):
    result = app.test_cli_runner().invoke(args=["campaigns", "report", "Tracked", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["gateway_statuses"] == {"DELIVERED": 2, "EXPIRED": 1}
    assert report["outcomes"]["Delivered"] == 2 and report["outcomes"]["Expired"] == 1
    assert report["delivery_rate"] == "66.7 %"
    assert report["countries"][0]["country"] == "DK"
    text = app.test_cli_runner().invoke(args=["campaigns", "report", "Tracked"]).output
    assert "delivery rate 66.7 %" in text and "Expired: 1" in text


def test_export_writes_csv_and_xlsx(app, tracked, tmp_path):
    from openpyxl import load_workbook

    runner = app.test_cli_runner()
    csv_file, xlsx_file = tmp_path / "out.csv", tmp_path / "out.xlsx"
    assert (
        runner.invoke(args=["campaigns", "export", "Tracked", "--output", str(csv_file)]).exit_code
        == 0
    )
    lines = csv_file.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 4 and lines[0].startswith("msisdn,country,outcome")
    result = runner.invoke(
        args=["campaigns", "export", "Tracked", "--output", str(xlsx_file), "--format", "xlsx"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(load_workbook(xlsx_file, read_only=True).active.iter_rows())) == 4


def test_an_unknown_name_is_an_error(app):
    result = app.test_cli_runner().invoke(args=["campaigns", "report", "Nope"])
    assert result.exit_code != 0 and "No campaign is called" in result.output


def test_report_compares_the_variants_of_an_ab_test(app, make_user, sandbox):
    from helpers import make_list, preview_and_confirm, report_deliveries

    from webapp.services import campaigns, dispatch

    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER))
        people = make_list(db.session, "People", danish_numbers(20))
        draft = campaigns.CampaignDraft(
            name="Spring",
            sender="Shop",
            message="Hi",
            message_b="Hello",
            list_ids=[people.id],
            variant_shares={"A": 25, "B": 25},
        )
        campaign = campaigns.save_draft(db.session, user, draft)
        preview_and_confirm(db.session, campaign, user, sandbox)
        dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox))
        report_deliveries(db.session, campaign, ["DELIVERED"] * 10)
    result = app.test_cli_runner().invoke(args=["campaigns", "report", "Spring", "--json"])
    test = json.loads(result.stdout)["ab_test"]
    assert [row["group"] for row in test["groups"]] == ["A", "B", "held"]
    assert sum(row["delivered"] for row in test["groups"]) == 10
    assert test["held_back_waiting"] == 10
    text = app.test_cli_runner().invoke(args=["campaigns", "report", "Spring"]).output
    assert "Variant A: 5 recipients, 5 sent" in text
    assert "10 held-back recipients wait for the winner." in text
    assert "p = " in text or "cannot be told apart" in text
