"""Simulated replies for the sandbox gateway: a few recipients answer STOP, some ask a question,
and each reply is posted to the dashboard's inbound webhook signed as the real gateway signs.

This module stands alone so the sandbox (wherever it lives) can call one hook:

    simulate_replies(msisdns, url=<the dashboard's inbound webhook>, secret=<webhook secret>,
                     simulation=ReplySimulation(...), first_id=<next reply id>)

after it has delivered a message, with the numbers it delivered to. Without the hook wired,
tests and operators can call it themselves: the loop still runs with no gateway account.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report

QUESTIONS = (
    "When do you open on Saturday?",
    "Is the offer valid online too?",
    "Can I get this in another size?",
)
STOP_ANSWERS = ("STOP", "Stop", "stop.", "AFMELD")


@dataclass
class ReplySimulation:
    """How often simulated recipients reply: ``stop_share`` answer STOP, ``question_share``
    ask a question (the rest stay silent); ``seed`` makes the choice repeatable."""

    stop_share: float = 0.1
    question_share: float = 0.1
    seed: int | None = None
    receiver: int = 451204  # the number or short code the recipients write to


def choose_replies(
    msisdns: Iterable[str],
    simulation: ReplySimulation,
    *,
    first_id: int,
    now: datetime | None = None,
) -> list[dict]:
    """The replies the simulated recipients send, as the gateway's inbound webhook posts them."""
    rng = random.Random(simulation.seed)
    senttime = int((now or datetime.now(UTC)).timestamp())
    replies = []
    for msisdn in msisdns:
        draw = rng.random()
        if draw < simulation.stop_share:
            text = rng.choice(STOP_ANSWERS)
        elif draw < simulation.stop_share + simulation.question_share:
            text = rng.choice(QUESTIONS)
        else:
            continue
        replies.append(
            {
                "id": first_id + len(replies),
                "msisdn": int(msisdn),
                "receiver": simulation.receiver,
                "message": text,
                "senttime": senttime,
                "webhook_label": "replies",
            }
        )
    return replies


def post_reply(url: str, reply: dict, secret: str | None, *, timeout: float = 10.0) -> int:
    """Post one reply to the inbound webhook, signed when a secret is set; the HTTP status."""
    headers = {SIGNATURE_HEADER: sign_delivery_report(reply, secret)} if secret else {}
    return requests.post(url, json=reply, headers=headers, timeout=timeout).status_code


def simulate_replies(
    msisdns: Iterable[str],
    *,
    url: str,
    secret: str | None,
    simulation: ReplySimulation,
    first_id: int,
) -> list[dict]:
    """The hook: choose who replies among ``msisdns`` and post each reply; returns them."""
    replies = choose_replies(msisdns, simulation, first_id=first_id)
    for reply in replies:
        post_reply(url, reply, secret)
    return replies
