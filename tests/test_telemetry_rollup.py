"""Durable telemetry: the stream rolled up per entity and minute into SQL (workers/rollup.py), on SQLite and
PostgreSQL: totals independent of how the entries are split, a repeated run harmless, what was trimmed counted, bad
text refused before SQL, the day partitions made ahead and dropped after the retention on PostgreSQL."""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from rq.cron import CronScheduler
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.config import Config, ConfigError
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import DAY_S, date_start, local_date
from dashboard.domain.rollup import Cell, merge_all, problem, roll_up, unapplied
from dashboard.live import keys
from dashboard.services.ingest import ingest_payload, store_telemetry
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.models import Base
from ops.redis_server import free_port
from workers import rollup as job
from workers.rollup import run_rollup
from workers.schedule import ROLLUP_CHECK_S

ROOT = Path(__file__).resolve().parent.parent
RETENTION = 30
SENSORS = [f"pole-{i:03d}:pm25" for i in range(6)]


def telemetry(n: int, start: float, span_s: float, seed: int = 1) -> list[dict[str, Any]]:
    """`n` normalised telemetry events of every kind, their times spread over [start, start + span_s), in time
    order (as the ingest would have stored them)."""
    rng = random.Random(seed)
    corridors = [cor.id for cor in geo.corridors()][:4]
    lots = [p for p in geo.places() if p.type in ("hospital", "school", "station")][:3] or list(geo.places())[:3]
    spots = list(geo.places())[-3:]
    out = []
    for i in range(n):
        ts = round(start + span_s * i / n, 3)
        base = {"event_id": f"e{seed}-{i}", "source": "test", "ts": ts, "lon": 116.41, "lat": 39.92,
                "subdistrict": "dhm", "cell": "r01c01"}
        kind = (c.SENSOR_READING, c.TRAFFIC_SPEED, c.PARKING, c.CROWD)[i % 4]
        if kind == c.SENSOR_READING:
            ev = {**base, "kind": kind, "sensor_id": rng.choice(SENSORS), "sensor_type": "pm25",
                  "value": round(rng.uniform(5, 300), 1)}
        elif kind == c.TRAFFIC_SPEED:
            ev = {**base, "kind": kind, "corridor_id": rng.choice(corridors), "speed_kmh": round(rng.uniform(5, 60), 1)}
        elif kind == c.PARKING:
            cap = 200
            ev = {**base, "kind": kind, "lot_id": rng.choice(lots).id, "capacity": cap, "occupied": rng.randrange(cap)}
        else:
            ev = {**base, "kind": kind, "spot_id": rng.choice(spots).id, "capacity": 5000,
                  "count": rng.randrange(8000)}
        out.append(ev)
    return out


def stored(sessions: sessionmaker[Session]) -> dict[tuple[int, str, str], tuple[Any, ...]]:
    """Every roll-up row's totals by key."""
    with sessions() as s:
        cells = store.telemetry.cells_between(s, 0, 4_000_000_000)
    return {cell.key: totals(cell) for cell in cells}


def totals(cell: Cell) -> tuple[Any, ...]:
    """What must not depend on how the entries were split (the sum rounded: float addition is not associative)."""
    return cell.n, cell.v_min, cell.v_max, round(cell.v_sum, 6), cell.last_value, round(cell.last_at, 3)


def expected(events: list[dict[str, Any]]) -> dict[tuple[int, str, str], tuple[Any, ...]]:
    """The totals rolled up from the events themselves."""
    return {key: totals(cell) for key, cell in roll_up(((0, i), ev) for i, ev in enumerate(events)).items()}


def lost_metric() -> float:
    """The value of the lost-entries counter in this process."""
    return REGISTRY.get_sample_value("dongcheng_telemetry_rollup_lost_entries_total") or 0.0


def roll(r: redis.Redis, sessions: sessionmaker[Session], now: float, **kw: Any) -> dict[str, Any]:
    """One run of the job."""
    return run_rollup(r, sessions, now, retention_days=RETENTION, **kw)


