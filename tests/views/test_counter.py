"""The composer's live counter and look-alike fix, through the app as htmx calls them."""

from __future__ import annotations

import html
import re

import pytest
from helpers import danish_numbers, make_list, text_of

from webapp.extensions import db
from webapp.models import OptOut, Role

pytestmark = pytest.mark.usefixtures("fresh_counter_caches")


def count(client, message, **form):
    response = client.post("/compose/counter", data={"message": message, **form})
    assert response.status_code == 200, response.text
    return response.text


def test_counter_changes_are_announced_through_a_live_region_that_stays(sender):
    fragment = count(sender, "Hello")
    assert fragment.lstrip().startswith('<div id="counter" class="counter">')
    # The live region is in the page, outside the redrawn counter; only its text is swapped.
    assert (
        '<p id="counter-status" hx-swap-oob="innerHTML">'
        "GSM 7-bit, 1 segment, 155 characters left.</p>" in fragment
    )
    page = sender.get("/campaigns/new").text
    live = '<p id="counter-status" class="visually-hidden" role="status" aria-live="polite">'
    assert live in page


def test_gsm_text_shows_septets_of_one_segment(sender):
    assert "GSM 7-bit · 11/160 · 1 segment · 149 left" in text_of(count(sender, "Hello there"))


def test_long_unicode_text_shows_characters_and_segments(sender):
    shown = text_of(count(sender, "Привет " * 10 + "Hello"))
    assert "Unicode · 75 characters · 2 segments (67 per segment) · 59 left in the last" in shown


def test_extension_characters_count_double(sender):
    shown = text_of(count(sender, "Save €5 {now}"))
    assert "GSM 7-bit · 16/160 · 1 segment" in shown
    assert "€ { } count as 2 characters in GSM 7-bit." in shown


def test_empty_message_is_no_segment(sender):
    assert "Empty message · 0 segments" in text_of(count(sender, ""))


def test_offending_characters_are_marked_and_the_fix_offered(sender):
    fragment = count(sender, "Hi “you”")
    assert 'class="counter unicode"' in fragment
    assert '<mark class="offending" title="“ (U+201C LEFT DOUBLE QUOTATION MARK)">“</mark>' in (
        fragment
    )
    assert 'hx-post="/compose/fix-lookalikes"' in fragment
    assert "Replace look-alikes" in fragment


def test_characters_without_a_gsm_twin_get_no_fix(sender):
    fragment = count(sender, "Привет")
    assert "Replace look-alikes" not in fragment
    assert "have no GSM 7-bit equivalent" in text_of(fragment)


def test_the_users_text_is_escaped_in_the_fragment(sender):
    fragment = count(sender, "<script>alert(1)</script> “x”")
    assert "<script>" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment


def test_forced_gsm_with_unicode_text_shows_the_error(sender):
    shown = text_of(count(sender, "Hej 😀", encoding="GSM"))
    assert "contains characters that GSM 7-bit cannot send: 😀 (U+1F600 GRINNING FACE)" in shown


def test_unknown_tag_lists_the_tags_the_list_offers(app, sender):
    with app.app_context():
        chosen = make_list(db.session, "People", danish_numbers(1), fields=["first_name", "city"])
        list_id = chosen.id
    shown = text_of(count(sender, "Hi %name%", list_ids=[list_id]))
    assert "Unknown tag %name% in the message. The list offers: %first_name%, %city%." in shown


def test_tags_without_a_list_are_counted_empty_and_said_so(sender):
    shown = text_of(count(sender, "Hi %first_name%"))
    assert "Before personalisation (tags counted as empty): GSM 7-bit · 3/160" in shown
    assert "Choose a list to fill in %first_name%" in shown


def test_chosen_lists_show_the_personalised_cost(app, sender):
    names = ["Ann", "Zoë", "A" * 150]
    with app.app_context():
        rows = [(n, {"first_name": f}) for n, f in zip(danish_numbers(3), names, strict=True)]
        list_id = make_list(db.session, "People", rows, fields=["first_name"]).id
    fragment = count(sender, "Hi %first_name%, welcome!", list_ids=[str(list_id)])
    shown = text_of(fragment)
    assert "Longest personalised message: 2 segments (GSM 7-bit, 163 characters)" in shown
    assert "4 segments in total for 3 recipients · 1 needs Unicode" in shown
    assert "1 needs more segments because of their values" in shown
    assert '<div id="message-tags" class="hint tag-chips" hx-swap-oob="true"' in fragment
    assert "Personalise with: %first_name%" in shown


def test_unchecking_every_list_resets_the_tag_hint(sender):
    fragment = count(sender, "Hi")
    assert '<div id="message-tags" class="hint tag-chips" hx-swap-oob="true"' in fragment
    assert "Choose a list to personalise the message with its fields." in text_of(fragment)


def test_typing_without_a_list_leaves_the_tag_hint_alone(sender):
    response = sender.post(
        "/compose/counter", data={"message": "Hi"}, headers={"HX-Trigger-Name": "message"}
    )
    assert "message-tags" not in response.text


def test_opted_out_and_duplicate_numbers_are_left_out(app, sender):
    a, b, c = danish_numbers(3)
    with app.app_context():
        first = make_list(db.session, "First", [a, b]).id
        second = make_list(db.session, "Second", [b, c]).id
        db.session.add(OptOut(msisdn=a))
        db.session.commit()
    shown = text_of(count(sender, "Hello", list_ids=[first, second]))
    assert "2 segments in total for 2 recipients" in shown
    assert "Left out: 1 opted-out number, 1 number already on an earlier list." in shown


