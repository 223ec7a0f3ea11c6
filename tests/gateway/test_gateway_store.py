"""What the sandbox keeps: it survives a restart, and the inbox shows what each phone got."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests
from helpers import gateway_client, send_one_sms_then_interrupt

from mtsms_sandbox import start_sandbox
from webapp.gateway import Recipient, SmsMessage

DK = "4520123456"
SE = "46701234567"


def send(sandbox, text, *msisdns, **fields):
    body = {
        "token": sandbox.token,
        "message": text,
        "recipients": [{"msisdn": m} for m in msisdns],
        **fields,
    }
    response = requests.post(sandbox.mtsms_url, json=body, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["ids"][0]


def test_what_was_received_survives_a_restart(tmp_path, sandbox_config, poll):
    storage = tmp_path / "sandbox.sqlite3"
    first = start_sandbox(storage, token="restart-token", config=sandbox_config)
    message_id = send(first, "Before the restart", DK, SE, label="Spring sale")
    poll(lambda: first.store.message(message_id)["recipients"][0]["status"] != "ENROUTE")
    first.stop()

    second = start_sandbox(storage, token="restart-token", config=sandbox_config)
    try:
        assert second.store.count_received(label="Spring sale") == 2
        assert gateway_client(second).status(message_id)["message"] == "Before the restart"
        assert send(second, "After", DK) == message_id + 1
        assert second.store.spent() == sandbox_config.prices.price_for("DK") * 2 + (
            sandbox_config.prices.price_for("SE")
        )
    finally:
        second.stop()


def test_a_scheduled_message_goes_out_after_a_restart(tmp_path, sandbox_config, poll):
    storage = tmp_path / "sandbox.sqlite3"
    first = start_sandbox(storage, token="restart-token", config=sandbox_config)
    message_id = send(first, "Later", DK, sendtime=int(time.time()) + 1)
    first.stop()

    second = start_sandbox(storage, token="restart-token", config=sandbox_config)
    try:
        delivered = poll(lambda: second.store.inbox(msisdn=DK), timeout=5)
        assert delivered[0]["message_id"] == message_id
    finally:
        second.stop()


def test_the_inbox_shows_each_numbers_latest_message_newest_first(sandbox):
    send(sandbox, "First to both", DK, SE)
    send(sandbox, "Second to DK", DK)

    inbox = sandbox.store.inbox()

    assert [(row["msisdn"], row["text"], row["message_count"]) for row in inbox] == [
        (DK, "Second to DK", 2),
        (SE, "First to both", 1),
    ]
    assert inbox[0]["sent_at"].tzinfo is not None


def test_the_inbox_of_one_number_lists_its_messages_newest_first(sandbox):
    requests.post(
        sandbox.mtsms_url,
        json={
            "token": sandbox.token,
            "message": "Hi %name%",
            "sender": "Shop",
            "tags": ["%name%"],
            "recipients": [{"msisdn": DK, "tagvalues": ["Ann"]}],
        },
        timeout=5,
    )
    send(sandbox, "Sale today", DK, SE)

    inbox = sandbox.store.inbox(msisdn=DK)

    assert [(row["text"], row["sender"]) for row in inbox] == [
        ("Sale today", None),
        ("Hi Ann", "Shop"),
    ]


def test_the_inbox_search_matches_text_or_number(sandbox):
    send(sandbox, "Spring sale 20%", DK)
    send(sandbox, "Opening hours", SE)

    assert [row["msisdn"] for row in sandbox.store.inbox(search="20%")] == [DK]
    assert [row["msisdn"] for row in sandbox.store.inbox(search="4670")] == [SE]
    assert sandbox.store.inbox(search="_") == []


def test_the_inbox_leaves_out_messages_not_sent_yet(sandbox):
    send(sandbox, "Next year", DK, sendtime=int(time.time()) + 3600)

    assert sandbox.store.inbox() == []
    assert sandbox.store.count_received() == 1


def test_received_for_a_label_counts_each_recipient_once(sandbox):
    client = gateway_client(sandbox)
    batches = [[str(4520000000 + i) for i in range(start, start + 5)] for start in (0, 5)]
    for numbers in batches:
        client.send(SmsMessage("Hi", [Recipient(n) for n in numbers], label="Campaign 7"))
    send(sandbox, "Other", DK, label="Campaign 8")

    received = sandbox.store.received_for(label="Campaign 7")

    assert len(received) == sandbox.store.count_received(label="Campaign 7") == 10
    assert len({r["msisdn"] for r in received}) == 10
    assert sandbox.store.count_received(msisdn=DK) == 1


def test_a_hundred_thousand_recipients_in_ten_batches_are_all_kept(sandbox):
    client = gateway_client(sandbox)
    for batch in range(10):
        recipients = [Recipient(str(4520000000 + batch * 10_000 + i)) for i in range(10_000)]
        client.send(SmsMessage("Hello", recipients, label="Big"))

    assert sandbox.store.count_received(label="Big") == 100_000


def test_serve_sandbox_runs_in_the_foreground_until_interrupted(tmp_path):
    """What `flask sandbox --port N --token T` runs: announce the URL, serve, stop on Ctrl-C."""
    script = (
        "import sys; from mtsms_sandbox import serve_sandbox; "
        "serve_sandbox(sys.argv[1], token='cli-token')"
    )
    output = send_one_sms_then_interrupt(
        [sys.executable, "-u", "-c", script, str(tmp_path / "cli.sqlite3")],
        "cli-token",
        cwd=Path(__file__).resolve().parents[2],
    )

    assert "cli-token" not in output  # a token the operator chose is not echoed
