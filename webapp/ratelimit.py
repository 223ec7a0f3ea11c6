"""Per-address limits on public pages (the opt-out link page), with the `limits` library.

Counts live in Redis when ``REDIS_URL`` is set, so every process shares them; otherwise in this
process's memory. Sign-in attempts are limited in the database instead (`services.accounts`).
"""

from __future__ import annotations

import limits
from flask import Flask
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, app: Flask):
        uri = app.config.get("REDIS_URL") or "memory://"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))
        self._prefix = app.config["HUEY_NAME"]  # keeps apps sharing one Redis apart

    def hit(self, limit: str, *identifiers: str) -> bool:
        """Count one request against ``limit`` (e.g. ``20 per minute``); False when over it."""
        return self._limiter.hit(limits.parse(limit), self._prefix, *identifiers)


def init_rate_limits(app: Flask) -> RateLimiter:
    limiter = RateLimiter(app)
    app.extensions["rate_limiter"] = limiter
    return limiter
