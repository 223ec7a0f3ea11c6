"""The opt-out list: numbers that are never imported or sent to; add, upload, search, remove."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import EmptyForm, OptOutAddForm, OptOutUploadForm
from webapp.models import Role
from webapp.services import optouts
from webapp.services.audit import Target
from webapp.services.pages import page_number
from webapp.views.common import audit_event, csv_response, default_country, too_large_message

bp = Blueprint("optouts", __name__, url_prefix="/lists/opt-outs")


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(error):
    form = OptOutUploadForm(formdata=None)  # the oversized body cannot be read again
    form.file.errors = [too_large_message()]
    return _opt_outs_page(upload_form=form, status=413)


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


@bp.route("")
@requires(Role.VIEWER)
def index():
    return _opt_outs_page()


def _result_text(result: optouts.OptOutResult) -> str:
    return (
        f"{result.added:,} added, {result.already:,} already on the list, "
        f"{len(result.invalid):,} not understood."
    )


def _report_opt_outs(result: optouts.OptOutResult) -> None:
    flash(_result_text(result), "success" if not result.invalid else "warning")


@bp.route("/add", methods=["POST"])
@requires(Role.SENDER)
def add():
    form = OptOutAddForm()
    if not form.validate_on_submit():
        return _opt_outs_page(add_form=form, status=400)
    result = optouts.add_opt_outs(
        db.session,
        optouts.split_numbers(form.numbers.data),
        default_country=default_country(),
        user=current_user,
        note=form.note.data,
    )
    numbers = Target("opt_out", None, form.numbers.data.replace("\n", " ")[:200])
    audit_event("opt_out_added", numbers, _result_text(result))
    if result.invalid:
        _report_opt_outs(result)
        return _opt_outs_page(add_form=form, result=result, status=400 if not result.added else 200)
    _report_opt_outs(result)
    return redirect(url_for("optouts.index"))


@bp.route("/upload", methods=["POST"])
@requires(Role.SENDER)
def upload():
    form = OptOutUploadForm()
    if form.validate_on_submit():
        try:
            result = optouts.import_opt_outs(
                db.session,
                form.file.data.stream,
                default_country=default_country(),
                user=current_user,
                note=form.note.data,
            )
        except optouts.OptOutInvalid as error:
            form.file.errors = [*form.file.errors, str(error)]
        else:
            audit_event(
                "opt_out_imported",
                Target("opt_out", None, form.file.data.filename or "a file"),
                _result_text(result),
            )
            _report_opt_outs(result)
            if result.invalid:
                return _opt_outs_page(result=result)
            return redirect(url_for("optouts.index"))
    return _opt_outs_page(upload_form=form, status=400)


@bp.route("/<msisdn>/remove", methods=["POST"])
@requires(Role.SENDER)
def remove(msisdn: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        optouts.remove_opt_out(db.session, msisdn, user=current_user)
    except optouts.OptOutInvalid as error:
        flash(str(error), "error")
    else:
        audit_event("opt_out_removed", Target("opt_out", msisdn, f"+{msisdn}"))
        flash(f"+{msisdn} was taken off the opt-out list.", "success")
    return redirect(url_for("optouts.index", q=request.args.get("q", "")))


@bp.route("/consent.csv")
@requires(Role.VIEWER)
def consent_export():
    """Every opt-out and opt-in ever recorded (or one number's, with ``?number=``), as CSV."""
    number = "".join(ch for ch in request.args.get("number", "") if ch.isdigit())[:15]
    name = f"consent-{number}.csv" if number else "consent-record.csv"
    return csv_response(optouts.consent_csv(db.session, number or None), name)
