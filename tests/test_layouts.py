"""Layouts, IDs, translations and routing: pure builders tested without a browser or a server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import dash_leaflet as dl
import flask
import pytest
from dash.development.base_component import Component

from dashboard import i18n
from dashboard.domain.tiles import TileSource
from layouts import ids, pages, shell
from layouts.wall import PANEL_AGGS, PANEL_CLASS, wall
from workers.hotline_counts import figures

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def walk(node: Any) -> Iterator[Any]:
    """Every component (and element dict) in a layout tree."""
    if isinstance(node, list | tuple):
        for child in node:
            yield from walk(child)
    elif isinstance(node, Component):
        yield node
        for name in ("children",):
            yield from walk(getattr(node, name, None))
    elif isinstance(node, dict) and "props" in node:
        yield node
        yield from walk(node["props"].get("children"))


def string_ids(tree: Any) -> list[str]:
    """Every string ID in a tree."""
    out = []
    for comp in walk(tree):
        cid = comp["props"].get("id") if isinstance(comp, dict) else getattr(comp, "id", None)
        if isinstance(cid, str):
            out.append(cid)
    return out


# --- shell and IDs ----------------------------------------------------------------------------


def test_shell_layout_builds_without_a_request() -> None:
    """Dash calls the layout once at start-up, outside any request."""
    assert not flask.has_request_context()
    tree = shell.layout()
    assert {ids.URL, ids.PAGE, ids.VIEWPORT} <= set(string_ids(tree))


def test_shell_layout_reads_the_session_language() -> None:
    """Inside a request the loading text follows the session's language."""
    app = flask.Flask(__name__)
    app.secret_key = "test"
    with app.test_request_context("/wall"):
        flask.session["lang"] = "en"
        texts = [c.children for c in walk(shell.layout()) if isinstance(getattr(c, "children", None), str)]
    assert "Loading…" in texts


def test_every_id_is_unique() -> None:
    """No two constants in ids.py share a value."""
    all_ids = ids.all_ids()
    dupes = {i for i in all_ids if all_ids.count(i) > 1}
    assert not dupes


def test_wall_uses_only_declared_ids_and_each_once() -> None:
    """Every ID in the wall comes from ids.py, and none appears twice."""
    used = string_ids(wall("zh"))
    assert len(used) == len(set(used))
    assert set(used) <= set(ids.all_ids())


def test_every_refresh_output_exists_in_the_wall() -> None:
    """The refresh callback and the freshness callback only write to components the wall has."""
    from layouts.wall_frame import SECTION_OUTPUTS

    present = set(string_ids(wall("zh")))
    missing = {cid for cid, _ in SECTION_OUTPUTS if cid not in present}
    assert not missing
    assert set(PANEL_AGGS) <= present
    assert {ids.FRESHNESS[p] for p in PANEL_AGGS} <= present
    assert set(PANEL_CLASS) == set(PANEL_AGGS)


def test_the_live_badge_has_its_live_delayed_and_down_texts_in_both_languages() -> None:
    """The browser turns the top bar's live badge to delayed by the panels' staleness (assets/wall.js): its texts
    come with the wall's strings, and the badge it writes is on the wall."""
    from layouts.wall import client_strings

    assert ids.WALL_MODE in set(string_ids(wall("zh")))
    zh, en = client_strings("zh"), client_strings("en")
    assert (zh["wall.live"], zh["wall.delayed"], zh["wall.down"]) == ("实时", "数据延迟 · {age}", "数据中断")
    assert (en["wall.live"], en["wall.delayed"], en["wall.down"]) == ("LIVE", "DELAYED · {age}", "FEED DOWN")
    assert zh["stale_after"] == en["stale_after"] > 0


# --- the wall and its map ---------------------------------------------------------------------


def of_type(tree: Any, cls: type) -> list[Any]:
    """Components of one class anywhere in the tree (the map's layers live in its children)."""
    return [c for c in walk(tree) if isinstance(c, cls)]


def test_wall_map_has_no_tile_layer_by_default() -> None:
    """No internet tiles unless TILE_URL is configured: the base map is local GeoJSON."""
    tree = wall("zh")
    maps = of_type(tree, dl.MapContainer)
    assert len(maps) == 1
    assert not of_type(tree, dl.TileLayer)
    geojson_ids = {g.id for g in of_type(tree, dl.GeoJSON)}
    assert {ids.MAP_BOUNDARY, ids.MAP_SUBDISTRICTS, ids.MAP_LABELS} <= geojson_ids
    subdistricts = next(g for g in of_type(tree, dl.GeoJSON) if g.id == ids.MAP_SUBDISTRICTS)
    assert len(subdistricts.data["features"]) == 17


