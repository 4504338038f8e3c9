"""Map tiles drawn in GCJ-02 (TILE_CRS=gcj02): what is drawn moves onto them, what is stored never does; a second
tile layer for labels (TILE_LABELS_URL). Pure conversions, the layouts, the settings, taps, and a real browser."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path
from typing import Any

import dash_leaflet as dl
import pytest
from dash.testing.wait import until
from hypothesis import given
from hypothesis import strategies as st

from callbacks import tablet as tablet_cb
from callbacks.router import render_page
from dashboard.config import Config, ConfigError
from dashboard.domain import geo
from dashboard.domain.tiles import NO_TILES, TileSource, gcj02_to_wgs84, stored_point, wgs84_to_gcj02
from layouts.dispatch.map import focus_viewport
from layouts.map.geometry import bounds
from tests.helpers import incident, start_dash
from tests.test_browser import ingest, log_in
from tests.test_layouts import of_type

GCJ = TileSource("http://tiles.example/{z}/{x}/{y}.png", "http://labels.example/{z}/{x}/{y}.png", "gcj02")
DONGCHENG = st.tuples(st.floats(116.38, 116.45), st.floats(39.85, 39.98))


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return geo.distance_km(a[0], a[1], b[0], b[1]) * 1000


def test_a_published_point_converts_as_the_reference_implementations_do() -> None:
    # eviltransform's Beijing case (WGS-84 39.911954, 116.377817).
    lon, lat = wgs84_to_gcj02(116.377817, 39.911954)
    assert lon == pytest.approx(116.38404722455657, abs=1e-9) and lat == pytest.approx(39.91334545536069, abs=1e-9)


@given(DONGCHENG)
def test_in_dongcheng_the_tiles_are_about_half_a_kilometre_off_and_the_inverse_finds_the_point(
    p: tuple[float, float],
) -> None:
    shifted = wgs84_to_gcj02(*p)
    assert 450 < metres(p, shifted) < 700
    back = gcj02_to_wgs84(*shifted)
    assert metres(p, back) < 0.001


@given(st.tuples(st.floats(-180, 180), st.floats(-89, 89)))
def test_outside_china_nothing_moves(p: tuple[float, float]) -> None:
    lon, lat = p
    if 72 <= lon <= 138 and 0 <= lat <= 56:
        return
    assert wgs84_to_gcj02(lon, lat) == (lon, lat) == gcj02_to_wgs84(lon, lat)


def test_only_gcj02_tiles_move_what_is_drawn() -> None:
    assert not NO_TILES.shifted and not TileSource("http://t/{z}/{x}/{y}").shifted
    assert not TileSource(None, None, "gcj02").shifted  # no tiles to match: the district's own outlines
    assert GCJ.shifted
    assert stored_point(NO_TILES, 116.4, 39.9) == (116.4, 39.9)
    assert metres((116.4, 39.9), stored_point(GCJ, 116.4, 39.9)) > 450


def test_the_settings_name_the_coordinate_system_and_refuse_others() -> None:
    assert Config.from_env({}).tiles == NO_TILES
    got = Config.from_env({"TILE_URL": GCJ.url or "", "TILE_LABELS_URL": GCJ.labels_url or "", "TILE_CRS": "GCJ02"})
    assert got.tiles == GCJ
    with pytest.raises(ConfigError, match="TILE_CRS"):
        Config.from_env({"TILE_CRS": "bd09"})


@pytest.mark.parametrize("path", ["/wall", "/tablet", "/dispatch"])
def test_over_gcj02_tiles_every_layer_of_every_map_draws_moved_and_labels_lie_above(path: str) -> None:
    tree = render_page(path, "admin", "zh", 1.0, GCJ)
    layers = of_type(tree, dl.GeoJSON)
    assert len(layers) >= 6
    assert all(g.coordsToLatLng == {"variable": "dashExtensions.dcCrs.drawnLatLng"} for g in layers)
    assert [t.url for t in of_type(tree, dl.TileLayer)] == [GCJ.url, GCJ.labels_url]
    assert of_type(tree, dl.MapContainer)[0].bounds == bounds(GCJ) != bounds()
    plain = render_page(path, "admin", "zh", 1.0, dataclasses.replace(GCJ, crs="wgs84", labels_url=None))
    assert not any(getattr(g, "coordsToLatLng", None) for g in of_type(plain, dl.GeoJSON))
    assert len(of_type(plain, dl.TileLayer)) == 1


def test_the_screens_build_every_geojson_layer_with_the_one_builder_that_applies_the_tiles() -> None:
    # A layer made with dl.GeoJSON elsewhere would draw its points where GCJ-02 tiles do not show them.
    root = Path(__file__).resolve().parent.parent
    builder = root / "layouts" / "map" / "geometry.py"
    elsewhere = []
    for path in sorted([*(root / "layouts").rglob("*.py"), *(root / "callbacks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func if isinstance(node, ast.Call) else None
            name_ = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", None)
            if name_ == "GeoJSON" and path != builder:
                elsewhere.append(f"{path.relative_to(root)}:{node.lineno}")
    assert elsewhere == []


def test_the_console_flies_to_where_the_incident_is_drawn() -> None:
    d = {"lon": 116.417, "lat": 39.924, "units": []}
    centre = focus_viewport(d, [], GCJ)["center"]
    assert (centre[1], centre[0]) == pytest.approx(wgs84_to_gcj02(116.417, 39.924))
    assert focus_viewport(d, [])["center"] == [39.924, 116.417]


def test_a_tap_on_gcj02_tiles_picks_the_subdistrict_under_the_finger() -> None:
    for sub in geo.subdistricts():
        lon, lat = wgs84_to_gcj02(*sub.label)  # where the label is drawn, and so tapped
        assert tablet_cb.tapped_subdistrict(None, {"latlng": [lat, lon]}, True, GCJ) == sub.code


# --- a real browser: the marks land where the tiles show the place ------------------------------------------

@pytest.fixture
def config(redis_url: str, tmp_path: Path) -> Config:
    """The wall over GCJ-02 tiles from a server that never answers (the tiles' places are what is checked)."""
    base = Config.for_tests(redis_url=redis_url, database_url=f"sqlite:///{tmp_path / 'tiles.db'}")
    return dataclasses.replace(base, tile_url="http://127.0.0.1:9/{z}/{x}/{y}.png", tile_crs="gcj02")


# Where a stored point lies on the screen according to the tiles themselves: a tile's image shows tile x/y of zoom
# z, so a point's pixel follows from any tile's box (Web Mercator; the map zooms fractionally, so tiles are scaled).
PIXEL_OF_JS = """
const [lon, lat] = arguments;
const tile = Array.from(document.querySelectorAll('img.leaflet-tile')).find(i => i.getBoundingClientRect().width);
const [z, x, y] = tile.getAttribute('src').match(/(\\d+)\\/(\\d+)\\/(\\d+)\\.png/).slice(1).map(Number);
const world = 256 * Math.pow(2, z), r = lat * Math.PI / 180;
const wx = (lon + 180) / 360 * world, wy = (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * world;
const b = tile.getBoundingClientRect(), k = b.width / 256;
return [b.left + (wx - x * 256) * k, b.top + (wy - y * 256) * k];
"""
MARK_JS = """
const m = document.querySelector('.incident-mark');
if (!m) { return null; }
const b = m.getBoundingClientRect();
return [b.left + b.width / 2, b.top + b.height / 2];
"""


@pytest.mark.browser
def test_on_gcj02_tiles_an_incident_is_drawn_where_the_tiles_show_its_place(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    dash_duo.driver.set_window_size(1920, 1080)
    ingest(app, [incident("gcj1", severity=1)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: dash_duo.driver.execute_script(MARK_JS) is not None, timeout=15)
    # The browser's formula is the server's.
    assert dash_duo.driver.execute_script("return window.dcCrs.toGcj(116.377817, 39.911954)") == pytest.approx(
        list(wgs84_to_gcj02(116.377817, 39.911954)), abs=1e-9)
    shown = wgs84_to_gcj02(116.4170, 39.9240)

    def places() -> tuple[list[float], list[float], list[float]]:
        """The mark's pixel, and where the tiles show the shifted and the stored point, read one after the other
        (the map may still be settling after the first frame: the test waits for it)."""
        mark = dash_duo.driver.execute_script(MARK_JS)
        return (mark, dash_duo.driver.execute_script(PIXEL_OF_JS, *shown),
                dash_duo.driver.execute_script(PIXEL_OF_JS, 116.4170, 39.9240))

    # Read again until the map has settled (the panels' first layout can move it a few pixels under the reads).
    until(lambda: math.dist(*places()[:2]) < 3, timeout=10, msg=f"the mark is not where the tiles show: {places()}")
    mark, _, where_stored = places()
    assert math.dist(mark, where_stored) > 15  # ~555 m: the error the setting removes
