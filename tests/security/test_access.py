"""Every route declares who may use it, and the server enforces it."""

from __future__ import annotations

import re

import pytest

from webapp.access import required_access
from webapp.models import Role

# links: opt-out links; clicks: tracked short links
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "links.opt_out", "clicks.follow", "static"}


def _routes(app):
    """Every rule with a concrete URL and the access its view declares."""
    with app.test_request_context():
        return [
            (
                rule,
                re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "1", rule.rule),
                required_access(rule.endpoint),
            )
            for rule in app.url_map.iter_rules()
        ]


def test_every_view_declares_its_access(app):
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not hasattr(view, "access")
    ]
    assert undeclared == []


def test_only_known_views_are_public(app):
    public = {rule.endpoint for rule, _, access in _routes(app) if access == "public"}
    assert public <= PUBLIC_ENDPOINTS | {e for e in public if e.startswith("webhooks.")}


def test_anonymous_requests_go_to_login(app, client, make_user):
    make_user(Role.ADMIN)
    protected = [(rule, url) for rule, url, access in _routes(app) if access != "public"]
    assert protected
    for rule, url in protected:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith("/login"), (method, url)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SENDER])
def test_roles_are_refused_routes_above_them(app, login_as, role):
    client = login_as(role)
    checked = 0
    for rule, url, access in _routes(app):
        if access == "public" or role.includes(access):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert client.open(url, method=method).status_code == 403, (role, method, url)
            checked += 1
    assert checked


def test_viewer_is_refused_every_state_changing_route(app, login_as):
    client = login_as(Role.VIEWER)
    allowed_for_viewer = {"auth.logout", "auth.change_password", "auth.update_profile"}
    for rule, url, access in _routes(app):
        if rule.endpoint in allowed_for_viewer or access == "public":
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            assert client.open(url, method=method).status_code == 403, (method, url)