def test_wall_map_has_one_tile_layer_when_configured() -> None:
    """TILE_URL adds exactly one tile layer with that URL."""
    url = "http://tiles.intranet/{z}/{x}/{y}.png"
    tiles = of_type(wall("zh", tiles=TileSource(url)), dl.TileLayer)
    assert len(tiles) == 1
    assert tiles[0].url == url


def test_wall_map_layers_are_toggleable_overlays() -> None:
    """Seven live layers in one layers control; static geometry is in the layout once."""
    tree = wall("en")
    control = of_type(tree, dl.LayersControl)
    assert len(control) == 1
    overlays = of_type(tree, dl.Overlay)
    names = {o.name for o in overlays}
    assert names == {i18n.t(k, "en") for k in (
        "layer.sensors", "layer.incidents", "layer.corridors", "layer.heat", "layer.parking", "layer.crowd",
        "layer.warnings")}
    heat = next(g for g in of_type(tree, dl.GeoJSON) if g.id == ids.MAP_HEAT)
    assert len(heat.data["features"]) > 200  # the grid, sent once
    sensors = next(g for g in of_type(tree, dl.GeoJSON) if g.id == ids.MAP_SENSORS)
    assert sensors.cluster is True


def test_map_functions_exist_in_map_js() -> None:
    """Every {"variable": "dashExtensions.dc.X"} the map uses is defined in assets/map.js."""
    js = (ASSETS / "map.js").read_text(encoding="utf-8")
    used = set()
    for comp in of_type(wall("zh"), dl.GeoJSON):
        for prop in ("style", "pointToLayer", "clusterToLayer"):
            ref = getattr(comp, prop, None)
            if isinstance(ref, dict) and "variable" in ref:
                used.add(ref["variable"].rsplit(".", 1)[1])
    assert used
    for fn in used:
        assert re.search(rf"\b{fn}: function", js), fn


def test_clientside_functions_exist_in_wall_js() -> None:
    """The clientside callbacks' functions are defined in assets/wall.js."""
    js = (ASSETS / "wall.js").read_text(encoding="utf-8")
    for fn in ("measure", "clock", "freshness"):
        assert re.search(rf"NS\.{fn} = function", js), fn


def test_the_wall_and_the_console_tick_their_clocks_with_one_shared_helper() -> None:
    """assets/clocks.js defines the clock helpers once and loads before the screens' scripts that use them (the
    wall's, the console's and the tablet's; Dash loads the assets in name order); no screen keeps a copy of its own."""
    shared = (ASSETS / "clocks.js").read_text(encoding="utf-8")
    for fn in ("fill", "ago", "duration", "tickAges", "tickDeadlines"):
        assert re.search(rf"\b{fn}: {fn}\b", shared), fn
    for name in ("wall.js", "dispatch.js", "tablet.js"):
        assert sorted(["clocks.js", name])[0] == "clocks.js"
        js = (ASSETS / name).read_text(encoding="utf-8")
        assert "window.dcClocks" in js and "function duration" not in js and "function ago" not in js, name
    # The console's and the administrator's shared rules load before either screen's own.
    assert sorted(["_console.css", "admin.css", "dispatch.css"])[0] == "_console.css"


def test_the_wall_and_the_tablet_watch_dashs_answers_through_one_shared_wrapper_of_fetch() -> None:
    """assets/answers.js wraps window.fetch once and loads before the wall's and the tablet's scripts (both load on
    every page), which subscribe to it instead of wrapping fetch themselves."""
    shared = (ASSETS / "answers.js").read_text(encoding="utf-8")
    assert "window.fetch = function" in shared and "window.dcAnswers" in shared
    for name in ("wall.js", "tablet.js"):
        assert sorted(["answers.js", name])[0] == "answers.js"
        js = (ASSETS / name).read_text(encoding="utf-8")
        assert "window.dcAnswers.onCallback(" in js and "window.fetch = " not in js, name


