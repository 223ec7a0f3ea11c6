"""The public redirect a tracked short link opens: no sign-in, no session, one look-up and one
insert, then a 302 to the campaign's stored target; an unknown or altered code is a 404.

Not rate-limited per address, unlike the opt-out page: many phones share a carrier's address,
and a limit would lose their clicks. Codes cannot be guessed (41 bits of MAC) and an altered
one is refused before the database is asked.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request

from webapp.access import public
from webapp.extensions import db
from webapp.services import clicks, tracked_links

bp = Blueprint("clicks", __name__, url_prefix=tracked_links.LINK_PATH.rstrip("/"))


@bp.get("/<code>")
@public
def follow(code: str):
    target = clicks.follow_link(
        db.session, current_app.config["SECRET_KEY"], code, request.headers.get("User-Agent")
    )
    if target is None:
        return render_template("clicks/not_found.html"), 404, {"Cache-Control": "no-store"}
    response = redirect(target, 302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the code stays out of the target's logs
    return response
