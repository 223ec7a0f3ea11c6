"""`flask campaigns send` run twice, or again after it was killed: the list is sent once; and
`--wait` exits with a code a script can tell apart when the campaign did not fully go out."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from helpers import danish_numbers, make_list
from sqlalchemy import func, select
from test_cli_campaigns import ARGS as CLI_ARGS

from webapp import cli
from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus

ARGS = [*CLI_ARGS, "--yes"]
THREADED = pytest.mark.parametrize("app_config", [{"WORKER": "thread", "SMS_BATCH_SIZE": 7}])


@pytest.fixture
def people(app):
    with app.app_context():
        rows = [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(30))]
        make_list(db.session, "People", rows, fields=["first_name"])


def run(app, *extra):
    return app.test_cli_runner().invoke(args=[*ARGS, *extra])


def outcome(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def campaign_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Campaign))


@THREADED
def test_the_same_send_twice_is_refused(app, people, sandbox, jobs):
    assert run(app, "--wait", "--json").exit_code == 0
    again = run(app, "--wait", "--json")
    assert again.exit_code == 1
    assert "already sent to the same lists" in again.output
    assert "--allow-duplicate" in again.output
    assert sandbox.store.count_received(label="Cli run") == 30
    assert campaign_count(app) == 1  # not even a draft was left behind


@THREADED
def test_allow_duplicate_sends_it_again(app, people, sandbox, jobs):
    assert run(app, "--wait", "--json").exit_code == 0
    again = run(app, "--wait", "--json", "--allow-duplicate")
    assert again.exit_code == 0, again.output
    assert sandbox.store.count_received(label="Cli run") == 60


@THREADED
def test_a_second_call_with_the_idempotency_key_reports_the_first_campaign(
    app, people, sandbox, jobs
):
    first = run(app, "--wait", "--json", "--idempotency-key", "bf-2026")
    again = run(app, "--wait", "--json", "--idempotency-key", "bf-2026", "--allow-duplicate")
    assert again.exit_code == 0, again.output
    assert outcome(again)["campaign_id"] == outcome(first)["campaign_id"]
    assert outcome(again)["existing"] is True and outcome(again)["sent"] == 30
    assert sandbox.store.count_received(label="Cli run") == 30
    assert campaign_count(app) == 1


@pytest.mark.parametrize("app_config", [{"SMS_BATCH_SIZE": 7}])
def test_the_key_after_a_run_killed_right_after_confirming_finishes_the_first(
    app, people, sandbox, jobs
):
    first = run(app, "--json", "--idempotency-key", "k1")  # queued; its job never ran
    assert outcome(first)["status"] == "queued"
    jobs.huey.flush()  # the process died: its queued job is gone
    app.config["WORKER"] = "thread"
    again = run(app, "--wait", "--json", "--idempotency-key", "k1")
    assert again.exit_code == 0, again.output
    assert outcome(again)["campaign_id"] == outcome(first)["campaign_id"]
    assert outcome(again)["status"] == "done"
    assert sandbox.store.count_received(label="Cli run") == 30


@THREADED
def test_wait_exits_4_when_batches_are_unconfirmed(app, people, sandbox, jobs):
    sandbox.config.lost_response_share = 1.0
    result = run(app, "--wait", "--json")
    assert result.exit_code == cli.EXIT_UNCONFIRMED == 4
    assert outcome(result)["unconfirmed"] == 30


@THREADED
def test_wait_exits_5_when_the_campaign_is_paused(app, people, sandbox, jobs):
    # Confirming checks the balance, so the credit runs out after confirmation: the first run
    # queues the campaign without following it, then the credit drops, then the same key
    # follows it to its pause (the second real batch is refused for credit).
    assert run(app, "--json", "--idempotency-key", "pause-test").exit_code == 0
    sandbox.config.credit = Decimal("2.00")
    result = run(app, "--wait", "--json", "--idempotency-key", "pause-test")
    assert result.exit_code == cli.EXIT_PAUSED == 5, result.output
    assert outcome(result)["status"] == "paused"


def test_exit_codes_are_distinct_for_each_way_a_send_can_end():
    class Progress:
        def __init__(self, failed=0, unconfirmed=0):
            self.failed, self.unconfirmed = failed, unconfirmed

    code = cli.send_exit_code
    assert code(CampaignStatus.DONE, Progress()) == 0
    assert code(CampaignStatus.DONE, Progress(failed=3)) == cli.EXIT_FAILED == 3
    assert code(CampaignStatus.DONE, Progress(failed=3, unconfirmed=1)) == 4
    assert code(CampaignStatus.PAUSED, Progress(failed=3)) == 5
    assert code(CampaignStatus.CANCELLED, Progress()) == cli.EXIT_CANCELLED == 6


@THREADED
def test_jobs_run_in_the_process_after_its_consumer_stopped_are_not_stopping(
    app, people, sandbox, jobs
):
    assert run(app, "--wait", "--json").exit_code == 0  # started and stopped the consumer
    assert not jobs.stopping.is_set()
    second = run(app, "--json", "--allow-duplicate")  # queued, run here and now
    assert outcome(second)["status"] == "queued"
    jobs.run_pending()
    assert sandbox.store.count_received(label="Cli run") == 60
