"""The map's live layers: pure functions from aggregates to what the map receives (small point collections and
`hideout` dicts), and the map's sections of the wall's refresh, which the tablet reuses (callbacks/tablet.py)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.i18n import name, t
from dashboard.live.schema import (
    AGG_CROWD,
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_PARKING,
    AGG_SENSORS,
    AGG_TRAFFIC,
    AGG_WARNINGS,
    CrowdData,
    HotlineData,
    IncidentsData,
    ParkingData,
    SensorsData,
    TrafficData,
)
from layouts import ids, names
from layouts.map.geometry import feature_collection, point
from layouts.section import Ctx, Section, dedupe

_NO_BINS: Final[dict[str, Any]] = {"z": 0, "cells": []}


def _cells(d: Mapping[str, Any]) -> list[list[Any]]:
    """The sensor bins of a sensors aggregate ([key, lon, lat, n, normal, warning, alarm, silent] each)."""
    return list((d.get("bins") or _NO_BINS).get("cells") or [])


def sensors_ids(cells: list[list[Any]]) -> str:
    """A signature of the bins' positions and sizes: the point collection is re-sent only when they change."""
    # crc32, not hash(): str hashes differ between processes, and several web workers serve one wall.
    text = ";".join(f"{cell[0]},{cell[1]},{cell[2]},{cell[3]}" for cell in cells)
    return f"{len(cells)}:{zlib.crc32(text.encode()):08x}"


def sensors_geojson(cells: list[list[Any]]) -> dict[str, Any]:
    """The sensor bins as points with their key and how many sensors each holds (their states travel in the
    hideout)."""
    return feature_collection(
        [point(str(cell[0]), float(cell[1]), float(cell[2]), {"k": str(cell[0]), "n": int(cell[3])}) for cell in cells]
    )


def sensors_hideout(cells: list[list[Any]], lang: str) -> dict[str, Any]:
    """{"b": {bin: [warning, alarm, silent]} for the bins not all normal, "l": the tooltip's words}.

    Only the counts by state, not the readings: readings change every second, states rarely, so the hideout
    (and the redraw of the sensor marks) goes out only when some sensor changes state.
    """
    flagged = {str(cell[0]): [int(cell[5]), int(cell[6]), int(cell[7])] for cell in cells if any(cell[5:8])}
    words = [name("state", st, lang) for st in (c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT)]
    return {"b": flagged, "l": [t("legend.sensor", lang), *words]}


def incidents_geojson(d: IncidentsData, lang: str) -> dict[str, Any]:
    """Open incidents as points with severity, creation time (for the pulse) and a tooltip."""
    cats = {k: name("inc_cat", k, lang) for k in c.INCIDENT_CATEGORIES}
    return feature_collection(
        [
            point(
                it["id"],
                it["lon"],
                it["lat"],
                {
                    "sev": it["severity"],
                    "ts": it["created_at"],
                    # Past its deadline: a red clock ring on the marker (assets/map.js).
                    "od": 1 if it.get("overdue") else 0,
                    "tip": f"{c.SEVERITY_ROMAN.get(it['severity'], '')} · "
                    f"{cats.get(it['category'], it['category'])} · {it['title']}"
                    + (f" · {t('map.overdue', lang)}" if it.get("overdue") else ""),
                },
            )
            for it in d["items"]
        ]
    )


