"""The approval flow through the pages: "Confirm and send" becomes "Ask for approval" above the
workspace's limits; approvers (admins, and users with the approver right) see the waiting
campaign on their home page and decide on its preview; the server enforces who may decide;
every form carries its CSRF token; an optional e-mail goes to APPROVAL_NOTIFY_EMAIL."""

from __future__ import annotations

import re

import pytest
from helpers import (
    PASSWORD,
    approval_limits,
    danish_numbers,
    make_list,
    preview_via_pages,
    text_of,
)
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Campaign, CampaignStatus, Role, User

SENDER = "sender@example.com"
ADMIN = "admin@example.com"


@pytest.fixture
def app_config():
    return {"APPROVAL_NOTIFY_EMAIL": "", "MAIL_BACKEND": "locmem"}


@pytest.fixture
def env(app, client, make_user, sandbox):
    """A sender signed in on ``client``, an admin on ``env.admin``, limits of 3 recipients."""

    class Env:
        pass

    env = Env()
    env.app, env.sender = app, client
    make_user(Role.SENDER, SENDER)
    make_user(Role.ADMIN, ADMIN)
    env.sender_id = sign_in(client, SENDER, app)
    env.admin = app.test_client()
    env.admin_id = sign_in(env.admin, ADMIN, app)
    with app.app_context():
        approval_limits(db.session, recipients=3)
        env.list_id = make_list(db.session, "People", danish_numbers(5)).id
    return env


def sign_in(client, email, app) -> int:
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def status_of(app, cid) -> CampaignStatus:
    with app.app_context():
        return db.session.get(Campaign, cid).status


def asked(env, name="Big"):
    """A campaign asked for approval by the sender through the pages: its id."""
    cid, page, form = preview_via_pages(env.sender, env.list_id, name=name)
    assert "Ask for approval" in page and "Confirm and send" not in page
    response = env.sender.post(f"/campaigns/{cid}/ask-approval", data=form)
    assert response.status_code == 302, response.text
    assert status_of(env.app, cid) is CampaignStatus.AWAITING_APPROVAL
    return cid


def decision_form(client, cid) -> dict:
    page = client.get(f"/campaigns/{cid}/preview").text
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    return {"fingerprint": fingerprint}


def test_the_preview_asks_for_approval_and_says_why(env):
    _, page, _ = preview_via_pages(env.sender, env.list_id)
    text = text_of(page)
    assert "This campaign needs approval before it is sent: 5 recipients is more than the" in text
    assert "Ask for approval" in text


def test_below_the_limits_it_is_confirm_and_send(env):
    with env.app.app_context():
        approval_limits(db.session, recipients=10)
    _, page, _ = preview_via_pages(env.sender, env.list_id)
    assert "Confirm and send" in page and "Ask for approval" not in page


def test_confirming_over_the_limits_is_refused_on_the_server(env, jobs):
    cid, _, form = preview_via_pages(env.sender, env.list_id)
    response = env.sender.post(f"/campaigns/{cid}/confirm", data=form, follow_redirects=True)
    assert "needs approval before it is sent" in text_of(response.text)
    assert status_of(env.app, cid) is CampaignStatus.DRAFT
    assert jobs.run_pending() == 0


def test_asking_waits_and_the_admins_home_page_shows_it(env, jobs):
    cid = asked(env)
    assert jobs.run_pending() == 0  # nothing is dispatched (and no e-mail is configured)
    home = text_of(env.admin.get("/").text)
    assert "Waiting for approval" in home and "1 campaign waits for your decision" in home
    assert f'href="/campaigns/{cid}/preview"' in env.admin.get("/").text
    # The sender sees it too, as theirs.
    assert "yours: another approver decides" in text_of(env.sender.get("/").text)
    show = text_of(env.sender.get(f"/campaigns/{cid}").text)
    assert "pending approval" in show and f"asked for by {SENDER}" in show


def test_the_approver_sees_the_same_preview_read_only_with_a_decision(env):
    cid = asked(env)
    page = env.admin.get(f"/campaigns/{cid}/preview").text
    text = text_of(page)
    assert "Waiting for approval" in text and f"by {SENDER}" in text
    assert "5 recipients is more than the limit of 3" in text
    assert "Every recipient's message" in text and "0.75 DKK" in text
    assert 'data-test="approval-form"' in page
    assert "Confirm and send" not in page and "Send test" not in page  # read-only
    assert "Include them and preview again" not in page


