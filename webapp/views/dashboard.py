"""The landing page after sign-in."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from webapp.access import requires
from webapp.extensions import db
from webapp.models import Role
from webapp.services.overview import account_balance, overview
from webapp.services.progress import campaign_progress

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@requires(Role.VIEWER)
def index():
    data = overview(db.session)
    progress = {c.id: campaign_progress(db.session, c) for c in data["active"]}
    return render_template("dashboard/index.html", progress=progress, **data)


@bp.route("/balance")
@requires(Role.VIEWER)
def balance():
    """Loaded after the page (htmx), so a slow gateway never delays the dashboard."""
    text, problem = account_balance(current_app.extensions["gateway"].client())
    return render_template("dashboard/_balance.html", balance=text, problem=problem)
