"""Sign-in: one answer for every miss, limits on guessing, safe redirects, sessions that end."""

from __future__ import annotations

import pytest
from helpers import PASSWORD, form_errors

from webapp.models import Role


def test_login_never_redirects_to_another_site(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post(
        "/login?next=//evil.example/", data={"email": "sara@example.com", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused_with_one_message(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    wrong = client.post("/login", data={"email": "sara@example.com", "password": "nope"})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "nope"})
    for response in (wrong, unknown):
        assert "The email or password is not right." in form_errors(response.text)
        assert 'value="' in response.text  # the email stays in the field
    assert client.get("/").status_code == 302


def test_deactivated_user_cannot_sign_in(app, client, make_user):
    from webapp.extensions import db
    from webapp.models import User
    from webapp.services import accounts

    make_user(Role.ADMIN, "boss@example.com")
    user_id = make_user(Role.SENDER, "sara@example.com")
    with app.app_context():
        accounts.set_active(db.session, db.session.get(User, user_id), False)
    response = client.post("/login", data={"email": "sara@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert "The email or password is not right." in form_errors(response.text)


def test_failed_logins_are_limited_per_account(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    for _ in range(5):
        client.post("/login", data={"email": "sara@example.com", "password": "wrong"})
    blocked = client.post("/login", data={"email": "sara@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts for this account" in blocked.text
    # Another account from the same address is not blocked by it.
    make_user(Role.VIEWER, "vera@example.com")
    other = client.post("/login", data={"email": "vera@example.com", "password": PASSWORD})
    assert other.status_code == 302


@pytest.mark.parametrize("app_config", [{"LOGIN_LIMIT_PER_IP": "3 per 15 minutes"}])
def test_failed_logins_are_limited_per_address(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    for n in range(3):
        client.post("/login", data={"email": f"guess{n}@example.com", "password": "wrong"})
    blocked = client.post("/login", data={"email": "sara@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "from this network" in blocked.text


def test_successful_logins_do_not_count_towards_the_limit(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    for _ in range(8):
        assert (
            client.post("/login", data={"email": "sara@example.com", "password": PASSWORD})
        ).status_code == 302
        client.post("/logout")


def test_remember_me_sets_a_long_lived_cookie(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post(
        "/login", data={"email": "sara@example.com", "password": PASSWORD, "remember": "y"}
    )
    cookies = response.headers.getlist("Set-Cookie")
    remember = [c for c in cookies if c.startswith("remember_token=")]
    assert remember and "HttpOnly" in remember[0]


def test_change_password_signs_out_other_sessions(app, login_as):
    client = login_as(Role.VIEWER)
    other = app.test_client()
    other.post("/login", data={"email": "viewer@example.com", "password": PASSWORD})
    assert other.get("/").status_code == 200
    new = "a much better password"
    response = client.post(
        "/account/password", data={"current": PASSWORD, "password": new, "confirm": new}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this session stays signed in
    assert other.get("/").status_code == 302
    client.post("/logout")
    assert (
        client.post("/login", data={"email": "viewer@example.com", "password": new}).status_code
        == 302
    )


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example",
        "/%0A/x",
        "/%0D%0ALocation:%20https://evil.example",
        "/%5Cevil.example",
        "/%20/evil.example",
        "///evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/%E2%80%8B/evil.example",
    ],
)
def test_next_after_sign_in_is_only_a_same_site_path(client, make_user, target):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post(
        f"/login?next={target}", data={"email": "sara@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_keeps_a_same_site_path_with_its_query(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post(
        "/login?next=/lists/%3Fq%3Danna", data={"email": "sara@example.com", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/lists/?q=anna"


def test_unknown_email_costs_the_same_password_check_as_a_known_one(
    app, make_user, password_checks
):
    """No timing difference to tell accounts apart: an unknown email is checked against a dummy
    hash of the same kind and cost."""
    from webapp.extensions import db
    from webapp.services import accounts

    make_user(Role.SENDER, "sara@example.com")
    password_checks.clear()
    with app.app_context():
        assert accounts.authenticate(db.session, "sara@example.com", "wrong password") is None
        assert accounts.authenticate(db.session, "nobody@example.com", "wrong password") is None
    methods = [method for method, _ in password_checks]
    assert len(methods) == 2
    assert methods[0] == methods[1]


def _copy_cookie(source, target, name: str) -> None:
    cookie = source.get_cookie(name)
    assert cookie is not None, name
    target.set_cookie(name, cookie.value)


def test_a_copied_session_cookie_stops_working_after_sign_out(app, login_as):
    client = login_as(Role.VIEWER)
    copy = app.test_client()
    _copy_cookie(client, copy, "session")
    assert copy.get("/").status_code == 200
    client.post("/logout")
    assert copy.get("/").status_code == 302


def test_a_copied_remember_me_cookie_stops_working_after_sign_out(app, client, make_user):
    make_user(Role.VIEWER, "vera@example.com")
    client.post("/login", data={"email": "vera@example.com", "password": PASSWORD, "remember": "y"})
    copy = app.test_client()
    _copy_cookie(client, copy, "remember_token")
    assert copy.get("/").status_code == 200  # remembered without a session
    client.post("/logout")
    fresh = app.test_client()
    _copy_cookie(copy, fresh, "remember_token")
    assert fresh.get("/").status_code == 302


def _remember_cookie_days(response) -> float:
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "remember_token=" in c)
    expires = next(p for p in cookie.split("; ") if p.startswith("Expires="))
    left = parsedate_to_datetime(expires.removeprefix("Expires=")) - datetime.now(UTC)
    return left.total_seconds() / 86400


def test_remember_me_lasts_fourteen_days_by_default(client, make_user):
    make_user(Role.VIEWER, "vera@example.com")
    response = client.post(
        "/login", data={"email": "vera@example.com", "password": PASSWORD, "remember": "y"}
    )
    assert 13.9 < _remember_cookie_days(response) <= 14


@pytest.mark.parametrize("app_config", [{"REMEMBER_COOKIE_DAYS": 3}])
def test_remember_me_lasts_the_configured_days(client, make_user):
    make_user(Role.VIEWER, "vera@example.com")
    response = client.post(
        "/login", data={"email": "vera@example.com", "password": PASSWORD, "remember": "y"}
    )
    assert 2.9 < _remember_cookie_days(response) <= 3
