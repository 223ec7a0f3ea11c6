"""Configuration, migrations on start, and the operator CLI."""

from __future__ import annotations

from sqlalchemy import inspect

from webapp import create_app
from webapp.extensions import db


def test_fresh_instance_gets_schema_and_persistent_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    instance = tmp_path / "instance"
    app = create_app(instance_path=instance)
    assert (instance / "dashboard.sqlite3").exists()
    with app.app_context():
        assert {"users", "settings"} <= set(inspect(db.engine).get_table_names())
    again = create_app(instance_path=instance)
    assert again.secret_key == app.secret_key
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides_instance_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("DEFAULT_COUNTRY = 'SE'\nMAX_UPLOAD_MB = 5\n")
    monkeypatch.setenv("MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("SMS_API_TOKEN", "a-real-token")
    app = create_app({"AUTO_MIGRATE": False}, instance_path=instance)
    assert app.config["DEFAULT_COUNTRY"] == "SE"
    assert app.config["MAX_CONTENT_LENGTH"] == 7 * 1024 * 1024
    assert app.config["SANDBOX_MODE"] is False


def test_cli_creates_a_user_after_prompting_for_the_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "ops@example.com", "--role", "admin"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created ops@example.com (admin)." in result.output
    again = runner.invoke(
        args=["users", "create", "ops@example.com"], input="a long password\na long password\n"
    )
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_the_webhook_addresses_given_to_the_gateway_are_the_routes(app):
    """What `flask webhooks urls` and the sandbox are told is where the webhooks answer."""
    from webapp.addresses import DELIVERY_REPORT_PATH, REPLY_WEBHOOK_PATH

    routes = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert routes[DELIVERY_REPORT_PATH] == "webhooks.delivery_report"
    assert routes[REPLY_WEBHOOK_PATH] == "webhooks.reply"


# What the migrations make that the models do not describe, on purpose: the list search's
# full-text index (SQLite FTS5 tables, PostgreSQL trigram indexes), and foreign keys SQLite's
# ALTER TABLE ADD COLUMN cannot add (the models keep them for PostgreSQL).
_MIGRATION_ONLY = ("recipient_search", "_trgm")
_SQLITE_ADDED_COLUMN_FKS = {
    "fk_campaigns_approval_requested_by_id_users",
    "fk_campaigns_approved_by_id_users",
    "fk_campaigns_template_id_message_templates",
}


def test_the_migrations_make_the_schema_the_models_describe(app):
    """Every table, column, type, index and foreign key of the models, as the migrations
    leave the database (a migration forgotten or wrong in a type shows here)."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expression indexes SQLite cannot reflect
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    unexpected = []
    for difference in differences:
        kind, item = difference[0], difference[1]
        name = getattr(item, "name", "") or ""
        if any(part in name for part in _MIGRATION_ONLY):
            continue
        sqlite = connection.dialect.name == "sqlite"
        if kind == "add_fk" and sqlite and item.name in _SQLITE_ADDED_COLUMN_FKS:
            continue
        unexpected.append(difference)
    assert unexpected == []