# --- pure -----------------------------------------------------------------------------------------------------------

_event = st.fixed_dictionaries({
    "kind": st.sampled_from([c.SENSOR_READING, c.TRAFFIC_SPEED]),
    "id": st.sampled_from(["a", "b", "c"]),
    "ts": st.integers(0, 299).map(float),
    "value": st.floats(-50, 500, allow_nan=False, allow_infinity=False),
})


@settings(max_examples=200, deadline=None)
@given(st.lists(_event, max_size=60), st.lists(st.integers(0, 60), max_size=6))
def test_rolling_up_in_any_split_of_the_events_gives_the_same_totals(raw: list[dict[str, Any]],
                                                                     cuts: list[int]) -> None:
    events = [{"kind": e["kind"], "ts": e["ts"], ("sensor_id" if e["kind"] == c.SENSOR_READING else "corridor_id"):
               e["id"], "value": e["value"], "speed_kmh": e["value"], "sensor_type": "pm25"} for e in raw]
    entries = [((1000 + i, 0), ev) for i, ev in enumerate(events)]
    bounds = sorted({0, len(entries), *(min(x, len(entries)) for x in cuts)})
    parts = [roll_up(entries[a:b]) for a, b in itertools.pairwise(bounds)]
    whole, merged = roll_up(entries), merge_all(reversed(parts))  # the order of the parts does not matter either
    assert {k: totals(v) for k, v in merged.items()} == {k: totals(v) for k, v in whole.items()}
    assert {k: (v.first_id, v.through_id) for k, v in merged.items()} == \
        {k: (v.first_id, v.through_id) for k, v in whole.items()}
    for cell in whole.values():
        assert math.isclose(cell.v_sum / cell.n, sum(
            ev["value"] for _, ev in entries if (int(ev["ts"]) // 60 * 60, ev["kind"], ev.get("sensor_id") or
                                                  ev.get("corridor_id")) == cell.key) / cell.n, abs_tol=1e-6)


def test_only_entries_after_a_rows_latest_rolled_entry_are_applied_again() -> None:
    evs = telemetry(8, 600, 30)
    entries = [((10 + i, 0), ev) for i, ev in enumerate(evs)]
    cells = roll_up(entries[:5])
    fresh = unapplied(entries, {key: cell.through_id for key, cell in cells.items()})
    assert fresh == entries[5:]


@pytest.mark.parametrize("bad", ["pole\x00-1", "pole 1", "pole\n1", "", "x" * 129, 7])
def test_a_sensor_id_that_is_not_an_identifier_is_refused_before_sql(bad: Any) -> None:
    ev = {**telemetry(1, 600, 1)[0], "sensor_id": bad}
    assert problem(ev) == "sensor_id is not an identifier"
    assert problem({**ev, "sensor_id": "pole-1", "subdistrict": "d\x00"}) == "subdistrict is not a short text"
    assert problem({**ev, "sensor_id": "pole-1", "value": float("nan")}) == "value is not a number"
    assert problem({**ev, "sensor_id": "pole-1"}) is None


def test_the_retention_is_a_setting_of_whole_days() -> None:
    assert Config.from_env({}).telemetry_retention_days == 30
    assert Config.from_env({"TELEMETRY_RETENTION_DAYS": "7"}).telemetry_retention_days == 7
    for bad in ("0", "seven", "-1"):
        with pytest.raises(ConfigError, match="TELEMETRY_RETENTION_DAYS"):
            Config.from_env({"TELEMETRY_RETENTION_DAYS": bad})