def test_wall_scales_chart_fonts_with_the_screen() -> None:
    """At 4K (scale 2) the charts' fonts are twice as big as at 1080p."""
    def font(tree: Any) -> float:
        graphs = [c for c in walk(tree) if isinstance(c, dash.dcc.Graph)]
        graph = next(g for g in graphs if getattr(g, "id", None) == ids.SENSORS_CHART)
        return float(graph.figure["layout"]["font"]["size"])  # type: ignore[attr-defined]

    assert font(wall("zh", scale=2.0)) == pytest.approx(2 * font(wall("zh", scale=1.0)))


def test_wall_title_and_language_switch() -> None:
    """The Chinese title, and links to the /lang route for both languages."""
    tree = wall("zh")
    texts = [c.children for c in walk(tree) if isinstance(getattr(c, "children", None), list)]
    assert any("东城区城市运行指挥中心" in t for t in texts)
    hrefs = {getattr(c, "href", None) for c in walk(tree) if isinstance(c, dash.html.A)}
    assert hrefs == {"/lang/zh?next=/wall", "/lang/en?next=/wall"}


@pytest.fixture
def keep_global_callbacks() -> Iterator[None]:
    """Put back the callbacks `dash.callback` registered globally after a throwaway Dash app has started.

    A Dash app takes every globally registered callback on its first request and clears the global lists;
    once another test has imported `callbacks`, a throwaway app here would leave the real apps that later
    tests build (the browser tests) without their callbacks, and the wall would never render.
    """
    from dash import _callback

    saved = (dict(_callback.GLOBAL_CALLBACK_MAP), list(_callback.GLOBAL_CALLBACK_LIST),
             list(_callback.GLOBAL_INLINE_SCRIPTS))
    yield
    _callback.GLOBAL_CALLBACK_MAP.clear()
    _callback.GLOBAL_CALLBACK_MAP.update(saved[0])
    _callback.GLOBAL_CALLBACK_LIST[:] = saved[1]
    _callback.GLOBAL_INLINE_SCRIPTS[:] = saved[2]


def test_dash_leaflet_is_served_locally(keep_global_callbacks: None) -> None:
    """With serve_locally the page loads dash-leaflet's bundle from the app itself, never a CDN."""
    server = flask.Flask(__name__)
    app = dash.Dash(__name__, server=server, serve_locally=True, assets_folder=str(ASSETS))  # type: ignore[arg-type]
    app.layout = wall("zh")
    html = server.test_client().get("/").get_data(as_text=True)
    srcs = re.findall(r'<script src="([^"]+)"', html) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert any("dash_leaflet" in s for s in srcs)
    assert all(s.startswith("/") for s in srcs), srcs


# --- routing ----------------------------------------------------------------------------------


def _texts(tree: Any) -> str:
    """All text in a tree."""
    return " ".join(str(c.children) for c in walk(tree) if isinstance(getattr(c, "children", None), str))


def test_router_renders_the_wall_for_everyone() -> None:
    """Every role (and the bare harness without login) may read the wall; / goes to the wall too."""
    from callbacks.router import render_page

    for role in ("duty", "leader", "dispatch", "admin", None):
        tree = render_page("/wall", role, "zh", 1.0)
        assert ids.MAP in string_ids(tree)
    assert ids.MAP in string_ids(render_page("/", "duty", "zh", 1.0))


def test_router_coming_next_pages_say_so_in_both_languages() -> None:
    """/tablet, /dispatch, /admin: a plain notice in both languages with a link to the wall."""
    from callbacks.router import render_page

    # Every page is built now: the notice stays for pages a later release adds.
    assert i18n.t("page.coming", "zh") not in _texts(render_page("/tablet", "leader", "zh", 1.0))
    tree = pages.coming_next("/tablet", "zh")
    text = _texts(tree)
    assert i18n.t("page.coming", "zh") in text
    assert i18n.t("page.coming", "en") in text
    assert any(isinstance(c, dash.html.A) and getattr(c, "href", None) == "/wall" for c in walk(tree))
    # /admin is the administrator's page now (tests/test_admin.py), no longer a notice.
    assert i18n.t("page.coming", "en") not in _texts(render_page("/admin", "admin", "en", 1.0))


