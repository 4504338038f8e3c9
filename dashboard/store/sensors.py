"""The sensor registry (一杆多感): which sensor stands where."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from dashboard.domain.paging import LIKE_ESCAPE, PAGE_SIZE, Page, like_pattern, page_of
from dashboard.store.models import (
    Sensor,
)

SEED_CHUNK = 5_000


def seed_sensors(session: Session, sensors: Iterable[dict[str, Any]]) -> int:
    """Register sensors not present yet; return how many were added."""
    have = set(session.scalars(select(Sensor.id)))
    rows = [s for s in sensors if s["id"] not in have]
    # One executemany in chunks, not an ORM object each: a 50,000-sensor roll-out registers in seconds.
    for k in range(0, len(rows), SEED_CHUNK):
        session.execute(insert(Sensor), rows[k : k + SEED_CHUNK])
    return len(rows)


def sensor_registry(session: Session) -> list[dict[str, Any]]:
    """Every registered sensor as plain dicts (id, type, lon, lat, subdistrict)."""
    rows = session.execute(select(Sensor.id, Sensor.type, Sensor.lon, Sensor.lat, Sensor.subdistrict))
    return [dict(r._mapping) for r in rows]


def count_sensors(session: Session) -> int:
    """How many sensors are registered."""
    return int(session.scalar(select(func.count()).select_from(Sensor)) or 0)


def registry_signature(session: Session) -> tuple[int, str, str]:
    """What changes whenever sensors are registered or removed: how many there are and the first and last ids (on the
    primary key's index, so the tick re-reads 50,000 rows only when it changes)."""
    n, lo, hi = session.execute(select(func.count(), func.min(Sensor.id), func.max(Sensor.id))).one()
    return int(n or 0), str(lo or ""), str(hi or "")


def sensors_page(
    session: Session, query: str, number: int, size: int = PAGE_SIZE, subdistricts: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], Page]:
    """(rows, page) of page `number` of the registry by id (brought inside the table: paging.page_of): the sensors
    whose id, pole, type or subdistrict code contains `query` ("" for all), or that stand in one of `subdistricts`
    (named in the search text). The database counts and pages, so a page costs the same at 50,000 sensors."""
    cond: Any = None
    if query:
        pattern = like_pattern(query)
        cond = or_(*(col.like(pattern, escape=LIKE_ESCAPE)
                     for col in (Sensor.id, Sensor.pole_id, Sensor.type, Sensor.subdistrict)))
        if subdistricts:
            cond = or_(cond, Sensor.subdistrict.in_(list(subdistricts)))
    count = select(func.count()).select_from(Sensor)
    cols = (Sensor.id, Sensor.type, Sensor.pole_id, Sensor.lon, Sensor.lat, Sensor.subdistrict)
    rows = select(*cols).order_by(Sensor.id)
    if cond is not None:
        count, rows = count.where(cond), rows.where(cond)
    page = page_of(number, int(session.scalar(count) or 0), size)
    return [dict(r._mapping) for r in session.execute(rows.offset(page.offset).limit(page.size))], page
