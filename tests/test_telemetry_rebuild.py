"""After a lost Redis, the 24 h replay's history snapshots and the daily report's traffic come back from the durable
telemetry in SQL (workers/rebuild.py, `dongcheng history rebuild`): telemetry filled, rolled up, the test's own
Redis database flushed, the day rebuilt, and the replayed aggregates compared with those folded from the raw events.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.beijing import DAY_S, date_start, hour_of, local_date, utc_datetime
from dashboard.live import history
from dashboard.live.schema import AGG_CROWD, AGG_KPI, AGG_PARKING, AGG_SENSORS, AGG_TRAFFIC
from dashboard.report import build as rp
from dashboard.services.ingest import store_telemetry
from dashboard.store.engine import session_scope
from dashboard.web.extensions import db_sessions
from dashboard.web.report import traffic_from_sql, traffic_history
from ops.cli import main as dongcheng
from tests.helpers import login
from tests.test_telemetry_rollup import SENSORS, telemetry
from workers.rebuild import rebuild_day
from workers.rollup import run_rollup
from workers.telemetry import fold_into, new_state
from workers.traffic import compute_traffic

WINDOW_S = 20 * 60


@pytest.fixture
def base() -> float:
    """The first minute of the filled window: two hours ago, or yesterday evening early in a Beijing day, so that
    the window lies in one day and within the minute retention."""
    now = time.time()
    day0 = date_start(local_date(now))
    return float(history.minute_floor(now) - 2 * 3600 if now - day0 > 3 * 3600 else day0 - 6 * 3600)


def live_state(events: list[dict[str, Any]], until: float) -> dict[str, Any]:
    """The tick's fold state of the raw events before `until`."""
    state = new_state()
    fold_into(state, [ev for ev in events if ev["ts"] < until])
    return state


def fill(r: redis.Redis, sessions: sessionmaker[Session], base: float) -> list[dict[str, Any]]:
    """Registered sensors and twenty minutes of telemetry, rolled up into SQL."""
    with session_scope(sessions) as s:
        store.sensors.seed_sensors(s, [{"id": sid, "type": "pm25", "lon": 116.41, "lat": 39.92, "subdistrict": "dhm",
                                        "installed_at": utc_datetime(base - DAY_S)} for sid in SENSORS])
    events = telemetry(1200, base, WINDOW_S)
    assert all(store_telemetry(r, events))
    result = run_rollup(r, sessions, time.time(), retention_days=30)
    assert result["rolled"] == len(events)
    return events


