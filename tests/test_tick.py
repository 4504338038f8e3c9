"""The tick against the real Redis and SQL: stream -> fold -> SQL -> aggregates, atomicity, the lock."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.events import Event, validate_event
from dashboard.live import aggregates, keys
from dashboard.live.schema import AGG_CROWD, AGG_KPI, AGG_PARKING, AGG_TICKER, AGG_TRAFFIC, AGGREGATES
from ops.tick_bench import xadd_telemetry
from workers import tick as tick_mod
from workers.tick import run_tick

LON, LAT = 116.4103, 39.9122  # Wangfujing


def iso(epoch: float) -> str:
    """ISO-8601 timestamp with a zone."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def event(raw: dict[str, Any], now: float) -> Event:
    """Validate a raw event the way the ingest does."""
    raw = {"source": "test", "lon": LON, "lat": LAT, "ts": iso(now - 1), **raw}
    ev, rej = validate_event(raw, now)
    assert ev is not None, rej
    return ev


def readings(now: float, n: int, sensor: str = "S1", value: float = 40.0, stype: str = "pm25") -> list[Event]:
    """`n` readings of one sensor."""
    return [
        event(
            {
                "event_id": f"{sensor}-{now}-{i}",
                "kind": c.SENSOR_READING,
                "sensor_id": sensor,
                "sensor_type": stype,
                "value": value,
                "ts": iso(now - 1 + i / 1000),
            },
            now,
        )
        for i in range(n)
    ]


def seed_registry(sessions: sessionmaker[Session]) -> None:
    """Three registered sensors; S3 never reports."""
    with sessions.begin() as s:
        store.sensors.seed_sensors(
            s,
            [
                {"id": sid, "type": t, "pole_id": "P1", "lon": LON, "lat": LAT, "subdistrict": "110101001"}
                for sid, t in (("S1", "pm25"), ("S2", "gas"), ("S3", "noise"))
            ],
        )


def store_durable(r: redis.Redis, sessions: sessionmaker[Session], evs: list[Event]) -> None:
    """Write durable events to SQL and notify the ticker, as the ingest does."""
    with sessions.begin() as s:
        store.durable.store_durable(s, evs)
    for ev in evs:
        r.xadd(keys.DURABLE_STREAM, {"e": json.dumps(ev, separators=(",", ":"))})


def envelopes(r: redis.Redis) -> dict[str, Any]:
    """Every aggregate envelope."""
    return aggregates.read_aggregates(r, AGGREGATES)


def state_doc(r: redis.Redis) -> dict[str, Any]:
    """The stored fold state with its cursor."""
    raw = r.get(keys.TELEMETRY_STATE)
    assert raw is not None
    return json.loads(raw)


