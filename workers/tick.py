"""The one-second tick: fold new telemetry, query SQL once, compute every aggregate, write all atomically.

`run_tick(r, sessions, now)` is the whole job without RQ (tests, benchmarks); `tick()` is the RQ entry point
that takes its configuration from the environment.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import secrets
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain import tunables
from dashboard.domain.beijing import day_start, utc_datetime
from dashboard.domain.events import Event
from dashboard.frames.ahead import make_frames_ahead
from dashboard.live import keys
from dashboard.live.aggregates import publish_changes, write_aggregates
from dashboard.live.health import mark_database
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
    HotlineData,
    SensorsData,
)
from dashboard.observe import metrics
from dashboard.store.outage import DATABASE
from workers import hotline_sync, sensor_sync
from workers.clients import job_clients
from workers.crowd import compute_crowd
from workers.early_warning import Baseline, compute_warnings, load_baseline, track
from workers.early_warning.baseline import BASELINE_VERSION
from workers.early_warning.book import TicketBook
from workers.early_warning.detector import compute_warnings_kept
from workers.hotline import compute_hotline, query_since
from workers.incidents import compute_incidents
from workers.kpi import compute_kpi
from workers.parking import compute_parking
from workers.sensor_book import SensorBook, compute_sensors
from workers.sensors import ALARM_LOG_LEN, Thresholds
from workers.telemetry import STATE_VERSION, fold_into, new_state
from workers.ticker import compute_ticker
from workers.traffic import compute_traffic

log = logging.getLogger(__name__)

# Upper bound on telemetry folded by one tick, so that a rebuild from a full stream (200k entries) or a
# backlog is caught up over a few ticks (each well under a second) instead of one tick outliving its lock. Above
# the feeds' capacity (about 50,000 events/s, README "Ingest at capacity"), at some 8 µs an event read and folded.
MAX_EVENTS_PER_TICK: Final = 60_000
# XRANGE page size: large enough for few round trips, small enough to keep replies a few MB at most.
READ_CHUNK: Final = 5_000
# Durable notifications scanned for the ticker (ticket updates are skipped, so read more than 30).
TICKER_SCAN: Final = 100
# A tick slower than this is logged: at one tick per second it leaves too little headroom.
SLOW_TICK_MS: Final = 500
# Cursor that reads the telemetry stream from its first entry.
STREAM_START: Final = "0-0"

# Delete the lock only if it is still ours: after a (very) slow tick it may have expired and been retaken.
_RELEASE_LOCK_LUA: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
)
# Extend the lock only if it is still ours: a long (catch-up) tick keeps it, a killed one frees it soon.
_RENEW_LOCK_LUA: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


@dataclass
class SqlInputs:
    """Everything one tick reads from the system of record."""

    open_incidents: list[dict[str, Any]]
    summons: list[dict[str, Any]]
    incident_counts: dict[str, Any]
    tickets: list[tuple[Any, ...]]
    overdue_cells: dict[str, int]
    unit_counts: dict[str, int]
    # The hotline aggregate kept from the changes (query_sql_live); None: computed from `tickets` (two days of them).
    hotline: HotlineData | None = None
    # The recent tickets kept from the changes, for the early warning in place of `tickets` (query_sql_live).
    recent: TicketBook | None = None


def load_state(r: redis.Redis) -> tuple[str, dict[str, Any], bool]:
    """(cursor, fold state, rebuilt): a missing or outdated state restarts from the start of the stream."""
    raw = r.get(keys.TELEMETRY_STATE)
    if raw is not None:
        try:
            doc = json.loads(raw)
            if doc.get("state", {}).get("v") == STATE_VERSION:
                return str(doc["cursor"]), doc["state"], False
            log.warning("telemetry state has version %r, rebuilding", doc.get("state", {}).get("v"))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.exception("telemetry state is unreadable, rebuilding from the stream")
    else:
        log.info("no telemetry state (first start or Redis was emptied): rebuilding from the stream")
    return STREAM_START, new_state(), True


def _payload(fields: Mapping[Any, Any] | None) -> bytes | str:
    """The `e` field of a stream entry (clients may or may not decode responses)."""
    raw = (fields or {}).get(b"e") or (fields or {}).get("e")
    if not isinstance(raw, bytes | str):
        raise TypeError("stream entry has no 'e' field")
    return raw


def _raw_payload(fields: list[Any] | None) -> bytes | str:
    """The `e` field of a stream entry as Redis sent it: [field, value, field, value, ...]."""
    fields = fields or []
    for i in range(0, len(fields) - 1, 2):
        if fields[i] in (b"e", "e") and isinstance(fields[i + 1], bytes | str):
            return fields[i + 1]
    raise TypeError("stream entry has no 'e' field")


# A client beside each tick client, on its connections, that leaves XRANGE's reply as Redis sent it: redis-py's
# parsing makes a dict of every entry's fields, half the time of reading 10,000 entries.
_RAW_CLIENTS: weakref.WeakKeyDictionary[redis.Redis, redis.Redis] = weakref.WeakKeyDictionary()


def _raw_client(r: redis.Redis) -> redis.Redis:
    """`r`'s connections, with XRANGE unparsed."""
    raw = _RAW_CLIENTS.get(r)
    if raw is None:
        raw = _RAW_CLIENTS[r] = redis.Redis(connection_pool=r.connection_pool)
        raw.response_callbacks.pop("XRANGE", None)
    return raw


