"""Part H (`--only tickscale`): the steady tick at 10,000 and 1,000,000 stored events, side by side; with
`--tick-10m`, also at 10,000,000 on PostgreSQL (loaded with COPY) beside 10,000 on PostgreSQL.

Each size is its own store: a database holding the SQL share of its stored events (bench/dataset.py: a year of
tickets and incidents) and a Redis database (on one bundled Redis) holding its telemetry stream. The tick catches up
with each store, then the steady ticks alternate between the stores, a second apart for each, every tick folding
the telemetry of the last second (~1,000 events), so that all sizes see the same machine; each store is ticked as by
its own worker process, with its own kept books (workers/sensor_sync.py's Kept: the sensors' book, the early warning's
recent tickets), as the one worker holding the tick lease keeps them. The tick keeps the hotline
figures from the changes (workers/hotline_sync.py), so its SQL phase should not grow with the stored tickets.

Its ticks run at a chosen hour of the Beijing day (`--tick-hour`, 23:00 by default), not at the wall clock's: how
much of "today" the tick keeps (the day's tickets, the early warning's six-hour window) depends on the hour, and the
figure must not depend on when the benchmark happens to run. Every time the part uses (the history's placement, the
telemetry's timestamps, the tick's `now`) is the wall clock shifted by a constant (Clock); the tick reads the stream
by its cursor, never by the entries' Redis times, so the shift changes nothing else.

The 10,000,000 store takes minutes to load (9 million tickets through COPY, ~5 GB in PostgreSQL): it is opt-in. Its
database is created beside BENCH_PG_URL's (default postgresql://postgres@127.0.0.1:5432/test) and dropped after.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import dataset
from bench.common import fmt_summary, heading, say, summary
from dashboard.domain.beijing import DAY_S, day_start

SIZES = (10_000, 1_000_000)
SIZES_QUICK = (10_000, 100_000)
SIZE_10M = 10_000_000
# The Beijing hour the steady ticks run at by default: the end of a working day, when "today" holds most tickets.
TICK_HOUR_DEFAULT = 23
STEADY_TICKS = 30
STEADY_TICKS_QUICK = 8
WARMUP_TICKS = 3
PG_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COPY_COLUMNS = (
    "source", "ticket_id", "category", "summary", "lon", "lat", "subdistrict", "cell", "status", "received_at",
    "deadline_at", "responded_at", "resolved_at", "closed_at", "satisfied", "updated_at",
)  # fmt: skip
INCIDENT_COPY_COLUMNS = (
    "source", "external_id", "category", "severity", "title", "description", "state", "lon", "lat", "subdistrict",
    "cell", "sensor_id", "reported_at", "created_at", "updated_at", "deadline_at", "resolved_at", "closed_at",
)  # fmt: skip


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to two decimals (the target, 1.2, needs them), or None when either is missing or b is zero."""
    return None if a is None or not b else round(a / b, 2)


def _label(size: int) -> str:
    return f"{size // 1_000_000}m" if size >= 1_000_000 else f"{size // 1000}k"


@dataclass(frozen=True)
class Clock:
    """The wall clock shifted to a chosen hour of the Beijing day (the same shift for the whole part)."""

    shift_s: float

    @classmethod
    def at_hour(cls, hour: float, wall: float) -> Clock:
        """A clock reading `hour` o'clock Beijing time now (today's, or yesterday's when that hour is yet to come)."""
        target = day_start(wall) + hour * 3600
        if target > wall:
            target -= DAY_S
        return cls(target - wall)

    def __call__(self) -> float:
        return time.time() + self.shift_s


