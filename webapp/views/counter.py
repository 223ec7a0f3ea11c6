"""The composer's live counter and its one-click look-alike fix, as htmx fragments.

Both read the compose form as it stands (`hx-include="closest form"`): `message`, `encoding`,
the checked `list_ids`, `opt_out_link`, `include_undeliverable` and the `template_id` the
message came from. The compose page renders the same fragments on a plain submit by calling
`count_message` itself, so the figures never depend on JavaScript. Saving the message as a
template and starting from one are fragments of the composer too.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import CampaignForm
from webapp.models import MessageTemplate, Role
from webapp.services.campaigns import ENCODINGS
from webapp.services.counter import MAX_LISTS, count_message, describe_replacements
from webapp.services.optout_links import footer_text_for
from webapp.services.tracked_links import link_problem, track_urls
from webapp.sms import replace_lookalikes
from webapp.views.common import (
    counted_text,
    id_or_none,
    opt_out_footer,
    save_message_as_template,
    tracked_link_host,
    utm_choice,
)

bp = Blueprint("counter", __name__, url_prefix="/compose")

_FIELDS_OUTSIDE_LIST_CHOOSER = {"message", "encoding"}


@bp.post("/counter")
@requires(Role.SENDER)
def count():
    """The counter for the form's current message, encoding and lists."""
    message, encoding, list_ids = _compose_input()
    counter = _count(message, encoding, list_ids)
    # The tag hint beside the field follows the chosen lists. With none chosen it is only
    # redrawn when the list chooser asked: typing in a follow-up campaign, whose fields come
    # from its parent and not from lists, must not wipe the hint the compose page drew.
    asked_by = request.headers.get("HX-Trigger-Name")
    refresh_tags = bool(counter.lists_chosen) or asked_by not in _FIELDS_OUTSIDE_LIST_CHOOSER
    return render_template(
        "counter/_counter.html",
        counter=counter,
        refresh_tags=refresh_tags,
        text_changed=asked_by == "message",  # the "Replaced …" note no longer applies
        announce=True,  # the summary for screen readers, into the live region that stays
    )


@bp.post("/counter/<letter>")
@requires(Role.SENDER)
def count_variant(letter: str):
    """An A/B test variant's own counter: its text (``message_b`` or ``message_c``) counted
    as the message is, over the same lists, encoding and footer."""
    if letter not in ("B", "C"):
        abort(404)
    _, encoding, list_ids = _compose_input()
    counter = count_message(
        db.session,
        request.form.get(f"message_{letter.lower()}", ""),
        encoding,
        list_ids,
        _footer(),
        plain_values=_plain_values(),
        include_undeliverable=_ticked("include_undeliverable"),
    )
    return render_template("counter/_variant_counter.html", letter=letter, counter=counter)


@bp.post("/fix-lookalikes")
@requires(Role.SENDER)
def fix_lookalikes():
    """The message field again, look-alikes replaced, saying what changed, counter updated."""
    message, encoding, list_ids = _compose_input()
    replacement = replace_lookalikes(message)
    counter = _count(replacement.text, encoding, list_ids)
    return render_template(
        "counter/_message_field.html",
        message_value=replacement.text,
        message_errors=[],
        available_tags=counter.available_fields,
        counter=counter,
        replaced_note=describe_replacements(replacement),
    )


@bp.post("/track-links")
@requires(Role.SENDER)
def track_links():
    """The message field again, every URL in it turned into a tracked link (with the UTM
    parameters chosen), counted at the short links' length."""
    message, encoding, list_ids = _compose_input()
    host = tracked_link_host()
    tracked = track_urls(message, utm_choice()) if host else message
    counter = _count(tracked, encoding, list_ids)
    return render_template(
        "counter/_message_field.html",
        message_value=tracked,
        message_errors=[] if host else [link_problem("[track:https://x]", None)],
        available_tags=counter.available_fields,
        counter=counter,
        replaced_note=_tracked_note(message, tracked) if host else "",
    )


def _tracked_note(before: str, after: str) -> str:
    if before == after:
        return "There is no untracked web address (http:// or https://) in the message."
    return (
        "Each web address is now a tracked link: every recipient gets a short link of their "
        "own, counted at its real length."
    )


@bp.post("/use-template")
@requires(Role.SENDER)
def use_template():
    """The message field filled from the chosen template, counted over the chosen lists, with
    the template's encoding and id out of band."""
    template_id = id_or_none(request.form.get("template_choice"))
    if template_id is None:
        abort(404)
    template = db.get_or_404(MessageTemplate, template_id)
    _, _, list_ids = _compose_input()
    counter = _count(template.message, template.encoding, list_ids, template_id=template.id)
    return render_template(
        "counter/_template_applied.html",
        form=CampaignForm(formdata=None, encoding=template.encoding, template_id=template.id),
        message_value=template.message,
        message_errors=[],
        available_tags=counter.available_fields,
        counter=counter,
    )


@bp.post("/save-template")
@requires(Role.SENDER)
def save_template():
    """The composer's templates again, after saving the message as one (or saying why not)."""
    return render_template("counter/_template_tools.html", **save_message_as_template())


def _count(message: str, encoding: str, list_ids: list[int], *, template_id=None):
    """`count_message` over the form's choices, tracked links counted as short links."""
    if template_id is None:
        template_id = id_or_none(request.form.get("template_id"))
    return count_message(
        db.session,
        counted_text(message),
        encoding,
        list_ids,
        _footer(),
        plain_values=_plain_values(),
        template_id=template_id,
        include_undeliverable=_ticked("include_undeliverable"),
    )


def _plain_values() -> bool:
    """The counter's "Send these values in GSM 7-bit letters" box (a BooleanField's values)."""
    return _ticked("plain_values")


def _ticked(name: str) -> bool:
    """Whether the form's checkbox ``name`` is ticked (a BooleanField's values)."""
    return request.form.get(name, "") not in ("", "false", "n", "0")


def _footer() -> str:
    """The opt-out footer as one recipient gets it, when the form asks for one."""
    if not request.form.get("opt_out_link"):
        return ""
    return footer_text_for(opt_out_footer())


def _compose_input() -> tuple[str, str, list[int]]:
    """The form's message, encoding and list ids; list ids that are not numbers are ignored
    (a stray value must not break typing), an unknown encoding is refused."""
    message = request.form.get("message", "")
    encoding = request.form.get("encoding") or "auto"
    if encoding not in ENCODINGS:
        abort(400, description=f"Unknown encoding {encoding!r}: choose auto, GSM or UCS2.")
    list_ids = list(
        dict.fromkeys(
            int(value)
            for value in request.form.getlist("list_ids")
            if id_or_none(value) is not None
        )
    )
    if len(list_ids) > MAX_LISTS:
        abort(400, description=f"Choose at most {MAX_LISTS} lists at a time.")
    return message, encoding, list_ids
