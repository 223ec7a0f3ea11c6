"""Who did something: a signed-in user, or an operator at the command line (``None``)."""

from __future__ import annotations

from webapp.models import User


def user_id_of(user: User | None) -> int | None:
    """Users act through pages; ``None`` is an operator on the command line."""
    return user.id if user is not None else None
