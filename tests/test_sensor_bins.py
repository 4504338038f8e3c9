"""The map's sensor bins (dashboard/domain/clusters.py), the sensor book kept up to date from changes
(workers/sensor_book.py) against the aggregate computed from scratch, and the admin table's paging
(dashboard/domain/paging.py): pure, with hypothesis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.domain import clusters as cl
from dashboard.domain import paging
from dashboard.domain import rules as c
from workers.sensor_book import SensorBook, compute_sensors
from workers.telemetry import fold_into, new_state

NOW = 1_760_000_000.0
lons = st.floats(116.38, 116.45, allow_nan=False)
lats = st.floats(39.86, 39.97, allow_nan=False)
sensors = st.lists(st.tuples(lons, lats, st.integers(0, 3)), max_size=200)


@settings(max_examples=60, deadline=None)
@given(sensors, st.integers(12, 17))
def test_every_sensor_is_in_exactly_one_bin_with_its_state(points: list[tuple[float, float, int]], zoom: int) -> None:
    bins = cl.bin_sensors(points, zoom)
    assert sum(b.n for b in bins.values()) == len(points)
    for code in range(4):
        assert sum(b.counts[code] for b in bins.values()) == sum(1 for p in points if p[2] == code)
    for cell, b in bins.items():
        lon, lat = b.centre()
        # The centre is the mean of the bin's sensors, so it lies in the bin's box (a cell is convex).
        members = [p for p in points if cl.cell_of(p[0], p[1], zoom) == cell]
        assert min(p[0] for p in members) - 1e-5 <= lon <= max(p[0] for p in members) + 1e-5
        assert min(p[1] for p in members) - 1e-5 <= lat <= max(p[1] for p in members) + 1e-5


@settings(max_examples=60, deadline=None)
@given(sensors, st.integers(13, 17), st.integers(1, 4))
def test_coarser_bins_merged_from_finer_ones_are_those_of_the_sensors(
    points: list[tuple[float, float, int]], zoom: int, levels: int
) -> None:
    merged = cl.coarsen(cl.bin_sensors(points, zoom), levels)
    direct = cl.bin_sensors(points, zoom - levels)
    assert {k: b.counts for k, b in merged.items()} == {k: b.counts for k, b in direct.items()}
    for k, b in merged.items():
        assert b.centre() == pytest.approx(direct[k].centre(), abs=2e-5)


def test_a_bin_shows_its_worst_state_and_silent_only_when_none_reports() -> None:
    assert cl.worst([5, 0, 1, 9]) == cl.ALARM
    assert cl.worst([5, 2, 0, 9]) == cl.WARNING
    assert cl.worst([1, 0, 0, 9]) == cl.NORMAL
    assert cl.worst([0, 0, 0, 3]) == cl.SILENT


def test_fifty_thousand_sensors_make_at_most_a_few_thousand_marks() -> None:
    """Dongcheng's 41.8 km² in cells of MAP_ZOOM: however many sensors, the map gets one mark per cell."""
    import random

    rng = random.Random(7)
    pts = [(rng.uniform(116.385, 116.445), rng.uniform(39.86, 39.97), 0) for _ in range(50_000)]
    rows = cl.compact(cl.bin_sensors(pts))
    assert len(rows) < 1_000 and sum(int(r[3]) for r in rows) == 50_000  # type: ignore[call-overload]


# --- the sensor book, kept from changes, equals the aggregate computed from scratch -------------------------------

_SIDS = [f"S{i}" for i in range(12)]
_TYPES = ["pm25", "noise", "water_level", "heat_supply_temp"]


def _reading(sid: str, stype: str, value: float, ts: float) -> dict[str, Any]:
    k = int(sid[1:] or 0)
    return {"kind": c.SENSOR_READING, "event_id": f"{sid}-{ts}", "sensor_id": sid, "sensor_type": stype,
            "value": value, "ts": ts, "lon": 116.40 + k * 0.003, "lat": 39.90 + k * 0.002,
            "subdistrict": "110101001"}


