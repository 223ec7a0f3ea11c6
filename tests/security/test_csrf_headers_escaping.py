"""CSRF, security headers, cookies and escaping of hostile text."""

from __future__ import annotations

import pytest
from helpers import PASSWORD

from webapp.models import Role


def test_post_without_csrf_token_is_rejected(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post(
        "/login", data={"email": "sara@example.com", "password": PASSWORD}, csrf=False
    )
    assert response.status_code == 400
    assert "Reload the page and try again" in response.text
    assert client.get("/").status_code == 302  # not signed in


def test_htmx_request_carries_the_token_in_a_header(login_as):
    client = login_as(Role.VIEWER)
    refused = client.post("/logout", headers={"HX-Request": "true"}, csrf=False)
    assert refused.status_code == 400
    accepted = client.post(
        "/logout", headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()}, csrf=False
    )
    assert accepted.status_code == 302


def test_every_page_has_the_csrf_header_for_htmx(login_as):
    page = login_as(Role.VIEWER).get("/").text
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


def test_security_headers(client, make_user):
    make_user(Role.ADMIN)
    headers = client.get("/login").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly_and_lax(client, make_user):
    make_user(Role.SENDER, "sara@example.com")
    response = client.post("/login", data={"email": "sara@example.com", "password": PASSWORD})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_pages_use_no_external_resources(login_as):
    page = login_as(Role.ADMIN).get("/settings/users").text
    assert "http://" not in page and "https://" not in page


def test_user_text_is_escaped(app, login_as):
    client = login_as(Role.ADMIN)
    client.post(
        "/settings/users",
        data={"email": "<script>x</script>@example.com", "role": "viewer", "password": PASSWORD},
    )
    page = client.get("/settings/users").text
    assert "<script>x</script>" not in page


def test_sandbox_banner_on_every_page(client, make_user):
    make_user(Role.ADMIN)
    assert (
        "Sandbox:</strong> messages are simulated, nothing is delivered."
        in client.get("/login").text
    )


REAL_TOKEN = "live-token-Xks23kDEksU78skS"


@pytest.mark.parametrize(
    "app_config",
    [{"SMS_API_TOKEN": REAL_TOKEN, "SMS_GATEWAY_URL": "http://127.0.0.1:9/rest/mtsms"}],
)
def test_the_api_token_is_never_shown_or_logged(login_as, caplog):
    caplog.set_level("DEBUG")
    admin = login_as(Role.ADMIN)
    pages = [admin.get(url).text for url in ("/", "/settings/", "/settings/users", "/campaigns/")]
    pages.append(admin.get("/balance").text)  # the gateway is down: its error is shown
    assert "Could not read the balance" in pages[-1]
    assert all(REAL_TOKEN not in page for page in pages)
    assert "nothing is delivered" not in pages[0]
    assert REAL_TOKEN not in caplog.text


@pytest.mark.parametrize("app_config", [{"SESSION_COOKIE_SECURE": True}])
def test_every_security_header_is_held(client, make_user):
    """The headers the review passed: a change to any of them must be a decision."""
    from webapp import CONTENT_SECURITY_POLICY

    make_user(Role.ADMIN)
    headers = client.get("/login").headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "object-src 'none'" in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    assert headers["Cache-Control"] == "no-store"
    assert "HX-Request" in headers["Vary"]
