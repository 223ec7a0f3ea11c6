"""The home page: this month's spend beside last month's, messages and segments, the delivery
rate of the last 30 days as SVG with its numbers as a table, and the latest campaigns."""

from __future__ import annotations

import re

from helpers import danish_numbers, gateway_client, report_deliveries, sent_campaign

from webapp.extensions import db
from webapp.models import Role, User, utcnow
from webapp.money import money_text
from webapp.services.progress import campaign_progress


def send_and_report(app, sandbox, user_id, statuses):
    with app.app_context():
        owner = db.session.get(User, user_id)
        campaign = sent_campaign(
            db.session, owner, gateway_client(sandbox), danish_numbers(len(statuses)), name="Sale"
        )
        report_deliveries(db.session, campaign, statuses)
        return campaign_progress(db.session, campaign).cost


def stat(page: str, name: str) -> str:
    html = re.search(rf'data-test="{name}">(.*?)</div>\s*</div>', page, re.S)[1]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_home_shows_this_months_spend_beside_last_months_and_what_was_sent(
    app, make_user, login_as, sandbox
):
    cost = send_and_report(app, sandbox, make_user(Role.SENDER), ["DELIVERED", "EXPIRED"])
    page = login_as(Role.VIEWER).get("/").text
    month = f"{utcnow():%B %Y}"
    assert stat(page, "spend-this-month") == f"{money_text(cost)} DKK this month ({month})"
    assert stat(page, "spend-last-month").startswith("0.00 last month")
    assert stat(page, "messages-this-month").startswith("2 messages sent this month")
    assert stat(page, "segments-this-month").startswith("2 segments sent this month")
    assert "months in UTC" in page


def test_the_delivery_rate_chart_has_its_numbers_as_a_table(app, make_user, login_as, sandbox):
    send_and_report(
        app, sandbox, make_user(Role.SENDER), ["DELIVERED", "UNDELIVERABLE", "DELIVERED"]
    )
    page = login_as(Role.VIEWER).get("/").text
    chart = page[page.index('aria-labelledby="rate-heading"') :]
    chart = chart[: chart.index("</section>")]
    assert chart.count("<rect ") == 1 and 'class="bar"' in chart
    assert "style=" not in chart and "<script" not in chart  # the CSP allows neither
    table = chart[chart.index('data-test="rate-numbers"') :]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells == [f"{utcnow():%Y-%m-%d}", "2", "3", "66.7 %"]


def test_latest_campaigns_show_their_delivery_rate(app, make_user, login_as, sandbox):
    send_and_report(app, sandbox, make_user(Role.SENDER), ["DELIVERED", "REJECTED"])
    page = login_as(Role.VIEWER).get("/").text
    assert re.search(r'data-label="Delivery rate">50.0 %</td>', page)


def test_without_reports_the_chart_says_so(login_as):
    page = login_as(Role.VIEWER).get("/").text
    assert "No delivery reports for campaigns sent in the last 30 days." in page
    assert "<rect " not in page
