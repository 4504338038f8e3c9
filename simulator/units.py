"""Simulated units on the move: the pure movement, and the RQ job that moves the units and reports their arrivals.

The movement (pure: no database, no Redis). A unit on its way (status dispatched or en route) heads for its
incident; a unit that is returning heads for its home base. Each step moves it along the STRAIGHT LINE between where
it is and where it goes (no road network, no traffic) at a plausible average urban speed for its kind (SPEED_KMH),
for the seconds elapsed since its last move (capped at MAX_STEP_S, so a unit does not jump across the district after
the worker was down). Within ARRIVAL_M of the target it has arrived and stands exactly on the target.

The job. `move_units()` (RQ, registered by simulator/cron.py every UNITS_INTERVAL_S) moves every unit on its way one
step towards its target, marking it en route; a unit within ARRIVAL_M of the scene reports its arrival through the
incident service (`perform_action` "arrive" as the "system" actor "simulator"), so the arrival goes through the state
machine, the DispatchAction table and the audit log exactly like a real unit's report. A returning unit heads home
and becomes available there. The job does nothing when SIMULATOR is off.

The job is idempotent and safe to run twice at once: each step covers the time since the unit's last change (its
updated_at, capped), and is written with a compare-and-set on (status, incident, updated_at)
(dashboard/store/units.py), so a unit dispatched, released or moved by someone else meanwhile is left alone, and a
second run a moment later moves it by the moment that passed, not by a second step. An arrival's idempotency key
names the unit, the incident and the dispatch it ends, so two runs record it once, and a unit sent to the same
incident again (after a reopen) can arrive again.

Only the simulator moves units this way: a real deployment takes positions and arrivals from the units' own
systems (vehicle GPS, the 120/119/110 dispatch systems, the grid workers' app).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config
from dashboard.domain import geo, lifecycle
from dashboard.live import publish
from dashboard.services import incidents as svc
from dashboard.services.base import Actor, Refused
from dashboard.store import units as store
from dashboard.store.engine import begin_write, session_scope
from dashboard.store.models import utcnow
from dashboard.store.outage import absorb, unavailable_result
from workers.clients import job_clients

log = logging.getLogger(__name__)

# --- the movement ---------------------------------------------------------------------------------------------

# Average speeds in Dongcheng's streets, km/h: vehicles with sirens through central Beijing traffic, utility
# vans and 城管 patrol cars without them, grid workers (网格员) on foot or by bicycle.
SPEED_KMH: Final[dict[str, float]] = {
    "police": 30.0,
    "fire": 30.0,
    "ambulance": 30.0,
    "utility": 25.0,
    "chengguan": 20.0,
    "grid": 15.0,
}
DEFAULT_SPEED_KMH: Final = 20.0
# A unit this close to its target has arrived.
ARRIVAL_M: Final = 50.0
# Longest time one step accounts for (seconds).
MAX_STEP_S: Final = 10.0

# Statuses of a unit heading for an incident, and of one heading home.
TO_INCIDENT: Final = ("dispatched", "en_route")
RETURNING: Final = "returning"
MOVING_STATUSES: Final = (*TO_INCIDENT, RETURNING)


@dataclass(frozen=True)
class Move:
    """Where a unit is after one step, its status while it still moves, and whether it has arrived."""

    lon: float
    lat: float
    status: str  # en_route / returning while moving; the status it had when it arrives (the caller decides)
    arrived: bool
    remaining_m: float


def speed_kmh(kind: str) -> float:
    """The average speed of a unit of `kind` (km/h)."""
    return SPEED_KMH.get(kind, DEFAULT_SPEED_KMH)


def step_seconds(elapsed_s: float) -> float:
    """The seconds one step accounts for: the elapsed time, never negative, at most MAX_STEP_S."""
    return min(max(elapsed_s, 0.0), MAX_STEP_S)


def has_arrived(lon: float, lat: float, target_lon: float, target_lat: float, within_m: float = ARRIVAL_M) -> bool:
    """True when (lon, lat) is within `within_m` metres of the target."""
    return geo.distance_km(lon, lat, target_lon, target_lat) * 1000.0 <= within_m


def step_towards(
    lon: float, lat: float, target_lon: float, target_lat: float, speed: float, dt_s: float
) -> tuple[float, float, bool]:
    """(lon, lat, arrived) after `dt_s` seconds at `speed` km/h along the straight line to the target.

    Over the few kilometres of the district, moving the same fraction of the way in longitude and latitude
    follows the great circle to well under a metre. Within ARRIVAL_M of the target after the step, the unit
    is on the target.
    """
    dist_m = geo.distance_km(lon, lat, target_lon, target_lat) * 1000.0
    step_m = max(speed, 0.0) / 3.6 * max(dt_s, 0.0)
    if dist_m - step_m <= ARRIVAL_M:
        return target_lon, target_lat, True
    f = step_m / dist_m
    return lon + (target_lon - lon) * f, lat + (target_lat - lat) * f, False


def plan_move(
    kind: str, status: str, lon: float, lat: float, target_lon: float, target_lat: float, elapsed_s: float
) -> Move:
    """One step of a moving unit (status in MOVING_STATUSES) towards its target, `elapsed_s` after its last move.

    A unit heading for an incident is en route while it moves; a returning unit stays returning. On arrival
    the position is the target and the status is left as it was: the caller records the arrival (through the
    incident service for an incident, as "available" at home for a returning unit).
    """
    if status not in MOVING_STATUSES:
        raise ValueError(f"a unit that is {status!r} does not move")
    new_lon, new_lat, arrived = step_towards(lon, lat, target_lon, target_lat, speed_kmh(kind), step_seconds(elapsed_s))
    moving_status = RETURNING if status == RETURNING else "en_route"
    remaining = 0.0 if arrived else geo.distance_km(new_lon, new_lat, target_lon, target_lat) * 1000.0
    return Move(new_lon, new_lat, status if arrived else moving_status, arrived, remaining)


def eta_seconds(kind: str, lon: float, lat: float, target_lon: float, target_lat: float) -> float:
    """Seconds a unit of `kind` needs to reach the target in a straight line (0 when already there)."""
    dist_m = geo.distance_km(lon, lat, target_lon, target_lat) * 1000.0
    if dist_m <= ARRIVAL_M:
        return 0.0
    return (dist_m - ARRIVAL_M) / (speed_kmh(kind) / 3.6)


# --- the job ----------------------------------------------------------------------------------------------------

# How often the cron moves the units (seconds), and the actor of the arrivals it reports.
UNITS_INTERVAL_S: Final = 2
ACTOR: Final = Actor(None, "simulator", lifecycle.SYSTEM_ROLE)


def _with_targets(units: list[store.UnitOnTheMove]) -> list[tuple[store.UnitOnTheMove, float, float]]:
    """Each unit with where it heads: its incident's position, or its home when returning."""
    out = []
    for u in units:
        if u.status in TO_INCIDENT:
            if u.incident_id is None or u.incident_lon is None or u.incident_lat is None:
                log.warning("unit %s is %s but assigned to no incident: not moved", u.id, u.status)
                continue
            out.append((u, u.incident_lon, u.incident_lat))
        else:
            out.append((u, u.home_lon, u.home_lat))
    return out


