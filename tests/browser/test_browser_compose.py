"""The composer in headless Chromium: the %field% chips insert at the cursor, the "Replaced …"
note goes once the text changes, every error shows at once, and the phone preview shows one
recipient's message cut into its segments."""

from __future__ import annotations

import re

import pytest
from helpers import danish_numbers, make_list, sign_in_browser
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Role


@pytest.fixture
def signed_in(app, live_server, page, make_user):
    make_user(Role.SENDER, "sara@example.com")
    with app.app_context():
        rows = [
            (n, {"first_name": f})
            for n, f in zip(danish_numbers(2), ["Ann", "François"], strict=True)
        ]
        make_list(db.session, "People", rows, fields=["first_name"])
    sign_in_browser(page, live_server, "sara@example.com")
    page.goto(live_server + "/campaigns/new")
    return page


def test_chip_inserts_its_tag_at_the_cursor(signed_in, screenshot):
    page = signed_in
    page.get_by_label("People (2 recipients)").check()
    message = page.get_by_label("Message")
    message.fill("Hi , see you!")
    message.press("Home")
    for _ in range(3):
        message.press("ArrowRight")
    page.get_by_role("button", name="%first_name%").click()
    expect(message).to_have_value("Hi %first_name%, see you!")
    counter = page.locator("#counter")
    expect(counter).to_contain_text("for 2 recipients")
    status = page.locator("#counter-status")  # the live region screen readers hear
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_text(
        "GSM 7-bit, 1 segment, 147 characters left. 2 segments in total for 2 recipients."
    )
    expect(counter).to_contain_text("1 recipient's message needs Unicode because of their values")
    expect(counter).to_contain_text("“François”")
    screenshot("compose-1-chip-and-unicode-values")
    assert page.console_errors == []


def test_replaced_note_goes_when_the_text_changes(signed_in):
    page = signed_in
    message = page.get_by_label("Message")
    message.fill("It’s “great”")
    page.get_by_role("button", name="Replace look-alikes").click()
    note = page.locator("#replaced-note")
    expect(note).to_contain_text("Replaced")
    expect(page.get_by_label("Message")).to_have_value('It\'s "great"')
    page.get_by_label("Message").press_sequentially(" today")
    expect(note).to_be_empty()
    assert page.console_errors == []


def test_every_error_shows_at_once(signed_in):
    page = signed_in
    page.get_by_label("Sender", exact=True).fill("Much too long sender")
    page.get_by_role("button", name="Preview cost and recipients").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("The draft was not saved")
    expect(summary).to_contain_text("Choose at least one recipient list.")
    expect(summary).to_contain_text("Write the message first.")
    expect(summary).to_contain_text("Give the campaign a name")
    summary.get_by_role("link", name="Recipient lists").click()
    expect(page.locator("#list-chooser")).to_be_focused()
    # The refused form answers 400, which Chromium logs; nothing else may go wrong.
    assert [e for e in page.console_errors if "status of 400" not in e] == []


def test_phone_preview_follows_the_chosen_recipient(signed_in, sandbox, screenshot):
    page = signed_in
    page.get_by_label("Campaign name").fill("Autumn")
    page.get_by_label("Sender", exact=True).fill("Shop")
    page.get_by_label("People (2 recipients)").check()
    page.get_by_label("Message").fill("Hi %first_name%, " + "our autumn sale is on. " * 8)
    page.get_by_role("button", name="Preview cost and recipients").click()
    phone = page.locator("#phone")
    expect(phone).to_contain_text("Hi Ann,")
    expect(phone).to_contain_text("segment 2 of 2")
    page.get_by_label("As received by").select_option(danish_numbers(2)[1])
    expect(phone).to_contain_text("Hi François,")
    expect(phone).to_contain_text("Unicode")
    expect(phone).to_contain_text("segment 3 of 3")
    screenshot("compose-2-phone-preview")
    assert page.console_errors == []


def test_plain_values_option_recounts_the_names_in_gsm(signed_in):
    page = signed_in
    page.get_by_label("People (2 recipients)").check()
    page.get_by_label("Message").fill("Hi %first_name%")
    counter = page.locator("#counter")
    expect(counter).to_contain_text("1 needs Unicode")
    page.get_by_label("Send these values in GSM 7-bit letters for this campaign").check()
    expect(counter).to_contain_text("The values are sent in GSM 7-bit letters")
    expect(counter).not_to_contain_text("1 needs Unicode")
    expect(
        page.get_by_label("Send these values in GSM 7-bit letters for this campaign")
    ).to_be_checked()
    assert page.console_errors == []


