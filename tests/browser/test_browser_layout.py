"""Every main page at phone width (390 px) and desktop width (1280 px): nothing scrolls sideways,
tables turn into stacked cards on the phone, the menu folds, and axe-core finds no serious or
critical accessibility violation. Screenshots go to test-artifacts/layout-<width>-<page>.png."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from helpers import PASSWORD, danish_numbers, make_list
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Campaign, Role, User
from webapp.services import campaigns
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import preview_campaign

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe.min.js"  # see vendor/README.md
WIDTHS = (390, 1280)
BLOCKING = ("serious", "critical")
REJECTING_CSV = (
    "Name,Mobile,City\nIda,20 12 34 56,Vejle\nEva,123,Køge\nIda again,+4520123456,Vejle\n"
)


@pytest.fixture
def pages(app, client, make_user, sandbox, jobs) -> dict[str, str]:
    """An admin's workspace with something on every page: a list of 41 people with long names,
    a finished import with rejected rows, an upload waiting for its columns, a previewed draft
    and a confirmed campaign. Returns page name -> path."""
    user_id = make_user(Role.ADMIN, "ada@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        rows = [
            (n, {"first_name": f"Marie-Françoise{i}", "city": "Sønderborg"})
            for i, n in enumerate(danish_numbers(41))
        ]
        people = make_list(db.session, "People", rows, fields=["first_name", "city"]).id
        client_ = app.extensions["gateway"].client()

        def previewed(name: str) -> Campaign:
            draft = CampaignDraft(
                name=name,
                sender="Shop",
                message="Hi %first_name% from %city%, our spring sale starts today: 20% off "
                "everything in the shop until Sunday. Show this message at the till.",
                list_ids=[people],
            )
            campaign = campaigns.save_draft(db.session, user, draft)
            preview_campaign(
                db.session, campaign, user, client_, honours_dry_run=True, batch_size=10_000
            )
            return campaign

        draft_id = previewed("Spring sale").id
        sent = previewed("Winter sale")
        campaigns.confirm_campaign(db.session, sent, user, batch_size=20)
        sent_id = sent.id

    client.post("/login", data={"email": "ada@example.com", "password": PASSWORD})
    done = client.post(
        "/lists/upload",
        data={"file": (io.BytesIO(REJECTING_CSV.encode()), "customers.csv"), "name": ""},
        content_type="multipart/form-data",
    )
    report_id = int(re.search(r"/imports/(\d+)/", done.headers["Location"]).group(1))
    mapping_page = client.get(f"/lists/imports/{report_id}/mapping").text
    read_as = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', mapping_page))
    names = dict(re.findall(r'name="(name_\d+)" value="([^"]*)"', mapping_page))
    confirmed = client.post(
        f"/lists/imports/{report_id}/mapping",
        data={**read_as, **names, "phone_column": "1", "keep": ["0", "2"]},
    )
    assert confirmed.status_code == 302, confirmed.text
    jobs.run_pending()
    waiting = client.post(
        "/lists/upload",
        data={"file": (io.BytesIO(REJECTING_CSV.encode()), "more.csv"), "name": "More"},
        content_type="multipart/form-data",
    )
    mapping = waiting.headers["Location"]
    return {
        "dashboard": "/",
        "lists": "/lists/",
        "list": f"/lists/{people}",
        "mapping": mapping,
        "import-report": f"/lists/imports/{report_id}",
        "opt-outs": "/lists/opt-outs",
        "campaigns": "/campaigns/",
        "compose": "/campaigns/new",
        "edit": f"/campaigns/{draft_id}/edit",
        "preview": f"/campaigns/{draft_id}/preview",
        "campaign": f"/campaigns/{sent_id}",
        "inbox": "/sandbox/inbox",
        "contact": f"/contacts/{danish_numbers(1)[0]}",
        "account": "/account",
        "users": "/settings/users",
        "settings": "/settings/",
    }


def axe_violations(page, report: dict | None = None, name: str = "") -> list[str]:
    """axe-core's serious and critical violations on the page, one line each; every violation
    of any impact goes into `report` under `name`."""
    for attempt in range(3):
        try:
            page.add_script_tag(path=str(AXE_SCRIPT))
            result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            break
        except PlaywrightError as error:
            # A live page may reload itself (htmx's HX-Refresh when a send ends): check the
            # page it became, once it has settled.
            if "Execution context was destroyed" not in str(error) or attempt == 2:
                raise
            page.wait_for_load_state("networkidle")
    lines = {
        v["impact"] + " " + v["id"]: f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
    }
    if report is not None:
        report[name] = sorted(lines.values())
    return [line for key, line in lines.items() if key.split()[0] in BLOCKING]


def overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_main_pages_fit_the_screen_and_pass_axe(live_server, browser, pages, width):
    # axe is injected as a script tag, which the pages' CSP ('self' only) would refuse.
    context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    problems: dict[str, list[str]] = {}
    report: dict[str, list[str]] = {}
    try:
        page.goto(live_server + "/login")
        login_problems = axe_violations(page, report, "login")
        if login_problems:
            problems["login"] = login_problems
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        for name, path in pages.items():
            page.goto(live_server + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(ARTIFACTS / f"layout-{width}-{name}.png"), full_page=True)
            found = axe_violations(page, report, name)
            wider = overflow(page)
            if wider > 0:
                found.append(f"the page is {wider} px wider than the {width} px window")
            if found:
                problems[name] = found
    finally:
        context.close()
        (ARTIFACTS / f"axe-{width}.json").write_text(json.dumps(report, indent=2))
    assert problems == {}


def test_phone_menu_folds_and_tables_stack(live_server, browser, pages):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(live_server + "/login")
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        menu = page.get_by_role("navigation", name="Main")
        expect(menu).to_be_hidden()
        page.locator("summary", has_text="Menu").click()
        expect(menu.get_by_role("link", name="Lists")).to_be_visible()
        page.goto(live_server + pages["preview"])
        row = page.locator("#messages tbody tr").first
        cells = row.locator("td")
        # Stacked: each cell spans the card, so a row is taller than wide cells side by side.
        number, message = cells.nth(0).bounding_box(), cells.nth(1).bounding_box()
        assert message["y"] > number["y"]
        assert message["width"] > 300
        table = page.locator("#messages").bounding_box()
        assert table["height"] < 41 * 400  # 41 recipients, each a readable card
        page.set_viewport_size({"width": 1280, "height": 800})
        expect(menu).to_be_visible()
        expect(page.locator("summary", has_text="Menu")).to_be_hidden()
    finally:
        context.close()


def test_keyboard_focus_is_always_visible(live_server, page, pages):
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server + pages["preview"])
    unseen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const el = document.activeElement, style = getComputedStyle(el);
                if (el === document.body) return {what: "body", outline: true};
                const width = parseFloat(style.outlineWidth);
                return {what: el.outerHTML.slice(0, 80),
                        outline: style.outlineStyle !== "none" && width > 0};
            }"""
        )
        if not focused["outline"]:
            unseen.append(focused["what"])
    assert unseen == []
