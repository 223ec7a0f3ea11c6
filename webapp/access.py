"""Who may call which view. Every view declares it: ``@public`` or ``@requires(Role.X)``,
with a right given apart from roles where a view needs one (``right=``, e.g. approving).

The app checks the declaration before each request, so access is enforced on the server in one
place; a view that declares nothing is refused to all but admins, and a test walks the URL map to
make sure no view forgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services.accounts import has_users

View = TypeVar("View", bound=Callable)


def public(view: View) -> View:
    """Reachable without signing in (login, first-admin setup, gateway webhooks)."""
    view.access = "public"
    return view


def requires(role: Role, *, right: Callable[[User], bool] | None = None) -> Callable[[View], View]:
    """Reachable by signed-in users whose role includes ``role`` and, with ``right``, for whom
    it holds (a right given apart from roles, such as `User.may_approve`)."""

    def decorate(view: View) -> View:
        view.access = role
        view.access_right = right
        return view

    return decorate


def workspace_has_users() -> bool:
    """Whether anyone can sign in yet; remembered once true, since users are never all deleted."""
    if current_app.extensions.get("has_users"):
        return True
    found = has_users(db.session)
    current_app.extensions["has_users"] = found
    return found


def required_access(endpoint: str | None) -> str | Role:
    if endpoint is None or endpoint == "static":
        return "public"
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "access", Role.ADMIN)


def enforce_access():
    """``before_request`` hook: sign-in first, then the role the view asks for."""
    access = required_access(request.endpoint)
    if access == "public":
        return None
    if not current_user.is_authenticated:
        if not workspace_has_users():
            return redirect(url_for("auth.setup"))
        return current_app.login_manager.unauthorized()
    if not current_user.can(access):
        abort(403)
    right = getattr(current_app.view_functions.get(request.endpoint), "access_right", None)
    if right is not None and not right(current_user):
        abort(403)
    return None
