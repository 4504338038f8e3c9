"""Part A: the whole system live at 1,000 events/s, started exactly as `make run` starts it.

`dongcheng run` (`python -m ops.cli run`) runs as a subprocess with its own INSTANCE_DIR, PORT, bundled Redis
port, SQLite file, SIM_RATE=1000, DEMO_PASSWORD and INGEST_TOKEN. After /healthz answers 200 and a warm-up, for
N seconds the benchmark
- samples the age of every aggregate every 200 ms (now - computed_at, read with read_heads);
- counts the events the ingest accepted (INGEST_STATS "<source>:accepted" counters);
- calls the wall's refresh as the browser does: logged in through the form, GET /api/v1/frame, alternating one
  fresh client (no token: everything is sent) and four up-to-date clients (the token of their previous answer,
  as a browser keeps it), timing the loopback round trip; the same requests carry an X-Bench-Id header
  that gunicorn's access log (GUNICORN_CMD_ARGS, %(D)s) records with its own request time;
- right after each HTTP call times the route's core (frames/cache.py `answer`) in this process against the same
  live Redis;
- reads the tick jobs' results from RQ's finished-job registry (duration, events, queue wait).
Then it stops the runner with SIGINT and checks that every process it started is gone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import HttpClient, fmt_summary, heading, say, summary, warn
from bench.system import SIM_RATE, CpuMeter, LiveSystem, TickWatcher
from dashboard.live.schema import AGGREGATES

AGE_EVERY_S = 0.2
REFRESH_EVERY_S = 0.1
RQ_EVERY_S = 1.0
PROGRESS_EVERY_S = 10.0
MIX = ("fresh", "uptodate", "uptodate", "uptodate", "uptodate")  # 1 fresh : 4 up-to-date
FRAME_PATH = "/api/v1/frame"


def run_live(
    tmp: Path, seconds: float, warmup: float, rate: float = SIM_RATE, web_workers: int | None = None,
    after: Callable[[LiveSystem], dict[str, Any]] | None = None, replay_wait_s: float = 0.0,
) -> dict[str, Any]:
    """Part A; returns the figures for the JSON line (with how the runner stopped under "stop"). `after` measures
    more on the same running system once part A's window is over; its figures join the line. `replay_wait_s`: how long
    to wait at most for the simulator's replay of the day before warming up (0: not at all)."""
    heading(f"Part A: the whole system live at {rate:,g} events/s for {seconds:g} s")
    system = LiveSystem(tmp, rate, web_workers)
    system.start()
    out: dict[str, Any] = {}
    try:
        out = measure(system, seconds, warmup, replay_wait_s)
        if after is not None:
            out.update(after(system))
    except BaseException:
        say("runner output (last lines):\n" + system.output_tail())
        raise
    finally:
        if system.proc is not None and system.proc.poll() is None:
            heading("Part A: stopping the runner with SIGINT")
            stop = system.stop()
            say(
                f"runner exit code {stop['exit_code']} after {stop['stop_s']} s; leftovers: "
                f"{stop['leftover_processes'] or 'none'}; web port open: {stop['web_port_open']}; "
                f"Redis port open: {stop['redis_port_open']}; pids.json left: {stop['pids_json_left']}"
            )
            if not stop["clean"]:
                warn("the runner did not stop cleanly")
            out["stop"] = stop
        else:
            out["stop"] = {"clean": False, "exit_code": None if system.proc is None else system.proc.returncode,
                           "note": "the runner was not running at the end"}
        system.kill_leftovers()
    return out


