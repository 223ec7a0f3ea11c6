"""The gateway's connection limit across every process: a Redis-backed semaphore.

``SMS_MAX_CONNECTIONS`` caps each process's connection pool; with ``REDIS_URL`` set it is also
the total across all processes sharing that Redis. Each request to the gateway holds a slot: a
member of a sorted set scored with its lease's expiry, so the slot of a holder that died (a
SIGKILLed worker) frees itself when the lease runs out instead of being lost for good.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager

LEASE_SECONDS = 60.0  # longer than a request's connect and read timeouts (5 s + 30 s)
POLL_SECONDS = 0.02

# Drop expired slots, then take one if fewer than the limit are held: atomically, in Redis.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


class ConnectionSemaphore:
    """At most ``limit`` holders at once among every process using ``key`` on this Redis."""

    def __init__(
        self,
        redis_client,
        key: str,
        limit: int,
        *,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self.redis = redis_client
        self.key = key
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._acquire = redis_client.register_script(_ACQUIRE)

    def try_acquire(self) -> str | None:
        """A slot's token, or None when every slot is held."""
        token = uuid.uuid4().hex
        now = self.clock()
        taken = self._acquire(
            keys=[self.key],
            args=[now, self.limit, now + self.lease_seconds, token, int(self.lease_seconds * 2000)],
        )
        return token if taken == 1 else None

    def release(self, token: str) -> None:
        self.redis.zrem(self.key, token)

    @contextmanager
    def slot(self, stop: threading.Event | None = None):
        """Hold a slot for the block, waiting (polling) until one is free."""
        token = self.try_acquire()
        while token is None:
            (stop or threading.Event()).wait(POLL_SECONDS)
            token = self.try_acquire()
        try:
            yield
        finally:
            self.release(token)

    def held(self) -> int:
        self.redis.zremrangebyscore(self.key, "-inf", self.clock())
        return self.redis.zcard(self.key)


class LimitedClient:
    """A gateway client whose every request holds a slot of a shared ConnectionSemaphore."""

    def __init__(self, client, semaphore: ConnectionSemaphore):
        self._client = client
        self.semaphore = semaphore

    def send(self, *args, **kwargs):
        with self.semaphore.slot():
            return self._client.send(*args, **kwargs)

    def balance(self):
        with self.semaphore.slot():
            return self._client.balance()

    def status(self, message_id: int):
        with self.semaphore.slot():
            return self._client.status(message_id)

    def close(self) -> None:
        self._client.close()

    def __getattr__(self, name: str):
        return getattr(self._client, name)
