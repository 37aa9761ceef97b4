"""The one source of "now", and the county's calendar.

Every process makes one :class:`Clock` at its entry point (the bot, the action server, the
command line) and passes it down; tests pass a :class:`FixedClock`.  Instants are kept as
time-zone aware UTC; the dates villagers and agencies see — deadlines, "today", the digest
hour — are dates in the county's zone (China Standard Time, UTC+8, no daylight saving).
The database stores naive UTC (records/adapters/orm.py): :func:`naive_utc` and
:func:`aware_utc` convert at that border.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

__all__ = ["COUNTY_TZ", "Clock", "FixedClock", "aware_utc", "county_date", "naive_utc"]

#: The county's time zone: China Standard Time.
COUNTY_TZ = timezone(timedelta(hours=8), "CST")


def aware_utc(at: datetime) -> datetime:
    """``at`` as an aware UTC instant (a naive value is taken to be UTC already)."""
    if at.tzinfo is None:
        return at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc)


def naive_utc(at: datetime) -> datetime:
    """``at`` as the database stores it: naive UTC."""
    return aware_utc(at).replace(tzinfo=None)


def county_date(at: datetime) -> date:
    """The county's calendar date at instant ``at`` (a naive value is taken to be UTC)."""
    return aware_utc(at).astimezone(COUNTY_TZ).date()


class Clock:
    """The real time."""

    def now(self) -> datetime:
        """The current instant, aware UTC."""
        return datetime.now(timezone.utc)

    def today(self) -> date:
        """Today in the county."""
        return county_date(self.now())

    def county_hour(self) -> int:
        """The hour of the day in the county (0–23)."""
        return self.now().astimezone(COUNTY_TZ).hour


class FixedClock(Clock):
    """A clock that stands still until moved: for tests, benchmarks and replays."""

    def __init__(self, at: datetime) -> None:
        self.at = aware_utc(at)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (or back, with a negative delta)."""
        self.at += delta