def read_telemetry(r: redis.Redis, cursor: str, limit: int) -> tuple[list[Event], str, int]:
    """Events after `cursor` (at most `limit`), the new cursor, and how many entries were unreadable."""
    events: list[Event] = []
    bad = 0
    loads = orjson.loads  # a third of the standard library's time an event (the ingest writes them with orjson)
    raw = _raw_client(r)
    while len(events) + bad < limit:
        count = min(READ_CHUNK, limit - len(events) - bad)
        entries: Any = raw.xrange(keys.TELEMETRY_STREAM, min=f"({cursor}", max="+", count=count)
        if not entries:
            break
        for entry_id, fields in entries:
            try:
                events.append(loads(_raw_payload(fields)))
            except (TypeError, ValueError):
                bad += 1
                log.warning("unreadable telemetry entry %r skipped", entry_id)
        last = entries[-1][0]
        cursor = last.decode() if isinstance(last, bytes) else str(last)
        if len(entries) < count:
            break
    return events, cursor, bad


def query_sql(sessions: sessionmaker[Session], now: float) -> SqlInputs:
    """Read the incidents, summons, tickets and units in one session (small queries; the sensor registry is
    read only when it changes: workers/sensor_sync.py)."""
    now_dt = utc_datetime(now)
    with sessions() as s:
        open_incidents = store.incidents.open_incidents(s)
        return SqlInputs(
            open_incidents=open_incidents,
            summons=store.incidents.summons_of(s, (row["id"] for row in open_incidents)),
            incident_counts=store.incidents.incident_counts(s, utc_datetime(day_start(now)), now_dt),
            tickets=store.tickets.tickets_since(s, utc_datetime(query_since(now))),
            overdue_cells=store.tickets.overdue_tickets_by_cell(s, now_dt),
            unit_counts=store.units.unit_status_counts(s),
        )


