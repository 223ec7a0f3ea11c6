"""The delivery-report simulator: what happens to a message after the sandbox accepted it.

Scheduled messages go out at their sendtime; each recipient then reaches a final status drawn
from SandboxConfig.report_outcomes, and, for an SMS with a callback_url, signed reports are
posted as the contract describes them: sometimes BUFFERED first, sometimes repeated or out of
order, retried on failure with the gateway's delays. Nothing here runs on a request thread.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests

from mtsms_sandbox.config import FAILURES, SandboxConfig
from mtsms_sandbox.replies import ReplySimulation, choose_replies
from mtsms_sandbox.store import SCHEDULED, SandboxStore, StatusChange
from webapp.gateway.numbers import calling_code_of
from webapp.gateway.reports import SIGNATURE_HEADER, is_final, sign_delivery_report

logger = logging.getLogger(__name__)

# a report's charge_status: CAPTURED after these statuses, AUTHORIZED before and otherwise
CHARGE_STATUS = {"DELIVERED": "CAPTURED", "UNDELIVERABLE": "CAPTURED", "EXPIRED": "CAPTURED"}


REPLY_IDS_PER_MESSAGE = 100_000  # more than the recipients one message can have


class DeliverySimulator:
    """Moves accepted messages through their statuses and posts delivery reports.

    One scheduler thread keeps a heap of due actions (a scheduled message going out, a
    message's final statuses, a report's retry); reports are posted by a thread pool, so no
    request ever waits on a callback URL.
    """

    def __init__(
        self, store: SandboxStore, config: SandboxConfig, stopping: threading.Event
    ) -> None:
        self._store = store
        self._config = config
        self._stopping = stopping
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._random = random.Random(config.seed)
        self._random_lock = threading.Lock()
        self._sessions = threading.local()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.report_workers), thread_name_prefix="sandbox-reports"
        )
        self._thread = threading.Thread(target=self._run, name="sandbox-deliveries", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._resume()

    def stop(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._thread.join(timeout=2)

    def accepted(self, message_id: int, sendtime: int | None, now: float) -> None:
        """Plan a just-stored message: out at its sendtime, final statuses a delay later."""
        if sendtime is not None and sendtime > now:
            self._at(sendtime, lambda: self._send_due(message_id))
        else:
            self._at(now + self._config.report_delay_seconds, lambda: self._finish(message_id))

    def _resume(self) -> None:
        now = time.time()
        for message in self._store.pending():
            message_id = message["id"]
            if self._store.recipients_of(message_id, [SCHEDULED]):
                self._at(
                    max(now, message["sendtime"] or now), lambda m=message_id: self._send_due(m)
                )
            else:
                delay = self._config.report_delay_seconds
                self._at(now + delay, lambda m=message_id: self._finish(m))

    def _at(self, due: float, action: Callable[[], None]) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (due, next(self._order), action))
            self._wakeup.notify()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._wakeup:
                if not self._heap:
                    self._wakeup.wait(timeout=1.0)
                    continue
                due, _, action = self._heap[0]
                wait = due - time.time()
                if wait > 0:
                    self._wakeup.wait(timeout=min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
            try:
                action()
            except RuntimeError as error:
                if "interpreter shutdown" in str(error):
                    return  # the process is exiting: its thread pools take no more work
                logger.exception("Sandbox delivery step failed")
            except Exception:  # one bad action must not stop deliveries of every other message
                if self._stopping.is_set():
                    return
                logger.exception("Sandbox delivery step failed")

    def _send_due(self, message_id: int) -> None:
        if self._store.mark_sent(message_id):
            self._at(
                time.time() + self._config.report_delay_seconds, lambda: self._finish(message_id)
            )

    def _finish(self, message_id: int) -> None:
        message = self._store.message(message_id)
        if message is None:
            return
        now = time.time()
        changes: list[StatusChange] = []
        reports: list[list[dict[str, Any]]] = []
        for recipient in message["recipients"]:
            if recipient["status"] == SCHEDULED or is_final(recipient["status"]):
                continue
            final_status, sequence = self._plan(recipient["sent_at"] or now, now)
            error, code = FAILURES.get(final_status, (None, None))
            changes.append(StatusChange(recipient["msisdn"], final_status, now, error, code))
            if message["callback_url"]:
                reports.append(
                    [delivery_report(message, recipient, status, at) for status, at in sequence]
                )
        self._store.record_statuses(message_id, changes)
        for start in range(0, len(reports), 100):
            chunk = reports[start : start + 100]
            self._pool.submit(self._post_chunk, message["callback_url"], chunk)
        self._plan_replies(message_id, [c.msisdn for c in changes if c.status == "DELIVERED"])

    def _plan_replies(self, message_id: int, delivered: list[str]) -> None:
        """Some recipients who got the message answer it (STOP, or a question) a little later."""
        url = self._config.reply_webhook_url
        if not url or not delivered:
            return
        simulation = ReplySimulation(
            stop_share=self._config.reply_stop_share,
            question_share=self._config.reply_question_share,
            seed=None if self._config.seed is None else self._config.seed + message_id,
        )
        # Unique per gateway, as the contract's reply ids are: the message's id, then a count.
        replies = choose_replies(delivered, simulation, first_id=message_id * REPLY_IDS_PER_MESSAGE)
        if replies:
            self._at(
                time.time() + self._config.report_delay_seconds,
                lambda: self._pool.submit(self._post_chunk, url, [replies]),
            )

    def _plan(self, sent_at: float, now: float) -> tuple[str, list[tuple[str, float]]]:
        """The final outcome, and the reports: ENROUTE, sometimes BUFFERED, the outcome;
        sometimes the outcome again, or an earlier status arriving after it."""
        config = self._config
        with self._random_lock:
            outcomes = config.report_outcomes
            final = self._random.choices(list(outcomes), weights=list(outcomes.values()))[0]
            sequence = [("ENROUTE", sent_at)]
            if self._random.random() < config.report_buffered_share:
                sequence.append(("BUFFERED", (sent_at + now) / 2))
            sequence.append((final, now))
            if self._random.random() < config.report_disorder_share:
                if self._random.random() < 0.5:
                    sequence.append((final, now))  # the same report again
                else:
                    sequence.append(sequence[-2])  # an earlier status arriving late
        return final, sequence

    def _post_chunk(self, url: str, chunk: list[list[dict[str, Any]]]) -> None:
        for sequence in chunk:
            for report in sequence:
                if self._stopping.is_set():
                    return
                self._post(url, report, attempt=0)

    def _post(self, url: str, report: dict[str, Any], attempt: int) -> None:
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        headers = {"Content-Type": "application/json"}
        secret = self._config.webhook_secret
        if secret:
            headers[SIGNATURE_HEADER] = sign_delivery_report(report, secret)
        try:
            response = session.post(
                url,
                data=json.dumps(report),
                headers=headers,
                timeout=self._config.report_timeout_seconds,
            )
            outcome = f"HTTP {response.status_code}"
            delivered = 200 <= response.status_code < 300
            response.close()
        except requests.RequestException as error:
            outcome, delivered = type(error).__name__, False
        if delivered:
            return
        delays = self._config.report_retry_delays
        if attempt < len(delays) and not self._stopping.is_set():
            logger.info(
                "Webhook post (id %s) to %s failed (%s); retry in %s s",
                report["id"], urlsplit(url).netloc, outcome, delays[attempt],
            )  # fmt: skip
            self._at(
                time.time() + delays[attempt],
                lambda: self._pool.submit(self._post, url, report, attempt + 1),
            )
        else:
            logger.warning("Webhook post (id %s) dropped after %s tries", report["id"], attempt + 1)


def delivery_report(
    message: dict[str, Any], recipient: dict[str, Any], status: str, at: float
) -> dict[str, Any]:
    error, code = FAILURES.get(status, (None, None))
    return {
        "id": message["id"],
        "msisdn": int(recipient["msisdn"]),
        "time": int(at),
        "status": status,
        "error": error,
        "code": code,
        "userref": message["userref"],
        "country_code": recipient["country"],
        "country_prefix": calling_code_of(recipient["msisdn"]),
        "charge_status": CHARGE_STATUS.get(status, "AUTHORIZED"),
    }
