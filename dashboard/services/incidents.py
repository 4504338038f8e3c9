"""The one place where incident actions happen: the REST API, the Dash console, the simulator and the workers
all call these functions.

Every action (`perform_action`, `create_incident`) runs these steps, in this order:

1. Checks that need no database: a known action, the actor's role (lifecycle.ROLE_ACTIONS), the parameters
   and the idempotency key.
2. Idempotency: an action already recorded under the same key is not taken again; the first result is
   returned with replayed=True. The unique constraint on DispatchAction.idempotency_key is the backstop for
   two requests racing with the same key.
3. Locks: the incident row (SELECT … FOR UPDATE) and, for dispatch and arrive, the unit row (always in the
   order incident, then unit, so two actions never wait on each other in a cycle). SQLite ignores FOR UPDATE,
   so on SQLite the transaction is first made a writer with BEGIN IMMEDIATE (`begin_write`): that takes the
   database's write lock, which serialises writers across threads AND processes (gunicorn workers, RQ
   workers), unlike any in-process lock.
4. The transition (lifecycle.transition) and the checks that need rows (the unit is free, the department
   was summoned, the severity differs …).
5. The effects (incident, units, summons), one DispatchAction row and one audit entry, flushed together in
   the caller's transaction: the caller commits (e.g. dashboard.store.engine.session_scope), so the action and its
   audit entry are written together or not at all. Then the caller calls `notify_change` (after the commit).

Refusals. Anything refused raises ActionRefused with an HTTP-like status (403 role, 404 unknown incident or
unit, 409 illegal transition / unit busy / stale version, 422 bad parameters), a short machine `code`, a
`reason` for people (in English, as the API returns it) and `params` to say it in the user's language
(dashboard.i18n.refusals). Before raising, the service ROLLS BACK the caller's session (so a refused action changes
nothing, and any lock it took is released) and COMMITS an audit entry with outcome "refused" in a separate
short session on the same engine. The caller therefore needs to do nothing for the refusal to be on record,
and must not expect anything it added to the session before the call to survive a refusal: call these
functions in a session of their own.

Database failures. Any other exception (the database went away, a constraint failed) also rolls the session
back and propagates unchanged: nothing was saved, the caller tells the user to retry (the same idempotency
key then makes the retry safe).

Datetimes in the returned dicts are aware UTC datetime objects (the API serialises them as ISO 8601).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.domain.events import validate_event
from dashboard.live import keys
from dashboard.store import dal
from dashboard.store.models import AuditLog, DispatchAction, Incident, Summons, Unit, utcnow

log = logging.getLogger(__name__)

# The source name of incidents created by hand.
CONSOLE_SOURCE: Final = "console"
# Fields a person may give when creating an incident by hand (validated like an ingested incident).
CREATE_FIELDS: Final = ("category", "severity", "title", "description", "lon", "lat", "sensor_id", "ts")
IDEMPOTENCY_KEY_MAX: Final = 128
TEXT_MAX: Final = 2000
LIST_LIMIT_MAX: Final = 1000


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (id, username, role) or the simulator / a worker (id None, role "system")."""

    id: int | None
    username: str
    role: str


@dataclass
class ActionRequest:
    """One action on an incident and its parameters (which ones matter depends on the action)."""

    action: str
    unit_id: int | None = None  # dispatch, arrive
    severity: int | None = None  # change_severity
    reason: str | None = None  # required by reopen and change_severity; recorded for every action
    departments: list[str] | None = None  # whistle
    department: str | None = None  # acknowledge_summons
    note: str | None = None
    # Optional optimistic check: refuse (409 stale) unless the incident still has this version.
    expected_version: int | None = None


