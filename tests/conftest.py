"""Fixtures: an app per test on a migrated database that is emptied after each test.

Set ``TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) to run every
test on PostgreSQL instead of a temporary SQLite file.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers import PASSWORD
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from webapp import create_app, upgrade_database
from webapp.extensions import db
from webapp.models import Role
from webapp.services import accounts
from webapp.services.chart import clear_chart_cache

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


class Client(FlaskClient):
    """A test client that sends the CSRF token as htmx does, unless told ``csrf=False``."""

    def open(self, *args, csrf: bool = True, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method in STATE_CHANGING:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)


def _reset_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """One database per run, migrated once with the real Alembic migrations."""
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    )
    _reset_schema(url)
    instance = tmp_path_factory.mktemp("migrate-instance")
    upgrade_database(
        create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False}, instance_path=instance)
    )
    return url


def make_test_app(database_url: str, instance: Path, **overrides):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": False,
        "SECRET_KEY": "test-secret-key",
        "WORKER": "none",
        "SMS_API_TOKEN": None,
        # Delivery reports of tests without a live server go to the discard port, not to a
        # dashboard someone runs on the default port.
        "PORT": 9,
    }
    if os.environ.get("TEST_REDIS_URL"):  # the scale-out path: the job queue on Redis
        import redis

        redis.Redis.from_url(os.environ["TEST_REDIS_URL"]).flushdb()  # a database for tests only
        unique = secrets.token_hex(6)
        config.update(
            REDIS_URL=os.environ["TEST_REDIS_URL"],
            HUEY_NAME=f"test-{unique}",
        )
    config.update(overrides)
    app = create_app(config, instance_path=instance)
    app.test_client_class = Client
    return app


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change the configuration of ``app``."""
    return {}


@pytest.fixture
def app(database_url, tmp_path, app_config):
    app = make_test_app(database_url, tmp_path / "instance", **app_config)
    yield app
    # An in-process worker (a request to a WORKER=thread app starts one) must not outlive its
    # test: its every-minute sweep would pick up the next tests' campaigns on the shared database.
    app.extensions["jobs"].stop_consumer()
    app.extensions["gateway"].close()
    with app.app_context():
        _empty_all_tables()
        db.engine.dispose()
    clear_chart_cache()  # ids start again on an emptied SQLite database: forget their charts


def _empty_all_tables() -> None:
    db.session.remove()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def sandbox(app, tmp_path):
    """The sandbox gateway over real HTTP on loopback, and the app pointed at it."""
    from mtsms_sandbox import SandboxConfig, start_sandbox

    running = start_sandbox(
        tmp_path / "sandbox.sqlite3",
        config=SandboxConfig(
            report_delay_seconds=0.05, seed=7, webhook_secret=app.config["WEBHOOK_SECRET"]
        ),
    )
    app.extensions["gateway"].use_sandbox(running)
    yield running
    app.extensions["gateway"].close()
    running.stop()


@pytest.fixture
def jobs(app):
    """The app's job queue; ``jobs.run_pending()`` drives the worker in the test's thread."""
    queue = app.extensions["jobs"]
    yield queue
    queue.stop_consumer()
    queue.huey.flush()


@pytest.fixture
def client(app) -> Client:
    return app.test_client()


@pytest.fixture
def setup_token(app) -> str:
    """The one-time token /setup asks for while there is no user (instance/setup_token)."""
    return accounts.setup_token(app.instance_path)


@pytest.fixture
def make_user(app):
    """Create a user directly through the accounts service."""

    def make(role: Role | str = Role.SENDER, email: str | None = None, password: str = PASSWORD):
        with app.app_context():
            user = accounts.create_user(
                db.session, email or f"{Role(role).value}@example.com", password, Role(role)
            )
            return user.id

    return make


@pytest.fixture
def login_as(app, client, make_user):
    """``login_as("sender")`` signs ``client`` in as a new user with that role."""

    def login(role: Role | str, email: str | None = None):
        email = email or f"{Role(role).value}@example.com"
        make_user(role, email)
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 302, response.text
        return client

    return login


@pytest.fixture
def live_server(app):
    """The test app on a free loopback port, threaded like a real server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
