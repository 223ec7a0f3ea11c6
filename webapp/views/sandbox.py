"""Sandbox mode only: what each phone number would have received."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from webapp.access import requires
from webapp.addresses import link_base_url, public_base_url
from webapp.models import Role
from webapp.services.tracked_links import short_links_in

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


@bp.route("/inbox")
@requires(Role.VIEWER)
def inbox():
    store = current_app.extensions["gateway"].sandbox_store()
    if store is None:
        abort(404)
    search = request.args.get("q", "").strip()[:100]
    msisdn = request.args.get("msisdn", "").strip().lstrip("+")
    if msisdn and not msisdn.isdigit():
        msisdn = ""
    messages = store.inbox(limit=200, msisdn=msisdn or None, search=search or None)
    template = "sandbox/_inbox.html" if request.htmx else "sandbox/inbox.html"
    bases = [link_base_url(current_app), public_base_url(current_app)]
    return render_template(
        template,
        messages=messages,
        search=search,
        msisdn=msisdn,
        pieces_of=lambda text: short_links_in(text, bases),
    )
