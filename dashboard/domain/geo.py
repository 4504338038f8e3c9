"""Dongcheng geography: outline, subdistricts, places, corridors and the grid used for heatmaps."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"

# Heatmap grid: about 500 m x 500 m at Dongcheng's latitude (1° lon ≈ 85.3 km, 1° lat ≈ 111 km).
GRID_DLON = 0.00586
GRID_DLAT = 0.0045
# Accept coordinates up to about 300 m outside the outline (GPS error, boundary roads).
BOUNDARY_MARGIN_DEG = 0.003

Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class Subdistrict:
    """One of the 17 街道 with its polygon and reference population."""

    code: str
    name_zh: str
    name_en: str
    population: int
    label: tuple[float, float]
    ring: tuple[tuple[float, float], ...]
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class Place:
    """A named point of interest (hospital, scenic spot, school …)."""

    id: str
    name_zh: str
    name_en: str
    type: str
    lon: float
    lat: float
    subdistrict: str


@dataclass(frozen=True)
class Corridor:
    """A road corridor as a simplified centre line."""

    id: str
    name_zh: str
    name_en: str
    coords: tuple[tuple[float, float], ...]
    length_km: float


def _load(name: str) -> Any:
    """Read one of the bundled data files."""
    with (DATA_DIR / name).open(encoding="utf-8") as fh:
        return json.load(fh)


def _bbox(ring: Ring | tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    """Return (min_lon, min_lat, max_lon, max_lat) of a ring."""
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return min(xs), min(ys), max(xs), max(ys)


def point_in_ring(lon: float, lat: float, ring: Ring | tuple[tuple[float, float], ...]) -> bool:
    """Ray-casting point-in-polygon test for one closed ring."""
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


@cache
def boundary_geojson() -> dict[str, Any]:
    """The district outline as a GeoJSON FeatureCollection."""
    data: dict[str, Any] = _load("dongcheng_boundary.geojson")
    return data


@cache
def boundary_ring() -> tuple[tuple[float, float], ...]:
    """The outer ring of the district outline."""
    coords = boundary_geojson()["features"][0]["geometry"]["coordinates"][0]
    return tuple((float(x), float(y)) for x, y in coords)


@cache
def district_bbox() -> tuple[float, float, float, float]:
    """Bounding box of the district outline."""
    return _bbox(boundary_ring())


@cache
def subdistricts_geojson() -> dict[str, Any]:
    """The 17 subdistrict polygons as a GeoJSON FeatureCollection (id = code)."""
    data: dict[str, Any] = _load("dongcheng_subdistricts.geojson")
    for f in data["features"]:
        f["id"] = f["properties"]["code"]
    return data


@cache
def subdistricts() -> tuple[Subdistrict, ...]:
    """All subdistricts in code order."""
    out = []
    for f in subdistricts_geojson()["features"]:
        p = f["properties"]
        ring = tuple((float(x), float(y)) for x, y in f["geometry"]["coordinates"][0])
        out.append(
            Subdistrict(
                code=p["code"],
                name_zh=p["name_zh"],
                name_en=p["name_en"].replace(" Subdistrict", ""),
                population=int(p["ref_population"]),
                label=(float(p["label_lon"]), float(p["label_lat"])),
                ring=ring,
                bbox=_bbox(ring),
            )
        )
    return tuple(sorted(out, key=lambda s: s.code))


@cache
def subdistrict_by_code() -> dict[str, Subdistrict]:
    """Subdistricts keyed by their 9-digit code."""
    return {s.code: s for s in subdistricts()}


@cache
def subdistrict_by_name() -> dict[str, Subdistrict]:
    """Subdistricts keyed by their Chinese name (as used in the POI file)."""
    return {s.name_zh: s for s in subdistricts()}


# Sources report from fixed places (poles, detectors, car parks), so a bounded memo of the point tests
# takes them off the ingest path: validation is about 4x faster at 1,000 events/s.
_POINT_MEMO = 65_536


@lru_cache(maxsize=_POINT_MEMO)
def subdistrict_of(lon: float, lat: float) -> str | None:
    """Code of the subdistrict containing the point, or the nearest one within the margin, else None."""
    for s in subdistricts():
        x0, y0, x1, y1 = s.bbox
        if x0 <= lon <= x1 and y0 <= lat <= y1 and point_in_ring(lon, lat, s.ring):
            return s.code
    if not in_district(lon, lat):
        return None
    # Points in the slivers between the subdistrict union and the outline go to the nearest label.
    return min(subdistricts(), key=lambda s: (s.label[0] - lon) ** 2 + (s.label[1] - lat) ** 2).code


def _dist_to_segment(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Planar distance in degrees from a point to a segment."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    if dx == dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


@lru_cache(maxsize=_POINT_MEMO)
def in_district(lon: float, lat: float, margin: float = BOUNDARY_MARGIN_DEG) -> bool:
    """True when the point lies inside the outline or within `margin` degrees of it."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return False
    x0, y0, x1, y1 = district_bbox()
    if not (x0 - margin <= lon <= x1 + margin and y0 - margin <= lat <= y1 + margin):
        return False
    ring = boundary_ring()
    if point_in_ring(lon, lat, ring):
        return True
    if margin <= 0:
        return False
    return any(_dist_to_segment(lon, lat, ring[i], ring[i + 1]) <= margin for i in range(len(ring) - 1))


@cache
def places() -> tuple[Place, ...]:
    """The 52 named places."""
    out = []
    for p in _load("dongcheng_pois.json")["pois"]:
        sub = subdistrict_by_name().get(p.get("subdistrict", ""))
        out.append(
            Place(
                id=p["id"],
                name_zh=p["name_zh"],
                name_en=p["name_en"],
                type=p["type"],
                lon=float(p["lon"]),
                lat=float(p["lat"]),
                subdistrict=sub.code if sub else (subdistrict_of(p["lon"], p["lat"]) or ""),
            )
        )
    return tuple(out)


