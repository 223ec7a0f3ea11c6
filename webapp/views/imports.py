"""An import's pages: the mapping step, the live progress, the report and its rejected rows."""

from __future__ import annotations

import codecs
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import EmptyForm, MappingForm
from webapp.models import ListImport, Role
from webapp.services import imports, lists
from webapp.services.audit import Target
from webapp.services.imports import ImportMapping, ImportRefused, MappingInvalid, UploadMissing
from webapp.views.common import audit_event, csv_response, visible_import

bp = Blueprint("imports", __name__, url_prefix="/lists/imports")

REJECTED_SHOWN = 50
"""Rejected rows listed on an import's report; the download has them all."""

DELIMITERS_BY_NAME = {"comma": ",", "semicolon": ";", "tab": "\t"}
NAMES_BY_DELIMITER = {value: name for name, value in DELIMITERS_BY_NAME.items()}


def _format_overrides(source) -> dict:
    """The user's corrections to the sniffed format, from a form or the query string."""
    encoding = source.get("encoding") or None
    if encoding is not None and encoding not in imports.ENCODINGS:
        encoding = None
    header = source.get("header")
    return {
        "encoding": encoding,
        "delimiter": DELIMITERS_BY_NAME.get(source.get("delimiter", "")),
        "has_header": {"1": True, "0": False}.get(header) if header else None,
        "sheet": (source.get("sheet") or "")[:31] or None,
    }


def _mapping_page(
    list_import: ListImport,
    overrides: dict,
    *,
    chosen: dict | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
):
    try:
        fmt, names = imports.read_mapping(list_import, **overrides)
    except ImportRefused as error:
        if isinstance(error, UploadMissing) or not any(overrides.values()):
            return _discard_unreadable(list_import, error)
        flash(str(error), "error")
        try:
            fmt, names = imports.read_mapping(list_import)
        except ImportRefused as error:
            return _discard_unreadable(list_import, error)
        overrides = {}
    # Workbooks have no text encoding: only a CSV file can mix two.
    mixed = (
        imports.find_mixed_encoding(list_import.stored_path, fmt.encoding) if fmt.encoding else None
    )
    width = len(fmt.columns)
    if chosen is None:
        chosen = {
            "phone": fmt.phone_column,
            "keep": {index for index in range(width) if index != fmt.phone_column},
            "names": dict(enumerate(names)),
        }
    template = "lists/_mapping.html" if request.htmx else "lists/mapping.html"
    return render_template(
        template,
        list_import=list_import,
        recipient_list=list_import.recipient_list,
        fmt=fmt,
        mixed=mixed,
        chosen=chosen,
        errors=errors or {},
        delimiter_name=NAMES_BY_DELIMITER.get(fmt.delimiter, "comma"),
        encodings=imports.ENCODINGS,
        delimiters=DELIMITERS_BY_NAME,
    ), status


def _discard_unreadable(list_import: ListImport, error: ImportRefused):
    """An upload that cannot be mapped at all (gone from disk, an absurd shape) is discarded,
    and the user told why in words that name no server path."""
    list_id = list_import.list_id
    imports.cancel_import(db.session, list_import, current_user)
    flash(f"{error} The upload “{list_import.filename}” was discarded.", "error")
    if lists.find_visible_list(db.session, list_id) is not None:
        target = url_for("lists.show", list_id=list_id)
    else:
        target = url_for("lists.index")
    if request.htmx:  # a fragment request: the whole page goes
        return "", 200, {"HX-Redirect": target}
    return redirect(target)


@bp.route("/<int:import_id>/mapping")
@requires(Role.SENDER)
def mapping(import_id: int):
    """Choose the phone column and the fields; format corrections re-read the file (htmx)."""
    list_import = visible_import(import_id)
    if not list_import.status.awaits_mapping:
        return redirect(url_for("imports.report", import_id=import_id))
    return _mapping_page(list_import, _format_overrides(request.args))


