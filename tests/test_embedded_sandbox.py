"""The embedded default: no token configured, the app starts its own sandbox and talks to it
over real HTTP, even when the dashboard is served by a single-threaded server."""

from __future__ import annotations

import re
import threading

import requests
from helpers import PASSWORD, danish_numbers, make_list
from werkzeug.serving import make_server

from webapp.extensions import db
from webapp.models import Role


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_single_threaded_dashboard_previews_against_its_own_sandbox(app, make_user, tmp_path):
    make_user(Role.SENDER, "sara@example.com")
    with app.app_context():
        people = make_list(db.session, "People", danish_numbers(3)).id
    server = make_server("127.0.0.1", 0, app, threaded=False)  # one request at a time
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        browser = requests.Session()
        login = browser.get(base + "/login", timeout=10)
        browser.post(
            base + "/login",
            data={
                "email": "sara@example.com",
                "password": PASSWORD,
                "csrf_token": csrf_of(login.text),
            },
            timeout=10,
        )
        compose = browser.get(base + "/campaigns/new", timeout=10)
        preview = browser.post(
            base + "/campaigns/new",
            data={
                "csrf_token": csrf_of(compose.text),
                "name": "Embedded",
                "sender": "Shop",
                "message": "Hello",
                "list_ids": [people],
                "encoding": "auto",
                "action": "preview",
            },
            timeout=20,
        )
        assert preview.url.endswith("/preview"), preview.text[:500]
        assert "priced by the gateway (dry run)" in preview.text
        assert "0.45 DKK" in preview.text
    finally:
        server.shutdown()
        thread.join(timeout=5)
    gateway = app.extensions["gateway"]
    assert gateway.sandbox_path.exists()  # what it receives is kept in instance/
    assert gateway.sandbox_path.parent == tmp_path / "instance"
