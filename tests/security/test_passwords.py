"""Passwords: at least 12 characters and not easy to guess, with the reason when refused."""

from __future__ import annotations

import pytest
from helpers import PASSWORD, form_errors

from webapp.models import Role
from webapp.services import accounts


def test_a_password_needs_twelve_characters():
    with pytest.raises(accounts.WeakPassword, match="at least 12 characters"):
        accounts.check_password_strength("Qx7!vR2#mL9")  # 11 characters
    accounts.check_password_strength("Qx7!vR2#mL9k")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password1234", "This is a very common password."),
        ("qwertyuiopasdf", "This is similar to a commonly used password."),
        ("aaaaaaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess.'),
    ],
)
def test_an_easy_password_is_refused_with_the_reason(password, reason):
    with pytest.raises(accounts.WeakPassword) as refused:
        accounts.check_password_strength(password)
    assert reason in str(refused.value)


def test_a_password_made_of_the_email_is_refused():
    with pytest.raises(accounts.WeakPassword):
        accounts.check_password_strength(
            "sara.jensen2024", user_inputs=["sara.jensen2024@example.com"]
        )


def test_the_test_password_is_strong_enough():
    accounts.check_password_strength(PASSWORD, user_inputs=["sara@example.com"])


def test_admin_sees_why_a_new_users_password_is_refused(login_as):
    admin = login_as(Role.ADMIN)
    response = admin.post(
        "/settings/users",
        data={"email": "sara@example.com", "role": "viewer", "password": "password1234"},
    )
    assert response.status_code == 400
    assert any("very common password" in error for error in form_errors(response.text))


def test_own_new_password_is_checked_and_the_reason_shown(login_as):
    client = login_as(Role.VIEWER)
    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": "password1234", "confirm": "password1234"},
    )
    assert response.status_code == 400
    assert any("very common password" in error for error in form_errors(response.text))
