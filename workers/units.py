"""Simulated units on the move, and the immediate tick after an incident action.

`move_units()` (RQ, registered in workers/cron.py every UNITS_INTERVAL_S when the simulator is on) moves every
unit on its way to an incident (dispatched, en route) one step towards it, along a straight line at its kind's
speed (dashboard/fleet.py), marking it en route; a unit within fleet.ARRIVAL_M of the scene reports its arrival
through the incident service (`perform_action` "arrive" as the "system" actor "simulator"), so the arrival goes
through the state machine, the DispatchAction table and the audit log exactly like a real unit's report. A
returning unit heads home and becomes available there. Only the simulator does this: in a real deployment
positions and arrivals come from the units' own systems, so the job does nothing when SIMULATOR is off.

The job is idempotent and safe to run twice at once: each step covers the time since the unit's last change
(its updated_at, capped), and is written with a compare-and-set on (status, incident, updated_at), so a unit
dispatched, released or moved by someone else meanwhile is left alone, and a second run a moment later moves
it by the moment that passed, not by a second step. An arrival's idempotency key names the unit, the incident
and the dispatch it ends, so two runs record it once, and a unit sent to the same incident again (after a
reopen) can arrive again.

`prompt_tick()` (RQ, enqueued by incident_service.request_tick after every committed action) runs a tick at
once, so that the change reaches every open screen well within a second instead of at the next regular tick.
If another tick holds the lock, that tick may have read SQL before the change was committed, so the job waits
for it to finish and runs again (or stops when a tick that started after it covers the change).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config
from dashboard.domain import lifecycle
from dashboard.live import keys, publish
from dashboard.services import incidents as svc
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import begin_write, session_scope
from dashboard.store.models import DispatchAction, Incident, Unit, utcnow
from simulator import movement as fleet
from workers.clients import job_clients
from workers.tick import run_tick

log = logging.getLogger(__name__)

# How often the cron moves the units (seconds), and the actor of the arrivals it reports.
UNITS_INTERVAL_S: Final = 2
ACTOR: Final = Actor(None, "simulator", lifecycle.SYSTEM_ROLE)
# How long a prompt tick waits for a tick holding the lock before leaving the change to the regular tick.
PROMPT_WAIT_S: Final = 2.0
PROMPT_POLL_S: Final = 0.01


@dataclass(frozen=True)
class _Moving:
    """A moving unit as read, with its target."""

    id: int
    kind: str
    status: str
    lon: float
    lat: float
    incident_id: int | None
    updated_at: datetime
    target_lon: float
    target_lat: float


def _moving_units(s: Session) -> list[_Moving]:
    """Units on their way to an incident (with the incident's position) and units returning home."""
    rows = s.execute(
        select(Unit.id, Unit.kind, Unit.status, Unit.lon, Unit.lat, Unit.incident_id, Unit.updated_at,
               Unit.home_lon, Unit.home_lat, Incident.lon, Incident.lat)
        .outerjoin(Incident, Incident.id == Unit.incident_id)
        .where(Unit.status.in_(fleet.MOVING_STATUSES))
        .order_by(Unit.id)
    ).all()
    out = []
    for uid, kind, status, lon, lat, incident_id, updated_at, home_lon, home_lat, inc_lon, inc_lat in rows:
        if status in fleet.TO_INCIDENT:
            if incident_id is None or inc_lon is None:
                log.warning("unit %s is %s but assigned to no incident: not moved", uid, status)
                continue
            target = (inc_lon, inc_lat)
        else:
            target = (home_lon, home_lat)
        out.append(_Moving(uid, kind, status, lon, lat, incident_id, updated_at, *target))
    return out


def _compare_and_set(s: Session, u: _Moving, **values: Any) -> bool:
    """Update the unit only if it is still as read (status, incident, updated_at); True when it was."""
    cond = [Unit.id == u.id, Unit.status == u.status, Unit.updated_at == u.updated_at]
    cond.append(Unit.incident_id.is_(None) if u.incident_id is None else Unit.incident_id == u.incident_id)
    result = s.execute(update(Unit).where(*cond).values(**values).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def _arrival_key(s: Session, unit_id: int, incident_id: int) -> str:
    """The idempotency key of an arrival: the unit, the incident and the dispatch it ends."""
    dispatch_id = s.scalar(
        select(func.max(DispatchAction.id)).where(
            DispatchAction.incident_id == incident_id,
            DispatchAction.unit_id == unit_id,
            DispatchAction.action == lifecycle.DISPATCH,
        )
    )
    return f"arrive:{unit_id}:{incident_id}:{dispatch_id or 0}"


def _report_arrival(r: redis.Redis | None, sessions: sessionmaker[Session], u: _Moving, now: datetime) -> bool:
    """Record the arrival through the incident service (own transaction), then push it; True when recorded."""
    assert u.incident_id is not None
    try:
        with session_scope(sessions) as s:
            key = _arrival_key(s, u.id, u.incident_id)
            result = svc.perform_action(
                s, u.incident_id, svc.ActionRequest(lifecycle.ARRIVE, unit_id=u.id), ACTOR, idempotency_key=key,
                now=now,
            )
    except Refused as refusal:
        # Already audited as refused; usually a race with a dispatcher (the incident ended meanwhile).
        log.info("arrival of unit %s at incident %s refused: %s", u.id, u.incident_id, refusal.reason)
        return False
    if not result.replayed and r is not None:
        try:
            publish.notify_change(r, u.incident_id, lifecycle.ARRIVE)
        except redis.RedisError as exc:
            log.warning("arrival of unit %s saved but not pushed: %s", u.id, exc)
    return not result.replayed


def run_units(r: redis.Redis | None, sessions: sessionmaker[Session], now: datetime) -> dict[str, Any]:
    """One step of every moving unit (see the module docstring); counts of what happened."""
    with sessions() as s:
        moving = _moving_units(s)
    moved = home = skipped = 0
    arriving: list[_Moving] = []
    if moving:
        with session_scope(sessions) as s:
            begin_write(s)
            for u in moving:
                m = fleet.plan_move(u.kind, u.status, u.lon, u.lat, u.target_lon, u.target_lat,
                                    (now - u.updated_at).total_seconds())
                if m.arrived and u.status in fleet.TO_INCIDENT:
                    arriving.append(u)  # the service sets the position and the status
                    continue
                status = "available" if m.arrived else m.status
                if _compare_and_set(s, u, lon=m.lon, lat=m.lat, status=status, updated_at=now):
                    moved += not m.arrived
                    home += m.arrived
                else:
                    skipped += 1
    arrived = sum(_report_arrival(r, sessions, u, now) for u in arriving)
    result = {"moving": len(moving), "moved": moved, "arrived": arrived, "home": home, "changed_meanwhile": skipped}
    if arrived or home:
        log.info("units: %s", result)
    return result


def move_units() -> dict[str, Any]:
    """RQ job: one step of the simulated units, with the configuration from the environment; nothing when
    SIMULATOR is off (real units report their own positions)."""
    config = Config.from_env()
    if not config.simulator:
        return {"status": "off"}
    clients = job_clients(config)
    return {"status": "ok", **run_units(clients.redis, clients.sessions, utcnow())}


# --- the immediate tick ---------------------------------------------------------------------------------


def run_prompt_tick(r: redis.Redis, sessions: sessionmaker[Session], wait_s: float = PROMPT_WAIT_S) -> dict[str, Any]:
    """A tick now. When another tick holds the lock it may have read SQL before the change that asked for this
    one, so: wait until the lock is free and tick again, or stop as soon as the lock is taken by a newer tick
    (which started after that change and therefore shows it). After `wait_s` the regular tick takes over."""
    deadline = time.monotonic() + wait_s
    while True:
        result = run_tick(r, sessions, time.time())
        if result.get("status") != "skipped":
            return result
        holder = r.get(keys.TICK_LOCK)
        while holder is not None:
            if time.monotonic() >= deadline:
                return {"status": "skipped", "note": "a tick held the lock too long; the regular tick follows"}
            time.sleep(PROMPT_POLL_S)
            now_holder = r.get(keys.TICK_LOCK)
            if now_holder is not None and now_holder != holder:
                return {"status": "covered", "note": "a tick that started after the change is running"}
            holder = now_holder


def prompt_tick() -> dict[str, Any]:
    """RQ job enqueued by incident_service.request_tick: clear the pending mark, then tick at once."""
    clients = job_clients()
    # Cleared before anything is read: a change committed from now on asks for (and gets) a tick of its own.
    clients.redis.delete(keys.PROMPT_TICK_PENDING)
    return run_prompt_tick(clients.redis, clients.sessions)
