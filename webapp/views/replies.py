"""The replies inbox: every reply newest first, with the campaign it answers; senders mark them
handled, viewers read."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.access import requires
from webapp.extensions import db, htmx
from webapp.forms import EmptyForm
from webapp.models import Reply, Role
from webapp.services import replies

bp = Blueprint("replies", __name__, url_prefix="/replies")


@bp.app_template_global()
def contact_history_url(msisdn: str) -> str:
    """Where a number's history is one click away (the header search's page)."""
    return url_for("contacts.history", msisdn=msisdn)


def _filters() -> dict:
    kind = request.args.get("kind", "")
    handled = request.args.get("handled", "")
    return {
        "campaign_id": request.args.get("campaign", type=int),
        "kind": kind if kind in ("stop", "start", "other") else "",
        "handled": handled if handled in ("yes", "no") else "",
    }


@bp.route("")
@requires(Role.VIEWER)
def index():
    filters = _filters()
    page = replies.search_replies(
        db.session, page=max(1, request.args.get("page", 1, type=int)), **filters
    )
    return render_template(
        "replies/index.html",
        replies=page,
        filters=filters,
        campaigns=replies.campaigns_with_replies(db.session),
    )


@bp.route("/<int:reply_id>/handled", methods=["POST"])
@requires(Role.SENDER)
def mark_handled(reply_id: int):
    reply = db.get_or_404(Reply, reply_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    replies.set_handled(db.session, reply, current_user, handled=reply.handled_at is None)
    if htmx:
        return render_template("replies/_row.html", reply=reply)
    return redirect(request.referrer or url_for("replies.index"))
