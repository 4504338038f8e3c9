"""Data access: every SQL query of the app and the workers lives here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard import constants as c
from dashboard.events import Event
from dashboard.lifecycle import incident_deadline
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
    at: datetime | None = None,
) -> None:
    """Append one audit entry in the caller's transaction (`at` defaults to now)."""
    session.add(
        AuditLog(
            at=at or utcnow(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            detail=detail,
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


def incident_from_event(ev: Event, now: datetime, source: str | None = None) -> Incident:
    """A new incident row from a validated incident event (ingest and the console share it)."""
    reported = _dt(ev["ts"])
    return Incident(
        source=source or ev["source"],
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
        deadline_at=incident_deadline(ev["severity"], reported),
    )


def _insert_incident(session: Session, ev: Event) -> bool:
    """Insert one incident row from a validated event."""
    session.add(incident_from_event(ev, utcnow()))
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
    # Locked like every incident action (incident_service), so a source's end and a dispatcher's action serialise.
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
        released = release_units(session, incident.id, incident.updated_at)
        audit(
            session,
            f"source:{ev['source']}",
            f"incident_{status}",
            "incident",
            str(incident.id),
            detail={"released_units": released} if released else None,
        )
    session.flush()
    return True


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


# --- schema -----------------------------------------------------------------------------------


def upgrade_schema(engine: Engine) -> list[str]:
    """Add the columns the models have gained since their table was created; return "table.column" of each.

    create_all never alters an existing table and the project has no migrations yet, so this covers the only
    kind of change made so far: new columns that are nullable or have a server default (with their foreign key),
    on SQLite and PostgreSQL. Safe to run at every start and from two processes at once. Run it BEFORE
    db.init_db, whose index creation may name the new columns.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlalchemy.schema import CreateColumn

    from dashboard.models import Base

    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    prep = engine.dialect.identifier_preparer
    added: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in tables:
            continue  # a new table: init_db creates it whole
        have = {col["name"] for col in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name in have:
                continue
            if not col.nullable and col.server_default is None:
                raise RuntimeError(f"cannot add NOT NULL column {table.name}.{col.name} without a server default")
            ddl = str(CreateColumn(col).compile(dialect=engine.dialect))
            for fk in col.foreign_keys:
                ddl += f" REFERENCES {prep.quote(fk.column.table.name)} ({prep.quote(fk.column.name)})"
            guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {guard}{ddl}"))
            except (OperationalError, ProgrammingError) as exc:
                if "duplicate column" not in str(exc).lower():  # SQLite: another process added it meanwhile
                    raise
                continue
            added.append(f"{table.name}.{col.name}")
    return added


def ping(session: Session) -> None:
    """Raise when the database cannot answer a trivial query."""
    session.execute(text("SELECT 1"))


def set_unit_status(session: Session, unit_id: int, status: str) -> None:
    """Change a unit's status (used by the simulator and, later, dispatch)."""
    session.execute(update(Unit).where(Unit.id == unit_id).values(status=status, updated_at=utcnow()))


# --- API tokens -------------------------------------------------------------------------------

# Prefix of every API token: tells it apart from the ingest token and lets secret scanners spot it.
API_TOKEN_PREFIX = "dct_"
# last_used_at is refreshed at most this often, so an API client does not write a row on every request.
API_TOKEN_TOUCH_EVERY = timedelta(seconds=60)


def _token_digest(plaintext: str) -> str:
    """Hex SHA-256 of a token: what the database stores instead of the token."""
    import hashlib

    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_api_token(session: Session, user: User, name: str) -> tuple[Any, str]:
    """Create an API token for `user`; return the row and the plaintext token (shown once, never stored)."""
    import secrets

    from dashboard.models import ApiToken

    plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name[:64], token_hash=_token_digest(plaintext), created_at=utcnow())
    session.add(row)
    session.flush()
    audit(session, user.username, "api_token_create", "api_token", str(row.id), detail={"name": row.name})
    return row, plaintext


def user_for_token(session: Session, plaintext: str, now: datetime | None = None) -> User | None:
    """The active user owning this unrevoked token, else None.

    The token is looked up by its SHA-256 (an attacker timing the index lookup learns about hashes, not the
    token), and the stored hash is compared in constant time.
    """
    import hmac

    from dashboard.models import ApiToken

    if not plaintext or len(plaintext) > 256:
        return None
    digest = _token_digest(plaintext)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= API_TOKEN_TOUCH_EVERY:
        row.last_used_at = now
    return user


def list_api_tokens(session: Session, user_id: int | None = None) -> list[Any]:
    """API tokens (all, or one user's), oldest first; the rows never hold a usable token."""
    from dashboard.models import ApiToken

    query = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_api_token(session: Session, token_id: int, actor: str) -> bool:
    """Revoke a token at once; False when there is no such token or it was already revoked."""
    from dashboard.models import ApiToken

    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit(session, actor, "api_token_revoke", "api_token", str(token_id))
    return True
