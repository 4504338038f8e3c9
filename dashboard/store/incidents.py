"""Incidents, the units sent to them, the 吹哨报到 summons and the dispatch actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from dashboard.domain import rules as c
from dashboard.domain.events import Event
from dashboard.domain.lifecycle import incident_deadline
from dashboard.store import audit_log, settings, units
from dashboard.store.models import (
    DispatchAction,
    Incident,
    Summons,
    utcnow,
)


def _dt(epoch: float) -> datetime:
    """Epoch seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, UTC)


def is_open() -> ColumnElement[bool]:
    """The incident is open, with its states rendered as literals: the same condition as the predicate of the
    partial index on open incidents (models.OPEN_INCIDENT_SQL), so that SQLite and PostgreSQL can use that index."""
    states: BindParameter[list[str]] = bindparam(
        "open_states", list(c.INCIDENT_OPEN_STATES), expanding=True, literal_execute=True
    )
    return Incident.state.in_(states)


def incident_from_event(
    ev: Event, now: datetime, source: str | None = None, minutes: Mapping[int, int] | None = None
) -> Incident:
    """A new incident row from a validated incident event (ingest and the console share it); `minutes` are
    the deadlines by severity (dashboard.domain.tunables: the administrator's, default the rules')."""
    reported = _dt(ev["ts"])
    return Incident(
        source=source or ev["source"],
        external_id=ev["event_id"],
        category=ev["category"],
        severity=ev["severity"],
        reported_severity=ev["severity"],
        title=ev["title"],
        description=ev.get("description"),
        state="new",
        lon=ev["lon"],
        lat=ev["lat"],
        subdistrict=ev["subdistrict"],
        cell=ev["cell"],
        sensor_id=ev.get("sensor_id"),
        reported_at=reported,
        created_at=now,
        updated_at=now,
        deadline_at=incident_deadline(ev["severity"], reported, minutes or c.INCIDENT_DEADLINE_MIN),
    )


def insert_incident(session: Session, ev: Event) -> bool:
    """Insert one incident row from a validated event, with the deadlines configured now."""
    session.add(incident_from_event(ev, utcnow(), minutes=settings.load_deadlines(session).incident_min))
    session.flush()
    return True


def end_incident(session: Session, ev: Event) -> bool:
    """Apply a source's report that its incident was resolved, closed or cancelled; False when unknown."""
    # Locked like every incident action (dashboard.services.incidents), so a source's end and a dispatcher's
    # action serialise.
    incident = session.scalar(
        select(Incident)
        .where(Incident.source == ev["source"], Incident.external_id == ev["incident_id"])
        .with_for_update()
    )
    if incident is None:
        return False
    at = _dt(ev["ts"])
    status = ev["status"]
    # An end state is final: a late or repeated report never reopens or moves a clock.
    if incident.state in c.INCIDENT_OPEN_STATES or (incident.state == "resolved" and status == "closed"):
        incident.state = status
        if status in ("resolved", "closed") and incident.resolved_at is None:
            incident.resolved_at = at
        if status in ("closed", "cancelled") and incident.closed_at is None:
            incident.closed_at = at
        incident.updated_at = utcnow()
        released = units.release_units(session, incident.id, incident.updated_at)
        audit_log.record(
            session,
            f"{c.SOURCE_ACTOR}{ev['source']}",
            f"incident_{status}",
            "incident",
            str(incident.id),
            detail={"released_units": released} if released else None,
        )
    session.flush()
    return True


