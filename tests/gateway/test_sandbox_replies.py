"""Simulated replies: some STOP, some questions, repeatable with a seed, shaped like the
gateway's inbound webhook."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers import danish_numbers

from mtsms_sandbox.replies import QUESTIONS, ReplySimulation, choose_replies


def test_some_recipients_answer_stop_some_ask_and_the_rest_stay_silent():
    simulation = ReplySimulation(stop_share=0.3, question_share=0.3, seed=3)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    replies = choose_replies(danish_numbers(100), simulation, first_id=500, now=now)
    stops = [r for r in replies if r["message"].strip(".").upper() in ("STOP", "AFMELD")]
    questions = [r for r in replies if r["message"] in QUESTIONS]
    assert 15 < len(stops) < 45 and 15 < len(questions) < 45
    assert len(stops) + len(questions) == len(replies) < 100
    assert [r["id"] for r in replies] == list(range(500, 500 + len(replies)))
    assert set(replies[0]) == {"id", "msisdn", "receiver", "message", "senttime", "webhook_label"}
    assert choose_replies(danish_numbers(100), simulation, first_id=500, now=now) == replies
