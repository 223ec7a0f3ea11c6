"""The database, as typed SQLAlchemy 2.0 models. Times are timezone-aware UTC.

The state enums and their lifecycles live in `webapp.states`; they are imported here so that
models and states can be imported together.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.sms import find_tags
from webapp.states import (
    BatchState,
    CampaignStatus,
    DeliveryOutcome,
    ImportStatus,
    RecipientState,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and gives them back aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Role(enum.StrEnum):
    """What a user may do; each role includes the ones below it."""

    VIEWER = "viewer"
    SENDER = "sender"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


def _enum(kind):
    """Enums stored as their string values (portable, readable, no native enum types)."""
    values = [member.value for member in kind]
    return db.Enum(kind, native_enum=False, length=16, values_callable=lambda _: values)


# scrypt: werkzeug's memory-hard default KDF.
KDF_METHOD = "scrypt"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    # The approver right: may approve campaigns waiting for approval (admins always may).
    approver: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    active: Mapped[bool] = mapped_column(default=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Copenhagen")
    # Bumped on password change or deactivation, so every other session and remember-me cookie ends.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=KDF_METHOD)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def can(self, role: Role) -> bool:
        return self.active and self.role.includes(role)

    @property
    def may_approve(self) -> bool:
        """May approve (or reject) a campaign waiting for approval: an active admin, or an
        active user given the approver right. Nobody approves a campaign they asked for."""
        return self.active and (self.role is Role.ADMIN or self.approver)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class SignInAttempt(db.Model):
    """A sign-in attempt whose outcome counts against the limits: written before its password is
    checked, so parallel guesses cannot outrun them; a successful one is deleted."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_email_at", "email", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))  # as typed, normalised; maybe no user's
    address: Mapped[str] = mapped_column(String(64))  # the client's address
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Setting(db.Model):
    """Workspace settings an admin changes in the dashboard (defaults come from config)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1000))


# --- Recipient lists -------------------------------------------------------------------------


class RecipientList(db.Model):
    __tablename__ = "recipient_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Personalisation fields, in column order; each is usable as %name% in a message.
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    recipient_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A deleted list that a sent campaign used is only hidden, to keep its history.
    hidden: Mapped[bool] = mapped_column(default=False)

    created_by: Mapped[User | None] = relationship()
    imports: Mapped[list[ListImport]] = relationship(
        back_populates="recipient_list", order_by="ListImport.id.desc()"
    )


class ListImport(db.Model):
    """One CSV file or Excel sheet imported into a list, with its report: every row is
    accounted for."""

    __tablename__ = "list_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("recipient_lists.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # The stored file's checksum when its columns were confirmed: checked again at the end.
    sha256: Mapped[str | None] = mapped_column(String(64))
    # A running import beats with every chunk; one silent for a minute lost its worker.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_number: Mapped[int] = mapped_column(default=0, server_default="0")
    restarted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[ImportStatus] = mapped_column(
        _enum(ImportStatus), default=ImportStatus.AWAITING_COLUMNS
    )
    encoding: Mapped[str | None] = mapped_column(String(32))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    has_header: Mapped[bool] = mapped_column(default=True)
    phone_column: Mapped[int | None] = mapped_column()
    # {field name: column index} of the columns kept for personalisation.
    field_columns: Mapped[dict] = mapped_column(JSON, default=dict)
    # The worksheet read, for an Excel workbook (None for a CSV file).
    sheet: Mapped[str | None] = mapped_column(String(31))
    # The header row's cells as confirmed in the mapping step (blank ones for a file without a
    # header; None for imports from before it was kept): the rejected-rows download's header.
    header: Mapped[list | None] = mapped_column(JSON)
    default_country: Mapped[str] = mapped_column(String(2), default="DK")
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    opted_out: Mapped[int] = mapped_column(default=0)
    landlines: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    recipient_list: Mapped[RecipientList] = relationship(back_populates="imports")
    created_by: Mapped[User | None] = relationship()

    @property
    def progress_percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return min(99, int(100 * self.bytes_done / self.size_bytes)) if self.size_bytes else 0


class Recipient(db.Model):
    """A number in a list. Migration 0005 indexes the number and field values for the list
    search outside this model: an FTS5 table on SQLite (filled by the import, kept by triggers
    on change; `webapp.services.search_index`), pg_trgm GIN indexes
    on PostgreSQL (see `webapp.services.lists.search_recipients`)."""

    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("list_id", "msisdn", name="uq_recipients_list_msisdn"),
        Index("ix_recipients_import", "import_id"),
        Index("ix_recipients_list", "list_id", "id"),
        Index("ix_recipients_msisdn", "msisdn"),  # a number's history (services.contacts)
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("recipient_lists.id", ondelete="CASCADE"))
    import_id: Mapped[int] = mapped_column(ForeignKey("list_imports.id", ondelete="CASCADE"))
    msisdn: Mapped[str] = mapped_column(String(15))  # international digits, no "+"
    country: Mapped[str | None] = mapped_column(String(2))
    landline: Mapped[bool] = mapped_column(default=False)
    line: Mapped[int] = mapped_column()  # where it stood in the uploaded file
    fields: Mapped[dict] = mapped_column(JSON, default=dict)


class RejectedRow(db.Model):
    """A row of an import that was not imported, with its line number and the reason."""

    __tablename__ = "rejected_rows"
    __table_args__ = (Index("ix_rejected_rows_import_line", "import_id", "line"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("list_imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))  # invalid, duplicate, opted_out
    reason: Mapped[str] = mapped_column(String(300))
    raw: Mapped[str] = mapped_column(Text)


class ConsentAction(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class ConsentSource(enum.StrEnum):
    """Where a consent change came from, in the words the opt-out list shows."""

    TYPED = "typed"  # a user typed the number on the opt-out page
    IMPORT = "import"  # a CSV file of opt-outs
    REPLY = "reply"  # the recipient answered STOP (or START)
    LINK = "link"  # the recipient clicked the opt-out link of a message
    ADMIN = "admin"  # an operator at the command line


class OptOut(db.Model):
    """A number that must never be imported or sent to: the current state that the append-only
    `ConsentEvent` record leads to, kept as its own table so "is it opted out" stays a lookup."""

    __tablename__ = "opt_outs"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The event that opted the number out: how, and the campaign it answered (if any).
    source: Mapped[ConsentSource] = mapped_column(
        _enum(ConsentSource), default=ConsentSource.TYPED, server_default="typed"
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))

    campaign: Mapped[Campaign | None] = relationship()


class ConsentEvent(db.Model):
    """One opt-out or opt-in of a number: what, who, when, how and the campaign it answered.

    Append-only: a mapper hook refuses to update or delete one, so the record can be trusted.
    """

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_msisdn", "msisdn", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(15))
    action: Mapped[ConsentAction] = mapped_column(_enum(ConsentAction))
    source: Mapped[ConsentSource] = mapped_column(_enum(ConsentSource))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    note: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User | None] = relationship()
    campaign: Mapped[Campaign | None] = relationship()


@event.listens_for(ConsentEvent, "before_update")
@event.listens_for(ConsentEvent, "before_delete")
def _consent_is_append_only(mapper, connection, target):
    raise ValueError("Consent events are never changed or deleted; record a new one.")


class AuditEvent(db.Model):
    """One change by a person or by the system: who (a user, or None for the system and the
    command line), when, what, the object it touched (its type, id and name at the time), a
    detail and the client address.

    Append-only, like `ConsentEvent`: a mapper hook refuses to update or delete one.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at", "id"),
        Index("ix_audit_events_object", "object_type", "object_id", "id"),
        Index("ix_audit_events_user", "user_id", "id"),
        Index("ix_audit_events_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The user's email when it happened ("system" for the system or the command line).
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str | None] = mapped_column(String(20))
    object_id: Mapped[str | None] = mapped_column(String(64))
    object_label: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(mapper, connection, target):
    raise ValueError("Audit events are never changed or deleted; record a new one.")


