"""The district map in the centre of the wall: static geography once, live layers as small updates.

Geometry that never changes (outline, subdistricts, corridors, heatmap cells) is sent with the layout;
refreshes only send `hideout` dicts (corridor -> index, cell -> count, sensor -> state) or the small
point collections (incidents, parking, crowds). The drawing functions live in assets/map.js under
window.dashExtensions.dc and are referenced as {"variable": "dashExtensions.dc.<name>"}.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import dash_leaflet as dl
from dash import html

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.i18n import name, t
from dashboard.live.keys import CrowdData, HotlineData, IncidentsData, ParkingData, SensorPoint, TrafficData
from layouts import ids, names
from layouts.common import data_attrs

# Sensor states as small integers, in increasing urgency (the JS colours them).
STATE_CODE: Final = {c.STATE_NORMAL: 0, c.STATE_WARNING: 1, c.STATE_ALARM: 2, c.STATE_SILENT: 3}

# Map panes, bottom to top: the district, the heatmap, roads, names; points stay in Leaflet's own panes.
PANES: Final = (("dc-base", 300), ("dc-heat", 320), ("dc-roads", 340), ("dc-labels", 360))


def fn(name_: str) -> dict[str, str]:
    """Reference to a drawing function of assets/map.js."""
    return {"variable": f"dashExtensions.dc.{name_}"}


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap features into a FeatureCollection."""
    return {"type": "FeatureCollection", "features": features}


