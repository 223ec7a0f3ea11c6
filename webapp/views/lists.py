"""Recipient list pages: upload and map a CSV, follow its import, browse, export, opt-outs."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import (
    AppendForm,
    EmptyForm,
    OptOutAddForm,
    OptOutUploadForm,
    RenameForm,
    UploadForm,
)
from webapp.models import ImportStatus, ListImport, RecipientList, Role
from webapp.services import imports, lists, optouts, settings
from webapp.services.imports import ImportMapping, ImportRefused, MappingInvalid
from webapp.services.lists import ListInvalid
from webapp.services.pages import page_number

bp = Blueprint("lists", __name__, url_prefix="/lists")

REJECTED_SHOWN = 50
"""Rejected rows listed on an import's report; the download has them all."""

DELIMITERS_BY_NAME = {"comma": ",", "semicolon": ";", "tab": "\t"}
NAMES_BY_DELIMITER = {value: name for name, value in DELIMITERS_BY_NAME.items()}


# --- Helpers ---------------------------------------------------------------------------------


def _upload_dir() -> Path:
    return Path(current_app.instance_path) / "uploads"


def _default_country() -> str:
    return settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])


def _max_bytes() -> int:
    return current_app.config["MAX_CONTENT_LENGTH"]


def _list(list_id: int) -> RecipientList:
    recipient_list = lists.find_visible_list(db.session, list_id)
    if recipient_list is None:
        abort(404)
    return recipient_list


def _import(import_id: int) -> ListImport:
    list_import = db.get_or_404(ListImport, import_id)
    if list_import.recipient_list.hidden:
        abort(404)
    return list_import


def _csv_response(lines, filename: str) -> Response:
    safe = secure_filename(filename) or "export.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


def _flash_form_errors(form: FlaskForm) -> None:
    for errors in form.errors.values():
        for message in errors:
            flash(message, "error")


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(error):
    """A file over the limit: the page it was sent from, with the reason beside the field."""
    message = (
        f"The file is larger than the limit of {current_app.config['MAX_UPLOAD_MB']} MB. "
        "Nothing was stored."
    )
    # Forms are built without form data: reading the oversized body again would fail again.
    if request.endpoint == "lists.upload":
        form = UploadForm(formdata=None)
        form.file.errors = [message]
        return _index_page(form, 413)
    if request.endpoint == "lists.append":
        form = AppendForm(formdata=None)
        form.file.errors = [message]
        list_id = (request.view_args or {}).get("list_id", 0)
        return _show_page(_list(list_id), append_form=form, status=413)
    if request.endpoint == "lists.upload_opt_outs":
        form = OptOutUploadForm(formdata=None)
        form.file.errors = [message]
        return _opt_outs_page(upload_form=form, status=413)
    return render_template("error.html", status=413, title="File too large", message=message), 413


# --- Lists -----------------------------------------------------------------------------------


