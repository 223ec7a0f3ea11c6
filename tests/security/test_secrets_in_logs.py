"""No secret ever reaches a log line: a whole journey runs over real HTTP, with every logger at
DEBUG, and each configured secret is looked for in everything logged."""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path

import pytest
from helpers import PASSWORD, poll
from werkzeug.serving import make_server

from webapp.extensions import db
from webapp.models import CampaignRecipient

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SANDBOX_TOKEN = "sandbox-token-3kd9SlQmX2vP"


@pytest.fixture
def app_config():
    return {"SANDBOX_API_TOKEN": SANDBOX_TOKEN}


@pytest.fixture
def served(app):
    """The app over real HTTP on loopback, where the sandbox posts its delivery reports."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["PORT"] = server.server_port
    app.config["LOCAL_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield
    server.shutdown()
    thread.join(timeout=5)


def _secrets(app, sandbox) -> dict[str, str]:
    key = app.config["SECRET_KEY"]
    return {
        "secret key": key,
        "webhook secret": app.config["WEBHOOK_SECRET"],
        "sandbox API token": sandbox.token,
        "configured API token": SANDBOX_TOKEN,
        # what the webhook's secret path used to be made of
        "path token": hmac.new(key.encode(), b"delivery-reports", "sha256").hexdigest()[:32],
    }


def _wait_for_reports(app, timeout: float = 15.0) -> None:
    def every_recipient_has_a_report() -> bool:
        db.session.expire_all()
        statuses = db.session.scalars(db.select(CampaignRecipient.delivery_status)).all()
        return bool(statuses) and all(statuses)

    with app.app_context():
        poll(
            every_recipient_has_a_report,
            timeout=timeout,
            every=0.05,
            what="the sandbox's delivery reports",
        )


def test_no_secret_is_logged_in_a_whole_journey(
    app, client, sandbox, jobs, served, setup_token, caplog
):
    caplog.set_level(logging.DEBUG)
    secrets = _secrets(app, sandbox)
    account = {"email": "boss@example.com", "password": PASSWORD, "confirm": PASSWORD}
    assert client.post("/setup", data=account | {"token": setup_token}).status_code == 302
    runner = app.test_cli_runner()
    imported = runner.invoke(
        args=["lists", "import", str(SAMPLES / "contacts_utf8.csv"), "--name", "Customers"]
    )
    assert imported.exit_code == 0, imported.output
    sent = runner.invoke(
        args=[
            "campaigns", "send", "--name", "Hello", "--sender", "Shop", "--list", "Customers",
            "--message", "Hi %first_name%", "--yes", "--json",
        ]
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    jobs.run_pending()
    _wait_for_reports(app)
    for page in ("/", "/campaigns/", "/lists/", "/settings/", "/sandbox/inbox"):
        assert client.get(page).status_code == 200, page
    client.post("/logout")
    client.post("/login", data={"email": "boss@example.com", "password": "a wrong one"})

    logged = caplog.text + "\n".join(repr(record.args) for record in caplog.records)
    assert "POST /webhooks/delivery-reports" in logged  # the reports' requests are in the log
    leaked = [name for name, secret in secrets.items() if secret and secret in logged]
    assert leaked == []
