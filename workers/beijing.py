"""Beijing-time helpers: the day and the hour as the people on the wall count them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Final

# China has used UTC+8 all year since 1991 (no DST), so a fixed offset is exact and needs no tz database.
BEIJING_TZ: Final = timezone(timedelta(hours=8), "Asia/Shanghai")
_OFFSET_S: Final = 8 * 3600
_DAY_S: Final = 86_400


def day_start(now: float) -> float:
    """Epoch seconds of the Beijing midnight that starts the day containing `now`."""
    return float((int(now) + _OFFSET_S) // _DAY_S * _DAY_S - _OFFSET_S)


def hour_of(epoch: float) -> int:
    """Beijing hour of day (0–23) of an epoch time."""
    return int((epoch + _OFFSET_S) % _DAY_S // 3600)


def epoch(dt: datetime) -> float:
    """Epoch seconds of a datetime; naive datetimes are taken as UTC (SQLite hands them back naive)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def utc_datetime(ts: float) -> datetime:
    """Aware UTC datetime of an epoch time (what the SQL layer expects)."""
    return datetime.fromtimestamp(ts, UTC)
