"""View-test fixtures: a signed-in sender, and counter caches emptied around a test."""

from __future__ import annotations

import pytest

from webapp.models import Role
from webapp.services.counter import clear_counter_caches


@pytest.fixture
def sender(login_as):
    return login_as(Role.SENDER)


@pytest.fixture
def fresh_counter_caches():
    """The counter's in-process caches start and end empty (the database is emptied between
    tests, and SQLite reuses ids)."""
    clear_counter_caches()
    yield
    clear_counter_caches()
