"""Data access: every SQL query of the app and the workers lives here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.domain import rules as c
from dashboard.domain.events import Event
from dashboard.domain.lifecycle import incident_deadline
from dashboard.store.models import AuditLog, HotlineTicket, Incident, Sensor, Setting, Summons, Unit, User, utcnow


def _dt(epoch: float) -> datetime:
    """Epoch seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, UTC)


# --- users ------------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User | None:
    """A user by primary key."""
    return session.get(User, user_id)


def set_user_language(session: Session, user_id: int, lang: str) -> bool:
    """Remember a user's UI language (their next sign-in, on any screen, starts in it); False for no such user."""
    done = session.execute(update(User).where(User.id == user_id).values(language=lang))
    return bool(done.rowcount)  # type: ignore[attr-defined]


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


def incident_from_event(
    ev: Event, now: datetime, source: str | None = None, minutes: Mapping[int, int] | None = None
) -> Incident:
    """A new incident row from a validated incident event (ingest and the console share it); `minutes` are
    the deadlines by severity (dashboard.services.tunables: the administrator's, default the constants')."""
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
        deadline_at=incident_deadline(ev["severity"], reported, minutes or c.INCIDENT_DEADLINE_MIN),
    )


def _insert_incident(session: Session, ev: Event) -> bool:
    """Insert one incident row from a validated event, with the deadlines configured now."""
    from dashboard.services import tunables as settings  # here: settings reads its documents through this module

    session.add(incident_from_event(ev, utcnow(), minutes=settings.load_deadlines(session).incident_min))
    session.flush()
    return True


def _insert_ticket(session: Session, ev: Event) -> bool:
    """Insert one hotline ticket from a validated event, with the deadline configured now for its category."""
    from dashboard.services import tunables as settings  # here: settings reads its documents through this module

    received = _dt(ev["ts"])
    hours = settings.load_deadlines(session).hotline_h[ev["category"]]
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
            deadline_at=received + timedelta(hours=hours),
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
    # Keep the earliest time of each step: a repeated update must not move a clock; and a late or repeated update
    # of an earlier step (a "responded" arriving after "closed") never moves the status back.
    order = c.HOTLINE_STATUSES.index
    for key, value in values.items():
        if key.endswith("_at") and getattr(ticket, key) is not None:
            continue
        if key == "status" and ticket.status in c.HOTLINE_STATUSES and order(value) <= order(ticket.status):
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
            Incident.sensor_id,
            Incident.escalated_at,
        )
        .where(Incident.state.in_(c.INCIDENT_OPEN_STATES))
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
        .where(Incident.state.in_(c.INCIDENT_OPEN_STATES), Incident.sensor_id.is_not(None))
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
    open_filter = Incident.state.in_(c.INCIDENT_OPEN_STATES)
    by_sev = session.execute(select(Incident.severity, func.count()).where(open_filter).group_by(Incident.severity))
    by_state = session.execute(select(Incident.state, func.count()).where(open_filter).group_by(Incident.state))
    overdue = session.scalar(select(func.count()).where(open_filter, Incident.deadline_at < now)) or 0
    # Today's incidents are those *reported* today, as the daily report counts them (dashboard/report.py), not those
    # stored today: one reported at 23:59 and stored a second after midnight belongs to the day it happened.
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


# The ticket columns workers.hotline.compute_hotline reads, in its row order (the daily report reads the same).
TICKET_ROW_COLUMNS: Final = (
    HotlineTicket.category,
    HotlineTicket.subdistrict,
    HotlineTicket.cell,
    HotlineTicket.received_at,
    HotlineTicket.deadline_at,
    HotlineTicket.responded_at,
    HotlineTicket.resolved_at,
    HotlineTicket.satisfied,
)


