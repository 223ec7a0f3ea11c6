"""gunicorn's access log leaves out what comes by the thousand a second and is recorded anyway
(accepted webhook posts, followed tracked links), and keeps every refused request."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from webapp.access_log import AccessLog


@pytest.mark.parametrize(
    ("path", "status", "logged"),
    [
        ("/webhooks/delivery-reports", 200, False),
        ("/webhooks/delivery-reports", 401, True),
        ("/c/0000010xxxxxxx", 302, False),
        ("/c/unknown", 404, True),
        ("/campaigns/1", 200, True),
        ("/", 302, True),
    ],
)
def test_which_requests_are_logged(monkeypatch, path, status, logged):
    lines = []
    monkeypatch.setattr(Logger, "access", lambda self, *args: lines.append(args))
    AccessLog(Config()).access(
        SimpleNamespace(status_code=status), SimpleNamespace(path=path), {}, 0.001
    )
    assert bool(lines) is logged
