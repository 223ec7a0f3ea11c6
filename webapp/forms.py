"""WTForms classes. Flask-WTF adds the CSRF token to each of them."""

from __future__ import annotations

from datetime import date
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, DateInput, ListWidget

from webapp.models import CampaignStatus, Role
from webapp.services.accounts import MIN_PASSWORD_LENGTH
from webapp.services.lists import MAX_NAME_LENGTH as MAX_LIST_NAME_LENGTH
from webapp.services.optouts import MAX_NOTE_LENGTH as MAX_OPT_OUT_NOTE_LENGTH

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
    token = HiddenField()
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


class SetPasswordForm(FlaskForm):
    """An admin sets a user's password (which also signs them out and unlocks them)."""

    password = PasswordField("New password", validators=new_password)


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


class BudgetForm(FlaskForm):
    """A ceiling on what the gateway may charge per month."""

    amount = StringField(
        "Monthly budget",
        validators=[Length(max=20)],
        description="Confirming a send that would take the month over it is refused, and a "
        "running campaign pauses. Empty: no budget.",
    )
    currency = StringField(
        "Currency", validators=[Length(max=3)], description="The gateway's, e.g. DKK."
    )


class QuietHoursForm(FlaskForm):
    """When marketing messages may arrive, in each recipient's local time."""

    enabled = BooleanField("Send only inside the allowed hours")
    start = StringField("From", validators=[DataRequired(), Length(max=5)], default="08:00")
    end = StringField("Until", validators=[DataRequired(), Length(max=5)], default="21:00")
    no_sundays = BooleanField("Never on Sundays")
    dates = TextAreaField(
        "Never on these dates",
        validators=[Length(max=900)],
        description="YYYY-MM-DD, separated by spaces or lines (e.g. public holidays).",
    )


class ReplySettingsForm(FlaskForm):
    """The keywords recipients reply with, and the answer to a STOP."""

    stop_words = StringField(
        "STOP words",
        validators=[DataRequired("Give at least one STOP word."), Length(max=500)],
        description="A reply whose first word is one of these (any case) opts the number out.",
    )
    start_words = StringField(
        "START words",
        validators=[Length(max=500)],
        description="A reply whose first word is one of these opts the number back in.",
    )
    stop_confirmation = TextAreaField(
        "Answer to a STOP (optional)",
        validators=[Length(max=300)],
        description="Sent once to a number that opts out by reply, e.g. “You will get no more "
        "messages from Shop.” Leave empty to answer nothing.",
    )


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes: easier than a multi-select for most people."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


ENCODING_CHOICES = [
    SelectChoice("auto", "Automatic (GSM 7-bit where possible)"),
    SelectChoice("GSM", "GSM 7-bit only"),
    SelectChoice("UCS2", "Unicode (UCS-2)"),
]


