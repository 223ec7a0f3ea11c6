"""Small helpers shared by tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"


def form_errors(html: str) -> list[str]:
    """The error messages shown beside form fields."""
    return re.findall(r'<p class="error" role="alert">(.*?)</p>', html)