class Reply(db.Model):
    """An SMS a recipient sent back (the gateway's inbound "MO" webhook), stored once per id."""

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_msisdn", "msisdn"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    msisdn: Mapped[str] = mapped_column(String(15))
    receiver: Mapped[str | None] = mapped_column(String(15))
    message: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the gateway's senttime
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The campaign last sent to this number when the reply came: what it answers.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    keyword: Mapped[str | None] = mapped_column(String(8))  # "stop", "start" or None
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The STOP confirmation: None (none due), "pending", "sent", or the gateway's error.
    confirmation: Mapped[str | None] = mapped_column(String(200))

    campaign: Mapped[Campaign | None] = relationship()
    handled_by: Mapped[User | None] = relationship()


# --- Campaigns -------------------------------------------------------------------------------


campaign_lists = db.Table(
    "campaign_lists",
    db.Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    db.Column("list_id", ForeignKey("recipient_lists.id"), primary_key=True),
    # The order the user chose the lists in: the first list wins for a number in several.
    db.Column("position", Integer, nullable=False, server_default="0"),
)


class MessageTemplate(db.Model):
    """A saved message shared in the workspace: its text (with its %tags%) and encoding choice.
    Names are unique, case ignored; `last_used_at` is when a campaign taken from it was last
    confirmed."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(8), default="auto")  # auto, GSM, UCS2
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship()

    @property
    def tags(self) -> list[str]:
        """The field names its %tags% refer to, each once, in order."""
        return find_tags(self.message)


Index("uq_message_templates_name", func.lower(MessageTemplate.name), unique=True)


class Campaign(db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_created", "created_at", "id"),
        Index("ix_campaigns_started", "started_at", "id"),  # the list's "sent at" sort and dates
        Index("ix_campaigns_sender", "sender"),
        Index("ix_campaigns_status", "status", "id"),  # sending now, drafts
        Index("ix_campaigns_finished", "finished_at", "id"),  # the latest finished
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # sent as the gateway's label
    sender: Mapped[str] = mapped_column(String(15))
    message: Mapped[str] = mapped_column(Text, default="")
    encoding: Mapped[str] = mapped_column(String(8), default="auto")  # auto, GSM, UCS2
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    speed_per_minute: Mapped[int | None] = mapped_column()
    # Send field values in GSM 7-bit letters (François -> Francois): see sms.gsm_spelling.
    plain_values: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Reach numbers flagged undeliverable too (services.undeliverable); by default left out.
    include_undeliverable: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # A follow-up campaign resends a parent's failed or unconfirmed recipients.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # The opt-out footer, "{code}" where each recipient's link code goes; None: no footer.
    opt_out_footer: Mapped[str | None] = mapped_column(String(300))
    # Where the message's tracked links point ("go.shop.example", no scheme; see
    # services.tracked_links); None: the message has none.
    link_host: Mapped[str | None] = mapped_column(String(200))
    # Given by a script (``--idempotency-key``): a second request with it finds this campaign.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Paused because the gateway could not be reached: since when it has not answered.
    outage_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The saved template the message was taken from; confirming marks it as used.
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_templates.id", ondelete="SET NULL")
    )
    # An A/B test (services.abtests): variant B's and C's texts beside the message (variant
    # A); each variant's share of the audience in percent, the rest held back for the winner
    # ({"A": 10, "B": 10}; None: no test); the seed of the split recorded at confirmation.
    message_b: Mapped[str | None] = mapped_column(Text)
    message_c: Mapped[str | None] = mapped_column(Text)
    variant_shares: Mapped[dict | None] = mapped_column(JSON)
    split_seed: Mapped[int | None] = mapped_column(BigInteger)
    # The winner step: after this many minutes from the end of the test send, the variant best
    # by `winner_metric` goes to the held-back recipients (None: only when a user picks it).
    winner_after_minutes: Mapped[int | None] = mapped_column()
    winner_metric: Mapped[str] = mapped_column(
        String(32), default="delivery_rate", server_default="delivery_rate"
    )
    winner_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    winner: Mapped[str | None] = mapped_column(String(1))  # the letter sent to the held-back
    winner_reason: Mapped[str | None] = mapped_column(Text)

    recipient_count: Mapped[int] = mapped_column(default=0)
    # The countries of the frozen recipients, sorted (written at confirmation; None before):
    # the outcome table's country menu, without reading every recipient.
    recipient_countries: Mapped[list[str] | None] = mapped_column(JSON)
    # The highest campaign recipient id before this campaign's were frozen (at confirmation):
    # its own are above it, which lets PostgreSQL start a page of them at the right place.
    recipients_after_id: Mapped[int | None] = mapped_column(BigInteger)
    excluded_opted_out: Mapped[int] = mapped_column(default=0)
    excluded_duplicates: Mapped[int] = mapped_column(default=0)
    segments: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    currency: Mapped[str | None] = mapped_column(String(3))
    cost_is_estimate: Mapped[bool] = mapped_column(default=False)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    previewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    preview_fingerprint: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The approval flow (services.approval): who asked for it and when, who approved it and
    # when (approved_at without approved_by: at the command line), and the approver's comment
    # (a rejection's stays on the draft for its sender to read). The history has every step.
    approval_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approval_comment: Mapped[str | None] = mapped_column(Text)
    # What the last preview found: usage per country, warnings, batches (shown until it is stale).
    preview_summary: Mapped[dict | None] = mapped_column(JSON)
    # One dispatcher at a time: a worker holds the lease while it sends, and renews it.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lists: Mapped[list[RecipientList]] = relationship(
        secondary=campaign_lists, order_by=(campaign_lists.c.position, campaign_lists.c.list_id)
    )
    batches: Mapped[list[Batch]] = relationship(back_populates="campaign", order_by="Batch.number")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    previewed_by: Mapped[User | None] = relationship(foreign_keys=[previewed_by_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])
    approval_requested_by: Mapped[User | None] = relationship(
        foreign_keys=[approval_requested_by_id]
    )
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    events: Mapped[list[CampaignEvent]] = relationship(order_by="CampaignEvent.id")

    @property
    def opt_out_link(self) -> bool:
        return bool(self.opt_out_footer)

    @property
    def is_ab_test(self) -> bool:
        return bool(self.variant_shares)


class CampaignEvent(db.Model):
    """Who did what to a campaign, and when: previewed, confirmed, paused, resumed, cancelled."""

    __tablename__ = "campaign_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User | None] = relationship()


class Batch(db.Model):
    """One gateway request of a campaign: its recipients, and the gateway's answer or error."""

    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number", name="uq_batches_campaign_number"),
        Index("ix_batches_message_id", "message_id"),  # reports without a userref
        Index("ix_batches_state_finished", "state", "finished_at"),  # the month's spend
        # The campaigns list's cost column and sort: what each campaign's sent batches cost,
        # read from the index alone.
        Index("ix_batches_campaign_state_cost", "campaign_id", "state", "cost"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()  # 1, 2, ... within the campaign
    state: Mapped[BatchState] = mapped_column(_enum(BatchState), default=BatchState.PENDING)
    size: Mapped[int] = mapped_column(default=0)
    # Set when quiet hours group a campaign's batches by country: the country they wait for.
    country: Mapped[str | None] = mapped_column(String(2))
    # An A/B test's variant whose text the batch sends ("A", "B", "C"); None outside a test,
    # and for a held-back batch until the winner is chosen.
    variant: Mapped[str | None] = mapped_column(String(1))
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(64))
    usage: Mapped[dict | None] = mapped_column(JSON)
    segments: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    currency: Mapped[str | None] = mapped_column(String(3))  # of the gateway's usage
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # DELIVERY_REPORTS=poll: when the gateway is next asked for this batch's statuses (see
    # services.polling); None once polling ended, or (with no attempt yet) before the first.
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    poll_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # claimed by a dispatcher
    # Committed just before the request is handed to the HTTP client: without it a batch left
    # ``sending`` never went out; with it the request may have reached the gateway.
    request_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    campaign: Mapped[Campaign] = relationship(back_populates="batches")