def test_the_job_is_registered_every_ten_seconds_on_the_default_queue(r: redis.Redis,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    scheduler = CronScheduler(connection=r)
    scheduler.load_config_from_file("workers/cron.py")
    [cron_job] = [j for j in scheduler.get_jobs() if j.func is job.roll_up_telemetry]
    assert (cron_job.queue_name, cron_job.interval) == (keys.QUEUE_DEFAULT, ROLLUP_CHECK_S)
    # The stream holds about 200 s at 1,000 events a second: a run every 10 s leaves it ample room.
    assert ROLLUP_CHECK_S * 10 < keys.TELEMETRY_STREAM_MAXLEN / 1000


# --- against Redis and the databases ---------------------------------------------------------------------------------


@pytest.fixture
def now() -> float:
    """A time well inside a Beijing day (the roll-ups' partitions are days)."""
    t = time.time()
    return t if t - date_start(local_date(t)) > 3 * 3600 else t - 4 * 3600


def test_the_job_rolls_the_stream_up_per_entity_and_minute(r: redis.Redis, sessions: sessionmaker[Session],
                                                           now: float) -> None:
    events = telemetry(400, now - 1800, 600)
    assert all(store_telemetry(r, events))
    result = roll(r, sessions, now, round_entries=150)  # several rounds in one run
    assert (result["status"], result["rolled"], result["repeated"], result["lost"]) == ("ok", 400, 0, 0)
    assert stored(sessions) == expected(events)
    later = telemetry(100, now - 1200, 300, seed=2)
    store_telemetry(r, later)
    assert roll(r, sessions, now)["rolled"] == 100
    assert stored(sessions) == expected(events + later)  # merged into the rows the first run wrote


def test_rolling_the_same_entries_up_twice_after_a_crash_changes_nothing(r: redis.Redis,
                                                                         sessions: sessionmaker[Session],
                                                                         now: float) -> None:
    events = telemetry(200, now - 1800, 300)
    store_telemetry(r, events)
    before = r.hgetall(keys.ROLLUP_CURSOR)
    roll(r, sessions, now)
    after = stored(sessions)
    # The commit happened and the cursor was not saved (the worker died in between): the next run reads them again.
    r.delete(keys.ROLLUP_CURSOR)
    if before:
        r.hset(keys.ROLLUP_CURSOR, mapping=before)
    store_telemetry(r, more := telemetry(50, now - 1500, 300, seed=3))
    result = roll(r, sessions, now)
    assert (result["rolled"], result["repeated"]) == (50, 200)
    assert stored(sessions) == expected(events + more)
    assert after != stored(sessions)
    # The same cells upserted twice (two runs at once that both read them) count once.
    cells = list(roll_up(((1, i), ev) for i, ev in enumerate(telemetry(20, now - 600, 60, seed=4))).values())
    with store.engine.session_scope(sessions) as s:
        store.telemetry.upsert_cells(s, cells)
    once = stored(sessions)
    with store.engine.session_scope(sessions) as s:
        store.telemetry.upsert_cells(s, cells)
    assert stored(sessions) == once


def test_entries_trimmed_past_the_cursor_are_counted_and_said_once(r: redis.Redis, sessions: sessionmaker[Session],
                                                                    now: float, db_url: str, redis_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    store_telemetry(r, telemetry(40, now - 1800, 60))
    roll(r, sessions, now)
    store_telemetry(r, late := telemetry(100, now - 1700, 60, seed=5))
    r.xtrim(keys.TELEMETRY_STREAM, maxlen=30, approximate=False)  # 70 of the 100 new entries gone unread
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    lost_before = lost_metric()
    with caplog.at_level(logging.WARNING, logger="workers.rollup"):
        result = job.roll_up_telemetry()
        again = job.roll_up_telemetry()
    assert (result["gap"], result["lost"], result["rolled"]) == ("trimmed", 70, 30)
    assert (again["gap"], again["lost"]) == (None, 0)
    assert lost_metric() - lost_before == 70
    said = [rec.getMessage() for rec in caplog.records if "trimmed past the cursor" in rec.getMessage()]
    assert len(said) == 1 and "70 entries lost" in said[0]
    rows = stored(sessions)
    assert sum(t[0] for t in rows.values()) == 40 + 30
    assert rows != expected(late)


def test_a_lost_cursor_is_said_and_the_stream_is_rolled_from_its_start_without_counting_twice(
    r: redis.Redis, sessions: sessionmaker[Session], now: float, caplog: pytest.LogCaptureFixture
) -> None:
    events = telemetry(60, now - 1800, 60)
    store_telemetry(r, events)
    with caplog.at_level(logging.WARNING, logger="workers.rollup"):
        first = roll(r, sessions, now)
        r.delete(keys.ROLLUP_CURSOR)  # as a Redis restored without it
        second = roll(r, sessions, now)
        third = roll(r, sessions, now)
    assert (first["gap"], second["gap"], third["gap"]) == ("cursor_lost", "cursor_lost", None)
    assert (second["rolled"], second["repeated"]) == (0, 60)
    assert stored(sessions) == expected(events)
    assert sum("no cursor in Redis" in rec.getMessage() for rec in caplog.records) == 2


def test_bad_entries_from_a_foreign_writer_are_skipped_before_sql(r: redis.Redis, sessions: sessionmaker[Session],
                                                                  now: float) -> None:
    good = telemetry(8, now - 1800, 30)
    bad = [{**good[0], "sensor_id": "pole\x00-9"}, {**good[0], "sensor_id": "x" * 200},
           {**good[0], "subdistrict": "d" * 40}, {**good[1], "speed_kmh": "fast"}]
    store_telemetry(r, good)
    for ev in bad:
        r.xadd(keys.TELEMETRY_STREAM, {"e": json.dumps(ev)})
    r.xadd(keys.TELEMETRY_STREAM, {"e": b"{not json"})
    result = roll(r, sessions, now)
    assert (result["rolled"], result["skipped"]) == (8, 5)
    assert stored(sessions) == expected(good)


def test_the_ingest_refuses_a_nul_in_a_sensor_id_so_it_never_reaches_the_stream(r: redis.Redis,
                                                                               sessions: sessionmaker[Session],
                                                                               now: float) -> None:
    t = time.time()
    raw = {"event_id": "n1", "source": "gw", "kind": "sensor_reading", "ts": local_iso(t), "lon": 116.417,
           "lat": 39.924, "sensor_id": "pole\x00-1", "sensor_type": "pm25", "value": 40.0}
    result = ingest_payload(raw, t, r, sessions, 100)
    assert result.accepted == 0 and "sensor_id" in result.rejected[0].errors
    assert r.xlen(keys.TELEMETRY_STREAM) == 0
    assert roll(r, sessions, t)["rolled"] == 0


def local_iso(ts: float) -> str:
    """ISO 8601 with a zone of epoch `ts`."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest.fixture
def pg_only(engine: Engine) -> Iterator[Engine]:
    """The engine, on PostgreSQL only (the partitions are PostgreSQL's)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("day partitions exist on PostgreSQL only; SQLite deletes by age (tested below)")
    yield engine


def test_day_partitions_are_made_ahead_and_those_past_the_retention_dropped(
    pg_only: Engine, r: redis.Redis, sessions: sessionmaker[Session], now: float
) -> None:
    today = local_date(now)
    old_day = today - timedelta(days=RETENTION + 2)
    with store.engine.session_scope(sessions) as s:
        store.telemetry.ensure_partitions(s, [old_day])
    store_telemetry(r, telemetry(40, now - 600, 60) + telemetry(4, date_start(old_day) + 3600, 60, seed=9))
    result = roll(r, sessions, now)
    assert result["rolled"] == 44
    with sessions() as s:
        days = set(store.telemetry.partitions(s))
    # Old rows went in their own day's partition first (made when written), then retention dropped it whole.
    assert result["dropped"] == 1
    assert {today + timedelta(days=i) for i in range(store.telemetry.DAYS_AHEAD)} <= days
    assert old_day not in days
    with pg_only.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM telemetry_minutes")).scalar() == len(
            expected(telemetry(40, now - 600, 60)))
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'telemetry_minutes'")).scalar()
        assert kind == "p"  # the parent is a partitioned table
        today_rows = conn.execute(text(f"SELECT count(*) FROM {store.telemetry.partition_name(today)}")).scalar()
        assert today_rows == len(expected(telemetry(40, now - 600, 60)))
    assert "telemetry_minutes" in inspect(pg_only).get_table_names()


def test_a_day_without_its_partition_is_made_when_written(pg_only: Engine, r: redis.Redis,
                                                          sessions: sessionmaker[Session], now: float) -> None:
    yesterday = local_date(now) - timedelta(days=1)
    store_telemetry(r, telemetry(8, date_start(yesterday) + 7200, 60))
    assert roll(r, sessions, now)["rolled"] == 8
    with sessions() as s:
        assert yesterday in store.telemetry.partitions(s)


def test_retention_deletes_the_rows_older_than_the_retention_on_sqlite(engine: Engine, r: redis.Redis,
                                                                        sessions: sessionmaker[Session],
                                                                        now: float) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL drops day partitions (tested above)")
    old = telemetry(8, now - (RETENTION + 1) * DAY_S, 60, seed=7)
    new = telemetry(8, now - 600, 60)
    store_telemetry(r, old + new)
    result = roll(r, sessions, now)
    assert result["dropped"] == len(expected(old))
    assert stored(sessions) == expected(new)


def test_the_migration_makes_the_roll_up_table_partitioned_by_minute_on_postgresql(db_url: str, r: redis.Redis,
                                                                                  now: float) -> None:
    bare = make_engine(db_url)
    try:
        schema.upgrade(bare)
        with bare.connect() as conn:
            if bare.dialect.name == "postgresql":
                key = conn.execute(text("SELECT pg_get_partkeydef('telemetry_minutes'::regclass)")).scalar()
                assert key == "RANGE (minute)"
        # The job works on the migrated database as on one made from the models.
        sessions = session_factory(bare)
        store_telemetry(r, events := telemetry(40, now - 900, 120))
        assert roll(r, sessions, now)["rolled"] == 40
        assert stored(sessions) == expected(events)
    finally:
        bare.dispose()


def test_a_database_away_leaves_the_cursor_and_the_next_run_rolls_everything_up(
    r: redis.Redis, sessions: sessionmaker[Session], now: float
) -> None:
    events = telemetry(30, now - 900, 60)
    store_telemetry(r, events)
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")  # nothing listens there
    try:
        result = roll(r, session_factory(away), now)
        assert (result["status"], result["rolled"]) == ("database_unavailable", 0)
    finally:
        away.dispose()
    assert r.hget(keys.ROLLUP_CURSOR, "id") is None  # not moved past entries that are not in SQL
    assert r.get(keys.ROLLUP_LOCK) is None
    assert roll(r, sessions, now)["rolled"] == 30
    assert stored(sessions) == expected(events)


def test_a_trim_found_while_the_database_is_away_is_counted_once_by_the_run_that_gets_past_it(
    r: redis.Redis, sessions: sessionmaker[Session], now: float
) -> None:
    store_telemetry(r, telemetry(10, now - 1800, 60))
    roll(r, sessions, now)
    store_telemetry(r, telemetry(50, now - 1700, 60, seed=6))
    r.xtrim(keys.TELEMETRY_STREAM, maxlen=20, approximate=False)
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        failed = roll(r, session_factory(away), now)
    finally:
        away.dispose()
    assert (failed["status"], failed["lost"], failed["gap"]) == ("database_unavailable", 0, None)
    done = roll(r, sessions, now)
    assert (done["status"], done["lost"], done["gap"], done["rolled"]) == ("ok", 30, "trimmed", 20)
    assert roll(r, sessions, now)["lost"] == 0


def test_autogenerate_leaves_the_day_partitions_to_the_job(pg_only: Engine, r: redis.Redis,
                                                           sessions: sessionmaker[Session], now: float) -> None:
    store_telemetry(r, telemetry(8, now - 600, 60))
    roll(r, sessions, now)
    with sessions() as s:
        assert store.telemetry.partitions(s)
    with pg_only.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": schema.include_object})
        assert compare_metadata(ctx, Base.metadata) == []
