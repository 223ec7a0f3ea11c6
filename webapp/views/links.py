"""The public opt-out page an opt-out link opens: no sign-in, one click, never the number.

Rate-limited per address (``OPT_OUT_LINK_LIMIT``) like the sign-in; an unknown code is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from webapp.access import public
from webapp.extensions import db
from webapp.forms import EmptyForm
from webapp.models import Campaign
from webapp.services import optout_links

bp = Blueprint("links", __name__, url_prefix=optout_links.LINK_PATH.rstrip("/"))


@bp.route("/<code>", methods=["GET", "POST"])
@public
def opt_out(code: str):
    limiter = current_app.extensions["rate_limiter"]
    if not limiter.hit(
        current_app.config["OPT_OUT_LINK_LIMIT"], "opt-out-link", request.remote_addr
    ):
        abort(
            429, description="Too many opt-out pages were opened from this network. Wait a minute."
        )
    recipient = optout_links.recipient_of(db.session, current_app.config["SECRET_KEY"], code)
    if recipient is None:
        abort(404)
    sender = db.session.get(Campaign, recipient.campaign_id).sender
    form = EmptyForm()
    if form.validate_on_submit():
        done = optout_links.opt_out_by_link(db.session, recipient, address=request.remote_addr)
        return render_template("links/done.html", sender=sender, already=done.already)
    return render_template("links/confirm.html", form=form, sender=sender)
