"""The instance folder holds the databases, uploads and secrets: only its owner may read it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from webapp import create_app
from webapp.extensions import db

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture
def lax_umask():
    """A umask that lets every local user read new files, as on many systems."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return found


def _embedded_app(instance: Path):
    return create_app({"WORKER": "none", "SMS_API_TOKEN": None}, instance_path=instance)


def test_instance_folder_and_every_file_in_it_are_private(tmp_path, lax_umask):
    instance = tmp_path / "instance"
    app = _embedded_app(instance)
    try:
        runner = app.test_cli_runner()
        imported = runner.invoke(
            args=["lists", "import", str(SAMPLES / "contacts_utf8.csv"), "--name", "Customers"]
        )
        assert imported.exit_code == 0, imported.output
        app.extensions["gateway"].client()  # starts the embedded sandbox and its database
        app.extensions["jobs"].send_due_campaigns()
    finally:
        app.extensions["gateway"].close()
        with app.app_context():
            db.engine.dispose()
    modes = _modes(instance)
    assert {"secret_key", "dashboard.sqlite3", "sandbox.sqlite3", "uploads"} <= set(modes)
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (instance / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_an_existing_instance_folder_is_made_private(tmp_path, lax_umask):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    (instance / "uploads").mkdir(mode=0o755)
    (instance / "uploads" / "old.csv").write_text("phone\n4520123456\n")
    (instance / "secret_key").write_text("an old key")
    (instance / "secret_key").chmod(0o644)
    app = _embedded_app(instance)
    with app.app_context():
        db.engine.dispose()
    assert app.config["SECRET_KEY"] == "an old key"
    modes = _modes(instance)
    assert modes["."] == 0o700 and modes["uploads"] == 0o700
    assert modes["uploads/old.csv"] == 0o600 and modes["secret_key"] == 0o600


def test_the_secret_key_is_private_from_its_first_byte(tmp_path, lax_umask, monkeypatch):
    """Written private, not made private afterwards: no moment when others could read it."""
    monkeypatch.setattr(Path, "chmod", lambda self, mode, **kwargs: None)
    monkeypatch.setattr(os, "chmod", lambda path, mode, **kwargs: None)
    instance = tmp_path / "instance"
    app = _embedded_app(instance)
    with app.app_context():
        db.engine.dispose()
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
