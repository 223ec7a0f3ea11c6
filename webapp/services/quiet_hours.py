"""Quiet hours: marketing messages only inside allowed hours of the recipient's own local time.

The zone comes from the number's country through phonenumbers' time-zone data; a country with
several zones (or a calling code shared by several countries, such as +1) is open only when
every one of its zones is. The window is the same local clock hours every allowed day; Sundays
and listed dates may be closed. Times are computed as UTC intervals, so daylight-saving changes
and midnight need no special case.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones
from sqlalchemy.orm import Session

from webapp.services.settings import SettingError, get_setting, set_setting

HORIZON_DAYS = 14  # how far ahead to look for the window to open (e.g. past a long holiday)
ENABLED_SETTING, START_SETTING, END_SETTING = "quiet_enabled", "quiet_start", "quiet_end"
SUNDAYS_SETTING, DATES_SETTING = "quiet_no_sundays", "quiet_dates"


@dataclass(frozen=True)
class QuietHours:
    """When marketing messages may arrive, in the recipient's local time."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    no_sundays: bool = False
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def open_on(self, day: date) -> bool:
        if self.no_sundays and day.weekday() == 6:
            return False
        return day not in self.closed_dates


@dataclass(frozen=True)
class CountryWindow:
    """A country's window around a moment: open now (until ``closes_at``) or opening later."""

    country: str
    zones: tuple[str, ...]
    is_open: bool
    opens_at: datetime | None  # now when open; None when it does not open within the horizon
    closes_at: datetime | None

    def waits_text(self, hours: QuietHours) -> str:
        """ "SE: waits until 08:00 Stockholm time" (the first zone's name for a wide country)."""
        if self.opens_at is None:
            return f"{self.country}: no allowed hours in the next {HORIZON_DAYS} days."
        # Name the zone that opens last: there the wait ends at the window's own start.
        zone = next(
            (z for z in self.zones if self.opens_at.astimezone(ZoneInfo(z)).time() == hours.start),
            self.zones[0],
        )
        place = zone.split("/")[-1].replace("_", " ")
        local = self.opens_at.astimezone(ZoneInfo(zone))
        more = f" (and {len(self.zones) - 1} more zones)" if len(self.zones) > 1 else ""
        return f"{self.country}: waits until {local:%H:%M} {place} time{more}, {local:%a %d %b}."


@functools.cache
def zones_of(country: str) -> tuple[str, ...]:
    """The time zones of a country in phonenumbers' data (UTC if unknown).

    The data is keyed by number prefix. A calling code shared by several countries (+1, +7)
    has prefixes per area; those whose numbers belong to ``country`` are its zones. Other
    countries have one entry for the whole calling code.
    """
    code = phonenumbers.country_code_for_region(country or "")
    if not code:
        return ("UTC",)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(country)
    length = max(metadata.general_desc.possible_length or (10,))
    found: set[str] = set()
    for prefix, zones in phone_timezones.TIMEZONE_DATA.items():
        national = prefix[len(str(code)) :]
        if not prefix.startswith(str(code)) or not national:
            continue
        # A number of that prefix, completed to full length, tells whose area it is.
        number = phonenumbers.PhoneNumber(
            country_code=code, national_number=int((national + "5" * length)[:length])
        )
        if phonenumbers.region_code_for_number(number) == country:
            found.update(zones)
    if not found:
        found.update(phone_timezones.TIMEZONE_DATA.get(str(code)) or ())
    found.discard(phone_timezones.UNKNOWN_TIMEZONE)
    return tuple(sorted(found)) or ("UTC",)


def _allowed(zone: str, hours: QuietHours, around: datetime) -> list[tuple[datetime, datetime]]:
    """The allowed intervals (UTC) in one zone, from the day before ``around`` to the horizon."""
    tz = ZoneInfo(zone)
    first = around.astimezone(tz).date() - timedelta(days=1)
    intervals = []
    for offset in range(HORIZON_DAYS + 2):
        day = first + timedelta(days=offset)
        if hours.open_on(day):
            opens = datetime.combine(day, hours.start, tz).astimezone(UTC)
            closes = datetime.combine(day, hours.end, tz).astimezone(UTC)
            intervals.append((opens, closes))
    return intervals


