"""Where things are in the simulated district: facility points, names to tell a place by, the points citizens call
from, and jittering a point while keeping it inside the district (pure; from the project's GeoJSON, cached)."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from dashboard.domain import geo
from simulator.world import POOL_POINTS, ROAD_NAMES, TAG_POOL, Chooser, seeded_rng


def strictly_inside(lon: float, lat: float) -> bool:
    """Inside the district outline itself (no margin)."""
    return geo.in_district(lon, lat, margin=0)


@dataclass(frozen=True)
class Facility:
    """A facility point with the subdistrict it lies in."""

    lon: float
    lat: float
    layer: str
    name: str
    subdistrict: str


@cache
def facilities() -> tuple[Facility, ...]:
    """Facility points strictly inside the district, with their subdistrict."""
    with (geo.DATA_DIR / "dongcheng_facilities.geojson").open(encoding="utf-8") as fh:
        data = json.load(fh)
    out = []
    for f in data["features"]:
        lon, lat = (float(v) for v in f["geometry"]["coordinates"])
        sub = geo.subdistrict_of(lon, lat)
        if sub and strictly_inside(lon, lat):
            p = f["properties"]
            out.append(Facility(lon, lat, p.get("layer", ""), p.get("name_zh") or "", sub))
    return tuple(out)


@cache
def _named_points() -> tuple[tuple[float, float, str], ...]:
    """Names to tell where something is: metro stations and the named places."""
    # Not the bus stops: many of their names in the source file belong to other cities.
    pts = [(f.lon, f.lat, f.name) for f in facilities() if f.layer == "metro_station" and f.name]
    pts += [(p.lon, p.lat, short_name(p.name_zh)) for p in geo.places()]
    return tuple(pts)


def nearest_name(lon: float, lat: float) -> str:
    """Name of the nearest metro station or bus stop."""
    k = math.cos(math.radians(lat)) ** 2
    best = min(_named_points(), key=lambda p: (p[0] - lon) ** 2 * k + (p[1] - lat) ** 2)
    return best[2]


def road_name(corridor_id: str, lat: float) -> str:
    """The everyday name of the stretch of a corridor at a latitude."""
    if corridor_id == "road_ns_line5":
        return (
            "雍和宫大街"
            if lat > 39.941
            else "东四北大街"
            if lat > 39.924
            else "东单北大街"
            if lat > 39.9
            else "崇文门外大街"
        )
    if corridor_id == "road_central_axis":
        return "地安门外大街" if lat > 39.93 else "长安街" if lat > 39.903 else "前门大街"
    return ROAD_NAMES.get(corridor_id) or short_name(geo.corridor_by_id()[corridor_id].name_zh)


def short_name(name: str) -> str:
    """A place name without its parenthesised qualifier."""
    return name.split("（")[0].split("(")[0].strip()


@cache
def subdistrict_pool(code: str) -> tuple[tuple[float, float], ...]:
    """Random points inside a subdistrict (and the outline): where its citizens call from."""
    sub = geo.subdistrict_by_code()[code]
    rng = seeded_rng(0, TAG_POOL, int(code))
    x0, y0, x1, y1 = sub.bbox
    out: list[tuple[float, float]] = []
    while len(out) < POOL_POINTS:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if geo.point_in_ring(x, y, sub.ring) and strictly_inside(x, y):
            out.append((round(x, 6), round(y, 6)))
    return tuple(out)


def jitter_inside(
    rng: random.Random, lon: float, lat: float, code: str | None, dlon: float, dlat: float
) -> tuple[float, float] | None:
    """A point near (lon, lat) strictly inside the district (and subdistrict `code` when given)."""
    for _ in range(12):
        x = round(lon + rng.uniform(-dlon, dlon), 6)
        y = round(lat + rng.uniform(-dlat, dlat), 6)
        if strictly_inside(x, y) and (code is None or geo.subdistrict_of(x, y) == code):
            return x, y
    x, y = round(lon, 6), round(lat, 6)
    if strictly_inside(x, y) and (code is None or geo.subdistrict_of(x, y) == code):
        return x, y
    return None


def points_along(coords: Sequence[tuple[float, float]], spacing_km: float) -> list[tuple[float, float]]:
    """Points every `spacing_km` along a polyline, starting half a spacing in."""
    out = []
    carry = spacing_km / 2
    for (x0, y0), (x1, y1) in itertools.pairwise(coords):
        seg = geo.distance_km(x0, y0, x1, y1)
        pos = carry
        while pos <= seg:
            f = pos / seg
            out.append((round(x0 + (x1 - x0) * f, 6), round(y0 + (y1 - y0) * f, 6)))
            pos += spacing_km
        carry = pos - seg
    return out


@cache
def subdistrict_chooser() -> Chooser[geo.Subdistrict]:
    """Subdistricts weighted by their population (where the 12345 calls come from)."""
    return Chooser([(s, float(s.population)) for s in geo.subdistricts()])
