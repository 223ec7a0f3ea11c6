"""What several blueprints share: the workspace's default country, CSV downloads, form errors,
upload limits, finding a visible list or import (404 otherwise), the composer's templates and the
audit log's events."""

from __future__ import annotations

from pathlib import Path

from flask import Response, abort, current_app, flash, request, stream_with_context
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.utils import secure_filename

from webapp.addresses import link_base_url, public_base_url
from webapp.extensions import db
from webapp.models import ListImport, RecipientList
from webapp.services import audit, lists, settings, templates, tracked_links
from webapp.services.optout_links import footer_for


def default_country() -> str:
    """The country for numbers written without a country code: the admin's setting, else
    ``DEFAULT_COUNTRY``. The command line asks `settings.default_country` the same way."""
    return settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])


def opt_out_footer() -> str | None:
    """The opt-out footer a campaign stores, on ``PUBLIC_URL`` (in sandbox mode, the loopback
    address the dashboard was started on: never a request's Host header, which a client
    chooses); None when the dashboard has no public address to link to."""
    base = public_base_url(current_app)
    return footer_for(current_app.config["OPT_OUT_FOOTER_TEXT"], base) if base else None


def tracked_link_host() -> str | None:
    """Where a campaign's tracked links point ("go.shop.example"): ``LINK_BASE_URL``, else the
    public address, from configuration only; None when there is none."""
    return tracked_links.link_host(link_base_url(current_app))


def counted_text(message: str) -> str:
    """The compose form's message as the counter counts it: tracked links as short links."""
    return tracked_links.sample_text(message, tracked_link_host())


def utm_choice() -> dict[str, str]:
    """The composer's UTM parameters (source, medium, campaign) for links it starts tracking."""
    return {name: request.form.get(name, "")[:100] for name in tracked_links.UTM_FIELDS}


def upload_dir() -> Path:
    return Path(current_app.instance_path) / "uploads"


def max_upload_bytes() -> int:
    return current_app.config["MAX_CONTENT_LENGTH"]


def too_large_message() -> str:
    return (
        f"The file is larger than the limit of {current_app.config['MAX_UPLOAD_MB']} MB. "
        "Nothing was stored."
    )


def visible_list(list_id: int) -> RecipientList:
    recipient_list = lists.find_visible_list(db.session, list_id)
    if recipient_list is None:
        abort(404)
    return recipient_list


def visible_import(import_id: int) -> ListImport:
    list_import = db.get_or_404(ListImport, import_id)
    if list_import.recipient_list.hidden:
        abort(404)
    return list_import


def csv_response(lines, filename: str, *, utf8: bool = True) -> Response:
    """A streamed CSV download under a safe file name; `utf8=False` for bytes in another
    encoding (no charset is claimed then)."""
    safe = secure_filename(filename) or "export.csv"
    return Response(
        stream_with_context(lines),
        content_type="text/csv; charset=utf-8" if utf8 else "text/csv",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


def flash_form_errors(form: FlaskForm) -> None:
    """Every error of a form that has no page of its own to show them beside their fields."""
    for errors in form.errors.values():
        for message in errors:
            flash(message, "error")


def client_address() -> str:
    """The client's address (with ``TRUST_PROXY``, the one the proxy saw), for the audit log."""
    return request.remote_addr or ""


def acting_user():
    """The signed-in user, or None (a gateway's webhook, a sign-in page)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def audit_event(action: str, obj=None, detail: str | None = None) -> None:
    """Record in the audit log what the signed-in user (None: nobody signed in) just did, with
    the client's address; its service has committed the change itself, so this commits too."""
    audit.record(
        db.session, action, user=acting_user(), obj=obj, address=client_address(), detail=detail
    )
    db.session.commit()


_MAX_ID_DIGITS = 18  # beyond a 64-bit integer the database cannot even compare it


def id_or_none(value: object) -> int | None:
    """A form's id as an int, or None when it is empty or not a plausible id."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS else None


def template_tools(name: str = "", *, error: str | None = None, saved: str | None = None) -> dict:
    """What counter/_template_tools.html shows: the templates, the name typed (kept after an
    error), the error, and the name just saved."""
    return {
        "templates": templates.list_templates(db.session),
        "template_name": name,
        "template_error": error,
        "template_saved": saved,
    }


def save_message_as_template() -> dict:
    """Save the compose form's message and encoding as a template named as typed; the template
    tools saying how it went."""
    name = request.form.get("template_name", "")
    try:
        template = templates.save_template(
            db.session,
            current_user,
            name,
            request.form.get("message", ""),
            request.form.get("encoding") or "auto",
        )
    except templates.TemplateInvalid as error:
        return template_tools(name, error=str(error))
    return template_tools(saved=template.name)