def _intersect(a, b):
    result, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def country_window(country: str, hours: QuietHours, at: datetime) -> CountryWindow:
    """Whether ``country`` may receive at ``at``, until when, or when it opens next."""
    zones = zones_of(country)
    intervals = _allowed(zones[0], hours, at)
    for zone in zones[1:]:
        intervals = _intersect(intervals, _allowed(zone, hours, at))
    for opens, closes in intervals:
        if closes <= at:
            continue
        is_open = opens <= at
        return CountryWindow(country, zones, is_open, at if is_open else opens, closes)
    return CountryWindow(country, zones, False, None, None)


def held_countries(countries, hours: QuietHours | None, at: datetime) -> dict[str, CountryWindow]:
    """The countries among ``countries`` that are inside their quiet hours at ``at``."""
    if hours is None:
        return {}
    windows = (country_window(c or "", hours, at) for c in sorted(set(countries), key=str))
    return {w.country: w for w in windows if not w.is_open}


def waiting_countries(
    session: Session, campaign, hours: QuietHours | None, at: datetime
) -> list[str]:
    """What the campaign page says while countries wait: one line per held country."""
    from sqlalchemy import select

    from webapp.models import Batch, BatchState

    if hours is None or not campaign.status.is_live:
        return []
    countries = session.scalars(
        select(Batch.country)
        .where(
            Batch.campaign_id == campaign.id,
            Batch.state == BatchState.PENDING,
            Batch.country.is_not(None),
        )
        .distinct()
    )
    return [w.waits_text(hours) for w in held_countries(list(countries), hours, at).values()]


# --- The workspace setting -------------------------------------------------------------------


def quiet_hours(session: Session, config) -> QuietHours | None:
    """The workspace's quiet hours, or None when they are switched off."""
    enabled = get_setting(session, ENABLED_SETTING, "1" if config["QUIET_HOURS"] else "0")
    if enabled != "1":
        return None
    return QuietHours(
        start=time.fromisoformat(get_setting(session, START_SETTING, config["QUIET_HOURS_START"])),
        end=time.fromisoformat(get_setting(session, END_SETTING, config["QUIET_HOURS_END"])),
        no_sundays=get_setting(
            session, SUNDAYS_SETTING, "1" if config["QUIET_HOURS_NO_SUNDAYS"] else "0"
        )
        == "1",
        closed_dates=frozenset(
            parse_dates(get_setting(session, DATES_SETTING, config["QUIET_HOURS_CLOSED_DATES"]))
        ),
    )


def parse_dates(text: str) -> list[date]:
    """Dates as typed: YYYY-MM-DD, separated by commas, spaces or lines."""
    days = []
    for part in (text or "").replace(",", " ").split():
        try:
            days.append(date.fromisoformat(part))
        except ValueError:
            raise SettingError(f"{part} is not a date written as YYYY-MM-DD.") from None
    return sorted(set(days))


def set_quiet_hours(
    session: Session, *, enabled: bool, start: str, end: str, no_sundays: bool, dates: str
) -> QuietHours | None:
    """Save the setting; raises SettingError naming what is wrong."""
    try:
        opens, closes = time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise SettingError("Write the hours as HH:MM, such as 08:00 and 21:00.") from None
    if opens >= closes:
        raise SettingError("The allowed hours must start before they end (within one day).")
    closed = parse_dates(dates)
    set_setting(session, ENABLED_SETTING, "1" if enabled else "0")
    set_setting(session, START_SETTING, opens.strftime("%H:%M"))
    set_setting(session, END_SETTING, closes.strftime("%H:%M"))
    set_setting(session, SUNDAYS_SETTING, "1" if no_sundays else "0")
    set_setting(session, DATES_SETTING, " ".join(d.isoformat() for d in closed))
    if not enabled:
        return None
    return QuietHours(opens, closes, no_sundays, frozenset(closed))
