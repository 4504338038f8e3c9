"""The district map's static geography, sent once with the layout: panes, label points, corridor lines, the
bounds, and the small GeoJSON helpers every map of the screens builds with."""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import dash_leaflet as dl

from dashboard.domain import geo
from dashboard.domain.tiles import NO_TILES, TileSource, wgs84_to_gcj02
from layouts import names
from layouts.ids import MapIds

# Map panes, bottom to top: the district, the heatmap, roads, names; points stay in Leaflet's own panes.
PANES: Final = (("dc-base", 300), ("dc-heat", 320), ("dc-roads", 340), ("dc-labels", 360))
# A tile server's own labels (TILE_LABELS_URL) lie above the base map's outlines and heat, below the live marks.
TILE_LABELS_PANE: Final = ("dc-tile-labels", 350)


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


def bounds(tiles: TileSource = NO_TILES) -> list[list[float]]:
    """The district's bounding box as Leaflet [[south, west], [north, east]], where `tiles` draw it."""
    x0, y0, x1, y1 = geo.district_bbox()
    (x0, y0), (x1, y1) = drawn_point(tiles, x0, y0), drawn_point(tiles, x1, y1)
    return [[y0, x0], [y1, x1]]


def drawn_point(tiles: TileSource, lon: float, lat: float) -> tuple[float, float]:
    """A stored (WGS-84) point where the map draws it: moved onto GCJ-02 tiles, else as it is."""
    return wgs84_to_gcj02(lon, lat) if tiles.shifted else (lon, lat)


# Over GCJ-02 tiles, a GeoJSON layer's coordsToLatLng: its stored WGS-84 points are drawn moved (assets/crs.js).
DRAWN_LAT_LNG: Final = {"variable": "dashExtensions.dcCrs.drawnLatLng"}


def geojson_layer(tiles: TileSource, data: dict[str, Any] | None = None, **options: Any) -> dl.GeoJSON:
    """A GeoJSON layer of a district map with dash-leaflet's `options`: `data` (no features until a refresh sends
    some) drawn where `tiles` show it. Every map's every GeoJSON layer is built here, so none is left where the
    tiles do not show it."""
    if tiles.shifted:
        options["coordsToLatLng"] = DRAWN_LAT_LNG
    return dl.GeoJSON(data=feature_collection([]) if data is None else data, **options)


def base_layers(lang: str, tiles: TileSource, mids: MapIds | None = None) -> list[Any]:
    """What every district map starts with: its panes, the tile server's layers, the subdistricts, the district's
    outline and the subdistricts' names. With `mids` they take its IDs and the subdistricts answer taps (the
    tablet picks one); without, the map only shows them (the console)."""
    layers: list[Any] = [dl.Pane(name=n, style={"zIndex": z}) for n, z in PANES]
    layers += tile_layers(tiles, mids.tiles if mids else None)
    subdistricts = {"id": mids.subdistricts} if mids else {"interactive": False}
    layers += [
        geojson_layer(tiles, geo.subdistricts_geojson(), style=fn("subdistrictStyle"), pane="dc-base",
                      hideout={"tiles": bool(tiles.url)}, **subdistricts),
        geojson_layer(tiles, geo.boundary_geojson(), style=fn("boundaryStyle"), pane="dc-base", interactive=False,
                      **({"id": mids.boundary} if mids else {})),
        geojson_layer(tiles, labels_geojson(lang), pointToLayer=fn("labelPoint"), pane="dc-labels",
                      interactive=False, **({"id": mids.labels} if mids else {})),
    ]
    return layers


def tile_layers(tiles: TileSource, layer_id: str | None = None) -> list[Any]:
    """The configured tile server's layers: its images, and its labels above the outlines when served apart."""
    if not tiles.url:
        return []
    base = dl.TileLayer(url=tiles.url, maxZoom=19, **({"id": layer_id} if layer_id else {}))
    if not tiles.labels_url:
        return [base]
    name_, z = TILE_LABELS_PANE
    return [base, dl.Pane(name=name_, style={"zIndex": z, "pointerEvents": "none"}),
            dl.TileLayer(url=tiles.labels_url, maxZoom=19, pane=name_)]