def test_a_slow_older_count_never_overwrites_the_newer_one(app, signed_in):
    """The list chooser, the encoding and the message each ask the server to count. If an
    older count's answer replaces the counter while a newer one is in flight, the newer answer
    lands in a counter that is no longer in the page, and the stale one stays: the counts must
    queue on the form.

    The server holds each count until the test lets it go, and the test waits on htmx's own
    events, never on time: the older answer lands first, then the newer one."""
    import functools
    import threading

    import flask

    page = signed_in
    count = app.view_functions["counter.count"]
    arrived = [threading.Event(), threading.Event()]
    release = [threading.Event(), threading.Event()]
    arrivals = iter(range(2))

    @functools.wraps(count)  # keeps the role it requires
    def held_count(*args, **kwargs):
        turn = next(arrivals, None)
        if turn is not None:
            arrived[turn].set()
            release[turn].wait(timeout=10)
        return count(*args, **kwargs)

    app.view_functions["counter.count"] = held_count
    with app.test_request_context():
        count_path = flask.url_for("counter.count")
    # htmx's events, marked on <body> for the test to wait on (the page's CSP forbids eval).
    page.evaluate(
        """(path) => {
            let asked = 0, answered = 0;
            const isCount = (e) => (e.detail.path || e.detail.requestConfig.path) === path;
            const body = document.body;
            body.addEventListener("htmx:confirm", (e) => {
                if (isCount(e)) body.dataset.countsAsked = ++asked;
            });
            body.addEventListener("htmx:afterRequest", (e) => {
                if (isCount(e)) body.dataset.countsAnswered = ++answered;
            });
        }""",
        count_path,
    )
    body = page.locator("body")
    page.get_by_label("People (2 recipients)").check()  # the older count, from the list chooser
    assert arrived[0].wait(timeout=10)
    page.get_by_label("Message").fill("Hi there, ł")  # the newer: "ł" needs Unicode
    expect(body).to_have_attribute("data-counts-asked", "2")  # sent, or queued behind the first
    release[0].set()
    expect(body).to_have_attribute("data-counts-answered", "1")  # the older answer is in
    release[1].set()
    expect(body).to_have_attribute("data-counts-answered", "2")
    expect(page.locator("#counter .counter-line")).to_contain_text("Unicode · 11/70")
    assert page.console_errors == []


def test_a_click_made_while_a_count_is_in_flight_is_never_dropped(app, signed_in):
    """A button clicked while a count is in flight waits its turn on the form, and a count
    asked for after it does not push it out of the queue (as "queue last" did: the click on
    "Add variant B" right after typing was lost). The server holds the first count until the
    click and a later count are both waiting."""
    import functools
    import threading

    import flask

    page = signed_in
    count = app.view_functions["counter.count"]
    arrived, release = threading.Event(), threading.Event()
    first = iter([True])

    @functools.wraps(count)  # keeps the role it requires
    def held_count(*args, **kwargs):
        if next(first, False):
            arrived.set()
            release.wait(timeout=10)
        return count(*args, **kwargs)

    app.view_functions["counter.count"] = held_count
    with app.test_request_context():
        paths = [flask.url_for("counter.count"), flask.url_for("campaigns.ab_test")]
    page.evaluate(
        """([countPath, abPath]) => {
            let counts = 0, variants = 0;
            const body = document.body;
            body.addEventListener("htmx:confirm", (e) => {
                const path = e.detail.path || e.detail.requestConfig.path;
                if (path === countPath) body.dataset.countsAsked = ++counts;
                if (path === abPath) body.dataset.variantsAsked = ++variants;
            });
        }""",
        paths,
    )
    body = page.locator("body")
    page.get_by_label("People (2 recipients)").check()  # the count held on the server
    assert arrived.wait(timeout=10)
    page.get_by_role("button", name="Add variant B").click()  # waits behind it
    expect(body).to_have_attribute("data-variants-asked", "1")
    page.get_by_label("Message", exact=True).fill("Hi there")  # a later count
    expect(body).to_have_attribute("data-counts-asked", re.compile(r"^[2-9]$"))
    release.set()
    expect(page.get_by_label("Variant B", exact=True)).to_be_visible()
    expect(page.locator("#counter")).to_contain_text("8/160")
    assert page.console_errors == []


def test_save_as_template_then_start_a_campaign_from_it(signed_in, live_server, screenshot):
    page = signed_in
    text = "Hi %first_name%, " + "the spring sale starts now at the shop on the corner. " * 3
    page.get_by_label("Message").fill(text)
    page.get_by_label("Name for a new template").fill("Spring sale")
    page.get_by_role("button", name="Save as template").click()
    expect(page.locator("#template-tools")).to_contain_text("Saved as the template “Spring sale”.")

    page.goto(live_server + "/campaigns/new")
    page.get_by_label("People (2 recipients)").check()
    # Counted first: choosing the template at once would replace that count in flight.
    expect(page.locator("#counter")).to_contain_text("for 2 recipients")
    page.get_by_label("Start from a template").select_option(
        label="Spring sale (uses %first_name%)"
    )
    page.get_by_role("button", name="Use template").click()
    expect(page.get_by_label("Message")).to_have_value(text)
    expect(page.locator("#counter")).to_contain_text("for 2 recipients")

    # 162 characters: two segments, two above the boundary of one.
    page.get_by_label("Message").fill("x" * 162)
    saving = page.locator("#counter .counter-saving")
    expect(saving).to_have_text(
        "Cut 2 characters to save 1 segment per message: 2 fewer segments, about 0.30 DKK."
    )
    screenshot("compose-3-template-and-savings")
    assert page.console_errors == []
