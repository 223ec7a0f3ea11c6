"""The campaigns list: status, sent at, sender, recipients, delivery rate and cost per campaign;
filtered by status, sender and dates, searched, sorted by its column links and paginated, the
filters kept in every link; filters that cannot be read say why and keep what was typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from helpers import (
    danish_numbers,
    form_errors,
    gateway_client,
    make_list,
    report_deliveries,
    sent_campaign,
)

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services import campaigns

SPRING_SENT = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 in Copenhagen
SUMMER_SENT = datetime(2025, 6, 1, 23, 30, tzinfo=UTC)  # already 2 June in Copenhagen


@pytest.fixture
def workspace(app, make_user, sandbox):
    """Spring sale (Shop, 3 of 4 delivered), Summer news (Cafe, 1 of 2), a draft (Shop)."""
    with app.app_context():
        owner = db.session.get(User, make_user(Role.SENDER, "owner@example.com"))
        client = gateway_client(sandbox)
        spring = sent_campaign(
            db.session,
            owner,
            client,
            danish_numbers(4),
            name="Spring sale",
            message="Hi there, spring is here",
            clock=lambda: SPRING_SENT,
        )
        report_deliveries(
            db.session, spring, ["DELIVERED", "DELIVERED", "UNDELIVERABLE", "DELIVERED"]
        )
        summer = sent_campaign(
            db.session,
            owner,
            client,
            danish_numbers(2, start=20_200_000),
            name="Summer news",
            message="Iced coffee 50% off",
            sender="Cafe",
            clock=lambda: SUMMER_SENT,
        )
        report_deliveries(db.session, summer, ["EXPIRED", "DELIVERED"])
        people = make_list(db.session, "Autumn list", danish_numbers(2, start=20_300_000))
        campaigns.save_draft(
            db.session,
            owner,
            campaigns.CampaignDraft(
                name="Autumn plans",
                sender="Shop",
                message="Leaves are falling, 20 left",
                list_ids=[people.id],
            ),
        )
        return owner.id


@pytest.fixture
def reader(login_as, workspace):
    return login_as(Role.VIEWER)  # in Europe/Copenhagen, the default time zone


ROW = re.compile(r'<tr data-test="campaign-row">(.*?)</tr>', re.S)


def names(page: str) -> list[str]:
    """The campaigns' names, in the order the list shows them."""
    return [
        re.search(r'data-label="Name"><a [^>]*>([^<]*)</a>', row)[1] for row in ROW.findall(page)
    ]


def cells(page: str, name: str) -> dict[str, str]:
    """One campaign's cells by column, as text."""
    row = next(row for row in ROW.findall(page) if f">{name}</a>" in row)
    found = re.findall(r'<td[^>]*data-label="([^"]+)">(.*?)</td>', row, re.S)
    return {label: " ".join(re.sub(r"<[^>]+>", " ", html).split()) for label, html in found}


