"""The app factory: ``create_app`` builds a configured Flask application (imported as
``webapp.create_app``; see webapp/__init__.py for why it lives here)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event, text
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from webapp.config import load_config
from webapp.extensions import csrf, db, htmx, login_manager, mail, migrate
from webapp.money import money_text
from webapp.statistics import tune_statistics

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 7_245_001  # any constant shared by every process of this app

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a request with no session cookie (the
    gateway's webhooks, a first visit) starts an empty session without building a signing
    serializer: the webhook takes a thousand reports a second. One is built when a page stores
    something (its CSRF token, a sign-in)."""

    def open_session(self, app, request):
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` in a route: a number a database id column can hold. A larger one (say 25
    digits) matches no route, a 404, instead of overflowing the database's integers."""

    def __init__(self, url_map, fixed_digits=0, min=0, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(config: dict | None = None, *, instance_path: str | Path | None = None) -> Flask:
    app = Flask(
        "webapp",  # the package: its name is the app's and its logger's
        instance_path=str(instance_path or PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    load_config(app, config)
    app.session_interface = CookieSessionInterface()
    if app.config["TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    db.init_app(app)
    _tune_sqlite(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    mail.init_app(app)
    _init_login(app)

    # Before the blueprints: their <int:...> rules are built with it.
    app.url_map.converters["int"] = DatabaseIdConverter
    _register_blueprints(app)
    _register_hooks(app)
    _register_error_pages(app)

    from webapp import cli
    from webapp.connections import init_gateway
    from webapp.ratelimit import init_rate_limits
    from webapp.tasks import init_jobs

    init_gateway(app)
    init_jobs(app)
    init_rate_limits(app)
    cli.register(app)

    if app.config["AUTO_MIGRATE"]:
        upgrade_database(app)
        announce_setup_link(app)
    return app


def setup_link(app: Flask) -> str | None:
    """The one-time link to create the first admin; None once there is one."""
    from webapp.services import accounts

    with app.app_context():
        if accounts.has_users(db.session):
            return None
    base = app.config.get("PUBLIC_URL") or app.config["LOCAL_URL"]
    token = accounts.setup_token(app.instance_path)
    return f"{base.rstrip('/')}/setup?token={token}"


def announce_setup_link(app: Flask) -> None:
    """On a start with no users, say where to create the first admin (like Jupyter's token)."""
    link = setup_link(app)
    if link:
        app.logger.warning(
            "No administrator yet. Create the first one at %s (the token is also in %s).",
            link,
            Path(app.instance_path) / "setup_token",
        )


def _tune_sqlite(app: Flask) -> None:
    """SQLite shared by web threads and workers: WAL lets readers and one writer work at once,
    and a busy timeout makes a writer wait its turn instead of failing."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def on_connect(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    tune_statistics(engine, app.config["SQLITE_ANALYSIS_LIMIT"])


def upgrade_database(app: Flask) -> None:
    """Bring the schema up to date, so a fresh ``instance/`` works with no manual step.

    On PostgreSQL an advisory lock makes several processes starting at once take turns.
    """
    from flask_migrate import upgrade

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            upgrade(directory=str(MIGRATIONS))
            return
        # A session lock outside any transaction: an idle transaction holding a snapshot would
        # make a migration's CREATE INDEX CONCURRENTLY wait for it forever.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                upgrade(directory=str(MIGRATIONS))
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})


def _init_login(app: Flask) -> None:
    from webapp.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str):
        user_pk, _, version = user_id.partition(":")
        if not user_pk.isdigit():
            return None
        user = db.session.get(User, int(user_pk))
        if user is None or str(user.session_version) != version:
            return None
        return user


def _register_blueprints(app: Flask) -> None:
    from webapp.views import (
        admin,
        auth,
        campaigns,
        clicks,
        contacts,
        counter,
        dashboard,
        imports,
        links,
        lists,
        optouts,
        replies,
        sandbox,
        templates,
        webhooks,
    )

    for blueprint in (
        auth.bp,
        dashboard.bp,
        admin.bp,
        counter.bp,
        campaigns.bp,
        contacts.bp,
        lists.bp,
        imports.bp,
        optouts.bp,
        links.bp,
        clicks.bp,
        replies.bp,
        sandbox.bp,
        templates.bp,
        webhooks.bp,
    ):
        app.register_blueprint(blueprint)


def _register_hooks(app: Flask) -> None:
    from webapp.access import enforce_access

    app.before_request(enforce_access)

    if app.config["WORKER"] == "thread":

        @app.before_request
        def start_worker():
            """The in-process worker starts with the first request, not with every CLI call."""
            app.extensions["jobs"].start_consumer()

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            headers.setdefault("Cache-Control", "no-store")
        # htmx caches pages by URL: a fragment must never be shown as a whole page.
        headers.add("Vary", "HX-Request")
        return response

    from webapp.models import Role
    from webapp.states import DeliveryOutcome

    navigation = [
        ("lists", "lists.index", "Lists"),
        ("campaigns", "campaigns.index", "Campaigns"),
        ("templates", "templates.index", "Templates"),
        ("replies", "replies.index", "Replies"),
        ("sandbox", "sandbox.inbox", "Sandbox inbox"),
    ]

    @app.template_filter("localtime")
    def localtime(value, fmt: str = "%Y-%m-%d %H:%M"):
        """An aware UTC datetime shown in the signed-in user's time zone."""
        if value is None:
            return ""
        zone = getattr(current_user, "timezone", None) or "UTC"
        try:
            return value.astimezone(ZoneInfo(zone)).strftime(fmt)
        except ZoneInfoNotFoundError:
            return value.strftime(fmt + " UTC")

    app.add_template_filter(money_text, "money")
    # A global, not a context variable: macros imported without context use it too.
    app.jinja_env.globals["delivery_outcome"] = DeliveryOutcome.of

    @app.context_processor
    def layout_context():
        return {
            "sandbox_mode": app.config["SANDBOX_MODE"],
            "roles": Role,
            "view_endpoints": app.view_functions,
            "nav_items": [
                item
                for item in navigation
                if item[1] in app.view_functions
                and (item[0] != "sandbox" or app.config["SANDBOX_MODE"])
            ],
        }


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = (
            "This form has expired or did not come from this site. Reload the page and try again."
        )
        return render_template("error.html", status=400, title="Form expired", message=message), 400

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        limit = app.config["MAX_UPLOAD_MB"]
        message = f"The file is larger than the limit of {limit} MB. Nothing was stored."
        return render_template(
            "error.html", status=413, title="File too large", message=message
        ), 413

    @app.errorhandler(SecurityError)
    def untrusted_host(error: SecurityError):
        # No page: links cannot be built for a host the dashboard does not answer to.
        message = "This host name is not one the dashboard answers to (see TRUSTED_HOSTS).\n"
        return message, 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        return render_template(
            "error.html", status=error.code, title=error.name, message=error.description
        ), error.code
