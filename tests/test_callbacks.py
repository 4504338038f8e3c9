"""The wall's refresh as plain functions: what is sent when aggregates change, stay the same, or Redis is down."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import redis
from dash import Patch, no_update
from dash.development.base_component import Component

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.clusters import MAP_ZOOM, STATE_CODE, bin_sensors, cell_key, cell_of, compact
from dashboard.frames.cache import read_and_refresh
from dashboard.live.connections import make_redis
from dashboard.live.schema import (
    AGG_CROWD,
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_KPI,
    AGG_PARKING,
    AGG_SENSORS,
    AGG_TICKER,
    AGG_TRAFFIC,
    AGG_WARNINGS,
    AGGREGATES,
    Envelope,
)
from layouts import ids
from layouts import wall_frame as rf

NOW = 1_750_000_000.0


def bins_of(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The map's sensor bins of these points, as the tick makes them."""
    return {"z": MAP_ZOOM, "cells": compact(bin_sensors((p["lon"], p["lat"], STATE_CODE[p["state"]]) for p in points))}


def sample_points(now: float = NOW) -> list[dict[str, Any]]:
    """Five sensors, one in each state and another normal one, in the sensors aggregate's point shape."""
    subs = geo.subdistricts()
    return [
        {"id": f"S{i:03d}", "type": ty, "lon": subs[i % 17].label[0], "lat": subs[i % 17].label[1],
         "value": None if st == "silent" else 10.0 + i, "state": st, "subdistrict": subs[i % 17].code,
         "last_seen": now - 5}
        for i, (ty, st) in enumerate(
            [("pm25", "normal"), ("noise", "alarm"), ("water_level", "warning"), ("gas", "silent"), ("pm25", "normal")]
        )
    ]


