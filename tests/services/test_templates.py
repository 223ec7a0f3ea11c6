"""Message templates: saved, named once, renamed, deleted, used by campaigns, and the counter's
warning when a chosen list lacks a template's tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import danish_numbers, make_list

from webapp.extensions import db
from webapp.models import Campaign, MessageTemplate
from webapp.services import campaigns, templates
from webapp.services.counter import MissingTags, clear_counter_caches, count_message
from webapp.services.preview import preview_campaign
from webapp.services.templates import TemplateInvalid


@pytest.fixture(autouse=True)
def fresh_caches():
    clear_counter_caches()
    yield
    clear_counter_caches()


def draft_from(sender, template, recipient_list, name="Spring") -> Campaign:
    draft = campaigns.CampaignDraft(
        name=name,
        sender="Shop",
        message=template.message,
        encoding=template.encoding,
        list_ids=[recipient_list.id],
        template_id=template.id,
    )
    return campaigns.save_draft(db.session, sender, draft)


def confirmed(sender, campaign, now=None) -> Campaign:
    preview_campaign(db.session, campaign, sender, None, honours_dry_run=False, batch_size=10)
    return campaigns.confirm_campaign(
        db.session, campaign, sender, batch_size=10, now=now, allow_duplicate=True
    )


def test_a_template_keeps_its_message_tags_and_encoding(ctx, sender):
    template = templates.save_template(
        db.session, sender, "  Spring   sale ", "Hi %first_name%, 20% off %shop%", "UCS2"
    )
    [found] = templates.list_templates(db.session)
    assert found.id == template.id
    assert (found.name, found.encoding) == ("Spring sale", "UCS2")
    assert found.tags == ["first_name", "shop"]
    assert found.created_by_id == sender.id and found.last_used_at is None


def test_templates_are_listed_by_name_case_ignored(ctx, sender):
    for name in ("beta", "Alpha", "Gamma"):
        templates.save_template(db.session, sender, name, "Hi")
    assert [t.name for t in templates.list_templates(db.session)] == ["Alpha", "beta", "Gamma"]


def test_a_taken_name_is_refused_case_ignored(ctx, sender):
    templates.save_template(db.session, sender, "Spring sale", "Hi")
    with pytest.raises(TemplateInvalid, match="A template called “spring SALE” already exists"):
        templates.save_template(db.session, sender, "spring SALE", "Other")
    assert len(templates.list_templates(db.session)) == 1


def test_the_database_refuses_a_taken_name_too(ctx, sender):
    templates.save_template(db.session, sender, "Spring sale", "Hi")
    db.session.add(MessageTemplate(name="SPRING SALE", message="Hi", encoding="auto"))
    with pytest.raises(Exception, match="(?i)unique"):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    ("name", "message", "encoding", "problem"),
    [
        ("", "Hi", "auto", "Give the template a name."),
        ("x" * 201, "Hi", "auto", "at most 200 characters"),
        ("Empty", "  ", "auto", "Write the message first"),
        ("Odd", "Hi", "utf8", "Choose automatic, GSM or Unicode."),
    ],
)
def test_what_cannot_be_saved(ctx, sender, name, message, encoding, problem):
    with pytest.raises(TemplateInvalid, match=problem):
        templates.save_template(db.session, sender, name, message, encoding)


def test_rename_refuses_a_name_another_template_has(ctx, sender):
    first = templates.save_template(db.session, sender, "First", "Hi")
    templates.save_template(db.session, sender, "Second", "Hi")
    with pytest.raises(TemplateInvalid, match="already exists"):
        templates.rename_template(db.session, first, "second")
    templates.rename_template(db.session, first, "FIRST")  # its own name, in other case
    assert db.session.get(MessageTemplate, first.id).name == "FIRST"


def test_a_draft_remembers_its_template_and_its_copy_too(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi")
    campaign = draft_from(sender, template, make_list(db.session, "P", danish_numbers(1)))
    assert campaign.template_id == template.id
    assert campaigns.copy_campaign(db.session, campaign, sender).template_id == template.id


def test_a_draft_forgets_a_template_deleted_before_it_was_saved(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi")
    template_id = template.id
    templates.delete_template(db.session, template)
    draft = campaigns.CampaignDraft(name="S", sender="Shop", message="Hi", template_id=template_id)
    assert campaigns.save_draft(db.session, sender, draft).template_id is None


def test_confirming_a_campaign_marks_its_template_used(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi")
    campaign = draft_from(sender, template, make_list(db.session, "P", danish_numbers(2)))
    assert db.session.get(MessageTemplate, template.id).last_used_at is None
    preview_campaign(db.session, campaign, sender, None, honours_dry_run=False, batch_size=10)
    assert db.session.get(MessageTemplate, template.id).last_used_at is None  # a preview is no use
    confirmed(sender, campaign)
    db.session.expire_all()
    assert db.session.get(MessageTemplate, template.id).last_used_at == campaign.confirmed_at


def test_last_used_never_moves_back(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi")
    people = make_list(db.session, "P", danish_numbers(1))
    later = datetime.now(UTC) + timedelta(hours=1)
    confirmed(sender, draft_from(sender, template, people, "A"), now=later)
    confirmed(sender, draft_from(sender, template, people, "B"))
    db.session.expire_all()
    assert db.session.get(MessageTemplate, template.id).last_used_at == later


def test_a_campaign_without_a_template_marks_nothing(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi")
    people = make_list(db.session, "P", danish_numbers(1))
    draft = campaigns.CampaignDraft(name="S", sender="Shop", message="Hi", list_ids=[people.id])
    confirmed(sender, campaigns.save_draft(db.session, sender, draft))
    db.session.expire_all()
    assert db.session.get(MessageTemplate, template.id).last_used_at is None


def test_deleting_a_template_leaves_its_drafts_their_message(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi there")
    campaign = draft_from(sender, template, make_list(db.session, "P", danish_numbers(1)))
    templates.delete_template(db.session, template)
    db.session.expire_all()
    kept = db.session.get(Campaign, campaign.id)
    assert (kept.message, kept.template_id) == ("Hi there", None)
    assert templates.list_templates(db.session) == []


def test_the_counter_says_which_chosen_list_lacks_a_templates_tags(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi %first_name% at %shop%")
    with_names = make_list(
        db.session,
        "Members",
        [(danish_numbers(1)[0], {"first_name": "Ann", "shop": "N"})],
        fields=["first_name", "shop"],
    )
    without = make_list(db.session, "Walk-ins", danish_numbers(1, start=20_200_000))
    counter = count_message(
        db.session, template.message, "auto", [with_names.id, without.id], template_id=template.id
    )
    assert counter.template_name == "Spring"
    assert counter.missing_tags == (MissingTags("Walk-ins", ("first_name", "shop")),)
    assert counter.errors == ()  # Members has both: Walk-ins' recipients get them empty


def test_a_tag_no_chosen_list_has_is_an_error_and_named_per_list(ctx, sender):
    template = templates.save_template(db.session, sender, "Spring", "Hi %first_name%")
    people = make_list(db.session, "Walk-ins", danish_numbers(1))
    counter = count_message(
        db.session, template.message, "auto", [people.id], template_id=template.id
    )
    assert counter.missing_tags == (MissingTags("Walk-ins", ("first_name",)),)
    assert "Unknown tag %first_name%" in counter.error


def test_the_counter_ignores_an_unknown_template(ctx):
    assert count_message(db.session, "Hi", template_id=999_999).template_name is None
