"""The leaders' tablet: one refresh callback over precomputed aggregates (live) or a history snapshot (replay).

Every REFRESH_MS, and at once when the slider or the picked subdistrict changes, the callback reads the
aggregates with one MGET (live) or the snapshot nearest the slider's time (replay, dashboard/live/history.py),
plus yesterday's snapshot at the same hour for the KPI changes, and answers `no_update` for every output whose
signature did not change. Nothing here reads raw events.

A live tablet first reads only the aggregates' heads (versions and hashes: a few hundred bytes): when they, the
picked subdistrict, the language and the minute (yesterday's figures and the hourly trends move with it) are what
the tablet already shows, it is answered "nothing changed" (204) without reading or rendering anything, so an idle
tablet costs a read of bytes, not a render; the render is paid when something changed.

Whether the figures are late is part of that picture: the heads carry each aggregate's computed_at, and the key says
fresh or stale by the wall's rule (schema.is_stale), so a tablet whose workers stopped is sent "数据延迟" once
(its age then ticks in the browser, assets/tablet.js) and sent "实时" again once they are back, though no version
moved. When Redis cannot be read the tablet says "数据中断" rather than keep a green "实时".
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import redis
from dash import Input, Output, State, callback, callback_context, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from dashboard.domain import geo
from dashboard.domain.beijing import day_start, hour_of, to_beijing
from dashboard.domain.pages import PAGE_ROLES
from dashboard.domain.tiles import NO_TILES, TileSource, stored_point
from dashboard.frames.cache import versions_of
from dashboard.i18n import t
from dashboard.live import history
from dashboard.live.aggregates import Head, read_aggregates, read_heads
from dashboard.live.schema import (
    AGG_CROWD,
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_KPI,
    AGG_PARKING,
    AGG_SENSORS,
    AGG_TRAFFIC,
    AGG_WARNINGS,
    AGGREGATES,
)
from dashboard.web.auth import current_language
from dashboard.web.extensions import current_config, redis_client
from layouts import ids
from layouts import tablet as lay
from layouts.inputs import as_count, click_point, in_choices
from layouts.map import layers as map_layers
from layouts.section import Ctx, Render, dedupe

log = logging.getLogger(__name__)

M: Final = ids.TABLET_MAP
DAY_S: Final = 86_400
TABLET_PATH: Final = "/tablet"


# What the tablet shows for a time history holds nothing of: empty layers and lists, "—" figures.
EMPTY: Final[dict[str, Any]] = {
    AGG_INCIDENTS: {"items": []},
    AGG_SENSORS: {"bins": {"z": 0, "cells": []}, "alarms": []},
    AGG_TRAFFIC: {"corridors": []},
    AGG_HOTLINE: {"by_cell": {}, "overdue_by_cell": {}, "by_subdistrict": {}, "by_subdistrict_category": {}},
    AGG_PARKING: {"lots": []},
    AGG_CROWD: {"spots": []},
    AGG_WARNINGS: {"warnings": [], "count": 0},
}


def load_view(
    r: redis.Redis, at: float | None, now: float
) -> tuple[dict[str, Any], float | None, Any, list[float | None], list[float | None]]:
    """(datas by aggregate, snapshot time or None when live, yesterday's figures at the same time, open incidents
    by hour today and yesterday).

    Live: one MGET of the aggregates. Replay: the history snapshot at or before `at` (no datas when history holds
    none). Yesterday: the history's figures one day before the time shown. Trends: the history's hourly series.
    """
    shown_at = now if at is None else at
    found: float | None = None
    if at is None:
        envs = read_aggregates(r, AGGREGATES)
        datas = {k: env["data"] for k, env in envs.items() if env is not None}
    else:
        snap = history.snapshot_at(r, at, tolerance_s=history.HOUR_TOLERANCE_S)
        # No snapshot of then: show nothing rather than leave today's picture under a "回放" badge.
        datas = dict(snap["aggregates"]) if snap else dict(EMPTY)
        found = float(snap["ts"]) if snap else None
    yesterday = history.figures_at(r, shown_at - DAY_S, tolerance_s=history.MINUTE_TOLERANCE_S)
    today0 = day_start(shown_at)
    today = history.day_by_hour(r, "incidents_open", today0, stat="last")
    before = history.day_by_hour(r, "incidents_open", today0 - DAY_S, stat="last")
    return datas, found, yesterday, today, before


def mode(
    at: float | None, found: float | None, fresh: lay.Freshness | None, lang: str, now: float
) -> tuple[Any, str, str]:
    """The mode badge's content and class, and the page's class: live, live but late (grey, with the age), a
    replayed snapshot, or a replayed time history holds nothing of."""
    text, cls = lay.replay_label(at, lang, found, now)
    if at is None and fresh is not None and fresh.stale:
        return lay.stale_badge(fresh, now, lang), "tab-mode live stale", "tablet stale"
    if at is not None and found is None:
        return text, cls, "tablet no-history"
    return text, cls, "tablet"


def render(
    datas: Mapping[str, Any], found: float | None, at: float | None, yesterday: Any,
    trend: tuple[list[float | None], list[float | None]], code: str | None, lang: str, now: float, prev: Any,
    fresh: lay.Freshness | None = None,
) -> tuple[list[Any], Any]:
    """Every output's value (no_update where unchanged) and the new state (`fresh`: how late the live figures are)."""
    prev = prev if isinstance(prev, Mapping) else {}
    ctx = Ctx(lang, now)
    out: list[Any] = []
    state: dict[str, Any] = {}
    mode_body, mode_cls, page_cls = mode(at, found, fresh, lang, now)
    # Replaying a time history holds nothing of: said in each section, not shown as an empty (all-clear) picture.
    missing = at is not None and found is None
    no_data = t("tab.no_history", lang) if missing else None
    kpi = datas.get(AGG_KPI)
    shown_at = now if at is None else (found or at)
    hot = datas.get(AGG_HOTLINE) or {}
    hour_now = hour_of(shown_at)
    minute_now = to_beijing(shown_at).minute

    head, state["head"] = dedupe(
        [
            (lambda: lay.kpi_cards(kpi, yesterday, lang), repr((kpi, yesterday, lang))),
            # The stale badge's signature is its time, not its age: the browser ticks the age.
            (lambda: mode_body, repr(mode_body) if isinstance(mode_body, str) else
             repr((mode_cls, fresh.since if fresh else None, lang))),
            (lambda: mode_cls, mode_cls),
            (lambda: page_cls, page_cls),
        ],
        prev.get("head"),
    )
    out += head
    # The map's layers: incidents only when their items changed; the others with the wall's renderers, each
    # with its own signature state.
    inc = datas.get(AGG_INCIDENTS)
    if inc is None:
        out.append(no_update)
        state["inc"] = prev.get("inc")
    else:
        values, state["inc"] = dedupe(
            [(functools.partial(map_layers.incidents_geojson, inc, lang), repr(inc.get("items")))], prev.get("inc")
        )
        out += values
    for key, agg, n, render_fn in LAYERS:
        d = datas.get(agg)
        if d is None:
            out += [no_update] * n
            state[key] = prev.get(key)
            continue
        values, state[key] = render_fn(d, ctx, prev.get(key))
        out += values
    rest, state["rest"] = dedupe(
        [
            (lambda: {"tiles": False, "sel": code}, repr(code)),
            (lambda: lay.escalations(datas, lang), repr((lang, (datas.get(AGG_INCIDENTS) or {}).get("items")))),
            (lambda: lay.open_incidents(datas, lang, missing=missing), repr((lang, missing, datas.get(AGG_INCIDENTS)))),
            (lambda: lay.drill(code, datas, lang, missing=missing), repr((code, lang, missing, [datas.get(a) for a in (
                AGG_INCIDENTS, AGG_HOTLINE, AGG_SENSORS, AGG_TRAFFIC)]))),
            (lambda: lay.trend_figure(t("tab.trend_hotline", lang), list(hot.get("hourly") or [None] * 24),
                                      list(hot.get("hourly_yesterday") or [None] * 24), lang, hour_now, minute_now,
                                      no_data),
             repr((hot.get("hourly"), hot.get("hourly_yesterday"), hour_now, minute_now, lang, no_data))),
            (lambda: lay.trend_figure(t("tab.trend_incidents", lang), trend[0], trend[1], lang, hour_now,
                                      minute_now, no_data),
             repr((trend, hour_now, minute_now, lang, no_data))),
        ],
        prev.get("rest"),
    )
    out += rest
    return out, state


