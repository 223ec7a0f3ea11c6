"""Quiet hours per country in the recipient's local time, across DST changes and midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from webapp.services.quiet_hours import QuietHours, country_window, held_countries, zones_of

DEFAULT = QuietHours()


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_a_country_inside_its_hours_is_open_until_they_close():
    window = country_window("DK", DEFAULT, utc(2026, 12, 1, 12, 0))  # 13:00 in Copenhagen
    assert window.is_open and window.closes_at == utc(2026, 12, 1, 20, 0)  # 21:00 CET


def test_late_evening_waits_past_midnight_until_eight_next_morning():
    window = country_window("SE", DEFAULT, utc(2026, 12, 1, 22, 30))  # 23:30 in Stockholm
    assert not window.is_open
    assert window.opens_at == utc(2026, 12, 2, 7, 0)  # 08:00 CET the next day
    assert window.waits_text(DEFAULT) == "SE: waits until 08:00 Stockholm time, Wed 02 Dec."


def test_a_window_that_crosses_midnight_in_utc():
    # 08:00 in Tokyo is 23:00 UTC the day before: at 23:30 UTC Japan is open.
    window = country_window("JP", DEFAULT, utc(2026, 12, 1, 23, 30))
    assert window.is_open and window.closes_at == utc(2026, 12, 2, 12, 0)


@pytest.mark.parametrize(
    ("at", "opens"),
    [
        # Spring forward in Europe on 29 March 2026: 08:00 is 07:00 UTC before, 06:00 after.
        (utc(2026, 3, 28, 6, 30), utc(2026, 3, 28, 7, 0)),
        (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 6, 0)),
        # Fall back on 25 October 2026: 08:00 is 06:00 UTC before, 07:00 after.
        (utc(2026, 10, 25, 6, 30), utc(2026, 10, 25, 7, 0)),
    ],
)
def test_the_window_follows_daylight_saving_changes(at, opens):
    window = country_window("DK", DEFAULT, at)
    assert not window.is_open and window.opens_at == opens


def test_a_country_with_several_zones_is_open_only_when_all_are():
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(zones_of("US"))
    assert "America/Toronto" not in zones_of("US")  # +1 is shared: only the US's own areas
    # 15:00 in New York is 10:00 in Honolulu: open. 12:00 in New York is 07:00 in Honolulu.
    assert country_window("US", DEFAULT, utc(2026, 12, 1, 20, 0)).is_open
    window = country_window("US", DEFAULT, utc(2026, 12, 1, 17, 0))
    assert not window.is_open
    assert window.opens_at == utc(2026, 12, 1, 18, 0)  # 08:00 in Honolulu, the last to open
    assert window.waits_text(DEFAULT).endswith(
        f"08:00 Adak time (and {len(zones_of('US')) - 1} more zones), Tue 01 Dec."
    )


def test_sundays_and_listed_dates_are_closed():
    hours = QuietHours(no_sundays=True, closed_dates=frozenset({date(2026, 12, 24)}))
    # Sunday 6 December at noon: wait until Monday 08:00.
    assert country_window("DK", hours, utc(2026, 12, 6, 11, 0)).opens_at == utc(2026, 12, 7, 7, 0)
    assert country_window("DK", hours, utc(2026, 12, 24, 11, 0)).opens_at == utc(2026, 12, 25, 7, 0)


def test_held_countries_names_only_those_in_quiet_hours():
    at = utc(2026, 12, 1, 21, 30)  # 22:30 in Denmark, 06:30 in Tokyo
    held = held_countries(["DK", "JP", "DK"], QuietHours(start=time(8), end=time(21)), at)
    assert set(held) == {"DK", "JP"}
    assert held_countries(["US"], DEFAULT, at) == {}  # 16:30 in New York, 11:30 in Honolulu
    assert held_countries(["DK"], None, at) == {}
