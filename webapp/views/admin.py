"""Admin pages: users and roles, workspace settings."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from webapp.access import requires
from webapp.extensions import db
from webapp.forms import (
    ApprovalLimitsForm,
    AuditFilterForm,
    BudgetForm,
    EmptyForm,
    QuietHoursForm,
    ReplySettingsForm,
    RoleForm,
    SetPasswordForm,
    SettingsForm,
    UserCreateForm,
)
from webapp.models import Role, User
from webapp.services import accounts, approval, audit, budget, quiet_hours, replies, settings
from webapp.services.pages import page_number
from webapp.views.common import audit_event, csv_response

bp = Blueprint("admin", __name__, url_prefix="/settings")

SETTING_DEFAULT_COUNTRY = audit.Target("settings", "default_country", "Default country")
SETTING_REPLIES = audit.Target("settings", "replies", "Replies")
SETTING_QUIET_HOURS = audit.Target("settings", "quiet_hours", "Quiet hours")
SETTING_BUDGET = audit.Target("settings", "monthly_budget", "Monthly budget")
SETTING_APPROVAL = audit.Target("settings", "approval", "Approval limits")


def _quiet_hours_text(hours) -> str:
    if hours is None:
        return "off"
    closed = " ".join(day.isoformat() for day in sorted(hours.closed_dates)) or "none"
    sundays = ", no Sundays" if hours.no_sundays else ""
    return f"{hours.start:%H:%M}–{hours.end:%H:%M}{sundays}; closed dates: {closed}"


def _users_page(create_form: UserCreateForm, status: int = 200):
    users = accounts.list_users(db.session)
    return render_template(
        "admin/users.html",
        users=users,
        create_form=create_form,
        role_forms={u.id: RoleForm(role=u.role.value, prefix=f"u{u.id}") for u in users},
        password_form=SetPasswordForm(),
        locked=accounts.locked_emails(
            db.session, accounts.SignInLimits.from_config(current_app.config)
        ),
    ), status


@bp.route("/users")
@requires(Role.ADMIN)
def users():
    return _users_page(UserCreateForm())


@bp.route("/users", methods=["POST"])
@requires(Role.ADMIN)
def create_user():
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session, form.email.data, form.password.data, Role(form.role.data)
            )
        except accounts.WeakPassword as error:
            form.password.errors.append(str(error))
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            audit_event("user_created", user, f"Role: {user.role.value}.")
            flash(f"{user.email} can now sign in as {user.role.value}.", "success")
            return redirect(url_for("admin.users"))
    return _users_page(form, 400)


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@requires(Role.ADMIN)
def change_role(user_id: int):
    user = db.get_or_404(User, user_id)
    form = RoleForm(prefix=f"u{user.id}")
    if form.validate_on_submit():
        before = user.role
        try:
            accounts.set_role(db.session, user, Role(form.role.data))
            audit_event("user_role", user, f"{before.value} → {user.role.value}")
            flash(f"{user.email} is now {user.role.value}.", "success")
        except accounts.AccountError as error:
            flash(str(error), "error")
    else:
        flash("Choose one of the listed roles.", "error")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@requires(Role.ADMIN)
def toggle_active(user_id: int):
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        try:
            accounts.set_active(db.session, user, not user.active)
            state = "active again" if user.active else "deactivated and signed out"
            audit_event("user_active", user, f"{user.email} is {state}.")
            flash(f"{user.email} is {state}.", "success")
        except accounts.AccountError as error:
            flash(str(error), "error")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/approver", methods=["POST"])
@requires(Role.ADMIN)
def toggle_approver(user_id: int):
    """Give or take the approver right (approving campaigns that wait for approval)."""
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        accounts.set_approver(db.session, user, not user.approver)
        state = "may approve campaigns" if user.approver else "no longer has the approver right"
        audit_event("user_approver", user, f"{user.email} {state}.")
        flash(f"{user.email} {state}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@requires(Role.ADMIN)
def unlock_user(user_id: int):
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        accounts.unlock(db.session, user)
        audit_event("user_unlocked", user)
        flash(f"{user.email} can sign in again: failed attempts are forgotten.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@requires(Role.ADMIN)
def set_password(user_id: int):
    user = db.get_or_404(User, user_id)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db.session, user, form.password.data)
        except accounts.AccountError as error:
            flash(f"{user.email}: {error}", "error")
        else:
            audit_event("user_password", user, "Signed out everywhere and unlocked.")
            if user.id == current_user.id:
                login_user(user)  # an admin's own new password keeps this session
            flash(f"{user.email} has a new password and is signed out everywhere.", "success")
    else:
        for error in form.password.errors:
            flash(f"{user.email}: {error}", "error")
    return redirect(url_for("admin.users"))


@bp.route("/")
@requires(Role.ADMIN)
def workspace():
    form = SettingsForm(
        default_country=settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])
    )
    return _settings_page(form)


def _settings_page(
    form: SettingsForm,
    reply_form: ReplySettingsForm | None = None,
    status: int = 200,
    quiet_form: QuietHoursForm | None = None,
    budget_form: BudgetForm | None = None,
    approval_form: ApprovalLimitsForm | None = None,
):
    if approval_form is None:
        limits = approval.approval_limits(db.session)
        approval_form = ApprovalLimitsForm(
            formdata=None,
            recipients="" if limits.recipients is None else str(limits.recipients),
            amount=str(limits.cost.amount) if limits.cost else "",
            currency=limits.cost.currency if limits.cost else budget.gateway_currency(db.session),
        )
    if budget_form is None:
        current = budget.monthly_budget(db.session)
        budget_form = BudgetForm(
            formdata=None,
            amount=str(current.amount) if current else "",
            currency=current.currency if current else budget.gateway_currency(db.session),
        )
    if quiet_form is None:
        hours = quiet_hours.quiet_hours(db.session, current_app.config) or quiet_hours.QuietHours()
        quiet_form = QuietHoursForm(
            formdata=None,
            enabled=quiet_hours.quiet_hours(db.session, current_app.config) is not None,
            start=hours.start.strftime("%H:%M"),
            end=hours.end.strftime("%H:%M"),
            no_sundays=hours.no_sundays,
            dates=" ".join(d.isoformat() for d in sorted(hours.closed_dates)),
        )
    if reply_form is None:
        words = replies.reply_words(db.session, current_app.config)
        reply_form = ReplySettingsForm(
            formdata=None,
            stop_words=", ".join(sorted(w.upper() for w in words.stop)),
            start_words=", ".join(sorted(w.upper() for w in words.start)),
            stop_confirmation=words.confirmation,
        )
    return render_template(
        "admin/settings.html",
        form=form,
        reply_form=reply_form,
        quiet_form=quiet_form,
        budget_form=budget_form,
        approval_form=approval_form,
    ), status


@bp.route("/", methods=["POST"])
@requires(Role.ADMIN)
def save_workspace():
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            country = settings.set_default_country(db.session, form.default_country.data)
        except settings.SettingError as error:
            form.default_country.errors.append(str(error))
        else:
            audit_event("settings", SETTING_DEFAULT_COUNTRY, f"Default country: {country}")
            flash(f"Numbers without a country code are now read as {country} numbers.", "success")
            return redirect(url_for("admin.workspace"))
    return _settings_page(form, status=400)


@bp.route("/replies", methods=["POST"])
@requires(Role.ADMIN)
def save_replies():
    form = ReplySettingsForm()
    if form.validate_on_submit():
        try:
            words = replies.set_reply_words(
                db.session, form.stop_words.data, form.start_words.data, form.stop_confirmation.data
            )
        except settings.SettingError as error:
            form.stop_words.errors.append(str(error))
        else:
            answer = "answered once" if words.confirmation else "not answered"
            audit_event(
                "settings",
                SETTING_REPLIES,
                f"STOP words: {', '.join(sorted(words.stop))}; START words: "
                f"{', '.join(sorted(words.start))}; confirmation: {words.confirmation or 'none'}",
            )
            flash(f"Replies saved: {len(words.stop)} STOP words; a STOP is {answer}.", "success")
            return redirect(url_for("admin.workspace"))
    default = settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])
    return _settings_page(SettingsForm(formdata=None, default_country=default), form, 400)


@bp.route("/quiet-hours", methods=["POST"])
@requires(Role.ADMIN)
def save_quiet_hours():
    form = QuietHoursForm()
    if form.validate_on_submit():
        try:
            hours = quiet_hours.set_quiet_hours(
                db.session,
                enabled=form.enabled.data,
                start=form.start.data,
                end=form.end.data,
                no_sundays=form.no_sundays.data,
                dates=form.dates.data,
            )
        except settings.SettingError as error:
            form.start.errors.append(str(error))
        else:
            audit_event("settings", SETTING_QUIET_HOURS, _quiet_hours_text(hours))
            if hours is None:
                flash("Quiet hours are off: campaigns are sent at any hour.", "success")
            else:
                flash(
                    f"Campaigns reach each country only {hours.start:%H:%M}–{hours.end:%H:%M} "
                    "its local time.",
                    "success",
                )
            return redirect(url_for("admin.workspace"))
    default = settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])
    return _settings_page(
        SettingsForm(formdata=None, default_country=default), status=400, quiet_form=form
    )


@bp.route("/budget", methods=["POST"])
@requires(Role.ADMIN)
def save_budget():
    form = BudgetForm()
    if form.validate_on_submit():
        try:
            chosen = budget.set_monthly_budget(db.session, form.amount.data, form.currency.data)
        except settings.SettingError as error:
            form.amount.errors.append(str(error))
        else:
            audit_event("settings", SETTING_BUDGET, chosen.text if chosen else "none")
            if chosen is None:
                flash(
                    "No monthly budget: sends are limited by the account's balance only.", "success"
                )
            else:
                flash(f"The monthly budget is {chosen.text}.", "success")
            return redirect(url_for("admin.workspace"))
    default = settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])
    return _settings_page(
        SettingsForm(formdata=None, default_country=default), status=400, budget_form=form
    )


@bp.route("/approval", methods=["POST"])
@requires(Role.ADMIN)
def save_approval():
    form = ApprovalLimitsForm()
    if form.validate_on_submit():
        try:
            limits = approval.set_approval_limits(
                db.session, form.recipients.data, form.amount.data, form.currency.data
            )
        except settings.SettingError as error:
            form.recipients.errors.append(str(error))
        else:
            audit_event("settings", SETTING_APPROVAL, f"Approval above: {limits.text}")
            if limits.on:
                flash(f"Campaigns with {limits.text} need approval before they send.", "success")
            else:
                flash("No approval: every sender's confirmation sends.", "success")
            return redirect(url_for("admin.workspace"))
    default = settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])
    return _settings_page(
        SettingsForm(formdata=None, default_country=default), status=400, approval_form=form
    )


# --- The audit log: read-only (GET only; no route changes or deletes an event) ---------------

AUDIT_FILTERS = ("who", "action", "object", "object_id", "since", "until")
AUDIT_PER_PAGE = 50


def _audit_filter() -> tuple[AuditFilterForm, audit.AuditFilter | None, dict]:
    """The filters of the query string: the form, the filter (None when one cannot be read),
    and the arguments the page links carry along."""
    form = AuditFilterForm(formdata=request.args)
    form.who.choices = [("", "anyone"), *audit.actors(db.session)]
    form.action.choices = [("", "any action"), *audit.ACTIONS.items()]
    form.object.choices = [("", "any object"), *((kind, kind) for kind in audit.OBJECT_TYPES)]
    kept = {key: request.args[key][:64] for key in AUDIT_FILTERS if request.args.get(key)}
    if not form.validate():
        return form, None, kept
    chosen = audit.AuditFilter(
        who=form.who.data or "",
        action=form.action.data or "",
        object_type=form.object.data or "",
        object_id=form.object_id.data or "",
        since=form.since.data,
        until=form.until.data,
    )
    return form, chosen, kept


def _unreadable_filter(form: AuditFilterForm, kept: dict):
    """The page with the filters that cannot be read marked, and no events."""
    return render_template("admin/audit.html", form=form, events=None, kept=kept), 400


def _reader_zone() -> ZoneInfo:
    return ZoneInfo(current_user.timezone or "UTC")


@bp.route("/audit")
@requires(Role.ADMIN)
def audit_log():
    """Every change by a person or the system, newest first, filtered, a page at a time."""
    form, chosen, kept = _audit_filter()
    if chosen is None:
        return _unreadable_filter(form, kept)
    events = audit.events_page(
        db.session,
        chosen,
        page=page_number(request.args.get("page")),
        per_page=AUDIT_PER_PAGE,
        zone=_reader_zone(),
    )
    return render_template(
        "admin/audit.html", form=form, events=events, kept=kept, actions=audit.ACTIONS
    )


@bp.route("/audit.csv")
@requires(Role.ADMIN)
def audit_export():
    """The events the filters choose, as CSV (UTF-8 with a BOM, formula-safe)."""
    form, chosen, kept = _audit_filter()
    if chosen is None:
        return _unreadable_filter(form, kept)
    return csv_response(audit.export_csv(db.session, chosen, _reader_zone()), "audit-log.csv")
