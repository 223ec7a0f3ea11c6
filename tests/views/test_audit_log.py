"""The audit log through the pages: each audited action writes exactly one event with who, what,
the object and the client address; only admins see it; no route changes it; the CSV export is
formula-safe; each campaign's and list's page links to its own events."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from helpers import (
    PASSWORD,
    confirm,
    danish_numbers,
    import_id_of,
    make_list,
    preview_via_pages,
    upload,
)
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Batch,
    BatchState,
    Campaign,
    CampaignRecipient,
    RecipientList,
    RecipientState,
    Role,
    User,
)
from webapp.services import audit

ADMIN_EMAIL = "admin@example.com"
CSV = "phone,name\n+4520100001,Ann\n+4520100002,Bo\n"


class Env:
    def __init__(self, app, client, request, make_user):
        self.app, self.client, self.request, self.make_user = app, client, request, make_user

    def list_id(self, name="People", count=3) -> int:
        with self.app.app_context():
            return make_list(db.session, name, danish_numbers(count)).id

    def user_id(self, email="someone@example.com") -> int:
        return self.make_user(Role.VIEWER, email)

    def confirmed_campaign(self) -> int:
        """A campaign confirmed through the pages (queued: no worker runs in these tests)."""
        self.request.getfixturevalue("sandbox")
        cid, _, form = preview_via_pages(self.client, self.list_id(), name="Spring")
        assert self.client.post(f"/campaigns/{cid}/confirm", data=form).status_code == 302
        return cid

    def paused_campaign(self) -> int:
        cid = self.confirmed_campaign()
        assert self.client.post(f"/campaigns/{cid}/pause").status_code == 302
        return cid


@pytest.fixture
def env(app, login_as, request, make_user):
    return Env(app, login_as(Role.ADMIN, ADMIN_EMAIL), request, make_user)


def new_client_sign_in(env, password):
    other = env.app.test_client()
    return other.post("/login", data={"email": ADMIN_EMAIL, "password": password})


# Each case prepares what its action needs and returns the request that does it.


def sign_in(env):
    return lambda: new_client_sign_in(env, PASSWORD)


def sign_in_failed(env):
    return lambda: new_client_sign_in(env, "not the password")


def password_changed(env):
    new = PASSWORD + " again"
    data = {"current": PASSWORD, "password": new, "confirm": new}
    return lambda: env.client.post("/account/password", data=data)


def user_created(env):
    data = {"email": "new@example.com", "role": "viewer", "password": PASSWORD}
    return lambda: env.client.post("/settings/users", data=data)


def user_role(env):
    uid = env.user_id()
    return lambda: env.client.post(f"/settings/users/{uid}/role", data={f"u{uid}-role": "sender"})


def user_active(env):
    uid = env.user_id()
    return lambda: env.client.post(f"/settings/users/{uid}/active")


def user_unlocked(env):
    uid = env.user_id()
    return lambda: env.client.post(f"/settings/users/{uid}/unlock")


def user_password(env):
    uid = env.user_id()
    data = {"password": PASSWORD + " new"}
    return lambda: env.client.post(f"/settings/users/{uid}/password", data=data)


def settings(env):
    return lambda: env.client.post("/settings/", data={"default_country": "SE"})


def list_uploaded(env):
    return lambda: upload(env.client, CSV)


def list_imported(env):
    import_id = import_id_of(upload(env.client, CSV))
    return lambda: confirm(env.client, import_id, phone_column="0", keep=["1"], name_1="name")


def list_import_cancelled(env):
    import_id = import_id_of(upload(env.client, CSV))
    return lambda: env.client.post(f"/lists/imports/{import_id}/cancel")


def list_renamed(env):
    lid = env.list_id()
    return lambda: env.client.post(f"/lists/{lid}/rename", data={"name": "Renamed"})


def list_deleted(env):
    lid = env.list_id()
    return lambda: env.client.post(f"/lists/{lid}/delete")


def list_exported(env):
    lid = env.list_id()
    return lambda: env.client.get(f"/lists/{lid}/export.csv")


def opt_out_added(env):
    data = {"numbers": "+4520100001, +4520100002"}
    return lambda: env.client.post("/lists/opt-outs/add", data=data)


def opt_out_imported(env):
    return lambda: env.client.post(
        "/lists/opt-outs/upload",
        data={"file": (io.BytesIO(b"+4520100001\n"), "stop.csv")},
        content_type="multipart/form-data",
    )


def opt_out_removed(env):
    env.client.post("/lists/opt-outs/add", data={"numbers": "+4520100001"})
    return lambda: env.client.post("/lists/opt-outs/4520100001/remove")


def campaign_confirmed(env):
    env.request.getfixturevalue("sandbox")
    cid, _, form = preview_via_pages(env.client, env.list_id(), name="Spring")
    return lambda: env.client.post(f"/campaigns/{cid}/confirm", data=form)


def _draft(env) -> int:
    data = {"name": "Spring", "sender": "Shop", "message": "Hi", "encoding": "auto"}
    response = env.client.post("/campaigns/new", data=data)
    return int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))


def campaign_copied(env):
    cid = _draft(env)
    return lambda: env.client.post(f"/campaigns/{cid}/copy")


def campaign_deleted(env):
    cid = _draft(env)
    return lambda: env.client.post(f"/campaigns/{cid}/delete")


def campaign_follow_up(env):
    cid = env.confirmed_campaign()
    with env.app.app_context():
        db.session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == cid)
            .values(state=RecipientState.FAILED)
        )
        db.session.commit()
    return lambda: env.client.post(f"/campaigns/{cid}/follow-up")


def campaign_paused(env):
    cid = env.confirmed_campaign()
    return lambda: env.client.post(f"/campaigns/{cid}/pause")


def campaign_resumed(env):
    cid = env.paused_campaign()
    return lambda: env.client.post(f"/campaigns/{cid}/resume")


def campaign_cancelled(env):
    cid = env.confirmed_campaign()
    return lambda: env.client.post(f"/campaigns/{cid}/cancel")


def campaign_speed(env):
    cid = env.confirmed_campaign()
    return lambda: env.client.post(f"/campaigns/{cid}/speed", data={"speed_per_minute": "100"})


def campaign_changed(env):
    env.request.getfixturevalue("sandbox")
    cid, _, _ = preview_via_pages(env.client, env.list_id(), name="Spring")
    return lambda: env.client.post(f"/campaigns/{cid}/undeliverable", data={"include": "1"})


def campaign_decided(env):
    cid = env.confirmed_campaign()
    with env.app.app_context():
        batch_id = db.session.scalar(select(Batch.id).where(Batch.campaign_id == cid))
        db.session.execute(
            update(Batch).where(Batch.id == batch_id).values(state=BatchState.UNCONFIRMED)
        )
        db.session.commit()
    data = {"accepted": "yes"}
    return lambda: env.client.post(f"/campaigns/{cid}/batches/{batch_id}/decide", data=data)


def user_approver(env):
    uid = env.user_id()
    return lambda: env.client.post(f"/settings/users/{uid}/approver")


def _approval_limits(env):
    from helpers import approval_limits

    with env.app.app_context():
        approval_limits(db.session, recipients=1)


def _asked_by(env, client) -> int:
    """A campaign over the approval limits, asked for approval by ``client``'s user."""
    env.request.getfixturevalue("sandbox")
    _approval_limits(env)
    cid, _, form = preview_via_pages(client, env.list_id(), name="Spring")
    assert client.post(f"/campaigns/{cid}/ask-approval", data=form).status_code == 302
    return cid


