"""Map layers: small updates to layers whose geometry was sent once with the layout."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section, dedupe
from dashboard.domain import rules as c
from dashboard.live.keys import CrowdData, HotlineData, IncidentsData, ParkingData, SensorsData, TrafficData
from layouts import ids
from layouts import map as lay


def render_sensors(d: SensorsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Positions only when the set of sensors changed, states only when some state changed."""
    points = d["points"]
    ids_sig = lay.sensors_ids(points)
    return dedupe(
        [
            (lambda: lay.sensors_geojson(points, ctx.lang), ids_sig),
            # States by position, so the ids are part of it: a swapped sensor needs its own colour.
            (lambda: lay.sensors_hideout(points), ids_sig + ":" + "".join(p["state"][:2] for p in points)),
        ],
        prev,
    )


def render_incidents(d: IncidentsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Open incidents as points."""
    return [lay.incidents_geojson(d, ctx.lang)], None


def render_corridors(d: TrafficData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Corridor id -> index, when an index changed at the precision shown."""
    hideout = lay.corridors_hideout(d)
    return dedupe([(lambda: hideout, repr(sorted(hideout.items())))], prev)


def render_heat(d: HotlineData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Cell -> count and cell -> overdue tickets, when a count changed."""
    sig = repr((sorted(d["by_cell"].items()), sorted(d.get("overdue_by_cell", {}).items())))
    return dedupe([(lambda: lay.heat_hideout(d), sig)], prev)


def render_parking(d: ParkingData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Car parks, when an occupancy changed at the precision drawn (whole percent)."""
    sig = repr([(lot["id"], round(lot["ratio"], 2), lot["occupied"]) for lot in d["lots"]])
    return dedupe([(lambda: lay.parking_geojson(d, ctx.lang), sig)], prev)


def render_crowd(d: CrowdData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Scenic spots, when a level or a whole percent changed."""
    sig = repr([(s["id"], s["level"], round(s["ratio"], 2)) for s in d["spots"]])
    return dedupe([(lambda: lay.crowd_geojson(d, ctx.lang), sig)], prev)


def render_warnings(d: Any, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """未诉先办 warnings as points, when the set of warnings or their scores changed."""
    sig = repr([(w.get("id"), round(float(w.get("score") or 0.0), 2)) for w in d.get("warnings", [])]) + ctx.lang
    return dedupe([(lambda: lay.warnings_geojson(d, ctx.lang), sig)], prev)


SECTIONS = (
    Section(
        "map-sensors",
        c.AGG_SENSORS,
        ((ids.MAP_SENSORS, "data"), (ids.MAP_SENSORS, "hideout")),
        render_sensors,
    ),
    Section("map-incidents", c.AGG_INCIDENTS, ((ids.MAP_INCIDENTS, "data"),), render_incidents),
    Section("map-corridors", c.AGG_TRAFFIC, ((ids.MAP_CORRIDORS, "hideout"),), render_corridors),
    Section("map-heat", c.AGG_HOTLINE, ((ids.MAP_HEAT, "hideout"),), render_heat),
    Section("map-parking", c.AGG_PARKING, ((ids.MAP_PARKING, "data"),), render_parking),
    Section("map-crowd", c.AGG_CROWD, ((ids.MAP_CROWD, "data"),), render_crowd),
    Section("map-warnings", c.AGG_WARNINGS, ((ids.MAP_WARNINGS, "data"),), render_warnings),
)