def test_each_row_shows_status_sent_at_sender_recipients_rate_and_cost(reader):
    page = reader.get("/campaigns/").text
    spring = cells(page, "Spring sale")
    assert spring["Status"] == "done"
    assert spring["Sent at"] == "2025-03-10 13:00"
    assert (spring["Sender"], spring["Recipients"]) == ("Shop", "4")
    assert spring["Delivery rate"] == "75.0 % of 4 reported"
    assert spring["Cost"].endswith(" DKK") and "est." not in spring["Cost"]
    draft = cells(page, "Autumn plans")
    assert draft["Delivery rate"] == "–" and draft["Sent at"].startswith("created ")
    assert names(page) == ["Autumn plans", "Summer news", "Spring sale"]  # newest first


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=done", ["Summer news", "Spring sale"]),
        ("status=draft", ["Autumn plans"]),
        ("sender=Cafe", ["Summer news"]),
        ("status=done&sender=Shop", ["Spring sale"]),
    ],
)
def test_filters_by_status_and_sender(reader, query, expected):
    assert names(reader.get(f"/campaigns/?{query}").text) == expected


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("SPRING", ["Spring sale"]),  # the name, any case
        ("iced", ["Summer news"]),  # the message text
        ("0%", ["Summer news"]),  # "%" is a character here, not a wildcard
        ("nothing like it", []),
    ],
)
def test_search_finds_the_name_or_the_message_text(reader, search, expected):
    page = reader.get("/campaigns/", query_string={"q": search}).text
    assert names(page) == expected
    assert f'value="{search}"' in page  # the search stays in its box


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sent_from=2025-06-02&sent_to=2025-06-02", ["Summer news"]),
        ("sent_to=2025-06-01", ["Spring sale"]),
        ("sent_from=2025-03-10&sent_to=2025-03-10", ["Spring sale"]),
        ("sent_from=2025-03-11", ["Summer news"]),
    ],
)
def test_dates_are_days_in_the_readers_time_zone(reader, query, expected):
    assert names(reader.get(f"/campaigns/?{query}").text) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-rate", ["Spring sale", "Summer news", "Autumn plans"]),  # no report yet: last
        ("rate", ["Summer news", "Spring sale", "Autumn plans"]),
        ("-cost", ["Spring sale", "Summer news", "Autumn plans"]),  # not previewed: no price
        ("sender", ["Summer news", "Spring sale", "Autumn plans"]),
        ("-sent", ["Summer news", "Spring sale", "Autumn plans"]),
        ("-recipients", ["Spring sale", "Summer news", "Autumn plans"]),  # a draft counts none yet
    ],
)
def test_sorts_by_a_column(reader, sort, expected):
    assert names(reader.get(f"/campaigns/?sort={sort}").text) == expected


def test_sort_links_keep_the_filters_and_turn_the_order_round(reader):
    page = reader.get("/campaigns/?status=done&sort=-rate").text
    link = re.search(r'<a href="([^"]+)" data-test="sort-rate">', page)[1]
    assert "status=done" in link and "sort=rate" in link  # the other way round now
    assert 'aria-sort="descending"' in page
    sender_link = re.search(r'<a href="([^"]+)" data-test="sort-sender">', page)[1]
    assert "status=done" in sender_link and "sort=sender" in sender_link


def test_pages_keep_the_filters_and_the_order(app, reader, workspace):
    with app.app_context():
        owner = db.session.get(User, workspace)
        for n in range(51):
            draft = campaigns.CampaignDraft(name=f"Coffee {n:02}", sender="Cafe", message="Hi")
            campaigns.save_draft(db.session, owner, draft)
    first = reader.get("/campaigns/?sender=Cafe&sort=name").text
    assert len(names(first)) == 50 and names(first)[0] == "Coffee 00"
    assert "Page 1 of 2" in first and "52 campaigns match" in first
    following = re.search(r'<a class="button small" href="([^"]+)">Next</a>', first)[1]
    assert "sender=Cafe" in following and "sort=name" in following and "page=2" in following
    second = reader.get(following.replace("&amp;", "&")).text
    assert names(second) == ["Coffee 50", "Summer news"]


def test_a_date_that_cannot_be_read_says_how_to_write_it_and_stays_as_typed(reader):
    response = reader.get("/campaigns/?status=done&sent_from=31/12/2025")
    assert response.status_code == 400
    assert form_errors(response.text) == [
        "“31/12/2025” is not a date: write it as YYYY-MM-DD, for example 2025-03-31."
    ]
    assert 'type="text" value="31/12/2025"' in response.text
    assert '<option selected value="done">' in response.text
    assert names(response.text) == []


def test_a_range_that_ends_before_it_starts_is_refused_with_both_days_kept(reader):
    response = reader.get("/campaigns/?sent_from=2025-06-10&sent_to=2025-06-01")
    assert response.status_code == 400
    assert form_errors(response.text) == [
        "This day (2025-06-01) is before the first day (2025-06-10): swap them, or clear one."
    ]
    assert 'value="2025-06-10"' in response.text and 'value="2025-06-01"' in response.text


def test_an_unknown_status_is_named(reader):
    response = reader.get("/campaigns/?status=sent")
    assert response.status_code == 400
    assert form_errors(response.text) == ["“sent” is not a campaign status."]
