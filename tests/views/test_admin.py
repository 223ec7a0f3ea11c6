"""Admins manage users and workspace settings."""

from __future__ import annotations

from helpers import PASSWORD, form_errors

from webapp.models import Role


def test_admin_creates_a_user_who_can_sign_in(app, login_as):
    admin = login_as(Role.ADMIN)
    response = admin.post(
        "/settings/users", data={"email": "new@example.com", "role": "viewer", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert "new@example.com" in admin.get("/settings/users").text
    other = app.test_client()
    assert (
        other.post("/login", data={"email": "new@example.com", "password": PASSWORD}).status_code
        == 302
    )


def test_duplicate_email_is_a_form_error(login_as):
    admin = login_as(Role.ADMIN)
    response = admin.post(
        "/settings/users",
        data={"email": "ADMIN@example.com", "role": "viewer", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert "A user with the email admin@example.com already exists." in form_errors(response.text)


def test_admin_changes_a_role(app, login_as, make_user):
    admin = login_as(Role.ADMIN)
    user_id = make_user(Role.VIEWER, "vera@example.com")
    response = admin.post(f"/settings/users/{user_id}/role", data={f"u{user_id}-role": "sender"})
    assert response.status_code == 302
    assert "vera@example.com is now sender." in admin.get("/settings/users").text


def test_deactivating_signs_the_user_out(app, login_as, make_user):
    admin = login_as(Role.ADMIN)
    user_id = make_user(Role.VIEWER, "vera@example.com")
    vera = app.test_client()
    vera.post("/login", data={"email": "vera@example.com", "password": PASSWORD})
    assert vera.get("/").status_code == 200
    admin.post(f"/settings/users/{user_id}/active")
    assert vera.get("/").status_code == 302


def test_the_last_admin_cannot_be_demoted_or_deactivated(app, login_as):
    admin = login_as(Role.ADMIN)
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        admin_id = db.session.scalar(db.select(User.id))
    admin.post(f"/settings/users/{admin_id}/role", data={f"u{admin_id}-role": "viewer"})
    assert (
        "The last active administrator cannot lose the admin role."
        in admin.get("/settings/users").text
    )
    admin.post(f"/settings/users/{admin_id}/active")
    assert (
        "The last active administrator cannot be deactivated." in admin.get("/settings/users").text
    )


def test_admin_sets_the_default_country(login_as):
    admin = login_as(Role.ADMIN)
    assert 'value="DK"' in admin.get("/settings/").text
    assert admin.post("/settings/", data={"default_country": "se"}).status_code == 302
    assert 'value="SE"' in admin.get("/settings/").text
    bad = admin.post("/settings/", data={"default_country": "XX"})
    assert bad.status_code == 400
    assert "XX is not a country code such as DK or SE." in form_errors(bad.text)
    assert 'value="XX"' in bad.text


def test_admin_sets_the_reply_keywords_and_the_stop_answer(login_as):
    admin = login_as(Role.ADMIN)
    assert 'value="AFMELD, AFMELDING, CANCEL, END, QUIT, STOP, STOPP, UNSUBSCRIBE"' in (
        admin.get("/settings/").text
    )
    saved = admin.post(
        "/settings/replies",
        data={"stop_words": "stop nej", "start_words": "ja", "stop_confirmation": "Bye from Shop"},
    )
    assert saved.status_code == 302
    page = admin.get("/settings/").text
    assert 'value="NEJ, STOP"' in page and 'value="JA"' in page and "Bye from Shop" in page
    bad = admin.post("/settings/replies", data={"stop_words": "stop", "start_words": "stop"})
    assert bad.status_code == 400
    assert "STOP cannot both opt out and opt in." in form_errors(bad.text)


def test_admin_turns_on_quiet_hours_with_sundays_and_dates_closed(app, login_as):
    from webapp.extensions import db
    from webapp.services.quiet_hours import quiet_hours

    admin = login_as(Role.ADMIN)
    saved = admin.post(
        "/settings/quiet-hours",
        data={
            "enabled": "y",
            "start": "09:00",
            "end": "20:00",
            "no_sundays": "y",
            "dates": "2026-12-24 2026-12-31",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        hours = quiet_hours(db.session, app.config)
    assert (hours.start.hour, hours.end.hour, hours.no_sundays) == (9, 20, True)
    assert len(hours.closed_dates) == 2
    bad = admin.post(
        "/settings/quiet-hours", data={"enabled": "y", "start": "21:00", "end": "08:00"}
    )
    assert bad.status_code == 400
    assert "The allowed hours must start before they end (within one day)." in form_errors(bad.text)
