"""SQL of units on the move: the units in given statuses with their incident's position and their home, a write that
takes effect only while the unit is still as it was read (compare-and-set), and the dispatch an arrival ends.

The simulator's movement job (simulator/units.py) is the caller: it reads the moving units, steps them and writes
each step back with `update_unit_if_unchanged`, so a unit dispatched, released or moved by someone else meanwhile
is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dashboard.domain import lifecycle
from dashboard.store.models import DispatchAction, Incident, Unit


@dataclass(frozen=True)
class UnitOnTheMove:
    """A unit as read, with its home and the position of the incident it is assigned to (None when none is)."""

    id: int
    kind: str
    status: str
    lon: float
    lat: float
    incident_id: int | None
    updated_at: datetime
    home_lon: float
    home_lat: float
    incident_lon: float | None
    incident_lat: float | None


def units_in_status(session: Session, statuses: Sequence[str]) -> list[UnitOnTheMove]:
    """The units whose status is one of `statuses`, by id, with their home and their incident's position."""
    rows = session.execute(
        select(Unit.id, Unit.kind, Unit.status, Unit.lon, Unit.lat, Unit.incident_id, Unit.updated_at,
               Unit.home_lon, Unit.home_lat, Incident.lon, Incident.lat)
        .outerjoin(Incident, Incident.id == Unit.incident_id)
        .where(Unit.status.in_(statuses))
        .order_by(Unit.id)
    ).all()
    return [UnitOnTheMove(*row) for row in rows]


def update_unit_if_unchanged(
    session: Session,
    unit: UnitOnTheMove,
    status: str,
    *,
    lon: float | None = None,
    lat: float | None = None,
    updated_at: datetime | None = None,
) -> bool:
    """Set the unit's status (and position, and updated_at, when given) only if its status, incident and updated_at
    are still as read in `unit`; True when they were and the row was written."""
    values: dict[str, Any] = {"status": status}
    if lon is not None:
        values["lon"] = lon
    if lat is not None:
        values["lat"] = lat
    if updated_at is not None:
        values["updated_at"] = updated_at
    cond = [Unit.id == unit.id, Unit.status == unit.status, Unit.updated_at == unit.updated_at]
    cond.append(Unit.incident_id.is_(None) if unit.incident_id is None else Unit.incident_id == unit.incident_id)
    result = session.execute(update(Unit).where(*cond).values(**values).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def last_dispatch_id(session: Session, unit_id: int, incident_id: int) -> int | None:
    """The id of the latest dispatch of the unit to the incident (None when it was never dispatched to it)."""
    return session.scalar(
        select(func.max(DispatchAction.id)).where(
            DispatchAction.incident_id == incident_id,
            DispatchAction.unit_id == unit_id,
            DispatchAction.action == lifecycle.DISPATCH,
        )
    )
