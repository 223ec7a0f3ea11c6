"""How a sandbox behaves and what it counts: SandboxConfig and SandboxStats.

Every part of a running sandbox reads the one SandboxConfig on each request or delivery, so a
test, a benchmark or POST /_sandbox/faults can change it while the sandbox runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from webapp.gateway.pricing import PriceTable

# error and code (hex) a failed delivery report carries
FAILURES = {
    "UNDELIVERABLE": ("Absent subscriber", "0x0101"),
    "EXPIRED": ("Validity period expired", "0x0102"),
    "REJECTED": ("Rejected by the operator", "0x0103"),
}


@dataclass
class SandboxConfig:
    """How the sandbox behaves; the running sandbox reads it on every request, so mutate freely.

    Shares are probabilities from 0 to 1 drawn per request. `timeout_share` makes a request
    wait `hang_seconds` (longer than a client's read timeout) and then process it, as a slow
    gateway would. `lost_response_share` stores the message as sent and then answers 500
    (`lost_response_mode="500"`) or drops the connection (`"drop"`).
    """

    prices: PriceTable = field(default_factory=PriceTable)
    credit: Decimal = Decimal("1000000.00")
    max_connections_per_ip: int = 40
    webhook_secret: str | None = None
    report_delay_seconds: float = 2.0
    report_outcomes: dict[str, float] = field(
        default_factory=lambda: {"DELIVERED": 0.90, "UNDELIVERABLE": 0.06, "EXPIRED": 0.04}
    )
    report_buffered_share: float = 0.2
    report_disorder_share: float = 0.1
    report_retry_delays: tuple[float, ...] = (60, 120, 360, 1440, 7200, 43200)
    report_timeout_seconds: float = 15.0
    report_workers: int = 4
    latency_seconds: float = 0.0
    error_share: float = 0.0
    timeout_share: float = 0.0
    hang_seconds: float = 60.0
    lost_response_share: float = 0.0
    lost_response_mode: str = "drop"
    allowed_ips: list[str] | None = None  # None: any; else others get 403 0x0213
    seed: int | None = None
    # Simulated replies (inbound SMS) from recipients a message was delivered to, posted signed
    # to this webhook a report delay after the delivery; None: nobody replies.
    reply_webhook_url: str | None = None
    reply_stop_share: float = 0.02
    reply_question_share: float = 0.03

    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = (
        "latency_seconds",
        "error_share",
        "timeout_share",
        "hang_seconds",
        "lost_response_share",
        "lost_response_mode",
        "credit",
        "report_delay_seconds",
        "report_outcomes",
        "report_buffered_share",
        "report_disorder_share",
        "allowed_ips",
        "reply_stop_share",
        "reply_question_share",
    )

    def faults(self) -> dict[str, Any]:
        """The settings /_sandbox/faults shows and changes."""
        return {name: getattr(self, name) for name in self.RUNTIME_FIELDS}

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes (from /_sandbox/faults); ValueError names a bad one, and then
        nothing is changed."""
        parsed = {}
        for name, value in changes.items():
            if name not in self.RUNTIME_FIELDS:
                raise ValueError(f"{name!r} cannot be changed; use one of {self.RUNTIME_FIELDS}.")
            parsed[name] = _parse_setting(name, value)
        for name, value in parsed.items():
            setattr(self, name, value)


def _parse_setting(name: str, value: Any) -> Any:
    if name == "allowed_ips":
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(ip, str) for ip in value)
        ):
            raise ValueError("allowed_ips must be a list of IP addresses, or null for any.")
        return value
    if name == "lost_response_mode":
        if value not in ("drop", "500"):
            raise ValueError("lost_response_mode must be 'drop' or '500'.")
        return value
    if name == "credit":
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValueError("credit must be a number.") from None
    if name == "report_outcomes":
        if not isinstance(value, dict) or not value:
            raise ValueError("report_outcomes must map final statuses to weights.")
        for status, weight in value.items():
            if status not in FAILURES and status != "DELIVERED":
                raise ValueError(f"report_outcomes: {status!r} is not a simulated outcome.")
            if not isinstance(weight, int | float | Decimal) or weight < 0:
                raise ValueError("report_outcomes weights must be non-negative numbers.")
        return {status: float(weight) for status, weight in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or value < 0:
        raise ValueError(f"{name} must be a non-negative number.")
    if name.endswith("_share") and value > 1:
        raise ValueError(f"{name} is a share: 0 to 1.")
    return float(value)


class SandboxStats:
    """Requests in flight right now and the most seen at once (to prove a client's pool cap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.requests += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_in_flight = self.in_flight