def test_tick_turns_stream_and_sql_into_every_aggregate(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    now = time.time()
    seed_registry(sessions)
    scenic = geo.places_of_type("scenic")[0].id
    evs = readings(now, 5, "S1", 40.0) + readings(now, 1, "S2", 30.0, "gas")
    evs.append(
        event({"event_id": "t1", "kind": c.TRAFFIC_SPEED, "corridor_id": "road_changan", "speed_kmh": 12.0}, now)
    )
    evs.append(event({"event_id": "c1", "kind": c.CROWD, "spot_id": scenic, "count": 900, "capacity": 1000}, now))
    xadd_telemetry(r, evs)
    store_durable(
        r,
        sessions,
        [
            event({"event_id": "i1", "kind": c.INCIDENT, "category": "fire", "severity": 2, "title": "东四火情"}, now),
            event({"event_id": "h1", "kind": c.HOTLINE_TICKET, "ticket_id": "T1", "category": "noise"}, now),
        ],
    )
    with sessions.begin() as s:
        store.units.seed_units(
            s,
            [
                {
                    "code": "U1",
                    "name": "u",
                    "kind": "fire",
                    "status": "available",
                    "home_lon": LON,
                    "home_lat": LAT,
                    "lon": LON,
                    "lat": LAT,
                    "subdistrict": "110101001",
                }
            ],
        )

    result = run_tick(r, sessions, now)

    assert result["status"] == "ok" and result["events"] == len(evs) and result["rebuilt"] is True
    assert sorted(result["changed"]) == sorted(AGGREGATES)
    env = envelopes(r)
    assert all(env[n] is not None and env[n]["version"] == 1 and env[n]["computed_at"] == now for n in AGGREGATES)
    sensors = env["sensors"]["data"]
    assert (sensors["total"], sensors["online"]) == (3, 2)
    assert sensors["by_state"] == {"normal": 1, "warning": 0, "alarm": 1, "silent": 1}
    assert [p["id"] for p in sensors["alarms"]] == ["S2"] and [p["id"] for p in sensors["silent"]] == ["S3"]
    assert env["incidents"]["data"]["open_by_severity"]["2"] == 1
    assert env["incidents"]["data"]["items"][0]["title"] == "东四火情"
    assert env["hotline"]["data"]["today_total"] == 1 and env["hotline"]["data"]["by_category"]["noise"] == 1
    assert env["traffic"]["data"]["corridors"][0]["id"] == "road_changan"
    assert env["crowd"]["data"]["busiest"]["level"] == "critical"
    kpi = env["kpi"]["data"]
    assert (kpi["incidents_open"], kpi["units_available"], kpi["sensors_alarming"], kpi["hotline_today"]) == (
        1,
        1,
        1,
        1,
    )
    kinds = [i["kind"] for i in env["ticker"]["data"]["items"]]
    assert sorted(kinds) == ["hotline_ticket", "incident", "sensor_alarm"]
    assert float(r.get(keys.LAST_TICK) or 0) == now
    last_id = r.xrevrange(keys.TELEMETRY_STREAM, count=1)[0][0].decode()
    assert state_doc(r)["cursor"] == last_id
    assert r.get(keys.TICK_LOCK) is None


def test_next_tick_folds_only_new_events_and_keeps_unchanged_versions(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    seed_registry(sessions)
    xadd_telemetry(r, readings(now, 10))
    assert run_tick(r, sessions, now)["events"] == 10

    quiet = run_tick(r, sessions, now + 1)
    assert quiet["events"] == 0
    env = envelopes(r)
    assert env["hotline"]["version"] == 1 and env["hotline"]["computed_at"] == now + 1
    assert env["sensors"]["version"] == 1  # nothing new, still the same data

    xadd_telemetry(r, readings(now + 2, 3, "S1", value=160.0))
    res = run_tick(r, sessions, now + 2)
    assert res["events"] == 3 and "sensors" in res["changed"] and "hotline" not in res["changed"]
    env = envelopes(r)
    assert env["sensors"]["version"] == 2 and env["hotline"]["version"] == 1
    assert env["sensors"]["data"]["by_state"]["alarm"] == 1


def test_tick_killed_before_exec_leaves_previous_state_and_next_tick_recomputes(
    r: redis.Redis, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    seed_registry(sessions)
    xadd_telemetry(r, readings(now, 4, value=40.0))
    run_tick(r, sessions, now)
    before = {k: r.get(k) for k in [*map(keys.agg_key, AGGREGATES), keys.TELEMETRY_STATE, keys.LAST_TICK]}

    xadd_telemetry(r, readings(now + 1, 5, value=200.0))
    real = aggregates.encode_envelope
    calls = {"n": 0}

    def die_mid_transaction(*args: Any, **kwargs: Any) -> str:
        # Some SETs are already queued in MULTI when the "worker dies": none of them may become visible.
        calls["n"] += 1
        if calls["n"] == 4:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "encode_envelope", die_mid_transaction)
    with pytest.raises(SystemExit):
        run_tick(r, sessions, now + 1)
    assert {k: r.get(k) for k in before} == before
    assert r.get(keys.TICK_LOCK) is None

    monkeypatch.setattr(aggregates, "encode_envelope", real)
    res = run_tick(r, sessions, now + 2)
    assert res["events"] == 5  # re-read from the old cursor
    assert envelopes(r)["sensors"]["data"]["by_state"]["alarm"] == 1


def test_held_lock_skips_the_tick_and_writes_nothing(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    r.set(keys.TICK_LOCK, "someone-else", px=keys.TICK_LOCK_TTL_MS)
    xadd_telemetry(r, readings(time.time(), 2))
    assert run_tick(r, sessions, time.time()) == {"status": "skipped"}
    assert r.get(keys.TELEMETRY_STATE) is None and r.get(keys.agg_key("kpi")) is None
    assert r.get(keys.TICK_LOCK) == b"someone-else"


def test_lock_taken_over_after_expiry_is_not_released_by_the_old_holder(
    r: redis.Redis, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tick_mod.run_locked

    def slow_tick(*args: Any, **kwargs: Any) -> dict[str, Any]:
        # Simulate our lock expiring and another tick taking it while we still run.
        r.set(keys.TICK_LOCK, "newer-tick")
        return real(*args, **kwargs)

    monkeypatch.setattr(tick_mod, "run_locked", slow_tick)
    assert run_tick(r, sessions, time.time())["status"] == "ok"
    assert r.get(keys.TICK_LOCK) == b"newer-tick"


def test_concurrent_ticks_never_overlap(
    r: redis.Redis, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tick_mod.run_locked
    inside = threading.Event()
    release = threading.Event()

    def held(*args: Any, **kwargs: Any) -> dict[str, Any]:
        inside.set()
        release.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(tick_mod, "run_locked", held)
    results: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: results.append(run_tick(r, sessions, time.time())))
    first.start()
    assert inside.wait(5)
    second = run_tick(r, sessions, time.time())
    release.set()
    first.join(10)
    assert second == {"status": "skipped"} and results[0]["status"] == "ok"


def test_missing_state_is_rebuilt_from_the_stream(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    now = time.time()
    seed_registry(sessions)
    xadd_telemetry(r, readings(now, 6, "S1") + readings(now, 2, "S2", 1.0, "gas"))
    run_tick(r, sessions, now)
    r.delete(keys.TELEMETRY_STATE)  # Redis restarted without its state, or someone flushed it

    res = run_tick(r, sessions, now + 1)
    assert res["rebuilt"] is True and res["events"] == 8
    data = envelopes(r)["sensors"]["data"]
    assert data["online"] == 2 and data["by_state"]["alarm"] == 0


def test_backlog_is_caught_up_over_several_ticks(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    now = time.time()
    xadd_telemetry(r, readings(now, 25))
    counts = [run_tick(r, sessions, now, max_events=10)["events"] for _ in range(4)]
    assert counts == [10, 10, 5, 0]


def test_database_down_still_refreshes_telemetry_aggregates(r: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    broken = sessionmaker(create_engine("sqlite://"))  # no tables: every query fails
    xadd_telemetry(r, readings(time.time(), 3))
    res = run_tick(r, broken, time.time())
    assert res["status"] == "ok" and res["events"] == 3
    assert sorted(res["written"]) == sorted([AGG_TRAFFIC, AGG_PARKING, AGG_CROWD, AGG_TICKER])
    assert r.get(keys.agg_key(AGG_TRAFFIC)) is not None and r.get(keys.agg_key(AGG_KPI)) is None
    assert "database unavailable" in caplog.text


def test_unreadable_stream_entries_are_skipped_and_counted(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    now = time.time()
    r.xadd(keys.TELEMETRY_STREAM, {"e": "{broken"})
    r.xadd(keys.TELEMETRY_STREAM, {"other": "x"})
    xadd_telemetry(r, readings(now, 2))
    res = run_tick(r, sessions, now)
    assert res["events"] == 2 and res["unfoldable"] == 2


def test_ingest_then_tick_shows_the_new_events(r: redis.Redis, sessions: sessionmaker[Session]) -> None:
    from dashboard.services.ingest import ingest_payload

    now = time.time()
    seed_registry(sessions)
    base = {"source": "sim", "lon": LON, "lat": LAT, "ts": iso(now - 60)}
    batch = [
        {**base, "event_id": "r1", "kind": c.SENSOR_READING, "sensor_id": "S2", "sensor_type": "gas", "value": 40},
        {**base, "event_id": "h1", "kind": c.HOTLINE_TICKET, "ticket_id": "T9", "category": "heating"},
        {**base, "event_id": "i1", "kind": c.INCIDENT, "category": "waterlogging", "severity": 3, "title": "积水"},
    ]
    assert ingest_payload(batch, now, r, sessions, max_events=100).accepted == 3
    update = {
        "source": "sim",
        "event_id": "u1",
        "kind": c.HOTLINE_UPDATE,
        "ts": iso(now - 30),
        "ticket_id": "T9",
        "status": "responded",
    }
    assert ingest_payload(update, now, r, sessions, max_events=100).accepted == 1

    assert run_tick(r, sessions, now)["events"] == 1
    env = envelopes(r)
    assert env["sensors"]["data"]["alarms"][0]["id"] == "S2"
    assert env["hotline"]["data"]["response_rate"] == 1.0 and env["hotline"]["data"]["by_category"]["heating"] == 1
    assert env["incidents"]["data"]["open_by_severity"]["3"] == 1
    assert {i["kind"] for i in env["ticker"]["data"]["items"]} == {"sensor_alarm", "hotline_ticket", "incident"}
    assert env["kpi"]["data"]["sensors_alarming"] == 1


ALMOST_EXPIRED_MS = 1000


def test_a_long_tick_renews_its_lock(
    r: redis.Redis, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = tick_mod.query_sql_live

    def slow_sql(*args: Any, **kwargs: Any) -> Any:
        got = real(*args, **kwargs)
        # As if most of the TTL had been used up; a second is left, so that a loaded machine cannot let the lock
        # expire before the renewal, and a lock not renewed still reads as far below its full TTL.
        r.pexpire(keys.TICK_LOCK, ALMOST_EXPIRED_MS)
        return got

    def spy_read(*args: Any, **kwargs: Any) -> Any:
        seen.append(int(r.pttl(keys.TICK_LOCK)))
        return []

    monkeypatch.setattr(tick_mod, "query_sql_live", slow_sql)
    monkeypatch.setattr(tick_mod, "read_durable", spy_read)
    real_renew = tick_mod.renew_lock

    def renew_and_record(rr: redis.Redis, token: str) -> None:
        real_renew(rr, token)
        seen.append(int(r.pttl(keys.TICK_LOCK)))

    monkeypatch.setattr(tick_mod, "renew_lock", renew_and_record)
    assert run_tick(r, sessions, time.time())["status"] == "ok"
    assert 0 < seen[1] <= ALMOST_EXPIRED_MS  # before the renewal the lock was about to expire
    assert seen[2] > ALMOST_EXPIRED_MS + 500  # renewed to its full TTL
    assert r.get(keys.TICK_LOCK) is None


def test_todays_incidents_are_those_reported_today_not_those_stored_today(sessions: sessionmaker[Session]) -> None:
    # As the daily report counts them: one reported a minute before midnight and stored just after belongs to the
    # day before; one reported just after midnight counts today.
    from dashboard.domain.beijing import day_start

    midnight = day_start(time.time())
    base = {"source": "test", "severity": 3, "title": "t", "lon": LON, "lat": LAT, "subdistrict": "110101001",
            "cell": geo.grid_cell(LON, LAT)}
    stored_at = datetime.fromtimestamp(midnight + 5, UTC)
    with sessions() as s:
        s.add(store.incidents.incident_from_event({**base, "event_id": "e1", "category": "fire", "ts": midnight - 60},  # type: ignore[typeddict-item]
                                      stored_at))
        s.add(store.incidents.incident_from_event({**base, "event_id": "e2", "category": "medical", "ts": midnight + 1},  # type: ignore[typeddict-item]
                                      stored_at))
        s.commit()
        counts = store.incidents.incident_counts(s, datetime.fromtimestamp(midnight, UTC), stored_at)
    assert counts["today_by_category"] == {"medical": 1}


def test_two_workers_taking_turns_keep_the_sensors_aggregate_of_one_worker_and_of_a_fresh_one(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    """Each worker process keeps a sensor book; one that missed the other's ticks takes only the readings they
    changed, one that missed too many (or a failed tick of its own) reads them all: every picture is the same."""
    from ops.tick_bench import make_registry, make_telemetry
    from workers import sensor_sync

    registry = make_registry(300)
    with sessions.begin() as s:
        store.sensors.seed_sensors(s, registry)
    now = time.time()
    books = [sensor_sync.Kept(), sensor_sync.Kept()]
    before = sensor_sync.swap(books[0])
    try:
        for i in range(8):
            xadd_telemetry(r, make_telemetry(400, now + i - 1, now + i, registry, seed=50 + i))
            sensor_sync.swap(books[i % 2])
            run_tick(r, sessions, now + i)
        kept = envelopes(r)["sensors"]["data"]
        sensor_sync.swap(sensor_sync.Kept())  # a worker just started: it reads every reading once
        run_tick(r, sessions, now + 7)
        fresh = envelopes(r)["sensors"]["data"]
    finally:
        sensor_sync.swap(before)
    assert kept["total"] == 300 and kept["online"] > 250
    assert {k: v for k, v in fresh.items() if k != "means"} == {k: v for k, v in kept.items() if k != "means"}
    assert fresh["means"] == pytest.approx(kept["means"])
