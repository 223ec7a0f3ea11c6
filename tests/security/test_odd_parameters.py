"""Odd parameters are the client's mistake (400 or 404), never the server's (500): huge ids and
pages, query keys the view does not expect, sort keys, a deeply nested JSON body; and a property
test over the whole URL map as each role."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, make_list
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.extensions import db
from webapp.models import Role
from webapp.services import campaigns

HUGE = "1" * 25  # a 25-digit number: more than any database integer holds


@pytest.fixture
def workspace(app, make_user):
    """A list and a draft campaign, so that ids 1, 2, ... reach real pages."""
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, make_user(Role.SENDER, "owner@example.com"))
        people = make_list(db.session, "People", danish_numbers(3), user_id=user.id)
        draft = campaigns.save_draft(
            db.session,
            user,
            campaigns.CampaignDraft(name="Hi", sender="Shop", message="Hi", list_ids=[people.id]),
        )
        # Ids are not 1 and 2 on PostgreSQL, whose sequences go on after a test empties a table.
        return {"list_id": str(people.id), "campaign_id": str(draft.id), "user_id": str(user.id)}


@pytest.mark.parametrize(
    "url",
    [
        f"/lists/{HUGE}",
        f"/lists/{HUGE}/recipients",
        f"/campaigns/{HUGE}",
        f"/campaigns/{HUGE}/preview",
        f"/lists/imports/{HUGE}",
        f"/campaigns/{{campaign_id}}/batches/{HUGE}/decide",
    ],
)
def test_a_25_digit_id_matches_no_route(login_as, workspace, url):
    admin = login_as(Role.ADMIN)
    method = "POST" if url.endswith("/decide") else "GET"
    # 405 where werkzeug's matcher found the path only for another method's rule
    assert admin.open(url.format(**workspace), method=method).status_code in (404, 405)


@pytest.mark.parametrize(
    "url",
    [
        "/lists/{list_id}?page=" + HUGE,
        "/lists/{list_id}/recipients?page=" + HUGE,
        "/lists/opt-outs?page=" + HUGE,
        "/campaigns/?page=" + HUGE,
        "/campaigns/{campaign_id}/preview?page=" + HUGE,
        "/campaigns/{campaign_id}/messages?page=-" + HUGE,
    ],
)
def test_a_huge_page_number_is_not_a_server_error(login_as, workspace, url):
    admin = login_as(Role.ADMIN)
    response = admin.get(url.format(**workspace), headers={"HX-Request": "true"})
    assert response.status_code in (200, 302, 400, 404)


@pytest.mark.parametrize(
    "url",
    [
        "/lists/{list_id}/recipients?list_id=2",
        "/lists/{list_id}/recipients?_external=1&_anchor=x",
        "/campaigns/{campaign_id}/messages?campaign_id=2",
        "/campaigns/{campaign_id}/messages?_method=POST",
    ],
)
def test_query_keys_are_not_forwarded_as_link_arguments(login_as, workspace, url):
    admin = login_as(Role.ADMIN)
    response = admin.get(url.format(**workspace))
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "://" not in response.headers["Location"]


def test_a_deeply_nested_json_body_at_the_webhook_is_a_bad_request(client):
    body = "[" * 200_000 + "]" * 200_000
    response = client.post(
        "/webhooks/delivery-reports",
        data=body,
        content_type="application/json",
        csrf=False,
    )
    assert response.status_code == 400


# --- The property: no route, no role, no odd parameter gives a 500 -----------------------

ODD_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, 2, 2**31, 2**63, 10**25]),
).map(str)
ODD_TEXT = st.one_of(
    ODD_NUMBERS,
    st.text(max_size=30),
    st.sampled_from(["", "-", "segments", "-segments", "name", "NaN", "%", "1e400", "\x00"]),
)
QUERY_KEYS = [
    "page", "sort", "q", "list_id", "campaign_id", "import_id", "batch_id", "user_id", "next",
    "live", "costlier", "landlines", "delimiter", "header", "encoding", "msisdn", "token",
    "_external", "_anchor", "_method", "_scheme",
]  # fmt: skip
ROLES = [None, Role.VIEWER, Role.SENDER, Role.ADMIN]


def _routes(app) -> list[tuple[str, str, list[str]]]:
    """(method, rule, argument names) for every route but static files."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, sorted(rule.arguments)))
    return found


def _url(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values[m.group(1)], rule)


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role or "anonymous")
def test_no_route_answers_500_to_odd_parameters(app, client, make_user, login_as, workspace, role):
    if role is None:
        make_user(Role.ADMIN)
    else:
        login_as(role)
    routes = _routes(app)
    real_ids = sorted(set(workspace.values()))

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        route=st.sampled_from(routes),
        values=st.dictionaries(st.sampled_from(QUERY_KEYS), ODD_TEXT, max_size=4),
        ids=st.lists(ODD_NUMBERS | st.sampled_from(real_ids), min_size=3, max_size=3),
        htmx=st.booleans(),
    )
    def check(route, values, ids, htmx):
        method, rule, names = route
        arguments = {name: ids[n % len(ids)] for n, name in enumerate(names)}
        url = _url(rule, {name: value.replace("/", "") or "1" for name, value in arguments.items()})
        headers = {"HX-Request": "true"} if htmx else {}
        if method == "GET":
            response = client.get(url, query_string=values, headers=headers)
        else:
            response = client.open(url, method=method, data=values, headers=headers)
        assert response.status_code < 500, (method, url, values, response.status_code)

    # Every route at least once with the oddest values, whatever hypothesis draws.
    nasty = {"page": HUGE, "sort": "-", "list_id": "2", "campaign_id": HUGE, "_external": "1"}
    for route in routes:
        check.hypothesis.inner_test(route=route, values=nasty, ids=[HUGE, *real_ids], htmx=False)
    check()