class CampaignRecipient(db.Model):
    """A recipient frozen at confirmation: later list changes do not change who is reached.

    The unique (campaign, msisdn) pair is the database's guarantee that a campaign holds each
    number once; the batch a recipient belongs to is fixed before its request goes out.
    """

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "msisdn", name="uq_campaign_recipients_campaign_msisdn"),
        Index("ix_campaign_recipients_batch", "batch_id"),
        Index("ix_campaign_recipients_outcome", "campaign_id", "delivery_outcome"),
        # A page of a campaign's recipients in order, read from the index (outcome table).
        Index("ix_campaign_recipients_campaign_id", "campaign_id", "id"),
        # The error codes that occur in a campaign, found by skipping through the reported
        # failures (outcomes.filter_choices), never by reading every recipient.
        Index(
            "ix_campaign_recipients_code",
            "campaign_id",
            "delivery_code",
            "delivery_error",
            postgresql_where=text("delivery_code IS NOT NULL"),
            sqlite_where=text("delivery_code IS NOT NULL"),
        ),
        # A number's campaigns (contact history) and its undeliverable rows (undeliverable.py).
        Index("ix_campaign_recipients_msisdn", "msisdn", "id"),
        Index(
            "ix_campaign_recipients_undeliverable",
            "msisdn",
            postgresql_where=text("delivery_outcome = 'undeliverable'"),
            sqlite_where=text("delivery_outcome = 'undeliverable'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    msisdn: Mapped[str] = mapped_column(String(15))
    country: Mapped[str | None] = mapped_column(String(2))
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    segments: Mapped[int] = mapped_column(default=0)
    # An A/B test's recorded split: "A", "B", "C", or "held" (held back for the winner).
    variant: Mapped[str | None] = mapped_column(String(4))
    # What happened to this recipient alone (opted out before the send, handed to a follow-up);
    # "pending": it follows its batch. Read it through services.recipient_states, never bare.
    state: Mapped[RecipientState] = mapped_column(
        _enum(RecipientState), default=RecipientState.PENDING
    )
    # The latest report that counts (see services.delivery): the gateway's status, its outcome
    # in the user's words (None: no report yet), the error and code, and the report's time.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_outcome: Mapped[DeliveryOutcome | None] = mapped_column(_enum(DeliveryOutcome))
    delivery_error: Mapped[str | None] = mapped_column(String(200))
    delivery_code: Mapped[str | None] = mapped_column(String(16))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryReport(db.Model):
    """Every delivery report matched to a recipient, kept as its status history; ``applied``
    says whether it changed the recipient's status (a stale or repeated one does not)."""

    __tablename__ = "delivery_reports"
    __table_args__ = (Index("ix_delivery_reports_recipient", "recipient_id", "reported_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    recipient_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("campaign_recipients.id", ondelete="CASCADE"),
    )
    message_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(16))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied: Mapped[bool] = mapped_column(default=False)


class DeliveryCount(db.Model):
    """Recipients of a campaign per final outcome, kept as reports arrive so a campaign page
    never counts its recipients. Spread over a few ``shard`` rows per outcome, so parallel
    reports rarely wait on one row; a campaign's figure is the sum of its shards."""

    __tablename__ = "delivery_counts"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    outcome: Mapped[DeliveryOutcome] = mapped_column(_enum(DeliveryOutcome), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class CampaignLink(db.Model):
    """A tracked link of a campaign: the target (UTM parameters applied) its short links send
    to, numbered by where it first appears in the message. Derived from the message when the
    campaign is confirmed (services.tracked_links)."""

    __tablename__ = "campaign_links"
    __table_args__ = (
        UniqueConstraint("campaign_id", "ordinal", name="uq_campaign_links_campaign_ordinal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column()  # 1, 2, ... in the message
    target: Mapped[str] = mapped_column(Text)


class LinkClick(db.Model):
    """One opening of a recipient's tracked link. Every click is stored; ``counted`` says
    whether it counts as a person's click (not a link-preview bot, not a double tap)."""

    __tablename__ = "link_clicks"
    __table_args__ = (
        Index("ix_link_clicks_link_recipient", "link_id", "recipient_id", "clicked_at"),
        Index("ix_link_clicks_recipient", "recipient_id", "clicked_at"),
        Index("ix_link_clicks_campaign", "campaign_id", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("campaign_links.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("campaign_recipients.id", ondelete="CASCADE"),
    )
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "person", or the preview bot's name ("WhatsApp"), or "early" (within seconds of delivery)
    agent: Mapped[str] = mapped_column(String(40))
    is_bot: Mapped[bool] = mapped_column(default=False)
    counted: Mapped[bool] = mapped_column(default=False)


class CampaignTestSend(db.Model):
    """A test message to the user's own phones; never part of the campaign's send."""

    __tablename__ = "test_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    numbers: Mapped[list[str]] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # The latest delivery report per number: {msisdn: {"status", "error", "time"}}.
    deliveries: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # DELIVERY_REPORTS=poll: when its statuses are asked for next (see services.polling).
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    poll_attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    campaign: Mapped[Campaign] = relationship()


__all__ = [
    "AuditEvent",
    "Batch",
    "BatchState",
    "Campaign",
    "CampaignEvent",
    "CampaignLink",
    "CampaignRecipient",
    "CampaignStatus",
    "CampaignTestSend",
    "ConsentAction",
    "ConsentEvent",
    "ConsentSource",
    "DeliveryCount",
    "DeliveryOutcome",
    "DeliveryReport",
    "ImportStatus",
    "LinkClick",
    "ListImport",
    "OptOut",
    "Recipient",
    "RecipientList",
    "RecipientState",
    "RejectedRow",
    "Reply",
    "Role",
    "Setting",
    "User",
    "campaign_lists",
    "utcnow",
]