class CampaignForm(FlaskForm):
    # Name, sender and message are checked by the campaigns service, so that every problem is
    # reported at once and in the same words from the pages and the command line.
    name = StringField(
        "Campaign name",
        description="Shown in the gateway's statistics.",
    )
    sender = StringField(
        "Sender",
        description="What recipients see as the sender: up to 11 letters and digits, "
        "or up to 15 digits.",
    )
    list_ids = MultiCheckboxField("Recipient lists", coerce=int, validate_choice=False)
    message = TextAreaField("Message")
    encoding = SelectField("Encoding", choices=ENCODING_CHOICES, default="auto")
    send_at = DateTimeLocalField(
        "Send at (optional)",
        validators=[Optional()],
        format="%Y-%m-%dT%H:%M",
        description="In your time zone. Leave empty to send as soon as you confirm.",
    )
    speed_per_minute = IntegerField(
        "Speed limit (optional)",
        validators=[Optional(), NumberRange(min=1, message="At least 1 recipient per minute.")],
        description="Recipients per minute; empty for as fast as the gateway allows.",
    )
    # The saved template the message was taken from (set when one is chosen).
    template_id = HiddenField()
    # Offered by the counter when field values force Unicode (templates/counter/_counter.html).
    plain_values = BooleanField("Send these values in GSM 7-bit letters")
    include_undeliverable = BooleanField(
        "Include numbers flagged undeliverable",
        description="Numbers that were undeliverable in each of the last 3 campaigns sent to "
        "them are left out unless you tick this.",
    )
    opt_out_link = BooleanField(
        "Add an opt-out link",
        description="Each recipient gets a short link of their own to opt out with one click "
        "(needed when they cannot reply to the sender).",
    )
    # An A/B test (templates/campaigns/_ab_test.html): how many variants the form shows (1: no
    # test), their texts and shares (checked by the campaigns service, like the message), and
    # the winner step.
    # Not a HiddenField: `hidden_tag()` would draw it a second time, at the top of the form.
    variants = StringField(default="1")
    message_b = TextAreaField("Variant B")
    message_c = TextAreaField("Variant C")
    share_a = IntegerField("Variant A's share (%)", validators=[Optional()])
    share_b = IntegerField("Variant B's share (%)", validators=[Optional()])
    share_c = IntegerField("Variant C's share (%)", validators=[Optional()])
    send_winner = BooleanField("Then send the winner to the held-back recipients automatically")
    winner_metric = SelectField(
        "The winner is the variant with the best",
        choices=[("delivery_rate", "delivery rate"), ("click_through_rate", "click-through rate")],
        default="delivery_rate",
        description="Click-through rate: people who opened a tracked link, out of those the "
        "message was delivered to (needs tracked links in the variants).",
    )
    winner_after_hours = IntegerField(
        "Send the winner after (hours)",
        validators=[Optional()],
        default=4,
        description="Counted from the end of the test send, so delivery reports can come in.",
    )

    @property
    def variant_count(self) -> int:
        """1 (no test), 2 or 3, as the form says (anything else: no test)."""
        return int(self.variants.data) if self.variants.data in ("2", "3") else 1


class DayField(StringField):
    """A day written YYYY-MM-DD, as a date input sends it; what was typed stays in the field
    when it is not a day, so the user can see and correct it."""

    widget = DateInput()

    def process_formdata(self, valuelist):
        typed = valuelist[0].strip() if valuelist else ""
        self.data = None
        if typed:
            try:
                self.data = date.fromisoformat(typed)
            except ValueError:
                raise ValueError(
                    f"“{typed}” is not a date: write it as YYYY-MM-DD, for example 2025-03-31."
                ) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data.isoformat() if self.data else ""


def check_day_range(start: date | None, end: date | None) -> None:
    """A range of days whose last day is not before its first."""
    if start and end and start > end:
        raise ValidationError(
            f"This day ({end:%Y-%m-%d}) is before the first day ({start:%Y-%m-%d}): "
            "swap them, or clear one."
        )


class CampaignFilterForm(FlaskForm):
    """The campaigns list's filters and search, read from the query string (a GET form, so no
    CSRF token). The sender choices are the senders campaigns were written with."""

    class Meta:
        csrf = False

    status = SelectField(
        "Status",
        choices=[SelectChoice("", "any status")]
        + [SelectChoice(status.value, status.value) for status in CampaignStatus],
        validate_choice=False,  # validate_status says what is wrong in words
    )
    sender = SelectField("Sender", choices=[SelectChoice("", "any sender")], validate_choice=False)
    q = SearchField("Search", validators=[Length(max=100)])
    sent_from = DayField("Sent from")
    sent_to = DayField("Sent until")
    sort = HiddenField()

    def validate_status(self, field) -> None:
        if field.data and field.data not in {status.value for status in CampaignStatus}:
            raise ValidationError(f"“{field.data}” is not a campaign status.")

    def validate_sent_to(self, field) -> None:
        check_day_range(self.sent_from.data, field.data)


class AuditFilterForm(FlaskForm):
    """The audit log's filters, read from the query string (a GET form: no CSRF token). The
    choices are set by the view; a value not among them is named as wrong."""

    class Meta:
        csrf = False

    who = SelectField("Who", default="")
    action = SelectField("What", default="")
    object = SelectField("Object", default="")
    object_id = HiddenField()
    since = DayField("From")
    until = DayField("Until")

    def validate_object_id(self, field) -> None:
        if field.data and not (len(field.data) <= 64 and field.data.isalnum()):
            raise ValidationError("That is not an object's id.")

    def validate_until(self, field) -> None:
        check_day_range(self.since.data, field.data)


