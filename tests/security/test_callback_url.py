"""Where delivery reports are sent comes from configuration, never from a request's Host."""

from __future__ import annotations

import pytest
from conftest import make_test_app

from webapp.addresses import delivery_report_url
from webapp.models import Role


def test_a_forged_host_does_not_steer_the_callback_url(app, client, make_user):
    make_user(Role.ADMIN)
    client.get("/login", headers={"Host": "evil.example"})
    client.get("/login", base_url="http://evil.example")
    url = delivery_report_url(app)
    port = app.config["PORT"]
    assert url is not None and url.startswith(f"http://127.0.0.1:{port}/webhooks/delivery-reports")


@pytest.mark.parametrize("app_config", [{"HOST": "0.0.0.0", "PORT": 8123}])  # noqa: S104
def test_in_sandbox_mode_the_callback_is_the_loopback_address_started_on(app):
    assert delivery_report_url(app).startswith("http://127.0.0.1:8123/webhooks/delivery-reports")


def test_by_default_the_dashboard_is_on_loopback_port_5000():
    from webapp.config import Defaults

    assert (Defaults.HOST, Defaults.PORT) == ("127.0.0.1", 5000)


def test_a_worker_process_computes_the_same_callback_url(app, database_url, tmp_path):
    """``flask worker`` never serves a request: it must still know where reports go."""
    worker = make_test_app(database_url, tmp_path / "instance")
    try:
        assert delivery_report_url(worker) == delivery_report_url(app) is not None
    finally:
        worker.extensions["gateway"].close()


@pytest.mark.parametrize("app_config", [{"PUBLIC_URL": "https://dash.example/"}])
def test_public_url_is_the_callback_base_and_a_trusted_host(app, client, make_user):
    make_user(Role.ADMIN)
    assert delivery_report_url(app).startswith("https://dash.example/webhooks/delivery-reports")
    assert client.get("/login", base_url="https://dash.example").status_code == 200


def test_an_unknown_host_is_refused(client, make_user):
    make_user(Role.ADMIN)
    assert client.get("/login", base_url="http://evil.example").status_code == 400
    assert client.get("/login").status_code == 200  # localhost
    assert client.get("/login", base_url="http://127.0.0.1:5000").status_code == 200


@pytest.mark.parametrize("app_config", [{"TRUSTED_HOSTS": ["dash.example", ".corp.example"]}])
def test_trusted_hosts_come_from_the_setting(client, make_user):
    make_user(Role.ADMIN)
    assert client.get("/login", base_url="http://dash.example").status_code == 200
    assert client.get("/login", base_url="http://sms.corp.example").status_code == 200
    assert client.get("/login", base_url="http://evil.example").status_code == 400


def test_trusted_hosts_are_read_from_the_environment(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTED_HOSTS", "dash.example, sms.example")
    app = make_test_app(database_url, tmp_path / "instance")
    app.extensions["gateway"].close()
    assert app.config["TRUSTED_HOSTS"] == ["dash.example", "sms.example"]