def test_router_checks_roles_on_the_server() -> None:
    """A duty officer may not open the dispatch console or the admin page; unknown paths are not found."""
    from callbacks.router import render_page

    assert _texts(render_page("/dispatch", "duty", "zh", 1.0)) == _texts(pages.forbidden("/dispatch", "zh"))
    assert _texts(render_page("/admin", "leader", "zh", 1.0)) == _texts(pages.forbidden("/admin", "zh"))
    assert _texts(render_page("/dispatch", None, "zh", 1.0)) == _texts(pages.forbidden("/dispatch", "zh"))
    assert i18n.t("page.forbidden", "en") in _texts(pages.forbidden("/admin", "zh"))
    assert ids.DISPATCH_QUEUE in string_ids(render_page("/dispatch", "dispatch", "zh", 1.0))
    assert _texts(render_page("/nope", "admin", "zh", 1.0)) == _texts(pages.not_found("zh"))


def test_screen_scale() -> None:
    """1080p is 1, 4K is 2, odd or missing sizes fall back sensibly."""
    from callbacks.router import screen_scale

    assert screen_scale({"w": 1920, "h": 1080}) == 1.0
    assert screen_scale({"w": 3840, "h": 2160}) == 2.0
    assert screen_scale(None) == 1.0
    assert screen_scale({"w": "x"}) == 1.0
    assert screen_scale({"w": 100, "h": 100}) == 0.6


# --- the look of the wall: map fit, legend, names, session banner ------------------------------


def test_map_is_fitted_to_the_district_beside_its_overlays() -> None:
    """The map panel carries the district's bounds for assets/map.js, which fits them at any fractional zoom
    between the legend and the layer control, on load and resize only (never on a refresh)."""
    import json

    from dashboard.domain import geo
    from layouts.map.geometry import bounds
    from layouts.map.panel import map_panel

    panel = map_panel("zh")
    x0, y0, x1, y1 = geo.district_bbox()
    assert json.loads(getattr(panel, "data-fit")) == [[y0, x0], [y1, x1]] == bounds()
    leaflet = of_type(panel, dl.MapContainer)[0]
    assert leaflet.zoomSnap == 0
    assert leaflet.trackViewport is False
    js = (ASSETS / "map.js").read_text(encoding="utf-8")
    assert "addInitHook" in js and "data-fit" in js
    for overlay in (".map-legend", ".leaflet-control-layers"):
        assert overlay in js  # the fit leaves room for both
    css = (ASSETS / "wall_extra.css").read_text(encoding="utf-8")
    legend_rule = css[css.index(".map-wrap .map-legend {"):]
    legend_rule = legend_rule[: legend_rule.index("}")]
    assert "left:" in legend_rule and "right: auto" in legend_rule


def test_map_legend_has_every_meaning_in_both_languages() -> None:
    """Severity, sensor states, congestion bands and the heatmap ramp, in the page's language."""
    from layouts.map.panel import legend

    for lang in ("zh", "en"):
        text = " ".join(str(c.children) for c in walk(legend(lang)) if isinstance(getattr(c, "children", None), str))
        for key in ("sev.1", "sev.4", "state.alarm", "state.silent", "band.smooth", "band.severe", "legend.heat",
                    "legend.overdue_incident", "legend.overdue_cell"):
            assert i18n.t(key, lang) in text, (lang, key)


def test_the_english_legend_says_what_is_overdue() -> None:
    """Under "Watch", the ring and the cell outline are overdue marks, not any incident or any tickets."""
    from layouts.map.panel import legend

    labels = [c.children for c in walk(legend("en")) if isinstance(getattr(c, "children", None), str)]
    assert "Overdue incident" in labels and "Overdue tickets (cell)" in labels
    assert "12345 ticket density" in labels


def test_map_labels_are_short_names_that_may_move_inside_their_subdistrict() -> None:
    """One label per subdistrict, without "街道", ranked by size, with the room it has up and down."""
    from dashboard.domain import geo
    from layouts.map.geometry import labels_geojson

    subs = {s.code: s for s in geo.subdistricts()}
    for lang in ("zh", "en"):
        feats = labels_geojson(lang)["features"]
        assert len(feats) == 17
        assert sorted(f["properties"]["rank"] for f in feats) == list(range(17))
        for f in feats:
            p, s = f["properties"], subs[f["id"]]
            assert p["label"] == (s.name_en if lang == "en" else s.name_zh.removesuffix("街道"))
            assert p["up"] >= 0 and p["dn"] >= 0 and p["up"] + p["dn"] > 0
            lon, lat = f["geometry"]["coordinates"]
            # Halfway to either edge is still inside the subdistrict.
            assert geo.point_in_ring(lon, lat + p["up"] / 2, s.ring) or p["up"] < 1e-3
            assert geo.point_in_ring(lon, lat - p["dn"] / 2, s.ring) or p["dn"] < 1e-3


