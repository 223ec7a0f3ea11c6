"""The landing page after sign-in."""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.access import requires
from webapp.models import Role

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@requires(Role.VIEWER)
def index():
    return render_template("dashboard/index.html")