def _senders_client(env):
    other = env.app.test_client()
    env.make_user(Role.SENDER, "asker@example.com")
    other.post("/login", data={"email": "asker@example.com", "password": PASSWORD})
    return other


def campaign_approval_requested(env):
    env.request.getfixturevalue("sandbox")
    _approval_limits(env)
    cid, _, form = preview_via_pages(env.client, env.list_id(), name="Spring")
    return lambda: env.client.post(f"/campaigns/{cid}/ask-approval", data=form)


def _fingerprint(env, cid) -> str:
    page = env.client.get(f"/campaigns/{cid}/preview").text
    return re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)


def campaign_approved(env):
    cid = _asked_by(env, _senders_client(env))
    data = {"comment": "ok", "fingerprint": _fingerprint(env, cid)}
    return lambda: env.client.post(f"/campaigns/{cid}/approve", data=data)


def campaign_rejected(env):
    cid = _asked_by(env, _senders_client(env))
    data = {"comment": "not now", "fingerprint": _fingerprint(env, cid)}
    return lambda: env.client.post(f"/campaigns/{cid}/reject", data=data)


def campaign_withdrawn(env):
    cid = _asked_by(env, env.client)
    return lambda: env.client.post(f"/campaigns/{cid}/withdraw")


def campaign_winner(env):
    env.request.getfixturevalue("sandbox")
    test = {"variants": "2", "message_b": "Hello", "share_a": "10", "share_b": "10"}
    cid, _, form = preview_via_pages(env.client, env.list_id(count=20), name="Spring", **test)
    assert env.client.post(f"/campaigns/{cid}/confirm", data=form).status_code == 302
    return lambda: env.client.post(f"/campaigns/{cid}/winner", data={"variant": "B"})


def webhook_rejected(env):
    return lambda: env.app.test_client().post(
        "/webhooks/delivery-reports",
        json={"id": 1, "msisdn": 4520100001, "status": "DELIVERED"},
        headers={"X-Gwapi-Signature": "not.a.signature"},
        csrf=False,
    )


