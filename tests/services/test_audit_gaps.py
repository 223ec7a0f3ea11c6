"""Audited changes made outside the pages' forms: opt-outs by reply, an import ending (by the
system), and the operator's commands (users, lists, opt-outs). Each writes exactly one audit
event; a command's is by "system", with "at the command line" in its detail."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import PASSWORD, danish_numbers, inbound_reply, make_list
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import AuditEvent, ImportStatus, ListImport, Role
from webapp.services import imports, optouts, replies
from webapp.services.imports import ImportMapping


def last_id() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def events_since(before: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id))
    )


# --- Opt-outs by reply ----------------------------------------------------------------------


def test_a_stop_reply_is_one_event_by_the_system_and_a_repeat_none(ctx):
    number = danish_numbers(1)[0]
    words = replies.reply_words(db.session, ctx.config)
    before = last_id()
    replies.record_reply(db.session, inbound_reply(1, number, "STOP please"), words)
    replies.record_reply(db.session, inbound_reply(2, number, "stop"), words)  # no change
    replies.record_reply(db.session, inbound_reply(1, number, "STOP please"), words)  # a repeat
    (event,) = events_since(before)
    assert (event.action, event.actor, event.user_id) == ("opt_out_added", "system", None)
    assert (event.object_type, event.object_id, event.object_label) == (
        "opt_out",
        number,
        f"+{number}",
    )
    assert event.detail == "by reply 'STOP please'"


def test_a_start_reply_is_one_opt_out_removed_event(ctx):
    number = danish_numbers(1)[0]
    words = replies.reply_words(db.session, ctx.config)
    replies.record_reply(db.session, inbound_reply(1, number, "STOP"), words)
    before = last_id()
    replies.record_reply(db.session, inbound_reply(2, number, "START"), words)
    (event,) = events_since(before)
    assert (event.action, event.object_id) == ("opt_out_removed", number)
    replies.record_reply(db.session, inbound_reply(3, number, "Thanks!"), words)  # not a keyword
    assert [e.action for e in events_since(before)] == ["opt_out_removed"]


def test_a_simulated_stop_says_so(ctx):
    number = danish_numbers(1)[0]
    words = replies.reply_words(db.session, ctx.config)
    before = last_id()
    replies.record_reply(db.session, inbound_reply(1, number, "STOP"), words, simulated=True)
    (event,) = events_since(before)
    assert event.detail.startswith("Sandbox, simulated: ")


# --- An import ending -------------------------------------------------------------------------


def queued_import(ctx, tmp_path, content: str) -> ListImport:
    source = tmp_path / "people.csv"
    source.write_text(content, encoding="utf-8")
    with source.open("rb") as stream:
        list_import = imports.store_upload(
            db.session,
            stream,
            "people.csv",
            upload_dir=tmp_path / "uploads",
            default_country="DK",
            list_name="People",
        )
    imports.confirm_mapping(db.session, list_import, ImportMapping(0, {1: "name"}))
    return list_import


def test_an_import_finishing_is_one_event_by_the_system(ctx, tmp_path):
    list_import = queued_import(ctx, tmp_path, "phone,name\n+4520100001,Ann\nnope,Bo\n")
    before = last_id()
    imports.run_import(db.session, list_import.id)
    (event,) = events_since(before)
    assert (event.action, event.actor) == ("list_import_done", "system")
    assert (event.object_type, event.object_id) == ("list", str(list_import.list_id))
    assert event.detail == "people.csv: 1 imported, 1 invalid, 0 duplicates, 0 opted out"
    imports.run_import(db.session, list_import.id)  # run twice: nothing more
    assert len(events_since(before)) == 1


def test_an_import_failing_is_one_event_by_the_system(ctx, tmp_path):
    list_import = queued_import(ctx, tmp_path, "phone,name\n+4520100001,Ann\n")
    Path(list_import.stored_path).write_text("phone,name\n+4520100001,Ann\n+4520100002,Bo\n")
    before = last_id()
    finished = imports.run_import(db.session, list_import.id)  # the file changed meanwhile
    assert finished.status is ImportStatus.FAILED
    (event,) = events_since(before)
    assert (event.action, event.actor) == ("list_import_failed", "system")
    assert event.detail.startswith("people.csv: ")


# --- The operator's commands ------------------------------------------------------------------


def run(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    return result


@pytest.mark.parametrize(
    ("command", "action"),
    [
        (
            ["users", "create", "new@example.com", "--role", "viewer", "--password", PASSWORD],
            "user_created",
        ),
        (["users", "unlock", "someone@example.com"], "user_unlocked"),
        (
            ["users", "set-password", "someone@example.com", "--password", PASSWORD + "!"],
            "user_password",
        ),
        (["optouts", "add", "+4520100001", "+4520100002"], "opt_out_added"),
        (["optouts", "remove", "+4520100009"], "opt_out_removed"),
    ],
)
def test_each_command_writes_exactly_one_event_by_the_command_line(ctx, make_user, command, action):
    make_user(Role.SENDER, "someone@example.com")
    optouts.add_opt_outs(db.session, ["+4520100009"], default_country="DK")
    before = last_id()
    result = run(ctx, *command)
    assert result.exit_code == 0, result.output
    (event,) = events_since(before)
    assert (event.action, event.actor, event.user_id) == (action, "system", None)
    assert event.detail.endswith("at the command line") or "(at the command line)" in (event.detail)


def test_a_command_that_changes_nothing_writes_nothing(ctx):
    optouts.add_opt_outs(db.session, ["+4520100001"], default_country="DK")
    before = last_id()
    assert run(ctx, "optouts", "add", "+4520100001").exit_code == 0  # already on the list
    assert run(ctx, "optouts", "remove", "+4520100002").exit_code == 0  # not on it
    assert events_since(before) == []


def test_a_list_import_at_the_command_line_is_one_event(ctx, tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("phone,name\n+4520100001,Ann\n+4520100002,Bo\n", encoding="utf-8")
    before = last_id()
    result = run(ctx, "lists", "import", str(source), "--name", "People")
    assert result.exit_code == 0, result.output
    (event,) = events_since(before)
    assert (event.action, event.actor, event.object_type) == ("list_imported", "system", "list")
    assert event.detail == (
        "people.csv: 2 imported, 0 invalid, 0 duplicates, 0 opted out (at the command line)"
    )
    make_list(db.session, "Other", danish_numbers(1))  # (unrelated: no event)
    assert len(events_since(before)) == 1
