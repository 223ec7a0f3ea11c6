"""The audit log: every change by a person or by the system, as an append-only event.

`record` adds the event to the session; the caller's commit writes it, with the change it
records when both happen in one transaction. Nothing here changes or deletes an event (the
model refuses to); the admin page reads them with `events_page` and `export_csv`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from webapp.models import AuditEvent, Campaign, RecipientList, User
from webapp.services.lists import csv_line
from webapp.services.pages import Page

SYSTEM = "system"  # the actor of a change no signed-in user made (the system, the command line)
BOM = "\ufeff"

# Every action recorded, in the words the audit page shows.
ACTIONS = {
    "sign_in": "signed in",
    "sign_in_failed": "sign-in failed",
    "password_changed": "changed own password",
    "user_created": "user created",
    "user_role": "role changed",
    "user_active": "user activated or deactivated",
    "user_unlocked": "user unlocked",
    "user_approver": "approver right changed",
    "user_password": "password set by an admin",
    "settings": "settings changed",
    "list_uploaded": "file uploaded",
    "list_imported": "import started",
    "list_import_done": "import finished",
    "list_import_failed": "import failed",
    "list_import_cancelled": "import cancelled",
    "list_renamed": "list renamed",
    "list_deleted": "list deleted",
    "list_exported": "list exported",
    "opt_out_added": "opt-outs added",
    "opt_out_imported": "opt-outs imported",
    "opt_out_removed": "opt-out removed",
    "campaign_copied": "campaign copied",
    "campaign_follow_up": "follow-up created",
    "campaign_deleted": "draft deleted",
    "campaign_confirmed": "campaign confirmed",
    "campaign_approval_requested": "campaign approval asked for",
    "campaign_approved": "campaign approved",
    "campaign_rejected": "campaign rejected",
    "campaign_withdrawn": "campaign approval withdrawn",
    "campaign_paused": "campaign paused",
    "campaign_resumed": "campaign resumed",
    "campaign_cancelled": "campaign cancelled",
    "campaign_speed": "campaign speed changed",
    "campaign_changed": "campaign changed",
    "campaign_decided": "unconfirmed batch decided",
    "campaign_reconciled": "batch confirmed by reports",
    "campaign_finished": "campaign finished",
    "campaign_awaiting_winner": "A/B test sent, waiting for the winner",
    "campaign_winner": "A/B test's winner sent to the rest",
    "webhook_rejected": "webhook rejected",
}
OBJECT_TYPES = ("campaign", "list", "opt_out", "settings", "user", "webhook")


@dataclass(frozen=True)
class Target:
    """What an event is about, when it is not a model instance: its type, id and label."""

    type: str
    id: object = None
    label: str | None = None


def _target_of(obj) -> Target | None:
    if obj is None or isinstance(obj, Target):
        return obj
    if isinstance(obj, User):
        return Target("user", obj.id, obj.email)
    if isinstance(obj, RecipientList):
        return Target("list", obj.id, obj.name)
    if isinstance(obj, Campaign):
        return Target("campaign", obj.id, obj.name)
    raise TypeError(f"No audit target for {type(obj).__name__}")


def record(
    session: Session,
    action: str,
    *,
    user: User | None,
    obj=None,
    address: str | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add one event: ``user`` did ``action`` (None: the system or the command line) to
    ``obj`` (a User, RecipientList or Campaign, or a `Target`) from the client ``address``."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}")
    target = _target_of(obj)
    event = AuditEvent(
        user_id=user.id if user is not None else None,
        actor=user.email if user is not None else SYSTEM,
        action=action,
        object_type=target.type if target else None,
        object_id=str(target.id) if target and target.id is not None else None,
        object_label=((target.label or "")[:200] or None) if target else None,
        detail=detail,
        address=(address or "")[:64] or None,
    )
    session.add(event)
    return event


# --- Reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """Who (a user id, or `SYSTEM`), what, which object, and days (the reader's, included)."""

    who: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: date | None = None
    until: date | None = None


def _day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def _filtered(chosen: AuditFilter, zone: tzinfo) -> Select:
    query = select(AuditEvent)
    if chosen.who == SYSTEM:
        query = query.where(AuditEvent.user_id.is_(None))
    elif chosen.who.isdigit():
        query = query.where(AuditEvent.user_id == int(chosen.who))
    if chosen.action:
        query = query.where(AuditEvent.action == chosen.action)
    if chosen.object_type:
        query = query.where(AuditEvent.object_type == chosen.object_type)
    if chosen.object_id:
        query = query.where(AuditEvent.object_id == chosen.object_id)
    if chosen.since:
        query = query.where(AuditEvent.at >= _day_start(chosen.since, zone))
    if chosen.until:
        query = query.where(AuditEvent.at < _day_start(chosen.until + timedelta(days=1), zone))
    return query.order_by(AuditEvent.id.desc())


def events_page(
    session: Session, chosen: AuditFilter, *, page: int, per_page: int = 50, zone: tzinfo = UTC
) -> Page[AuditEvent]:
    """One page of the events that match ``chosen``, newest first."""
    query = _filtered(chosen, zone)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(rows, total, page, per_page)


def actors(session: Session) -> list[tuple[str, str]]:
    """(value, label) choices for the "who" filter: the users, then the system."""
    users = session.execute(select(User.id, User.email).order_by(User.email)).all()
    return [(str(user_id), email) for user_id, email in users] + [(SYSTEM, "the system")]


EXPORT_HEADER = (
    "time",
    "who",
    "action",
    "object type",
    "object id",
    "object",
    "detail",
    "client address",
)


def export_csv(session: Session, chosen: AuditFilter, zone: tzinfo = UTC) -> Iterator[str]:
    """The matching events as CSV (UTF-8 with a BOM, every cell formula-safe), times in
    ``zone``, read a thousand at a time."""
    yield BOM + csv_line(EXPORT_HEADER)
    query = _filtered(chosen, zone).execution_options(yield_per=1000)
    for event in session.scalars(query):
        yield csv_line(
            (
                event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                event.actor,
                event.action,
                event.object_type or "",
                event.object_id or "",
                event.object_label or "",
                event.detail or "",
                event.address or "",
            )
        )