class Store:
    """One size of the store: its database, its Redis db and its telemetry clock."""

    def __init__(self, label: str, db_url: str, redis_url: str, clock: Clock) -> None:
        from dashboard.config import Config
        from dashboard.live.connections import make_redis
        from dashboard.store.engine import make_engine, session_factory
        from ops.bootstrap import bootstrap

        self.label = label
        self.db_url = db_url
        config = Config(redis_url=redis_url, database_url=db_url, secret_key=secrets.token_hex(16),
                        ingest_token=secrets.token_urlsafe(16), demo_password=secrets.token_urlsafe(12),
                        simulator=False)  # fmt: skip
        bootstrap(config, installations=True)  # the synthetic telemetry is the simulator's sensors
        self.engine = make_engine(db_url)
        self.sessions = session_factory(self.engine)
        self.r = make_redis(redis_url)
        self.r.flushdb()
        self.clock = clock
        self.prev = clock()
        self.totals: list[float] = []
        self.phases: dict[str, list[float]] = {}
        self.stored: dict[str, int] = {}
        from workers import sensor_sync

        # What the worker process ticking this store keeps between its ticks (the sensors' book, the early warning's
        # recent tickets): each store is ticked as by its own worker, not by one that switches stores every tick.
        self.kept = sensor_sync.Kept()

    @contextmanager
    def worker(self) -> Iterator[None]:
        """This store's worker process's books in place while ticking it."""
        from workers import sensor_sync

        before = sensor_sync.swap(self.kept)
        try:
            yield
        finally:
            sensor_sync.swap(before)

    def fill_telemetry(self, source: dataset.TelemetrySource, n: int) -> None:
        """The stream's share of the stored events (the latest `n` telemetry events)."""
        source.last(self.r, n, self.clock())
        self.prev = self.clock()

    def catch_up(self) -> int:
        """Tick until the whole stream is folded (and the hotline state built); the ticks it took."""
        from workers.tick import run_tick

        tick_log = logging.getLogger("workers.tick")
        level = tick_log.level
        tick_log.setLevel(logging.ERROR)  # "rebuilding from the stream", "catching up": expected here
        try:
            for n in range(1, 200):
                with self.worker():
                    if run_tick(self.r, self.sessions, self.clock())["events"] == 0:
                        return n
        finally:
            tick_log.setLevel(level)
        return 200

    def steady(self, source: dataset.TelemetrySource, keep: bool) -> dict[str, Any]:
        """Store the telemetry since the last steady tick, then one tick; its result (kept when `keep`)."""
        from workers.tick import run_tick

        now = self.clock()
        source.store(self.r, source.normalised(self.prev, now, now))
        self.prev = now
        with self.worker():
            res = run_tick(self.r, self.sessions, now)
        if keep and res["status"] == "ok":
            self.totals.append(res["ms"]["total"])
            for k, v in res["ms"].items():
                self.phases.setdefault(k, []).append(v)
        return res

    def result(self) -> dict[str, Any]:
        """The steady tick's summary and its phases' medians."""
        med = {k: round(sorted(v)[len(v) // 2], 2) for k, v in self.phases.items()}
        return {"tick_ms": summary(self.totals, 1), "phases_median_ms": med, "stored": self.stored}

    def close(self) -> None:
        self.engine.dispose()


def alternate(stores: list[Store], source: dataset.TelemetrySource, n: int) -> None:
    """`n` steady ticks of every store in turn (after WARMUP_TICKS), each store's a second apart."""
    for i in range(n + WARMUP_TICKS):
        started = time.time()
        for st in stores:
            res = st.steady(source, keep=i >= WARMUP_TICKS)
            if res.get("hotline") and res["hotline"]["rebuilt"]:
                say(f"  note: {st.label} rebuilt its hotline figures ({res['hotline']['rebuilt']}) at tick {i}")
        time.sleep(max(0.0, started + 1.0 - time.time()))


# --- PostgreSQL with COPY --------------------------------------------------------------------------------------


def _pg_admin_url() -> str:
    import os

    return os.environ.get("BENCH_PG_URL", PG_URL_DEFAULT)


def create_pg_database(name: str) -> str:
    """A new empty database `name` on BENCH_PG_URL's server; its URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin_url = make_url(_pg_admin_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    """Drop a database made by create_pg_database."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(_pg_admin_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def copy_history(db_url: str, templates: dataset.Templates, now: float, plan: dataset.Plan, seed: int) -> None:
    """Load the plan's tickets and incidents with COPY (psycopg), then ANALYZE."""
    import random

    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    rng = random.Random(seed)  # the rows of dataset.insert_history with the same seed
    with psycopg.connect(url) as conn:
        for table, columns, rows, count in (
            ("hotline_tickets", COPY_COLUMNS, dataset.ticket_rows(templates, now, (0, plan.tickets), rng),
             plan.tickets),
            ("incidents", INCIDENT_COPY_COLUMNS, dataset.incident_rows(templates, now, (0, plan.incidents), rng),
             plan.incidents),
        ):  # fmt: skip
            t = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for i, row in enumerate(rows):
                    copy.write_row(tuple(row[c] for c in columns))
                    if i and i % 1_000_000 == 0:
                        say(f"    {table}: {i:,} rows ({time.perf_counter() - t:.0f} s)")
            conn.commit()
            say(f"  {table}: {count:,} rows copied in {time.perf_counter() - t:.0f} s")
        conn.autocommit = True
        t = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        say(f"  VACUUM ANALYZE in {time.perf_counter() - t:.0f} s")


# --- the part --------------------------------------------------------------------------------------------------


def _load(st: Store, size: int, templates: dataset.Templates, source: dataset.TelemetrySource, pg: bool) -> None:
    """Fill a store with `size` stored events and let the tick catch up."""
    from workers.early_warning import run_baseline

    plan = dataset.Plan.of(size)
    t = time.perf_counter()
    if pg:
        copy_history(st.db_url, templates, st.clock(), plan, seed=size)
    else:
        dataset.insert_history(st.engine, templates, st.clock(), (0, plan.tickets), (0, plan.incidents), seed=size)
    load_s = time.perf_counter() - t
    st.fill_telemetry(source, plan.telemetry)
    # The early warning's baseline, as the scheduler keeps it (every 10 minutes): without it every tick would read two
    # days of tickets and learn one on the spot.
    run_baseline(st.r, st.sessions, st.clock())
    counts = dataset.sql_counts(st.engine, st.clock())
    xlen = int(st.r.xlen(dataset.keys.TELEMETRY_STREAM))
    st.stored = {"redis_stream": xlen, **counts, "total": xlen + counts["tickets"] + counts["incidents"]}
    t = time.perf_counter()
    ticks = st.catch_up()
    say(f"  {st.label}: {st.stored['total']:,} stored events ({counts['tickets']:,} tickets, "
        f"{counts['tickets_today']:,} of them today; {counts['incidents']:,} incidents; {xlen:,} in the stream); "
        f"loaded in {load_s:.0f} s, caught up in {ticks} ticks ({time.perf_counter() - t:.1f} s)")  # fmt: skip


def run_tickscale(tmp: Path, quick: bool, ten_million: bool, hour: float = TICK_HOUR_DEFAULT) -> dict[str, Any]:
    """Part H, its ticks at `hour` o'clock Beijing time; the figures for the JSON line."""
    from ops.redis_server import start_bundled_redis

    heading("Part H: the steady tick vs stored events (bench/tickscale.py)")
    sizes = SIZES_QUICK if quick else SIZES
    n = STEADY_TICKS_QUICK if quick else STEADY_TICKS
    proc: subprocess.Popen[bytes] | None = None
    stores: list[Store] = []
    pg_name = f"dc_tickscale_{secrets.token_hex(4)}"
    pg_made = False
    out: dict[str, Any] = {}
    try:
        proc, redis_url = start_bundled_redis(tmp / "redis-tickscale")
        base = redis_url.rsplit("/", 1)[0]
        clock = Clock.at_hour(hour, time.time())
        say(f"  the ticks run at {hour:g}:00 Beijing time (the wall clock shifted by {clock.shift_s / 3600:+.2f} h)")
        templates = dataset.make_templates(clock())
        source = dataset.TelemetrySource()
        for k, size in enumerate(sizes):
            st = Store(_label(size), f"sqlite:///{tmp / f'tickscale-{size}.db'}", f"{base}/{k}", clock)
            stores.append(st)
            _load(st, size, templates, source, pg=False)
        heading(f"Part H: steady ticks at {' and '.join(s.label for s in stores)} in turn ({n} each)")
        alternate(stores, source, n)
        res = {st.label: st.result() for st in stores}
        for st in stores:
            r = res[st.label]
            say(f"  {st.label:>4s} steady tick: {fmt_summary(r['tick_ms'])}; "
                f"phases (median ms) {r['phases_median_ms']}")
        small, big = (res[st.label] for st in stores)
        out = {
            "hour": hour,
            "sizes": list(sizes),
            "stores": res,
            "tick_p50_ms": [small["tick_ms"]["p50"], big["tick_ms"]["p50"]],
            "tick_sql_p50_ms": [small["phases_median_ms"].get("sql"), big["phases_median_ms"].get("sql")],
            "ratio": ratio(big["tick_ms"]["p50"], small["tick_ms"]["p50"]),
        }
        for st in stores:
            st.close()
        stores = []
        if ten_million:
            heading("Part H: 10,000 and 10,000,000 stored events on PostgreSQL (COPY; takes minutes)")
            pg_small = create_pg_database(pg_name + "_10k")
            pg_big = create_pg_database(pg_name)
            pg_made = True
            for k, (size, url) in enumerate(((sizes[0], pg_small), (SIZE_10M, pg_big))):
                st = Store(f"pg {_label(size)}", url, f"{base}/{len(sizes) + k}", clock)
                stores.append(st)
                _load(st, size, templates, source, pg=True)
            alternate(stores, source, n)
            pg_res = {st.label: st.result() for st in stores}
            for st in stores:
                r = pg_res[st.label]
                say(f"  {st.label:>6s} steady tick: {fmt_summary(r['tick_ms'])}; "
                    f"phases (median ms) {r['phases_median_ms']}")  # fmt: skip
            small, big = (pg_res[st.label] for st in stores)
            out["pg"] = {
                "stores": pg_res,
                "tick_p50_ms": [small["tick_ms"]["p50"], big["tick_ms"]["p50"]],
                "tick_sql_p50_ms": [small["phases_median_ms"].get("sql"), big["phases_median_ms"].get("sql")],
                "ratio": ratio(big["tick_ms"]["p50"], small["tick_ms"]["p50"]),
            }
    finally:
        for st in stores:
            st.close()
        if pg_made:
            drop_pg_database(pg_name + "_10k")
            drop_pg_database(pg_name)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(10)
    heading("Part H summary")
    say(f"steady tick p50 at {out.get('sizes')}: {out.get('tick_p50_ms')} ms (ratio {out.get('ratio')}; "
        f"SQL phase {out.get('tick_sql_p50_ms')} ms)")
    if "pg" in out:
        say(f"on PostgreSQL at 10k and 10M: {out['pg']['tick_p50_ms']} ms (ratio {out['pg']['ratio']}; "
            f"SQL phase {out['pg']['tick_sql_p50_ms']} ms)")
    return out


def summary_line(out: dict[str, Any]) -> dict[str, Any]:
    """Part H's keys of the JSON line."""
    if not out:
        return {}
    line: dict[str, Any] = {
        "tick_beijing_hour": out.get("hour"),
        "tick_10k_vs_1m_p50_ms": out.get("tick_p50_ms"),
        "tick_10k_vs_1m_ratio": out.get("ratio"),
        "tick_sql_10k_vs_1m_p50_ms": out.get("tick_sql_p50_ms"),
    }
    if "pg" in out:
        line["tick_10m_p50_ms"] = out["pg"]["tick_p50_ms"][1]
        line["tick_pg_10k_vs_10m_p50_ms"] = out["pg"]["tick_p50_ms"]
        line["tick_pg_10k_vs_10m_ratio"] = out["pg"]["ratio"]
    return line
