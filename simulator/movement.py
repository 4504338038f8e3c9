"""How simulated units move: pure functions, no database, no Redis (the job is workers/units.py).

A unit on its way (status dispatched or en route) heads for its incident; a unit that is returning heads for its
home base. Each step moves it along the STRAIGHT LINE between where it is and where it goes (no road network,
no traffic) at a plausible average urban speed for its kind (SPEED_KMH), for the seconds elapsed since its last
move (capped at MAX_STEP_S, so a unit does not jump across the district after the worker was down). Within
ARRIVAL_M of the target it has arrived and stands exactly on the target.

Only the simulator moves units this way: a real deployment takes positions and arrivals from the units' own
systems (vehicle GPS, the 120/119/110 dispatch systems, the grid workers' app).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dashboard.domain import geo

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