class SendTestForm(FlaskForm):
    numbers = StringField(
        "Send a test to",
        validators=[Length(max=200)],
        description="Up to 5 numbers, separated by commas.",
    )
    sample = SelectField("Personalised as", validate_choice=False)
    variant = SelectField("Variant", validate_choice=False)  # an A/B test's; checked by the service


class SpeedForm(FlaskForm):
    speed_per_minute = IntegerField(
        "Recipients per minute",
        validators=[Optional(), NumberRange(min=1, message="At least 1 recipient per minute.")],
    )


class ConfirmForm(FlaskForm):
    fingerprint = HiddenField()
    understood = BooleanField(
        "I understand", validators=[DataRequired("Tick the box to confirm the send.")]
    )
    # Asked for only when the same message went to the same lists in the last days.
    send_again = BooleanField("Send it again to the same people")


class ApprovalForm(FlaskForm):
    """An approver's decision on a campaign waiting for approval: approve or reject (the
    button says which), with a comment (a rejection needs one)."""

    fingerprint = HiddenField()
    comment = TextAreaField(
        "Comment",
        validators=[Length(max=1000)],
        description="The sender reads it; say why when you reject.",
    )


class ApprovalLimitsForm(FlaskForm):
    recipients = StringField(
        "Approval above this many recipients",
        validators=[Length(max=20)],
        description="Empty: no limit on recipients.",
    )
    amount = StringField(
        "Approval above this cost",
        validators=[Length(max=20)],
        description="In the gateway's currency. Empty: no limit on cost.",
    )
    currency = StringField("Currency", validators=[Length(max=3)])


# --- Lists and opt-outs ---


class UploadForm(FlaskForm):
    file = FileField(
        "CSV or Excel file", validators=[FileRequired("Choose a CSV or Excel file to upload.")]
    )
    name = StringField(
        "List name",
        validators=[Optional(), Length(max=MAX_LIST_NAME_LENGTH)],
        description="Leave empty to name the list after the file.",
    )


class AppendForm(FlaskForm):
    file = FileField(
        "CSV or Excel file", validators=[FileRequired("Choose a CSV or Excel file to upload.")]
    )


class RenameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the list a name."), Length(max=200)])


class TemplateRenameForm(FlaskForm):
    # Checked by the templates service (empty, too long, taken), in the same words as saving.
    name = StringField("New name")


class OptOutAddForm(FlaskForm):
    numbers = TextAreaField(
        "Numbers",
        validators=[DataRequired("Type at least one number."), Length(max=20_000)],
        description="One per line, or separated by commas. National numbers are read "
        "with the default country.",
    )
    note = StringField("Note (optional)", validators=[Length(max=MAX_OPT_OUT_NOTE_LENGTH)])


class OptOutUploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")])
    note = StringField("Note (optional)", validators=[Length(max=MAX_OPT_OUT_NOTE_LENGTH)])


class MappingForm(FlaskForm):
    """The mapping step: the phone column, the columns kept as fields and their tag names, and
    corrections to the sniffed format. The page draws the columns itself (one table column per
    file column); this form parses what it sends. Field names are ``name_<column>``."""

    phone_column = IntegerField(validators=[Optional(), NumberRange(min=0)])
    keep = SelectMultipleField(coerce=int, validate_choice=False)
    encoding = StringField(validators=[Optional(), Length(max=32)])
    delimiter = StringField(validators=[Optional(), Length(max=16)])  # comma, semicolon, tab
    header = StringField(validators=[Optional(), Length(max=1)])  # 1, 0, or detect
    sheet = StringField(validators=[Optional(), Length(max=31)])  # a workbook's worksheet

    MAX_NAME_LENGTH = 100

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        super().process(formdata, obj, data, extra_filters, **kwargs)
        source = self.meta.wrap_formdata(self, formdata) or {}
        self.tag_names: dict[int, str] = {
            int(key.removeprefix("name_")): source.get(key, "")[: self.MAX_NAME_LENGTH]
            for key in source
            if key.startswith("name_") and key.removeprefix("name_").isdigit()
        }
