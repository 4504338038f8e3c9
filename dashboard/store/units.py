"""Response units: the registry the demo seeds, their statuses, the locks an action takes, the free units a dispatch
may choose from, their release when an incident ends; and units on the move: the units in given statuses with their
incident's position and their home, a write that takes effect only while the unit is still as it was read
(compare-and-set), and the dispatch an arrival ends.

The simulator's movement job (simulator/units.py) is the caller: it reads the moving units, steps them and writes
each step back with `update_unit_if_unchanged`, so a unit dispatched, released or moved by someone else meanwhile
is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.store.models import DispatchAction, Incident, Unit, utcnow


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


def last_dispatch_to(session: Session, incident_id: int) -> tuple[datetime, int, str] | None:
    """When the latest unit was sent to the incident, and that unit's id and code (None when none ever was)."""
    row = session.execute(
        select(DispatchAction.created_at, Unit.id, Unit.code)
        .join(Unit, Unit.id == DispatchAction.unit_id)
        .where(DispatchAction.incident_id == incident_id, DispatchAction.action == lifecycle.DISPATCH)
        .order_by(DispatchAction.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], int(row[1]), str(row[2]))


def release_units(session: Session, incident_id: int, now: datetime | None = None) -> list[int]:
    """Free every unit assigned to an incident that ended: those on scene head back (returning), those still
    on the way become available. Locks the units; returns their ids."""
    units = session.scalars(
        select(Unit)
        .where(Unit.incident_id == incident_id)
        .order_by(Unit.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    now = now or utcnow()
    for unit in units:
        unit.status = "returning" if unit.status == "on_scene" else "available"
        unit.incident_id = None
        unit.updated_at = now
    return [u.id for u in units]


def seed_units(session: Session, units: Iterable[dict[str, Any]]) -> int:
    """Insert units whose code is not present yet; return how many were added."""
    have = set(session.scalars(select(Unit.code)))
    added = 0
    for u in units:
        if u["code"] in have:
            continue
        session.add(Unit(**u))
        added += 1
    return added


def unit_status_counts(session: Session) -> dict[str, int]:
    """Number of units in each status."""
    rows = session.execute(select(Unit.status, func.count()).group_by(Unit.status))
    return {status: int(n) for status, n in rows}


def list_units(session: Session) -> Sequence[Unit]:
    """Every unit."""
    return session.scalars(select(Unit).order_by(Unit.code)).all()


def set_unit_status(session: Session, unit_id: int, status: str) -> None:
    """Change a unit's status (used by the simulator and, later, dispatch)."""
    session.execute(update(Unit).where(Unit.id == unit_id).values(status=status, updated_at=utcnow()))


def lock_unit(session: Session, unit_id: int | None) -> Unit | None:
    """A unit, locked and re-read, or None."""
    return session.scalar(
        select(Unit).where(Unit.id == unit_id).with_for_update().execution_options(populate_existing=True)
    )


def assigned_units(session: Session, incident_id: int) -> list[Unit]:
    """The units assigned to an incident now, by code."""
    return list(session.scalars(select(Unit).where(Unit.incident_id == incident_id).order_by(Unit.code)))


def units_by_id(session: Session, unit_ids: Iterable[int]) -> dict[int, Unit]:
    """The units of `unit_ids` that exist, by id."""
    wanted = sorted(set(unit_ids))
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(wanted)))}


def free_units(session: Session, kinds: Iterable[str]) -> list[Unit]:
    """Units of these kinds that may be dispatched (rules.UNIT_DISPATCHABLE_STATUSES, assigned to no incident)."""
    return list(session.scalars(
        select(Unit).where(
            Unit.status.in_(c.UNIT_DISPATCHABLE_STATUSES), Unit.incident_id.is_(None), Unit.kind.in_(list(kinds))
        )
    ))


def count_units(session: Session) -> int:
    """How many units are registered."""
    return int(session.scalar(select(func.count()).select_from(Unit)) or 0)
