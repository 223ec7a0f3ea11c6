"""Fixtures of the security suite."""

from __future__ import annotations

import pytest


@pytest.fixture
def password_checks(monkeypatch) -> list[tuple[str, str]]:
    """Every password hash computed from now on, as (method, password): what a check cost."""
    import werkzeug.security

    real = werkzeug.security._hash_internal
    checks: list[tuple[str, str]] = []

    def spy(method, salt, password):
        checks.append((method, password))
        return real(method, salt, password)

    monkeypatch.setattr(werkzeug.security, "_hash_internal", spy)
    return checks
