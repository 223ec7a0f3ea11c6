"""User accounts: the first admin, sign-in checks, user management."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from webapp.models import KDF_METHOD, Role, User, utcnow

MIN_PASSWORD_LENGTH = 12
# zxcvbn's scale: 3 is "safely unguessable: moderate protection from offline slow-hash attacks".
MIN_PASSWORD_SCORE = 3
# zxcvbn's time grows fast with the length; beyond this a password is long enough anyway.
STRENGTH_CHECKED_CHARACTERS = 100


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a message the user can act on."""


class WeakPassword(AccountError):
    """A new password that is too short or too easy to guess; the message says why."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def has_users(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(User)) > 0


def check_password_strength(password: str, user_inputs: Iterable[str] = ()) -> None:
    """Refuse a password shorter than 12 characters or that zxcvbn finds easy to guess (also
    from ``user_inputs`` such as the email), with zxcvbn's feedback as the reason."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    words = []
    for text in user_inputs:
        text = text.lower()
        words += [text, text.partition("@")[0], *re.split(r"[^a-z0-9]+", text)]
    result = zxcvbn(password[:STRENGTH_CHECKED_CHARACTERS], user_inputs=[w for w in words if w])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return
    feedback = result["feedback"]
    reasons = [feedback["warning"], *feedback["suggestions"]]
    reason = " ".join(r for r in reasons if r) or "Add another word or two."
    raise WeakPassword(f"This password is too easy to guess. {reason}")


def create_user(session: Session, email: str, password: str, role: Role) -> User:
    email = normalise_email(email)
    if not email or "@" not in email:
        raise AccountError("Enter an email address such as name@example.com.")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError(f"A user with the email {email} already exists.")
    check_password_strength(password, [email])
    user = User(email=email, role=Role(role), active=True)
    user.set_password(password)
    session.add(user)
    session.commit()
    return user


def create_first_admin(session: Session, email: str, password: str) -> User:
    """Only while no user exists: afterwards admins are made by admins."""
    if has_users(session):
        raise AccountError("The first administrator has already been created. Sign in instead.")
    return create_user(session, email, password, Role.ADMIN)


def authenticate(session: Session, email: str, password: str, *, now: datetime | None = None):
    """The active user with this email and password, or ``None``; the same answer for every miss."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        # The same hash work as for a known email, so the time taken does not tell them apart.
        check_password_hash(_dummy_password_hash(), password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    user.last_login_at = now or utcnow()
    session.commit()
    return user


@functools.cache
def _dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_hex(16), method=KDF_METHOD)


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if not user.check_password(current):
        raise AccountError("The current password is not right.")
    check_password_strength(new, [user.email])
    user.set_password(new)
    session.commit()


def end_sessions(session: Session, user: User) -> None:
    """Sign the user out everywhere: every session and remember-me cookie stops working."""
    user.session_version += 1
    session.commit()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def _other_active_admins(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
    )


def set_role(session: Session, user: User, role: Role) -> None:
    if user.role == Role.ADMIN and role != Role.ADMIN and not _other_active_admins(session, user):
        raise AccountError("The last active administrator cannot lose the admin role.")
    user.role = Role(role)
    session.commit()


def set_active(session: Session, user: User, active: bool) -> None:
    if not active and user.role == Role.ADMIN and not _other_active_admins(session, user):
        raise AccountError("The last active administrator cannot be deactivated.")
    user.active = active
    if not active:
        user.session_version += 1  # signs the user out everywhere
    session.commit()


def update_profile(session: Session, user: User, *, phone: str | None, timezone: str) -> None:
    user.phone = phone or None
    user.timezone = timezone
    session.commit()