@cache
def place_by_id() -> dict[str, Place]:
    """Places keyed by id."""
    return {p.id: p for p in places()}


def places_of_type(*types: str) -> tuple[Place, ...]:
    """Places whose type is one of `types`."""
    return tuple(p for p in places() if p.type in types)


def _line_km(coords: tuple[tuple[float, float], ...]) -> float:
    """Approximate length of a polyline in km (equirectangular)."""
    total = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(coords):
        dx = (x1 - x0) * 111.32 * math.cos(math.radians((y0 + y1) / 2))
        dy = (y1 - y0) * 110.57
        total += math.hypot(dx, dy)
    return total


@cache
def corridors() -> tuple[Corridor, ...]:
    """The 9 road corridors."""
    out = []
    for r in _load("dongcheng_pois.json")["roads"]:
        coords = tuple((float(x), float(y)) for x, y in r["geometry"]["coordinates"])
        out.append(Corridor(r["id"], r["name_zh"], r["name_en"], coords, round(_line_km(coords), 2)))
    return tuple(out)


@cache
def corridor_by_id() -> dict[str, Corridor]:
    """Corridors keyed by id."""
    return {c.id: c for c in corridors()}


@cache
def corridors_by_subdistrict() -> dict[str, tuple[str, ...]]:
    """Subdistrict code -> ids of the corridors that pass through it (sampled every ~50 m along each line)."""
    out: dict[str, list[str]] = {s.code: [] for s in subdistricts()}
    for cor in corridors():
        seen: set[str] = set()
        for (x0, y0), (x1, y1) in zip(cor.coords, cor.coords[1:], strict=False):
            steps = max(1, int(distance_km(x0, y0, x1, y1) / 0.05))
            for k in range(steps + 1):
                code = subdistrict_of(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
                if code is not None and code not in seen:
                    seen.add(code)
                    out[code].append(cor.id)
    return {k: tuple(v) for k, v in out.items()}


def grid_cell(lon: float, lat: float) -> str:
    """Id of the ~500 m heatmap cell containing the point, e.g. 'r07c03'."""
    x0, y0, _, _ = district_bbox()
    col = int((lon - x0 + BOUNDARY_MARGIN_DEG) // GRID_DLON)
    row = int((lat - y0 + BOUNDARY_MARGIN_DEG) // GRID_DLAT)
    return f"r{row:02d}c{col:02d}"


def _cell_polygon(row: int, col: int) -> list[list[float]]:
    """Closed ring of one grid cell."""
    x0, y0, _, _ = district_bbox()
    lx = x0 - BOUNDARY_MARGIN_DEG + col * GRID_DLON
    ly = y0 - BOUNDARY_MARGIN_DEG + row * GRID_DLAT
    return [
        [round(lx, 6), round(ly, 6)],
        [round(lx + GRID_DLON, 6), round(ly, 6)],
        [round(lx + GRID_DLON, 6), round(ly + GRID_DLAT, 6)],
        [round(lx, 6), round(ly + GRID_DLAT, 6)],
        [round(lx, 6), round(ly, 6)],
    ]


@cache
def grid_cells() -> tuple[str, ...]:
    """Ids of every grid cell that touches the district."""
    x0, y0, x1, y1 = district_bbox()
    rows = int((y1 - y0 + 2 * BOUNDARY_MARGIN_DEG) // GRID_DLAT) + 1
    cols = int((x1 - x0 + 2 * BOUNDARY_MARGIN_DEG) // GRID_DLON) + 1
    out = []
    for r in range(rows):
        for c in range(cols):
            ring = _cell_polygon(r, c)
            # Keep a cell when its centre or any corner is within the district (with margin).
            pts = [*ring[:4], [(ring[0][0] + ring[2][0]) / 2, (ring[0][1] + ring[2][1]) / 2]]
            if any(in_district(x, y) for x, y in pts):
                out.append(f"r{r:02d}c{c:02d}")
    return tuple(out)


@cache
def grid_geojson() -> dict[str, Any]:
    """The heatmap cells as GeoJSON polygons (id = cell id); sent to the browser once."""
    feats = []
    for cid in grid_cells():
        row, col = int(cid[1:3]), int(cid[4:6])
        feats.append(
            {
                "type": "Feature",
                "id": cid,
                "properties": {"id": cid},
                "geometry": {"type": "Polygon", "coordinates": [_cell_polygon(row, col)]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km."""
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def nearest_place(lon: float, lat: float, *types: str) -> tuple[Place, float] | None:
    """The place of one of `types` nearest to a point, and how far it is in km (None when there is none)."""
    found = places_of_type(*types)
    if not found:
        return None
    best = min(found, key=lambda p: distance_km(lon, lat, p.lon, p.lat))
    return best, distance_km(lon, lat, best.lon, best.lat)


def nearest_corridor(lon: float, lat: float) -> tuple[Corridor, float] | None:
    """The road corridor nearest to a point and how far it is in km (the degrees scaled at this latitude)."""
    scale = math.cos(math.radians(lat))
    best: tuple[Corridor, float] | None = None
    for cor in corridors():
        pts = [((x - lon) * scale, y - lat) for x, y in cor.coords]
        d = min((_dist_to_segment(0.0, 0.0, a, b) for a, b in itertools.pairwise(pts)), default=math.inf)
        if best is None or d < best[1]:
            best = (cor, d)
    if best is None:
        return None
    return best[0], best[1] * 111.32