def test_the_sender_sees_no_decision_on_their_own_request(env):
    cid = asked(env)
    page = env.sender.get(f"/campaigns/{cid}/preview").text
    assert 'data-test="approval-form"' not in page
    assert "Withdraw the request" in page


def test_an_admin_approves_and_it_is_sent(env, jobs, sandbox):
    cid = asked(env)
    form = {**decision_form(env.admin, cid), "comment": "Go"}
    response = env.admin.post(f"/campaigns/{cid}/approve", data=form, follow_redirects=True)
    assert "Approved." in text_of(response.text)
    assert status_of(env.app, cid) is CampaignStatus.QUEUED
    jobs.run_pending()
    assert sandbox.store.count_received(label="Big") == 5
    show = text_of(env.sender.get(f"/campaigns/{cid}").text)
    assert "Approval asked for" in show and f"by {SENDER}" in show
    assert "Approved" in show and f"by {ADMIN}: Go" in show
    assert f"approved by {ADMIN}" in show


def test_a_second_approval_of_the_same_campaign_sends_once(env, jobs, sandbox, make_user):
    cid = asked(env)
    form = decision_form(env.admin, cid)
    assert env.admin.post(f"/campaigns/{cid}/approve", data=form).status_code == 302
    again = env.admin.post(f"/campaigns/{cid}/approve", data=form, follow_redirects=True)
    assert "not waiting for approval" in text_of(again.text)
    jobs.run_pending()
    assert sandbox.store.count_received(label="Big") == 5


def test_the_sender_cannot_approve_their_own_even_as_an_approver(env):
    with env.app.app_context():
        db.session.get(User, env.sender_id).approver = True
        db.session.commit()
    cid = asked(env)
    page = env.sender.get(f"/campaigns/{cid}/preview").text
    assert "You asked for this approval" in text_of(page)
    form = {"fingerprint": ""}
    response = env.sender.post(f"/campaigns/{cid}/approve", data=form, follow_redirects=True)
    assert "You asked for this approval, so you cannot approve it" in text_of(response.text)
    assert status_of(env.app, cid) is CampaignStatus.AWAITING_APPROVAL


@pytest.mark.parametrize("role", [Role.SENDER, Role.VIEWER])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_user_without_the_approver_right_gets_403(env, make_user, role, decision):
    cid = asked(env)
    other = env.app.test_client()
    make_user(role, "other@example.com")
    sign_in(other, "other@example.com", env.app)
    form = {**decision_form(env.admin, cid), "comment": "no"}
    assert other.post(f"/campaigns/{cid}/{decision}", data=form).status_code == 403
    assert status_of(env.app, cid) is CampaignStatus.AWAITING_APPROVAL


def test_a_viewer_given_the_approver_right_approves(env, make_user):
    cid = asked(env)
    viewer = env.app.test_client()
    uid = make_user(Role.VIEWER, "boss@example.com")
    with env.app.app_context():
        db.session.get(User, uid).approver = True
        db.session.commit()
    sign_in(viewer, "boss@example.com", env.app)
    assert "Review" in viewer.get("/").text
    assert (
        viewer.post(f"/campaigns/{cid}/approve", data=decision_form(viewer, cid)).status_code == 302
    )
    assert status_of(env.app, cid) is CampaignStatus.QUEUED
    # ... but not what a sender does: withdrawing is a sender's.
    assert viewer.post(f"/campaigns/{cid}/withdraw").status_code == 403


@pytest.mark.parametrize("path", ["approve", "reject", "withdraw", "ask-approval"])
def test_every_approval_form_needs_its_csrf_token(env, path):
    cid = asked(env) if path != "ask-approval" else preview_via_pages(env.sender, env.list_id)[0]
    client = env.sender if path in ("withdraw", "ask-approval") else env.admin
    response = client.post(f"/campaigns/{cid}/{path}", data={"comment": "x"}, csrf=False)
    assert response.status_code in (400, 302)
    expected = CampaignStatus.DRAFT if path == "ask-approval" else CampaignStatus.AWAITING_APPROVAL
    assert status_of(env.app, cid) is expected


