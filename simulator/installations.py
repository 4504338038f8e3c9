"""What is installed in the simulated district, deterministic from the seed: the sensors (smart poles near real
facilities, water gauges at the low spots, cold-chain probes, heat-exchange stations) and the response units. The demo
seeds these rows into SQL (ops/bootstrap.py); the simulator's readings and the episodes refer to them by id."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from functools import cache
from typing import Any, Final

from dashboard.domain import geo
from simulator.places import (
    Facility,
    facilities,
    jitter_inside,
    nearest_name,
    short_name,
    strictly_inside,
    subdistrict_pool,
)
from simulator.world import DEFAULT_SEED, TAG_SENSORS, TAG_UNITS, seeded_rng

POLES_TOTAL: Final = 190
POLES_MIN_PER_SUBDISTRICT: Final = 6
# Poles stand within ~40 m of the facility they are anchored to (a bus stop, a school gate, a metro exit).
POLE_JITTER_LON: Final = 0.00045
POLE_JITTER_LAT: Final = 0.00035
# Chance that a street pole carries each sensor (一杆多感); at most three per pole.
POLE_SENSOR_P: Final = (("pm25", 0.8), ("noise", 0.75), ("manhole_tilt", 0.35))
# Gas detectors sit over the utility tunnels, which follow the main roads.
GAS_P_NEAR_ROAD: Final = 0.3
GAS_P_ELSEWHERE: Final = 0.04
NEAR_ROAD_DEG: Final = 0.0025
MAX_SENSORS_PER_POLE: Final = 3
WATER_GAUGES: Final = 18
COLD_CHAIN_SENSORS: Final = 8
SENSOR_ABBR: Final = {
    "pm25": "PM25",
    "noise": "NOI",
    "water_level": "WL",
    "manhole_tilt": "MH",
    "gas": "GAS",
    "cold_chain_temp": "CC",
    "heat_supply_temp": "HS",
}
# Heat-exchange stations (换热站) of the district heating company, one in each of a few residential estates per
# subdistrict (at points callers call from); what they read is in world.py.
HEAT_STATIONS_PER_SUBDISTRICT: Final = 2


def _segment_distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Planar distance in degrees from a point to a segment."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    f = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - a[0]) * dx + (py - a[1]) * dy) / length2))
    return math.hypot(px - (a[0] + f * dx), py - (a[1] + f * dy))


def _near_road(lon: float, lat: float) -> bool:
    """True when the point is within NEAR_ROAD_DEG of one of the corridors."""
    return any(
        _segment_distance(lon, lat, a, b) <= NEAR_ROAD_DEG
        for cor in geo.corridors()
        for a, b in zip(cor.coords, cor.coords[1:], strict=False)
    )


def _ring_area(ring: Sequence[tuple[float, float]]) -> float:
    """Planar area of a ring in km² (shoelace on an equirectangular projection)."""
    k = 111.32 * math.cos(math.radians(ring[0][1]))
    s = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    return abs(s) / 2 * k * 110.57


# --- sensors --------------------------------------------------------------------------------


@cache
def sensors_and_names(seed: int) -> tuple[tuple[dict[str, Any], str], ...]:
    """The sensors with the name of the nearest stop (for incident titles); deterministic from the seed."""
    rng = seeded_rng(seed, TAG_SENSORS, 0)
    subs = geo.subdistricts()
    pops = [s.population for s in subs]
    areas = [_ring_area(s.ring) for s in subs]
    # Weight by people and by ground covered: dense old quarters and large residential areas both need poles.
    weights = [0.5 * p / sum(pops) + 0.5 * a / sum(areas) for p, a in zip(pops, areas, strict=True)]
    by_sub: dict[str, list[Facility]] = {s.code: [] for s in subs}
    for f in facilities():
        by_sub[f.subdistrict].append(f)
    sensors: list[tuple[dict[str, Any], str]] = []
    pole_no = 0

    def add_pole(lon: float, lat: float, code: str, types: list[str], name: str) -> None:
        nonlocal pole_no
        pole_no += 1
        pole = f"DC-P{pole_no:04d}"
        for t in types:
            row = {"id": f"{pole}-{SENSOR_ABBR[t]}", "type": t, "pole_id": pole, "lon": lon, "lat": lat}
            sensors.append(({**row, "subdistrict": code}, name))

    for sub, w in zip(subs, weights, strict=True):
        n = max(POLES_MIN_PER_SUBDISTRICT, round(POLES_TOTAL * w))
        anchors = sorted(by_sub[sub.code], key=lambda f: (f.lon, f.lat))
        rng.shuffle(anchors)
        placed = 0
        for k in range(n * 4):
            if placed == n:
                break
            if anchors:
                a = anchors[k % len(anchors)]
                spread = 1 + k // len(anchors)  # reuse an anchor only further away from it
                pt = jitter_inside(rng, a.lon, a.lat, sub.code, POLE_JITTER_LON * spread, POLE_JITTER_LAT * spread)
            else:
                pool = subdistrict_pool(sub.code)
                pt = pool[rng.randrange(len(pool))]
            if pt is None:
                continue
            types = [t for t, p in POLE_SENSOR_P if rng.random() < p]
            if rng.random() < (GAS_P_NEAR_ROAD if _near_road(*pt) else GAS_P_ELSEWHERE):
                types.append("gas")
            if not types:
                types = ["pm25"]
            if len(types) > MAX_SENSORS_PER_POLE:
                types.remove("manhole_tilt")
            add_pole(pt[0], pt[1], sub.code, types, nearest_name(*pt))
            placed += 1

    # Water gauges at the low spots: the underpasses and bridges of the ring road and the arterials.
    # Two thirds go under the ring road's bridges, where Beijing's underpasses flood first.
    spots = {(x, y): "ring" in cor.id for cor in geo.corridors() for x, y in cor.coords}
    lows = sorted(p for p in spots if strictly_inside(*p) and geo.subdistrict_of(*p))
    ring_lows = [p for p in lows if spots[p]]
    other_lows = [p for p in lows if not spots[p]]
    rng.shuffle(ring_lows)
    rng.shuffle(other_lows)
    n_ring = min(len(ring_lows), WATER_GAUGES * 2 // 3)
    for x, y in (ring_lows[:n_ring] + other_lows + ring_lows[n_ring:])[:WATER_GAUGES]:
        pt = jitter_inside(rng, x, y, None, 0.0002, 0.0002)
        if pt is not None:
            code = geo.subdistrict_of(*pt)
            assert code is not None
            add_pole(pt[0], pt[1], code, ["water_level"], nearest_name(*pt))

    # Cold-chain probes in the freezers of hospitals and markets: not on poles.
    sites = list(geo.places_of_type("hospital", "business_district"))
    rng.shuffle(sites)
    for k, site in enumerate(sites[:COLD_CHAIN_SENSORS], start=1):
        pt = jitter_inside(rng, site.lon, site.lat, None, 0.0002, 0.0002)
        if pt is None:
            continue
        code = geo.subdistrict_of(*pt)
        assert code is not None
        row = {"id": f"DC-CC{k:02d}", "type": "cold_chain_temp", "pole_id": None, "lon": pt[0], "lat": pt[1]}
        sensors.append(({**row, "subdistrict": code}, short_name(site.name_zh)))

    # Heat-exchange stations in residential estates: distinct estate points of each subdistrict, from their own
    # stream so that the other sensors stay where they were.
    hrng = seeded_rng(seed, TAG_SENSORS, 1)
    k = 0
    for sub in subs:
        pool = subdistrict_pool(sub.code)
        for j in sorted(hrng.sample(range(len(pool)), HEAT_STATIONS_PER_SUBDISTRICT)):
            k += 1
            lon, lat = pool[j]
            row = {"id": f"DC-HS{k:02d}", "type": "heat_supply_temp", "pole_id": None, "lon": lon, "lat": lat}
            sensors.append(({**row, "subdistrict": sub.code}, nearest_name(lon, lat)))
    return tuple(sensors)


# Beyond the district's installed sensors (SIM_SENSORS): more street poles (DC-X…) spread around the facilities of
# each subdistrict, weighted like the others by people and ground; within ~300 m of their anchor.
EXTRA_POLE_JITTER_LON: Final = 0.0035
EXTRA_POLE_JITTER_LAT: Final = 0.0027


@cache
def extra_sensors(seed: int, n: int) -> tuple[tuple[dict[str, Any], str], ...]:
    """`n` more pole sensors with the name of their anchor; deterministic from the seed and `n` (a larger `n` keeps
    every sensor of a smaller one where it was)."""
    rng = seeded_rng(seed, TAG_SENSORS, 2)
    subs = geo.subdistricts()
    pops = [s.population for s in subs]
    areas = [_ring_area(s.ring) for s in subs]
    weights = list(itertools.accumulate(0.5 * p / sum(pops) + 0.5 * a / sum(areas)
                                        for p, a in zip(pops, areas, strict=True)))
    by_sub: dict[str, list[Facility]] = {s.code: [] for s in subs}
    for f in facilities():
        by_sub[f.subdistrict].append(f)
    for fs in by_sub.values():
        fs.sort(key=lambda f: (f.lon, f.lat))
    out: list[tuple[dict[str, Any], str]] = []
    pole_no = 0
    while len(out) < n:
        sub = subs[min(len(subs) - 1, bisect.bisect(weights, rng.random() * weights[-1]))]
        anchors = by_sub[sub.code]
        if anchors:
            a = anchors[rng.randrange(len(anchors))]
            pt = jitter_inside(rng, a.lon, a.lat, sub.code, EXTRA_POLE_JITTER_LON, EXTRA_POLE_JITTER_LAT)
            name = short_name(a.name)
        else:
            pool = subdistrict_pool(sub.code)
            pt = pool[rng.randrange(len(pool))]
            name = sub.name_zh
        if pt is None:
            continue
        types = [t for t, p in POLE_SENSOR_P if rng.random() < p] or ["pm25"]
        pole_no += 1
        pole = f"DC-X{pole_no:05d}"
        for t in types[: n - len(out)]:
            row = {"id": f"{pole}-{SENSOR_ABBR[t]}", "type": t, "pole_id": pole, "lon": pt[0], "lat": pt[1],
                   "subdistrict": sub.code}
            out.append((row, name))
    return tuple(out)


def build_sensors(seed: int = DEFAULT_SEED, count: int | None = None) -> list[dict[str, Any]]:
    """The smart-pole sensors of the simulated district: rows with the Sensor columns (no installed_at).

    `count` (SIM_SENSORS): that many, the installed ones first (fewer: the first `count` of them; more: extra poles,
    extra_sensors); None: the installed ones."""
    base = sensors_and_names(seed)
    rows = base if count is None or count <= len(base) else base + extra_sensors(seed, count - len(base))
    return [dict(row) for row, _ in rows[: len(rows) if count is None else count]]


# --- response units -------------------------------------------------------------------------

# Fire stations and utility crews of the district (names in the style of their real counterparts).
_FIRE_STATIONS: Final = ("东直门", "东四", "前门", "天坛", "和平里")
_UTILITY_CREWS: Final = (
    "北京燃气 东城抢修队",
    "北京排水集团 东城抢险队",
    "北京自来水 东城维修队",
    "国网东城供电 抢修队",
)
UNITS_OFF_DUTY: Final = 3


def build_units(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """About 40 response units with the Unit columns (police, fire, ambulance, 城管, grid, utility)."""
    rng = seeded_rng(seed, TAG_UNITS, 0)
    subs = geo.subdistricts()
    by_pop = sorted(subs, key=lambda s: (-s.population, s.code))
    by_name = geo.subdistrict_by_name()
    plan: list[tuple[str, str, float, float]] = []  # (kind, name, lon, lat)
    # Police: a patrol group from the station of each of the 12 most populous subdistricts, two in the core.
    for s in by_pop[:12]:
        plan.append(("police", f"{s.name_zh.removesuffix('街道')}派出所 巡逻1组", *s.label))
    core = geo.subdistrict_by_code()["110101001"]
    plan.append(("police", f"{core.name_zh.removesuffix('街道')}派出所 巡逻2组", *core.label))
    for k, st in enumerate(_FIRE_STATIONS, start=1):
        s = by_name.get(f"{st}街道") or subs[(k * 3) % len(subs)]
        plan.append(("fire", f"东城消防救援支队 {st}消防救援站 {(k - 1) % 2 + 1}号车", *s.label))
    for k, h in enumerate(geo.places_of_type("hospital")[:6], start=1):
        plan.append(("ambulance", f"北京120 {short_name(h.name_zh)} 急救车{k}", h.lon, h.lat))
    for s in by_pop[:6]:
        plan.append(("chengguan", f"东城城管执法局 {s.name_zh.removesuffix('街道')}执法队", *s.label))
    for s in sorted(by_pop[:8], key=lambda s: s.code):
        plan.append(("grid", f"{s.name_zh} 网格巡查组", *s.label))
    for k, crew in enumerate(_UTILITY_CREWS):
        s = subs[(k * 5 + 2) % len(subs)]
        plan.append(("utility", crew, *s.label))
    prefix = {"police": "PS", "fire": "FR", "ambulance": "AM", "chengguan": "CG", "grid": "GR", "utility": "UT"}
    counts: dict[str, int] = {}
    units = []
    for kind, name, lon, lat in plan:
        counts[kind] = counts.get(kind, 0) + 1
        pt = jitter_inside(rng, lon, lat, None, 0.0008, 0.0006) or (round(lon, 6), round(lat, 6))
        sub = geo.subdistrict_of(*pt) or geo.subdistricts()[0].code
        units.append(
            {
                "code": f"{prefix[kind]}-{counts[kind]:02d}",
                "name": name,
                "kind": kind,
                "status": "available",
                "home_lon": pt[0],
                "home_lat": pt[1],
                "lon": pt[0],
                "lat": pt[1],
                "subdistrict": sub,
            }
        )
    # A few units are off duty (rest shifts), never the fire engines.
    candidates = [u for u in units if u["kind"] != "fire"]
    for u in rng.sample(candidates, UNITS_OFF_DUTY):
        u["status"] = "off_duty"
    return units

