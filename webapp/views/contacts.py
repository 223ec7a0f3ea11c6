"""Contact history: the header's number search, and one number's page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from webapp.access import requires
from webapp.extensions import db
from webapp.models import Role
from webapp.services import contacts
from webapp.services.pages import page_number
from webapp.views.common import default_country

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.route("")
@requires(Role.VIEWER)
def search():
    """The header's search box: a number typed any way leads to its page; anything else comes
    back with the reason, the text still in the box."""
    typed = request.args.get("q", "")[:40]
    try:
        msisdn = contacts.contact_number(typed, default_country())
    except contacts.NotAPhoneNumber as problem:
        return render_template("contacts/search.html", typed=typed, problem=str(problem)), 400
    return redirect(url_for("contacts.history", msisdn=msisdn))


@bp.route("/<msisdn>")
@requires(Role.VIEWER)
def history(msisdn: str):
    try:  # the address holds international digits: never read them as a national number
        number = contacts.contact_number(
            f"+{msisdn}" if msisdn.isdigit() else msisdn, default_country()
        )
    except contacts.NotAPhoneNumber as problem:
        return render_template("contacts/search.html", typed=msisdn, problem=str(problem)), 404
    if number != msisdn:  # one address per number
        return redirect(url_for("contacts.history", msisdn=number))
    found = contacts.contact_history(db.session, number, page=page_number(request.args.get("page")))
    return render_template("contacts/history.html", history=found, typed=request.args.get("q"))