def test_place_and_road_names_fit_their_slots() -> None:
    """Hospitals, roads and busy spots get everyday short names: at most 9 CJK or 20 Latin characters."""
    from dashboard.domain import geo
    from layouts import names

    full = [(p.name_zh, p.name_en) for p in geo.places() if p.type != "school"]
    full += [(c.name_zh, c.name_en) for c in geo.corridors()]
    for zh, en in full:
        assert len(names.short(zh)) <= 9, zh
        assert len(names.short(en)) <= 20, en
    assert names.short("首都医科大学附属北京中医医院") == "北京中医医院"
    assert names.short("长安街（东长安街—建国门内大街）") == "长安街"
    assert names.short("Beijing Tongren Hospital") == "Tongren Hospital"


def test_session_banner_says_it_in_both_languages_and_is_hidden_until_needed() -> None:
    """The wall holds a hidden banner; assets/wall.js shows it on a 401 and then goes to the login page."""
    tree = wall("en")
    banner = next(c for c in walk(tree) if getattr(c, "id", None) == ids.SESSION_BANNER)
    text = _texts(banner)
    assert i18n.t("session.expired", "zh") in text and i18n.t("session.expired", "en") in text
    assert banner.className == "session-banner"
    assert "{n}" in getattr(banner, "data-redirect")
    js = (ASSETS / "wall.js").read_text(encoding="utf-8")
    for needle in ("401", "/_dash-layout", "dcAnswers.onCallback", "/login?next=", ".session-banner"):
        assert needle in js, needle
    # The callbacks' answers come from the shared watcher of Dash's requests.
    assert "_dash-update-component" in (ASSETS / "answers.js").read_text(encoding="utf-8")
    css = (ASSETS / "wall_extra.css").read_text(encoding="utf-8")
    assert ".wall .session-banner { display: none; }" in css


# --- incidents: 吹哨报到 clocks, escalation and sensor tags, overdue on the panel and the map -------------


def _item(iid: int, *, summons: list[Any] | None = None, overdue: bool = False, escalated: bool = False,
          sensor_id: str | None = None) -> Any:
    return {"id": iid, "title": f"事件{iid}", "category": "fire", "severity": 2, "state": "acknowledged",
            "subdistrict": "110101001", "lon": 116.41, "lat": 39.92, "created_at": 1000.0 + iid,
            "deadline_at": 5000.0, "overdue": overdue, "escalated": escalated, "sensor_id": sensor_id,
            "summons": summons or []}


def _flat(el: Any) -> str:
    import json

    return json.dumps(el, ensure_ascii=False)


def test_incident_rows_show_each_summoned_departments_clock_and_report() -> None:
    from layouts.incidents import row

    summons = [
        {"department": "police", "deadline_at": 900.0, "acknowledged_at": 800.0, "escalated": False},
        {"department": "water", "deadline_at": 950.0, "acknowledged_at": None, "escalated": True},
        {"department": "gas", "deadline_at": 3000.0, "acknowledged_at": None, "escalated": False},
    ]
    for lang, names in (("zh", ("公安", "水务", "燃气", "已报到")), ("en", ("Public security", "Water", "Gas",
                                                                           "reported"))):
        text = _flat(row(_item(1, summons=summons), lang, now=1000.0))
        assert all(n in text for n in names), (lang, text)
    chips = row(_item(1, summons=summons), "zh", now=1000.0)["props"]["children"][-1]["props"]["children"]
    classes = [ch["props"]["className"] for ch in chips]
    # Who still has to report first (earliest deadline first), those who reported last.
    assert classes == ["summons-chip overdue", "summons-chip", "summons-chip reported"]
    # The clocks of unreported departments are ticked by wall.js from their deadline.
    assert chips[1]["props"]["children"][1]["props"]["data-clock"] == "3000.0"


def test_incident_rows_tag_escalated_and_sensor_incidents_and_mark_overdue() -> None:
    from layouts.incidents import row

    r = row(_item(2, overdue=True, escalated=True, sensor_id="P1:gas"), "zh", now=10_000.0)
    assert "overdue" in r["props"]["className"].split()
    text = _flat(r)
    assert i18n.t("inc.escalated", "zh") in text and i18n.t("inc.sensor", "zh") in text
    plain = row(_item(3), "zh", now=10_000.0)
    assert "overdue" not in plain["props"]["className"] and i18n.t("inc.escalated", "zh") not in _flat(plain)


