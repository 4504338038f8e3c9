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
   audit entry are written together or not at all. Then the caller calls dashboard.live.publish.notify_change
   (after the commit).

Refusals (dashboard.services.base). Anything refused raises Refused with an HTTP-like status (403 role, 404
unknown incident or unit, 409 illegal transition / unit busy / stale version, 422 bad parameters), a short
machine `code`, a `reason` for people (in English, as the API returns it) and `params` to say it in the user's
language (dashboard.i18n.refusals), after the caller's session was rolled back and the refusal audited in a
session of its own: call these functions in a session of their own.

Database failures. Any other exception (the database went away, a constraint failed) also rolls the session
back and propagates unchanged: nothing was saved, the caller tells the user to retry (the same idempotency
key then makes the retry safe).

Reading incidents and units is in dashboard.services.incident_reads, the escalation of overdue deadlines in
dashboard.services.escalation. Datetimes in the returned dicts are aware UTC datetime objects (the API serialises
them as ISO 8601).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.domain.events import validate_event
from dashboard.domain.tunables import Deadlines
from dashboard.services.base import TEXT_MAX, Actor, Refused, check_idempotency_key, jsonable, refuse
from dashboard.services.incident_reads import get_incident
from dashboard.store.engine import begin_write
from dashboard.store.models import Incident, Unit, utcnow

log = logging.getLogger(__name__)

# Fields a person may give when creating an incident by hand (validated like an ingested incident).
CREATE_FIELDS: Final = ("category", "severity", "title", "description", "lon", "lat", "sensor_id", "ts")


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
    # Dispatch: hold a unit sent within lifecycle.SECOND_UNIT_CONFIRM_S of another to the same incident (raise
    # SecondUnit) until the user confirms it (sent again without this). The console always asks; the API on request.
    hold_second_unit: bool | None = None


@dataclass
class ActionResult:
    """The incident after the action (as get_incident), the DispatchAction id, and whether it was a replay."""

    incident: dict[str, Any]
    action_id: int
    replayed: bool  # True when the idempotency key was seen before: nothing was done twice


class SecondUnit(Refused):
    """A dispatch held until the user confirms it: another unit was sent to the incident a moment ago.

    Nothing was changed and nothing is audited (no action was taken; the confirmed one will be). `params` name
    the unit held (unit, unit_kind) and the one sent before (previous, seconds ago).
    """


# --- transactions -------------------------------------------------------------------------------------


def _request_detail(req: ActionRequest) -> dict[str, Any]:
    """The non-empty fields of a request, for the audit log."""
    return jsonable({f.name: getattr(req, f.name) for f in fields(req) if getattr(req, f.name) is not None})


# --- checks without the database ---------------------------------------------------------------------


def _check_role(actor: Actor, action: str) -> None:
    if not lifecycle.may(actor.role, action):
        raise Refused(403, "forbidden", f"the {actor.role!r} role may not {action.replace('_', ' ')}",
                      params={"role": actor.role, "action": action})


