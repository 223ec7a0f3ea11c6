"""The main pages issue a fixed number of SQL statements, however many rows they show.

Each page is counted on a small workspace, then again after it grew (30 lists, 60 campaigns,
a longer list): the count must not change, so a query per row (an N+1) cannot come back, and
must stay within the page's budget.
"""

from __future__ import annotations

import pytest
from helpers import danish_numbers, make_list
from sqlalchemy import event

from webapp.extensions import db
from webapp.models import Campaign, ImportStatus, ListImport, Role, User
from webapp.services import campaigns
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import preview_campaign

BUDGETS = {
    "/account": 2,
    # The senders for the filter, the count, the page, its delivery counts and its batches' cost.
    "/campaigns/": 6,
    "/campaigns/?page=2": 6,
    "/campaigns/?sort=-rate&status=draft&q=Campaign": 6,
    "/campaigns/new": 4,
    "/lists/": 6,
    "/lists/{list_id}": 8,
    "/lists/{list_id}/recipients?q=N1": 8,
    "/campaigns/{draft_id}/preview": 12,
    "/campaigns/{draft_id}/edit": 11,  # with the templates menu and the undeliverable flags
    "/campaigns/{draft_id}": 14,
}
"""Statements per page (the signed-in user's own query included)."""


class Statements:
    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def add_lists_and_campaigns(user_id: int, lists: int, campaigns_per_list: int, prefix: str):
    user = db.session.get(User, user_id)
    for n in range(lists):
        numbers = danish_numbers(3, start=20_500_000 + 1_000 * n + (500 if prefix else 0))
        extra = make_list(
            db.session, f"{prefix}List {n}", numbers, fields=["first_name"], user_id=user_id
        )
        pending = ListImport(
            list_id=extra.id,
            filename="more.csv",
            status=ImportStatus.PENDING,
            created_by_id=user_id,
        )
        db.session.add(pending)
        for c in range(campaigns_per_list):
            db.session.add(
                Campaign(
                    name=f"{prefix}Campaign {n}-{c}",
                    sender="Shop",
                    message="Hello",
                    created_by_id=user.id,
                    preview_summary={"recipients": 3},
                    lists=[extra],
                )
            )
    db.session.commit()


@pytest.fixture
def workspace(app, make_user):
    with app.app_context():
        user_id = make_user(Role.SENDER)
        user = db.session.get(User, user_id)
        rows = [(n, {"first_name": f"N{i}"}) for i, n in enumerate(danish_numbers(60))]
        people = make_list(db.session, "People", rows, fields=["first_name"], user_id=user_id)
        draft = campaigns.save_draft(
            db.session,
            user,
            CampaignDraft(
                name="Sale", sender="Shop", message="Hi %first_name%", list_ids=[people.id]
            ),
        )
        preview_campaign(db.session, draft, user, None, honours_dry_run=False, batch_size=10)
        add_lists_and_campaigns(user_id, lists=1, campaigns_per_list=1, prefix="")
        return {"user_id": user_id, "list_id": people.id, "draft_id": draft.id}


def count_pages(app, client, ids) -> dict[str, int]:
    with app.app_context():
        statements = Statements(db.engine)
    counts = {}
    for template in BUDGETS:
        path = template.format(**ids)
        headers = {"HX-Request": "true"} if "recipients?" in path else {}
        client.get(path, headers=headers)  # warm: nothing cached differs between the two runs
        before = statements.count
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        counts[template] = statements.count - before
    return counts


def test_main_pages_issue_a_fixed_number_of_statements(app, client, workspace):
    response = client.post(
        "/login", data={"email": "sender@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    small = count_pages(app, client, workspace)
    with app.app_context():
        add_lists_and_campaigns(workspace["user_id"], lists=30, campaigns_per_list=2, prefix="x")
    large = count_pages(app, client, workspace)
    assert large == small
    over = {path: count for path, count in large.items() if count > BUDGETS[path]}
    assert not over, over
