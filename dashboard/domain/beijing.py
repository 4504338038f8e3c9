"""Beijing time, defined once: the zone every screen shows, the day and the hour as the people on the wall count
them. Storage is UTC; conversion happens at the edges with these helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

# China has used UTC+8 all year since 1991 (no daylight saving), so a fixed offset is exact for every date the
# system handles and needs no tz database on the machine.
OFFSET_S: Final = 8 * 3600
BEIJING: Final = timezone(timedelta(seconds=OFFSET_S), "CST")
# "+08:00", as ISO 8601 writes the offset.
OFFSET_ISO: Final = "+08:00"
DAY_S: Final = 86_400
HOUR_S: Final = 3600


def to_beijing(epoch_s: float) -> datetime:
    """Epoch seconds (UTC) as an aware datetime in Beijing time."""
    return datetime.fromtimestamp(epoch_s, BEIJING)


def local_date(epoch_s: float) -> date:
    """The Beijing calendar day of an epoch time."""
    return to_beijing(epoch_s).date()


def day_start(now: float) -> float:
    """Epoch seconds of the Beijing midnight that starts the day containing `now`."""
    return float((int(now) + OFFSET_S) // DAY_S * DAY_S - OFFSET_S)


def date_start(day: date) -> float:
    """Epoch seconds of the Beijing midnight that starts calendar day `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING).timestamp()


def hour_of(epoch_s: float) -> int:
    """Beijing hour of day (0–23) of an epoch time."""
    return int((epoch_s + OFFSET_S) % DAY_S // HOUR_S)


def epoch(dt: datetime) -> float:
    """Epoch seconds of a datetime; naive datetimes are taken as UTC (SQLite hands them back naive)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def utc_datetime(ts: float) -> datetime:
    """Aware UTC datetime of an epoch time (what the SQL layer expects)."""
    return datetime.fromtimestamp(ts, UTC)
