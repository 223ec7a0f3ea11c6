"""Configuration: defaults here, then ``instance/config.py``, then environment variables.

This is the only module that reads ``os.environ``; everything else reads ``app.config``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

# Environment variables the app understands, with how each is parsed. README.md documents them.
ENVIRONMENT_VARIABLES: dict[str, type] = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "SMS_GATEWAY_URL": str,
    "SMS_API_TOKEN": str,
    "SMS_GATEWAY_HONOURS_DRY_RUN": bool,
    "SMS_MAX_CONNECTIONS": int,
    "SMS_BATCH_SIZE": int,
    "DEFAULT_COUNTRY": str,
    "REDIS_URL": str,
    "MAX_UPLOAD_MB": int,
    "SESSION_COOKIE_SECURE": bool,
    "TRUST_PROXY": bool,
    "WEBHOOK_SECRET": str,
    "ALLOW_UNSIGNED_REPORTS": bool,
    "PUBLIC_URL": str,
    "LINK_BASE_URL": str,
    "HOST": str,
    "PORT": int,
    "TRUSTED_HOSTS": list,
    "SANDBOX_API_TOKEN": str,
    "SANDBOX_PORT": int,
    "SANDBOX_REPLIES": bool,
    "WORKER": str,
    "LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS": str,
    "LOGIN_LIMIT_PER_ACCOUNT": str,
    "LOGIN_LIMIT_PER_IP": str,
    "HUEY_NAME": str,
    "SMS_RETRY_BASE_SECONDS": float,
    "REMEMBER_COOKIE_DAYS": int,
    "REPLY_STOP_WORDS": str,
    "REPLY_START_WORDS": str,
    "REPLY_STOP_CONFIRMATION": str,
    "OPT_OUT_FOOTER_TEXT": str,
    "OPT_OUT_LINK_LIMIT": str,
    "WEBHOOK_REJECTION_AUDIT_LIMIT": str,
    "QUIET_HOURS": bool,
    "QUIET_HOURS_START": str,
    "QUIET_HOURS_END": str,
    "QUIET_HOURS_NO_SUNDAYS": bool,
    "QUIET_HOURS_CLOSED_DATES": str,
    "STOP_GRACE_SECONDS": float,
    "SMS_OUTAGE_RESUME_MINUTES": float,
    "SQLITE_ANALYSIS_LIMIT": int,
    "SMS_VALIDITY_HOURS": float,
    "PAUSE_FAILED_PERCENT": int,
    "PAUSE_AFTER_REPORTS": int,
    "ABANDONED_UPLOAD_HOURS": float,
    "DELIVERY_REPORTS": str,
    "DELIVERY_POLL_FIRST_SECONDS": float,
    "DELIVERY_POLL_MAX_SECONDS": float,
    "APPROVAL_NOTIFY_EMAIL": list,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USE_TLS": bool,
    "MAIL_USE_SSL": bool,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_DEFAULT_SENDER": str,
    "MAIL_BACKEND": str,
}

DELIVERY_REPORT_MODES = ("webhook", "poll")


class Defaults:
    """Embedded defaults: SQLite and the sandbox gateway in ``instance/``, an in-process worker."""

    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # default: sqlite file in the instance folder
    SMS_GATEWAY_URL: str | None = (
        None  # the full mtsms endpoint, e.g. https://gw.example/rest/mtsms
    )
    SMS_API_TOKEN: str | None = None  # no token: sandbox mode
    SMS_GATEWAY_HONOURS_DRY_RUN: bool | None = None  # None: true for the sandbox only
    SMS_MAX_CONNECTIONS = 4
    SMS_BATCH_SIZE = 10_000
    DEFAULT_COUNTRY = "DK"
    REDIS_URL: str | None = None
    MAX_UPLOAD_MB = 50
    SESSION_COOKIE_SECURE = False
    TRUST_PROXY = False
    WEBHOOK_SECRET: str | None = None
    # Without WEBHOOK_SECRET (outside sandbox mode) delivery reports are refused unless this is on.
    ALLOW_UNSIGNED_REPORTS = False
    PUBLIC_URL: str | None = None
    # A short domain for tracked links ("https://go.shop.example"); None: PUBLIC_URL.
    LINK_BASE_URL: str | None = None
    # Where scripts/start serves the dashboard; in sandbox mode without PUBLIC_URL, delivery
    # reports are posted to this address (a wildcard HOST means loopback).
    HOST = "127.0.0.1"
    PORT = 5000
    # Host names the dashboard answers to (others get 400); a leading dot allows subdomains.
    # None: localhost, 127.0.0.1, HOST and PUBLIC_URL's host.
    TRUSTED_HOSTS: list[str] | None = None
    SANDBOX_API_TOKEN: str | None = None
    SANDBOX_PORT = 0  # 0: any free loopback port
    # The embedded sandbox simulates replies: a few recipients of a delivered message answer
    # STOP (opting out, noted as simulated in the consent record), some ask a question.
    SANDBOX_REPLIES = True
    WORKER = "thread"  # "thread": in-process consumer; "none": only `flask worker` consumes
    # Failed sign-ins (the limits library's notation): per account from one client address, per
    # account from anywhere (a ceiling against guesses from many addresses), per address.
    LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
    LOGIN_LIMIT_PER_ACCOUNT = "50 per 15 minutes"
    LOGIN_LIMIT_PER_IP = "30 per 15 minutes"
    HUEY_NAME = "sms-dashboard"  # the job queue's name (its Redis keys, with REDIS_URL)
    SMS_RETRY_BASE_SECONDS = 2.0  # first backoff for a batch the gateway certainly refused
    REMEMBER_COOKIE_DAYS = 14  # "Keep me signed in" lasts this long
    # Replies: the first words that opt a number out / back in (Settings can change them), and
    # the confirmation answered to a STOP ("" sends none).
    REPLY_STOP_WORDS = "STOP, STOPP, AFMELD, AFMELDING, UNSUBSCRIBE, END, CANCEL, QUIT"
    REPLY_START_WORDS = "START"
    REPLY_STOP_CONFIRMATION = ""
    # The opt-out footer ("{link}" becomes e.g. shop.example/u/0000a3Xk9Lm2P) and how often one
    # address may open or confirm opt-out links.
    OPT_OUT_FOOTER_TEXT = "Opt out: {link}"
    OPT_OUT_LINK_LIMIT = "20 per minute"
    # Refused webhook posts written to the audit log per client address; the rest only logged.
    WEBHOOK_REJECTION_AUDIT_LIMIT = "20 per minute"
    # Quiet hours (Settings can change them): send only between these local hours of each
    # recipient's country; optionally never on Sundays or on listed dates (YYYY-MM-DD ...).
    QUIET_HOURS = False
    QUIET_HOURS_START = "08:00"
    QUIET_HOURS_END = "21:00"
    QUIET_HOURS_NO_SUNDAYS = False
    QUIET_HOURS_CLOSED_DATES = ""
    STOP_GRACE_SECONDS = 30.0  # on SIGTERM: how long requests in flight may take to finish
    SMS_OUTAGE_RESUME_MINUTES = 60.0  # how long a campaign paused by an outage probes to resume
    SQLITE_ANALYSIS_LIMIT = 1000  # rows per index SQLite's ANALYZE reads (PRAGMA analysis_limit)
    SMS_VALIDITY_HOURS = 48.0  # how long delivery reports may still come after a send
    PAUSE_FAILED_PERCENT = 20  # a sending campaign pauses past this failed share (0: never)
    PAUSE_AFTER_REPORTS = 500  # ... counted once this many recipients have a final report
    ABANDONED_UPLOAD_HOURS = 24.0  # an upload not mapped within this long is removed
    # How delivery reports come in: "webhook" (the gateway posts them) or "poll" (for a
    # dashboard the gateway cannot reach: no callback URL is sent, and a job asks the gateway
    # for each sent batch's statuses, first after DELIVERY_POLL_FIRST_SECONDS, then waiting
    # twice as long each time up to DELIVERY_POLL_MAX_SECONDS, until the validity period ends).
    DELIVERY_REPORTS = "webhook"
    DELIVERY_POLL_FIRST_SECONDS = 60.0
    DELIVERY_POLL_MAX_SECONDS = 1800.0
    # Campaigns waiting for approval are mailed to these addresses (Flask-Mailman, through the
    # MAIL_* settings below); empty: no e-mail, approvers see them on their home page only.
    APPROVAL_NOTIFY_EMAIL: list[str] = []
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "sms-dashboard@localhost"
    MAIL_BACKEND = "smtp"  # Flask-Mailman's: smtp, console, file, locmem (tests), dummy
    AUTO_MIGRATE = True

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead: a long compose must not expire
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}


def _parse(kind: type, raw: str):
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if kind is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def load_config(app, overrides: dict | None = None) -> None:
    """Fill ``app.config`` in order: defaults, instance/config.py, environment, ``overrides``."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for name, kind in ENVIRONMENT_VARIABLES.items():
        raw = os.environ.get(name)
        if raw not in (None, ""):
            app.config[name] = _parse(kind, raw)
    if overrides:
        app.config.update(overrides)
    _derive(app)


