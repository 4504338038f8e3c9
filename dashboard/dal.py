"""Data access: every SQL query of the app and the workers lives here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard import constants as c
from dashboard.events import Event
from dashboard.models import AuditLog, HotlineTicket, Incident, Sensor, Unit, User, utcnow


def _dt(epoch: float) -> datetime:
    """Epoch seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, UTC)


# --- users ------------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User | None:
    """A user by primary key."""
    return session.get(User, user_id)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def upsert_user(session: Session, username: str, display_name: str, role: str, password: str) -> User:
    """Create a user, or reset an existing one's password and role."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=display_name, role=role, password_hash="")
        session.add(user)
    user.role = role
    user.display_name = display_name
    user.password_hash = generate_password_hash(password)
    user.active = True
    return user


# --- audit ------------------------------------------------------------------------------------


def audit(
    session: Session,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction."""
    session.add(
        AuditLog(
            actor=actor, action=action, target_type=target_type, target_id=target_id, outcome=outcome, detail=detail
        )
    )


def recent_audit(session: Session, limit: int = 100) -> Sequence[AuditLog]:
    """The newest audit entries."""
    return session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)).all()


# --- registry (units, sensors) --------------------------------------------------------------


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


def seed_sensors(session: Session, sensors: Iterable[dict[str, Any]]) -> int:
    """Register sensors not present yet; return how many were added."""
    have = set(session.scalars(select(Sensor.id)))
    added = 0
    for s in sensors:
        if s["id"] in have:
            continue
        session.add(Sensor(**s))
        added += 1
    return added


def sensor_registry(session: Session) -> list[dict[str, Any]]:
    """Every registered sensor as plain dicts (id, type, lon, lat, subdistrict)."""
    rows = session.execute(select(Sensor.id, Sensor.type, Sensor.lon, Sensor.lat, Sensor.subdistrict))
    return [dict(r._mapping) for r in rows]


def unit_status_counts(session: Session) -> dict[str, int]:
    """Number of units in each status."""
    rows = session.execute(select(Unit.status, func.count()).group_by(Unit.status))
    return {status: int(n) for status, n in rows}


def list_units(session: Session) -> Sequence[Unit]:
    """Every unit."""
    return session.scalars(select(Unit).order_by(Unit.code)).all()


# --- durable events ---------------------------------------------------------------------------


@dataclass
class StoreResult:
    """What happened to the durable events of one ingest request."""

    stored: list[Event]
    duplicates: list[Event]
    unknown: list[Event]  # updates for tickets that do not exist


def store_durable(session: Session, events: Sequence[Event]) -> StoreResult:
    """Write incidents, tickets and their updates in one transaction; duplicates are skipped."""
    result = StoreResult([], [], [])
    for ev in events:
        kind = ev["kind"]
        try:
            with session.begin_nested():
                if not _DURABLE_WRITERS[kind](session, ev):
                    result.unknown.append(ev)
                    continue
        except IntegrityError:
            result.duplicates.append(ev)
            continue
        result.stored.append(ev)
    if result.stored:
        audit(
            session,
            f"ingest:{result.stored[0]['source']}",
            "ingest_durable",
            detail={"stored": len(result.stored), "duplicates": len(result.duplicates)},
        )
    return result


def _insert_incident(session: Session, ev: Event) -> bool:
    """Insert one incident row from a validated event."""
    reported = _dt(ev["ts"])
    now = utcnow()
    session.add(
        Incident(
            source=ev["source"],
            external_id=ev["event_id"],
            category=ev["category"],
            severity=ev["severity"],
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
            deadline_at=reported + timedelta(minutes=c.INCIDENT_DEADLINE_MIN[ev["severity"]]),
        )
    )
    session.flush()
    return True


def _insert_ticket(session: Session, ev: Event) -> bool:
    """Insert one hotline ticket from a validated event."""
    received = _dt(ev["ts"])
    session.add(
        HotlineTicket(
            source=ev["source"],
            ticket_id=ev["ticket_id"],
            category=ev["category"],
            summary=ev.get("summary"),
            lon=ev["lon"],
            lat=ev["lat"],
            subdistrict=ev["subdistrict"],
            cell=ev["cell"],
            status="received",
            received_at=received,
            deadline_at=received + timedelta(hours=c.HOTLINE_DEADLINE_H[ev["category"]]),
        )
    )
    session.flush()
    return True