def _index_page(upload_form: UploadForm, status: int = 200):
    return render_template(
        "lists/index.html",
        lists=lists.visible_lists(db.session),
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
        return redirect(url_for("lists.mapping", import_id=list_import.id))
    return _index_page(form, 400)


def _store_upload(form: UploadForm | AppendForm, **target) -> ListImport | None:
    """Store the uploaded file for its mapping step; None when the form shows why not."""
    if not form.validate_on_submit():
        return None
    try:
        return imports.store_upload(
            db.session,
            form.file.data.stream,
            form.file.data.filename or "",
            upload_dir=_upload_dir(),
            default_country=_default_country(),
            user=current_user,
            max_bytes=_max_bytes(),
            **target,
        )
    except ImportRefused as error:
        form.file.errors = [*form.file.errors, str(error)]
        return None


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
    return _show_page(_list(list_id))


@bp.route("/<int:list_id>/recipients")
@requires(Role.VIEWER)
def recipients(list_id: int):
    """The recipients table: searched and paged live (htmx), or the whole page without JS."""
    recipient_list = _list(list_id)
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
    recipient_list = _list(list_id)
    form = AppendForm()
    list_import = _store_upload(form, append_to=recipient_list)
    if list_import is not None:
        return redirect(url_for("lists.mapping", import_id=list_import.id))
    return _show_page(recipient_list, append_form=form, status=400)


@bp.route("/<int:list_id>/rename", methods=["POST"])
@requires(Role.SENDER)
def rename(list_id: int):
    recipient_list = _list(list_id)
    form = RenameForm()
    if form.validate_on_submit():
        try:
            lists.rename_list(db.session, recipient_list, form.name.data)
        except ListInvalid as error:
            form.name.errors = [*form.name.errors, str(error)]
        else:
            flash("The list was renamed.", "success")
            return redirect(url_for("lists.show", list_id=list_id))
    return _show_page(recipient_list, rename_form=form, status=400)


@bp.route("/<int:list_id>/delete", methods=["POST"])
@requires(Role.SENDER)
def delete(list_id: int):
    recipient_list = _list(list_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    name = recipient_list.name
    try:
        outcome = lists.delete_list(db.session, recipient_list)
    except ListInvalid as error:
        flash(str(error), "error")
        return redirect(url_for("lists.show", list_id=list_id))
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
    recipient_list = _list(list_id)
    return _csv_response(lists.export_csv(db.session, recipient_list), f"{recipient_list.name}.csv")


# --- Imports: mapping, progress, report ------------------------------------------------------


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
        flash(str(error), "error")
        fmt, names = imports.read_mapping(list_import)
        overrides = {}
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
        chosen=chosen,
        errors=errors or {},
        delimiter_name=NAMES_BY_DELIMITER.get(fmt.delimiter, "comma"),
        encodings=imports.ENCODINGS,
        delimiters=DELIMITERS_BY_NAME,
    ), status


@bp.route("/imports/<int:import_id>/mapping")
@requires(Role.SENDER)
def mapping(import_id: int):
    """Choose the phone column and the fields; format corrections re-read the file (htmx)."""
    list_import = _import(import_id)
    if not imports.awaiting_mapping(list_import):
        return redirect(url_for("lists.import_report", import_id=import_id))
    return _mapping_page(list_import, _format_overrides(request.args))


@bp.route("/imports/<int:import_id>/mapping", methods=["POST"])
@requires(Role.SENDER)
def confirm_mapping(import_id: int):
    list_import = _import(import_id)
    if not imports.awaiting_mapping(list_import):
        flash("This file's columns were already chosen.", "info")
        return redirect(url_for("lists.import_report", import_id=import_id))
    form = request.form
    overrides = _format_overrides(form)
    keep = {int(value) for value in form.getlist("keep") if value.isdigit()}
    names = {
        int(key.removeprefix("name_")): value[:100]
        for key, value in form.items()
        if key.startswith("name_") and key.removeprefix("name_").isdigit()
    }
    phone_text = form.get("phone_column", "")
    phone = int(phone_text) if phone_text.isdigit() else None
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
    except ImportRefused as error:
        flash(str(error), "error")
        return redirect(url_for("lists.import_report", import_id=import_id))
    current_app.extensions["jobs"].enqueue("import_list", list_import.id)
    return redirect(url_for("lists.import_report", import_id=import_id))


def _report_context(list_import: ListImport) -> dict:
    done = list_import.status == ImportStatus.DONE
    rejected = imports.rejected_rows(db.session, list_import, REJECTED_SHOWN) if done else []
    return {
        "list_import": list_import,
        "recipient_list": list_import.recipient_list,
        "rejected": [(row, imports.cells_of(row)) for row in rejected],
        "rejected_total": list_import.invalid + list_import.duplicates + list_import.opted_out,
        "awaiting_mapping": imports.awaiting_mapping(list_import),
    }


@bp.route("/imports/<int:import_id>")
@requires(Role.VIEWER)
def import_report(import_id: int):
    """The import's progress while it runs, its report when it is done."""
    return render_template("lists/import.html", **_report_context(_import(import_id)))


@bp.route("/imports/<int:import_id>/status")
@requires(Role.VIEWER)
def import_status(import_id: int):
    """The polled fragment: progress while running; the report (and no more polling) after."""
    list_import = _import(import_id)
    if not request.htmx:
        return redirect(url_for("lists.import_report", import_id=import_id))
    return render_template("lists/_import_status.html", **_report_context(list_import))


@bp.route("/imports/<int:import_id>/cancel", methods=["POST"])
@requires(Role.SENDER)
def cancel_import(import_id: int):
    list_import = _import(import_id)
    list_id = list_import.list_id
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        outcome = imports.cancel_import(db.session, list_import, current_user)
    except ImportRefused as error:
        flash(str(error), "error")
        return redirect(url_for("lists.import_report", import_id=import_id))
    if outcome == "discarded":
        flash("The upload was discarded.", "success")
        if lists.find_visible_list(db.session, list_id) is not None:
            return redirect(url_for("lists.show", list_id=list_id))
        return redirect(url_for("lists.index"))
    flash("The import was cancelled. Nothing from the file was added to the list.", "success")
    return redirect(url_for("lists.import_report", import_id=import_id))


@bp.route("/imports/<int:import_id>/rejected.csv")
@requires(Role.VIEWER)
def rejected_csv(import_id: int):
    list_import = _import(import_id)
    stem = Path(list_import.filename).stem or "import"
    return _csv_response(
        imports.rejected_rows_csv(db.session, list_import), f"{stem}-rejected-rows.csv"
    )


# --- Opt-outs --------------------------------------------------------------------------------


def _opt_outs_page(
    *,
    add_form: OptOutAddForm | None = None,
    upload_form: OptOutUploadForm | None = None,
    result: optouts.OptOutResult | None = None,
    status: int = 200,
):
    search = request.args.get("q", "")[:100]
    page = optouts.search_opt_outs(
        db.session, query=search, page=page_number(request.args.get("page"))
    )
    return render_template(
        "lists/opt_outs.html",
        add_form=add_form or OptOutAddForm(formdata=None),
        upload_form=upload_form or OptOutUploadForm(formdata=None),
        opt_outs=page,
        count=optouts.opt_out_count(db.session),
        search=search,
        result=result,
        max_upload_mb=current_app.config["MAX_UPLOAD_MB"],
    ), status


@bp.route("/opt-outs")
@requires(Role.VIEWER)
def opt_outs():
    return _opt_outs_page()


def _report_opt_outs(result: optouts.OptOutResult) -> None:
    flash(
        f"{result.added:,} added, {result.already:,} already on the list, "
        f"{len(result.invalid):,} not understood.",
        "success" if not result.invalid else "warning",
    )


@bp.route("/opt-outs/add", methods=["POST"])
@requires(Role.SENDER)
def add_opt_outs():
    form = OptOutAddForm()
    if not form.validate_on_submit():
        return _opt_outs_page(add_form=form, status=400)
    result = optouts.add_opt_outs(
        db.session,
        optouts.split_numbers(form.numbers.data),
        default_country=_default_country(),
        user=current_user,
        note=form.note.data,
    )
    if result.invalid:
        _report_opt_outs(result)
        return _opt_outs_page(add_form=form, result=result, status=400 if not result.added else 200)
    _report_opt_outs(result)
    return redirect(url_for("lists.opt_outs"))


@bp.route("/opt-outs/upload", methods=["POST"])
@requires(Role.SENDER)
def upload_opt_outs():
    form = OptOutUploadForm()
    if form.validate_on_submit():
        try:
            result = optouts.import_opt_outs(
                db.session,
                form.file.data.stream,
                default_country=_default_country(),
                user=current_user,
                note=form.note.data,
            )
        except optouts.OptOutInvalid as error:
            form.file.errors = [*form.file.errors, str(error)]
        else:
            _report_opt_outs(result)
            if result.invalid:
                return _opt_outs_page(result=result)
            return redirect(url_for("lists.opt_outs"))
    return _opt_outs_page(upload_form=form, status=400)


@bp.route("/opt-outs/<msisdn>/remove", methods=["POST"])
@requires(Role.SENDER)
def remove_opt_out(msisdn: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        optouts.remove_opt_out(db.session, msisdn)
    except optouts.OptOutInvalid as error:
        flash(str(error), "error")
    else:
        flash(f"+{msisdn} was taken off the opt-out list.", "success")
    return redirect(url_for("lists.opt_outs", q=request.args.get("q", "")))