def warnings_geojson(d: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """未诉先办 warnings as points: score (ring size), kind, and a tooltip with the reasons in the page's language."""
    label = t("warn.label", lang)
    feats = []
    for w in d.get("warnings", []):
        reasons = w.get("reasons_en" if lang == "en" else "reasons_zh") or []
        place = names.subdistrict(w.get("subdistrict"), lang)
        # One line each: assets/map.js escapes every line and breaks between them.
        tip = "\n".join([f"{label} · {name('hl_cat', w.get('category'), lang)} · {place}", *reasons[:3]])
        feats.append(point(str(w["id"]), float(w["lon"]), float(w["lat"]),
                           {"s": round(float(w.get("score") or 0.0), 2), "k": w.get("kind"), "tip": tip}))
    return feature_collection(feats)


def corridors_hideout(d: TrafficData) -> dict[str, float]:
    """{corridor id: traffic index (one decimal, as shown)} for the corridor colours."""
    return {cor["id"]: round(cor["index"], 1) for cor in d["corridors"]}


def heat_hideout(d: HotlineData) -> dict[str, Any]:
    """{"c": {cell: count}, "max": largest count, "o": {cell: overdue tickets}} for the heatmap colour ramp and
    the red outline of the cells where tickets are past their deadline."""
    counts = {k: v for k, v in d["by_cell"].items() if v}
    overdue = {k: v for k, v in d.get("overdue_by_cell", {}).items() if v}
    return {"c": counts, "max": max(counts.values(), default=0), "o": overdue}


def parking_geojson(d: ParkingData, lang: str) -> dict[str, Any]:
    """Car parks as points with their occupancy ratio."""
    return feature_collection(
        [
            point(
                lot["id"],
                lot["lon"],
                lot["lat"],
                {
                    "r": round(lot["ratio"], 2),
                    "tip": f"{lot['name_en'] if lang == 'en' else lot['name_zh']} "
                    f"{lot['occupied']}/{lot['capacity']}",
                },
            )
            for lot in d["lots"]
        ]
    )


def crowd_geojson(d: CrowdData, lang: str) -> dict[str, Any]:
    """Scenic spots as points with their crowd level and ratio."""
    return feature_collection(
        [
            point(
                s["id"],
                s["lon"],
                s["lat"],
                {
                    "lvl": s["level"],
                    "r": round(s["ratio"], 2),
                    "tip": f"{s['name_en'] if lang == 'en' else s['name_zh']} {round(s['ratio'] * 100)}% "
                    f"{name('crowd', s['level'], lang)}",
                },
            )
            for s in d["spots"]
        ]
    )


# --- the wall refresh's sections (callbacks/refresh.py): small updates to layers sent once with the layout -----


def render_sensors(d: SensorsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Bin positions only when the bins changed, their states only when some state changed (never one mark per
    sensor: dashboard/domain/clusters.py)."""
    cells = _cells(d)
    ids_sig = sensors_ids(cells)
    states = repr([(cell[0], *cell[5:8]) for cell in cells if any(cell[5:8])])
    return dedupe(
        [
            (lambda: sensors_geojson(cells), ids_sig),
            (lambda: sensors_hideout(cells, ctx.lang), ids_sig + ":" + states + ctx.lang),
        ],
        prev,
    )


def render_incidents(d: IncidentsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Open incidents as points."""
    return [incidents_geojson(d, ctx.lang)], None


def render_corridors(d: TrafficData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Corridor id -> index, when an index changed at the precision shown."""
    hideout = corridors_hideout(d)
    return dedupe([(lambda: hideout, repr(sorted(hideout.items())))], prev)


def render_heat(d: HotlineData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Cell -> count and cell -> overdue tickets, when a count changed."""
    sig = repr((sorted(d["by_cell"].items()), sorted(d.get("overdue_by_cell", {}).items())))
    return dedupe([(lambda: heat_hideout(d), sig)], prev)


def render_parking(d: ParkingData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Car parks, when an occupancy changed at the precision drawn (whole percent)."""
    sig = repr([(lot["id"], round(lot["ratio"], 2), lot["occupied"]) for lot in d["lots"]])
    return dedupe([(lambda: parking_geojson(d, ctx.lang), sig)], prev)


def render_crowd(d: CrowdData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Scenic spots, when a level or a whole percent changed."""
    sig = repr([(s["id"], s["level"], round(s["ratio"], 2)) for s in d["spots"]])
    return dedupe([(lambda: crowd_geojson(d, ctx.lang), sig)], prev)


def render_warnings(d: Any, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """未诉先办 warnings as points, when the set of warnings or their scores changed."""
    sig = repr([(w.get("id"), round(float(w.get("score") or 0.0), 2)) for w in d.get("warnings", [])]) + ctx.lang
    return dedupe([(lambda: warnings_geojson(d, ctx.lang), sig)], prev)


SECTIONS = (
    Section(
        "map-sensors",
        AGG_SENSORS,
        ((ids.MAP_SENSORS, "data"), (ids.MAP_SENSORS, "hideout")),
        render_sensors,
    ),
    Section("map-incidents", AGG_INCIDENTS, ((ids.MAP_INCIDENTS, "data"),), render_incidents),
    Section("map-corridors", AGG_TRAFFIC, ((ids.MAP_CORRIDORS, "hideout"),), render_corridors),
    Section("map-heat", AGG_HOTLINE, ((ids.MAP_HEAT, "hideout"),), render_heat),
    Section("map-parking", AGG_PARKING, ((ids.MAP_PARKING, "data"),), render_parking),
    Section("map-crowd", AGG_CROWD, ((ids.MAP_CROWD, "data"),), render_crowd),
    Section("map-warnings", AGG_WARNINGS, ((ids.MAP_WARNINGS, "data"),), render_warnings),
)
