"""Templates through the pages: saved from the composer, chosen when composing (with htmx and
without), listed with when they were last used, renamed and deleted by senders."""

from __future__ import annotations

import html
import re

import pytest
from helpers import danish_numbers, form_errors, make_list, preview_via_pages, text_of

from webapp.extensions import db
from webapp.models import Campaign, MessageTemplate, Role
from webapp.services import templates

HTMX = {"HX-Request": "true"}


pytestmark = pytest.mark.usefixtures("fresh_counter_caches")


def saved_template(app, name="Spring sale", message="Hi %first_name%, 20% off", encoding="auto"):
    with app.app_context():
        return templates.save_template(db.session, None, name, message, encoding).id


def compose_form(**values):
    form = {"name": "Spring", "sender": "Shop", "message": "", "encoding": "auto"}
    form.update(values)
    return form


def test_save_as_template_from_the_composer(app, sender):
    response = sender.post(
        "/compose/save-template",
        data=compose_form(message="Hi %first_name%!", encoding="UCS2", template_name="Hello"),
        headers=HTMX,
    )
    assert response.status_code == 200
    fragment = response.text
    assert fragment.lstrip().startswith('<section id="template-tools"')
    assert "Saved as the template “Hello”." in text_of(fragment)
    assert '<option value="' in fragment and "Hello (uses %first_name%)" in text_of(fragment)
    with app.app_context():
        [template] = templates.list_templates(db.session)
        assert (template.message, template.encoding) == ("Hi %first_name%!", "UCS2")


def test_a_duplicate_name_is_a_form_error_keeping_what_was_typed(app, sender):
    saved_template(app, "Spring sale")
    response = sender.post(
        "/compose/save-template",
        data=compose_form(message="Other text", template_name="spring sale"),
        headers=HTMX,
    )
    assert response.status_code == 200  # htmx swaps the form with its error in
    assert form_errors(response.text) == [
        "A template called “spring sale” already exists: choose another name."
    ]
    assert 'name="template_name" id="template_name" value="spring sale"' in response.text
    with app.app_context():
        assert len(templates.list_templates(db.session)) == 1


def test_save_as_template_without_javascript_keeps_the_whole_form(app, sender):
    saved_template(app, "Spring sale")
    form = compose_form(message="Typed text", template_name="Spring sale", save_template="1")
    response = sender.post("/campaigns/new", data=form)
    assert response.status_code == 400
    assert "A template called “Spring sale” already exists" in response.text
    assert "Typed text</textarea>" in response.text
    form["template_name"] = "Autumn"
    response = sender.post("/campaigns/new", data=form)
    assert response.status_code == 200
    assert "Saved as the template “Autumn”." in text_of(response.text)
    with app.app_context():
        assert db.session.query(Campaign).count() == 0  # only the template was saved


def test_choosing_a_template_fills_the_message_encoding_and_template(app, sender):
    template_id = saved_template(app, message="Hej “ven”", encoding="UCS2")
    response = sender.post(
        "/compose/use-template",
        data=compose_form(message="old text", template_choice=str(template_id)),
        headers=HTMX,
    )
    assert response.status_code == 200
    fragment = response.text
    assert fragment.lstrip().startswith('<div id="message-field"')
    textarea = re.search(r"<textarea[^>]*>\n(.*?)</textarea>", fragment, re.S)
    assert html.unescape(textarea[1]) == "Hej “ven”"
    assert re.search(r'<div class="field" id="encoding-field" hx-swap-oob="true">', fragment)
    assert re.search(r'<option selected value="UCS2">', fragment)
    assert (
        f'<input type="hidden" name="template_id" id="template_id" value="{template_id}" '
        'hx-swap-oob="true">' in fragment
    )
    assert "Unicode" in text_of(fragment)  # counted with the template's encoding


def test_choosing_a_template_without_javascript(app, sender):
    template_id = saved_template(app, message="Saved words")
    response = sender.post(
        "/campaigns/new",
        data=compose_form(message="old", use_template="1", template_choice=str(template_id)),
    )
    assert response.status_code == 200
    assert "Saved words</textarea>" in response.text
    assert f'id="template_id" name="template_id" type="hidden" value="{template_id}"' in (
        response.text
    )


def test_choosing_a_template_that_is_gone_is_not_found(sender):
    assert sender.post("/compose/use-template", data={"template_choice": "999"}).status_code == 404
    assert sender.post("/compose/use-template", data={"template_choice": "x"}).status_code == 404


