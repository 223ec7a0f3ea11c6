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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.states import BatchState, CampaignStatus, ImportStatus, RecipientState


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


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    active: Mapped[bool] = mapped_column(default=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Copenhagen")
    # Bumped on password change or deactivation, so every other session and remember-me cookie ends.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        # scrypt: werkzeug's memory-hard default KDF.
        self.password_hash = generate_password_hash(password, method="scrypt")
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

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


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
    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("list_id", "msisdn", name="uq_recipients_list_msisdn"),
        Index("ix_recipients_import", "import_id"),
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


class OptOut(db.Model):
    """A number that must never be imported or sent to."""

    __tablename__ = "opt_outs"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# --- Campaigns -------------------------------------------------------------------------------


campaign_lists = db.Table(
    "campaign_lists",
    db.Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    db.Column("list_id", ForeignKey("recipient_lists.id"), primary_key=True),
    # The order the user chose the lists in: the first list wins for a number in several.
    db.Column("position", Integer, nullable=False, server_default="0"),
)


class Campaign(db.Model):
    __tablename__ = "campaigns"

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
    # A follow-up campaign resends a parent's failed or unconfirmed recipients.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    pause_reason: Mapped[str | None] = mapped_column(Text)

    recipient_count: Mapped[int] = mapped_column(default=0)
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
    events: Mapped[list[CampaignEvent]] = relationship(order_by="CampaignEvent.id")


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
    __table_args__ = (UniqueConstraint("campaign_id", "number", name="uq_batches_campaign_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()  # 1, 2, ... within the campaign
    state: Mapped[BatchState] = mapped_column(_enum(BatchState), default=BatchState.PENDING)
    size: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str | None] = mapped_column(String(64))
    usage: Mapped[dict | None] = mapped_column(JSON)
    segments: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    msisdn: Mapped[str] = mapped_column(String(15))
    country: Mapped[str | None] = mapped_column(String(2))
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    segments: Mapped[int] = mapped_column(default=0)
    state: Mapped[RecipientState] = mapped_column(
        _enum(RecipientState), default=RecipientState.PENDING
    )
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(String(200))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignTestSend(db.Model):
    """A test message to the user's own phones; never part of the campaign's send."""

    __tablename__ = "test_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    numbers: Mapped[list[str]] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


__all__ = [
    "Batch",
    "BatchState",
    "Campaign",
    "CampaignEvent",
    "CampaignRecipient",
    "CampaignStatus",
    "CampaignTestSend",
    "ImportStatus",
    "ListImport",
    "OptOut",
    "Recipient",
    "RecipientList",
    "RecipientState",
    "RejectedRow",
    "Role",
    "Setting",
    "User",
    "campaign_lists",
    "utcnow",
]
