"""Recipient list pages: the lists, upload a file, browse, search, rename, delete, export.

An upload goes on to its mapping step (`webapp.views.imports`); opt-outs are
`webapp.views.optouts`.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import AppendForm, EmptyForm, RenameForm, UploadForm
from webapp.models import ListImport, RecipientList, Role
from webapp.services import imports, lists, optouts
from webapp.services.audit import Target
from webapp.services.imports import ImportRefused
from webapp.services.lists import ListInvalid
from webapp.services.pages import page_number
from webapp.views.common import (
    audit_event,
    csv_response,
    default_country,
    max_upload_bytes,
    too_large_message,
    upload_dir,
    visible_list,
)

bp = Blueprint("lists", __name__, url_prefix="/lists")


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(error):
    """A file over the limit: the page it was sent from, with the reason beside the field."""
    message = too_large_message()
    # Forms are built without form data: reading the oversized body again would fail again.
    if request.endpoint == "lists.upload":
        form = UploadForm(formdata=None)
        form.file.errors = [message]
        return _index_page(form, 413)
    if request.endpoint == "lists.append":
        form = AppendForm(formdata=None)
        form.file.errors = [message]
        list_id = (request.view_args or {}).get("list_id", 0)
        return _show_page(visible_list(list_id), append_form=form, status=413)
    return render_template("error.html", status=413, title="File too large", message=message), 413


def _index_page(upload_form: UploadForm, status: int = 200):
    shown = lists.visible_lists(db.session)
    return render_template(
        "lists/index.html",
        lists=shown,
        latest_imports=lists.latest_imports(db.session, shown),
        in_progress=lists.imports_in_progress(db.session),
        upload_form=upload_form,
        opt_out_count=optouts.opt_out_count(db.session),
        max_upload_mb=current_app.config["MAX_UPLOAD_MB"],
    ), status


@bp.route("/")
@requires(Role.VIEWER)
def index():
    return _index_page(UploadForm(formdata=None))


@bp.route("/upload", methods=["POST"])
@requires(Role.SENDER)
def upload():
    form = UploadForm()
    list_import = _store_upload(form, list_name=form.name.data)
    if list_import is not None:
        return redirect(url_for("imports.mapping", import_id=list_import.id))
    return _index_page(form, 400)


def _store_upload(form: UploadForm | AppendForm, **target) -> ListImport | None:
    """Store the uploaded file for its mapping step; None when the form shows why not."""
    if not form.validate_on_submit():
        return None
    try:
        list_import = imports.store_upload(
            db.session,
            form.file.data.stream,
            form.file.data.filename or "",
            upload_dir=upload_dir(),
            default_country=default_country(),
            user=current_user,
            max_bytes=max_upload_bytes(),
            **target,
        )
    except ImportRefused as error:
        form.file.errors = [*form.file.errors, str(error)]
        return None
    audit_event("list_uploaded", list_import.recipient_list, list_import.filename)
    return list_import


def _show_page(
    recipient_list: RecipientList,
    *,
    append_form: AppendForm | None = None,
    rename_form: RenameForm | None = None,
    status: int = 200,
):
    return render_template(
        "lists/show.html",
        recipient_list=recipient_list,
        append_form=append_form or AppendForm(formdata=None),
        rename_form=rename_form or RenameForm(formdata=None, name=recipient_list.name),
        busy=imports.import_under_way(db.session, recipient_list.id),
        max_upload_mb=current_app.config["MAX_UPLOAD_MB"],
        **_recipients_context(recipient_list),
    ), status


def _recipients_context(recipient_list: RecipientList) -> dict:
    search = request.args.get("q", "")[:100]
    landlines = request.args.get("landlines") == "1"
    page = lists.search_recipients(
        db.session,
        recipient_list,
        query=search,
        landlines_only=landlines,
        page=page_number(request.args.get("page")),
    )
    return {"recipients": page, "search": search, "landlines": landlines}


@bp.route("/<int:list_id>")
@requires(Role.VIEWER)
def show(list_id: int):
    return _show_page(visible_list(list_id))


@bp.route("/<int:list_id>/recipients")
@requires(Role.VIEWER)
def recipients(list_id: int):
    """The recipients table: searched and paged live (htmx), or the whole page without JS."""
    recipient_list = visible_list(list_id)
    if request.htmx:
        return render_template(
            "lists/_recipients.html",
            recipient_list=recipient_list,
            **_recipients_context(recipient_list),
        )
    # Only the table's own arguments: another key (``list_id``, ``_external``) goes to url_for.
    table = {key: request.args[key] for key in ("q", "landlines", "page") if key in request.args}
    return redirect(url_for("lists.show", list_id=list_id, **table))


@bp.route("/<int:list_id>/append", methods=["POST"])
@requires(Role.SENDER)
def append(list_id: int):
    recipient_list = visible_list(list_id)
    form = AppendForm()
    list_import = _store_upload(form, append_to=recipient_list)
    if list_import is not None:
        return redirect(url_for("imports.mapping", import_id=list_import.id))
    return _show_page(recipient_list, append_form=form, status=400)


@bp.route("/<int:list_id>/rename", methods=["POST"])
@requires(Role.SENDER)
def rename(list_id: int):
    recipient_list = visible_list(list_id)
    form = RenameForm()
    before = recipient_list.name
    if form.validate_on_submit():
        try:
            lists.rename_list(db.session, recipient_list, form.name.data)
        except ListInvalid as error:
            form.name.errors = [*form.name.errors, str(error)]
        else:
            audit_event("list_renamed", recipient_list, f"“{before}” → “{recipient_list.name}”")
            flash("The list was renamed.", "success")
            return redirect(url_for("lists.show", list_id=list_id))
    return _show_page(recipient_list, rename_form=form, status=400)


@bp.route("/<int:list_id>/delete", methods=["POST"])
@requires(Role.SENDER)
def delete(list_id: int):
    recipient_list = visible_list(list_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    name = recipient_list.name
    try:
        outcome = lists.delete_list(db.session, recipient_list)
    except ListInvalid as error:
        flash(str(error), "error")
        return redirect(url_for("lists.show", list_id=list_id))
    kept = "hidden: a sent campaign used it" if outcome == "hidden" else "deleted"
    audit_event("list_deleted", Target("list", list_id, name), kept)
    if outcome == "hidden":
        flash(
            f"The list “{name}” was removed. A sent campaign used it, so it is kept "
            "(hidden) for that campaign's history.",
            "success",
        )
    else:
        flash(f"The list “{name}” was deleted.", "success")
    return redirect(url_for("lists.index"))


@bp.route("/<int:list_id>/export.csv")
@requires(Role.VIEWER)
def export(list_id: int):
    recipient_list = visible_list(list_id)
    audit_event("list_exported", recipient_list, f"{recipient_list.recipient_count:,} recipients")
    return csv_response(lists.export_csv(db.session, recipient_list), f"{recipient_list.name}.csv")
