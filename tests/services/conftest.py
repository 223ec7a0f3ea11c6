"""Service tests run inside an app context with a signed-in-like user object."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import Role, User


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def sender(ctx, make_user):
    return db.session.get(User, make_user(Role.SENDER))