def sample_data(now: float = NOW) -> dict[str, dict[str, Any]]:
    """One small but complete set of aggregates shaped as dashboard/keys.py says."""
    subs = geo.subdistricts()
    points = sample_points(now)
    by_state = {s: sum(p["state"] == s for p in points) for s in ("normal", "warning", "alarm", "silent")}
    by_type = {
        t: {s: sum(p["type"] == t and p["state"] == s for p in points) for s in by_state} for t in c.SENSOR_TYPES
    }
    items = [
        {"id": 7, "title": "东四 火情", "category": "fire", "severity": 2, "state": "new", "subdistrict": subs[5].code,
         "lon": 116.417, "lat": 39.924, "created_at": now - 30, "deadline_at": now + 3570},
        {"id": 8, "title": "积水", "category": "waterlogging", "severity": 4, "state": "dispatched",
         "subdistrict": subs[0].code, "lon": 116.40, "lat": 39.91, "created_at": now - 4000, "deadline_at": now - 100},
    ]
    cor = geo.corridors()[0]
    return {
        AGG_KPI: {
            "incidents_open": 2, "incidents_by_severity": {"1": 0, "2": 1, "3": 0, "4": 1}, "incidents_overdue": 1,
            "units_available": 12, "units_total": 20, "sensors_online": 4, "sensors_total": 5, "sensors_alarming": 1,
            "traffic_index": 5.2, "traffic_band": "light", "hotline_today": 321, "response_rate": 0.98,
            "resolution_rate": 0.9, "satisfaction_rate": None, "busiest_spot": "poi_011",
            "busiest_spot_name_zh": "故宫博物院", "busiest_spot_name_en": "Palace Museum", "busiest_spot_ratio": 0.8,
        },
        AGG_SENSORS: {"total": 5, "online": 4, "by_state": by_state, "by_type": by_type, "means": {},
                        "alarms": [p for p in points if p["state"] in ("alarm", "warning")],
                        "silent": [p for p in points if p["state"] == "silent"], "bins": bins_of(points)},
        AGG_INCIDENTS: {"open_total": 2, "open_by_severity": {"2": 1, "4": 1}, "open_by_state": {}, "overdue": 1,
                          "today_total": 5, "today_by_category": {"fire": 1}, "items": items},
        AGG_TRAFFIC: {"district_index": 5.2, "band": "light",
                        "corridors": [{"id": cor.id, "name_zh": cor.name_zh, "name_en": cor.name_en, "speed_kmh": 20.0,
                                       "free_flow_kmh": 45.0, "index": 5.2, "band": "light"}],
                        "series": [[(now // 60 - 1) * 60, 5.0], [now // 60 * 60, 5.2]]},
        AGG_PARKING: {"lots": [{"id": "poi_001", "name_zh": "北京协和医院（东单院区）", "name_en": "PUMCH",
                                  "lon": 116.41, "lat": 39.91, "occupied": 190, "capacity": 200, "ratio": 0.95,
                                  "updated_at": now}],
                        "total_occupied": 190, "total_capacity": 200},
        AGG_CROWD: {"spots": [{"id": "poi_011", "name_zh": "故宫博物院", "name_en": "Palace Museum", "lon": 116.397,
                                 "lat": 39.918, "count": 40000, "capacity": 50000, "ratio": 0.8, "level": "high",
                                 "updated_at": now}]},
        AGG_HOTLINE: {"today_total": 321, "by_category": {"noise": 100, "heating": 50},
                        "by_subdistrict": {subs[0].code: 30}, "by_cell": {geo.grid_cells()[0]: 4},
                        "response_rate": 0.98, "resolution_rate": 0.9, "satisfaction_rate": None, "overdue": 3,
                        "hourly": [1] * 24, "hourly_yesterday": [2] * 24},
        AGG_TICKER: {"items": [{"ts": now - 10, "kind": "incident", "severity": 2, "text_zh": "【II级】东四 火情",
                                  "text_en": "[II] Dongsi fire"}]},
        AGG_WARNINGS: {"count": 1, "warnings": [
            {"id": "noise:r01c01:1", "level": "cell", "cell": "r01c01", "subdistrict": subs[0].code,
             "lon": subs[0].label[0], "lat": subs[0].label[1], "kind": "noise", "category": "noise", "score": 0.8,
             "since": now - 300, "reasons_zh": ["夜间噪声持续超标"], "reasons_en": ["noise above the night level"]}]},
    }


def envelopes(data: dict[str, dict[str, Any]], version: int = 1, now: float = NOW) -> dict[str, Envelope | None]:
    """Wrap each aggregate in its envelope."""
    return {name: Envelope(name=name, version=version, computed_at=now - 1, data=d) for name, d in data.items()}


def outputs_of(values: list[Any]) -> dict[tuple[str, str], Any]:
    """The refresh's values keyed by (component id, property)."""
    assert len(values) == rf.N_SECTION_OUTPUTS
    return dict(zip(rf.SECTION_OUTPUTS, values, strict=True))


def sent(values: list[Any]) -> set[tuple[str, str]]:
    """The outputs that carry something."""
    return {k for k, v in outputs_of(values).items() if v is not no_update}


def test_first_refresh_sends_every_panel() -> None:
    """A fresh page has no versions: everything is rendered, versions and META come back."""
    values, client, meta = rf.refresh(envelopes(sample_data()), {}, "zh", NOW)
    assert sent(values) == set(rf.SECTION_OUTPUTS)
    assert client["v"] == dict.fromkeys(AGGREGATES, 1)
    assert meta["now"] == NOW and meta["ok"] is True
    assert all(meta[name] == NOW - 1 for name in AGGREGATES)


def test_unchanged_versions_send_nothing_but_meta() -> None:
    """Same versions as the client has: no_update for every output and for the versions store."""
    envs = envelopes(sample_data())
    _, client, _ = rf.refresh(envs, {}, "zh", NOW)
    values, client2, meta = rf.refresh(envs, client, "zh", NOW + 1)
    assert sent(values) == set()
    assert client2 is no_update
    assert meta["now"] == NOW + 1


def test_only_the_changed_aggregate_is_rendered() -> None:
    """A new traffic version re-renders the traffic outputs (those whose inputs changed) and nothing else."""
    data = sample_data()
    _, client, _ = rf.refresh(envelopes(data), {}, "zh", NOW)
    data2 = copy.deepcopy(data)
    data2[AGG_TRAFFIC]["corridors"][0]["index"] = 8.7
    data2[AGG_TRAFFIC]["corridors"][0]["band"] = "severe"
    envs = envelopes(data)
    envs[AGG_TRAFFIC] = Envelope(name=AGG_TRAFFIC, version=2, computed_at=NOW, data=data2[AGG_TRAFFIC])
    values, client2, _ = rf.refresh(envs, client, "zh", NOW + 1)
    assert sent(values) == {(ids.TRAFFIC_CORRIDORS, "children"), (ids.MAP_CORRIDORS, "hideout")}
    assert outputs_of(values)[(ids.MAP_CORRIDORS, "hideout")] == {data2[AGG_TRAFFIC]["corridors"][0]["id"]: 8.7}
    assert client2["v"][AGG_TRAFFIC] == 2


def test_a_rebuilt_redis_with_lower_versions_is_still_shown() -> None:
    """Versions are compared for inequality: Redis rebuilt from scratch starts again at 1."""
    _, client, _ = rf.refresh(envelopes(sample_data(), version=9), {}, "zh", NOW)
    values, _, _ = rf.refresh(envelopes(sample_data(), version=1), client, "zh", NOW + 1)
    assert sent(values)


def test_missing_aggregate_keeps_last_values_and_reports_none() -> None:
    """A key that is gone sends nothing for its panel; META says None so the badge turns stale."""
    envs = envelopes(sample_data())
    _, client, _ = rf.refresh(envs, {}, "zh", NOW)
    envs[AGG_HOTLINE] = None
    values, _, meta = rf.refresh(envs, client, "zh", NOW + 1)
    assert sent(values) == set()
    assert meta[AGG_HOTLINE] is None


def test_sensor_bins_are_sent_only_when_the_bins_change_and_their_states_only_when_a_state_changes() -> None:
    """Readings change every second; ring styles only when a state changes, positions when bins come or go."""
    data = sample_data()
    points = sorted(sample_points(), key=lambda p: p["state"] != "normal")  # a normal one first
    _, client, _ = rf.refresh(envelopes(data), {}, "zh", NOW)
    data[AGG_SENSORS]["means"] = {"pm25": 99.0}
    envs = envelopes(data)
    envs[AGG_SENSORS] = Envelope(name=AGG_SENSORS, version=2, computed_at=NOW, data=data[AGG_SENSORS])
    values, client, _ = rf.refresh(envs, client, "zh", NOW + 1)
    out = outputs_of(values)
    assert out[(ids.MAP_SENSORS, "data")] is no_update
    # A new reading with the same state changes no ring on the map: nothing is sent.
    assert out[(ids.MAP_SENSORS, "hideout")] is no_update
    alarm = {**points[0], "state": "warning"}  # a normal sensor now warns
    data[AGG_SENSORS]["bins"] = bins_of([alarm, *points[1:]])
    envs[AGG_SENSORS] = Envelope(name=AGG_SENSORS, version=3, computed_at=NOW, data=data[AGG_SENSORS])
    values, client, _ = rf.refresh(envs, client, "zh", NOW + 2)
    out = outputs_of(values)
    assert out[(ids.MAP_SENSORS, "data")] is no_update
    assert out[(ids.MAP_SENSORS, "hideout")]["b"][cell_key(cell_of(alarm["lon"], alarm["lat"]))] == [1, 0, 0]
    far = {**points[0], "id": "S999", "lon": 116.44, "lat": 39.88}
    data[AGG_SENSORS]["bins"] = bins_of([alarm, *points[1:], far])
    envs[AGG_SENSORS] = Envelope(name=AGG_SENSORS, version=4, computed_at=NOW, data=data[AGG_SENSORS])
    values, _, _ = rf.refresh(envs, client, "zh", NOW + 3)
    feats = outputs_of(values)[(ids.MAP_SENSORS, "data")]["features"]
    assert len(feats) == len(data[AGG_SENSORS]["bins"]["cells"]) and sum(f["properties"]["n"] for f in feats) == 6


def test_kpi_flashes_once_when_its_value_changes() -> None:
    """Changed value: the card is sent with .flash (the browser alternates it with .flash-alt); untouched cards send
    nothing."""
    data = sample_data()
    values, client, _ = rf.refresh(envelopes(data), {}, "zh", NOW)
    assert "flash" not in outputs_of(values)[(ids.KPI_UNITS, "className")]

    for version, units in ((2, 11), (3, 10)):
        data[AGG_KPI]["units_available"] = units
        values, client, _ = rf.refresh(envelopes(data, version=version), client, "zh", NOW + version)
        out = outputs_of(values)
        assert out[(ids.KPI_UNITS, "className")].split()[-1] == "flash"
        assert out[(ids.KPI_HOTLINE, "className")] is no_update
        assert out[(ids.KPI_VALUE[ids.KPI_HOTLINE], "children")] is no_update


def test_screens_that_show_the_same_figures_hold_the_same_state_however_they_got_there() -> None:
    """A wall open all day and one opened a minute ago share their token (and so their frames)."""
    data = sample_data()
    _, old_screen, _ = rf.refresh(envelopes(data), {}, "zh", NOW)
    for version, units in ((2, 11), (3, 10), (4, 12)):
        data[AGG_KPI]["units_available"] = units
        _, old_screen, _ = rf.refresh(envelopes(data, version=version), old_screen, "zh", NOW + version)
    _, new_screen, _ = rf.refresh(envelopes(data, version=4), {}, "zh", NOW + 5)
    assert old_screen == new_screen


def test_refresh_values_are_plain_json() -> None:
    """No component or Patch objects in the response: Dash then encodes it with orjson in one pass."""
    values, client, meta = rf.refresh(envelopes(sample_data()), {}, "en", NOW)

    def check(node: Any) -> None:
        assert not isinstance(node, Component | Patch), type(node)
        if isinstance(node, dict):
            for v in node.values():
                check(v)
        elif isinstance(node, list | tuple):
            for v in node:
                check(v)

    check(values)
    json.dumps([v for v in values if v is not no_update] + [client, meta])


def test_a_malformed_aggregate_does_not_break_the_others() -> None:
    """A section that cannot render keeps its last values; every other panel still updates."""
    data = sample_data()
    del data[AGG_TRAFFIC]["corridors"]
    values, _, _ = rf.refresh(envelopes(data), {}, "zh", NOW)
    out = outputs_of(values)
    assert out[(ids.TRAFFIC_CORRIDORS, "children")] is no_update
    assert out[(ids.INCIDENTS_LIST, "children")] is not no_update


def test_incident_rows_are_most_severe_then_newest() -> None:
    """The list puts severity II before IV and marks a 30-second-old incident as new."""
    values, _, _ = rf.refresh(envelopes(sample_data()), {}, "zh", NOW)
    rows = outputs_of(values)[(ids.INCIDENTS_LIST, "children")]
    assert [r["props"]["id"]["index"] for r in rows] == [7, 8]
    assert "new" in rows[0]["props"]["className"]
    assert "new" not in rows[1]["props"]["className"]


def test_english_wall_renders_english_text() -> None:
    """The language of the page is used for every rendered string."""
    values, _, _ = rf.refresh(envelopes(sample_data()), {}, "en", NOW)
    assert "online" in json.dumps(outputs_of(values)[(ids.SENSORS_SUMMARY, "children")])


def test_redis_down_marks_everything_stale_without_raising() -> None:
    """Redis unreachable: no exception, no panel update, META ok=False with every aggregate None."""
    dead = make_redis("redis://127.0.0.1:1/0")
    values, client, meta = read_and_refresh(dead, {"v": {AGG_KPI: 3}}, "zh", NOW)
    assert sent(values) == set()
    assert client is no_update
    assert meta["ok"] is False and meta["now"] == NOW
    assert all(meta[name] is None for name in AGGREGATES)


def test_refresh_reads_real_redis(r: redis.Redis) -> None:
    """Against the real Redis: the writer's envelopes are read with one MGET and rendered."""
    from dashboard.live.aggregates import write_aggregates

    now = time.time()
    write_aggregates(r, sample_data(now), now)
    values, client, meta = read_and_refresh(r, {}, "zh", now + 0.5)
    assert sent(values) == set(rf.SECTION_OUTPUTS)
    assert meta["ok"] is True and meta[AGG_KPI] == pytest.approx(now)
    values, client2, _ = read_and_refresh(r, client, "zh", now + 1)
    assert sent(values) == set() and client2 is no_update


def test_sections_cover_every_aggregate() -> None:
    """Each aggregate feeds at least one section, and outputs are never written twice."""
    assert {s.agg for s in rf.SECTIONS} == set(AGGREGATES)
    assert len(set(rf.SECTION_OUTPUTS)) == len(rf.SECTION_OUTPUTS)


def test_header_summaries_are_parts_that_drop_out_whole() -> None:
    """The incidents and traffic summaries come as parts, most important first (the CSS drops the last)."""
    values, _, _ = rf.refresh(envelopes(sample_data()), {}, "en", NOW)
    out = outputs_of(values)
    parts = out[(ids.INCIDENTS_SUMMARY, "children")]
    assert [p["props"]["className"] for p in parts] == ["chip-part"] * 3
    assert parts[0]["props"]["children"] == "2 open"
    assert parts[2]["props"]["children"] == [" · ", "5 today"]
    traffic = out[(ids.TRAFFIC_SUMMARY, "children")]
    assert len(traffic) == 2
    assert all(p["props"]["style"]["color"] == "#fdd835" for p in traffic)  # the "light" band's colour


def test_long_names_are_shortened_on_the_wall() -> None:
    """A hospital, a corridor and a scenic spot with long names show their short forms."""
    data = sample_data()
    line5 = next(cor for cor in geo.corridors() if cor.name_en.startswith("N–S corridor"))
    data[AGG_TRAFFIC]["corridors"][0].update(id=line5.id, name_zh=line5.name_zh, name_en=line5.name_en)
    data[AGG_PARKING]["lots"][0].update(name_zh="首都医科大学附属北京中医医院",
                                          name_en="Beijing Hospital of Traditional Chinese Medicine")
    data[AGG_KPI]["busiest_spot_name_en"] = "Working People's Cultural Palace (Imperial Ancestral Temple)"
    cases = (("zh", ("雍和宫—天坛东路", "北京中医医院")), ("en", ("Line 5 corridor", "Beijing TCM Hospital")))
    for lang, expect in cases:
        out = outputs_of(rf.refresh(envelopes(data), {}, lang, NOW)[0])
        text = json.dumps(
            [out[(ids.TRAFFIC_CORRIDORS, "children")], out[(ids.TRAFFIC_PARKING, "children")]], ensure_ascii=False
        )
        assert all(e in text for e in expect), (lang, text)
    out = outputs_of(rf.refresh(envelopes(data), {}, "en", NOW)[0])
    assert out[(ids.KPI_SUB[ids.KPI_CROWD], "children")] == "Cultural Palace"


def test_the_traffic_line_is_labelled_with_the_beijing_minutes_it_covers() -> None:
    """The series holds the epoch second each minute starts at; the axis reads Beijing HH:MM."""
    from dashboard.i18n import to_beijing
    from layouts.traffic import series_patch

    start = 1_796_168_340.0  # 2026-12-01 23:39 UTC = 07:39 in Beijing
    patch = series_patch({"series": [[start, 6.0], [start + 60, 6.1]]}).to_plotly_json()  # type: ignore[typeddict-item]
    xs = next(op["params"]["value"] for op in patch["operations"] if op["location"][-1] == "x")
    assert xs == ["07:39", "07:40"] == [to_beijing(start).strftime("%H:%M"), to_beijing(start + 60).strftime("%H:%M")]
