"""The console's map: the wall's base map with the incident, its units, the suggested units and the point picked
for a new incident, and the viewport that focuses it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import dash_leaflet as dl

from dashboard.domain import rules as c
from dashboard.domain.tiles import NO_TILES, TileSource
from dashboard.i18n import name
from layouts import ids
from layouts.dispatch.parts import km_text, unit_name
from layouts.dispatch.suggest import ROW_FREE
from layouts.map.geometry import (
    base_layers,
    bounds,
    drawn_point,
    feature_collection,
    fn,
    geojson_layer,
    point,
)

# Zoom when the map centres on an incident without units around it.
FOCUS_ZOOM: Final = 15.5


def console_map(lang: str, tiles: TileSource = NO_TILES) -> dl.Map:
    """The wall's base map (district, subdistricts, names from local GeoJSON; tiles only when configured) with
    the incident, the units and the point picked for a new incident, drawn where `tiles` show them."""
    layers = base_layers(lang, tiles)
    layers += [
        geojson_layer(tiles, id=ids.DISPATCH_MAP_UNITS, pointToLayer={"variable": "dashExtensions.dcd.unitPoint"}),
        geojson_layer(tiles, id=ids.DISPATCH_MAP_INCIDENT, pointToLayer=fn("incidentPoint")),
        geojson_layer(tiles, id=ids.DISPATCH_MAP_PICK, pointToLayer={"variable": "dashExtensions.dcd.pickPoint"}),
    ]
    return dl.Map(
        layers,
        id=ids.DISPATCH_MAP,
        # The whole district until an incident is opened; then the map flies to it (focus_viewport).
        bounds=bounds(tiles),
        boundsOptions={"padding": [8, 8]},
        zoomSnap=0.25,
        minZoom=11,
        maxZoom=18,
        attributionControl=bool(tiles.url),
        trackViewport=False,
        style={"width": "100%", "height": "100%"},
    )


def incident_geojson(d: dict[str, Any], lang: str) -> dict[str, Any]:
    """The incident as one point (drawn like on the wall: a severity-coloured marker)."""
    tip = f"{c.SEVERITY_ROMAN.get(d['severity'], '')} · {name('inc_cat', d['category'], lang)} · {d['title']}"
    return feature_collection(
        [point(f"i{d['id']}", d["lon"], d["lat"], {"sev": d["severity"], "ts": d["created_at"].timestamp(),
                                                   "tip": tip})]
    )


def units_geojson(d: dict[str, Any], suggestions: Iterable[dict[str, Any]], lang: str) -> dict[str, Any]:
    """Assigned units (role "a") and suggested ones (role "s", numbered as in the list) as points; a row of the list
    that is no longer a free unit (layouts/dispatch/suggest.py: "row") has no point of its own."""
    feats = []
    assigned: set[int] = set()
    for u in d.get("units", []):
        assigned.add(u["id"])
        tip = f"{unit_name(u, lang)} · {name('unit_status', u['status'], lang)}"
        feats.append(point(f"u{u['id']}", u["lon"], u["lat"], {"r": "a", "k": u["kind"], "label": u["code"],
                                                               "tip": tip}))
    for i, u in enumerate(suggestions):
        if u.get("row", ROW_FREE) != ROW_FREE or u["id"] in assigned or "lon" not in u:
            continue
        tip = f"{i + 1}. {unit_name(u, lang)} · {km_text(u, lang)}"
        feats.append(point(f"u{u['id']}", u["lon"], u["lat"], {"r": "s", "k": u["kind"], "label": str(i + 1),
                                                               "tip": tip}))
    return feature_collection(feats)


def focus_viewport(
    d: dict[str, Any], suggestions: Iterable[dict[str, Any]], tiles: TileSource = NO_TILES
) -> dict[str, Any]:
    """Centre the map on the incident, wide enough to show the nearest suggested units (at most ~2 km away);
    in the coordinates the map draws in over `tiles`."""
    lon, lat = drawn_point(tiles, d["lon"], d["lat"])
    pts = [(lon, lat)]
    pts += [drawn_point(tiles, u["lon"], u["lat"]) for u in list(suggestions)[:3]
            if u.get("distance_km", 99) < 2.5 and "lon" in u]
    pts += [drawn_point(tiles, u["lon"], u["lat"]) for u in d.get("units", [])]
    if len(pts) == 1:
        return {"center": [lat, lon], "zoom": FOCUS_ZOOM, "transition": "flyTo"}
    # Symmetric around the incident, so it stays in the centre.
    dx = max(abs(x - lon) for x, _ in pts) + 0.002
    dy = max(abs(y - lat) for _, y in pts) + 0.0015
    return {
        "bounds": [[lat - dy, lon - dx], [lat + dy, lon + dx]],
        "transition": "flyToBounds",
        "options": {"maxZoom": FOCUS_ZOOM, "padding": [36, 36], "duration": 0.6},
    }


def pick_geojson(lon: float | None, lat: float | None) -> dict[str, Any]:
    """The point picked for a new incident (none until one is picked)."""
    if lon is None or lat is None:
        return feature_collection([])
    return feature_collection([point("pick", lon, lat, {})])
