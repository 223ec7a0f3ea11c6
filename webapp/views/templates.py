"""The templates page: every saved message with its tags and when it was last used; senders
rename and delete them. Saving and choosing templates happen in the composer (counter)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import EmptyForm, TemplateRenameForm
from webapp.models import MessageTemplate, Role
from webapp.services import templates

bp = Blueprint("templates", __name__, url_prefix="/templates")


def _index_page(failed: tuple[int, TemplateRenameForm] | None = None, status: int = 200):
    """The page; `failed` is the template whose rename was refused, with the form as typed."""
    return render_template(
        "templates/index.html", templates=templates.list_templates(db.session), failed=failed
    ), status


@bp.route("/")
@requires(Role.VIEWER)
def index():
    return _index_page()


@bp.route("/<int:template_id>/rename", methods=["POST"])
@requires(Role.SENDER)
def rename(template_id: int):
    template = db.get_or_404(MessageTemplate, template_id)
    form = TemplateRenameForm()
    if form.validate_on_submit():
        try:
            templates.rename_template(db.session, template, form.name.data or "")
        except templates.TemplateInvalid as error:
            form.name.errors = [*form.name.errors, str(error)]
        else:
            flash(f"The template was renamed “{template.name}”.", "success")
            return redirect(url_for("templates.index"))
    return _index_page((template_id, form), 400)


@bp.route("/<int:template_id>/delete", methods=["POST"])
@requires(Role.SENDER)
def delete(template_id: int):
    template = db.get_or_404(MessageTemplate, template_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    name = template.name
    templates.delete_template(db.session, template)
    flash(f"The template “{name}” was deleted. Drafts taken from it keep their message.", "success")
    return redirect(url_for("templates.index"))
