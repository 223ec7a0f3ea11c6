"""Sign in and out, the one-time first-admin setup, and the user's own account."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from webapp.access import public, requires, workspace_has_users
from webapp.extensions import db
from webapp.forms import ChangePasswordForm, LoginForm, ProfileForm, SetupForm
from webapp.models import Role
from webapp.services import accounts
from webapp.views.common import audit_event, client_address

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted link cannot bounce a user to another site."""
    return target if target and is_same_site_path(target) else url_for("dashboard.index")


def is_same_site_path(target: str) -> bool:
    """A path on this site: no control, format or space characters (browsers drop some, so
    ``/<tab>/evil.example`` becomes ``//evil.example``), no backslash, no scheme and no host."""
    if any(
        char == "\\" or char.isspace() or unicodedata.category(char)[0] in "CZ" for char in target
    ):
        return False
    parts = urlsplit(target)
    return (
        target.startswith("/")
        and not target.startswith("//")
        and not (parts.scheme or parts.netloc)
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if not workspace_has_users():
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.sign_in(
                db.session,
                form.email.data,
                form.password.data,
                client_address(),
                accounts.SignInLimits.from_config(current_app.config),
            )
        except accounts.SignInLocked as error:
            # On the sign-in page itself rather than a bare error page.
            return render_template("auth/login.html", form=form, limited=str(error)), 429
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("The email or password is not right.")
        return render_template("auth/login.html", form=form), 200
    return render_template("auth/login.html", form=form)


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():
    """The one-time page to create the first admin, with the token the first start printed;
    gone once any user exists."""
    if workspace_has_users():
        abort(404)
    instance = current_app.instance_path
    form = SetupForm(token=request.args.get("token"))
    if not accounts.setup_token_matches(instance, form.token.data):
        accounts.setup_token(instance)  # so the file to look in exists
        given = bool(form.token.data) or request.method == "POST"
        return render_template("auth/setup_token.html", wrong=given), 403 if given else 200
    if form.validate_on_submit():
        try:
            user = accounts.create_first_admin(
                db.session,
                form.email.data,
                form.password.data,
                token=form.token.data,
                instance=instance,
            )
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            login_user(user)
            audit_event("user_created", user, "The first administrator, by the setup link.")
            flash("Welcome! Your administrator account is ready.", "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/setup.html", form=form)


@bp.route("/logout", methods=["POST"])
@requires(Role.VIEWER)
def logout():
    """Ends the session on the server too: a copied session or remember-me cookie is useless."""
    accounts.end_sessions(db.session, current_user)
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET"])
@requires(Role.VIEWER)
def account():
    profile = ProfileForm(obj=current_user)
    return render_template("auth/account.html", password_form=ChangePasswordForm(), profile=profile)


@bp.route("/account/password", methods=["POST"])
@requires(Role.VIEWER)
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session, current_user, form.current.data, form.password.data
            )
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        except accounts.AccountError as error:
            form.current.errors.append(str(error))
        else:
            audit_event("password_changed", current_user._get_current_object())
            login_user(current_user)  # the session id changed with the password
            flash("Your password is changed. Other sessions are signed out.", "success")
            return redirect(url_for("auth.account"))
    profile = ProfileForm(obj=current_user)
    return render_template("auth/account.html", password_form=form, profile=profile), 400


@bp.route("/account/profile", methods=["POST"])
@requires(Role.VIEWER)
def update_profile():
    form = ProfileForm()
    if form.validate_on_submit():
        accounts.update_profile(
            db.session, current_user, phone=form.phone.data, timezone=form.timezone.data
        )
        flash("Your profile is saved.", "success")
        return redirect(url_for("auth.account"))
    return render_template(
        "auth/account.html", password_form=ChangePasswordForm(), profile=form
    ), 400