# (state key, aggregate, number of outputs, the wall's renderer) of the map layers after the incidents.
LAYERS: Final[tuple[tuple[str, str, int, Render], ...]] = (
    ("sen", AGG_SENSORS, 2, map_layers.render_sensors),
    ("cor", AGG_TRAFFIC, 1, map_layers.render_corridors),
    ("heat", AGG_HOTLINE, 1, map_layers.render_heat),
    ("park", AGG_PARKING, 1, map_layers.render_parking),
    ("crowd", AGG_CROWD, 1, map_layers.render_crowd),
    ("warn", AGG_WARNINGS, 1, map_layers.render_warnings),
)
OUTPUTS: Final = (
    (ids.TABLET_KPIS, "children"),
    (ids.TABLET_MODE, "children"),
    (ids.TABLET_MODE, "className"),
    (ids.TABLET, "className"),
    (M.incidents, "data"),
    (M.sensors, "data"),
    (M.sensors, "hideout"),
    (M.corridors, "hideout"),
    (M.heat, "hideout"),
    (M.parking, "data"),
    (M.crowd, "data"),
    (M.warnings, "data"),
    (M.subdistricts, "hideout"),
    (ids.TABLET_ESCALATIONS, "children"),
    (ids.TABLET_OPEN, "children"),
    (ids.TABLET_DRILL, "children"),
    (ids.TABLET_TREND_HOTLINE, "figure"),
    (ids.TABLET_TREND_INCIDENTS, "figure"),
)


