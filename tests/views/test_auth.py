"""Signing in and out, first-admin setup, own password."""

from __future__ import annotations

from helpers import PASSWORD, form_errors

from webapp.models import Role


def test_without_users_every_page_leads_to_setup(client):
    assert client.get("/").headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"


def test_first_admin_setup_works_once(client, setup_token):
    response = client.post(
        "/setup",
        data={
            "email": "Boss@Example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "token": setup_token,
        },
    )
    assert response.status_code == 302
    page = client.get("/")
    assert "boss@example.com" in page.text
    assert "admin" in page.text
    assert client.get("/setup").status_code == 404
    again = client.post(
        "/setup",
        data={
            "email": "other@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "token": setup_token,
        },
    )
    assert again.status_code == 404


def test_setup_errors_keep_what_was_typed(client, setup_token):
    response = client.post(
        "/setup",
        data={
            "email": "boss@example.com",
            "password": "short",
            "confirm": "other",
            "token": setup_token,
        },
    )
    assert response.status_code == 200
    assert 'value="boss@example.com"' in response.text
    assert "Use at least 12 characters." in form_errors(response.text)
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


def test_logout_needs_a_post_and_signs_out(login_as):
    client = login_as(Role.VIEWER)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


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
