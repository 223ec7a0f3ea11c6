"""The landing page after sign-in."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from webapp.access import requires
from webapp.extensions import db
from webapp.models import Role, utcnow
from webapp.services.chart import delivery_rate_by_day
from webapp.services.overview import WORKSPACE_ZONE, account_balance, monthly_spend, overview
from webapp.services.progress import campaign_progress

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@requires(Role.VIEWER)
def index():
    data = overview(db.session)
    progress = {c.id: campaign_progress(db.session, c) for c in data["active"]}
    now = utcnow()
    this_month, last_month = monthly_spend(db.session, now)
    rates = delivery_rate_by_day(db.session, now.astimezone(WORKSPACE_ZONE).date(), WORKSPACE_ZONE)
    return render_template(
        "dashboard/index.html",
        progress=progress,
        this_month=this_month,
        last_month=last_month,
        rates=rates,
        zone_name=str(WORKSPACE_ZONE),
        **data,
    )


@bp.route("/balance")
@requires(Role.VIEWER)
def balance():
    """Loaded after the page (htmx), so a slow gateway never delays the dashboard."""
    text, problem = account_balance(current_app.extensions["gateway"].client())
    return render_template("dashboard/_balance.html", balance=text, problem=problem)