class ActionRefused(Exception):
    """An action refused without changing anything (already audited as "refused").

    status: 403 forbidden role, 404 unknown incident/unit, 409 illegal transition / unit busy / stale,
    422 bad parameters. code: short machine code. reason: for people, in English (the API's `error`).
    errors: field -> reason (422 only). params: what the reason is made of (action, state, unit code,
    department …, and "variant" where one code has several reasons), for dashboard.i18n.refusals to say it in
    the user's language.
    """

    def __init__(self, status: int, code: str, reason: str, errors: dict[str, str] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.errors = errors or {}
        self.params = params or {}


@dataclass
class ActionResult:
    """The incident after the action (as get_incident), the DispatchAction id, and whether it was a replay."""

    incident: dict[str, Any]
    action_id: int
    replayed: bool  # True when the idempotency key was seen before: nothing was done twice


# --- transactions -------------------------------------------------------------------------------------


def begin_write(session: Session) -> None:
    """Make the session's transaction a writer now.

    PostgreSQL: nothing to do (row locks do the work). SQLite: issue BEGIN IMMEDIATE unless the connection is
    already in a transaction (pysqlite opens one only before a write, which already holds the write lock). The
    write lock serialises all writers of the database file across processes; others wait up to the
    connection's busy timeout (30 s, see dashboard.store.engine.make_engine).
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if not getattr(dbapi, "in_transaction", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _refuse(session: Session, refusal: ActionRefused, actor: Actor, action: str, incident_id: int | None,
            key: str | None, request: dict[str, Any], now: datetime) -> None:
    """Roll the caller's session back and commit the refusal's audit entry in a session of its own."""
    session.rollback()
    detail = {
        "status": refusal.status,
        "code": refusal.code,
        "reason": refusal.reason,
        "role": actor.role,
        "request": request,
        "idempotency_key": key,
    }
    try:
        with Session(session.get_bind()) as audit_session:
            dal.audit(
                audit_session,
                actor.username,
                action,
                "incident",
                None if incident_id is None else str(incident_id),
                outcome="refused",
                detail=detail,
                at=now,
            )
            audit_session.commit()
    except SQLAlchemyError:
        # The refusal stands (nothing was changed); only its record is lost, so say so loudly.
        log.exception("could not audit a refused %s by %s on incident %s", action, actor.username, incident_id)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """A copy that the JSON audit column can store whatever the caller passed (unknown types as text)."""
    out: dict[str, Any] = json.loads(json.dumps(value, default=str, ensure_ascii=False))
    return out


def _request_detail(req: ActionRequest) -> dict[str, Any]:
    """The non-empty fields of a request, for the audit log."""
    return _jsonable({f.name: getattr(req, f.name) for f in fields(req) if getattr(req, f.name) is not None})


# --- checks without the database ---------------------------------------------------------------------


def _check_role(actor: Actor, action: str) -> None:
    if not lifecycle.may(actor.role, action):
        raise ActionRefused(403, "forbidden", f"the {actor.role!r} role may not {action.replace('_', ' ')}",
                            params={"role": actor.role, "action": action})


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX:
        raise ActionRefused(
            422, "invalid_idempotency_key", f"an idempotency key of 1–{IDEMPOTENCY_KEY_MAX} characters is required",
            params={"max": IDEMPOTENCY_KEY_MAX},
        )


def _text(value: Any, name: str, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise ActionRefused(422, f"{name}_required", f"a {name} is required", {name: "is required"},
                            params={"field": name})
    if len(value) > TEXT_MAX:
        raise ActionRefused(422, "invalid_parameter", f"the {name} is too long",
                            {name: f"at most {TEXT_MAX} characters"},
                            params={"variant": "too_long", "field": name, "max": TEXT_MAX})


def _check_params(req: ActionRequest) -> None:
    """Parameters the action needs, checked before touching the database (422)."""
    a = req.action
    if a in lifecycle.NEEDS_UNIT and (type(req.unit_id) is not int or req.unit_id <= 0):
        raise ActionRefused(422, "unit_required", f"{a} needs the id of a unit", {"unit_id": "is required"},
                            params={"action": a})
    _text(req.reason, "reason", a in lifecycle.NEEDS_REASON)
    _text(req.note, "note", False)
    if a == lifecycle.CHANGE_SEVERITY and (type(req.severity) is not int or req.severity not in c.SEVERITIES):
        raise ActionRefused(422, "invalid_severity", "severity must be 1 (I), 2 (II), 3 (III) or 4 (IV)",
                            {"severity": "must be 1, 2, 3 or 4"})
    if a == lifecycle.WHISTLE:
        deps = req.departments
        if not isinstance(deps, list) or not deps:
            raise ActionRefused(422, "departments_required", "name at least one department to summon",
                                {"departments": "is required"})
        unknown = [d for d in deps if d not in c.DEPARTMENTS]
        if unknown:
            raise ActionRefused(422, "invalid_department", f"unknown department(s): {', '.join(map(str, unknown))}; "
                                f"one of {', '.join(c.DEPARTMENTS)}", {"departments": "unknown department"},
                                params={"variant": "unknown", "departments": [str(d) for d in unknown]})
        if len(set(deps)) != len(deps):
            twice = list(dict.fromkeys(d for d in deps if deps.count(d) > 1))
            raise ActionRefused(422, "invalid_department", "a department is named twice",
                                {"departments": "duplicate department"},
                                params={"variant": "duplicate", "departments": twice})
    if a == lifecycle.ACKNOWLEDGE_SUMMONS and req.department not in c.DEPARTMENTS:
        raise ActionRefused(422, "invalid_department", f"name the department that reports: one of "
                            f"{', '.join(c.DEPARTMENTS)}", {"department": "is required"},
                            params={"variant": "reporting"})
    if req.expected_version is not None and type(req.expected_version) is not int:
        raise ActionRefused(422, "invalid_parameter", "expected_version must be an integer",
                            params={"variant": "version"})


# --- idempotency ---------------------------------------------------------------------------------------


def _replay(session: Session, key: str, incident_id: int | None, action: str, unit_id: int | None,
            now: datetime) -> ActionResult | None:
    """The first result for an idempotency key already used, or None; 422 when it was used for another action."""
    done = session.scalar(select(DispatchAction).where(DispatchAction.idempotency_key == key))
    if done is None:
        return None
    if (
        done.action != action
        or (incident_id is not None and done.incident_id != incident_id)
        or (action in lifecycle.NEEDS_UNIT and done.unit_id != unit_id)
    ):
        raise ActionRefused(422, "idempotency_key_reused",
                            "this idempotency key was already used for a different action; use a new key")
    return ActionResult(get_incident(session, done.incident_id, now), done.id, True)


def _record(session: Session, incident: Incident, action: str, unit_id: int | None, actor: Actor, key: str,
            note: str | None, detail: dict[str, Any], now: datetime) -> ActionResult | int:
    """Flush the action's DispatchAction row and audit entry; its id, or the replay when the key won a race."""
    row = DispatchAction(incident_id=incident.id, unit_id=unit_id, action=action, actor_id=actor.id,
                         idempotency_key=key, note=note, created_at=now)
    session.add(row)
    incident_id = incident.id
    try:
        session.flush()
    except IntegrityError:
        # Another transaction committed the same key meanwhile (the unique constraint): replay its result.
        session.rollback()
        replay = _replay(session, key, None if action == lifecycle.CREATE else incident_id, action, unit_id, now)
        if replay is None:
            raise  # another constraint failed: a real error
        return replay
    dal.audit(session, actor.username, action, "incident", str(incident.id),
              detail={**detail, "action_id": row.id, "role": actor.role}, at=now)
    session.flush()
    return row.id


# --- actions -------------------------------------------------------------------------------------------


def perform_action(
    session: Session,
    incident_id: int,
    req: ActionRequest,
    actor: Actor,
    idempotency_key: str,
    now: datetime | None = None,
) -> ActionResult:
    """Take one action on an incident (see the module docstring for the steps, refusals and failures).

    The caller commits the session afterwards, then calls notify_change. Raises ActionRefused (already
    audited, session rolled back) or a database error (session rolled back, nothing saved).
    """
    now = now or utcnow()
    try:
        if req.action not in lifecycle.ACTIONS:
            raise ActionRefused(422, "unknown_action",
                                f"unknown action {req.action!r}; one of {', '.join(lifecycle.ACTIONS)}",
                                params={"action": str(req.action)})
        _check_role(actor, req.action)
        _check_key(idempotency_key)
        _check_params(req)
        replay = _replay(session, idempotency_key, incident_id, req.action, req.unit_id, now)
        if replay is not None:
            return replay
        begin_write(session)
        return _perform_locked(session, incident_id, req, actor, idempotency_key, now)
    except ActionRefused as refusal:
        _refuse(session, refusal, actor, str(req.action), incident_id, idempotency_key, _request_detail(req), now)
        raise
    except BaseException:
        session.rollback()
        raise


def _lock_incident(session: Session, incident_id: int) -> Incident:
    incident = session.scalar(
        select(Incident).where(Incident.id == incident_id).with_for_update().execution_options(populate_existing=True)
    )
    if incident is None:
        raise ActionRefused(404, "incident_not_found", f"there is no incident {incident_id}",
                            params={"incident_id": incident_id})
    return incident


def _lock_unit(session: Session, unit_id: int | None) -> Unit:
    unit = session.scalar(
        select(Unit).where(Unit.id == unit_id).with_for_update().execution_options(populate_existing=True)
    )
    if unit is None:
        raise ActionRefused(404, "unit_not_found", f"there is no unit {unit_id}", params={"unit_id": unit_id})
    return unit


def _perform_locked(session: Session, incident_id: int, req: ActionRequest, actor: Actor, key: str,
                    now: datetime) -> ActionResult:
    incident = _lock_incident(session, incident_id)
    # Checked again under the lock: a request with the same key may have committed while we waited.
    replay = _replay(session, key, incident_id, req.action, req.unit_id, now)
    if replay is not None:
        return replay
    if req.expected_version is not None and req.expected_version != incident.version:
        raise ActionRefused(409, "stale", f"the incident has changed since you saw it (version {incident.version}, "
                            f"not {req.expected_version}): look again and retry",
                            params={"version": incident.version, "expected": req.expected_version})
    try:
        new_state = lifecycle.transition(incident.state, req.action)
    except lifecycle.IllegalTransition as exc:
        raise ActionRefused(409, "illegal_transition", exc.reason, params=exc.params) from None
    detail: dict[str, Any] = {"from": incident.state, "to": new_state}
    if req.reason:
        detail["reason"] = req.reason
    if req.note:
        detail["note"] = req.note
    unit_id = _EFFECTS[req.action](session, incident, req, actor, now, detail)
    incident.state = new_state
    incident.updated_at = now
    recorded = _record(session, incident, req.action, unit_id, actor, key, req.note, detail, now)
    if isinstance(recorded, ActionResult):
        return recorded
    return ActionResult(get_incident(session, incident_id, now), recorded, False)


# Each effect changes the incident, units or summons, adds to the audit detail, and returns the unit id to
# record on the DispatchAction (or None). Refusals are raised before anything is written.
_Effect = Callable[[Session, Incident, ActionRequest, Actor, datetime, dict[str, Any]], int | None]


def _deadlines(session: Session) -> Any:
    """The deadlines configured now (dashboard.services.tunables, imported here: it builds on this module)."""
    from dashboard.services import tunables as settings

    return settings.load_deadlines(session)


def _acknowledge(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
                 detail: dict[str, Any]) -> int | None:
    inc.acknowledged_at = now
    return None


def _dispatch(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
              detail: dict[str, Any]) -> int | None:
    unit = _lock_unit(s, req.unit_id)
    if unit.incident_id == inc.id:
        raise ActionRefused(409, "unit_already_assigned", f"unit {unit.code} is already dispatched to this incident",
                            params={"unit": unit.code})
    if unit.incident_id is not None:
        raise ActionRefused(409, "unit_busy", f"unit {unit.code} is assigned to incident {unit.incident_id}",
                            params={"variant": "assigned", "unit": unit.code, "incident_id": unit.incident_id})
    if unit.status not in c.UNIT_DISPATCHABLE_STATUSES:
        raise ActionRefused(409, "unit_busy", f"unit {unit.code} is {unit.status.replace('_', ' ')}, not available",
                            params={"variant": "status", "unit": unit.code, "status": unit.status})
    unit.status = "dispatched"
    unit.incident_id = inc.id
    unit.updated_at = now
    detail.update(unit_id=unit.id, unit=unit.code, unit_kind=unit.kind)
    if inc.acknowledged_at is None:
        inc.acknowledged_at = now  # dispatching is acknowledging
    return unit.id


def _arrive(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
            detail: dict[str, Any]) -> int | None:
    unit = _lock_unit(s, req.unit_id)
    if unit.incident_id != inc.id:
        raise ActionRefused(409, "unit_not_assigned", f"unit {unit.code} is not dispatched to this incident",
                            params={"unit": unit.code})
    if unit.status == "on_scene":
        raise ActionRefused(409, "unit_already_on_scene", f"unit {unit.code} is already on scene",
                            params={"unit": unit.code})
    unit.status = "on_scene"
    unit.lon, unit.lat = inc.lon, inc.lat
    unit.updated_at = now
    detail.update(unit_id=unit.id, unit=unit.code, unit_kind=unit.kind)
    return unit.id


def _release(s: Session, inc: Incident, detail: dict[str, Any], now: datetime) -> None:
    released = dal.release_units(s, inc.id, now)
    if released:
        detail["released_units"] = released


def _resolve(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
             detail: dict[str, Any]) -> int | None:
    _release(s, inc, detail, now)
    inc.resolved_at = now
    return None


def _close(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
           detail: dict[str, Any]) -> int | None:
    _release(s, inc, detail, now)
    inc.closed_at = now
    return None


def _cancel(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
            detail: dict[str, Any]) -> int | None:
    _release(s, inc, detail, now)
    inc.closed_at = now
    return None


def _reopen(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
            detail: dict[str, Any]) -> int | None:
    inc.resolved_at = None
    inc.closed_at = None
    inc.escalated_at = None
    inc.acknowledged_at = inc.acknowledged_at or now
    # A fresh clock from now, by severity (the deadlines configured now).
    inc.deadline_at = lifecycle.incident_deadline(inc.severity, now, _deadlines(s).incident_min)
    detail["deadline_at"] = inc.deadline_at.isoformat()
    return None


def _change_severity(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
                     detail: dict[str, Any]) -> int | None:
    assert req.severity is not None  # _check_params
    if req.severity == inc.severity:
        raise ActionRefused(422, "same_severity", f"the severity is already {c.SEVERITY_ROMAN[inc.severity]}",
                            {"severity": "is the current severity"}, params={"severity": inc.severity})
    inc.deadline_at = lifecycle.rescheduled_deadline(inc.deadline_at, inc.severity, req.severity,
                                                     _deadlines(s).incident_min)
    detail.update(from_severity=inc.severity, to_severity=req.severity, deadline_at=inc.deadline_at.isoformat())
    inc.severity = req.severity
    return None


def _whistle(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
             detail: dict[str, Any]) -> int | None:
    departments = list(req.departments or ())
    already = set(s.scalars(select(Summons.department).where(Summons.incident_id == inc.id)))
    again = [d for d in departments if d in already]
    if again:
        raise ActionRefused(409, "already_summoned", f"already summoned: {', '.join(again)}",
                            params={"departments": again})
    deadline = lifecycle.summons_deadline(now, _deadlines(s).summons_min)
    for dep in departments:
        s.add(Summons(incident_id=inc.id, department=dep, summoned_at=now, summoned_by=actor.username,
                      deadline_at=deadline))
    detail.update(departments=departments, deadline_at=deadline.isoformat())
    return None


def _acknowledge_summons(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
                         detail: dict[str, Any]) -> int | None:
    summons = s.scalar(
        select(Summons)
        .where(Summons.incident_id == inc.id, Summons.department == req.department)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if summons is None:
        raise ActionRefused(409, "not_summoned", f"{req.department} was not summoned to this incident",
                            params={"department": req.department})
    if summons.acknowledged_at is not None:
        raise ActionRefused(409, "summons_already_acknowledged", f"{req.department} has already reported",
                            params={"department": req.department})
    summons.acknowledged_at = now
    summons.acknowledged_by = actor.username
    detail.update(department=req.department, late=now > summons.deadline_at)
    return None


def _escalate(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
              detail: dict[str, Any]) -> int | None:
    inc.escalated_at = inc.escalated_at or now
    return None


_EFFECTS: Final[dict[str, _Effect]] = {
    lifecycle.ACKNOWLEDGE: _acknowledge,
    lifecycle.DISPATCH: _dispatch,
    lifecycle.ARRIVE: _arrive,
    lifecycle.RESOLVE: _resolve,
    lifecycle.CLOSE: _close,
    lifecycle.CANCEL: _cancel,
    lifecycle.REOPEN: _reopen,
    lifecycle.CHANGE_SEVERITY: _change_severity,
    lifecycle.WHISTLE: _whistle,
    lifecycle.ACKNOWLEDGE_SUMMONS: _acknowledge_summons,
    lifecycle.ESCALATE: _escalate,
}


def create_incident(
    session: Session,
    fields: dict[str, Any],
    actor: Actor,
    idempotency_key: str,
    now: datetime | None = None,
    *,
    source: str = CONSOLE_SOURCE,
    external_id: str | None = None,
) -> ActionResult:
    """Create an incident by hand (source "console") or from a sensor alarm, validated like an ingested one.

    `fields`: category, severity, title, lon, lat (required); description, sensor_id, ts (ISO 8601 with a
    time zone, default now) optional; any other field is refused (422 with field-level `errors`). Recorded
    as a DispatchAction "create" with its audit entry; the same idempotency key replays the first result.
    `source` and `external_id` name the incident for systems (unique together; default a fresh id).
    """
    now = now or utcnow()
    request = _jsonable(dict(fields)) if isinstance(fields, dict) else {"fields": repr(fields)[:200]}
    try:
        _check_role(actor, lifecycle.CREATE)
        _check_key(idempotency_key)
        ev = _validate_new_incident(fields, now, source, external_id)
        replay = _replay(session, idempotency_key, None, lifecycle.CREATE, None, now)
        if replay is not None:
            return replay
        begin_write(session)
        replay = _replay(session, idempotency_key, None, lifecycle.CREATE, None, now)
        if replay is not None:
            return replay
        incident = dal.incident_from_event(ev, now, source=source, minutes=_deadlines(session).incident_min)
        session.add(incident)
        session.flush()
        detail = {"to": "new", "severity": incident.severity, "category": incident.category}
        recorded = _record(session, incident, lifecycle.CREATE, None, actor, idempotency_key, None, detail, now)
        if isinstance(recorded, ActionResult):
            return recorded
        return ActionResult(get_incident(session, incident.id, now), recorded, False)
    except ActionRefused as refusal:
        _refuse(session, refusal, actor, lifecycle.CREATE, None, idempotency_key, request, now)
        raise
    except BaseException:
        session.rollback()
        raise


def _validate_new_incident(fields: Any, now: datetime, source: str = CONSOLE_SOURCE,
                           external_id: str | None = None) -> dict[str, Any]:
    """The fields of a hand-made incident as a validated event (dashboard.domain.events.validate_event)."""
    if not isinstance(fields, dict):
        raise ActionRefused(422, "invalid_incident", "the incident must be an object of fields",
                            params={"variant": "not_object"})
    unknown = sorted(set(fields) - set(CREATE_FIELDS))
    if unknown:
        raise ActionRefused(422, "invalid_incident", f"unknown field(s) {', '.join(map(str, unknown))}; allowed: "
                            f"{', '.join(CREATE_FIELDS)}", {k: "is not a field of an incident" for k in unknown},
                            params={"variant": "unknown_fields", "fields": [str(k) for k in unknown]})
    raw = {k: v for k, v in fields.items() if v is not None}
    raw.update(event_id=external_id or f"{source}-{uuid.uuid4().hex}", source=source, kind=c.INCIDENT)
    raw.setdefault("ts", now.isoformat())
    ev, rejection = validate_event(raw, now.timestamp())
    if rejection is not None:
        errors = rejection.errors
        raise ActionRefused(422, "invalid_incident", "; ".join(f"{k} {v}" for k, v in errors.items()), errors,
                            params={"variant": "invalid", "fields": list(errors)})
    assert ev is not None
    return ev


# --- reading -------------------------------------------------------------------------------------------


def _incident_dict(inc: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": inc.id,
        "source": inc.source,
        "external_id": inc.external_id,
        "category": inc.category,
        "severity": inc.severity,
        "severity_roman": c.SEVERITY_ROMAN.get(inc.severity, str(inc.severity)),
        "title": inc.title,
        "description": inc.description,
        "state": inc.state,
        "lon": inc.lon,
        "lat": inc.lat,
        "subdistrict": inc.subdistrict,
        "cell": inc.cell,
        "sensor_id": inc.sensor_id,
        "reported_at": inc.reported_at,
        "created_at": inc.created_at,
        "updated_at": inc.updated_at,
        "deadline_at": inc.deadline_at,
        "acknowledged_at": inc.acknowledged_at,
        "escalated_at": inc.escalated_at,
        "resolved_at": inc.resolved_at,
        "closed_at": inc.closed_at,
        "version": inc.version,
        "overdue": inc.state in c.INCIDENT_OPEN_STATES and lifecycle.is_overdue(inc.deadline_at, now),
    }


def _unit_dict(u: Unit) -> dict[str, Any]:
    return {
        "id": u.id,
        "code": u.code,
        "name": u.name,
        "kind": u.kind,
        "status": u.status,
        "incident_id": u.incident_id,
        "lon": u.lon,
        "lat": u.lat,
        "home_lon": u.home_lon,
        "home_lat": u.home_lat,
        "subdistrict": u.subdistrict,
        "updated_at": u.updated_at,
    }


def _summons_dict(sm: Summons, now: datetime) -> dict[str, Any]:
    zh, en = c.DEPARTMENT_NAMES.get(sm.department, (sm.department, sm.department))
    return {
        "id": sm.id,
        "department": sm.department,
        "department_zh": zh,
        "department_en": en,
        "summoned_at": sm.summoned_at,
        "summoned_by": sm.summoned_by,
        "deadline_at": sm.deadline_at,
        "acknowledged_at": sm.acknowledged_at,
        "acknowledged_by": sm.acknowledged_by,
        "escalated_at": sm.escalated_at,
        "overdue": lifecycle.is_overdue(sm.deadline_at, now, sm.acknowledged_at),
    }


def get_incident(session: Session, incident_id: int, now: datetime | None = None) -> dict[str, Any]:
    """One incident with "units" (assigned now), "summons" (each with its clock) and "timeline" (every
    action and audit entry on it, oldest first: at, actor, action, outcome, detail, action_id, unit_id).
    ActionRefused(404) when it does not exist. The caller adds "allowed_actions" for its role
    (lifecycle.allowed_actions(state, role))."""
    now = now or utcnow()
    inc = session.get(Incident, incident_id, populate_existing=True)
    if inc is None:
        raise ActionRefused(404, "incident_not_found", f"there is no incident {incident_id}",
                            params={"incident_id": incident_id})
    out = _incident_dict(inc, now)
    units = session.scalars(select(Unit).where(Unit.incident_id == incident_id).order_by(Unit.code))
    out["units"] = [_unit_dict(u) for u in units]
    summons = session.scalars(select(Summons).where(Summons.incident_id == incident_id).order_by(Summons.id))
    out["summons"] = [_summons_dict(sm, now) for sm in summons]
    out["timeline"] = _timeline(session, inc)
    return out


def _timeline(session: Session, inc: Incident) -> list[dict[str, Any]]:
    actions = {
        a.id: a for a in session.scalars(select(DispatchAction).where(DispatchAction.incident_id == inc.id))
    }
    entries = session.scalars(
        select(AuditLog)
        .where(AuditLog.target_type == "incident", AuditLog.target_id == str(inc.id))
        .order_by(AuditLog.at, AuditLog.id)
    )
    out: list[dict[str, Any]] = []
    if inc.source != CONSOLE_SOURCE:
        out.append({"at": inc.reported_at, "actor": f"source:{inc.source}", "action": "reported", "outcome": "ok",
                    "detail": {"severity": inc.severity, "category": inc.category}, "action_id": None,
                    "unit_id": None})
    for e in entries:
        detail = e.detail or {}
        action_id = detail.get("action_id")
        done = actions.get(action_id) if isinstance(action_id, int) else None
        out.append({"at": e.at, "actor": e.actor, "action": e.action, "outcome": e.outcome, "detail": detail,
                    "action_id": action_id, "unit_id": done.unit_id if done else None})
    return out


def list_incidents(
    session: Session,
    *,
    states: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    subdistrict: str | None = None,
    limit: int = 200,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Incidents (without timeline), most severe first and, within a severity, newest first; filters are
    optional (None: any). ActionRefused(422) for an unknown state or severity."""
    now = now or utcnow()
    query = select(Incident)
    if states:
        bad = [s for s in states if s not in lifecycle.STATES]
        if bad:
            raise ActionRefused(422, "invalid_parameter", f"unknown state(s) {', '.join(map(str, bad))}",
                                params={"variant": "states", "states": [str(b) for b in bad]})
        query = query.where(Incident.state.in_(list(states)))
    if severities:
        if any(s not in c.SEVERITIES for s in severities):
            raise ActionRefused(422, "invalid_parameter", "severity must be 1, 2, 3 or 4",
                                params={"variant": "severities"})
        query = query.where(Incident.severity.in_(list(severities)))
    if subdistrict:
        query = query.where(Incident.subdistrict == subdistrict)
    limit = max(1, min(int(limit), LIST_LIMIT_MAX))
    query = query.order_by(Incident.severity.asc(), Incident.created_at.desc(), Incident.id.desc()).limit(limit)
    return [_incident_dict(inc, now) for inc in session.scalars(query)]


def list_units(session: Session) -> list[dict[str, Any]]:
    """Every unit with its status, position and the incident it is assigned to, by code."""
    return [_unit_dict(u) for u in session.scalars(select(Unit).order_by(Unit.code))]


def suggest_units(session: Session, incident_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The units that are free (constants.UNIT_DISPATCHABLE_STATUSES, assigned to no incident) and suitable for the
    incident's category (constants.CATEGORY_UNIT_KINDS), the best-suited kind first (fire engines before
    ambulances for a fire: a police car 0.5 km away must not hide the fire engine 1.5 km away) and nearest first
    within a kind, each with "distance_km".

    Distance is the straight line (great circle) from the unit's current position to the incident, not the
    road distance or the driving time. Empty when the incident's state allows no dispatch.
    ActionRefused(404) for an unknown incident.
    """
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ActionRefused(404, "incident_not_found", f"there is no incident {incident_id}",
                            params={"incident_id": incident_id})
    if not lifecycle.is_legal(inc.state, lifecycle.DISPATCH):
        return []
    kinds = c.CATEGORY_UNIT_KINDS.get(inc.category, c.UNIT_KINDS)
    units = session.scalars(
        select(Unit).where(
            Unit.status.in_(c.UNIT_DISPATCHABLE_STATUSES), Unit.incident_id.is_(None), Unit.kind.in_(kinds)
        )
    )
    order = {k: i for i, k in enumerate(kinds)}
    ranked = sorted(
        ((geo.distance_km(u.lon, u.lat, inc.lon, inc.lat), u) for u in units),
        key=lambda p: (order.get(p[1].kind, len(order)), p[0], p[1].code),
    )
    return [{**_unit_dict(u), "distance_km": round(d, 3)} for d, u in ranked[: max(0, limit)]]


# --- deadlines (used by workers/deadlines.py) ----------------------------------------------------------


def pending_summons(session: Session) -> list[dict[str, Any]]:
    """Summons neither acknowledged nor escalated, of open incidents (id, incident_id, department, deadline_at)."""
    rows = session.execute(
        select(Summons.id, Summons.incident_id, Summons.department, Summons.deadline_at)
        .join(Incident, Incident.id == Summons.incident_id)
        .where(
            Summons.acknowledged_at.is_(None),
            Summons.escalated_at.is_(None),
            Incident.state.in_(c.INCIDENT_OPEN_STATES),
        )
    )
    return [dict(r._mapping) for r in rows]


def unescalated_open_incidents(session: Session) -> list[dict[str, Any]]:
    """Open incidents not escalated yet (id, severity, deadline_at)."""
    rows = session.execute(
        select(Incident.id, Incident.severity, Incident.deadline_at).where(
            Incident.state.in_(c.INCIDENT_OPEN_STATES), Incident.escalated_at.is_(None)
        )
    )
    return [dict(r._mapping) for r in rows]


def escalate_summons(session: Session, summons_id: int, now: datetime, actor: str = "system") -> int | None:
    """Mark one overdue summons escalated and audit it; its incident id, or None when meanwhile it was
    acknowledged, escalated or its incident ended (the conditional update makes two checkers harmless)."""
    sm = session.scalar(
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
    if sm is None:
        return None
    sm.escalated_at = now
    dal.audit(session, actor, "summons_escalated", "incident", str(sm.incident_id),
              detail={"summons_id": sm.id, "department": sm.department, "deadline_at": sm.deadline_at.isoformat(),
                      "role": lifecycle.SYSTEM_ROLE}, at=now)
    session.flush()
    return sm.incident_id


def escalate_incident(session: Session, incident_id: int, now: datetime, actor: str = "system") -> bool:
    """Mark one overdue open incident escalated (to the leader) and audit it; False when meanwhile it ended,
    was escalated or is no longer overdue."""
    inc = session.scalar(
        select(Incident).where(Incident.id == incident_id).with_for_update().execution_options(populate_existing=True)
    )
    if (
        inc is None
        or inc.state not in c.INCIDENT_OPEN_STATES
        or inc.escalated_at is not None
        or not lifecycle.is_overdue(inc.deadline_at, now)
    ):
        return False
    inc.escalated_at = now
    inc.updated_at = now
    dal.audit(session, actor, "incident_escalated", "incident", str(inc.id),
              detail={"deadline_at": inc.deadline_at.isoformat(), "severity": inc.severity,
                      "role": lifecycle.SYSTEM_ROLE}, at=now)
    session.flush()
    return True


# --- push ------------------------------------------------------------------------------------------------


def notify_change(r: redis.Redis, incident_id: int, action: str | None = None) -> None:
    """After the commit: publish {"incident_id", "action", "ts"} on keys.incidents_channel(db) so that push
    reaches open screens. Raises redis.RedisError (the change itself is saved; screens also poll)."""
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    message = {"incident_id": int(incident_id), "action": action, "ts": time.time()}
    r.publish(keys.incidents_channel(db), json.dumps(message, separators=(",", ":")))
    request_tick(r)


def notify_many(r: redis.Redis, changes: Iterable[tuple[int, str | None]]) -> None:
    """notify_change for several changes in one round trip."""
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    channel = keys.incidents_channel(db)
    pipe = r.pipeline(transaction=False)
    for incident_id, action in changes:
        pipe.publish(channel, json.dumps({"incident_id": int(incident_id), "action": action, "ts": time.time()},
                                         separators=(",", ":")))
    pipe.execute()
    request_tick(r)


# --- an immediate tick after a change -------------------------------------------------------------------

# The RQ job that refreshes the aggregates at once (workers/prompt.py: prompt_tick), named so that the web
# process need not import the workers.
PROMPT_TICK_JOB: Final = "workers.prompt.prompt_tick"
# Set while a prompt tick is queued and not yet started: changes committed meanwhile need no tick of their own
# (the job clears it before it reads anything, so it sees them). Expires with the job's ttl.
PROMPT_TICK_PENDING: Final = keys.PREFIX + "tick:prompt"
PROMPT_TICK_TTL_S: Final = 3


def request_tick(r: redis.Redis) -> bool:
    """After a commit: have the aggregates rebuilt now instead of at the next one-second tick, so that every
    open screen (which refreshes on the tick's `aggregate` push) shows the change well within a second.

    Enqueues PROMPT_TICK_JOB on keys.QUEUE_TICK unless one is already pending; True when it enqueued one.
    Never raises: without it the change still appears on the next regular tick (at most a second later).
    """
    from rq import Queue  # the web process only needs RQ here

    try:
        if not r.set(PROMPT_TICK_PENDING, "1", nx=True, ex=PROMPT_TICK_TTL_S):
            return False
        try:
            Queue(keys.QUEUE_TICK, connection=r).enqueue(
                PROMPT_TICK_JOB, ttl=PROMPT_TICK_TTL_S, failure_ttl=60, result_ttl=10, job_timeout=8
            )
        except BaseException:
            r.delete(PROMPT_TICK_PENDING)
            raise
        return True
    except redis.RedisError as exc:
        log.warning("could not request an immediate tick (the next regular tick shows the change): %s", exc)
        return False