def _report_arrival(r: redis.Redis | None, sessions: sessionmaker[Session], u: store.UnitOnTheMove,
                    now: datetime) -> bool:
    """Record the arrival through the incident service (own transaction), then push it; True when recorded."""
    assert u.incident_id is not None
    try:
        with session_scope(sessions) as s:
            # The idempotency key names the unit, the incident and the dispatch the arrival ends.
            key = f"arrive:{u.id}:{u.incident_id}:{store.last_dispatch_id(s, u.id, u.incident_id) or 0}"
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
        moving = _with_targets(store.units_in_status(s, MOVING_STATUSES))
    moved = home = skipped = 0
    arriving: list[store.UnitOnTheMove] = []
    if moving:
        with session_scope(sessions) as s:
            begin_write(s)
            for u, target_lon, target_lat in moving:
                m = plan_move(u.kind, u.status, u.lon, u.lat, target_lon, target_lat,
                              (now - u.updated_at).total_seconds())
                if m.arrived and u.status in TO_INCIDENT:
                    arriving.append(u)  # the service sets the position and the status
                    continue
                status = "available" if m.arrived else m.status
                if store.update_unit_if_unchanged(s, u, status, lon=m.lon, lat=m.lat, updated_at=now):
                    moved += not m.arrived
                    home += m.arrived
                else:
                    skipped += 1
    arrived = sum(_report_arrival(r, sessions, u, now) for u in arriving)
    result = {"moving": len(moving), "moved": moved, "arrived": arrived, "home": home, "changed_meanwhile": skipped}
    if arrived or home:
        log.info("units: %s", result)
    return result


@absorb("simulated units", unavailable_result)
def move_units() -> dict[str, Any]:
    """RQ job: one step of the simulated units, with the configuration from the environment; nothing when
    SIMULATOR is off (real units report their own positions)."""
    config = Config.from_env()
    if not config.simulator:
        return {"status": "off"}
    clients = job_clients(config)
    return {"status": "ok", **run_units(clients.redis, clients.sessions, utcnow())}