@bp.route("/<int:import_id>/mapping", methods=["POST"])
@requires(Role.SENDER)
def confirm_mapping(import_id: int):
    list_import = visible_import(import_id)
    if not list_import.status.awaits_mapping:
        flash("This file's columns were already chosen.", "info")
        return redirect(url_for("imports.report", import_id=import_id))
    form = MappingForm()
    if not form.validate_on_submit():
        # Only a missing CSRF token or a tampered request gets here: every field is optional,
        # and the service names what is missing.
        abort(400)
    overrides = _format_overrides(form.data)
    keep = set(form.keep.data or [])
    names = form.tag_names
    phone = form.phone_column.data
    try:
        imports.confirm_mapping(
            db.session,
            list_import,
            ImportMapping(
                phone_column=phone,
                fields={index: names.get(index, "") for index in keep},
                **overrides,
            ),
        )
    except MappingInvalid as error:
        chosen = {"phone": phone, "keep": keep, "names": names}
        return _mapping_page(list_import, overrides, chosen=chosen, errors=error.errors, status=400)
    except UploadMissing as error:
        return _discard_unreadable(list_import, error)
    except ImportRefused as error:
        flash(str(error), "error")
        return redirect(url_for("imports.report", import_id=import_id))
    audit_event("list_imported", list_import.recipient_list, list_import.filename)
    current_app.extensions["jobs"].import_list(list_import.id)
    return redirect(url_for("imports.report", import_id=import_id))


def _report_context(list_import: ListImport) -> dict:
    done = list_import.status.is_done
    rejected = imports.rejected_rows(db.session, list_import, REJECTED_SHOWN) if done else []
    return {
        "list_import": list_import,
        "recipient_list": list_import.recipient_list,
        "rejected": [(row, imports.cells_of(row)) for row in rejected],
        "rejected_total": list_import.invalid + list_import.duplicates + list_import.opted_out,
        "awaiting_mapping": list_import.status.awaits_mapping,
    }


@bp.route("/<int:import_id>")
@requires(Role.VIEWER)
def report(import_id: int):
    """The import's progress while it runs, its report when it is done."""
    return render_template("lists/import.html", **_report_context(visible_import(import_id)))


@bp.route("/<int:import_id>/status")
@requires(Role.VIEWER)
def status(import_id: int):
    """The polled fragment: progress while running; the report (and no more polling) after."""
    list_import = visible_import(import_id)
    if not request.htmx:
        return redirect(url_for("imports.report", import_id=import_id))
    return render_template("lists/_import_status.html", **_report_context(list_import))


@bp.route("/<int:import_id>/cancel", methods=["POST"])
@requires(Role.SENDER)
def cancel(import_id: int):
    list_import = visible_import(import_id)
    list_id = list_import.list_id
    if not EmptyForm().validate_on_submit():
        abort(400)
    # Read before: a discarded upload (and the empty list made for it) is gone afterwards.
    target = Target("list", list_id, list_import.recipient_list.name)
    filename = list_import.filename
    try:
        outcome = imports.cancel_import(db.session, list_import, current_user)
    except ImportRefused as error:
        flash(str(error), "error")
        return redirect(url_for("imports.report", import_id=import_id))
    what = "the upload discarded" if outcome == "discarded" else "cancelled"
    audit_event("list_import_cancelled", target, f"{filename}: {what}")
    if outcome == "discarded":
        flash("The upload was discarded.", "success")
        if lists.find_visible_list(db.session, list_id) is not None:
            return redirect(url_for("lists.show", list_id=list_id))
        return redirect(url_for("lists.index"))
    flash("The import was cancelled. Nothing from the file was added to the list.", "success")
    return redirect(url_for("imports.report", import_id=import_id))


@bp.route("/<int:import_id>/rejected.csv")
@requires(Role.VIEWER)
def rejected_csv(import_id: int):
    list_import = visible_import(import_id)
    stem = Path(list_import.filename).stem or "import"
    encoding, _ = imports.rejected_rows_dialect(list_import)
    return csv_response(
        imports.rejected_rows_csv(db.session, list_import),
        f"{stem}-rejected-rows.csv",
        utf8=codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"),
    )
