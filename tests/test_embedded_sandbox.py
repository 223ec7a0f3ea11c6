"""The embedded default: no token configured, the app starts its own sandbox and talks to it
over real HTTP, even when the dashboard is served by a single-threaded server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import requests
from helpers import PASSWORD, danish_numbers, make_list, send_one_sms_then_interrupt
from werkzeug.serving import make_server

from webapp.config import ENVIRONMENT_VARIABLES
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


# A real start: a token, its own database, migrations, a sign-in and the pages that reach the
# gateway (the balance asks a closed loopback port, so it fails fast with a message).
PRODUCTION_START = """
import json, sys
from webapp import create_app
from webapp.extensions import db
from webapp.models import Role
from webapp.services import accounts

app = create_app(
    {
        "SMS_API_TOKEN": "a-real-token",
        "SMS_GATEWAY_URL": "http://127.0.0.1:9/rest/mtsms",
        "SECRET_KEY": "production-secret",
        "WTF_CSRF_ENABLED": False,
    },
    instance_path=sys.argv[1],
)
with app.app_context():
    accounts.create_user(db.session, "ops@example.com", "a long password", Role.ADMIN)
client = app.test_client()
statuses = [
    client.get("/login").status_code,
    client.post("/login", data={"email": "ops@example.com", "password": "a long password"})
    .status_code,
    client.get("/").status_code,
    client.get("/balance").status_code,
    client.get("/sandbox/inbox").status_code,
]
loaded = sorted(
    name for name in sys.modules if name.partition(".")[0] in ("mtsms_sandbox", "oauthlib")
)
print(json.dumps({"statuses": statuses, "loaded": loaded}))
"""


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def environment_without_settings() -> dict[str, str]:
    """This process's environment without the dashboard's settings, as on a fresh machine."""
    return {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}


def test_a_start_with_a_real_token_loads_no_sandbox_and_no_oauth_library(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_START, str(tmp_path / "instance")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        env=environment_without_settings(),
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["statuses"] == [200, 302, 200, 200, 404]
    assert report["loaded"] == []


def test_flask_sandbox_serves_the_sandbox_alone_until_interrupted(tmp_path):
    instance = tmp_path / "instance"
    app = f"webapp:create_app(instance_path={str(instance)!r})"
    command = ["flask", "--app", app, "sandbox", "--port", "0", "--token", "cli-token"]
    send_one_sms_then_interrupt(
        [sys.executable, "-u", "-m", *command],
        "cli-token",
        cwd=PROJECT_ROOT,
        env=environment_without_settings(),
    )

    assert (instance / "sandbox.sqlite3").exists()
