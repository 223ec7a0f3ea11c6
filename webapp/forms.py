"""WTForms classes. Flask-WTF adds the CSRF token to each of them."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

from webapp.models import Role
from webapp.services.accounts import MIN_PASSWORD_LENGTH

ROLE_CHOICES = [
    SelectChoice(Role.VIEWER.value, "Viewer: read-only"),
    SelectChoice(Role.SENDER.value, "Sender: lists, compose and send"),
    SelectChoice(Role.ADMIN.value, "Admin: users and settings too"),
]

new_password = [
    DataRequired(),
    Length(min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."),
]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in on this computer")


class SetupForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=new_password)
    confirm = PasswordField(
        "Repeat the password", validators=[EqualTo("password", "The passwords do not match.")]
    )


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    password = PasswordField("New password", validators=new_password)
    confirm = PasswordField(
        "Repeat the new password", validators=[EqualTo("password", "The passwords do not match.")]
    )


class ProfileForm(FlaskForm):
    phone = StringField(
        "My mobile number (for test messages)",
        validators=[Optional(), Length(max=32)],
        description="With country code, e.g. +45 20 12 34 56.",
    )
    timezone = SelectField(
        "My time zone", choices=[SelectChoice(zone, zone) for zone in sorted(available_timezones())]
    )


class UserCreateForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.SENDER.value)
    password = PasswordField("Initial password", validators=new_password)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class EmptyForm(FlaskForm):
    """For buttons that change state: only the CSRF token."""


class SettingsForm(FlaskForm):
    default_country = StringField(
        "Default country for national numbers",
        validators=[DataRequired(), Regexp(r"^[A-Za-z]{2}$", message="Two letters, e.g. DK.")],
        description="Numbers written without a country code are read as numbers of this country.",
    )
