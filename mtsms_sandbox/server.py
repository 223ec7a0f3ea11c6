"""The sandbox as a running server: werkzeug's threaded server on its own loopback port.

It serves from daemon threads, so a dashboard served single-threaded that calls it over HTTP
never waits on itself; it counts open connections per client IP to enforce the contract's limit
of 40 (the 41st is answered 429 and closed), and keeps tokens out of its log lines.
start_sandbox runs it in the background, serve_sandbox in the foreground (`flask sandbox`).
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from mtsms_sandbox.config import SandboxConfig, SandboxStats
from mtsms_sandbox.deliveries import DeliverySimulator
from mtsms_sandbox.store import SandboxStore
from mtsms_sandbox.wsgi import OVER_LIMIT_KEY, SandboxApp

logger = logging.getLogger(__name__)


class ConnectionTracker:
    """Open connections per client IP, to enforce the contract's 40-connection limit."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._per_ip: dict[str, int] = {}
        self._open: dict[socket.socket, tuple[str, bool]] = {}

    def opened(self, connection: socket.socket, ip: str) -> None:
        with self._lock:
            count = self._per_ip.get(ip, 0) + 1
            self._per_ip[ip] = count
            self._open[connection] = (ip, count > self._config.max_connections_per_ip)

    def closed(self, connection: socket.socket) -> None:
        with self._lock:
            entry = self._open.pop(connection, None)
            if entry is None:
                return
            ip = entry[0]
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]

    def over_limit(self, connection: socket.socket) -> bool:
        with self._lock:
            entry = self._open.get(connection)
        return bool(entry and entry[1])

    def close_all(self) -> None:
        """Shut every open connection, so no handler thread outlives the server."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError as error:  # closed by its handler meanwhile: nothing left to do
                logger.debug("Closing a sandbox connection: %s", error)


_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])token=)[^&\s\"]*")


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, marking over-limit connections and logging without tokens."""

    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[OVER_LIMIT_KEY] = self.server.tracker.over_limit(self.connection)
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "")).path
        logger.debug(
            '%s "%s %s" %s', self.address_string(), getattr(self, "command", "-"), path, code
        )

    def log(self, type: str, message: str, *args: Any) -> None:
        text = message % args if args else message
        level = logging.ERROR if type == "error" else logging.INFO
        logger.log(level, "%s", _TOKEN_IN_QUERY.sub(r"\1[redacted]", text))


class SandboxServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, counting open connections per client IP."""

    def __init__(
        self, listener: socket.socket, app: SandboxApp, tracker: ConnectionTracker
    ) -> None:
        self.tracker = tracker
        host, port = listener.getsockname()[:2]
        super().__init__(host, port, app, handler=RequestHandler, fd=listener.fileno())

    def process_request(self, request: Any, client_address: Any) -> None:
        self.tracker.opened(request, client_address[0])
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.tracker.closed(request)
        super().shutdown_request(request)

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.INFO
        logger.log(level, message, *args)


class RunningSandbox:
    """A sandbox serving in a daemon thread: its URLs, token, store, config, and stop()."""

    def __init__(
        self,
        *,
        server: SandboxServer,
        thread: threading.Thread,
        app: SandboxApp,
        deliveries: DeliverySimulator,
        stopping: threading.Event,
        token: str,
    ) -> None:
        host, port = server.server_address[:2]
        shown_host = f"[{host}]" if ":" in host else host
        self.host = host
        self.port = port
        self.url = f"http://{shown_host}:{port}"
        self.mtsms_url = f"{self.url}/rest/mtsms"
        self.token = token
        self.store = app.store
        self.config = app.config
        self.stats = app.stats
        self._server = server
        self._thread = thread
        self._deliveries = deliveries
        self._stopping = stopping
        self._tracker = server.tracker

    def __repr__(self) -> str:
        return f"RunningSandbox(url={self.url!r}, storage={str(self.store.path)!r})"

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server stops (or `timeout` passes)."""
        self._thread.join(timeout)

    def _wake_accept_loop(self) -> None:
        # The accept loop notices shutdown at its next poll; a connection wakes it at once.
        try:
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError as error:  # not accepting any more: it is stopping anyway
            logger.debug("Waking the sandbox's accept loop: %s", error)

    def stop(self) -> None:
        """Stop serving, close open connections and background threads, close the store."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        stopper = threading.Thread(target=self._server.shutdown, name="sandbox-stop")
        stopper.start()
        self._wake_accept_loop()
        stopper.join()
        self._server.server_close()
        self._tracker.close_all()
        self._deliveries.stop()
        self._thread.join(timeout=2)
        self.store.close()


def start_sandbox(
    storage_path: str | Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    secret: str | None = None,
    config: SandboxConfig | None = None,
) -> RunningSandbox:
    """Start the sandbox on `host:port` (0: a free port) in a daemon thread and return it.

    `token` is the one API token it accepts (generated when None: read it from the result);
    `secret` is the OAuth 1.0a consumer secret (default: the token). Raises OSError when the
    port is taken.
    """
    token = token or secrets.token_urlsafe(32)
    config = config or SandboxConfig()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=128)
    store = SandboxStore(storage_path)
    stopping = threading.Event()
    stats = SandboxStats()
    deliveries = DeliverySimulator(store, config, stopping)
    app = SandboxApp(store, config, token, secret or token, stats, deliveries, stopping)
    try:
        server = SandboxServer(listener, app, ConnectionTracker(config))
    finally:
        listener.close()  # the server works on its own duplicate of the socket
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="sandbox-server",
        daemon=True,
    )
    thread.start()
    deliveries.start()
    running = RunningSandbox(
        server=server, thread=thread, app=app, deliveries=deliveries, stopping=stopping, token=token
    )
    logger.info("Sandbox gateway serving %s (storage %s)", running.mtsms_url, store.path)
    return running


def serve_sandbox(
    storage_path: str | Any, *, announce: Callable[[str], None] = print, **options: Any
) -> None:
    """Run the sandbox in the foreground until Ctrl-C (for `flask sandbox --port N --token T`).

    `options` are start_sandbox's. `announce` gets the URL to point SMS_GATEWAY_URL at, and the
    token when it was generated here (the operator needs it; a token passed in is not repeated).
    """
    running = start_sandbox(storage_path, **options)
    announce(f"Sandbox mtsms gateway: {running.mtsms_url} (also /sms/mtsms, /v2/mtsms/)")
    if options.get("token") is None:
        announce(f"Generated API token: {running.token}")
    try:
        while running.running:
            running.wait(timeout=0.5)
    except KeyboardInterrupt:
        announce("Stopping the sandbox.")
    finally:
        running.stop()
