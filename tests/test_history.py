"""History (issue 4): snapshots, roll-up and retention as pure functions; the job and the read API on real Redis."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from rq.cron import CronScheduler

from dashboard.domain import rules as c
from dashboard.live import history, keys
from dashboard.live.aggregates import canonical_json, write_aggregates
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
)
from workers import history as job
from workers.history import build_snapshot, expired, figures_of, hours_to_roll_up, roll_up, run_history
from workers.schedule import HISTORY_CHECK_S

ROOT = Path(__file__).resolve().parent.parent
HOUR = keys.HISTORY_HOUR_S
MINUTE = keys.HISTORY_MINUTE_S
T0 = 498_889 * HOUR  # an hour boundary (2026-12-01 01:00 UTC)


def point(sid: str, state: str = c.STATE_NORMAL, value: float | None = 40.0) -> dict[str, Any]:
    """One sensor on the map."""
    return {"id": sid, "type": "pm25", "lon": 116.41, "lat": 39.91, "value": value, "state": state,
            "subdistrict": "110101001", "last_seen": T0 - 5.0, "alarm_since": None}


def datas(incidents_open: int = 3, traffic_index: float = 4.2, states: dict[str, str] | None = None) -> dict[str, Any]:
    """A small but complete set of aggregate datas."""
    states = states or {"S2": c.STATE_ALARM, "S3": c.STATE_SILENT}
    points = [point(sid, states.get(sid, c.STATE_NORMAL)) for sid in ("S1", "S2", "S3", "S4")]
    by_state = {s: sum(p["state"] == s for p in points)
                for s in (c.STATE_NORMAL, c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT)}
    return {
        AGG_KPI: {
            "incidents_open": incidents_open, "incidents_by_severity": {"1": 0, "2": 1, "3": incidents_open - 1,
                                                                         "4": 0},
            "incidents_overdue": 1, "units_available": 7, "units_total": 10, "sensors_online": 3,
            "sensors_total": 4, "sensors_alarming": by_state[c.STATE_ALARM], "traffic_index": traffic_index,
            "traffic_band": "light", "hotline_today": 120, "response_rate": 0.9, "resolution_rate": None,
            "satisfaction_rate": 0.85, "busiest_spot": "poi_1", "busiest_spot_name_zh": "故宫",
            "busiest_spot_name_en": "Palace Museum", "busiest_spot_ratio": 0.7,
        },
        AGG_SENSORS: {
            "total": 4, "online": 3, "by_state": by_state, "by_type": {"pm25": by_state},
            "means": {"pm25": 40.0},
            "alarms": [p for p in points if p["state"] in (c.STATE_ALARM, c.STATE_WARNING)],
            "silent": [p for p in points if p["state"] == c.STATE_SILENT], "points": points,
        },
        AGG_INCIDENTS: {
            "open_total": incidents_open, "open_by_severity": {"3": incidents_open}, "open_by_state": {},
            "overdue": 1, "today_total": 5, "today_by_category": {},
            "items": [{"id": i, "title": "积水", "category": "waterlogging", "severity": 3, "state": "new",
                       "subdistrict": "110101001", "lon": 116.4, "lat": 39.9, "created_at": T0 - 60.0,
                       "deadline_at": T0 + 600.0, "overdue": False, "escalated": False, "sensor_id": None,
                       "summons": []} for i in range(incidents_open)],
        },
        AGG_TRAFFIC: {"district_index": traffic_index, "band": "light", "series": [[T0 - 60.0, 4.0]],
                        "corridors": [{"id": "road_a", "name_zh": "长安街", "name_en": "Chang'an Avenue",
                                       "speed_kmh": 30.0, "free_flow_kmh": 50.0, "index": traffic_index,
                                       "band": "light"}]},
        AGG_PARKING: {"lots": [], "total_occupied": 300, "total_capacity": 400},
        AGG_CROWD: {"spots": []},
        AGG_HOTLINE: {"today_total": 120, "by_category": {}, "by_subdistrict": {}, "by_cell": {"r1c1": 4},
                        "response_rate": 0.9, "resolution_rate": None, "satisfaction_rate": 0.85, "overdue": 6,
                        "overdue_by_cell": {}, "hourly": [0] * 24, "hourly_yesterday": [0] * 24},
        AGG_TICKER: {"items": []},
        AGG_WARNINGS: {"warnings": [], "count": 0},
    }


def snap(ts: int, incidents_open: int = 3, traffic_index: float = 4.2) -> dict[str, Any]:
    """A minute snapshot taken 7 s into minute `ts`."""
    built = build_snapshot(datas(incidents_open, traffic_index), {}, ts + 7)
    assert built is not None
    return dict(built)


# --- pure: building ---------------------------------------------------------------------------------------------


def test_a_snapshot_keeps_the_replayable_state_and_drops_what_is_large_or_rebuildable() -> None:
    d = datas()
    s = build_snapshot(d, {name: T0 + 1.5 for name in d}, T0 + 42.9)
    assert s is not None
    assert (s["v"], s["ts"], s["res"], s["taken_at"]) == (history.FORMAT_VERSION, T0, "minute", T0 + 42.9)
    assert set(s["aggregates"]) == set(history.SNAPSHOT_AGGREGATES)  # no ticker
    assert set(s["computed_at"]) == set(history.SNAPSHOT_AGGREGATES)
    sensors = s["aggregates"][AGG_SENSORS]
    assert "points" not in sensors
    assert sensors["states"] == {c.STATE_ALARM: ["S2"], c.STATE_SILENT: ["S3"]}  # normal is everyone else
    assert [p["id"] for p in sensors["alarms"]] == ["S2"]
    assert "series" not in s["aggregates"][AGG_TRAFFIC]
    assert s["aggregates"][AGG_INCIDENTS] == d[AGG_INCIDENTS]
    assert s["aggregates"][AGG_KPI] == d[AGG_KPI]
    assert d[AGG_SENSORS]["points"], "the input is left alone"


def test_figures_come_from_the_kpi_and_the_sources_and_are_none_when_missing() -> None:
    f = figures_of(datas(incidents_open=4))
    assert set(f) == set(history.FIGURES)
    assert (f["incidents_open"], f["incidents_sev3"], f["sensors_alarming"], f["sensors_silent"]) == (4, 3, 1, 1)
    assert (f["sensors_warning"], f["hotline_overdue"], f["parking_ratio"], f["resolution_rate"]) == (0, 6, 0.75,
                                                                                                        None)
    only_traffic = figures_of({AGG_TRAFFIC: datas()[AGG_TRAFFIC]})
    assert all(v is None for v in only_traffic.values())
    assert build_snapshot({}, {}, T0) is None


def test_a_stored_snapshot_round_trips_and_replays_the_sensor_states_on_the_live_positions() -> None:
    d = datas(states={"S2": c.STATE_WARNING})
    raw = history.encode_snapshot(snap(T0))
    assert len(raw) < len(canonical_json(snap(T0)))  # compressed
    stored = history.decode_snapshot(raw)
    assert stored is not None
    live = d[AGG_SENSORS]["points"]  # now S2 is only warning and S3 is back
    out = history.expand_snapshot(stored, live, [(T0 - 60, 4.0), (T0, 4.2)])
    points = {p["id"]: p for p in out["aggregates"][AGG_SENSORS]["points"]}
    assert {k: p["state"] for k, p in points.items()} == {"S1": "normal", "S2": "alarm", "S3": "silent",
                                                          "S4": "normal"}
    assert points["S1"]["value"] is None and points["S2"]["value"] == 40.0  # values only for listed sensors
    assert out["aggregates"][AGG_TRAFFIC]["series"] == [[T0 - 60.0, 4.0], [float(T0), 4.2]]
    assert history.decode_snapshot(None) is None
    assert history.decode_snapshot(b"not zlib") is None
    assert history.decode_snapshot(history.encode_snapshot({**snap(T0), "v": 99})) is None


# --- pure: roll-up and retention --------------------------------------------------------------------------------

minute_values = st.dictionaries(
    st.integers(0, 59), st.tuples(st.integers(0, 500), st.floats(0, 10, allow_nan=False)), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(minute_values, st.lists(st.integers(-180, 240), max_size=5))
def test_a_roll_up_keeps_the_hours_last_state_and_the_max_and_mean_of_its_figures(
    values: dict[int, tuple[int, float]], outside: list[int]
) -> None:
    snaps = [snap(T0 + m * MINUTE, n, ix) for m, (n, ix) in values.items()]
    # Minutes of other hours are left out, whatever their values.
    snaps += [snap(T0 + m * MINUTE, 10_000, 99.0) for m in outside if not 0 <= m < 60]
    rolled = roll_up(T0, list(reversed(snaps)))
    last_minute = max(values)
    expected_last = snap(T0 + last_minute * MINUTE, *values[last_minute])
    assert rolled["res"] == "hour" and rolled["ts"] == T0 + last_minute * MINUTE
    assert rolled["aggregates"] == expected_last["aggregates"]
    assert rolled["figures"] == expected_last["figures"]
    stats = rolled["hour"]
    assert (stats["start"], stats["n"]) == (T0, len(values))
    opens = [n for n, _ in values.values()]
    assert stats["max"]["incidents_open"] == max(opens)
    assert stats["min"]["incidents_open"] == min(opens)
    assert stats["mean"]["incidents_open"] == pytest.approx(sum(opens) / len(opens), abs=1e-4)
    assert stats["max"]["traffic_index"] == max(ix for _, ix in values.values())
    assert stats["mean"]["resolution_rate"] is None  # never had a value
    with pytest.raises(ValueError):
        roll_up(T0 + 10 * HOUR, snaps)


def test_an_hour_is_rolled_up_once_after_it_has_ended() -> None:
    minutes = [T0 + 5 * MINUTE, T0 + 59 * MINUTE, T0 + HOUR, T0 + HOUR + 30]
    assert hours_to_roll_up(minutes, [], T0 + HOUR + 10) == []  # just ended: its last minute may still land
    assert hours_to_roll_up(minutes, [], T0 + HOUR + keys.HISTORY_ROLLUP_DELAY_S) == [T0]
    assert hours_to_roll_up(minutes, [T0], T0 + 2 * HOUR + 60) == [T0 + HOUR]
    assert hours_to_roll_up([], [], T0 + 10 * HOUR) == []


@given(st.lists(st.integers(0, 40 * 86_400), max_size=50), st.integers(0, 40 * 86_400),
       st.sampled_from([keys.HISTORY_MINUTE_KEEP_S, keys.HISTORY_HOUR_KEEP_S]))
def test_retention_drops_exactly_what_is_older_than_it_keeps(times: list[int], now: int, keep: int) -> None:
    dropped = expired(times, now, keep)
    kept = [t for t in times if t not in dropped]
    assert all(t < now - keep for t in dropped)
    assert all(t >= now - keep for t in kept)
    assert sorted(dropped + kept) == sorted(times)
    assert expired([now - keep], now, keep) == []  # exactly as old as retention allows: kept


def test_figure_stats_skip_missing_values() -> None:
    stats = history.figure_stats([{"traffic_index": 2.0}, {"traffic_index": None}, {"traffic_index": 4.0}])
    assert (stats["mean"]["traffic_index"], stats["max"]["traffic_index"], stats["min"]["traffic_index"]) == (
        3.0, 4.0, 2.0)
    assert stats["mean"]["incidents_open"] is None


# --- the job and the read API on the real Redis -----------------------------------------------------------------


def run_minutes(r: redis.Redis, start: int, count: int, base: int = 0) -> None:
    """Write the aggregates and run the job once in each of `count` minutes from `start` (incidents_open = i)."""
    for i in range(count):
        now = start + i * MINUTE + 3
        write_aggregates(r, datas(incidents_open=base + i, traffic_index=float(i % 10)), now)
        run_history(r, now)


def test_the_job_stores_one_snapshot_a_minute_whatever_the_number_of_runs(r: redis.Redis) -> None:
    assert run_history(r, T0)["status"] == "no_aggregates"  # before the first tick: nothing to keep
    write_aggregates(r, datas(incidents_open=3), T0 + 1)
    first = run_history(r, T0 + 2)
    assert first["stored"] == T0
    write_aggregates(r, datas(incidents_open=9), T0 + 30)
    assert run_history(r, T0 + 31)["stored"] is None  # same minute: already there, nothing rewritten
    assert run_history(r, T0 + 59.9)["stored"] is None
    assert r.zcard(keys.HISTORY_MINUTES) == 1 and r.zcard(keys.HISTORY_SERIES_MINUTE) == 1
    stored = history.decode_snapshot(r.get(keys.history_minute_key(T0)))
    assert stored is not None and stored["figures"]["incidents_open"] == 3
    assert 0 < r.ttl(keys.history_minute_key(T0)) <= keys.HISTORY_MINUTE_KEEP_S + keys.HISTORY_TTL_SLACK_S
    assert run_history(r, T0 + 60)["stored"] == T0 + 60
    assert r.zcard(keys.HISTORY_MINUTES) == 2


def test_two_workers_at_once_store_one_snapshot(r: redis.Redis) -> None:
    write_aggregates(r, datas(), T0 + 1)
    results: list[dict[str, Any]] = []
    workers = [threading.Thread(target=lambda: results.append(run_history(r, T0 + 5))) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(res["stored"] == T0 for res in results) == 1
    assert r.zcard(keys.HISTORY_MINUTES) == 1 and r.zcard(keys.HISTORY_SERIES_MINUTE) == 1
    # The store itself refuses a second snapshot of a minute, even a different one, with its index entries.
    other = build_snapshot(datas(incidents_open=50), {}, T0 + 6)
    assert other is not None and not job.store_snapshot(r, other)
    assert r.zcard(keys.HISTORY_SERIES_MINUTE) == 1


def test_completed_hours_are_rolled_up_and_what_is_past_retention_is_pruned(r: redis.Redis) -> None:
    run_minutes(r, T0, 2 * 60 + 2)  # 01:00 to 03:01: two complete hours
    assert [int(h) for h in r.zrange(keys.HISTORY_HOURS, 0, -1)] == [T0, T0 + HOUR]
    assert r.zscore(keys.HISTORY_HOURS, str(T0)) == T0 + 59 * MINUTE  # indexed by the time of its state
    rolled = history.decode_snapshot(r.get(keys.history_hour_key(T0)))
    assert rolled is not None
    assert (rolled["res"], rolled["hour"]["n"], rolled["hour"]["max"]["incidents_open"]) == ("hour", 60, 59)
    assert rolled["aggregates"][AGG_KPI]["incidents_open"] == 59  # the hour's last state
    run_history(r, T0 + 2 * HOUR + 5 * MINUTE)
    assert r.zcard(keys.HISTORY_HOURS) == 2  # rolled once
    # 25 h after the last of them every minute has gone (the 03:00 hour, ended meanwhile, is rolled up first);
    # the hours stay.
    later = T0 + 2 * HOUR + 2 * MINUTE + keys.HISTORY_MINUTE_KEEP_S
    result = run_history(r, later)
    assert (result["pruned"], result["rolled_up"]) == ({"minute": 122, "hour": 0}, [T0 + 2 * HOUR])
    kept = [T0 + 2 * HOUR + 5 * MINUTE, later // MINUTE * MINUTE]  # the minutes of the two runs since
    assert [int(m) for m in r.zrange(keys.HISTORY_MINUTES, 0, -1)] == kept
    assert r.zcard(keys.HISTORY_SERIES_MINUTE) == 2
    assert not r.exists(keys.history_minute_key(T0))
    assert r.zcard(keys.HISTORY_SERIES_HOUR) == 3
    # 30 days after their state, the hours go too.
    result = run_history(r, T0 + HOUR + 59 * MINUTE + keys.HISTORY_HOUR_KEEP_S + 1)
    assert result["pruned"]["hour"] == 2
    assert not r.exists(keys.history_hour_key(T0)) and not r.exists(keys.history_hour_key(T0 + HOUR))
    # Left: the 03:00 hour and the hour of `later` (ended meanwhile, rolled up by this run).
    assert [int(h) for h in r.zrange(keys.HISTORY_HOURS, 0, -1)] == [T0 + 2 * HOUR, later // HOUR * HOUR]
    assert r.zcard(keys.HISTORY_SERIES_HOUR) == 2


def test_snapshot_at_returns_the_latest_at_or_before_a_time_minute_then_hourly(r: redis.Redis) -> None:
    run_minutes(r, T0, 2 * 60 + 2)
    assert history.snapshot_at(r, T0 - 1) is None
    s = history.snapshot_at(r, T0 + 30 * MINUTE + 59)
    assert s is not None
    assert (s["ts"], s["res"], s["aggregates"][AGG_KPI]["incidents_open"]) == (T0 + 30 * MINUTE, "minute", 30)
    # Ready for the wall's renderers: points rebuilt from the live sensors aggregate, the traffic series from history.
    assert [p["id"] for p in s["aggregates"][AGG_SENSORS]["points"]] == ["S1", "S2", "S3", "S4"]
    assert s["aggregates"][AGG_TRAFFIC]["series"][-1] == [float(T0 + 30 * MINUTE), 0.0]
    assert len(s["aggregates"][AGG_TRAFFIC]["series"]) == 31
    # Within tolerance or not.
    far = T0 + 3 * HOUR
    assert history.snapshot_at(r, far, tolerance_s=history.MINUTE_TOLERANCE_S) is None
    last = history.snapshot_at(r, far)
    assert last is not None and last["ts"] == T0 + 2 * HOUR + MINUTE
    # Once the minutes are gone, the hourly roll-ups answer: the hour's last state, never a later one.
    run_history(r, T0 + 2 * HOUR + 2 * MINUTE + keys.HISTORY_MINUTE_KEEP_S)
    h = history.snapshot_at(r, T0 + HOUR + 30 * MINUTE)
    assert h is not None
    assert (h["ts"], h["res"], h["hour"]["start"]) == (T0 + 59 * MINUTE, "hour", T0)
    assert h["aggregates"][AGG_KPI]["incidents_open"] == 59
    assert history.snapshot_at(r, T0 + 58 * MINUTE) is None  # the 01:00 hour's state is 01:59's
    assert history.snapshot_times(r, T0, T0 + 3 * HOUR) == [T0 + 59 * MINUTE, T0 + HOUR + 59 * MINUTE,
                                                             T0 + 2 * HOUR + MINUTE]


def test_series_and_figures_for_trend_charts_and_kpi_comparisons(r: redis.Redis) -> None:
    run_minutes(r, T0, 90)  # 01:00 to 02:29: one rolled hour, one in progress
    assert history.series(r, "incidents_open", T0, T0 + 2 * MINUTE, resolution="minute") == [
        (T0, 0), (T0 + MINUTE, 1), (T0 + 2 * MINUTE, 2)]
    assert history.series(r, "incidents_open", T0, T0 + 3 * HOUR, stat="max") == [(T0, 59), (T0 + HOUR, 89)]
    assert history.series(r, "incidents_open", T0, T0 + 3 * HOUR, stat="last") == [(T0, 59), (T0 + HOUR, 89)]
    assert history.series(r, "incidents_open", T0, T0 + 3 * HOUR, stat="mean") == [(T0, 29.5), (T0 + HOUR, 74.5)]
    assert history.series(r, "incidents_open", T0 + HOUR, T0 + 3 * HOUR, stat="min") == [(T0 + HOUR, 60)]
    day = history.day_by_hour(r, "incidents_open", T0 - HOUR, stat="max")  # a "day" starting at 00:00 here
    assert day[:4] == [None, 59, 89, None] and len(day) == 24
    with pytest.raises(ValueError):
        history.series(r, "no_such_figure", T0, T0 + HOUR)
    with pytest.raises(ValueError):
        history.series(r, "incidents_open", T0, T0 + HOUR, stat="median")
    figures = history.figures_at(r, T0 + 45 * MINUTE + 30)
    assert figures is not None and figures["incidents_open"] == 45
    assert history.figures_at(r, T0 - 1) is None
    assert history.figures_at(r, T0 + 5 * HOUR, tolerance_s=history.MINUTE_TOLERANCE_S) is None
    ks = history.kpi_series(r, T0 + 10 * MINUTE, T0 + 12 * MINUTE)
    assert [(t, f["incidents_open"]) for t, f in ks] == [(T0 + 600, 10), (T0 + 660, 11), (T0 + 720, 12)]


def test_kpi_series_reaches_beyond_the_minutes_with_the_hours(r: redis.Redis) -> None:
    run_minutes(r, T0, 2 * 60 + 2)
    run_history(r, T0 + HOUR + keys.HISTORY_MINUTE_KEEP_S)  # only the minutes of the 01:00 hour are past retention
    ks = history.kpi_series(r, T0, T0 + 2 * HOUR + MINUTE)
    assert (ks[0][0], ks[0][1]["incidents_open"]) == (T0 + 59 * MINUTE, 59)  # the 01:00 hour at its last state
    assert [(t, f["incidents_open"]) for t, f in ks[1:3]] == [(T0 + HOUR, 60), (T0 + HOUR + MINUTE, 61)]
    assert len(ks) == 1 + 62
    figures = history.figures_at(r, T0 + HOUR - 1)
    assert figures is not None and figures["incidents_open"] == 59


def test_an_hour_whose_snapshots_were_lost_is_rolled_from_the_last_readable_one(r: redis.Redis) -> None:
    run_minutes(r, T0, 60)
    for m in (58, 59):
        r.delete(keys.history_minute_key(T0 + m * MINUTE))
    run_history(r, T0 + HOUR + keys.HISTORY_ROLLUP_DELAY_S)
    rolled = history.decode_snapshot(r.get(keys.history_hour_key(T0)))
    assert rolled is not None and rolled["ts"] == T0 + 57 * MINUTE and rolled["hour"]["n"] == 58


def test_cron_config_runs_the_history_job_several_times_a_minute(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    scheduler = CronScheduler(connection=r)
    scheduler.load_config_from_file("workers/cron.py")
    [cron_job] = [j for j in scheduler.get_jobs() if j.func is job.record_history]
    assert (cron_job.queue_name, cron_job.interval) == (keys.QUEUE_DEFAULT, HISTORY_CHECK_S)
    assert HISTORY_CHECK_S < keys.HISTORY_MINUTE_S  # a dropped run still leaves the minute a later one
    assert cron_job.job_options["ttl"] <= HISTORY_CHECK_S
    assert cron_job.job_options["failure_ttl"] <= 600
