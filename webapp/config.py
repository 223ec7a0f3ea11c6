"""Configuration: defaults here, then ``instance/config.py``, then environment variables.

This is the only module that reads ``os.environ``; everything else reads ``app.config``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

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
    "PUBLIC_URL": str,
    "SANDBOX_API_TOKEN": str,
    "SANDBOX_PORT": int,
    "WORKER": str,
    "LOGIN_LIMIT_PER_ACCOUNT": str,
    "LOGIN_LIMIT_PER_IP": str,
    "HUEY_NAME": str,
    "SMS_RETRY_BASE_SECONDS": float,
    "ABANDONED_UPLOAD_HOURS": float,
}


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
    PUBLIC_URL: str | None = None
    SANDBOX_API_TOKEN: str | None = None
    SANDBOX_PORT = 0  # 0: any free loopback port
    WORKER = "thread"  # "thread": in-process consumer; "none": only `flask worker` consumes
    LOGIN_LIMIT_PER_ACCOUNT = "5 per 15 minutes"
    LOGIN_LIMIT_PER_IP = "30 per 15 minutes"
    HUEY_NAME = "sms-dashboard"  # the job queue's name (its Redis keys, with REDIS_URL)
    SMS_RETRY_BASE_SECONDS = 2.0  # first backoff for a batch the gateway certainly refused
    ABANDONED_UPLOAD_HOURS = 24.0  # an upload not mapped within this long is removed
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
    instance.mkdir(parents=True, exist_ok=True)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _persistent_secret(instance / "secret_key")
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance / 'dashboard.sqlite3'}"
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_MB"]) * 1024 * 1024
    config["SANDBOX_MODE"] = not config.get("SMS_API_TOKEN")
    if config["SANDBOX_MODE"] and not config.get("WEBHOOK_SECRET"):
        # The embedded sandbox signs its delivery reports like the real gateway would.
        config["WEBHOOK_SECRET"] = hmac.new(
            config["SECRET_KEY"].encode(), b"sandbox-webhook", "sha256"
        ).hexdigest()
    if config["SMS_GATEWAY_HONOURS_DRY_RUN"] is None:
        config["SMS_GATEWAY_HONOURS_DRY_RUN"] = config["SANDBOX_MODE"]
    config["SMS_MAX_CONNECTIONS"] = max(1, min(40, int(config["SMS_MAX_CONNECTIONS"])))
    config["SMS_BATCH_SIZE"] = max(1, min(10_000, int(config["SMS_BATCH_SIZE"])))
    config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    config.setdefault("RATELIMIT_STORAGE_URI", config.get("REDIS_URL") or "memory://")


def _persistent_secret(path: Path) -> str:
    """Generate the secret key once and keep it, so sessions survive a restart."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