CASES = {
    case.__name__: case
    for case in (
        sign_in,
        sign_in_failed,
        password_changed,
        user_created,
        user_role,
        user_active,
        user_unlocked,
        user_approver,
        user_password,
        settings,
        list_uploaded,
        list_imported,
        list_import_cancelled,
        list_renamed,
        list_deleted,
        list_exported,
        opt_out_added,
        opt_out_imported,
        opt_out_removed,
        campaign_copied,
        campaign_deleted,
        campaign_follow_up,
        campaign_confirmed,
        campaign_approval_requested,
        campaign_approved,
        campaign_rejected,
        campaign_withdrawn,
        campaign_paused,
        campaign_resumed,
        campaign_cancelled,
        campaign_speed,
        campaign_changed,
        campaign_decided,
        campaign_winner,
        webhook_rejected,
    )
}

BY_NOBODY = {"sign_in_failed", "webhook_rejected"}


def last_event_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def events_after(app, event_id: int) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)
            )
        )


def test_every_recorded_action_has_a_case_here():
    assert set(CASES) >= set(audit.ACTIONS) - {
        "campaign_reconciled",  # by the system: tests/services/test_audit.py
        "campaign_finished",
        "list_import_done",  # by the system: tests/services/test_audit_gaps.py
        "list_import_failed",
        "campaign_awaiting_winner",  # by the system: tests/services/test_abtests.py
    }


@pytest.mark.parametrize("action", sorted(CASES))
def test_each_audited_action_writes_exactly_one_event(app, env, action):
    act = CASES[action](env)
    before = last_event_id(app)
    response = act()
    assert response.status_code < 500
    events = events_after(app, before)
    assert [event.action for event in events] == [action]
    event = events[0]
    assert event.address == "127.0.0.1"
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
    if action in BY_NOBODY:
        assert (event.user_id, event.actor) == (None, audit.SYSTEM)
    else:
        assert (event.user_id, event.actor) == (admin_id, ADMIN_EMAIL)
    assert event.object_type in audit.OBJECT_TYPES


def test_a_failed_sign_in_names_the_account_asked_for(app, env):
    before = last_event_id(app)
    new_client_sign_in(env, "wrong")
    (event,) = events_after(app, before)
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
    assert (event.object_type, event.object_id, event.object_label) == (
        "user",
        str(admin_id),
        ADMIN_EMAIL,
    )


def test_a_refused_sign_in_is_one_failed_event(app, env):
    app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS"] = "1 per 15 minutes"
    for _ in range(2):
        new_client_sign_in(env, "wrong")
    before = last_event_id(app)
    assert new_client_sign_in(env, "wrong").status_code == 429
    (event,) = events_after(app, before)
    assert event.action == "sign_in_failed"
    assert event.detail.startswith("Refused before checking: Too many failed sign-in attempts")


# --- Nobody changes the log -------------------------------------------------------------------


def test_no_route_under_the_audit_log_accepts_a_change(app):
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "audit" in rule.rule or "audit" in rule.endpoint
    ]
    assert {rule.endpoint for rule in rules} == {"admin.audit_log", "admin.audit_export"}
    for rule in rules:
        assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def _audit_rows(app) -> list[tuple]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(AuditEvent.__table__).order_by(AuditEvent.id)
            ).all()
        ]


def test_no_route_changes_or_deletes_an_audit_event(app, env):
    """Walk the URL map: every route, with every method it takes, called by an admin with a
    CSRF token and every id in its URL naming an existing event, leaves every event as it was
    (new events may be added: the log only grows)."""
    with app.app_context():
        for n in range(3):
            audit.record(db.session, "settings", user=None, obj=audit.Target("settings", n))
        db.session.commit()
    before = _audit_rows(app)
    event_id = before[-1][0]
    called = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", str(event_id), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client = app.test_client()
            signed_in = client.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
            assert signed_in.headers["Location"] == "/", (method, url)  # still an admin
            try:
                client.open(url, method=method, data={"id": str(event_id)})
            except Exception:  # noqa: S112 (a route that fails on made-up ids changed nothing)
                with app.app_context():
                    db.session.rollback()
            called += 1
            after = _audit_rows(app)
            assert after[: len(before)] == before, (method, url)
    assert called > 80  # every route and method (about 90)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/settings/audit", "/settings/audit.csv"])
def test_changing_requests_to_the_audit_log_are_not_allowed(app, env, method, path):
    before = last_event_id(app)
    assert env.client.open(path, method=method).status_code == 405
    assert events_after(app, before) == []


# --- Who sees it ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SENDER])
@pytest.mark.parametrize("path", ["/settings/audit", "/settings/audit.csv"])
def test_only_admins_see_the_audit_log(login_as, role, path):
    assert login_as(role).get(path).status_code == 403