# The subdistricts the picker and the map offer: any other code is no pick.
SUBDISTRICTS: Final = frozenset(s["value"] for s in lay.subdistrict_options("zh"))


def live_freshness(heads: Mapping[str, Head | None], now: float) -> lay.Freshness:
    """How late the live figures are, from the aggregates' heads."""
    return lay.freshness({n: (h.computed_at if h else None) for n, h in heads.items()}, now)


def live_view_key(heads: Mapping[str, Head | None], code: str | None, lang: str, now: float) -> str:
    """What a live tablet's picture depends on: the aggregates' versions, whether they are late, the pick, the
    language and the minute."""
    late = "stale" if live_freshness(heads, now).stale else "fresh"
    return f"{versions_of(heads)}|{late}|{code or ''}|{lang}|{int(now // 60)}"


def down(lang: str, prev: Any) -> list[Any]:
    """What a live tablet is sent when Redis cannot be read: "数据中断" in grey, everything else as it is; the
    next refresh that reads Redis renders the badge and the KPI cards again."""
    prev = prev if isinstance(prev, Mapping) else {}
    values: list[Any] = [no_update] * len(OUTPUTS)
    for i, (cid, prop) in enumerate(OUTPUTS):
        if (cid, prop) == (ids.TABLET_MODE, "children"):
            values[i] = t("fresh.down", lang)
        elif (cid, prop) == (ids.TABLET_MODE, "className"):
            values[i] = "tab-mode live stale down"
        elif (cid, prop) == (ids.TABLET, "className"):
            values[i] = "tablet stale"
    return [*values, {**prev, "head": None, "key": "down"}]