def point(fid: str | int, lon: float, lat: float, props: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON point feature."""
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": props,
    }


def _vertical_room(lon: float, lat: float, ring: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """How far (degrees of latitude) a point can move up and down inside `ring` along its meridian."""
    ys = []
    n = len(ring)
    for i in range(n):
        (x0, y0), (x1, y1) = ring[i], ring[(i + 1) % n]
        if (x0 <= lon < x1) or (x1 <= lon < x0):
            ys.append(y0 + (y1 - y0) * (lon - x0) / (x1 - x0))
    above = [y - lat for y in ys if y >= lat]
    below = [lat - y for y in ys if y <= lat]
    return (min(above) if above else 0.0), (min(below) if below else 0.0)


def _area(ring: tuple[tuple[float, float], ...]) -> float:
    """Shoelace area of a ring in square degrees (only compared with each other)."""
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))) / 2


@cache
def labels_geojson(lang: str) -> dict[str, Any]:
    """One point per subdistrict at its label position, carrying its short name.

    `rank` (0 = largest subdistrict) and `up`/`dn` (degrees of latitude the label may move inside its own
    subdistrict) let assets/map.js nudge a label up or down when it would collide with a neighbour's.
    """
    subs = geo.subdistricts()
    order = {s.code: i for i, s in enumerate(sorted(subs, key=lambda s: -_area(s.ring)))}
    feats = []
    for s in subs:
        up, dn = _vertical_room(s.label[0], s.label[1], s.ring)
        props = {"label": names.subdistrict(s.code, lang), "rank": order[s.code], "up": round(up, 5),
                 "dn": round(dn, 5)}
        feats.append(point(s.code, s.label[0], s.label[1], props))
    return feature_collection(feats)


@cache
def corridors_geojson() -> dict[str, Any]:
    """The road corridors as lines (id = corridor id)."""
    return feature_collection(
        [
            {
                "type": "Feature",
                "id": cor.id,
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in cor.coords]},
                "properties": {"id": cor.id, "name_zh": cor.name_zh, "name_en": cor.name_en},
            }
            for cor in geo.corridors()
        ]
    )


def bounds() -> list[list[float]]:
    """The district's bounding box as Leaflet [[south, west], [north, east]]."""
    x0, y0, x1, y1 = geo.district_bbox()
    return [[y0, x0], [y1, x1]]


# --- live layers: pure functions from aggregates to what the map receives ---------------------


def sensors_ids(points: list[SensorPoint]) -> str:
    """A signature of the set of sensors: the point collection is re-sent only when it changes."""
    # crc32, not hash(): str hashes differ between processes, and several web workers serve one wall.
    return f"{len(points)}:{zlib.crc32(','.join(p['id'] for p in points).encode()):08x}"


def sensors_geojson(points: list[SensorPoint], lang: str) -> dict[str, Any]:
    """Sensor positions with their static properties (state and value travel in the hideout)."""
    labels = {ty: (name("sensor", ty, lang), str(spec["unit"])) for ty, spec in c.SENSOR_TYPES.items()}
    feats = []
    for p in points:
        label, unit = labels.get(p["type"], (p["type"], ""))
        feats.append(point(p["id"], p["lon"], p["lat"], {"id": p["id"], "t": label, "u": unit}))
    return feature_collection(feats)


def sensors_hideout(points: list[SensorPoint]) -> dict[str, Any]:
    """{"s": {sensor id: state code}} for the point and cluster colours.

    Only the state, not the reading: readings change every second, states rarely, so the hideout (and
    the redraw of every sensor marker) goes out only when some sensor changes state.
    """
    return {"s": {p["id"]: STATE_CODE.get(p["state"], 3) for p in points}}


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


# --- the map component ------------------------------------------------------------------------


def legend(lang: str, mids: ids.MapIds = ids.WALL_MAP) -> html.Div:
    """The legend in the map's lower-left corner, beside the district (it is tall and narrow)."""

    def item(swatch: Any, label: str) -> html.Div:
        return html.Div([swatch, html.Span(label)], className="legend-item")

    def section(title: str, items: list[html.Div]) -> html.Div:
        return html.Div([html.Div(title, className="map-legend-title"), *items], className="legend-col")

    sev = [item(html.Span(className=f"sev-bg-{s}"), name("sev", s, lang)) for s in c.SEVERITIES]
    states = [
        item(html.Span(className=f"legend-swatch {st}"), name("state", st, lang))
        for st in (c.STATE_NORMAL, c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT)
    ]
    bands = [
        item(html.Span(className=f"legend-swatch line band-{b}"), name("band", b, lang))
        for _, b in c.TRAFFIC_BANDS
    ]
    heat = item(html.Span(className="legend-ramp"), f"{t('legend.low', lang)} → {t('legend.high', lang)}")
    overdue = [
        item(html.Span(className="legend-swatch warning-ring"), t("warn.label", lang)),
        item(html.Span(className="legend-swatch overdue-ring"), t("legend.overdue_incident", lang)),
        item(html.Span(className="legend-swatch overdue-cell"), t("legend.overdue_cell", lang)),
    ]
    return html.Div(
        [
            section(t("legend.severity", lang), sev),
            section(t("legend.sensor", lang), states),
            section(t("legend.traffic", lang), bands),
            section(t("legend.heat", lang), [heat]),
            section(t("legend.attention", lang), overdue),
        ],
        id=mids.legend,
        className="map-legend",
    )


def district_map(
    lang: str, tile_url: str | None = None, scale: float = 1.0, mids: ids.MapIds = ids.WALL_MAP
) -> dl.MapContainer:
    """The Leaflet map: local GeoJSON base map, optional tiles, and the toggleable live layers (IDs `mids`)."""
    base: list[Any] = [dl.Pane(name=n, style={"zIndex": z}) for n, z in PANES]
    if tile_url:
        base.append(dl.TileLayer(id=mids.tiles, url=tile_url, maxZoom=19))
    base += [
        dl.GeoJSON(
            id=mids.subdistricts,
            data=geo.subdistricts_geojson(),
            style=fn("subdistrictStyle"),
            pane="dc-base",
            hideout={"tiles": bool(tile_url)},
        ),
        dl.GeoJSON(
            id=mids.boundary,
            data=geo.boundary_geojson(),
            style=fn("boundaryStyle"),
            pane="dc-base",
            interactive=False,
        ),
        dl.GeoJSON(
            id=mids.labels,
            data=labels_geojson(lang),
            pointToLayer=fn("labelPoint"),
            pane="dc-labels",
            interactive=False,
        ),
    ]
    overlays = [
        dl.Overlay(
            dl.GeoJSON(
                id=mids.heat,
                data=geo.grid_geojson(),
                style=fn("heatStyle"),
                hideout={"c": {}, "max": 0, "o": {}},
                pane="dc-heat",
                interactive=False,
            ),
            name=t("layer.heat", lang),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(
                id=mids.corridors,
                data=corridors_geojson(),
                style=fn("corridorStyle"),
                hideout={},
                pane="dc-roads",
                interactive=False,
            ),
            name=t("layer.corridors", lang),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(
                id=mids.sensors,
                data=feature_collection([]),
                cluster=True,
                pointToLayer=fn("sensorPoint"),
                clusterToLayer=fn("sensorCluster"),
                # Cluster radius in screen pixels, so a 4K wall (one zoom level closer) clusters alike.
                superClusterOptions={"radius": round(72 * scale), "maxZoom": 16},
                zoomToBoundsOnClick=True,
                hideout={"s": {}},
            ),
            name=t("layer.sensors", lang),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(id=mids.parking, data=feature_collection([]), pointToLayer=fn("parkingPoint")),
            name=t("layer.parking", lang),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(id=mids.crowd, data=feature_collection([]), pointToLayer=fn("crowdPoint")),
            name=t("layer.crowd", lang),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(id=mids.warnings, data=feature_collection([]), pointToLayer=fn("warningPoint")),
            name=t("layer.warnings", lang),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(
                id=mids.incidents,
                data=feature_collection([]),
                pointToLayer=fn("incidentPoint"),
                # Only really dense spots cluster; a cluster takes the colour of its most severe incident.
                cluster=True,
                clusterToLayer=fn("incidentCluster"),
                superClusterOptions={"radius": round(36 * scale), "maxZoom": 17},
                zoomToBoundsOnClick=True,
            ),
            name=t("layer.incidents", lang),
            checked=True,
        ),
    ]
    return dl.Map(
        [*base, dl.LayersControl(overlays, id=mids.layers, position="topright", collapsed=False)],
        id=mids.map,
        # The first view; assets/map.js then fits the district to the panel's full height beside the legend
        # and the layer control (on load and on resize only, never on a refresh), at any fractional zoom.
        bounds=bounds(),
        boundsOptions={"padding": [12, 12]},
        zoomSnap=0,
        zoomDelta=0.5,
        minZoom=11,
        maxZoom=18,
        zoomControl=False,
        attributionControl=bool(tile_url),
        # SVG, not canvas: a few hundred shapes are cheap either way, and SVG paths can be checked in the DOM.
        preferCanvas=False,
        # Nobody pans the wall, and dash-leaflet's viewport tracking fails on a map built from bounds alone.
        trackViewport=False,
        style={"width": "100%", "height": "100%"},
    )


def map_panel(lang: str, tile_url: str | None = None, scale: float = 1.0) -> html.Div:
    """The map with its title, freshness badge and legend, filling the centre of the wall."""
    return html.Div(
        [
            district_map(lang, tile_url, scale),
            html.Div(
                [
                    html.H2(t("panel.map", lang), className="panel-title"),
                    html.Span(t("fresh.none", lang), id=ids.FRESHNESS[ids.PANEL_MAP], className="freshness stale"),
                ],
                className="map-title",
            ),
            legend(lang),
        ],
        id=ids.PANEL_MAP,
        className="map-wrap",
        # data-fit: the district's bounds, which assets/map.js fits the map to.
        **data_attrs(stale_label=t("fresh.stale_label", lang), fit=json.dumps(bounds())),
    )