def _text(value: Any, name: str, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise Refused(422, f"{name}_required", f"a {name} is required", {name: "is required"},
                      params={"field": name})
    if len(value) > TEXT_MAX:
        raise Refused(422, "invalid_parameter", f"the {name} is too long",
                      {name: f"at most {TEXT_MAX} characters"},
                      params={"variant": "too_long", "field": name, "max": TEXT_MAX})


def _check_params(req: ActionRequest) -> None:
    """Parameters the action needs, checked before touching the database (422)."""
    a = req.action
    if a in lifecycle.NEEDS_UNIT and (type(req.unit_id) is not int or req.unit_id <= 0):
        raise Refused(422, "unit_required", f"{a} needs the id of a unit", {"unit_id": "is required"},
                      params={"action": a})
    _text(req.reason, "reason", a in lifecycle.NEEDS_REASON)
    _text(req.note, "note", False)
    if a == lifecycle.CHANGE_SEVERITY and (type(req.severity) is not int or req.severity not in c.SEVERITIES):
        raise Refused(422, "invalid_severity", "severity must be 1 (I), 2 (II), 3 (III) or 4 (IV)",
                      {"severity": "must be 1, 2, 3 or 4"})
    if a == lifecycle.WHISTLE:
        deps = req.departments
        if not isinstance(deps, list) or not deps:
            raise Refused(422, "departments_required", "name at least one department to summon",
                          {"departments": "is required"})
        unknown = [d for d in deps if d not in c.DEPARTMENTS]
        if unknown:
            raise Refused(422, "invalid_department", f"unknown department(s): {', '.join(map(str, unknown))}; "
                          f"one of {', '.join(c.DEPARTMENTS)}", {"departments": "unknown department"},
                          params={"variant": "unknown", "departments": [str(d) for d in unknown]})
        if len(set(deps)) != len(deps):
            twice = list(dict.fromkeys(d for d in deps if deps.count(d) > 1))
            raise Refused(422, "invalid_department", "a department is named twice",
                          {"departments": "duplicate department"},
                          params={"variant": "duplicate", "departments": twice})
    if a == lifecycle.ACKNOWLEDGE_SUMMONS and req.department not in c.DEPARTMENTS:
        raise Refused(422, "invalid_department", f"name the department that reports: one of "
                      f"{', '.join(c.DEPARTMENTS)}", {"department": "is required"},
                      params={"variant": "reporting"})
    if req.expected_version is not None and type(req.expected_version) is not int:
        raise Refused(422, "invalid_parameter", "expected_version must be an integer",
                      params={"variant": "version"})


# --- idempotency ---------------------------------------------------------------------------------------


def _replay(session: Session, key: str, incident_id: int | None, action: str, unit_id: int | None,
            now: datetime) -> ActionResult | None:
    """The first result for an idempotency key already used, or None; 422 when it was used for another action."""
    done = store.incidents.action_by_key(session, key)
    if done is None:
        return None
    if (
        done.action != action
        or (incident_id is not None and done.incident_id != incident_id)
        or (action in lifecycle.NEEDS_UNIT and done.unit_id != unit_id)
    ):
        raise Refused(422, "idempotency_key_reused",
                      "this idempotency key was already used for a different action; use a new key")
    return ActionResult(get_incident(session, done.incident_id, now), done.id, True)


def _record(session: Session, incident: Incident, action: str, unit_id: int | None, actor: Actor, key: str,
            note: str | None, detail: dict[str, Any], now: datetime) -> ActionResult | int:
    """Flush the action's DispatchAction row and audit entry; its id, or the replay when the key won a race."""
    incident_id = incident.id
    try:
        row = store.incidents.add_action(session, incident.id, unit_id, action, actor.id, key, note, now)
    except IntegrityError:
        # Another transaction committed the same key meanwhile (the unique constraint): replay its result.
        session.rollback()
        replay = _replay(session, key, None if action == lifecycle.CREATE else incident_id, action, unit_id, now)
        if replay is None:
            raise  # another constraint failed: a real error
        return replay
    store.audit_log.record(session, actor.username, action, "incident", str(incident.id),
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

    The caller commits the session afterwards, then calls notify_change. Raises Refused (already
    audited, session rolled back) or a database error (session rolled back, nothing saved).
    """
    now = now or utcnow()
    try:
        if req.action not in lifecycle.ACTIONS:
            raise Refused(422, "unknown_action",
                          f"unknown action {req.action!r}; one of {', '.join(lifecycle.ACTIONS)}",
                          params={"action": str(req.action)})
        _check_role(actor, req.action)
        check_idempotency_key(idempotency_key)
        _check_params(req)
        replay = _replay(session, idempotency_key, incident_id, req.action, req.unit_id, now)
        if replay is not None:
            return replay
        begin_write(session)
        return _perform_locked(session, incident_id, req, actor, idempotency_key, now)
    except SecondUnit:
        session.rollback()
        raise
    except Refused as refusal:
        refuse(session, refusal, actor, str(req.action), "incident", str(incident_id), _request_detail(req), now,
               {"idempotency_key": idempotency_key})
        raise
    except BaseException:
        session.rollback()
        raise


def _lock_incident(session: Session, incident_id: int) -> Incident:
    incident = store.incidents.lock_incident(session, incident_id)
    if incident is None:
        raise Refused(404, "incident_not_found", f"there is no incident {incident_id}",
                      params={"incident_id": incident_id})
    return incident


def _lock_unit(session: Session, unit_id: int | None) -> Unit:
    unit = store.units.lock_unit(session, unit_id)
    if unit is None:
        raise Refused(404, "unit_not_found", f"there is no unit {unit_id}", params={"unit_id": unit_id})
    return unit


def _perform_locked(session: Session, incident_id: int, req: ActionRequest, actor: Actor, key: str,
                    now: datetime) -> ActionResult:
    incident = _lock_incident(session, incident_id)
    # Checked again under the lock: a request with the same key may have committed while we waited.
    replay = _replay(session, key, incident_id, req.action, req.unit_id, now)
    if replay is not None:
        return replay
    if req.expected_version is not None and req.expected_version != incident.version:
        raise Refused(409, "stale", f"the incident has changed since you saw it (version {incident.version}, "
                      f"not {req.expected_version}): look again and retry",
                      params={"version": incident.version, "expected": req.expected_version})
    try:
        new_state = lifecycle.transition(incident.state, req.action)
    except lifecycle.IllegalTransition as exc:
        raise Refused(409, "illegal_transition", exc.reason, params=exc.params) from None
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


def _deadlines(session: Session) -> Deadlines:
    """The deadlines configured now."""
    return store.settings.load_deadlines(session)


def _acknowledge(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
                 detail: dict[str, Any]) -> int | None:
    inc.acknowledged_at = now
    return None


def _dispatch(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
              detail: dict[str, Any]) -> int | None:
    unit = _lock_unit(s, req.unit_id)
    if unit.incident_id == inc.id:
        raise Refused(409, "unit_already_assigned", f"unit {unit.code} is already dispatched to this incident",
                      params={"unit": unit.code})
    if unit.incident_id is not None:
        raise Refused(409, "unit_busy", f"unit {unit.code} is assigned to incident {unit.incident_id}",
                      params={"variant": "assigned", "unit": unit.code, "incident_id": unit.incident_id})
    if unit.status not in c.UNIT_DISPATCHABLE_STATUSES:
        raise Refused(409, "unit_busy", f"unit {unit.code} is {unit.status.replace('_', ' ')}, not available",
                      params={"variant": "status", "unit": unit.code, "status": unit.status})
    if req.hold_second_unit:
        _hold_second_unit(s, inc, unit, now)
    unit.status = "dispatched"
    unit.incident_id = inc.id
    unit.updated_at = now
    detail.update(unit_id=unit.id, unit=unit.code, unit_kind=unit.kind)
    if inc.acknowledged_at is None:
        inc.acknowledged_at = now  # dispatching is acknowledging
    return unit.id


def _hold_second_unit(s: Session, inc: Incident, unit: Unit, now: datetime) -> None:
    """SecondUnit when another unit was sent to the incident less than SECOND_UNIT_CONFIRM_S ago.

    Checked under the incident's lock, so of two clicks racing to send two units the second one waits for the
    first, sees it and is held, whatever the browser did.
    """
    last = store.units.last_dispatch_to(s, inc.id)
    if last is None or last[1] == unit.id:
        return
    ago = (now - last[0]).total_seconds()
    if ago < lifecycle.SECOND_UNIT_CONFIRM_S:
        raise SecondUnit(409, "second_unit", f"unit {last[2]} was sent to this incident {ago:.0f} s ago: confirm "
                         f"sending {unit.code} as well", params={"unit": unit.code, "unit_kind": unit.kind,
                                                                 "previous": last[2], "seconds": max(0, round(ago))})


def _arrive(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
            detail: dict[str, Any]) -> int | None:
    unit = _lock_unit(s, req.unit_id)
    if unit.incident_id != inc.id:
        raise Refused(409, "unit_not_assigned", f"unit {unit.code} is not dispatched to this incident",
                      params={"unit": unit.code})
    if unit.status == "on_scene":
        raise Refused(409, "unit_already_on_scene", f"unit {unit.code} is already on scene",
                      params={"unit": unit.code})
    unit.status = "on_scene"
    unit.lon, unit.lat = inc.lon, inc.lat
    unit.updated_at = now
    detail.update(unit_id=unit.id, unit=unit.code, unit_kind=unit.kind)
    return unit.id


def _release(s: Session, inc: Incident, detail: dict[str, Any], now: datetime) -> None:
    released = store.units.release_units(s, inc.id, now)
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
        raise Refused(422, "same_severity", f"the severity is already {c.SEVERITY_ROMAN[inc.severity]}",
                      {"severity": "is the current severity"}, params={"severity": inc.severity})
    inc.deadline_at = lifecycle.rescheduled_deadline(inc.deadline_at, inc.severity, req.severity,
                                                     _deadlines(s).incident_min)
    detail.update(from_severity=inc.severity, to_severity=req.severity, deadline_at=inc.deadline_at.isoformat())
    inc.severity = req.severity
    return None


def _whistle(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
             detail: dict[str, Any]) -> int | None:
    departments = list(req.departments or ())
    already = store.incidents.summoned_departments(s, inc.id)
    again = [d for d in departments if d in already]
    if again:
        raise Refused(409, "already_summoned", f"already summoned: {', '.join(again)}",
                      params={"departments": again})
    deadline = lifecycle.summons_deadline(now, _deadlines(s).summons_min)
    for dep in departments:
        store.incidents.add_summons(s, inc.id, dep, now, actor.username, deadline)
    detail.update(departments=departments, deadline_at=deadline.isoformat())
    return None


def _acknowledge_summons(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
                         detail: dict[str, Any]) -> int | None:
    summons = store.incidents.lock_summons(s, inc.id, str(req.department))
    if summons is None:
        raise Refused(409, "not_summoned", f"{req.department} was not summoned to this incident",
                      params={"department": req.department})
    if summons.acknowledged_at is not None:
        raise Refused(409, "summons_already_acknowledged", f"{req.department} has already reported",
                      params={"department": req.department})
    summons.acknowledged_at = now
    summons.acknowledged_by = actor.username
    detail.update(department=req.department, late=now > summons.deadline_at)
    return None


def _escalate(s: Session, inc: Incident, req: ActionRequest, actor: Actor, now: datetime,
              detail: dict[str, Any]) -> int | None:
    # Once with the leader it stays there: a second escalation is refused (and audited), not quietly accepted.
    if inc.escalated_at is not None:
        raise Refused(409, "already_escalated", "the incident has already been escalated to the leader")
    inc.escalated_at = now
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
    source: str = c.CONSOLE_SOURCE,
    external_id: str | None = None,
) -> ActionResult:
    """Create an incident by hand (source "console") or from a sensor alarm, validated like an ingested one.

    `fields`: category, severity, title, lon, lat (required); description, sensor_id, ts (ISO 8601 with a
    time zone, default now) optional; any other field is refused (422 with field-level `errors`). Recorded
    as a DispatchAction "create" with its audit entry; the same idempotency key replays the first result.
    `source` and `external_id` name the incident for systems (unique together; default a fresh id).
    """
    now = now or utcnow()
    request = jsonable(dict(fields)) if isinstance(fields, dict) else {"fields": repr(fields)[:200]}
    try:
        _check_role(actor, lifecycle.CREATE)
        check_idempotency_key(idempotency_key)
        ev = _validate_new_incident(fields, now, source, external_id)
        replay = _replay(session, idempotency_key, None, lifecycle.CREATE, None, now)
        if replay is not None:
            return replay
        begin_write(session)
        replay = _replay(session, idempotency_key, None, lifecycle.CREATE, None, now)
        if replay is not None:
            return replay
        incident = store.incidents.incident_from_event(ev, now, source=source,
                                                       minutes=_deadlines(session).incident_min)
        store.incidents.add_incident(session, incident)
        detail = {"to": "new", "severity": incident.severity, "category": incident.category}
        recorded = _record(session, incident, lifecycle.CREATE, None, actor, idempotency_key, None, detail, now)
        if isinstance(recorded, ActionResult):
            return recorded
        return ActionResult(get_incident(session, incident.id, now), recorded, False)
    except Refused as refusal:
        refuse(session, refusal, actor, lifecycle.CREATE, "incident", None, request, now,
               {"idempotency_key": idempotency_key})
        raise
    except BaseException:
        session.rollback()
        raise


def _validate_new_incident(fields: Any, now: datetime, source: str = c.CONSOLE_SOURCE,
                           external_id: str | None = None) -> dict[str, Any]:
    """The fields of a hand-made incident as a validated event (dashboard.domain.events.validate_event)."""
    if not isinstance(fields, dict):
        raise Refused(422, "invalid_incident", "the incident must be an object of fields",
                      params={"variant": "not_object"})
    unknown = sorted(set(fields) - set(CREATE_FIELDS))
    if unknown:
        raise Refused(422, "invalid_incident", f"unknown field(s) {', '.join(map(str, unknown))}; allowed: "
                      f"{', '.join(CREATE_FIELDS)}", {k: "is not a field of an incident" for k in unknown},
                      params={"variant": "unknown_fields", "fields": [str(k) for k in unknown]})
    raw = {k: v for k, v in fields.items() if v is not None}
    raw.update(event_id=external_id or f"{source}-{uuid.uuid4().hex}", source=source, kind=c.INCIDENT)
    raw.setdefault("ts", now.isoformat())
    ev, rejection = validate_event(raw, now.timestamp())
    if rejection is not None:
        errors = rejection.errors
        raise Refused(422, "invalid_incident", "; ".join(f"{k} {v}" for k, v in errors.items()), errors,
                      params={"variant": "invalid", "fields": list(errors)})
    assert ev is not None
    return ev