def query_sql_live(
    r: redis.Redis,
    sessions: sessionmaker[Session],
    now: float,
    baseline: Baseline | None,
    book: TicketBook | None = None,
) -> tuple[SqlInputs, hotline_sync.Step]:
    """query_sql for the steady tick: the hotline figures from the changes since the last tick (workers/hotline_sync.py)
    instead of two days of tickets, and the last LOOKBACK_S of tickets for the early warning kept the same way in
    `book` (this process's, None: a new one; two days from SQL while it has no baseline, as query_sql); the writes
    that carry the hotline state forward come back with them."""
    now_dt = utc_datetime(now)
    doc = hotline_sync.load_doc(r)
    with sessions() as s:
        if hotline_sync.check_due(doc, now):
            store.engine.begin_snapshot(s)  # the check compares the changes and a full read of one snapshot
        step = hotline_sync.advance(r, s, now, doc, book)
        open_incidents = store.incidents.open_incidents(s)
        # With a baseline the early warning reads only the recent tickets, kept from the changes like the figures.
        tickets: list[tuple[Any, ...]] = []
        recent: TicketBook | None = step.book
        if baseline is None or baseline.get("v") != BASELINE_VERSION:
            tickets, recent = store.tickets.recent_tickets(s, utc_datetime(query_since(now))), None
        sql = SqlInputs(
            open_incidents=open_incidents,
            summons=store.incidents.summons_of(s, (row["id"] for row in open_incidents)),
            incident_counts=store.incidents.incident_counts(s, utc_datetime(day_start(now)), now_dt),
            tickets=tickets,
            overdue_cells=dict(step.hotline["overdue_by_cell"]),
            unit_counts=store.units.unit_status_counts(s),
            hotline=step.hotline,
            recent=recent,
        )
    return sql, step


def load_thresholds(sessions: sessionmaker[Session], last: Any = None) -> Thresholds:
    """The sensor thresholds in force, read from SQL once per tick (one row by primary key), so that an
    administrator's change applies from the next tick on without a restart; while the database is away, `last`
    (those an earlier tick read, kept in the fold state so that every worker process shares them) or else the
    defaults."""
    return read_thresholds(sessions, last)[0]


def read_thresholds(sessions: sessionmaker[Session], last: Any = None) -> tuple[Thresholds, bool]:
    """load_thresholds, and whether the database is reachable (an outage is counted, not logged, each tick)."""
    try:
        with sessions() as s:
            return store.settings.load_thresholds(s), True
    except SQLAlchemyError as exc:
        # An outage skips the tick's other queries (they would only wait to fail); another error is a bug, logged.
        answered = not DATABASE.failed("tick", exc)
    return tunables.effective_thresholds(last), answered


def read_durable(r: redis.Redis, count: int = TICKER_SCAN) -> list[dict[str, Any]]:
    """The newest durable-event notifications (incidents, tickets), newest first."""
    out = []
    for entry_id, fields in r.xrevrange(keys.DURABLE_STREAM, max="+", min="-", count=count) or ():
        try:
            out.append(json.loads(_payload(fields)))
        except (TypeError, ValueError):
            log.warning("unreadable durable notification %r skipped", entry_id)
    return out


