"""Money is labelled with the currency the gateway charges in, never a fixed one; a send charged
in another currency than its preview priced in is an error the user sees."""

from __future__ import annotations

import json
import re

import pytest
from helpers import confirmed_campaign_of, danish_numbers, gateway_client, make_list

from webapp.extensions import db
from webapp.gateway.pricing import PriceTable
from webapp.models import Campaign, CampaignStatus
from webapp.services import dispatch
from webapp.services.progress import campaign_progress


def sent_campaign(sender, sandbox, *, dry_run: bool):
    campaign = confirmed_campaign_of(
        db.session, sandbox, name="Euro", count=25, batch_size=10, user=sender, dry_run=dry_run
    )
    outcome = dispatch.dispatch_campaign(
        db.session, campaign.id, gateway_client(sandbox), max_connections=1
    )
    return campaign, outcome


def test_a_dry_run_in_euro_is_previewed_and_sent_in_euro(sender, sandbox):
    sandbox.config.prices = PriceTable(currency="EUR")
    campaign, outcome = sent_campaign(sender, sandbox, dry_run=True)
    assert campaign.currency == "EUR" and outcome == "done"
    progress = campaign_progress(db.session, campaign)
    assert progress.currency == "EUR" and progress.currency_problem is None


def test_a_send_charged_in_another_currency_than_its_preview_pauses_and_says_so(sender, sandbox):
    sandbox.config.prices = PriceTable(currency="EUR")
    campaign, outcome = sent_campaign(sender, sandbox, dry_run=False)  # estimated in DKK
    assert campaign.currency == "DKK" and campaign.cost_is_estimate
    assert outcome == "paused"
    db.session.refresh(campaign)
    assert "charges this campaign in EUR" in campaign.pause_reason
    assert "priced it in DKK" in campaign.pause_reason
    progress = campaign_progress(db.session, campaign)
    assert progress.currency == "EUR"
    assert "The gateway charges in EUR" in progress.currency_problem
    # Resumed by the user: the rest goes out in EUR without stopping again.
    dispatch.resume_campaign(db.session, campaign, sender)
    assert dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox)) == "done"
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DONE


def test_the_campaign_page_labels_the_cost_so_far_in_the_gateways_currency(app, sandbox, login_as):
    client = login_as("sender")
    with app.app_context():
        from webapp.models import User

        user = db.session.scalar(db.select(User))
        sandbox.config.prices = PriceTable(currency="EUR")
        campaign, _ = sent_campaign(user, sandbox, dry_run=False)
        campaign_id = campaign.id
    page = client.get(f"/campaigns/{campaign_id}").text
    # The cost so far is labelled in the currency the gateway charged, not the preview's.
    assert re.search(r"· [0-9.,]+ EUR", page) and not re.search(r"· [0-9.,]+ DKK", page)
    assert "The gateway charges in EUR" in page


@pytest.mark.parametrize("app_config", [{"WORKER": "thread", "SMS_GATEWAY_HONOURS_DRY_RUN": False}])
def test_send_json_prints_the_currency_the_gateway_charged(app, sandbox, jobs):
    from test_cli_campaigns import ARGS

    with app.app_context():
        make_list(
            db.session,
            "People",
            [(n, {"first_name": "A"}) for n in danish_numbers(5)],
            fields=["first_name"],
        )
    sandbox.config.prices = PriceTable(currency="EUR")
    result = app.test_cli_runner().invoke(args=[*ARGS, "--yes", "--wait", "--json"])
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["currency"] == "EUR"
    assert "EUR" in outcome["currency_problem"]
    assert result.exit_code == 5  # paused: the preview said DKK
