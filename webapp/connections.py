"""The app's way out: the gateway client, and the embedded sandbox when no API token is set.

Which gateway is used:
- ``SMS_API_TOKEN`` set: the real gateway at ``SMS_GATEWAY_URL``.
- no token, ``SMS_GATEWAY_URL`` set: a sandbox running elsewhere (``flask sandbox``), which
  accepts ``SANDBOX_API_TOKEN``.
- neither: the sandbox is started in this process on a loopback port, on first use. It serves
  from its own threads, so a single-threaded dashboard calling it never waits on itself.

The sandbox (package `mtsms_sandbox`) is imported only where it is started or its store opened,
so a dashboard with a real token never loads a test server.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from webapp.addresses import reply_webhook_url
from webapp.gateway.client import MtsmsClient

if TYPE_CHECKING:
    from mtsms_sandbox import RunningSandbox, SandboxStore


class GatewayConnection:
    def __init__(self, app: Flask):
        self.app = app
        self.config = app.config
        self.sandbox_path = Path(app.instance_path) / "sandbox.sqlite3"
        self._lock = threading.Lock()
        self._client: MtsmsClient | None = None
        self._sandbox: RunningSandbox | None = None
        self._store: SandboxStore | None = None

    @property
    def sandbox_mode(self) -> bool:
        return self.config["SANDBOX_MODE"]

    def client(self) -> MtsmsClient:
        with self._lock:
            if self._client is None:
                self._client = self._limited(self._connect())
            return self._client

    def _limited(self, client: MtsmsClient):
        """With REDIS_URL, every request also holds a slot of the semaphore all processes
        share, so SMS_MAX_CONNECTIONS is the total across them."""
        if not self.config.get("REDIS_URL"):
            return client
        import redis

        from webapp.connection_limit import ConnectionSemaphore, LimitedClient

        semaphore = ConnectionSemaphore(
            redis.Redis.from_url(self.config["REDIS_URL"]),
            f"{self.config['HUEY_NAME']}:gateway-connections",
            self.config["SMS_MAX_CONNECTIONS"],
        )
        return LimitedClient(client, semaphore)

    def _connect(self) -> MtsmsClient:
        options = {"max_connections": self.config["SMS_MAX_CONNECTIONS"]}
        if not self.sandbox_mode:
            url, token = self.config["SMS_GATEWAY_URL"], self.config["SMS_API_TOKEN"]
            return MtsmsClient(url, token, **options)
        if self.config.get("SMS_GATEWAY_URL"):
            return MtsmsClient(
                self.config["SMS_GATEWAY_URL"], self.config["SANDBOX_API_TOKEN"], **options
            )
        from mtsms_sandbox import SandboxConfig, start_sandbox

        self._sandbox = start_sandbox(
            self.sandbox_path,
            port=self.config["SANDBOX_PORT"],
            token=self.config.get("SANDBOX_API_TOKEN"),
            config=SandboxConfig(
                webhook_secret=self.config.get("WEBHOOK_SECRET"),
                reply_webhook_url=(
                    reply_webhook_url(self.app) if self.config["SANDBOX_REPLIES"] else None
                ),
            ),
        )
        self._store = self._sandbox.store
        return MtsmsClient(self._sandbox.mtsms_url, self._sandbox.token, **options)

    def start_embedded_sandbox(self) -> RunningSandbox | None:
        """Start the embedded sandbox now instead of on first use, for web workers in other
        processes (``flask background``); None when this app uses another gateway."""
        if not self.sandbox_mode or self.config.get("SMS_GATEWAY_URL"):
            return None
        self.client()
        return self._sandbox

    def sandbox_store(self) -> SandboxStore | None:
        """What the sandbox received, for the inbox page (sandbox mode only)."""
        if not self.sandbox_mode:
            return None
        with self._lock:
            if self._store is None:
                from mtsms_sandbox import SandboxStore

                self._store = SandboxStore(self.sandbox_path)
            return self._store

    def use_sandbox(self, sandbox: RunningSandbox) -> None:
        """Point this app at an already running sandbox (tests, benchmarks)."""
        with self._lock:
            self._sandbox = None
            self._store = sandbox.store
            self._client = self._limited(
                MtsmsClient(
                    sandbox.mtsms_url,
                    sandbox.token,
                    max_connections=self.config["SMS_MAX_CONNECTIONS"],
                )
            )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            if self._sandbox is not None:
                self._sandbox.stop()
            self._client = self._sandbox = None


def init_gateway(app: Flask) -> GatewayConnection:
    connection = GatewayConnection(app)
    app.extensions["gateway"] = connection
    return connection