steps = st.lists(
    st.tuples(st.sampled_from(_SIDS), st.sampled_from(_TYPES), st.floats(0, 200, allow_nan=False),
              st.integers(-30, 30), st.integers(0, 90)),
    max_size=80,
)


def _comparable(d: Any) -> Any:
    out = dict(d)
    out["means"] = {k: (None if v is None else round(v, 1)) for k, v in d["means"].items()}
    return out


@settings(max_examples=80, deadline=None)
@given(steps, st.lists(st.sampled_from(_SIDS), unique=True, max_size=8))
def test_the_book_kept_from_changes_equals_the_aggregate_from_scratch(
    moves: list[tuple[str, str, float, int, int]], registered: list[str]
) -> None:
    """Readings (some late, some older than the silence limit) folded one tick at a time, with time passing and
    sensors falling silent between ticks, give the same aggregate as one computed from all of them at the end."""
    registry = [{"id": s, "type": "pm25", "lon": 116.40 + int(s[1:]) * 0.003, "lat": 39.90 + int(s[1:]) * 0.002,
                 "subdistrict": "110101001"} for s in registered]
    now = NOW
    book = SensorBook(registry, c.SENSOR_TYPES, now)
    state = new_state()
    for sid, stype, value, age, advance in moves:
        stype = next((r["type"] for r in registry if r["id"] == sid), stype)
        ev = _reading(sid, stype, value, now - age * 10)
        if sid in book.meta and book.meta[sid][0] != stype:
            continue  # a sensor keeps its type
        book.fold(ev, now)
        fold_into(state, [ev])
        now += advance
        book.sweep(now)
    assert _comparable(book.data()) == _comparable(compute_sensors(state, registry, now))


def test_a_silent_sensor_comes_back_and_an_alarm_is_logged_once_per_episode() -> None:
    book = SensorBook([{"id": "A", "type": "pm25", "lon": 116.4, "lat": 39.9, "subdistrict": "x"}], c.SENSOR_TYPES,
                      NOW)
    assert book.data()["by_state"][c.STATE_SILENT] == 1
    book.fold(_reading("A", "pm25", 200, NOW), NOW)
    book.fold(_reading("A", "pm25", 210, NOW + 5), NOW + 5)
    d = book.data()
    assert d["by_state"][c.STATE_ALARM] == 1 and d["alarms"][0]["alarm_since"] == NOW and len(book.alarm_log) == 1
    book.sweep(NOW + 5 + c.SENSOR_SILENT_AFTER_S + 2)
    d = book.data()
    assert d["by_state"][c.STATE_SILENT] == 1 and d["alarms"] == [] and d["silent"][0]["value"] == 210
    assert d["bins"]["cells"][0][4:] == [0, 0, 0, 1]


# --- paging -------------------------------------------------------------------------------------------------------


@given(st.integers(-5, 10_000), st.integers(0, 60_000), st.integers(-3, 500))
def test_a_page_is_always_inside_the_table(number: int, total: int, size: int) -> None:
    p = paging.page_of(number, total, size)
    assert 1 <= p.number <= p.pages and 1 <= p.size <= paging.MAX_PAGE_SIZE
    assert 0 <= p.offset <= max(0, total - 1) or total == 0
    assert p.last - p.first + 1 == min(p.size, total - p.offset) if total else (p.first, p.last) == (0, 0)


@given(st.text(max_size=200))
def test_the_search_text_is_taken_literally(text: str) -> None:
    q = paging.clean_query(text)
    assert len(q) <= paging.MAX_QUERY_CHARS and all(ch.isprintable() for ch in q)
    pattern = paging.like_pattern(q)
    body = pattern[1:-1]
    # Every % and _ of the text is escaped, so only the two ends match anything.
    i = 0
    while i < len(body):
        if body[i] == paging.LIKE_ESCAPE:
            assert body[i + 1] in "%_\\"
            i += 2
        else:
            assert body[i] not in "%_"
            i += 1
