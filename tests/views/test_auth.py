"""Signing in and out, first-admin setup, own password."""

from __future__ import annotations

import pytest
from helpers import PASSWORD, form_errors

from webapp.models import Role


def test_without_users_every_page_leads_to_setup(client):
    assert client.get("/").headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"


def test_first_admin_setup_works_once(client):
    response = client.post(
        "/setup",
        data={"email": "Boss@Example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert response.status_code == 302
    page = client.get("/")
    assert "boss@example.com" in page.text
    assert "admin" in page.text
    assert client.get("/setup").status_code == 404
    again = client.post(
        "/setup", data={"email": "other@example.com", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert again.status_code == 404


def test_setup_errors_keep_what_was_typed(client):
    response = client.post(
        "/setup", data={"email": "boss@example.com", "password": "short", "confirm": "other"}
    )
    assert response.status_code == 200
    assert 'value="boss@example.com"' in response.text
    assert "Use at least 10 characters." in form_errors(response.text)
    assert "The passwords do not match." in form_errors(response.text)


def test_anonymous_user_is_sent_to_login_with_next(client, make_user):
    make_user(Role.ADMIN)
    response = client.get("/settings/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_succeeds_and_follows_next(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post(
        "/login?next=/account", data={"email": " SARA@example.com ", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert "sara@example.com" in client.get("/account").text


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


def test_logout_needs_a_post_and_signs_out(login_as):
    client = login_as(Role.VIEWER)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


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


def test_change_password_checks_the_current_one(login_as):
    client = login_as(Role.VIEWER)
    new = "a much better password"
    response = client.post(
        "/account/password", data={"current": "wrong", "password": new, "confirm": new}
    )
    assert response.status_code == 400
    assert "The current password is not right." in form_errors(response.text)


def test_profile_keeps_phone_and_time_zone(login_as):
    client = login_as(Role.VIEWER)
    response = client.post(
        "/account/profile", data={"phone": "+45 20 12 34 56", "timezone": "America/New_York"}
    )
    assert response.status_code == 302
    page = client.get("/account").text
    assert 'value="+45 20 12 34 56"' in page
    assert '<option selected value="America/New_York">' in page