def test_a_flushed_redis_gets_the_days_replay_back_from_the_roll_ups(
    r: redis.Redis, sessions: sessionmaker[Session], db_url: str, redis_url: str, base: float,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = fill(r, sessions, base)
    r.flushdb()  # the test's own database only (the fixture's): Redis lost everything
    assert history.snapshot_times(r, base - 3600, base + DAY_S) == []
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    day = local_date(base)
    assert dongcheng(["history", "rebuild", "--day", day.isoformat()]) == 0
    result = json.loads(capsys.readouterr().out)
    minutes = [int(base) + 60 * i for i in range(WINDOW_S // 60)]
    assert result["minutes"] >= len(minutes) and result["hours"] >= 1
    assert set(minutes) <= set(history.snapshot_times(r, base, base + WINDOW_S))
    for minute in minutes:
        snap = history.snapshot_at(r, minute + 30, tolerance_s=history.MINUTE_TOLERANCE_S)
        assert snap is not None and snap["ts"] == minute
        state = live_state(events, minute + 60)
        want = compute_traffic(state, minute + 59)
        aggs = snap["aggregates"]
        assert aggs[AGG_TRAFFIC]["district_index"] == want["district_index"]
        assert [cr["speed_kmh"] for cr in aggs[AGG_TRAFFIC]["corridors"]] == \
            [cr["speed_kmh"] for cr in want["corridors"]]
        assert {lot["id"]: lot["occupied"] for lot in aggs[AGG_PARKING]["lots"]} == \
            {lot_id: o["occupied"] for lot_id, o in state["lots"].items()}
        assert {s["id"]: s["count"] for s in aggs[AGG_CROWD]["spots"]} == \
            {spot_id: o["count"] for spot_id, o in state["spots"].items()}
        listed = aggs[AGG_SENSORS]["alarms"] + aggs[AGG_SENSORS]["silent"]
        readings = {p["id"]: p["value"] for p in listed if p["state"] != c.STATE_NORMAL}
        assert all(readings[sid] == state["sensors"][sid]["value"] for sid in readings if readings[sid] is not None)
        assert AGG_KPI not in aggs  # incidents and tickets are not replayed from the roll-ups
        figures = history.figures_at(r, minute + 30)
        assert figures is not None and figures["traffic_index"] == want["district_index"]
        assert figures["incidents_open"] is None
    # A second rebuild finds every minute there and changes nothing.
    assert rebuild_day(r, sessions, day, time.time())["minutes"] == 0


def test_the_daily_reports_traffic_is_built_from_sql_after_redis_is_flushed(
    r: redis.Redis, sessions: sessionmaker[Session], base: float
) -> None:
    events = fill(r, sessions, base)
    r.flushdb()
    day = local_date(base)
    start, end = rp.day_bounds(day)
    assert traffic_history(r, start, end) == (None, True)  # nothing to report: the history went with Redis
    rebuild_day(r, sessions, day, time.time())
    peaks, readable = traffic_history(r, start, end)
    assert readable and peaks is not None
    indexes = {m: compute_traffic(live_state(events, m + 60), m + 59)["district_index"]
               for m in range(int(base), int(base) + WINDOW_S, 60)}
    assert peaks.peak.index == max(indexes.values())
    assert peaks.peak.at == min(m for m, ix in indexes.items() if ix == peaks.peak.index)
    assert peaks.corridors and peaks.corridors[0].index == max(
        cr["index"] for cr in compute_traffic(live_state(events, peaks.peak.at + 60), peaks.peak.at + 59)["corridors"])
    with sessions() as s:
        incidents = store.reports.incidents_reported(s, utc_datetime(start), utc_datetime(end))
        tickets = store.reports.tickets_received(s, utc_datetime(start), utc_datetime(end))
    report = rp.build_report(day, incidents, tickets, time.time(), traffic=peaks, traffic_readable=readable)
    assert report.traffic is not None and not report.empty
    assert report.traffic.hourly_max[hour_of(peaks.peak.at)] == peaks.peak.index


def test_a_day_without_roll_ups_rebuilds_nothing(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    day = local_date(time.time() - 3 * DAY_S)
    assert rebuild_day(r, sessions, day, time.time()) == {"day": day.isoformat(), "minutes": 0, "hours": 0,
                                                          "rebuilt": 0}
    assert r.dbsize() == 0  # not even an empty index


def test_the_report_takes_its_traffic_from_sql_when_redis_lost_the_history_and_agrees_with_the_rebuild(
    app: Any, client: Any, r: redis.Redis, base: float
) -> None:
    with app.app_context():
        sessions = db_sessions()
    events = fill(r, sessions, base)
    r.flushdb()
    day = local_date(base)
    start, end = rp.day_bounds(day)
    now = time.time()
    with app.app_context():
        from_sql = traffic_from_sql(start, end, now)
    indexes = {m: compute_traffic(live_state(events, m + 60), m + 59)["district_index"]
               for m in range(int(base), int(base) + WINDOW_S, 60)}
    assert from_sql is not None and from_sql.peak.index == max(indexes.values())
    # Every minute from the first speed on, to now or to the day's end (early in a Beijing day `base` is yesterday).
    assert from_sql.points == (min(history.minute_floor(now), end) - base) // 60
    login(client, "leader")
    resp = client.get(f"/report.csv?day={day.isoformat()}&lang=en&table=traffic_peaks")
    assert resp.status_code == 200  # without traffic this table is 404
    assert f"Whole day,{from_sql.peak.index:.1f}," in resp.get_data().decode("utf-8-sig")
    # The same figures as the history rebuilt from the same roll-ups.
    rebuild_day(r, sessions, day, now)
    from_history, readable = traffic_history(r, start, end)
    assert readable and from_history == from_sql
