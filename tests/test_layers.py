"""The layer contracts of pyproject.toml's [tool.importlinter] hold (`lint-imports`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")  # installed by the test extra
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    kept, broken = re.search(r"Contracts: (\d+) kept, (\d+) broken", result.stdout).groups()
    assert broken == "0"
    assert int(kept) >= 3  # at least the sandbox, gateway and sms contracts ran


def test_the_pure_packages_load_without_the_app():
    """What the import's worker processes load (webapp.csvimport, and webapp.sms through it)
    brings in no Flask, SQLAlchemy or app: the package's __init__ loads its factory lazily."""
    probe = (
        "import sys, webapp.csvimport.parallel, webapp.sms; "
        "print(sorted(m for m in ('flask', 'sqlalchemy', 'webapp.factory', 'webapp.models') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_factory_is_still_reached_as_webapp_create_app():
    import webapp
    from webapp import factory

    assert webapp.create_app is factory.create_app
    assert webapp.upgrade_database is factory.upgrade_database
