"""The congestion index on Beijing's 0–10 scale: per corridor from its speed, and the district's from its corridors
(pure). The tick's traffic aggregate (workers/traffic.py) and the daily report's traffic from the durable telemetry
(dashboard/report/telemetry.py) both compute it here, so that they agree."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c

# Free-flow speeds (km/h): the 2nd Ring is an urban expressway, the other corridors are arterials whose
# free-flow speed in the old city is about 40 km/h (signals, crossings, bus lanes).
EXPRESSWAY_FREE_FLOW_KMH: Final = 60.0
ARTERIAL_FREE_FLOW_KMH: Final = 40.0
FREE_FLOW_KMH: Final = {
    "road_2nd_ring_north": EXPRESSWAY_FREE_FLOW_KMH,
    "road_2nd_ring_east": EXPRESSWAY_FREE_FLOW_KMH,
    "road_2nd_ring_south": EXPRESSWAY_FREE_FLOW_KMH,
}
# A corridor with no speed report for this long has no current speed (it leaves the district index).
CORRIDOR_STALE_AFTER_S: Final = 600

# Speed ratio v / v_free -> index, piecewise linear between these points (see corridor_index).
_INDEX_POINTS: Final = ((1.0, 0.0), (0.85, 2.0), (0.65, 4.0), (0.5, 6.0), (0.35, 8.0), (0.1, 10.0))


def free_flow(corridor_id: str) -> float:
    """Free-flow speed of a corridor in km/h."""
    return FREE_FLOW_KMH.get(corridor_id, ARTERIAL_FREE_FLOW_KMH)


def corridor_index(speed_kmh: float, free_flow_kmh: float) -> float:
    """Beijing-style congestion index 0–10 of one corridor from its speed.

    Beijing's index bands are 0–2 smooth, 2–4 basically smooth, 4–6 light, 6–8 moderate, 8–10 severe
    congestion. The band edges here follow the speed grades of GB/T 33171-2016 (城市交通运行状况评价规范)
    expressed as a share of free-flow speed: >= 85 % smooth, 65–85 % basically smooth, 50–65 % light,
    35–50 % moderate, < 35 % severe; the index is linear inside each band and reaches 10 at 10 % of
    free flow. For an arterial at 40 km/h that gives band edges of 34 / 26 / 20 / 14 km/h, for the
    2nd Ring at 60 km/h 51 / 39 / 30 / 21 km/h.
    """
    ratio = speed_kmh / free_flow_kmh if free_flow_kmh > 0 else 0.0
    if ratio >= 1.0:
        return 0.0
    for (r_hi, i_lo), (r_lo, i_hi) in pairwise(_INDEX_POINTS):
        if ratio >= r_lo:
            return round(i_lo + (r_hi - ratio) / (r_hi - r_lo) * (i_hi - i_lo), 2)
    return 10.0


def band_of(index: float) -> str:
    """Label of the TRAFFIC_BANDS band holding `index` (bands are [lower, upper))."""
    for upper, label in c.TRAFFIC_BANDS:
        if index < upper:
            return label
    return c.TRAFFIC_BANDS[-1][1]


def district_index(corridors: Mapping[str, Mapping[str, Any]], now: float | None = None) -> float:
    """Length-weighted mean index of the corridors that have a current speed (0.0 when none has)."""
    geo_corr = geo.corridor_by_id()
    total_w = total = 0.0
    for cid, obs in corridors.items():
        cor = geo_corr.get(cid)
        if cor is None or (now is not None and now - obs["ts"] > CORRIDOR_STALE_AFTER_S):
            continue
        total += cor.length_km * corridor_index(obs["speed"], free_flow(cid))
        total_w += cor.length_km
    return round(total / total_w, 2) if total_w else 0.0