def test_junk_list_ids_are_ignored(sender):
    shown = text_of(count(sender, "Hello", list_ids=["x", "-1", "1e3", "²", "9" * 40]))
    assert "GSM 7-bit · 5/160" in shown


def test_unknown_encoding_is_a_bad_request(sender):
    response = sender.post("/compose/counter", data={"message": "Hi", "encoding": "UTF8"})
    assert response.status_code == 400
    assert "Unknown encoding" in response.text


def test_viewer_may_not_use_the_counter(login_as):
    viewer = login_as(Role.VIEWER)
    assert viewer.post("/compose/counter", data={"message": "Hi"}).status_code == 403
    assert viewer.post("/compose/fix-lookalikes", data={"message": "Hi"}).status_code == 403


def test_counter_refuses_a_request_without_csrf_token(sender):
    response = sender.post("/compose/counter", data={"message": "Hi"}, csrf=False)
    assert response.status_code == 400


def test_fix_lookalikes_replaces_and_says_what_changed(sender):
    response = sender.post(
        "/compose/fix-lookalikes", data={"message": "“Hi” – see you…", "encoding": "auto"}
    )
    assert response.status_code == 200
    fragment = response.text
    assert fragment.lstrip().startswith('<div id="message-field" class="field">')
    textarea = re.search(r"<textarea[^>]*>\n(.*?)</textarea>", fragment, re.S)
    assert html.unescape(textarea[1]) == '"Hi" - see you...'
    shown = text_of(fragment)
    assert 'Replaced “ ” with " (2×), – with - (1×), … with ... (1×).' in shown
    assert "GSM 7-bit · 17/160 · 1 segment" in shown


def test_fix_lookalikes_refuses_a_request_without_csrf_token(sender):
    response = sender.post("/compose/fix-lookalikes", data={"message": "“Hi”"}, csrf=False)
    assert response.status_code == 400


def test_counter_names_recipients_whose_values_need_unicode(app, sender):
    with app.app_context():
        rows = [
            (n, {"first_name": f})
            for n, f in zip(danish_numbers(2), ["François", "Bo"], strict=True)
        ]
        list_id = make_list(db.session, "People", rows, fields=["first_name"]).id
    shown = text_of(count(sender, "Hi %first_name%", list_ids=[str(list_id)]))
    number = danish_numbers(1)[0]
    assert (
        f"1 recipient's message needs Unicode because of their values: +{number} "
        "( %first_name% “François”: ç )." in shown
    )
    assert "Characters: ç (U+00E7 LATIN SMALL LETTER C WITH CEDILLA)." in shown


def test_tags_are_chips_that_insert_at_the_cursor(app, sender):
    with app.app_context():
        list_id = make_list(db.session, "People", danish_numbers(1), fields=["first_name"]).id
    fragment = count(sender, "Hi", list_ids=[str(list_id)])
    assert 'data-insert-tag="%first_name%" data-for="message"' in fragment
    assert 'type="button" class="chip"' in fragment


def test_typing_again_clears_the_replaced_note(sender):
    typed = sender.post(
        "/compose/counter", data={"message": "Hi"}, headers={"HX-Trigger-Name": "message"}
    ).text
    assert '<p id="replaced-note" class="hint" role="status" hx-swap-oob="true"></p>' in typed
    listed = sender.post(
        "/compose/counter", data={"message": "Hi"}, headers={"HX-Trigger-Name": "encoding"}
    ).text
    assert "replaced-note" not in listed  # only a change of the text makes the note stale


def test_the_counter_offers_and_keeps_the_plain_values_option(app, sender):
    with app.app_context():
        rows = [(danish_numbers(1)[0], {"first_name": "François"})]
        list_id = make_list(db.session, "People", rows, fields=["first_name"]).id
    offered = count(sender, "Hi %first_name%", list_ids=[str(list_id)])
    assert 'name="plain_values"' in offered and " checked" not in offered
    assert "“François” as “Francois”" in text_of(offered)
    ticked = count(sender, "Hi %first_name%", list_ids=[str(list_id)], plain_values="y")
    assert 'id="plain_values" value="y" checked' in ticked
    assert "The values are sent in GSM 7-bit letters" in text_of(ticked)
    assert "needs Unicode ·" not in text_of(ticked) and "1 segment in total" in text_of(ticked)


def test_counter_says_what_cutting_a_few_characters_saves(app, sender):
    with app.app_context():
        list_id = make_list(db.session, "People", [*danish_numbers(3), "46701234567"]).id
    shown = text_of(count(sender, "x" * 164, list_ids=[str(list_id)]))
    assert (
        "Cut 4 characters to save 1 segment per message: 4 fewer segments, about 0.70 DKK." in shown
    )
    assert "Cut 1 character to save 1 segment per message." in text_of(count(sender, "x" * 161))
    assert "Cut" not in text_of(count(sender, "x" * 160))


def test_counter_says_what_replacing_lookalikes_saves(app, sender):
    with app.app_context():
        list_id = make_list(db.session, "People", danish_numbers(2)).id
    shown = text_of(count(sender, "It’s “great” – " + "x" * 140, list_ids=[str(list_id)]))
    assert (
        "Replacing the look-alikes saves 2 segments per message: "
        "4 fewer segments, about 0.60 DKK." in shown
    )
