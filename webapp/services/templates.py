"""Message templates: saved messages shared in the workspace, chosen when composing.

A template keeps a message (with its %tags%) and its encoding choice under a name no other
template has (case ignored). A campaign taken from one remembers it (`Campaign.template_id`),
and confirming that campaign marks the template as used (`mark_template_used`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from webapp.models import Campaign, MessageTemplate, User
from webapp.services.actors import user_id_of
from webapp.sms import GSM, UCS2

# A campaign's encoding choices (`campaigns.ENCODINGS`), spelled here because the campaigns
# package imports this module (confirming marks a template as used).
ENCODINGS = ("auto", GSM, UCS2)
MAX_NAME_LENGTH = 200
MAX_MESSAGE_LENGTH = 5000


class TemplateInvalid(ValueError):
    """A template that cannot be saved so; the message says why and what to do."""


def list_templates(session: Session) -> list[MessageTemplate]:
    """Every template, by name (with who saved it, in the same query)."""
    return list(
        session.scalars(
            select(MessageTemplate)
            .options(selectinload(MessageTemplate.created_by))
            .order_by(func.lower(MessageTemplate.name), MessageTemplate.id)
        )
    )


def find_template(session: Session, template_id: int | None) -> MessageTemplate | None:
    """The template with this id, or None (also for None)."""
    return session.get(MessageTemplate, template_id) if template_id is not None else None


def save_template(
    session: Session, user: User | None, name: str, message: str, encoding: str = "auto"
) -> MessageTemplate:
    """Save `message` and its `encoding` as a new template called `name`.

    Raises TemplateInvalid for an empty or taken name, an empty or overlong message, or an
    encoding other than "auto", "GSM" or "UCS2".
    """
    if not message.strip():
        raise TemplateInvalid("Write the message first: a template saves the message.")
    if len(message) > MAX_MESSAGE_LENGTH:
        raise TemplateInvalid(f"A template can hold at most {MAX_MESSAGE_LENGTH:,} characters.")
    if encoding not in ENCODINGS:
        raise TemplateInvalid("Choose automatic, GSM or Unicode.")
    template = MessageTemplate(
        name=_checked_name(session, name),
        message=message,
        encoding=encoding,
        created_by_id=user_id_of(user),
    )
    session.add(template)
    _commit_name(session, template.name)
    return template


def rename_template(session: Session, template: MessageTemplate, name: str) -> None:
    template.name = _checked_name(session, name, exclude_id=template.id)
    _commit_name(session, template.name)


def delete_template(session: Session, template: MessageTemplate) -> None:
    """Delete a template; drafts taken from it keep their message and forget the template."""
    session.execute(
        update(Campaign).where(Campaign.template_id == template.id).values(template_id=None)
    )
    session.delete(template)
    session.commit()


def mark_template_used(session: Session, template_id: int | None, at: datetime) -> None:
    """Record that a campaign taken from the template was confirmed at `at` (never moving
    `last_used_at` back); nothing for None or a deleted template. Does not commit."""
    if template_id is None:
        return
    session.execute(
        update(MessageTemplate)
        .where(
            MessageTemplate.id == template_id,
            or_(MessageTemplate.last_used_at.is_(None), MessageTemplate.last_used_at < at),
        )
        .values(last_used_at=at)
    )


def _checked_name(session: Session, name: str, *, exclude_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TemplateInvalid("Give the template a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise TemplateInvalid(f"Use at most {MAX_NAME_LENGTH} characters for the name.")
    clash = select(MessageTemplate.id).where(func.lower(MessageTemplate.name) == name.lower())
    if exclude_id is not None:
        clash = clash.where(MessageTemplate.id != exclude_id)
    if session.scalar(clash.limit(1)) is not None:
        raise TemplateInvalid(_taken(name))
    return name


def _commit_name(session: Session, name: str) -> None:
    """Commit; a template saved under the same name at the same moment is the same refusal."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise TemplateInvalid(_taken(name)) from None


def _taken(name: str) -> str:
    return f"A template called “{name}” already exists: choose another name."
