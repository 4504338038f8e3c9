"""Reading incidents and units for the console and the API: the incident with its units, summons and timeline,
the queue with its filters, and the units suggested for a dispatch (read-only, no role needed beyond signing in).
Datetimes in the returned dicts are aware UTC datetimes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.services.base import Refused
from dashboard.store.models import Incident, Summons, Unit, utcnow

LIST_LIMIT_MAX: Final = 1000

def incident_view(inc: Incident, now: datetime) -> dict[str, Any]:
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


def unit_view(u: Unit) -> dict[str, Any]:
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


def summons_view(sm: Summons, now: datetime) -> dict[str, Any]:
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
    """One incident with "units" (assigned now), "summons" (each with its clock) and "timeline" (its history,
    oldest first: at, actor, action, outcome, detail, action_id, unit_id; see _timeline).
    Refused(404) when it does not exist. The caller adds "allowed_actions" for its role
    (lifecycle.allowed_actions(state, role))."""
    now = now or utcnow()
    inc = store.incidents.get_incident(session, incident_id, fresh=True)
    if inc is None:
        raise Refused(404, "incident_not_found", f"there is no incident {incident_id}",
                      params={"incident_id": incident_id})
    out = incident_view(inc, now)
    out["units"] = [unit_view(u) for u in store.units.assigned_units(session, incident_id)]
    out["summons"] = [summons_view(sm, now) for sm in store.incidents.summons_list(session, incident_id)]
    out["timeline"] = _timeline(session, inc)
    out["units_sent"] = units_sent(session, out["timeline"])
    return out


def units_sent(session: Session, timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every unit ever sent to the incident, in the order sent, with when it was sent, arrived and was released:
    the record after closing says who was there (the units assigned *now* are none once it ended)."""
    sent: dict[int, dict[str, Any]] = {}
    released: dict[int, datetime] = {}
    for e in timeline:
        if e.get("outcome") != "ok":
            continue
        uid = e.get("unit_id")
        if e.get("action") == lifecycle.DISPATCH and isinstance(uid, int):
            sent.setdefault(uid, {"sent_at": e["at"], "arrived_at": None, "released_at": None})
            sent[uid]["released_at"] = None  # sent again after an earlier release
        elif e.get("action") == lifecycle.ARRIVE and isinstance(uid, int) and uid in sent:
            sent[uid]["arrived_at"] = sent[uid]["arrived_at"] or e["at"]
        for rid in (e.get("detail") or {}).get("released_units") or ():
            if isinstance(rid, int):
                released[rid] = e["at"]
                if rid in sent:
                    sent[rid]["released_at"] = e["at"]
    for rid, at in released.items():
        sent.setdefault(rid, {"sent_at": None, "arrived_at": None, "released_at": at})
    units = store.units.units_by_id(session, sent)
    return [{**unit_view(units[uid]), **times} for uid, times in sent.items() if uid in units]


def _timeline(session: Session, inc: Incident) -> list[dict[str, Any]]:
    """The incident's history: its report by a source, every action taken on it, and the attempts its own state
    refused (lifecycle.in_timeline); the other refusals are in the audit log alone."""
    actions = store.incidents.actions_of(session, inc.id)
    entries = store.audit_log.entries_for(session, "incident", str(inc.id))
    out: list[dict[str, Any]] = []
    if inc.source != c.CONSOLE_SOURCE:
        out.append({"at": inc.reported_at, "actor": f"{c.SOURCE_ACTOR}{inc.source}", "action": "reported",
                    "outcome": "ok", "detail": {"severity": inc.severity, "category": inc.category},
                    "action_id": None, "unit_id": None})
    for e in entries:
        detail = e.detail or {}
        if not lifecycle.in_timeline(e.outcome, detail):
            continue
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
    optional (None: any). Refused(422) for an unknown state or severity."""
    now = now or utcnow()
    bad = [s for s in states or () if s not in lifecycle.STATES]
    if bad:
        raise Refused(422, "invalid_parameter", f"unknown state(s) {', '.join(map(str, bad))}",
                      params={"variant": "states", "states": [str(b) for b in bad]})
    if any(s not in c.SEVERITIES for s in severities or ()):
        raise Refused(422, "invalid_parameter", "severity must be 1, 2, 3 or 4", params={"variant": "severities"})
    limit = max(1, min(int(limit), LIST_LIMIT_MAX))
    return [incident_view(inc, now)
            for inc in store.incidents.find_incidents(session, states, severities, subdistrict, limit)]


def list_units(session: Session) -> list[dict[str, Any]]:
    """Every unit with its status, position and the incident it is assigned to, by code."""
    return [unit_view(u) for u in store.units.list_units(session)]


def suggest_units(session: Session, incident_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The units that are free (rules.UNIT_DISPATCHABLE_STATUSES, assigned to no incident) and suitable for the
    incident's category (rules.CATEGORY_UNIT_KINDS), the best-suited kind first (fire engines before
    ambulances for a fire: a police car 0.5 km away must not hide the fire engine 1.5 km away) and nearest first
    within a kind, each with "distance_km".

    Distance is the straight line (great circle) from the unit's current position to the incident, not the
    road distance or the driving time. Empty when the incident's state allows no dispatch.
    Refused(404) for an unknown incident.
    """
    inc = store.incidents.get_incident(session, incident_id)
    if inc is None:
        raise Refused(404, "incident_not_found", f"there is no incident {incident_id}",
                      params={"incident_id": incident_id})
    if not lifecycle.is_legal(inc.state, lifecycle.DISPATCH):
        return []
    kinds = c.CATEGORY_UNIT_KINDS.get(inc.category, c.UNIT_KINDS)
    units = store.units.free_units(session, kinds)
    order = {k: i for i, k in enumerate(kinds)}
    ranked = sorted(
        ((geo.distance_km(u.lon, u.lat, inc.lon, inc.lat), u) for u in units),
        key=lambda p: (order.get(p[1].kind, len(order)), p[0], p[1].code),
    )
    return [{**unit_view(u), "distance_km": round(d, 3)} for d, u in ranked[: max(0, limit)]]
