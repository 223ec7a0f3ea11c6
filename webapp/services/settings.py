"""Workspace settings stored in the database, with defaults from the app config."""

from __future__ import annotations

import phonenumbers
from sqlalchemy.orm import Session

from webapp.models import Setting


class SettingError(ValueError):
    pass


def get_setting(session: Session, key: str, default: str) -> str:
    row = session.get(Setting, key)
    return row.value if row is not None else default


def set_setting(session: Session, key: str, value: str) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
    session.commit()


def default_country(session: Session, fallback: str) -> str:
    """The region for numbers written without a country code (admin setting, else config)."""
    return get_setting(session, "default_country", fallback)


def set_default_country(session: Session, country: str) -> str:
    country = country.strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingError(f"{country or 'An empty value'} is not a country code such as DK or SE.")
    set_setting(session, "default_country", country)
    return country
