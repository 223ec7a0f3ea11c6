"""A local, faithful fake of the gateway's mtsms API: a real HTTP server for demos and tests.

It is not part of the dashboard's client: `webapp` imports it only where it starts the embedded
sandbox, so a start with a real gateway token never loads it. It may use `webapp.sms` and the
gateway's pure rules (numbers, pricing, report signing); nothing else of `webapp`.
"""

from mtsms_sandbox.store import NewMessage, SandboxStore
from mtsms_sandbox.wsgi import (
    RunningSandbox,
    SandboxConfig,
    SandboxStats,
    serve_sandbox,
    start_sandbox,
)

__all__ = [
    "NewMessage",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxStats",
    "SandboxStore",
    "serve_sandbox",
    "start_sandbox",
]