def compute_all(
    state: Mapping[str, Any],
    sql: SqlInputs | None,
    durable: list[dict[str, Any]],
    now: float,
    thresholds: Thresholds = c.SENSOR_TYPES,
    baseline: Baseline | None = None,
    sensors: SensorsData | None = None,
) -> dict[str, Any]:
    """Every aggregate's data. Without SQL (database down) only the telemetry aggregates and the ticker
    are computed; the others keep their last value and age, so the screens show them as stale.
    `thresholds`: the sensor thresholds in force (load_thresholds); `baseline`: the early warning's ticket
    baseline (early_warning.load_baseline; None: learned from the tick's own tickets); `sensors`: the sensors
    aggregate the tick's sensor book made (None: from `state`'s readings, from scratch, with no registry)."""
    datas: dict[str, Any] = {
        AGG_TRAFFIC: compute_traffic(state, now),
        AGG_PARKING: compute_parking(state),
        AGG_CROWD: compute_crowd(state),
        AGG_TICKER: compute_ticker(durable, state["alarm_log"], sql.open_incidents if sql is not None else None),
    }
    if sql is not None:
        datas[AGG_SENSORS] = sensors if sensors is not None else compute_sensors(state, [], now, thresholds)
        datas[AGG_INCIDENTS] = compute_incidents(sql.open_incidents, sql.incident_counts, sql.summons, now)
        datas[AGG_HOTLINE] = sql.hotline or compute_hotline(
            sql.tickets, sum(sql.overdue_cells.values()), now, overdue_cells=sql.overdue_cells
        )
        datas[AGG_KPI] = compute_kpi(
            datas[AGG_SENSORS],
            datas[AGG_INCIDENTS],
            datas[AGG_TRAFFIC],
            datas[AGG_HOTLINE],
            datas[AGG_CROWD],
            sql.unit_counts,
        )
        if sql.recent is not None and baseline is not None:
            datas[AGG_WARNINGS] = compute_warnings_kept(state, sql.recent, baseline, now)
        else:
            datas[AGG_WARNINGS] = compute_warnings(state, sql.tickets, baseline, now)
    return datas


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of one tick.

    A tick allocates a dozen small objects per event (stream replies, parsed events) and none of them form
    cycles, yet each few hundred allocations trigger a collection that walks the large fold state again;
    measured on 30,000 events that is 40 % of the read time. Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_tick(
    r: redis.Redis, sessions: sessionmaker[Session], now: float, *, max_events: int = MAX_EVENTS_PER_TICK
) -> dict[str, Any]:
    """One complete tick, or {"status": "skipped"} when another tick holds the lock.

    Nothing is written until the single MULTI/EXEC at the end (aggregates, fold state with its cursor,
    heartbeat), so a tick that dies anywhere leaves the previous complete state and the next tick simply
    re-reads the same events from the old cursor.
    """
    token = secrets.token_hex(8)
    if not r.set(keys.TICK_LOCK, token, nx=True, px=keys.TICK_LOCK_TTL_MS):
        log.debug("tick skipped: another tick holds the lock")
        return {"status": "skipped"}
    try:
        with _gc_paused():
            return run_locked(r, sessions, now, max_events, token)
    finally:
        try:
            r.eval(_RELEASE_LOCK_LUA, 1, keys.TICK_LOCK, token)
        except redis.RedisError:
            # The lock expires by itself after TICK_LOCK_TTL_MS; the error that matters is the original one.
            log.exception("could not release the tick lock")


def renew_lock(r: redis.Redis, token: str) -> None:
    """Extend our tick lock by its full TTL (a lost lock is only logged: overlapping ticks stay correct,
    because each folds from the cursor it loaded and writes everything in one transaction)."""
    if not r.eval(_RENEW_LOCK_LUA, 1, keys.TICK_LOCK, token, keys.TICK_LOCK_TTL_MS):
        log.warning("tick lock expired during a slow tick; another tick may be running")


