"""Failed sign-ins lock an account per client address, with a higher ceiling per account; an
attempt counts before its password is checked; admins can unlock and set a new password."""

from __future__ import annotations

import threading

import pytest
from helpers import PASSWORD

from webapp.extensions import db
from webapp.models import Role, User

NEW_PASSWORD = "violet kettle orbit 42"


def _sign_in(client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _lock(client, email: str, address: str = "198.51.100.7", times: int = 5) -> None:
    for _ in range(times):
        assert _sign_in(client, email, "wrong guess", address).status_code == 200


def test_guesses_from_elsewhere_do_not_lock_the_owner_out(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    _lock(client, "sara@example.com", "198.51.100.7")
    assert _sign_in(client, "sara@example.com", PASSWORD, "198.51.100.7").status_code == 429
    assert _sign_in(client, "sara@example.com", PASSWORD, "203.0.113.9").status_code == 302


@pytest.mark.parametrize("app_config", [{"LOGIN_LIMIT_PER_ACCOUNT": "6 per 15 minutes"}])
def test_guesses_from_many_addresses_hit_the_account_ceiling(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    for n in range(6):
        _sign_in(client, "sara@example.com", "wrong guess", f"198.51.100.{n + 1}")
    blocked = _sign_in(client, "sara@example.com", PASSWORD, "203.0.113.9")
    assert blocked.status_code == 429
    assert "ask an administrator to unlock it" in blocked.text


def test_an_admin_unlocks_a_locked_account(app, login_as, make_user):
    user_id = make_user(Role.SENDER, "sara@example.com")
    other = app.test_client()
    _lock(other, "sara@example.com", "127.0.0.1")
    assert _sign_in(other, "sara@example.com", PASSWORD).status_code == 429
    admin = login_as(Role.ADMIN)
    assert "locked" in admin.get("/settings/users").text
    assert admin.post(f"/settings/users/{user_id}/unlock").status_code == 302
    assert _sign_in(other, "sara@example.com", PASSWORD).status_code == 302


def test_an_admin_sets_a_new_password_which_also_unlocks(app, login_as, make_user):
    user_id = make_user(Role.SENDER, "sara@example.com")
    other = app.test_client()
    _lock(other, "sara@example.com", "127.0.0.1")
    admin = login_as(Role.ADMIN)
    weak = admin.post(f"/settings/users/{user_id}/password", data={"password": "password1234"})
    assert weak.status_code == 302
    assert "very common password" in admin.get("/settings/users").text
    response = admin.post(f"/settings/users/{user_id}/password", data={"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert _sign_in(other, "sara@example.com", PASSWORD).status_code == 200
    assert _sign_in(other, "sara@example.com", NEW_PASSWORD).status_code == 302


def test_the_cli_unlocks_and_sets_a_password_through_the_same_service(app, client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    _lock(client, "sara@example.com", "127.0.0.1")
    runner = app.test_cli_runner()
    unlocked = runner.invoke(args=["users", "unlock", "sara@example.com"])
    assert unlocked.exit_code == 0, unlocked.output
    assert "unlocked" in unlocked.output
    assert _sign_in(client, "sara@example.com", PASSWORD).status_code == 302
    changed = runner.invoke(
        args=["users", "set-password", "sara@example.com"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert changed.exit_code == 0, changed.output
    assert client.get("/").status_code == 302  # the new password signed sara out everywhere
    assert _sign_in(client, "sara@example.com", NEW_PASSWORD).status_code == 302
    unknown = runner.invoke(args=["users", "unlock", "nobody@example.com"])
    assert unknown.exit_code != 0 and "No user" in unknown.output


def test_parallel_guesses_check_no_more_passwords_than_the_limit(app, make_user, password_checks):
    make_user(Role.SENDER, "sara@example.com")
    password_checks.clear()
    clients = [app.test_client() for _ in range(40)]
    for guesser in clients:
        guesser.csrf_token()  # each has its session before the race starts
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def guess(guesser, n: int) -> None:
        start.wait()
        statuses.append(_sign_in(guesser, "sara@example.com", f"guess number {n}").status_code)

    threads = [threading.Thread(target=guess, args=(c, n)) for n, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == 40
    assert len(password_checks) <= 5
    assert statuses.count(429) >= 35


def test_a_deactivated_admin_account_cannot_be_unlocked_into_use(app, login_as, make_user):
    """Unlocking only clears the failures: it does not reactivate anyone."""
    user_id = make_user(Role.SENDER, "sara@example.com")
    admin = login_as(Role.ADMIN)
    admin.post(f"/settings/users/{user_id}/active")
    admin.post(f"/settings/users/{user_id}/unlock")
    with app.app_context():
        assert db.session.get(User, user_id).active is False


def test_an_admin_setting_their_own_password_stays_signed_in(app, login_as):
    admin = login_as(Role.ADMIN)
    with app.app_context():
        admin_id = db.session.scalar(db.select(User.id).where(User.email == "admin@example.com"))
    admin.post(f"/settings/users/{admin_id}/password", data={"password": NEW_PASSWORD})
    assert admin.get("/settings/users").status_code == 200