def tickets_since(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """Lightweight rows of the tickets received since `since`, for the hotline aggregate: TICKET_ROW_COLUMNS, then
    the id of the case the ticket belongs to (None when it is alone or was split off its case)."""
    from dashboard.store.models import CaseLink

    rows = session.execute(
        select(*TICKET_ROW_COLUMNS, CaseLink.case_id)
        .outerjoin(CaseLink, (CaseLink.ticket_id == HotlineTicket.id) & (CaseLink.decision != "split"))
        .where(HotlineTicket.received_at >= since)
    )
    return [tuple(r) for r in rows]


def overdue_tickets_by_cell(session: Session, now: datetime) -> dict[str, int]:
    """Open tickets of any day past their deadline, counted by grid cell (for the map; their sum is the KPI)."""
    rows = session.execute(
        select(HotlineTicket.cell, func.count())
        .where(HotlineTicket.resolved_at.is_(None), HotlineTicket.deadline_at < now)
        .group_by(HotlineTicket.cell)
    )
    return {str(cell): int(n) for cell, n in rows}


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

    from dashboard.store.models import Base

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

    from dashboard.store.models import ApiToken

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

    from dashboard.store.models import ApiToken

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
    from dashboard.store.models import ApiToken

    query = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_api_token(session: Session, token_id: int, actor: str) -> bool:
    """Revoke a token at once; False when there is no such token or it was already revoked."""
    from dashboard.store.models import ApiToken

    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit(session, actor, "api_token_revoke", "api_token", str(token_id))
    return True


# --- administration (users, settings, the audit view) -----------------------------------------


def list_users(session: Session) -> Sequence[User]:
    """Every user, by user name."""
    return session.scalars(select(User).order_by(User.username)).all()


def user_by_name(session: Session, username: str) -> User | None:
    """A user by user name."""
    return session.scalar(select(User).where(User.username == username))


def lock_user(session: Session, user_id: int) -> User | None:
    """A user row, locked for the rest of the transaction (PostgreSQL; SQLite takes its write lock first)."""
    return session.scalar(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    )


def active_admin_ids(session: Session, lock: bool = False) -> list[int]:
    """Ids of the active administrators; with `lock`, their rows stay locked until the commit, so that two
    administrators demoting each other at once cannot leave none."""
    query = select(User.id).where(User.role == "admin", User.active.is_(True)).order_by(User.id)
    if lock:
        query = query.with_for_update()
    return [int(i) for i in session.scalars(query)]


def create_user(session: Session, username: str, display_name: str, role: str, password: str) -> User:
    """Add a new active user with a hashed password (as upsert_user hashes it); flushed, so it has an id."""
    user = User(username=username, display_name=display_name, role=role, active=True,
                password_hash=generate_password_hash(password), created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace a user's password by the hash of a new one."""
    user.password_hash = generate_password_hash(password)


def get_setting(session: Session, key: str) -> Setting | None:
    """One settings document (from the session's identity map when already loaded: one read per session)."""
    return session.get(Setting, key)


def lock_setting(session: Session, key: str) -> Setting | None:
    """One settings document, locked and re-read, before it is replaced."""
    return session.scalar(
        select(Setting).where(Setting.key == key).with_for_update().execution_options(populate_existing=True)
    )


def put_setting(session: Session, key: str, value: dict[str, Any], actor: str, now: datetime) -> Setting:
    """Store a settings document (insert or replace) and count the save in its version; flushed."""
    row = lock_setting(session, key)
    if row is None:
        row = Setting(key=key, value=value, version=1, updated_at=now, updated_by=actor)
        session.add(row)
    else:
        row.value = value
        row.version = int(row.version or 0) + 1
        row.updated_at = now
        row.updated_by = actor
    session.flush()
    return row


def query_audit(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """One page of the audit log, newest first, and how many entries match in all.

    actor: part of the actor's name (any case); action: the action or its start ("admin_" …); outcome: exact;
    target: "type:id", or a value matched against the target's type or id; since/until: [since, until).
    """
    conds: list[Any] = []
    if actor:
        conds.append(func.lower(AuditLog.actor).contains(actor.lower(), autoescape=True))
    if action:
        conds.append(AuditLog.action.startswith(action, autoescape=True))
    if outcome:
        conds.append(AuditLog.outcome == outcome)
    if target:
        ttype, sep, tid = target.partition(":")
        if sep:
            conds += [AuditLog.target_type == ttype, AuditLog.target_id == tid]
        else:
            conds.append((AuditLog.target_type == target) | (AuditLog.target_id == target))
    if since is not None:
        conds.append(AuditLog.at >= since)
    if until is not None:
        conds.append(AuditLog.at < until)
    total = int(session.scalar(select(func.count()).select_from(AuditLog).where(*conds)) or 0)
    rows = session.scalars(
        select(AuditLog).where(*conds).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


# --- cases (热线+网格, issue 5): the linking job (workers/linking.py) and the case service -----------------


def unchecked_tickets(session: Session, since: datetime, limit: int = 5000) -> list[dict[str, Any]]:
    """Tickets received since `since` that the linker has not considered yet, oldest first (id, category, lon, lat,
    cell, subdistrict, received_at)."""
    from dashboard.store.models import LinkCheck

    rows = session.execute(
        select(HotlineTicket.id, HotlineTicket.category, HotlineTicket.lon, HotlineTicket.lat, HotlineTicket.cell,
               HotlineTicket.subdistrict, HotlineTicket.received_at)
        .outerjoin(LinkCheck, LinkCheck.ticket_id == HotlineTicket.id)
        .where(LinkCheck.ticket_id.is_(None), HotlineTicket.received_at >= since)
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def checked_tickets_since(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Tickets received since `since` that the linker has considered, with their link if any (the ticket fields of
    unchecked_tickets, then case_id and decision, both None for a lone ticket)."""
    from dashboard.store.models import CaseLink, LinkCheck

    rows = session.execute(
        select(HotlineTicket.id, HotlineTicket.category, HotlineTicket.lon, HotlineTicket.lat, HotlineTicket.cell,
               HotlineTicket.subdistrict, HotlineTicket.received_at, CaseLink.case_id, CaseLink.decision)
        .join(LinkCheck, LinkCheck.ticket_id == HotlineTicket.id)
        .outerjoin(CaseLink, CaseLink.ticket_id == HotlineTicket.id)
        .where(HotlineTicket.received_at >= since)
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
    )
    return [dict(r._mapping) for r in rows]


def cases_active_since(session: Session, since: datetime) -> list[Any]:
    """Cases whose latest ticket arrived since `since` (those a new ticket may still join)."""
    from dashboard.store.models import Case

    return list(session.scalars(select(Case).where(Case.last_at >= since).order_by(Case.id)))


def link_incidents(session: Session, ids: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Open incidents, and any others named in `ids`, as the linker sees them (id, category, lon, lat, cell,
    reported_at)."""
    wanted = [int(i) for i in ids]
    cond: Any = Incident.state.in_(c.INCIDENT_OPEN_STATES)
    if wanted:
        cond = cond | Incident.id.in_(wanted)
    rows = session.execute(
        select(Incident.id, Incident.category, Incident.lon, Incident.lat, Incident.cell, Incident.reported_at)
        .where(cond)
        .order_by(Incident.id)
    )
    return [dict(r._mapping) for r in rows]


def mark_checked(session: Session, ticket_ids: Iterable[int], now: datetime) -> None:
    """Record that the linker considered these tickets (the primary key makes a second run fail, not repeat)."""
    from dashboard.store.models import LinkCheck

    session.add_all(LinkCheck(ticket_id=int(i), checked_at=now) for i in ticket_ids)


def open_cases(session: Session, limit: int = 100, case_id: int | None = None) -> list[Any]:
    """Open cases (a ticket still in it and unresolved), newest (latest ticket) first; or the one case `case_id`
    whether open or not."""
    from dashboard.store.models import Case, CaseLink

    query = select(Case)
    if case_id is not None:
        query = query.where(Case.id == case_id)
    else:
        unresolved = (
            select(CaseLink.id)
            .join(HotlineTicket, HotlineTicket.id == CaseLink.ticket_id)
            .where(CaseLink.case_id == Case.id, CaseLink.decision != "split", HotlineTicket.resolved_at.is_(None))
            .exists()
        )
        query = query.where(unresolved).order_by(Case.last_at.desc(), Case.id.desc()).limit(limit)
    return list(session.scalars(query))


def case_links_of(session: Session, case_ids: Iterable[int]) -> list[tuple[Any, Any]]:
    """(CaseLink, HotlineTicket) of these cases, split links included, in the order the tickets arrived."""
    from dashboard.store.models import CaseLink

    ids = [int(i) for i in case_ids]
    if not ids:
        return []
    rows = session.execute(
        select(CaseLink, HotlineTicket)
        .join(HotlineTicket, HotlineTicket.id == CaseLink.ticket_id)
        .where(CaseLink.case_id.in_(ids))
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
    )
    return [(link, ticket) for link, ticket in rows]


def case_decisions_of(session: Session, case_id: int) -> list[Any]:
    """The dispatchers' decisions on a case's links, oldest first."""
    from dashboard.store.models import CaseDecision

    return list(session.scalars(select(CaseDecision).where(CaseDecision.case_id == case_id)
                                .order_by(CaseDecision.id)))


def case_decision_by_key(session: Session, key: str) -> Any:
    """The decision recorded under an idempotency key, else None."""
    from dashboard.store.models import CaseDecision

    return session.scalar(select(CaseDecision).where(CaseDecision.idempotency_key == key))


def lock_case_link(session: Session, case_id: int, link_id: int) -> Any:
    """A case's link, locked and re-read for a decision; None when the case has no such link."""
    from dashboard.store.models import CaseLink

    return session.scalar(
        select(CaseLink)
        .where(CaseLink.id == link_id, CaseLink.case_id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# --- 未诉先办 early warning (workers/early_warning.py) -------------------------------------------


def ticket_places_since(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """(cell, subdistrict, category, received_at) of every ticket received since `since`: the early warning's
    seasonal baseline (a few weeks of tickets, read every few minutes, never by a callback)."""
    rows = session.execute(
        select(HotlineTicket.cell, HotlineTicket.subdistrict, HotlineTicket.category, HotlineTicket.received_at)
        .where(HotlineTicket.received_at >= since)
    )
    return [tuple(r) for r in rows]


# --- the command line (ops/): counts for `dongcheng db bootstrap` -----------------------------------------


def registry_totals(session: Session) -> tuple[int, int]:
    """(units, sensors) registered."""
    units = int(session.scalar(select(func.count()).select_from(Unit)) or 0)
    sensors = int(session.scalar(select(func.count()).select_from(Sensor)) or 0)
    return units, sensors