def _update_ticket(session: Session, ev: Event) -> bool:
    """Apply a status update to a ticket; False when the ticket is unknown."""
    at = _dt(ev["ts"])
    status = ev["status"]
    values: dict[str, Any] = {"status": status}
    column = {"responded": "responded_at", "resolved": "resolved_at", "closed": "closed_at"}[status]
    values[column] = at
    if status in ("resolved", "closed"):
        values.setdefault("responded_at", at)
    if status == "closed" and ev.get("satisfied") is not None:
        values["satisfied"] = ev["satisfied"]
    ticket = session.scalar(
        select(HotlineTicket).where(HotlineTicket.source == ev["source"], HotlineTicket.ticket_id == ev["ticket_id"])
    )
    if ticket is None:
        return False
    # Keep the earliest time of each step: a repeated update must not move a clock.
    for key, value in values.items():
        if key.endswith("_at") and getattr(ticket, key) is not None:
            continue
        setattr(ticket, key, value)
    session.flush()
    return True


def _end_incident(session: Session, ev: Event) -> bool:
    """Apply a source's report that its incident was resolved, closed or cancelled; False when unknown."""
    incident = session.scalar(
        select(Incident).where(Incident.source == ev["source"], Incident.external_id == ev["incident_id"])
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
        audit(session, f"source:{ev['source']}", f"incident_{status}", "incident", str(incident.id))
    session.flush()
    return True


# How each durable kind is written; False means "refers to something that does not exist".
_DURABLE_WRITERS = {
    c.INCIDENT: _insert_incident,
    c.INCIDENT_UPDATE: _end_incident,
    c.HOTLINE_TICKET: _insert_ticket,
    c.HOTLINE_UPDATE: _update_ticket,
}


def open_incidents(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """Open incidents as plain dicts, most severe then newest first."""
    rows = session.execute(
        select(
            Incident.id,
            Incident.title,
            Incident.category,
            Incident.severity,
            Incident.state,
            Incident.subdistrict,
            Incident.lon,
            Incident.lat,
            Incident.created_at,
            Incident.deadline_at,
        )
        .where(Incident.state.in_(c.INCIDENT_OPEN_STATES))
        .order_by(Incident.severity.asc(), Incident.created_at.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def incident_counts(session: Session, since: datetime, now: datetime) -> dict[str, Any]:
    """Counts for the incident summary: open by severity and state, overdue, today by category."""
    open_filter = Incident.state.in_(c.INCIDENT_OPEN_STATES)
    by_sev = session.execute(select(Incident.severity, func.count()).where(open_filter).group_by(Incident.severity))
    by_state = session.execute(select(Incident.state, func.count()).where(open_filter).group_by(Incident.state))
    overdue = session.scalar(select(func.count()).where(open_filter, Incident.deadline_at < now)) or 0
    by_cat = session.execute(
        select(Incident.category, func.count()).where(Incident.created_at >= since).group_by(Incident.category)
    )
    return {
        "open_by_severity": {str(s): int(n) for s, n in by_sev},
        "open_by_state": {s: int(n) for s, n in by_state},
        "overdue": int(overdue),
        "today_by_category": {k: int(n) for k, n in by_cat},
    }


def tickets_since(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """Lightweight rows of the tickets received since `since`, for the hotline aggregate."""
    rows = session.execute(
        select(
            HotlineTicket.category,
            HotlineTicket.subdistrict,
            HotlineTicket.cell,
            HotlineTicket.received_at,
            HotlineTicket.deadline_at,
            HotlineTicket.responded_at,
            HotlineTicket.resolved_at,
            HotlineTicket.satisfied,
        ).where(HotlineTicket.received_at >= since)
    )
    return [tuple(r) for r in rows]


def overdue_ticket_count(session: Session, now: datetime) -> int:
    """Open tickets of any day that are past their deadline."""
    return int(
        session.scalar(
            select(func.count()).where(HotlineTicket.resolved_at.is_(None), HotlineTicket.deadline_at < now)
        )
        or 0
    )


def ping(session: Session) -> None:
    """Raise when the database cannot answer a trivial query."""
    session.execute(text("SELECT 1"))


def set_unit_status(session: Session, unit_id: int, status: str) -> None:
    """Change a unit's status (used by the simulator and, later, dispatch)."""
    session.execute(update(Unit).where(Unit.id == unit_id).values(status=status, updated_at=utcnow()))
