"""The district map component: the Leaflet map with its base layers and toggleable live layers (empty until the
first refresh), its legend, and the wall's map panel around it.

Geometry that never changes (outline, subdistricts, corridors, heatmap cells) is sent with the layout;
refreshes only send `hideout` dicts (corridor -> index, cell -> count, sensor -> state) or the small
point collections (incidents, parking, crowds): layouts/map/layers.py. The drawing functions live in
assets/map.js under window.dashExtensions.dc and are referenced as {"variable": "dashExtensions.dc.<name>"}.
"""

from __future__ import annotations

import json
from typing import Any

import dash_leaflet as dl
from dash import html

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.clusters import MAP_ZOOM
from dashboard.domain.tiles import NO_TILES, TileSource
from dashboard.i18n import name, t
from layouts import ids
from layouts.common import data_attrs
from layouts.map.geometry import (
    base_layers,
    bounds,
    corridors_geojson,
    fn,
    geojson_layer,
)


def legend(lang: str, mids: ids.MapIds = ids.WALL_MAP) -> html.Div:
    """The legend in the map's lower-left corner, beside the district (it is tall and narrow)."""

    def item(swatch: Any, label: str) -> html.Div:
        return html.Div([swatch, html.Span(label)], className="legend-item")

    def section(title: str, items: list[html.Div]) -> html.Div:
        return html.Div([html.Div(title, className="map-legend-title"), *items], className="legend-col")

    sev = [item(html.Span(className=f"sev-bg-{s}"), name("sev", s, lang)) for s in c.SEVERITIES]
    # Sensor marks are rings styled by their worst state, never in a severity's colour (assets/map.js).
    states = [
        item(html.Span(className=f"legend-swatch sensor-ring st-{code}"), name("state", st, lang))
        for code, st in enumerate((c.STATE_NORMAL, c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT))
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
    lang: str,
    tiles: TileSource = NO_TILES,
    scale: float = 1.0,
    mids: ids.MapIds = ids.WALL_MAP,
    hidden: frozenset[str] = frozenset(),
    collapsed: bool = False,
) -> dl.MapContainer:
    """The Leaflet map: local GeoJSON base map, optional tiles, and the toggleable live layers (IDs `mids`; those
    in `hidden` start switched off; `collapsed`: the layer control is a button until tapped).

    Over GCJ-02 tiles every layer draws its stored WGS-84 points moved onto them (`geojson_layer`)."""
    base = base_layers(lang, tiles, mids)

    def overlay(layer: str, data: dict[str, Any] | None = None, **options: Any) -> dl.Overlay:
        """A live layer the layer control switches: ID and name its own (mids.<layer>, "layer.<layer>")."""
        layer_id = getattr(mids, layer)
        return dl.Overlay(geojson_layer(tiles, data, id=layer_id, **options), name=t(f"layer.{layer}", lang),
                          checked=layer_id not in hidden)

    overlays = [
        overlay("heat", geo.grid_geojson(), style=fn("heatStyle"), hideout={"c": {}, "max": 0, "o": {}},
                pane="dc-heat", interactive=False),
        overlay("corridors", corridors_geojson(), style=fn("corridorStyle"), hideout={}, pane="dc-roads",
                interactive=False),
        overlay(
            "sensors",
            cluster=True,
            pointToLayer=fn("sensorPoint"),
            clusterToLayer=fn("sensorCluster"),
            # The data are the server's bins (dashboard/domain/clusters.py, cells of MAP_ZOOM); zoomed out further,
            # supercluster merges them. Radius in screen pixels, so a 4K wall (one zoom level closer) merges alike.
            superClusterOptions={"radius": round(44 * scale), "maxZoom": MAP_ZOOM - 1},
            zoomToBoundsOnClick=True,
            hideout={"b": {}, "l": []},
        ),
        overlay("parking", pointToLayer=fn("parkingPoint")),
        overlay("crowd", pointToLayer=fn("crowdPoint")),
        overlay("warnings", pointToLayer=fn("warningPoint")),
        overlay(
            "incidents",
            pointToLayer=fn("incidentPoint"),
            # Only really dense spots cluster; a cluster takes the colour of its most severe incident.
            cluster=True,
            clusterToLayer=fn("incidentCluster"),
            superClusterOptions={"radius": round(36 * scale), "maxZoom": 17},
            zoomToBoundsOnClick=True,
        ),
    ]
    return dl.Map(
        [*base, dl.LayersControl(overlays, id=mids.layers, position="topright", collapsed=collapsed)],
        id=mids.map,
        # The first view; assets/map.js then fits the district to the panel's full height beside the legend
        # and the layer control (on load and on resize only, never on a refresh), at any fractional zoom.
        bounds=bounds(tiles),
        boundsOptions={"padding": [12, 12]},
        zoomSnap=0,
        zoomDelta=0.5,
        minZoom=11,
        maxZoom=18,
        zoomControl=False,
        attributionControl=bool(tiles.url),
        # SVG, not canvas: a few hundred shapes are cheap either way, and SVG paths can be checked in the DOM.
        preferCanvas=False,
        # Nobody pans the wall, and dash-leaflet's viewport tracking fails on a map built from bounds alone.
        trackViewport=False,
        style={"width": "100%", "height": "100%"},
    )


def tiles_crs(tiles: TileSource) -> str:
    """The coordinate system the map's points are drawn in: GCJ-02 over such tiles, else WGS-84 as stored."""
    return "gcj02" if tiles.shifted else "wgs84"


def map_panel(lang: str, tiles: TileSource = NO_TILES, scale: float = 1.0) -> html.Div:
    """The map with its title, freshness badge and legend, filling the centre of the wall."""
    return html.Div(
        [
            district_map(lang, tiles, scale),
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
        # data-fit: the district's bounds, which assets/map.js fits the map to; data-crs: where points are drawn
        # (assets/crs.js moves the alarm's fly-to target with them).
        **data_attrs(stale_label=t("fresh.stale_label", lang), fit=json.dumps(bounds(tiles)), crs=tiles_crs(tiles)),
    )