def measure(system: LiveSystem, seconds: float, warmup: float, replay_wait_s: float = 0.0) -> dict[str, Any]:
    from dashboard.config import Config
    from dashboard.frames.cache import FrameCache
    from dashboard.frames.cache import answer as frame_answer
    from dashboard.live.aggregates import read_heads
    from dashboard.live.connections import make_redis
    from dashboard.web import create_app

    took = system.wait_healthy()
    say(f"/healthz 200 after {took:.1f} s; children: {', '.join(sorted(system.children))}")
    waited: float | None = 0.0
    if replay_wait_s > 0:
        # At start the simulator replays the day's tickets so far (tens of thousands at this rate, late in the day):
        # the steady state the figures describe begins once they are in.
        waited = system.wait_replayed(replay_wait_s)
        say(f"the day's replayed tickets sent after {waited:.0f} s more" if waited is not None
            else f"the simulator was still replaying the day after {replay_wait_s:g} s: measuring anyway")
    r = make_redis(system.redis_url)
    r.ping()

    http = HttpClient("127.0.0.1", system.port)
    http.login("duty", system.password)

    app = create_app(
        Config(redis_url=system.redis_url, database_url=system.db_url, demo_password=system.password, simulator=False)
    )
    ctx = app.app_context()
    ctx.push()

    http_up_token = ""
    inproc_up_token = ""
    frames = FrameCache()

    def post(kind: str, label: str) -> tuple[float, int, dict[str, Any]]:
        nonlocal http_up_token
        token = "" if kind == "fresh" else http_up_token
        status, data, elapsed, _ = http.request(
            "GET", f"{FRAME_PATH}?lang=zh&from={token}", None, {"Accept": "application/json", "X-Bench-Id": label}
        )
        if status != 200:
            raise RuntimeError(f"refresh answered {status}: {data[:300]!r}")
        answer = json.loads(data)
        if kind == "uptodate" or not http_up_token:
            http_up_token = answer["token"]
        return elapsed * 1000, len(data), answer["out"]

    def inproc(kind: str) -> float:
        """The route's core in this process (its own frame cache, as a web process has): the heads, the frame
        from the screen's token (from this process, from Redis, or rendered once), META and the notice."""
        nonlocal inproc_up_token
        token = "" if kind == "fresh" else inproc_up_token
        t0 = time.perf_counter()
        got = frame_answer(r, frames, token, "zh", time.time())
        ms = (time.perf_counter() - t0) * 1000
        if kind == "uptodate" or not inproc_up_token:
            inproc_up_token = json.loads(got.body)["token"]
        return ms

    # Prime both up-to-date clients with a first full answer.
    post("fresh", "prime")
    inproc("fresh")

    say(f"warming up for {warmup:g} s")
    time.sleep(warmup)

    watcher = TickWatcher(r)
    cpu = CpuMeter(system.children)
    cpu0 = cpu.snapshot()
    stats0 = _ingest_stats(r)
    t_start = time.time()
    m_start = time.monotonic()
    http_ms: dict[str, list[float]] = {"fresh": [], "uptodate": []}
    http_bytes: dict[str, list[int]] = {"fresh": [], "uptodate": []}
    inproc_ms: dict[str, list[float]] = {"fresh": [], "uptodate": []}
    uptodate_rendering = 0  # up-to-date answers that carried more than META (a tick happened since the last)
    ages: list[float] = []
    age_max_by_agg: dict[str, float] = dict.fromkeys(AGGREGATES, 0.0)
    missing_aggs = 0
    next_age = next_refresh = next_rq = m_start
    next_progress = m_start + PROGRESS_EVERY_S
    seq = 0
    end = m_start + seconds
    while True:
        now_m = time.monotonic()
        if now_m >= end:
            break
        if now_m >= next_age:
            next_age += AGE_EVERY_S
            heads = read_heads(r)
            now = time.time()
            for name, head in heads.items():
                if head is None:
                    missing_aggs += 1
                    continue
                age = max(0.0, now - head.computed_at)
                ages.append(age)
                if age > age_max_by_agg[name]:
                    age_max_by_agg[name] = age
        if now_m >= next_refresh:
            next_refresh += REFRESH_EVERY_S
            kind = MIX[seq % len(MIX)]
            ms, size, answer = post(kind, f"{kind}-{seq}")
            http_ms[kind].append(ms)
            http_bytes[kind].append(size)
            if kind == "uptodate" and answer:
                uptodate_rendering += 1
            inproc_ms[kind].append(inproc(kind))
            seq += 1
        if now_m >= next_rq:
            next_rq += RQ_EVERY_S
            watcher.poll(t_start)
        if now_m >= next_progress:
            next_progress += PROGRESS_EVERY_S
            done = now_m - m_start
            now_stats = _ingest_stats(r)
            acc = sum(v - stats0.get(k, 0) for k, v in now_stats.items() if k.endswith(":accepted"))
            mix = http_ms["fresh"] + http_ms["uptodate"]
            s = summary(mix)
            say(
                f"  {done:4.0f} s: {acc / done:6.0f} events/s accepted · aggregate age max "
                f"{max(ages, default=0):.2f} s · refresh round trip p50 {s['p50']} ms p99 {s['p99']} ms"
            )
        wake = min(next_age, next_refresh, next_rq, end)
        delay = wake - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - m_start
    cpu_use = cpu.report(cpu0, cpu.snapshot())
    # Ticks still in the registry (finished within the last 10 s) are read once more.
    watcher.poll(t_start)
    stats1 = _ingest_stats(r)
    ctx.pop()
    http.close()

    accepted = {
        k.removesuffix(":accepted"): stats1.get(k, 0) - stats0.get(k, 0) for k in stats1 if k.endswith(":accepted")
    }
    rejected = sum(stats1.get(k, 0) - stats0.get(k, 0) for k in stats1 if k.endswith(":rejected"))
    events_per_s = sum(accepted.values()) / elapsed
    server_ms, workers = _server_times(system.access_log)

    mix_http = http_ms["fresh"] + http_ms["uptodate"]
    mix_inproc = inproc_ms["fresh"] + inproc_ms["uptodate"]
    mix_server = server_ms["fresh"] + server_ms["uptodate"]
    ticks = watcher.report()
    out: dict[str, Any] = {
        "seconds": round(elapsed, 1),
        "warmup_s": warmup,
        "replay_waited_s": None if waited is None else round(waited, 1),
        "events_per_s": round(events_per_s, 1),
        "accepted_by_source": accepted,
        "rejected": rejected,
        "aggregate_age_s": summary(ages, 3),
        "aggregate_age_max_by_aggregate_s": {k: round(v, 3) for k, v in age_max_by_agg.items()},
        "aggregate_missing_samples": missing_aggs,
        "refresh_http_mix_ms": summary(mix_http),
        "refresh_http_fresh_ms": summary(http_ms["fresh"]),
        "refresh_http_uptodate_ms": summary(http_ms["uptodate"]),
        "refresh_server_mix_ms": summary(mix_server),
        "refresh_server_fresh_ms": summary(server_ms["fresh"]),
        "refresh_server_uptodate_ms": summary(server_ms["uptodate"]),
        "refresh_inproc_mix_ms": summary(mix_inproc),
        "refresh_inproc_fresh_ms": summary(inproc_ms["fresh"]),
        "refresh_inproc_uptodate_ms": summary(inproc_ms["uptodate"]),
        "answer_bytes_p50": {k: sorted(v)[len(v) // 2] if v else None for k, v in http_bytes.items()},
        "uptodate_answers_with_renders": uptodate_rendering,
        "http_connections": http.connections,
        "ticks": ticks,
        "cpu": cpu_use,
        "web_workers": workers,
    }
    heading("Part A results")
    say(f"CPU while measuring (100 % = one core; {cpu_use['cores']} cores): {cpu_use['percent_of_one_core']}; "
        f"ours {cpu_use['ours_percent']} %, whole machine {cpu_use['machine_busy_percent']} %")
    shared = sorted(set(workers["refresh"]) & set(workers["ingest"]))
    out["refresh_shares_worker_with_ingest"] = bool(shared)
    say(f"gunicorn worker (pid) per request kind: {workers}: the wall's connection "
        + (f"SHARES worker {', '.join(shared)} with the simulator's ingest" if shared
           else "is served by another worker than the ingest"))
    say(f"events accepted: {events_per_s:,.0f} events/s over {elapsed:.0f} s (by source {accepted}; "
        f"rejected {rejected})")
    say(f"aggregate age (every {AGE_EVERY_S * 1000:.0f} ms, all {len(AGGREGATES)} aggregates): "
        f"{fmt_summary(out['aggregate_age_s'], 's')}")
    say(f"  max by aggregate: {out['aggregate_age_max_by_aggregate_s']}")
    t = ticks
    say(f"tick: {fmt_summary(t['tick_ms'])}")
    say(f"  events per tick: {fmt_summary(t['tick_events'], 'ev')}")
    say(f"  queue wait (enqueued → started): {fmt_summary(t['queue_wait_ms'])}")
    say(f"  start-to-start gap: {fmt_summary(t['start_gap_ms'])}; skipped (lock held) {t['skipped']}, "
        f"failed {t['failed']}")
    say("  phases p50/p99 ms: " + ", ".join(f"{k} {v['p50']}/{v['p99']}" for k, v in t["phases_ms"].items()))
    say("wall refresh, 1 fresh : 4 up-to-date clients, one request every "
        f"{REFRESH_EVERY_S * 1000:.0f} ms:")
    for label, key in (
        ("HTTP round trip (loopback)", "http"),
        ("server time (gunicorn %(D)s)", "server"),
        ("in-process frame answer", "inproc"),
    ):
        say(f"  {label:30s} mix     : {fmt_summary(out[f'refresh_{key}_mix_ms'])}")
        say(f"  {'':30s} fresh   : {fmt_summary(out[f'refresh_{key}_fresh_ms'])}")
        say(f"  {'':30s} uptodate: {fmt_summary(out[f'refresh_{key}_uptodate_ms'])}")
    say(f"  answers p50: fresh {out['answer_bytes_p50']['fresh']:,} bytes, up-to-date "
        f"{out['answer_bytes_p50']['uptodate']:,} bytes; {uptodate_rendering} of {len(http_ms['uptodate'])} "
        "up-to-date answers rendered a section changed by a tick since that client's previous request")
    return out


def _ingest_stats(r: Any) -> dict[str, int]:
    """The ingest's per-source counters ("<source>:accepted", "<source>:rejected")."""
    from dashboard.live import keys

    raw = r.hgetall(keys.INGEST_STATS)
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}


def _server_times(path: Path) -> tuple[dict[str, list[float]], dict[str, dict[str, int]]]:
    """Request times (ms) gunicorn logged for our refresh requests by client kind, and which worker
    process served how many refreshes and how many ingest requests."""
    out: dict[str, list[float]] = {"fresh": [], "uptodate": []}
    workers: dict[str, dict[str, int]] = {"refresh": {}, "ingest": {}}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        warn(f"no gunicorn access log at {path}: server-side times unavailable")
        return out, workers
    for line in lines:
        parts = line.split()
        if len(parts) < 6:
            continue
        pid = parts[5]
        if parts[4] == "/api/v1/events":
            workers["ingest"][pid] = workers["ingest"].get(pid, 0) + 1
            continue
        if parts[4] != FRAME_PATH or parts[0] == "-":
            continue
        kind = parts[0].split("-", 1)[0]
        if kind in out and parts[1] == "200":
            workers["refresh"][pid] = workers["refresh"].get(pid, 0) + 1
            try:
                out[kind].append(int(parts[2]) / 1000)
            except ValueError:
                continue
    return out, workers
