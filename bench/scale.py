"""Part B: the refresh does not grow with the data; the naive refresh does.

A fresh bundled Redis and a temporary SQLite database are filled with 10,000 stored events, the tick runs until
it has folded everything, and the wall refresh is timed in-process N times:
- core: dashboard.frames.cache.read_and_refresh (one MGET + rendering what changed), as the callback runs it;
- dispatch: the whole request in-process through Flask's test client (login session, user load, the frame as
  GET /api/v1/frame answers it; no socket), as the wall's browser asks for it;
each for a fresh client (renders everything) and an up-to-date client (has the current versions: renders
nothing). Then the same panels the naive way: SQL queries + XRANGE of the whole raw stream + fold + compute
+ render, on every refresh. Then the store grows to 1,000,000 events and everything is measured again.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import redis

from bench import dataset
from bench.common import fmt_summary, heading, ratio, say, summary, warn
from dashboard.live.schema import AGGREGATES

N_REFRESH = 200
WARMUP_ITERATIONS = 5  # not recorded: first calls pay imports, caches, statement compilation
N_REFRESH_QUICK = 40
STEADY_TICKS = 8
STEADY_TICKS_QUICK = 3
FRAME_PATH = "/api/v1/frame"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


# --- the naive refresh ---------------------------------------------------------------------------


def naive_refresh(r: redis.Redis, sessions: Any, lang: str) -> tuple[dict[str, float], Any]:
    """The wall's outputs for a fresh client computed from raw data on the spot, with its phases in ms.

    What a refresh callback would do without precomputed keys: the tick's SQL queries, the whole raw
    telemetry stream (XRANGE) folded from an empty state, the same pure aggregations, the same rendering.
    """
    from layouts.wall_frame import refresh
    from workers.telemetry import fold_into, new_state
    from workers.tick import STREAM_START, compute_all, query_sql, read_durable, read_telemetry

    now = time.time()
    ms: dict[str, float] = {}
    t0 = time.perf_counter()
    sql = query_sql(sessions, now)
    t1 = time.perf_counter()
    events, _, _ = read_telemetry(r, STREAM_START, 10**9)
    t2 = time.perf_counter()
    state = new_state()
    fold_into(state, events)
    t3 = time.perf_counter()
    datas = compute_all(state, sql, read_durable(r), now)
    t4 = time.perf_counter()
    envs: dict[str, Any] = {
        name: ({"name": name, "version": 1, "computed_at": now, "data": datas[name]} if name in datas else None)
        for name in AGGREGATES
    }
    out = refresh(envs, {}, lang, now)
    t5 = time.perf_counter()
    ms.update(
        sql=(t1 - t0) * 1000,
        xrange=(t2 - t1) * 1000,
        fold=(t3 - t2) * 1000,
        compute=(t4 - t3) * 1000,
        render=(t5 - t4) * 1000,
        total=(t5 - t0) * 1000,
        events=len(events),
    )
    return ms, out


# --- one stage -----------------------------------------------------------------------------------


class Stage:
    """Measurements at one size of the store."""

    def __init__(self, env: ScaleEnv, plan: dataset.Plan) -> None:
        self.env = env
        self.plan = plan
        self.out: dict[str, Any] = {"planned": plan.__dict__}

    def tick_until_caught_up(self) -> None:
        """Run the tick until it has folded the whole stream (20,000 events per tick at most)."""
        from workers.early_warning import run_baseline
        from workers.tick import run_tick

        e = self.env
        # The early warning's baseline, as the scheduler keeps it: without it each tick reads two days of tickets.
        run_baseline(e.r, e.sessions, time.time())
        ticks, total_ms, events = 0, 0.0, 0
        tick_log = logging.getLogger("workers.tick")
        level = tick_log.level
        tick_log.setLevel(logging.ERROR)  # "rebuilding from the stream", "catching up": expected here
        while ticks < 200:
            res = run_tick(e.r, e.sessions, time.time())
            if res["status"] != "ok":
                time.sleep(0.05)
                continue
            ticks += 1
            total_ms += res["ms"]["total"]
            events += res["events"]
            if res["events"] == 0:
                break
        tick_log.setLevel(level)
        say(f"  tick: caught up with {events:,} events in {ticks} ticks ({total_ms:.0f} ms of ticking)")
        self.out["catch_up"] = {"ticks": ticks, "events": events, "ms": round(total_ms, 1)}

    def steady_ticks(self, n: int) -> None:
        """`n` ticks a second apart, each folding the telemetry of the last second (~1,000 events)."""
        from workers.tick import run_tick

        e = self.env
        prev = time.time()
        totals: list[float] = []
        phases: dict[str, list[float]] = {}
        events: list[int] = []
        for _ in range(n):
            time.sleep(max(0.0, prev + 1.0 - time.time()))
            now = time.time()
            e.telemetry.store(e.r, e.telemetry.normalised(prev, now, now))
            prev = now
            res = run_tick(e.r, e.sessions, now)
            if res["status"] != "ok":
                continue
            totals.append(res["ms"]["total"])
            events.append(res["events"])
            for k, v in res["ms"].items():
                phases.setdefault(k, []).append(v)
        s = summary(totals, 1)
        med = {k: round(sorted(v)[len(v) // 2], 1) for k, v in phases.items()}
        say(f"  steady tick (~{sum(events) // max(1, len(events))} events each): {fmt_summary(s)}")
        say(f"    phases (median ms): {med}")
        self.out["tick_steady_ms"] = s
        self.out["tick_phases_median_ms"] = med

    def measure_naive(self, n: int, app: Any) -> None:
        """The naive refresh `n` times (inside `app`'s context, like a callback)."""
        e = self.env
        totals: list[float] = []
        phases: dict[str, list[float]] = {}
        with app.app_context():
            for _ in range(n):
                ms, _ = naive_refresh(e.r, e.sessions, "zh")
                totals.append(ms["total"])
                for k, v in ms.items():
                    phases.setdefault(k, []).append(v)
        s = summary(totals, 1)
        med = {k: round(sorted(v)[len(v) // 2], 1) for k, v in phases.items()}
        self.out["naive_ms"] = s
        self.out["naive_phases_median_ms"] = med
        say(f"  naive refresh (fresh client): {fmt_summary(s)}")
        say(f"    phases (median ms): {med}")


class Target:
    """One precomputed store to refresh from: a Redis db with its aggregates and an app reading it."""

    def __init__(self, label: str, redis_url: str, env: ScaleEnv) -> None:
        import re

        from dashboard.live.connections import make_redis
        from dashboard.web import create_app

        self.label = label
        self.r = make_redis(redis_url)
        self.app = create_app(replace(env.config, redis_url=redis_url))
        self.client = self.app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        m = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if not m:
            raise RuntimeError("login form without CSRF token")
        resp = self.client.post(
            "/login", data={"username": "duty", "password": env.password, "csrf_token": m.group(1)}
        )
        if resp.status_code not in (302, 303):
            raise RuntimeError(f"login failed: {resp.status_code}")

    def agg_bytes(self) -> int:
        """Bytes of every stored aggregate."""
        from dashboard.live import keys

        return sum(int(self.r.strlen(keys.agg_key(n))) for n in AGGREGATES)


def measure_refresh(targets: list[Target], strings: dict[str, Any], n: int) -> dict[str, Any]:
    """Core refresh and whole Dash dispatch for fresh and up-to-date clients, every target in turn, `n` each.

    The calls alternate between the targets (10k and 1M stored events) so that both see the same machine.
    """
    from dashboard.frames.cache import read_and_refresh

    kinds = ("core_fresh", "core_uptodate", "dispatch_fresh", "dispatch_uptodate")
    series: dict[str, dict[str, list[float]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    calls: list[tuple[Target, dict[str, Callable[[], Any]]]] = []
    for t in targets:
        with t.app.app_context():
            state = read_and_refresh(t.r, None, "zh")[1]
        # The wall's refresh as the browser asks for it (GET /api/v1/frame; a fresh screen's frame is rendered
        # once and then shared, as it is by every screen opened at the same state).
        fresh_url = f"{FRAME_PATH}?lang=zh&from="
        resp = t.client.get(fresh_url)
        if resp.status_code != 200:
            raise RuntimeError(f"frame answered {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
        up_url = f"{FRAME_PATH}?lang=zh&from={resp.get_json()['token']}"
        up = t.client.get(up_url)
        meta[t.label] = {
            "fresh": len(resp.get_data()),
            "uptodate": len(up.get_data()),
            "uptodate_outputs": sorted(up.get_json()["out"]),
        }
        series[t.label] = {k: [] for k in kinds}
        calls.append(
            (
                t,
                {
                    "core_fresh": partial(read_and_refresh, t.r, None, "zh"),
                    "core_uptodate": partial(read_and_refresh, t.r, state, "zh"),
                    "dispatch_fresh": partial(t.client.get, fresh_url),
                    "dispatch_uptodate": partial(t.client.get, up_url),
                },
            )
        )
    for i in range(n + WARMUP_ITERATIONS):
        for t, fns in calls:
            s = series[t.label]
            if i == WARMUP_ITERATIONS:
                for values in s.values():
                    values.clear()
            with t.app.app_context():
                for k in kinds:
                    s[k].append(_timed(fns[k])[0])
    out: dict[str, Any] = {}
    for t, _ in calls:
        res: dict[str, Any] = {f"refresh_{k}_ms": summary(v) for k, v in series[t.label].items()}
        res["answer_bytes"] = meta[t.label]
        res["aggregate_bytes"] = t.agg_bytes()
        out[t.label] = res
    return out


class ScaleEnv:
    """The Redis, database and telemetry source of part B."""

    def __init__(self, tmp: Path) -> None:
        from dashboard.config import Config
        from dashboard.live.connections import make_redis
        from dashboard.store.engine import make_engine, session_factory
        from layouts.wall import client_strings
        from ops.bootstrap import bootstrap
        from ops.redis_server import start_bundled_redis

        self.tmp = tmp
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.redis_proc, self.redis_url = start_bundled_redis(tmp / "redis-scale")
        self.r = make_redis(self.redis_url)
        self.r.config_set("save", "")  # no background RDB snapshots of a 200k-entry stream while we time
        self.r.flushall()
        self.password = secrets.token_urlsafe(12)
        self.db_url = f"sqlite:///{tmp / 'scale.db'}"
        self.config = Config(
            redis_url=self.redis_url,
            database_url=self.db_url,
            secret_key=secrets.token_hex(16),
            ingest_token=secrets.token_urlsafe(16),
            demo_password=self.password,
            simulator=False,
        )
        bootstrap(self.config, installations=True)  # the synthetic telemetry is the simulator's sensors
        self.engine = make_engine(self.db_url)
        self.sessions = session_factory(self.engine)
        self.strings = client_strings("zh")
        self.telemetry = dataset.TelemetrySource()

    def keep_aggregates(self, db: int) -> str:
        """Copy the current aggregates of db 0 into Redis db `db` (kept while db 0 grows); return its URL."""
        from dashboard.live import keys
        from dashboard.live.connections import make_redis

        url = self.redis_url.rsplit("/", 1)[0] + f"/{db}"
        other = make_redis(url)
        other.flushdb()
        for name in AGGREGATES:
            raw = self.r.get(keys.agg_key(name))
            if raw is not None:
                other.set(keys.agg_key(name), raw)
        return url

    def close(self) -> None:
        """Stop the bundled Redis and drop the engine."""
        self.engine.dispose()
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            try:
                self.redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.redis_proc.kill()
                self.redis_proc.wait()


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 and size % 1_000_000 == 0 else f"{size // 1000}k"


def run_scale(tmp: Path, quick: bool) -> dict[str, Any]:
    """Part B; returns the figures for the JSON line."""
    heading("Part B: refresh cost vs stored events (fresh Redis, temporary SQLite)")
    sizes = (10_000, 100_000) if quick else (10_000, 1_000_000)
    n = N_REFRESH_QUICK if quick else N_REFRESH
    naive_n = {sizes[0]: 5 if quick else 20, sizes[1]: 3 if quick else 5}
    env = ScaleEnv(tmp)
    out: dict[str, Any] = {"stages": {}}
    targets: list[Target] = []
    try:
        t = time.perf_counter()
        templates = dataset.make_templates(time.time())
        say(
            f"templates from the simulator: {len(templates.tickets):,} tickets and {len(templates.incidents):,} "
            f"incidents with their updates ({time.perf_counter() - t:.1f} s)"
        )
        have_t = have_i = 0
        for k, size in enumerate(sizes):
            plan = dataset.Plan.of(size)
            heading(f"Part B at {size:,} stored events")
            stage = Stage(env, plan)
            t = time.perf_counter()
            dataset.insert_history(
                env.engine, templates, time.time(), (have_t, plan.tickets), (have_i, plan.incidents), seed=size
            )
            have_t, have_i = plan.tickets, plan.incidents
            load_s = time.perf_counter() - t
            env.r.flushdb()  # db 0 only: the stream is rebuilt for this size, the tick rebuilds every aggregate
            t = time.perf_counter()
            _, span = env.telemetry.last(env.r, plan.telemetry, time.time())
            tel_s = time.perf_counter() - t
            counts = dataset.sql_counts(env.engine, time.time())
            xlen = int(env.r.xlen(dataset.keys.TELEMETRY_STREAM))
            total = xlen + counts["tickets"] + counts["incidents"]
            stage.out["stored"] = {"redis_stream": xlen, **counts, "total": total}
            say(
                f"stored: {xlen:,} telemetry events in the Redis stream (the last {span:.0f} s at 1,000/s; "
                f"cap {dataset.keys.TELEMETRY_STREAM_MAXLEN:,}) + {counts['tickets']:,} hotline tickets + "
                f"{counts['incidents']:,} incidents in SQL over the last {dataset.HISTORY_DAYS} days = {total:,} events"
            )
            say(
                f"  today (Beijing day so far): {counts['tickets_today']:,} tickets; open incidents: "
                f"{counts['incidents_open']}; loading took {load_s:.1f} s (SQL) + {tel_s:.1f} s (telemetry)"
            )
            stage.tick_until_caught_up()
            if k < len(sizes) - 1:
                # Keep this size's aggregates in another Redis db: the refreshes of all sizes are timed side by
                # side at the end, so that the comparison does not depend on what else the machine did meanwhile.
                targets.append(Target(_label(size), env.keep_aggregates(k + 1), env))
            else:
                targets.append(Target(_label(size), env.redis_url, env))
            stage.measure_naive(naive_n[size], targets[-1].app)
            if k == len(sizes) - 1:
                heading(f"Part B: the precomputed refresh at {' and '.join(t.label for t in targets)}, side by side")
                measured = measure_refresh(targets, env.strings, n)
                for size_, target in zip(sizes, targets, strict=True):
                    res = measured[target.label]
                    out["stages"].setdefault(str(size_), {}).update(res)
                    for key in ("core_fresh", "core_uptodate", "dispatch_fresh", "dispatch_uptodate"):
                        say(f"  {target.label:>4s} refresh {key:18s}: {fmt_summary(res[f'refresh_{key}_ms'])}")
                    say(f"  {target.label:>4s} answers: fresh client {res['answer_bytes']['fresh']:,} bytes, "
                        f"up-to-date {res['answer_bytes']['uptodate']:,} bytes "
                        f"(outputs {res['answer_bytes']['uptodate_outputs']}); aggregates in Redis "
                        f"{res['aggregate_bytes']:,} bytes")
            stage.steady_ticks(STEADY_TICKS_QUICK if quick else STEADY_TICKS)
            out["stages"].setdefault(str(size), {}).update(stage.out)
    finally:
        env.close()
    small, big = (out["stages"][str(s)] for s in sizes)

    def pair(key: str) -> list[Any]:
        return [small[key]["p50"], big[key]["p50"]]

    pre_big = big["refresh_core_fresh_ms"]["p50"]
    out["summary"] = {
        "sizes": list(sizes),
        "refresh_core_fresh_p50_ms": pair("refresh_core_fresh_ms"),
        "refresh_core_fresh_p99_ms": [small["refresh_core_fresh_ms"]["p99"], big["refresh_core_fresh_ms"]["p99"]],
        "refresh_core_uptodate_p50_ms": pair("refresh_core_uptodate_ms"),
        "refresh_dispatch_fresh_p50_ms": pair("refresh_dispatch_fresh_ms"),
        "refresh_dispatch_uptodate_p50_ms": pair("refresh_dispatch_uptodate_ms"),
        "naive_p50_ms": pair("naive_ms"),
        "naive_over_precomputed": ratio(big["naive_ms"]["p50"], pre_big),
        "naive_over_precomputed_uptodate": ratio(big["naive_ms"]["p50"], big["refresh_core_uptodate_ms"]["p50"]),
        "tick_steady_p50_ms": pair("tick_steady_ms"),
        "tick_sql_p50_ms": [small["tick_phases_median_ms"].get("sql"), big["tick_phases_median_ms"].get("sql")],
        "aggregate_bytes": [small.get("aggregate_bytes"), big.get("aggregate_bytes")],
    }
    sm = out["summary"]
    heading("Part B summary")
    a, b = (f"{s:,}" for s in sizes)
    say(f"precomputed refresh p50, fresh client       : {sm['refresh_core_fresh_p50_ms'][0]} ms at {a} · "
        f"{sm['refresh_core_fresh_p50_ms'][1]} ms at {b}")
    say(f"precomputed refresh p50, up-to-date client  : {sm['refresh_core_uptodate_p50_ms'][0]} ms · "
        f"{sm['refresh_core_uptodate_p50_ms'][1]} ms")
    say(f"whole Dash dispatch p50, fresh / up-to-date : {sm['refresh_dispatch_fresh_p50_ms']} / "
        f"{sm['refresh_dispatch_uptodate_p50_ms']} ms")
    say(f"naive refresh p50 (SQL + XRANGE + fold)     : {sm['naive_p50_ms'][0]} ms at {a} · "
        f"{sm['naive_p50_ms'][1]} ms at {b}")
    say(f"naive / precomputed at {b} (fresh client)   : {sm['naive_over_precomputed']}×  "
        f"(vs up-to-date client: {sm['naive_over_precomputed_uptodate']}×)")
    say(f"steady tick p50 (1 s of telemetry)          : {sm['tick_steady_p50_ms'][0]} ms · "
        f"{sm['tick_steady_p50_ms'][1]} ms (its SQL phase {sm['tick_sql_p50_ms'][0]} ms · "
        f"{sm['tick_sql_p50_ms'][1]} ms)")
    small_p50 = sm["refresh_core_fresh_p50_ms"][0]
    if pre_big and small_p50 and pre_big > 1.5 * small_p50:
        warn(f"the precomputed refresh is {pre_big / small_p50:.1f}× slower at {b} than at {a}")
    return out


if __name__ == "__main__":  # pragma: no cover - for running part B alone
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dc-bench-") as d:
        print(json.dumps(run_scale(Path(d), "--quick" in sys.argv)["summary"]))
