"""`flask optouts` and `flask webhooks`: the same services as the pages."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ConsentAction, ConsentEvent, ConsentSource, OptOut
from webapp.services import optouts


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_add_list_and_remove_go_through_the_consent_record(app):
    added = run(app, "optouts", "add", "20 12 34 56", "+46701234567", "nope", "--note", "phoned")
    assert added.exit_code == 1  # one number was not understood
    assert "2 added, 0 already on the list, 1 invalid." in added.stdout
    assert "nope: not a phone number" in added.stderr

    listed = run(app, "optouts", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["msisdn"] for r in rows) == ["4520123456", "46701234567"]
    assert {r["how"] for r in rows} == {"admin"} and rows[0]["note"] == "phoned"
    assert "+4520123456" in run(app, "optouts", "list").stdout

    removed = run(app, "optouts", "remove", "20123456", "21345678")
    assert removed.exit_code == 0 and "1 removed, 1 not on the list, 0 invalid." in removed.stdout
    with app.app_context():
        assert list(db.session.scalars(select(OptOut.msisdn))) == ["46701234567"]
        events = [
            (e.msisdn, e.action, e.source)
            for e in db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        ]
    assert events[-1] == ("4520123456", ConsentAction.OPT_IN, ConsentSource.ADMIN)
    assert len(events) == 3


def test_list_names_the_campaign_a_reply_opted_out_from(app):
    from webapp.models import Campaign

    with app.app_context():
        campaign = Campaign(name="Spring", sender="Shop")
        db.session.add(campaign)
        db.session.flush()
        optouts.record_consent(
            db.session,
            "4520123456",
            ConsentAction.OPT_OUT,
            ConsentSource.REPLY,
            campaign_id=campaign.id,
        )
        db.session.commit()
    assert "+4520123456" in (line := run(app, "optouts", "list").stdout)
    assert "reply  campaign 'Spring'" in line


@pytest.mark.parametrize("app_config", [{"PUBLIC_URL": "https://shop.example/"}])
def test_webhook_urls_are_printed_on_the_public_address(app):
    result = run(app, "webhooks", "urls")
    assert "Delivery reports: https://shop.example/webhooks/delivery-reports\n" in result.stdout
    assert "Replies (inbound): https://shop.example/webhooks/replies\n" in result.stdout


def test_webhook_urls_without_a_public_address_say_what_is_missing(app):
    result = run(app, "webhooks", "urls")
    assert result.exit_code == 0 and "PUBLIC_URL is not set" in result.stderr
    assert "<PUBLIC_URL>/webhooks/replies" in result.stdout
