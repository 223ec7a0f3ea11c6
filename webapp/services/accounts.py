"""User accounts: the first admin, sign-in checks and their limits, user management."""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import limits
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from webapp.config import write_private
from webapp.models import KDF_METHOD, Role, SignInAttempt, User, utcnow
from webapp.services import audit

MIN_PASSWORD_LENGTH = 12
# zxcvbn's scale: 3 is "safely unguessable: moderate protection from offline slow-hash attacks".
MIN_PASSWORD_SCORE = 3
# In the instance folder until the first admin exists: who can read it started the dashboard.
SETUP_FILE = "setup_token"
# zxcvbn's time grows fast with the length; beyond this a password is long enough anyway.
STRENGTH_CHECKED_CHARACTERS = 100


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a message the user can act on."""


class WeakPassword(AccountError):
    """A new password that is too short or too easy to guess; the message says why."""


class SignInLocked(AccountError):
    """Too many failed sign-ins: this attempt was refused before its password was checked."""


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


class InvalidSetupToken(AccountError):
    """The first-admin setup was asked for without the token of this installation."""


def setup_token(instance: str | Path) -> str:
    """The one-time token that lets the first admin be created, made on first need and kept
    (0600) in the instance folder, so every process of this installation shows the same one."""
    path = Path(instance) / SETUP_FILE
    write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def setup_token_matches(instance: str | Path, token: str | None) -> bool:
    path = Path(instance) / SETUP_FILE
    if not token or not path.exists():
        return False
    return hmac.compare_digest(token.encode(), path.read_text().strip().encode())


def create_first_admin(
    session: Session, email: str, password: str, *, token: str | None, instance: str | Path
) -> User:
    """Only while no user exists, and only with the setup token: afterwards admins are made by
    admins. The token is used up."""
    if has_users(session):
        raise AccountError("The first administrator has already been created. Sign in instead.")
    if not setup_token_matches(instance, token):
        raise InvalidSetupToken("This setup link is not valid: use the one the dashboard printed.")
    user = create_user(session, email, password, Role.ADMIN)
    (Path(instance) / SETUP_FILE).unlink(missing_ok=True)
    return user


@dataclass(frozen=True)
class Limit:
    """At most ``amount`` failed sign-ins within ``window``."""

    amount: int
    window: timedelta

    @classmethod
    def parse(cls, text: str) -> Limit:
        """From the limits library's notation, e.g. ``5 per 15 minutes``."""
        item = limits.parse(text)
        return cls(item.amount, timedelta(seconds=item.get_expiry()))

    @property
    def wait(self) -> str:
        minutes = max(1, round(self.window.total_seconds() / 60))
        return "1 minute" if minutes == 1 else f"{minutes} minutes"


@dataclass(frozen=True)
class SignInLimits:
    """Per (account, client address), so guesses from elsewhere do not lock the owner out; a
    higher ceiling per account against guesses from many addresses; and one per address."""

    per_account_and_address: Limit
    per_account: Limit
    per_address: Limit

    @classmethod
    def from_config(cls, config) -> SignInLimits:
        return cls(
            Limit.parse(config["LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS"]),
            Limit.parse(config["LOGIN_LIMIT_PER_ACCOUNT"]),
            Limit.parse(config["LOGIN_LIMIT_PER_IP"]),
        )


def sign_in(
    session: Session,
    email: str,
    password: str,
    address: str,
    sign_in_limits: SignInLimits,
    *,
    now: datetime | None = None,
) -> User | None:
    """``authenticate`` within the limits. The attempt is stored before the password is checked
    and counted with all others, so of many parallel guesses at most the limit are checked.

    Raises ``SignInLocked`` (and forgets the attempt) when a limit is reached. Every attempt,
    refused, failed or successful, is one audit event.
    """
    now = now or utcnow()
    email = normalise_email(email)
    address = (address or "unknown")[:64]
    attempt = SignInAttempt(email=email, address=address, at=now)
    session.add(attempt)
    session.commit()
    try:
        _check_limits(session, email, address, sign_in_limits, now)
    except SignInLocked as error:
        session.delete(attempt)
        _record_failed_sign_in(session, email, address, f"Refused before checking: {error}")
        session.commit()
        raise
    user = authenticate(session, email, password, now=now)
    if user is not None:  # a success clears this address's failures for the account
        session.execute(
            delete(SignInAttempt).where(
                SignInAttempt.email == email, SignInAttempt.address == address
            )
        )
        audit.record(session, "sign_in", user=user, obj=user, address=address)
    else:
        _record_failed_sign_in(
            session, email, address, "Wrong email or password, or a deactivated account."
        )
    session.commit()
    return user


