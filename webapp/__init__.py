"""The SMS campaign dashboard: ``create_app`` builds a configured Flask application.

The factory lives in `webapp.factory` and is loaded on first use of these names, so that
importing a pure part of the package (``webapp.sms``, ``webapp.csvimport``) loads no Flask,
SQLAlchemy or app. The list import's normalising worker processes import only those parts: a
worker process tree took about 105 MB with the whole app loaded in it, and about 35 MB without.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webapp.factory import (
        CONTENT_SECURITY_POLICY,
        PROJECT_ROOT,
        announce_setup_link,
        create_app,
        setup_link,
        upgrade_database,
    )

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PROJECT_ROOT",
    "announce_setup_link",
    "create_app",
    "setup_link",
    "upgrade_database",
]
_FROM_FACTORY = frozenset(__all__)


def __getattr__(name: str) -> Any:
    if name in _FROM_FACTORY:
        from webapp import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'webapp' has no attribute {name!r}")