def test_the_audit_log_shows_who_did_what_to_which_object(env):
    lid = env.list_id("Winter")
    env.client.post(f"/lists/{lid}/rename", data={"name": "Summer"})
    page = env.client.get("/settings/audit").text
    assert 'aria-current="page">Audit log' in page, page

    row = re.search(r'<tr data-test="audit-row">(.*?)</tr>', page, re.S)[1]
    text = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    assert f"{ADMIN_EMAIL} list renamed list: Summer ({lid}) “Winter” → “Summer” 127.0.0.1" in text


def test_the_filters_choose_events_by_who_what_object_and_days(app, env):
    lid = env.list_id()
    env.client.post(f"/lists/{lid}/rename", data={"name": "Renamed"})
    env.client.get(f"/lists/{lid}/export.csv")
    env.app.test_client().post("/login", data={"email": "nobody@example.com", "password": "x"})

    def total(**args):
        page = env.client.get("/settings/audit", query_string=args)
        assert page.status_code == 200, page.text
        return int(re.search(r'data-test="audit-total">([\d,]+) event', page.text)[1])

    assert total() == 4  # the admin's sign-in, the rename, the export, the failed sign-in
    assert total(object="list", object_id=str(lid)) == 2
    assert total(action="list_exported") == 1
    assert total(who="system") == 1
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
    assert total(who=str(admin_id)) == 3
    today = datetime.now(UTC).date()  # the admin's zone is Copenhagen: today or tomorrow there
    assert (
        total(since=f"{today.replace(year=today.year - 1)}", until=f"{today.year + 1}-01-01") == 4
    )
    assert total(until=f"{today.replace(year=today.year - 1)}") == 0


def test_filters_that_cannot_be_read_say_so(env):
    response = env.client.get("/settings/audit?action=erase_everything&since=yesterday")
    assert response.status_code == 400
    assert "Correct the filter above" in response.text
    assert "is not a date" in response.text


def test_the_log_is_paginated(app, env):
    with app.app_context():
        for n in range(60):
            audit.record(db.session, "list_exported", user=None, obj=audit.Target("list", n, "L"))
        db.session.commit()
    first = env.client.get("/settings/audit").text
    assert first.count('data-test="audit-row"') == 50
    assert "Page 1 of 2" in first
    second = env.client.get("/settings/audit?page=2").text
    assert second.count('data-test="audit-row"') == 11  # and the admin's sign-in


def test_the_csv_export_is_formula_safe_with_a_bom(env):
    lid = env.list_id()
    env.client.post(f"/lists/{lid}/rename", data={"name": '=HYPERLINK("http://evil.example")'})
    response = env.client.get("/settings/audit.csv?action=list_renamed")
    assert response.headers["Content-Type"].startswith("text/csv")
    body = response.data.decode("utf-8")
    assert body.startswith("\ufefftime,who,action,object type,object id,object,detail,client")
    (row,) = body.splitlines()[1:]
    assert ',"\'=HYPERLINK(""http://evil.example"")",' in row
    assert f"{ADMIN_EMAIL},list_renamed,list,{lid}," in row


# --- Each object's page links to its own events ---------------------------------------------


def test_a_lists_page_links_admins_to_its_events(app, env, login_as):
    lid = env.list_id()
    page = env.client.get(f"/lists/{lid}").text
    link = f"/settings/audit?object=list&amp;object_id={lid}"
    assert link in page
    other = app.test_client()
    with app.app_context():
        db.session.get(RecipientList, lid)
    env.make_user(Role.SENDER, "sender@example.com")
    other.post("/login", data={"email": "sender@example.com", "password": PASSWORD})
    assert 'data-test="audit-link"' not in other.get(f"/lists/{lid}").text


def test_a_campaigns_page_links_admins_to_its_events(app, env):
    cid = env.confirmed_campaign()
    page = env.client.get(f"/campaigns/{cid}").text
    assert f"/settings/audit?object=campaign&amp;object_id={cid}" in page
    events = env.client.get(f"/settings/audit?object=campaign&object_id={cid}").text
    assert "campaign confirmed" in events
    with app.app_context():
        assert db.session.get(Campaign, cid).name == "Spring"


def test_a_flood_of_forged_webhook_posts_cannot_fill_the_log(app, env, caplog):
    """Past WEBHOOK_REJECTION_AUDIT_LIMIT per address, refused posts are refused alike but only
    logged: the audit log keeps the first ones."""
    app.config["WEBHOOK_REJECTION_AUDIT_LIMIT"] = "3 per minute"
    post = webhook_rejected(env)
    before = last_event_id(app)
    codes = [post().status_code for _ in range(10)]
    assert codes == [401] * 10
    assert [event.action for event in events_after(app, before)] == ["webhook_rejected"] * 3
    assert "not in the audit log" in caplog.text