def test_a_confirmed_campaign_from_a_template_shows_when_it_was_last_used(app, sender):
    template_id = saved_template(app, message="Hi there")
    assert "never: no campaign from it was confirmed yet" in sender.get("/templates/").text
    with app.app_context():
        list_id = make_list(db.session, "People", danish_numbers(2)).id
    cid, _, confirm = preview_via_pages(
        sender, list_id, message="Hi there", template_id=str(template_id)
    )
    with app.app_context():
        assert db.session.get(Campaign, cid).template_id == template_id
        assert db.session.get(MessageTemplate, template_id).last_used_at is None
    assert sender.post(f"/campaigns/{cid}/confirm", data=confirm).status_code == 302
    with app.app_context():
        confirmed_at = db.session.get(Campaign, cid).confirmed_at
        assert db.session.get(MessageTemplate, template_id).last_used_at == confirmed_at
    assert "never: no campaign" not in sender.get("/templates/").text


def test_the_counter_warns_when_a_chosen_list_lacks_the_templates_tags(app, sender):
    template_id = saved_template(app, "Spring sale", "Hi %first_name%")
    with app.app_context():
        members = make_list(
            db.session,
            "Members",
            [(danish_numbers(1)[0], {"first_name": "Ann"})],
            fields=["first_name"],
        ).id
        walk_ins = make_list(db.session, "Walk-ins", danish_numbers(1, start=20_200_000)).id
    response = sender.post(
        "/compose/counter",
        data={
            "message": "Hi %first_name%",
            "list_ids": [str(members), str(walk_ins)],
            "template_id": str(template_id),
        },
    )
    read = " ".join(html.unescape(re.sub(r"<[^>]+>", "", response.text)).split())
    assert (
        "The template “Spring sale” uses %first_name%, which the list “Walk-ins” lacks: "
        "its recipients get it empty." in read
    )


def test_the_templates_page_shows_each_template_with_its_tags(app, login_as):
    saved_template(app, "Spring sale", "Hi %first_name% from %shop%", "GSM")
    page = login_as(Role.VIEWER).get("/templates/")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Spring sale" in shown and "Hi %first_name% from %shop%" in shown
    assert "Tags %first_name% %shop%" in shown and "GSM 7-bit only" in shown
    assert "Rename" not in shown and "Delete" not in shown  # viewers only read


def test_viewers_may_not_save_rename_delete_or_use_templates(app, login_as):
    template_id = saved_template(app)
    viewer = login_as(Role.VIEWER)
    for url, data in [
        ("/compose/save-template", {"message": "Hi", "template_name": "Mine"}),
        ("/compose/use-template", {"template_choice": str(template_id)}),
        (f"/templates/{template_id}/rename", {"name": "Other"}),
        (f"/templates/{template_id}/delete", {}),
    ]:
        assert viewer.post(url, data=data).status_code == 403, url
    with app.app_context():
        assert db.session.get(MessageTemplate, template_id).name == "Spring sale"


def test_a_sender_renames_a_template(app, sender):
    template_id = saved_template(app)
    response = sender.post(f"/templates/{template_id}/rename", data={"name": "Summer sale"})
    assert response.status_code == 302
    assert "The template was renamed “Summer sale”." in sender.get("/templates/").text


def test_renaming_to_a_taken_name_keeps_what_was_typed(app, sender):
    template_id = saved_template(app, "Spring sale")
    saved_template(app, "Summer sale")
    response = sender.post(f"/templates/{template_id}/rename", data={"name": "SUMMER sale"})
    assert response.status_code == 400
    assert form_errors(response.text) == [
        "A template called “SUMMER sale” already exists: choose another name."
    ]
    assert f'id="rename-{template_id}" name="name"' in response.text
    assert 'value="SUMMER sale"' in response.text


def test_a_sender_deletes_a_template(app, sender):
    template_id = saved_template(app)
    response = sender.post(f"/templates/{template_id}/delete")
    assert response.status_code == 302
    assert "The template “Spring sale” was deleted." in sender.get("/templates/").text
    with app.app_context():
        assert db.session.get(MessageTemplate, template_id) is None


def test_template_posts_without_csrf_token_are_refused(app, sender):
    template_id = saved_template(app)
    for url, data in [
        ("/compose/save-template", {"message": "Hi", "template_name": "Mine"}),
        ("/compose/use-template", {"template_choice": str(template_id)}),
        (f"/templates/{template_id}/rename", {"name": "Other"}),
        (f"/templates/{template_id}/delete", {}),
    ]:
        assert sender.post(url, data=data, csrf=False).status_code == 400, url
    with app.app_context():
        assert [t.name for t in templates.list_templates(db.session)] == ["Spring sale"]


def test_the_composer_offers_the_templates(app, sender):
    saved_template(app, "Spring sale")
    page = sender.get("/campaigns/new").text
    assert 'name="template_choice"' in page and "Spring sale (uses %first_name%)" in page
    assert "Save as template" in page
