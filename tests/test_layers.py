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
