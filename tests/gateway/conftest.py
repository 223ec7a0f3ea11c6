"""Fixtures for the gateway tests: a sandbox on a free loopback port, a report receiver, polling."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import helpers
import pytest

from mtsms_sandbox import RunningSandbox, SandboxConfig, start_sandbox


def poll_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Return the first truthy value of `condition()`, polling until `timeout` seconds pass."""
    return helpers.poll(condition, timeout=timeout, every=interval)


def fast_config(**overrides: Any) -> SandboxConfig:
    """A sandbox configuration with tiny delays and a fixed random seed."""
    settings: dict[str, Any] = {
        "report_delay_seconds": 0.0,
        "report_retry_delays": (0.05, 0.05),
        "report_timeout_seconds": 2.0,
        "seed": 6,
    }
    settings.update(overrides)
    return SandboxConfig(**settings)


@pytest.fixture
def poll() -> Callable[..., Any]:
    """`poll(condition, timeout=5.0)`: wait for a truthy condition without fixed sleeps."""
    return poll_until


@pytest.fixture
def sandbox_token() -> str:
    """The token the sandbox accepts; override in a module that needs it at collection time."""
    return "sandbox-test-token-0123456789abcdef"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module (or mutate) to change the sandbox's behaviour."""
    return fast_config()


@pytest.fixture
def sandbox(tmp_path, sandbox_config, sandbox_token) -> Iterator[RunningSandbox]:
    """The sandbox gateway over real HTTP on a free loopback port, storing in tmp_path."""
    running = start_sandbox(
        tmp_path / "sandbox.sqlite3", token=sandbox_token, config=sandbox_config
    )
    yield running
    running.stop()


class ReportReceiver:
    """What a tiny webhook server received: each delivery report with its signature header."""

    def __init__(self) -> None:
        self.reports: list[tuple[dict[str, Any], str | None]] = []
        self.refuse_next = 0  # answer this many posts with 503, to exercise retries
        self.condition = threading.Condition()
        self.url = ""

    def record(self, report: dict[str, Any], signature: str | None) -> bool:
        with self.condition:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                return False
            self.reports.append((report, signature))
            self.condition.notify_all()
            return True

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, Any], str | None]]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.reports) >= count, timeout):
                raise AssertionError(f"{len(self.reports)} reports arrived, expected {count}")
            return list(self.reports)


@pytest.fixture
def receiver() -> Iterator[ReportReceiver]:
    """A webhook endpoint on loopback that records the delivery reports posted to it."""
    received = ReportReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            report = json.loads(self.rfile.read(length))
            accepted = received.record(report, self.headers.get("X-Gwapi-Signature"))
            self.send_response(204 if accepted else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output to what matters

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/delivery"
    yield received
    server.shutdown()
    server.server_close()
    thread.join()
