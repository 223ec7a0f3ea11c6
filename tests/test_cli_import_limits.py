"""`flask lists import` has the same size limit as the pages, raised with --max-mb."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("app_config", [{"MAX_UPLOAD_MB": 1}])
def test_the_cli_import_refuses_a_file_over_max_upload_mb(app, tmp_path):
    path = tmp_path / "big.csv"
    line = "+4520123456," + "x" * 500 + "\n"
    path.write_text("phone,note\n" + line * 2_200)  # a little over 1 MB
    result = app.test_cli_runner().invoke(args=["lists", "import", str(path), "--name", "Big"])
    assert result.exit_code == 1
    assert "larger than the limit of 1 MB" in result.output and "--max-mb" in result.output
    raised = app.test_cli_runner().invoke(
        args=["lists", "import", str(path), "--name", "Big", "--max-mb", "2", "--json"]
    )
    assert raised.exit_code == 0, raised.output
    assert '"rows": 2200' in raised.output
