"""Only who started the dashboard can create the first admin: /setup needs the one-time token
the first start prints (and keeps in instance/setup_token)."""

from __future__ import annotations

import stat
from pathlib import Path

from helpers import PASSWORD

from webapp import create_app
from webapp.extensions import db
from webapp.services import accounts

ADMIN = {"email": "boss@example.com", "password": PASSWORD, "confirm": PASSWORD}


def test_setup_without_the_token_explains_where_to_find_it(client):
    page = client.get("/setup")
    assert "instance/setup_token" in page.text
    assert "printed when it started" in page.text
    assert "Create administrator" not in page.text  # no form to fill in
    refused = client.post("/setup", data=ADMIN)
    assert refused.status_code == 403
    assert client.get("/login").headers["Location"] == "/setup"  # still nobody


def test_setup_with_a_wrong_token_is_refused(client, setup_token):
    assert client.get("/setup?token=guess").status_code == 403
    refused = client.post("/setup?token=guess", data=ADMIN | {"token": "guess"})
    assert refused.status_code == 403
    assert client.get("/login").headers["Location"] == "/setup"


def test_the_token_makes_the_first_admin_once_and_is_then_gone(app, client, setup_token):
    page = client.get(f"/setup?token={setup_token}")
    assert "Create administrator" in page.text
    created = client.post("/setup", data=ADMIN | {"token": setup_token})
    assert created.status_code == 302
    assert not (Path(app.instance_path) / "setup_token").exists()
    assert client.get(f"/setup?token={setup_token}").status_code == 404


def test_the_first_start_logs_the_setup_link_and_keeps_the_token_private(tmp_path, caplog):
    caplog.set_level("INFO")
    instance = tmp_path / "instance"
    app = create_app({"WORKER": "none", "PORT": 5123}, instance_path=instance)
    with app.app_context():
        db.engine.dispose()
    token_file = instance / "setup_token"
    token = token_file.read_text().strip()
    assert len(token) >= 32
    assert f"http://127.0.0.1:5123/setup?token={token}" in caplog.text
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_the_setup_link_command_prints_the_link_until_there_is_an_admin(app, setup_token):
    runner = app.test_cli_runner()
    printed = runner.invoke(args=["setup-link"])
    assert printed.exit_code == 0
    assert f"/setup?token={setup_token}" in printed.output
    with app.app_context():
        accounts.create_first_admin(
            db.session, "boss@example.com", PASSWORD, token=setup_token, instance=app.instance_path
        )
    after = runner.invoke(args=["setup-link"])
    assert "/setup?token=" not in after.output
    assert "already has an administrator" in after.output
