"""The operator's command line: the same services as the pages."""

from __future__ import annotations

import json

import pytest
from helpers import danish_numbers, make_list

from webapp.extensions import db


@pytest.fixture
def people(app):
    with app.app_context():
        rows = [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(30))]
        make_list(db.session, "People", rows, fields=["first_name"])


ARGS = [
    "campaigns",
    "send",
    "--name",
    "Cli run",
    "--sender",
    "Shop",
    "--list",
    "People",
    "--message",
    "Hi %first_name%",
]


@pytest.mark.parametrize("app_config", [{"WORKER": "thread", "SMS_BATCH_SIZE": 7}])
def test_send_waits_and_reports_json(app, people, sandbox, jobs):
    result = app.test_cli_runner().invoke(args=[*ARGS, "--yes", "--wait", "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "done"
    assert outcome["recipients"] == 30 and outcome["batches"] == 5
    assert (outcome["sent"], outcome["failed"], outcome["unconfirmed"]) == (30, 0, 0)
    assert outcome["segments"] == 30 and outcome["cost"] == "4.50"
    assert sandbox.store.count_received(label="Cli run") == 30


def test_send_without_yes_asks_and_keeps_the_draft(app, people, sandbox):
    result = app.test_cli_runner().invoke(args=ARGS, input="n\n")
    assert result.exit_code != 0
    assert "30 recipients, 30 segments, 4.50 DKK, 1 batches." in result.output
    assert "the draft 'Cli run' was kept" in result.output
    assert sandbox.store.count_received() == 0


def test_send_queues_for_a_worker(app, people, sandbox, jobs):
    result = app.test_cli_runner().invoke(args=[*ARGS, "--yes", "--json"])
    assert json.loads(result.stdout)["status"] == "queued"
    jobs.run_pending()
    assert sandbox.store.count_received(label="Cli run") == 30


def test_unknown_list_is_a_clear_error(app, sandbox):
    result = app.test_cli_runner().invoke(args=[*ARGS, "--yes"])
    assert result.exit_code != 0
    assert "No list is called 'People'." in result.output