def run_locked(
    r: redis.Redis, sessions: sessionmaker[Session], now: float, max_events: int, token: str
) -> dict[str, Any]:
    """The tick body, run while holding the lock (renewed after the two slow phases)."""
    t0 = time.perf_counter()
    cursor, state, rebuilt = load_state(r)
    thresholds, db_answered = read_thresholds(sessions, state.get("thresholds"))
    state["thresholds"] = thresholds
    events, new_cursor, bad = read_telemetry(r, cursor, max_events)
    t_read = time.perf_counter()
    seq = int(state.get("sseq") or 0)
    book = sensor_sync.book_for(r, sessions, seq, thresholds, now, db_answered)
    book.changed.clear()
    skipped = fold_into(state, events, thresholds, functools.partial(book.fold, now=now))
    book.sweep(now)
    if book.alarm_log:  # transitions into alarm, for the ticker
        log_ = state["alarm_log"]
        log_.extend(book.alarm_log)
        del log_[: max(0, len(log_) - ALARM_LOG_LEN)]
        book.alarm_log.clear()
    new_seq = seq + 1 if book.changed else seq
    state["sseq"] = new_seq
    track(state, now)  # the early warning's trends, kept in the fold state (workers/early_warning/trends.py)
    renew_lock(r, token)
    t_fold = time.perf_counter()
    if len(events) + bad >= max_events:
        log.warning("tick folded the maximum of %d events: telemetry backlog, catching up", max_events)
    # Without the database the hotline, incident, sensor, KPI and warning aggregates keep their last value and age
    # (the screens show them stale and say why: live.health.mark_database); one failure a tick is counted, not logged.
    sql: SqlInputs | None = None
    hotline: hotline_sync.Step | None = None
    db_ok = db_answered
    baseline = load_baseline(r)
    if db_answered:
        try:
            sql, hotline = query_sql_live(r, sessions, now, baseline, sensor_sync.ticket_book())
        except SQLAlchemyError as exc:
            db_ok = not DATABASE.failed("tick", exc)  # a bug is logged in full, and is not the database away
    durable = read_durable(r)
    renew_lock(r, token)
    t_sql = time.perf_counter()
    datas = compute_all(state, sql, durable, now, thresholds, baseline, book.data() if sql is not None else None)
    t_compute = time.perf_counter()
    state_doc = json.dumps({"cursor": new_cursor, "state": state}, separators=(",", ":"))
    changed = write_aggregates(
        r,
        datas,
        now,
        extra_state={keys.TELEMETRY_STATE: state_doc, keys.LAST_TICK: repr(float(now))},
        publish=False,
        extra_writes=lambda pipe: _extra_writes(pipe, hotline, book),
    )
    sensor_sync.committed(new_seq)
    if hotline is not None:
        hotline.book.committed()
    t_write = time.perf_counter()
    # The screens' next frame is made before they hear of the change, so that their web only reads it.
    ahead = make_frames_ahead(r, now) if changed else 0
    t_frames = time.perf_counter()
    publish_changes(r, changed)
    mark_database(r, db_ok, now)
    t_end = time.perf_counter()
    result = {
        "status": "ok",
        "events": len(events),
        "unfoldable": skipped + bad,
        "rebuilt": rebuilt,
        "database": db_ok,
        "cursor": new_cursor,
        "changed": changed,
        "written": sorted(datas),
        "frames_ahead": ahead,
        "hotline": None
        if hotline is None
        else {"rebuilt": hotline.rebuilt, "check": hotline.check, "changes": hotline.changes, "woken": hotline.woken},
        "ms": {
            "read": round((t_read - t0) * 1000, 2),
            "fold": round((t_fold - t_read) * 1000, 2),
            "sql": round((t_sql - t_fold) * 1000, 2),
            "compute": round((t_compute - t_sql) * 1000, 2),
            "write": round((t_write - t_compute + t_end - t_frames) * 1000, 2),
            "frames": round((t_frames - t_write) * 1000, 2),
            "total": round((t_end - t0) * 1000, 2),
        },
    }
    log.debug("tick %s", result)
    return result


def _extra_writes(pipe: Any, hotline: hotline_sync.Step | None, book: SensorBook) -> None:
    """What the tick writes beside the aggregates, in their transaction: the hotline's kept state and the sensors'
    changed readings."""
    if hotline is not None:
        hotline.apply(pipe)
    sensor_sync.queue_writes(pipe, book, book.changed)


def tick() -> dict[str, Any]:
    """RQ job: one tick with the configuration from the environment (REDIS_URL, DATABASE_URL)."""
    clients = job_clients()
    try:
        result = run_tick(clients.redis, clients.sessions, time.time())
    except Exception:
        metrics.tick_failed()
        raise
    metrics.observe_tick(result)  # duration and phases (histograms), outcome, events folded
    # Waiting on a database that is away makes a tick slow: that is the outage, said once (store/outage.py).
    if result["status"] == "ok" and result["database"] and result["ms"]["total"] > SLOW_TICK_MS:
        log.warning("slow tick: %d events in %.0f ms %s", result["events"], result["ms"]["total"], result["ms"])
    return result