def open_incidents(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """Open incidents as plain dicts, most severe then newest first."""
    rows = session.execute(
        select(
            Incident.id,
            Incident.title,
            Incident.category,
            Incident.severity,
            Incident.reported_severity,
            Incident.state,
            Incident.subdistrict,
            Incident.lon,
            Incident.lat,
            Incident.created_at,
            Incident.deadline_at,
            Incident.sensor_id,
            Incident.escalated_at,
        )
        .where(is_open())
        .order_by(Incident.severity.asc(), Incident.created_at.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def summons_of(session: Session, incident_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The 吹哨报到 summons of these incidents (incident_id, department, deadline, acknowledged, escalated)."""
    ids = list(incident_ids)
    if not ids:
        return []
    rows = session.execute(
        select(
            Summons.incident_id,
            Summons.department,
            Summons.summoned_at,
            Summons.deadline_at,
            Summons.acknowledged_at,
            Summons.escalated_at,
        )
        .where(Summons.incident_id.in_(ids))
        .order_by(Summons.incident_id, Summons.deadline_at, Summons.id)
    )
    return [dict(r._mapping) for r in rows]


def open_sensor_incidents(session: Session) -> dict[str, dict[str, Any]]:
    """Open incidents linked to a sensor, by sensor id: {id, severity, external_id} (the newest when several)."""
    rows = session.execute(
        select(Incident.sensor_id, Incident.id, Incident.severity, Incident.external_id)
        .where(is_open(), Incident.sensor_id.is_not(None))
        .order_by(Incident.created_at.asc(), Incident.id.asc())
    )
    return {str(sid): {"id": int(iid), "severity": int(sev), "external_id": ext} for sid, iid, sev, ext in rows}


def incidents_by_external_id(session: Session, source: str, external_ids: Iterable[str]) -> dict[str, int]:
    """external_id -> incident id of the incidents of `source` with these external ids (e.g. from warnings)."""
    wanted = list(external_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Incident.external_id, Incident.id).where(Incident.source == source, Incident.external_id.in_(wanted))
    )
    return {str(ext): int(iid) for ext, iid in rows}


def incident_counts(session: Session, since: datetime, now: datetime) -> dict[str, Any]:
    """Counts for the incident summary: open by severity and state, overdue, today by category."""
    open_filter = is_open()
    by_sev = session.execute(select(Incident.severity, func.count()).where(open_filter).group_by(Incident.severity))
    by_state = session.execute(select(Incident.state, func.count()).where(open_filter).group_by(Incident.state))
    overdue = session.scalar(select(func.count()).where(open_filter, Incident.deadline_at < now)) or 0
    # Today's incidents are those *reported* today, as the daily report counts them (dashboard/report/build.py), not
    # those stored today: one reported at 23:59 and stored a second after midnight belongs to the day it happened.
    by_cat = session.execute(
        select(Incident.category, func.count())
        .where(Incident.reported_at >= since)
        .group_by(Incident.category)
    )
    return {
        "open_by_severity": {str(s): int(n) for s, n in by_sev},
        "open_by_state": {s: int(n) for s, n in by_state},
        "overdue": int(overdue),
        "today_by_category": {k: int(n) for k, n in by_cat},
    }


# --- what the incident service reads and locks --------------------------------------------------------------


def get_incident(session: Session, incident_id: int, fresh: bool = False) -> Incident | None:
    """An incident by id; `fresh` re-reads it from the database even when the session holds it already."""
    if fresh:
        return session.get(Incident, incident_id, populate_existing=True)
    return session.get(Incident, incident_id)


def lock_incident(session: Session, incident_id: int) -> Incident | None:
    """An incident, locked (SELECT … FOR UPDATE) and re-read, or None."""
    return session.scalar(
        select(Incident).where(Incident.id == incident_id).with_for_update().execution_options(populate_existing=True)
    )


def add_incident(session: Session, incident: Incident) -> None:
    """Insert a new incident row; flushed, so it has its id."""
    session.add(incident)
    session.flush()


def action_by_key(session: Session, key: str) -> DispatchAction | None:
    """The dispatch action recorded under an idempotency key, else None."""
    return session.scalar(select(DispatchAction).where(DispatchAction.idempotency_key == key))


def add_action(session: Session, incident_id: int, unit_id: int | None, action: str, actor_id: int | None, key: str,
               note: str | None, now: datetime) -> DispatchAction:
    """Insert one dispatch action and flush it (IntegrityError when its idempotency key was taken meanwhile)."""
    row = DispatchAction(incident_id=incident_id, unit_id=unit_id, action=action, actor_id=actor_id,
                         idempotency_key=key, note=note, created_at=now)
    session.add(row)
    session.flush()
    return row


def actions_of(session: Session, incident_id: int) -> dict[int, DispatchAction]:
    """An incident's dispatch actions by id."""
    return {a.id: a for a in session.scalars(select(DispatchAction).where(DispatchAction.incident_id == incident_id))}


def find_incidents(session: Session, states: Sequence[str] | None, severities: Sequence[int] | None,
                   subdistrict: str | None, limit: int) -> list[Incident]:
    """Incidents matching the filters (None: any), most severe first and, within a severity, newest first."""
    query = select(Incident)
    if states:
        query = query.where(Incident.state.in_(list(states)))
    if severities:
        query = query.where(Incident.severity.in_(list(severities)))
    if subdistrict:
        query = query.where(Incident.subdistrict == subdistrict)
    query = query.order_by(Incident.severity.asc(), Incident.created_at.desc(), Incident.id.desc()).limit(limit)
    return list(session.scalars(query))


def summons_list(session: Session, incident_id: int) -> list[Summons]:
    """An incident's summons in the order they were made."""
    return list(session.scalars(select(Summons).where(Summons.incident_id == incident_id).order_by(Summons.id)))


def summoned_departments(session: Session, incident_id: int) -> set[str]:
    """The departments already summoned to an incident."""
    return set(session.scalars(select(Summons.department).where(Summons.incident_id == incident_id)))


def add_summons(session: Session, incident_id: int, department: str, at: datetime, by: str,
                deadline: datetime) -> None:
    """Summon one department (吹哨) to an incident with its deadline to report."""
    session.add(Summons(incident_id=incident_id, department=department, summoned_at=at, summoned_by=by,
                        deadline_at=deadline))


def lock_summons(session: Session, incident_id: int, department: str) -> Summons | None:
    """A department's summons to an incident, locked and re-read, or None when it was not summoned."""
    return session.scalar(
        select(Summons)
        .where(Summons.incident_id == incident_id, Summons.department == department)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# --- deadlines (workers/deadlines.py through the incident service) -------------------------------------------


def pending_summons(session: Session) -> list[dict[str, Any]]:
    """Summons neither acknowledged nor escalated, of open incidents (id, incident_id, department, deadline_at)."""
    rows = session.execute(
        select(Summons.id, Summons.incident_id, Summons.department, Summons.deadline_at)
        .join(Incident, Incident.id == Summons.incident_id)
        .where(
            Summons.acknowledged_at.is_(None),
            Summons.escalated_at.is_(None),
            is_open(),
        )
    )
    return [dict(r._mapping) for r in rows]


def unescalated_open_incidents(session: Session) -> list[dict[str, Any]]:
    """Open incidents not escalated yet (id, severity, deadline_at)."""
    rows = session.execute(
        select(Incident.id, Incident.severity, Incident.deadline_at).where(
            is_open(), Incident.escalated_at.is_(None)
        )
    )
    return [dict(r._mapping) for r in rows]


def lock_pending_summons(session: Session, summons_id: int) -> Summons | None:
    """A summons still pending (neither acknowledged nor escalated, its incident open), locked; else None."""
    return session.scalar(
        select(Summons)
        .join(Incident, Incident.id == Summons.incident_id)
        .where(
            Summons.id == summons_id,
            Summons.acknowledged_at.is_(None),
            Summons.escalated_at.is_(None),
            Incident.state.in_(c.INCIDENT_OPEN_STATES),
        )
        .with_for_update(of=Summons)
        .execution_options(populate_existing=True)
    )