def _record_failed_sign_in(session: Session, email: str, address: str, detail: str) -> None:
    """Nobody signed in: the event names the account asked for (its id when it exists)."""
    user_id = session.scalar(select(User.id).where(User.email == email))
    target = audit.Target("user", user_id, email)
    audit.record(session, "sign_in_failed", user=None, obj=target, address=address, detail=detail)


def _attempts(session: Session, since: datetime, *conditions) -> int:
    return session.scalar(
        select(func.count()).select_from(SignInAttempt).where(SignInAttempt.at > since, *conditions)
    )


def _check_limits(session, email, address, sign_in_limits: SignInLimits, now) -> None:
    pair, account, per_address = (
        sign_in_limits.per_account_and_address,
        sign_in_limits.per_account,
        sign_in_limits.per_address,
    )
    by_email, by_address = SignInAttempt.email == email, SignInAttempt.address == address
    if _attempts(session, now - pair.window, by_email, by_address) > pair.amount:
        raise SignInLocked(
            "Too many failed sign-in attempts for this account from your network. "
            f"Wait {pair.wait} and try again, or ask an administrator to unlock it."
        )
    if _attempts(session, now - account.window, by_email) > account.amount:
        raise SignInLocked(
            "Too many failed sign-in attempts for this account from several networks. "
            f"Wait {account.wait}, or ask an administrator to unlock it."
        )
    if _attempts(session, now - per_address.window, by_address) > per_address.amount:
        raise SignInLocked(
            "Too many failed sign-in attempts from this network. "
            f"Wait {per_address.wait} and try again."
        )
    # Old attempts count for nothing any more.
    oldest = now - max(pair.window, account.window, per_address.window)
    session.execute(delete(SignInAttempt).where(SignInAttempt.at <= oldest))
    session.commit()


def locked_emails(
    session: Session, sign_in_limits: SignInLimits, *, now: datetime | None = None
) -> set[str]:
    """Accounts that cannot sign in from at least one address now (for the users page)."""
    now = now or utcnow()
    pair, account = sign_in_limits.per_account_and_address, sign_in_limits.per_account
    by_pair = session.scalars(
        select(SignInAttempt.email)
        .where(SignInAttempt.at > now - pair.window)
        .group_by(SignInAttempt.email, SignInAttempt.address)
        .having(func.count() >= pair.amount)
    )
    by_account = session.scalars(
        select(SignInAttempt.email)
        .where(SignInAttempt.at > now - account.window)
        .group_by(SignInAttempt.email)
        .having(func.count() >= account.amount)
    )
    return set(by_pair) | set(by_account)


def unlock(session: Session, user: User) -> None:
    """Forget the user's failed sign-ins, from every address (an admin's help for a lockout)."""
    session.execute(delete(SignInAttempt).where(SignInAttempt.email == user.email))
    session.commit()


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise AccountError(f"No user has the email {normalise_email(email)}.")
    return user


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


def set_password(session: Session, user: User, new: str) -> None:
    """An admin's reset: a new password, every session ended, and the account unlocked."""
    check_password_strength(new, [user.email])
    user.set_password(new)  # moves the session version on: signed out everywhere
    session.commit()
    unlock(session, user)


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


def set_approver(session: Session, user: User, approver: bool) -> None:
    """Give or take the approver right: approving campaigns that wait for approval (admins
    have it whatever this says)."""
    user.approver = bool(approver)
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