def colour_tokens() -> dict[str, str]:
    """The wall's colour tokens from theme.css (name -> #rrggbb)."""
    css = (ASSETS / "theme.css").read_text(encoding="utf-8")
    return dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-f]{6})", css))


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""

    def lum(h: str) -> float:
        cs = [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b_ = (x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in cs)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def css_rule(name: str, selector: str) -> str:
    """The declarations of one rule in an asset stylesheet."""
    css = (ASSETS / name).read_text(encoding="utf-8")
    body = css[css.index(selector + " {") :]
    return body[: body.index("}")]


def test_the_escalated_flag_has_its_own_legible_colour_never_a_severitys() -> None:
    tokens = colour_tokens()
    esc = tokens["escalated"]
    # Not the colour of any severity or state, so an escalated incident never reads as one more severity I.
    for name in ("sev-1", "sev-2", "sev-3", "sev-4", "state-normal", "state-warning", "state-silent", "stale"):
        assert esc != tokens[name], name
    # Legible on the panels and the page: its text is at least 4.5:1 (WCAG AA); severity I's white on red badge
    # stays legible as bold large text (3:1).
    for ground in ("panel-bg", "panel-bg-2", "bg"):
        assert contrast(esc, tokens[ground]) >= 4.5, ground
    assert contrast("#ffffff", tokens["sev-1"]) >= 3.0
    # Every place that flags an escalation uses the one token (theme.css), and none a severity's colour.
    for sheet, selector in (("wall_extra.css", ".tag-escalated"), ("dispatch.css", ".dispatch .dsp-flag.escalated"),
                            ("dispatch.css", ".dispatch .dsp-escalated"), ("tablet.css", ".tab-escalations")):
        rule = css_rule(sheet, selector)
        assert "var(--escalated" in rule and "--sev-" not in rule, (sheet, selector, rule)
    # An outline with an arrow: told apart from a severity badge by its shape too, not by colour alone.
    for sheet, selector in (("wall_extra.css", ".tag-escalated::before"),
                            ("dispatch.css", ".dispatch .dsp-flag.escalated::before")):
        assert 'content: "▲ "' in css_rule(sheet, selector), sheet


def test_rows_with_department_clocks_take_two_lines_of_the_panel() -> None:
    from layouts.incidents import MAX_ROWS, rows

    summons = [{"department": "police", "deadline_at": 9e9, "acknowledged_at": None, "escalated": False}]
    items = [_item(i, summons=summons) for i in range(MAX_ROWS)]
    d: Any = {"items": items, "open_total": MAX_ROWS, "overdue": 0, "today_total": 0}
    out = rows(d, "zh", now=0.0)
    shown = [e for e in out if e["props"].get("className", "").startswith("incident-row")]
    assert len(shown) == MAX_ROWS // 2 and "list-more" in out[-1]["props"]["className"]


def test_grave_incidents_are_marked_to_stay_on_every_page_of_the_wall_list_and_come_first() -> None:
    from layouts.incidents import MAX_ROWS, rows

    # More rows than the panel is sent: the grave ones still come first, each marked to be pinned on every page.
    items = [_item(i) | {"severity": 4 - i % 4} for i in range(MAX_ROWS + 20)]
    d: Any = {"items": items, "open_total": len(items), "overdue": 0, "today_total": 0}
    out = [e["props"] for e in rows(d, "zh", now=0.0) if e["props"].get("className", "").startswith("incident-row")]
    sevs = [int(p["data-sev"]) for p in out]
    grave = sum(1 for it in items if it["severity"] <= 2)
    assert sevs[:grave] == sorted(sevs[:grave]) and set(sevs[:grave]) == {1, 2}
    assert [p.get("data-pin") for p in out] == ["1"] * grave + [None] * (len(out) - grave)


def test_the_map_marks_overdue_incidents_and_the_cells_of_overdue_tickets() -> None:
    from layouts.map.layers import heat_hideout, incidents_geojson

    d: Any = {"items": [_item(1, overdue=True), _item(2)]}
    props = [f["properties"] for f in incidents_geojson(d, "zh")["features"]]
    assert [p["od"] for p in props] == [1, 0] and i18n.t("map.overdue", "zh") in props[0]["tip"]
    hotline: Any = {"by_cell": {"r1c1": 3}, "overdue_by_cell": {"r2c2": 2}}
    assert heat_hideout(hotline) == {"c": {"r1c1": 3}, "max": 3, "o": {"r2c2": 2}}
    js = (Path(__file__).resolve().parents[1] / "assets" / "map.js").read_text()
    assert "p.od" in js and "h.o" in js


def test_the_walls_replay_arrows_step_ten_minutes_within_the_last_day() -> None:
    from layouts.tablet import SLIDER_MIN
    from layouts.wall import REPLAY_STEP_MIN, stepped

    assert REPLAY_STEP_MIN == 10
    assert stepped(0, -10) == -10 and stepped(-10, 10) == 0
    assert stepped(0, 10) == 0  # never past now
    assert stepped(SLIDER_MIN + 5, -10) == SLIDER_MIN  # never before the day the history keeps
    arrows = (ids.WALL_EARLIER, ids.WALL_LATER)
    labels = {c.id: c.title for c in of_type(wall("zh"), dash.html.Button) if c.id in arrows}
    assert labels == {ids.WALL_EARLIER: "早 10 分钟", ids.WALL_LATER: "晚 10 分钟"}


def test_the_silent_line_counts_sensors_alike_once_and_the_chart_names_its_colours() -> None:
    from dashboard.domain import rules as c
    from layouts import sensors

    def point(sid: str, stype: str, sub: str) -> dict[str, Any]:
        return {"id": sid, "type": stype, "subdistrict": sub, "lon": 116.4, "lat": 39.9, "state": c.STATE_SILENT,
                "value": None, "ts": None}

    silent = [point("p1:pm25", "pm25", "110101003"), point("p2:noise", "noise", "110101003"),
              point("p3:pm25", "pm25", "110101003"), point("p4:pm25", "pm25", "110101001")]
    d: Any = {"silent": silent, "by_state": {c.STATE_SILENT: 4}}
    label, items = (str(x) for x in sensors.silent_line(d, "zh"))
    assert "离线传感器 4" in label
    said = re.findall(r"[^，>]+·[^，<]+", items)
    # Two PM2.5 sensors in one subdistrict are one item counted twice, in the order they fell silent.
    assert len(said) == 3 and said[0].endswith(" ×2") and "PM2.5·" in said[0] and "×" not in said[1] + said[2], said
    key = str(sensors.chart_key("en"))
    for st in sensors.STATES:
        assert f"legend-swatch bar {st}" in key
    assert all(word in key for word in ("Alarm", "Warning", "Silent")), key


@pytest.mark.parametrize(("lang", "none"), [("zh", "昨日无数据"), ("en", "Yesterday: none")])
def test_the_hourly_chart_says_when_yesterday_has_no_tickets(lang: str, none: str) -> None:
    from layouts import hotline

    fig = hotline.hourly_chart(lang, 1.0)
    note = fig["layout"]["annotations"][0]
    assert note["text"] == none and note["visible"] is False
    assert [tr["name"] for tr in fig["data"]] == [i18n.t("hot.yesterday", lang), i18n.t("hot.today", lang)]

    def shown(yesterday: list[int]) -> Any:
        d = figures({}, {})
        d["hourly"], d["hourly_yesterday"] = [1] * 24, yesterday
        ops = hotline.hourly_patch(d).to_plotly_json()["operations"]
        return next(o["params"]["value"] for o in ops if o["location"][:2] == ["layout", "annotations"])

    assert shown([0] * 24) is True and shown([0] * 23 + [1]) is False


def test_the_hotline_category_chart_names_each_category_in_a_word_that_leaves_the_bars_the_column() -> None:
    from dashboard.domain import rules as c
    from layouts import hotline
    from layouts.common import label_margin

    for lang in ("zh", "en"):
        labels = [hotline.category_label(k, lang) for k in c.HOTLINE_CATEGORIES]
        assert all(label and label != k for label, k in zip(labels, c.HOTLINE_CATEGORIES, strict=True)), labels
        assert len(set(labels)) == len(labels), labels
        # The chart's margin fits its longest name: in English no wider than a Chinese four-character name's
        # margin by more than a third (the column at 1080p is about 230 px).
        margin = hotline.categories_chart(lang, 1.0)["layout"]["margin"]["l"]
        assert margin <= label_margin(["物业管理"], 18) * 4 / 3, (lang, margin, labels)
    assert hotline.category_label("public_service", "zh") == i18n.name("hl_cat", "public_service", "zh")
