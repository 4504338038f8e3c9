"""The leaders' tablet (issue 4, items 1–2): KPI changes against yesterday (pure), the drill-down, the slider's
time, the refresh over real Redis with history snapshots (live and replay), server-side role checks through the
Dash callbacks over HTTP, and a real browser at a tablet viewport: tap a subdistrict, move the slider."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import dash_leaflet as dl
import pytest
import redis
from dash.testing.wait import until
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from callbacks import tablet as cb
from callbacks.router import render_page
from dashboard import i18n
from dashboard.domain import geo
from dashboard.domain.beijing import day_start
from dashboard.live import history
from dashboard.live.schema import (
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_KPI,
    AGG_SENSORS,
    AGG_STALE_AFTER_S,
    AGG_TICKER,
    AGG_TRAFFIC,
    AGGREGATES,
)
from dashboard.web.extensions import db_sessions
from layouts import ids, names
from layouts import tablet as lay
from layouts.wall import wall as wall_page
from tests.helpers import PASSWORD, csrf_headers, incident, log_in_browser, login, start_dash
from tests.test_layouts import of_type
from workers.history import run_history
from workers.tick import run_tick

# The subdistrict where tests.helpers.incident() places its incidents (东四 crossroads: 朝阳门街道).
HERE = geo.subdistrict_of(116.4170, 39.9240) or ""


def flat(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, default=lambda o: o.to_plotly_json())


# --- pure -------------------------------------------------------------------------------------------


def metric(field: str) -> lay.Metric:
    return next(m for m in lay.METRICS if m.field == field)


def test_a_change_is_good_or_bad_by_the_metrics_direction() -> None:
    assert lay.delta(metric("incidents_open"), 5, 8, "zh") == ("▼ 3", "delta good")
    assert lay.delta(metric("incidents_open"), 8, 5, "zh") == ("▲ 3", "delta bad")
    assert lay.delta(metric("units_available"), 30, 35, "zh") == ("▼ 5", "delta bad")
    assert lay.delta(metric("response_rate"), 0.95, 0.90, "zh") == ("▲ 5.0 个百分点", "delta good")
    assert lay.delta(metric("response_rate"), 0.95, 0.90, "en") == ("▲ 5.0 pts", "delta good")
    assert lay.delta(metric("traffic_index"), 4.02, 4.0, "zh") == (i18n.t("tab.same", "zh"), "delta same")
    assert lay.delta(metric("hotline_today"), 10, None, "zh") == (i18n.t("tab.no_yesterday", "zh"), "delta none")


@given(st.sampled_from(lay.METRICS), st.floats(0, 1000), st.floats(0, 1000))
def test_the_arrow_always_points_the_way_the_figure_moved(m: lay.Metric, now: float, then: float) -> None:
    text, cls = lay.delta(m, now, then, "en")
    if cls == "delta same":
        assert abs(now - then) < lay.SAME[m.kind]
    else:
        assert text.startswith("▲" if now > then else "▼")
        assert (cls == "delta good") == ((now < then) == m.lower_is_better)


def test_kpi_cards_show_every_metric_with_its_change() -> None:
    kpi = {m.field: 1 for m in lay.METRICS} | {"response_rate": 0.9, "traffic_index": 3.3}
    cards = lay.kpi_cards(kpi, {"incidents_open": 3}, "zh")
    assert [card["props"]["data-metric"] for card in cards] == [m.field for m in lay.METRICS]
    text = flat(cards)
    assert "▼ 2" in text and "90.0%" in text and "3.3" in text and i18n.t("tab.no_yesterday", "zh") in text
    assert i18n.t("kpi.none", "zh") in flat(lay.kpi_cards(None, None, "zh"))


def test_the_slider_time_is_minutes_before_now_and_zero_is_live() -> None:
    assert lay.slider_time(0, 1000.0) is None and lay.slider_time(None, 1000.0) is None
    assert lay.slider_time("x", 1000.0) is None and lay.slider_time(5, 1000.0) is None
    assert lay.slider_time(-90, 100_000.0) == 100_000.0 - 5400
    assert lay.slider_time(-10_000, 100_000.0) == 100_000.0 + lay.SLIDER_MIN * 60  # never beyond 24 h
    assert lay.replay_label(None, "zh") == (i18n.t("tab.live", "zh"), "tab-mode live")
    assert lay.replay_label(1000.0, "zh", 960.0)[1] == "tab-mode replay"
    assert lay.replay_label(1000.0, "en", None)[1] == "tab-mode replay missing"
    assert lay.slider_marks("zh")[0] == i18n.t("tab.now", "zh") and min(lay.slider_marks("zh")) == lay.SLIDER_MIN


def test_the_drill_down_shows_one_subdistricts_incidents_tickets_alarms_and_corridors() -> None:
    code = HERE
    cor = geo.corridors_by_subdistrict()[code][0]
    datas = {
        AGG_INCIDENTS: {"items": [
            {"id": 1, "title": "东四 火情", "severity": 2, "state": "new", "subdistrict": code, "overdue": True},
            {"id": 2, "title": "别处", "severity": 1, "state": "new", "subdistrict": "110101001"},
        ]},
        AGG_HOTLINE: {"by_subdistrict": {code: 5}, "by_subdistrict_category": {code: {"noise": 3, "heating": 2}}},
        AGG_SENSORS: {"alarms": [{"id": "s", "type": "gas", "state": "alarm", "value": 30, "subdistrict": code}]},
        AGG_TRAFFIC: {"corridors": [{"id": cor, "name_zh": "路", "name_en": "Rd", "index": 6.5, "band": "moderate"},
                                      {"id": "elsewhere", "name_zh": "远", "name_en": "Far", "index": 9,
                                       "band": "severe"}]},
    }
    text = flat(lay.drill(code, datas, "zh"))
    assert "东四 火情" in text and "别处" not in text and i18n.t("map.overdue", "zh") in text
    assert i18n.name("hl_cat", "noise", "zh") in text and i18n.name("sensor", "gas", "zh") in text
    assert "6.5" in text and "远" not in text
    # Nothing known: each section says so; no subdistrict: how to pick one.
    empty = flat(lay.drill(code, {}, "en"))
    assert i18n.t("tab.no_tickets", "en") in empty and i18n.t("tab.no_alarms", "en") in empty
    assert i18n.t("tab.pick_hint", "zh") in flat(lay.drill(None, datas, "zh"))


def test_escalations_reach_the_leader_with_why() -> None:
    items = [
        {"id": 1, "title": "积水", "severity": 2, "escalated": True, "overdue": False,
         "summons": [{"department": "water", "escalated": True}, {"department": "police", "escalated": False}]},
        {"id": 2, "title": "火情", "severity": 1, "escalated": True, "overdue": True, "summons": []},
        {"id": 3, "title": "平常", "severity": 4, "escalated": False, "overdue": False, "summons": []},
    ]
    text = flat(lay.escalations({AGG_INCIDENTS: {"items": items}}, "zh"))
    assert "积水" in text and "水务 未报到" in text and "公安" not in text
    assert "火情" in text and i18n.t("map.overdue", "zh") in text and "平常" not in text
    assert "Water not reported" in flat(lay.escalations({AGG_INCIDENTS: {"items": items}}, "en"))
    assert lay.escalations({}, "zh") == [] and lay.escalations({AGG_INCIDENTS: {"items": items[2:]}}, "zh") == []


def test_every_subdistrict_can_be_picked_and_most_have_a_corridor() -> None:
    options = lay.subdistrict_options("zh")
    assert len(options) == 17 and {o["value"] for o in options} == {s.code for s in geo.subdistricts()}
    assert sum(1 for v in geo.corridors_by_subdistrict().values() if v) >= 15


def test_the_router_gives_the_tablet_to_leaders_and_admins_only() -> None:
    for role in ("leader", "admin"):
        page = flat(render_page("/tablet", role, "zh", 1.0))
        assert ids.TABLET_SLIDER in page and ids.TABLET_MAP.map in page
    refused: tuple[str | None, ...] = ("duty", "dispatch", None)
    for other in refused:
        assert ids.TABLET_SLIDER not in flat(render_page("/tablet", other, "zh", 1.0))


SUBDISTRICT_CODES = tuple(sub.code for sub in geo.subdistricts())


def test_a_tap_anywhere_on_the_map_picks_the_subdistrict_under_the_finger() -> None:
    for sub in geo.subdistricts():
        lon, lat = sub.label
        on_road = {"latlng": {"lat": lat, "lng": lon}}  # a road, a cell or a label above the outline: the map's
        assert cb.tapped_subdistrict(None, on_road, on_map=True) == sub.code
        assert cb.tapped_subdistrict(None, {"latlng": [lat, lon]}, on_map=True) == sub.code
        assert cb.tapped_subdistrict({"id": sub.code}, None, on_map=False) == sub.code  # the outline itself


@given(st.one_of(st.none(), st.integers(), st.text(), st.dictionaries(st.text(), st.none() | st.text() | st.lists(
    st.one_of(st.floats(allow_nan=True), st.text()), max_size=3))))
def test_a_tap_outside_the_district_or_malformed_picks_nothing(junk: Any) -> None:
    assert cb.tapped_subdistrict(None, junk, on_map=True) in (None, *SUBDISTRICT_CODES)
    assert cb.tapped_subdistrict(junk, None, on_map=False) is None or junk["id"] in SUBDISTRICT_CODES
    assert cb.tapped_subdistrict(None, {"latlng": [31.23, 121.47]}, on_map=True) is None  # Shanghai


def test_the_tablets_map_starts_with_names_uncovered_and_the_layer_list_folded() -> None:
    def overlays(tree: Any) -> dict[str, bool]:
        return {o.children.id: o.checked for o in of_type(tree, dl.Overlay)}

    tablet = lay.tablet_page("zh")
    assert {k for k, on in overlays(tablet).items() if not on} == {ids.TABLET_MAP.parking, ids.TABLET_MAP.sensors}
    assert of_type(tablet, dl.LayersControl)[0].collapsed is True
    wall = wall_page("zh")
    assert all(overlays(wall).values()) and of_type(wall, dl.LayersControl)[0].collapsed is False


def test_the_hour_under_way_is_drawn_apart_and_says_how_far_it_has_run() -> None:
    today = [float(10 + h) for h in range(15)] + [3.0] + [None] * 8  # 15:07: three calls so far this hour
    fig = lay.trend_figure("12345", today, [12.0] * 24, "zh", 15, 7)
    solid, partial = fig["data"][1], fig["data"][2]
    assert solid["x"] == list(range(15)) and solid["y"][-1] == 24.0  # whole hours only: no fall at the end
    assert partial["x"] == [14, 15] and partial["y"] == [24.0, 3.0] and partial["line"]["dash"] == "dash"
    assert fig["layout"]["annotations"][0]["text"] == "截至 15:07"
    # The last minute of an hour, or no minute given: the hour counts as whole.
    for minute in (59, None):
        whole = lay.trend_figure("12345", today, [12.0] * 24, "en", 15, minute)
        assert len(whole["data"]) == 2 and whole["data"][1]["x"] == list(range(16))


def test_the_view_is_stale_by_the_walls_rule_as_late_as_its_latest_aggregate() -> None:
    now = 10_000.0
    fresh = dict.fromkeys(AGGREGATES, now - 1)
    assert lay.freshness(fresh, now) == lay.Freshness(False, now - 1)
    # One aggregate later than the wall allows turns the view stale, since then; the ticker is not on the tablet.
    late = fresh | {AGG_HOTLINE: now - AGG_STALE_AFTER_S - 1}
    assert lay.freshness(late, now) == lay.Freshness(True, now - AGG_STALE_AFTER_S - 1)
    assert lay.freshness(fresh | {AGG_HOTLINE: now - AGG_STALE_AFTER_S}, now).stale is False
    assert lay.freshness(fresh | {AGG_TICKER: now - 600}, now).stale is False
    assert lay.freshness(fresh | {AGG_KPI: None}, now) == lay.Freshness(True, None)
    badge = flat(lay.stale_badge(lay.Freshness(True, now - 125), now, "zh"))
    assert "数据延迟" in badge and "2 分钟前" in badge and f'"data-since": "{now - 125:.3f}"' in badge
    assert "Data delayed" in flat(lay.stale_badge(lay.Freshness(True, None), now, "en"))


def test_the_page_holds_the_silent_servers_badge_hidden_with_the_walls_threshold() -> None:
    from dash import html

    page = lay.tablet_page("en")
    badge = next(c for c in of_type(page, html.Span) if getattr(c, "id", None) == ids.TABLET_SILENT)
    # Hidden by its class (assets/tablet.css) until assets/tablet.js finds the server silent; no callback writes it.
    assert "tab-silent" in badge.className.split() and "stale" in badge.className.split()
    assert "feed down" in flat(badge.children)
    assert float(getattr(page, "data-silent-after")) == AGG_STALE_AFTER_S


def test_a_replayed_time_says_yesterday_when_it_is_not_today() -> None:
    now = day_start(time.time()) + 9 * 3600  # 09:00 Beijing time
    yesterday = now - 20 * 3600  # 13:00 the day before
    assert lay.replay_label(yesterday, "zh", None, now) == ("昨日 13:00 无历史快照", "tab-mode replay missing")
    assert lay.replay_label(yesterday, "en", None, now)[0] == "no snapshot at 13:00 yesterday"
    assert lay.replay_label(yesterday, "zh", yesterday, now) == ("回放 昨日 13:00", "tab-mode replay")
    assert lay.replay_label(now - 3600, "zh", now - 3600, now) == ("回放 08:00", "tab-mode replay")
    before = i18n.fmt_when(now - 3 * 86_400, now, "zh")
    assert before.endswith(" 09:00") and "月" in before


def test_the_walls_replay_badge_says_yesterday_as_the_tablets_does() -> None:
    from layouts.wall_frame import replay_mode

    now = day_start(time.time()) + 9 * 3600  # 09:00 Beijing time
    yesterday = now - 20 * 3600  # 13:00 the day before
    assert replay_mode(yesterday, -int(yesterday), "zh", now)[:2] == ("回放 昨日 13:00", "wall-mode replay")
    assert replay_mode(yesterday, -int(yesterday), "en", now)[0] == "Replay 13:00 yesterday"
    assert replay_mode(yesterday, None, "zh", now)[0] == "昨日 13:00 无历史快照，显示实时"
    assert replay_mode(yesterday, None, "en", now)[0] == "no snapshot at 13:00 yesterday: showing live"
    # Today's time needs no day; the tablet's badge and the wall's say the same time alike.
    assert replay_mode(now - 3600, -int(now - 3600), "zh", now)[0] == "回放 08:00"
    for lang in ("zh", "en"):
        assert replay_mode(yesterday, -int(yesterday), lang, now)[0] == lay.replay_label(yesterday, lang,
                                                                                        yesterday, now)[0]


def test_a_replayed_time_without_history_says_so_rather_than_all_clear() -> None:
    text = flat(lay.open_incidents(cb.EMPTY, "zh", missing=True))
    assert i18n.t("tab.no_history", "zh") in text and i18n.t("inc.none", "zh") not in text
    assert "tab-sev-chip" not in text  # no zero counts that read as nothing open
    assert i18n.t("tab.no_history", "zh") in flat(lay.drill(HERE, cb.EMPTY, "zh", missing=True))
    empty = lay.trend_figure("12345", [None] * 24, [None] * 24, "zh", 10, 5, i18n.t("tab.no_history", "zh"))
    assert [a["text"] for a in empty["layout"]["annotations"]] == [i18n.t("tab.no_history", "zh")]
    some = lay.trend_figure("12345", [1.0] * 24, [None] * 24, "zh", 10, 59, i18n.t("tab.no_history", "zh"))
    assert some["layout"]["annotations"] == []


# --- the refresh over real Redis, live and replayed ----------------------------------------------------


def ingest(app: Any, events: list[dict[str, Any]]) -> None:
    resp = app.test_client().post("/api/v1/events", data=json.dumps(events), content_type="application/json",
                                  headers={"Authorization": "Bearer test-token"})
    assert resp.status_code == 200, resp.get_json()


def tick(app: Any, now: float) -> None:
    with app.app_context():
        run_tick(app.extensions["dc_redis"], db_sessions(), now)


def test_live_shows_the_aggregates_and_replay_shows_the_snapshot_of_then(app: Any) -> None:
    r = app.extensions["dc_redis"]
    now = time.time()
    then = now - 2 * 3600
    tick(app, then)
    run_history(r, then)
    ingest(app, [incident("t1", severity=2), incident("t2", severity=3)])
    tick(app, now)
    run_history(r, now)

    live, found, yesterday, today, _ = cb.load_view(r, None, now)
    assert found is None and live[AGG_KPI]["incidents_open"] == 2
    assert yesterday is None  # no history a day back
    assert today[i18n.to_beijing(now).hour] == 2
    past, found, *_ = cb.load_view(r, then + 30, now)
    assert found == history.minute_floor(then) and past[AGG_KPI]["incidents_open"] == 0

    values, state = cb.render(live, None, None, None, (today, [None] * 24), HERE, "zh", now, {})
    assert len(values) == len(cb.OUTPUTS)
    out = dict(zip(cb.OUTPUTS, values, strict=True))
    assert len(out[(ids.TABLET_MAP.incidents, "data")]["features"]) == 2
    assert out[(ids.TABLET_MAP.subdistricts, "hideout")] == {"tiles": False, "sel": HERE}
    assert "东四 火情" in flat(out[(ids.TABLET_DRILL, "children")])
    # The same view again sends nothing.
    again, _ = cb.render(live, None, None, None, (today, [None] * 24), HERE, "zh", now, state)
    assert all(v is cb.no_update for v in again)
    replay, _ = cb.render(past, found, then + 30, None, ([None] * 24, [None] * 24), HERE, "zh", now, state)
    rout = dict(zip(cb.OUTPUTS, replay, strict=True))
    assert rout[(ids.TABLET_MAP.incidents, "data")]["features"] == []
    assert rout[(ids.TABLET_MODE, "className")] == "tab-mode replay"
    # A time history knows nothing of: empty layers and "—", never today's picture under a replay badge.
    nothing, found, *_ = cb.load_view(r, now - 20 * 3600, now)
    assert found is None and nothing == cb.EMPTY
    blank, _ = cb.render(nothing, None, now - 20 * 3600, None, ([None] * 24, [None] * 24), None, "zh", now, state)
    bout = dict(zip(cb.OUTPUTS, blank, strict=True))
    assert bout[(ids.TABLET_MAP.incidents, "data")]["features"] == []
    assert bout[(ids.TABLET_MODE, "className")] == "tab-mode replay missing"
    assert bout[(ids.TABLET, "className")] == "tablet no-history"
    assert i18n.t("kpi.none", "zh") in flat(bout[(ids.TABLET_KPIS, "children")])
    # Said as no data for that time, never "当前无未结事件" and blank charts.
    assert i18n.t("tab.no_history", "zh") in flat(bout[(ids.TABLET_OPEN, "children")])
    assert i18n.t("inc.none", "zh") not in flat(bout[(ids.TABLET_OPEN, "children")])
    assert i18n.t("tab.no_history", "zh") in flat(bout[(ids.TABLET_TREND_HOTLINE, "figure")])


# --- the callbacks over HTTP: roles on the server ----------------------------------------------------


def call_refresh(
    app: Any, username: str, offset: int = 0, code: str | None = None, state: Any = None, client: Any = None
) -> Any:
    if client is None:
        client = app.test_client()
        assert login(client, username, PASSWORD).status_code == 302
    callbacks = app.extensions["dash_app"].callback_map
    [key] = [k for k in callbacks if f"{ids.TABLET_KPIS}.children" in k]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in key.strip(".").split("...")]
    body = {"output": key, "outputs": outputs, "changedPropIds": [f"{ids.TABLET_TICK}.n_intervals"],
            "inputs": [{"id": ids.TABLET_TICK, "property": "n_intervals", "value": 1},
                       {"id": ids.TABLET_SLIDER, "property": "value", "value": offset},
                       {"id": ids.TABLET_SUBDISTRICT, "property": "value", "value": code}],
            "state": [{"id": ids.TABLET_STATE, "property": "data", "value": state or {}}]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def test_the_tablets_callbacks_check_the_role_on_the_server(app: Any) -> None:
    tick(app, time.time())
    ok = call_refresh(app, "leader", code=HERE)
    assert ok.status_code == 200
    assert ids.TABLET_KPIS in ok.get_json()["response"]
    for username in ("duty", "dispatch"):
        refused = call_refresh(app, username)
        assert refused.status_code == 204, username  # nothing sent
    assert call_refresh(app, "admin").status_code == 200


def test_an_idle_tablet_is_answered_nothing_changed_without_a_render_until_something_does(app: Any) -> None:
    now = time.time()
    tick(app, now)
    client = app.test_client()
    assert login(client, "leader", PASSWORD).status_code == 302
    first = call_refresh(app, "leader", code=HERE, client=client)
    assert first.status_code == 200
    state = first.get_json()["response"][ids.TABLET_STATE]["data"]
    assert state["key"]

    # Nothing changed: 204, nothing read beyond the heads and nothing rendered.
    assert call_refresh(app, "leader", code=HERE, state=state, client=client).status_code == 204
    # Another pick is another picture.
    other = call_refresh(app, "leader", code=None, state=state, client=client)
    assert other.status_code == 200
    # An aggregate changes: the tablet is sent what changed.
    ingest(app, [incident("idle1", severity=2)])
    tick(app, now + 1)
    moved = call_refresh(app, "leader", code=HERE, state=state, client=client)
    assert moved.status_code == 200
    assert ids.TABLET_MAP.incidents in moved.get_json()["response"]


def refreshed(resp: Any) -> tuple[Any, str, str, Any]:
    """The mode badge's content and class, the page's class and the new state of a 200 refresh."""
    assert resp.status_code == 200
    got = resp.get_json()["response"]
    return (got[ids.TABLET_MODE].get("children"), got[ids.TABLET_MODE].get("className", ""),
            got[ids.TABLET].get("className", ""), got[ids.TABLET_STATE]["data"])


def test_a_tablet_whose_workers_stopped_says_its_data_is_late_and_live_again_when_they_are_back(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tick 50 s into the minute before: the refreshes below stay within one minute (the key moves each minute).
    ticked = (time.time() // 60) * 60 - 50
    tick(app, ticked)
    clock = SimpleNamespace(time=lambda: ticked + 1)
    monkeypatch.setattr(cb, "time", clock)
    client = app.test_client()
    assert login(client, "leader", PASSWORD).status_code == 302

    body, cls, page, state = refreshed(call_refresh(app, "leader", state={}, client=client))
    assert body == i18n.t("tab.live", "zh") and cls == "tab-mode live" and page == "tablet"
    # The workers stop: no version moves, yet past the wall's threshold the tablet is sent "数据延迟" and its age.
    clock.time = lambda: ticked + AGG_STALE_AFTER_S + 3
    body, cls, page, state = refreshed(call_refresh(app, "leader", state=state, client=client))
    assert "stale" in cls.split() and page == "tablet stale"
    assert i18n.t("tab.stale", "zh") in flat(body) and f'"data-since": "{ticked:.3f}"' in flat(body)
    assert "8 秒前" in flat(body)
    # Still late: nothing to send (the browser ticks the age from data-since).
    clock.time = lambda: ticked + 30
    assert call_refresh(app, "leader", state=state, client=client).status_code == 204
    # The workers are back, with the same figures (no version moves): "实时" again.
    tick(app, ticked + 40)
    clock.time = lambda: ticked + 41
    body, cls, page, state = refreshed(call_refresh(app, "leader", state=state, client=client))
    assert body == i18n.t("tab.live", "zh") and cls == "tab-mode live" and page == "tablet"


def test_a_tablet_that_cannot_read_redis_says_its_feed_is_down_once(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tick(app, time.time())
    client = app.test_client()
    assert login(client, "leader", PASSWORD).status_code == 302
    *_, state = refreshed(call_refresh(app, "leader", state={}, client=client))
    gone = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))  # nothing listens on port 1
    monkeypatch.setattr(cb, "redis_client", lambda: gone)
    body, cls, page, state = refreshed(call_refresh(app, "leader", state=state, client=client))
    assert body == i18n.t("fresh.down", "zh") and "stale" in cls.split() and page == "tablet stale"
    assert call_refresh(app, "leader", state=state, client=client).status_code == 204  # said once
    monkeypatch.undo()
    body, cls, page, _ = refreshed(call_refresh(app, "leader", state=state, client=client))
    assert body == i18n.t("tab.live", "zh") and cls == "tab-mode live" and page == "tablet"


# --- a real browser at a tablet viewport -------------------------------------------------------------


@pytest.mark.browser
def test_a_leader_drills_into_a_subdistrict_and_replays_the_past_on_a_tablet(
    dash_duo: Any, app: Any, request: pytest.FixtureRequest
) -> None:
    r = app.extensions["dc_redis"]
    then = time.time() - 3 * 3600
    tick(app, then)
    assert run_history(r, then)["stored"] is not None  # three hours ago: no incident open
    ingest(app, [incident("b1", severity=2, title="东四 火情 tablet")])
    # Only now the workers' ticks: a tick running meanwhile would have held the lock the past tick needs.
    request.getfixturevalue("live_ticks")

    dash_app = app.extensions["dash_app"]
    start_dash(dash_duo, dash_app)
    dash_duo.driver.set_window_size(1024, 768)
    log_in_browser(dash_duo, dash_duo.server.url, "leader")  # a leader lands on the tablet
    until(lambda: dash_duo.driver.current_url.endswith("/tablet"), timeout=10)
    dash_duo.wait_for_element(f"#{ids.TABLET_KPIS} .tab-kpi", timeout=15)

    # Live: the incident is on the map.
    markers = f"#{ids.TABLET_MAP.map} .pulse-marker"
    until(lambda: len(dash_duo.find_elements(markers)) == 1, timeout=15)

    # Tap a subdistrict on the map (天坛, away from the incident's marker): the drill-down shows it.
    tiantan = "110101016"
    label = next(e for e in dash_duo.find_elements(f"#{ids.TABLET_MAP.map} .map-label-icon span")
                 if e.text == names.subdistrict(tiantan, "zh"))
    ActionChains(dash_duo.driver).move_to_element(label).click().perform()
    until(lambda: names.subdistrict(tiantan, "zh") in dash_duo.find_element(f"#{ids.TABLET_DRILL}").text,
          timeout=10)

    # Or pick one from the list: the incident's subdistrict shows the incident.
    dash_duo.find_element(f"#{ids.TABLET_SUBDISTRICT}").click()
    option = next(o for o in dash_duo.find_elements("[role=option]") if names.subdistrict(HERE, "zh") in o.text)
    option.click()
    until(lambda: "东四 火情 tablet" in dash_duo.find_element(f"#{ids.TABLET_DRILL}").text, timeout=10)
    # The name picked reads light on the dark picker.
    rgb = dash_duo.driver.execute_script(
        "return getComputedStyle(document.querySelector('#' + arguments[0] + ' .dash-dropdown-value span span'))"
        ".color.match(/\\d+/g).map(Number)", ids.TABLET_SUBDISTRICT)
    assert sum(rgb[:3]) / 3 > 180, rgb

    # Move the slider three hours back: the map shows no incident then, the badge says replay; back to live.
    handle = dash_duo.find_element(f"#{ids.TABLET_SLIDER} [role=slider]")
    handle.click()
    for _ in range(18):  # ten minutes a key: three hours back
        handle.send_keys(Keys.PAGE_DOWN)
    until(lambda: int(handle.get_attribute("aria-valuenow") or 0) <= -170, timeout=5)
    mode = f"#{ids.TABLET_MODE}"
    until(lambda: dash_duo.find_element(mode).get_attribute("class") == "tab-mode replay", timeout=10,
          msg=f"the mode badge stayed {dash_duo.find_element(mode).text!r}")
    until(lambda: len(dash_duo.find_elements(markers)) == 0, timeout=10)
    dash_duo.find_element(f"#{ids.TABLET_LIVE}").click()
    until(lambda: "live" in dash_duo.find_element(f"#{ids.TABLET_MODE}").get_attribute("class"), timeout=10)
    until(lambda: len(dash_duo.find_elements(markers)) == 1, timeout=10)
    assert dash_duo.get_logs() == [], "the browser console has errors"


# --- the wall replays the same history -------------------------------------------------------------------


def test_replayed_envelopes_carry_the_snapshot_under_a_negative_version_and_keep_the_ticker_live() -> None:
    from layouts.wall_frame import replay_envelopes

    live: Any = {AGG_KPI: {"name": AGG_KPI, "version": 7, "computed_at": 100.0, "data": {"x": 1}},
                 AGG_TICKER: {"name": AGG_TICKER, "version": 3, "computed_at": 100.0, "data": {"items": []}}}
    snap = {"ts": 60, "computed_at": {AGG_KPI: 59.5}, "aggregates": {AGG_KPI: {"x": 0}}}
    out = replay_envelopes(live, snap)
    assert out[AGG_KPI] == {"name": AGG_KPI, "version": -60, "computed_at": 59.5, "data": {"x": 0}}
    assert out[AGG_TICKER] == live[AGG_TICKER]
    assert replay_envelopes(live, None) == live


def test_the_wall_replays_a_snapshot_then_returns_to_live(app: Any) -> None:
    from dashboard.frames.cache import read_and_refresh
    from layouts.wall_frame import SECTION_OUTPUTS, replay_mode

    r = app.extensions["dc_redis"]
    now = time.time()
    then = now - 3600
    tick(app, then)
    run_history(r, then)
    ingest(app, [incident("w1", severity=3)])
    tick(app, now)

    def incidents_on_map(values: list[Any]) -> Any:
        return dict(zip(SECTION_OUTPUTS, values, strict=True))[(ids.MAP_INCIDENTS, "data")]

    values, client, _ = read_and_refresh(r, None, "zh", now)
    assert len(incidents_on_map(values)["features"]) == 1
    values, replayed, _ = read_and_refresh(r, client, "zh", now, at=then + 20)
    assert incidents_on_map(values)["features"] == []
    assert replayed["v"][AGG_KPI] == -history.minute_floor(then)
    text, cls, wall_cls = replay_mode(then + 20, replayed["v"][AGG_KPI], "zh")
    assert cls == "wall-mode replay" and wall_cls == "wall replaying" and text.startswith("回放")
    # The same minute again: nothing to send; live again: the panels that differ are sent.
    again, same, _ = read_and_refresh(r, replayed, "zh", now, at=then + 40)
    assert same is cb.no_update and incidents_on_map(again) is cb.no_update
    back, _, _ = read_and_refresh(r, replayed, "zh", now)
    assert len(incidents_on_map(back)["features"]) == 1
    assert replay_mode(None, None, "zh")[1] == "wall-mode live"
    # No snapshot of then: the wall shows live data and says so, its freshness badges too (the class wall.js reads).
    assert replay_mode(now - 20 * 3600, None, "en")[1:] == ("wall-mode missing", "wall replay-live")