def test_a_rejection_needs_a_comment_and_the_sender_reads_it_on_the_draft(env):
    cid = asked(env)
    form = decision_form(env.admin, cid)
    response = env.admin.post(f"/campaigns/{cid}/reject", data=form, follow_redirects=True)
    assert "Say why it is rejected" in text_of(response.text)
    assert status_of(env.app, cid) is CampaignStatus.AWAITING_APPROVAL
    form["comment"] = "Split it into two sends, please."
    assert env.admin.post(f"/campaigns/{cid}/reject", data=form).status_code == 302
    assert status_of(env.app, cid) is CampaignStatus.DRAFT
    show = env.sender.get(f"/campaigns/{cid}").text
    assert 'data-test="rejection"' in show
    assert "Split it into two sends, please." in text_of(show)
    assert "Split it into two sends, please." in env.sender.get(f"/campaigns/{cid}/edit").text


def test_the_sender_withdraws_the_request(env):
    cid = asked(env)
    response = env.sender.post(f"/campaigns/{cid}/withdraw", follow_redirects=True)
    assert "The approval request was withdrawn" in text_of(response.text)
    assert status_of(env.app, cid) is CampaignStatus.DRAFT


def test_an_edit_withdraws_the_request(env):
    cid = asked(env)
    edit = env.sender.get(f"/campaigns/{cid}/edit").text
    assert 'data-test="edit-withdraws"' in edit
    data = {
        "name": "Big",
        "sender": "Shop",
        "message": "Hi, changed",
        "list_ids": [env.list_id],
        "encoding": "auto",
    }
    response = env.sender.post(f"/campaigns/{cid}/edit", data=data, follow_redirects=True)
    assert "The approval request was withdrawn: the campaign changed" in text_of(response.text)
    assert status_of(env.app, cid) is CampaignStatus.DRAFT
    # The admin's stale page cannot approve what is now a draft.
    stale = env.admin.post(f"/campaigns/{cid}/approve", data={"fingerprint": "x"})
    assert stale.status_code == 302 and status_of(env.app, cid) is CampaignStatus.DRAFT


def test_a_preview_or_a_second_ask_on_a_waiting_campaign_is_refused(env):
    cid = asked(env)
    response = env.sender.post(f"/campaigns/{cid}/preview", follow_redirects=True)
    assert "waiting for approval" in text_of(response.text)
    again = env.sender.post(f"/campaigns/{cid}/ask-approval", data={}, follow_redirects=True)
    assert "already waiting for approval" in text_of(again.text)


def test_the_settings_page_sets_the_limits(env):
    page = env.admin.get("/settings/").text
    assert "Approval above this many recipients" in page
    data = {"recipients": "1,000", "amount": "250", "currency": "dkk"}
    response = env.admin.post("/settings/approval", data=data, follow_redirects=True)
    assert "more than 1,000 recipients or more than 250.00 DKK need approval" in text_of(
        response.text
    )
    bad = env.admin.post("/settings/approval", data={"recipients": "lots"})
    assert bad.status_code == 400 and "not a number of recipients" in text_of(bad.text)
    assert env.sender.post("/settings/approval", data=data).status_code == 403


def test_an_admin_gives_and_takes_the_approver_right(env):
    page = env.admin.get("/settings/users").text
    assert "Give the approver right" in page and "yes, as an admin" in page
    response = env.admin.post(f"/settings/users/{env.sender_id}/approver", follow_redirects=True)
    assert f"{SENDER} may approve campaigns" in text_of(response.text)
    with env.app.app_context():
        assert db.session.get(User, env.sender_id).approver
    env.admin.post(f"/settings/users/{env.sender_id}/approver")
    with env.app.app_context():
        assert not db.session.get(User, env.sender_id).approver
    assert env.sender.post(f"/settings/users/{env.sender_id}/approver").status_code == 403


# --- The e-mail: optional, off by default --------------------------------------------------


def outbox(app) -> list:
    return getattr(app.extensions["mailman"], "outbox", [])


def test_no_email_by_default(env, jobs):
    asked(env)
    jobs.run_pending()
    assert outbox(env.app) == []


@pytest.mark.parametrize(
    "app_config",
    [{"APPROVAL_NOTIFY_EMAIL": "boss@example.com, ops@example.com", "MAIL_BACKEND": "locmem"}],
)
def test_with_a_notification_address_the_request_is_mailed(env, jobs):
    cid = asked(env)
    assert outbox(env.app) == []  # sent by the job, not the request
    jobs.run_pending()
    (message,) = outbox(env.app)
    assert message.to == ["boss@example.com", "ops@example.com"]
    assert message.subject == "Approval asked for: Big"
    assert f"{SENDER} asks for approval" in message.body
    assert "Recipients: 5" in message.body and "0.75 DKK" in message.body
    assert "5 recipients is more than the limit of 3" in message.body
    assert f"/campaigns/{cid}/preview" in message.body