def _require_tablet_role() -> None:
    """The tablet's data is for its roles: the router checks the page, and every callback checks again."""
    role = getattr(current_user, "role", None) if current_user and current_user.is_authenticated else None
    if role not in PAGE_ROLES[TABLET_PATH]:
        log.warning("tablet callback refused for role %r", role)
        raise PreventUpdate


@callback(
    [Output(cid, prop) for cid, prop in OUTPUTS] + [Output(ids.TABLET_STATE, "data")],
    Input(ids.TABLET_TICK, "n_intervals"),
    Input(ids.TABLET_SLIDER, "value"),
    Input(ids.TABLET_SUBDISTRICT, "value"),
    State(ids.TABLET_STATE, "data"),
)
def _tablet_refresh(_n: Any, offset: Any, code: Any, prev: Any) -> list[Any]:
    """Thin wrapper: the interval, the slider or the picker → load_view → render."""
    _require_tablet_role()
    code = in_choices(code, SUBDISTRICTS)
    now = time.time()
    at = lay.slider_time(offset, now)
    lang = current_language()
    r = redis_client()
    key: str | None = None
    fresh: lay.Freshness | None = None
    try:
        if at is None:
            heads = read_heads(r, AGGREGATES)
            key, fresh = live_view_key(heads, code, lang, now), live_freshness(heads, now)
            if isinstance(prev, Mapping) and prev.get("key") == key:
                raise PreventUpdate  # the tablet shows exactly this already
        datas, found, yesterday, today, before = load_view(r, at, now)
    except (redis.RedisError, OSError) as exc:
        if at is None:
            if isinstance(prev, Mapping) and prev.get("key") == "down":
                raise PreventUpdate from exc  # it says so already
            log.warning("tablet refresh: Redis unavailable (%s); the tablet says its data is down", exc)
            return down(lang, prev)
        log.warning("tablet refresh: Redis unavailable (%s); the tablet keeps what it shows", exc)
        raise PreventUpdate from exc
    values, state = render(datas, found, at, yesterday, (today, before), code, lang, now, prev, fresh)
    state["key"] = key
    return [*values, state]


def tapped_subdistrict(feature: Any, map_click: Any, on_map: bool, tiles: TileSource = NO_TILES) -> str | None:
    """The subdistrict a tap picks: the outline tapped (`feature`), or, for a tap anywhere on the map (a road, a
    ticket cell, a label: the layers above the outlines), the one under the tapped point (`map_click`, drawn over
    `tiles`; Leaflet sends its point as {"lat", "lng"}, older versions as [lat, lng])."""
    if not on_map:
        return in_choices(feature.get("id") if isinstance(feature, Mapping) else None, SUBDISTRICTS)
    point = click_point(map_click)
    if point is None:
        return None
    return in_choices(geo.subdistrict_of(*stored_point(tiles, *point)), SUBDISTRICTS)


@callback(
    Output(ids.TABLET_SUBDISTRICT, "value"),
    Input(M.subdistricts, "clickData"),
    Input(M.map, "clickData"),
    prevent_initial_call=True,
)
def _tap_subdistrict(feature: Any, map_click: Any) -> Any:
    """Tapping the map picks the subdistrict there for the drill-down, whatever layer the finger lands on."""
    _require_tablet_role()
    # An outline tapped fires both; the outline's own feature is the surer answer.
    props = {str(t.get("prop_id", "")) for t in callback_context.triggered}
    on_map = f"{M.subdistricts}.clickData" not in props and f"{M.map}.clickData" in props
    code = tapped_subdistrict(feature, map_click, on_map, current_config().tiles)
    if code is None:
        return no_update
    return code


@callback(Output(ids.TABLET_SLIDER, "value"), Input(ids.TABLET_LIVE, "n_clicks"), prevent_initial_call=True)
def _back_to_live(n: Any) -> int:
    """The "回到实时" button moves the slider back to now."""
    _require_tablet_role()
    if not as_count(n):
        raise PreventUpdate
    return 0