def _derive(app) -> None:
    config = app.config
    instance = Path(app.instance_path)
    make_private(instance)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _persistent_secret(instance / "secret_key")
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance / 'dashboard.sqlite3'}"
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    if config["DATABASE_URL"].startswith("sqlite"):  # a file: no connection can go stale
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **config["SQLALCHEMY_ENGINE_OPTIONS"],
            "pool_pre_ping": False,
        }
    config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_MB"]) * 1024 * 1024
    config["SANDBOX_MODE"] = not config.get("SMS_API_TOKEN")
    if config["SANDBOX_MODE"] and not config.get("WEBHOOK_SECRET"):
        # The embedded sandbox signs its delivery reports like the real gateway would.
        config["WEBHOOK_SECRET"] = hmac.new(
            config["SECRET_KEY"].encode(), b"sandbox-webhook", "sha256"
        ).hexdigest()
    _derive_addresses(config)
    mode = str(config["DELIVERY_REPORTS"]).strip().lower()
    if mode not in DELIVERY_REPORT_MODES:
        raise ValueError(
            f"DELIVERY_REPORTS must be webhook or poll, not {config['DELIVERY_REPORTS']!r}."
        )
    config["DELIVERY_REPORTS"] = mode
    if config["SMS_GATEWAY_HONOURS_DRY_RUN"] is None:
        config["SMS_GATEWAY_HONOURS_DRY_RUN"] = config["SANDBOX_MODE"]
    config["SMS_MAX_CONNECTIONS"] = max(1, min(40, int(config["SMS_MAX_CONNECTIONS"])))
    config["SMS_BATCH_SIZE"] = max(1, min(10_000, int(config["SMS_BATCH_SIZE"])))
    config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    config["REMEMBER_COOKIE_DURATION"] = timedelta(days=max(1, int(config["REMEMBER_COOKIE_DAYS"])))


WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 (names, not a binding)


def _derive_addresses(config) -> None:
    """``LOCAL_URL``: where this dashboard is reached on this machine, from HOST and PORT only
    (never from a request's Host header); and the trusted host names."""
    host = str(config["HOST"]).strip()
    loopback = "127.0.0.1" if host in WILDCARD_HOSTS else host
    config["LOCAL_URL"] = f"http://{loopback}:{int(config['PORT'])}"
    if not config.get("TRUSTED_HOSTS"):
        trusted = ["localhost", "127.0.0.1"]
        public_host = urlsplit(config.get("PUBLIC_URL") or "").hostname
        link_host = urlsplit(config.get("LINK_BASE_URL") or "").hostname
        for name in (loopback, public_host, link_host):
            if name and name not in trusted:
                trusted.append(name)
        config["TRUSTED_HOSTS"] = trusted


# What the dashboard's process creates is its owner's only: databases, uploads, secrets, and the
# files SQLite and the job queue add beside them.
PRIVATE_UMASK = 0o077


def make_private(instance: Path) -> None:
    """The instance folder 0700 and everything in it 0600 (folders 0700), also when an older
    version left it readable by every local user."""
    os.umask(PRIVATE_UMASK)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    instance.chmod(0o700)
    for path in instance.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def write_private(path: Path, text: str) -> bool:
    """Create ``path`` with ``text``, readable by its owner only from its first byte; False if it
    already exists (another process was first)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return True


def _persistent_secret(path: Path) -> str:
    """Generate the secret key once and keep it, so sessions survive a restart."""
    write_private(path, secrets.token_hex(32))
    return path.read_text().strip()
