"""Part A: the whole system live at 1,000 events/s, started exactly as `make run` starts it.

`dongcheng run` (`python -m ops.cli run`) runs as a subprocess with its own INSTANCE_DIR, PORT, bundled Redis
port, SQLite file, SIM_RATE=1000, DEMO_PASSWORD and INGEST_TOKEN. After /healthz answers 200 and a warm-up, for
N seconds the benchmark
- samples the age of every aggregate every 200 ms (now - computed_at, read with read_heads);
- counts the events the ingest accepted (INGEST_STATS "<source>:accepted" counters);
- calls the wall's refresh as the browser does: logged in through the form, the callback found in
  /_dash-dependencies, POST /_dash-update-component with dash-renderer's body, alternating one fresh client
  (versions {}: everything renders) and four up-to-date clients (the versions of their previous answer,
  as a browser keeps them), timing the loopback round trip; the same requests carry an X-Bench-Id header
  that gunicorn's access log (GUNICORN_CMD_ARGS, %(D)s) records with its own request time;
- right after each HTTP call times read_and_refresh in this process against the same live Redis;
- reads the tick jobs' results from RQ's finished-job registry (duration, events, queue wait).
Then it stops the runner with SIGINT and checks that every process it started is gone.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import HttpClient, RefreshCallback, encode, fmt_summary, heading, say, summary, warn
from dashboard.live.schema import AGGREGATES

ROOT = Path(__file__).resolve().parent.parent
SIM_RATE = 1000
AGE_EVERY_S = 0.2
REFRESH_EVERY_S = 0.1
RQ_EVERY_S = 1.0
PROGRESS_EVERY_S = 10.0
MIX = ("fresh", "uptodate", "uptodate", "uptodate", "uptodate")  # 1 fresh : 4 up-to-date
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0
WALL_OUTPUTS = ("wall-versions.data", "wall-meta.data")
ACCESS_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s %(B)s %(U)s %(p)s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) process from /proc, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def _proc_cpu() -> dict[int, tuple[int, int]]:
    """pid -> (session id, CPU ticks used so far) of every live process."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        f = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (int(f[3]), int(f[11]) + int(f[12]))
    return out


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU used by each child of the runner (its whole session), by this process and by the machine."""

    def __init__(self, children: dict[str, dict[str, Any]]) -> None:
        self.names = {int(info["pid"]): name for name, info in children.items()}
        self.me = os.getpid()
        self.hz = os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> dict[str, Any]:
        """Ticks per child name, for this process, and for the machine."""
        per: dict[str, int] = dict.fromkeys(self.names.values(), 0)
        procs = _proc_cpu()
        for sid, ticks in procs.values():
            if sid in self.names:
                per[self.names[sid]] += ticks
        per["bench (this process)"] = procs.get(self.me, (0, 0))[1]
        busy, total = _machine_cpu()
        return {"per": per, "busy": busy, "total": total, "t": time.monotonic()}

    def report(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """CPU % (100 = one core) per child between two snapshots, and the machine's busy %."""
        span = b["t"] - a["t"]
        per = {k: round(100 * (b["per"].get(k, 0) - v) / self.hz / span, 1) for k, v in a["per"].items()}
        ncpu = os.cpu_count() or 1
        machine = 100 * ncpu * (b["busy"] - a["busy"]) / max(1, b["total"] - a["total"])
        ours = sum(per.values())
        return {
            "percent_of_one_core": dict(sorted(per.items(), key=lambda kv: -kv[1])),
            "ours_percent": round(ours, 1),
            "machine_busy_percent": round(machine, 1),
            "cores": ncpu,
        }


class LiveSystem:
    """The runner subprocess and how to reach it."""

    def __init__(self, tmp: Path, rate: float = SIM_RATE, web_workers: int | None = None) -> None:
        self.tmp = tmp
        self.rate = rate
        self.web_workers = web_workers
        self.instance = tmp / "live-instance"
        self.port = _free_port()
        self.ingest_port = _free_port()
        self.redis_port = _free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.db_url = f"sqlite:///{tmp / 'live.db'}"
        self.password = secrets.token_urlsafe(12)
        self.token = secrets.token_urlsafe(24)
        self.access_log = tmp / "access.log"
        self.out_path = tmp / "runner.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.children: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        """Start `dongcheng run` (`python -m ops.cli run`) in its own session."""
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "GUNICORN_CMD_ARGS")}
        env.update(
            INSTANCE_DIR=str(self.instance),
            DATABASE_URL=self.db_url,
            PORT=str(self.port),
            INGEST_PORT=str(self.ingest_port),
            REDIS_PORT=str(self.redis_port),
            SIM_RATE=f"{self.rate:g}" if self.rate > 0 else "1",
            SIMULATOR="on" if self.rate > 0 else "off",
            DEMO_PASSWORD=self.password,
            INGEST_TOKEN=self.token,
            GUNICORN_CMD_ARGS=shlex.join(
                ["--access-logfile", str(self.access_log), "--access-logformat", ACCESS_FORMAT]
            ),
        )
        if self.web_workers:
            env["WEB_WORKERS"] = str(self.web_workers)
        with self.out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", "run"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        say(f"started the runner (pid {self.proc.pid}): web :{self.port}, bundled Redis :{self.redis_port}, "
            f"SIM_RATE={self.rate:g}{' (simulator off)' if self.rate <= 0 else ''}, instance {self.instance}")

    def output_tail(self, lines: int = 30) -> str:
        """The last lines the runner printed."""
        try:
            return "\n".join(self.out_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_healthy(self) -> float:
        """Wait for /healthz 200; return the seconds it took."""
        assert self.proc is not None
        t0 = time.monotonic()
        last = "no answer"
        while time.monotonic() - t0 < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the runner exited with {self.proc.returncode}:\n{self.output_tail()}")
            try:
                client = HttpClient("127.0.0.1", self.port, timeout=2)
                status, body, _, _ = client.request("GET", "/healthz")
                client.close()
                if status == 200:
                    self._read_pids()
                    return time.monotonic() - t0
                last = f"{status} {body[:200]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"/healthz not 200 after {START_TIMEOUT_S:.0f} s (last: {last}):\n{self.output_tail()}")

    def _read_pids(self) -> None:
        try:
            data = json.loads((self.instance / "pids.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        self.children = dict(data.get("children", {}))

    def stop(self) -> dict[str, Any]:
        """SIGINT to the runner; wait; report whether it and everything it started are gone."""
        assert self.proc is not None
        self._read_pids()
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - t0
        left = [
            f"{name} (pid {info['pid']})"
            for name, info in self.children.items()
            if _start_time(int(info["pid"])) is not None
            and (info.get("start") is None or _start_time(int(info["pid"])) == int(info["start"]))
        ]
        report = {
            "exit_code": code,
            "stop_s": round(took, 1),
            "leftover_processes": left,
            "web_port_open": _port_open(self.port),
            "redis_port_open": _port_open(self.redis_port),
            "pids_json_left": (self.instance / "pids.json").exists(),
        }
        report["clean"] = (
            code == 0
            and not left
            and not report["web_port_open"]
            and not report["redis_port_open"]
            and not report["pids_json_left"]
        )
        return report

    def kill_leftovers(self) -> None:
        """After a failure: make sure the runner and the children it recorded are gone (by pid only)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for info in self.children.values():
            pid = int(info["pid"])
            if _start_time(pid) is not None and (info.get("start") is None or _start_time(pid) == int(info["start"])):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)  # each child leads its own session/group


class TickWatcher:
    """Tick job results from RQ's finished-job registry (kept 10 s by the cron's result_ttl)."""

    def __init__(self, r: Any) -> None:
        from rq import Queue
        from rq.registry import FailedJobRegistry, FinishedJobRegistry

        from dashboard.live import keys

        queue = Queue(keys.QUEUE_TICK, connection=r)
        self.r = r
        self.finished = FinishedJobRegistry(queue=queue)
        self.failed = FailedJobRegistry(queue=queue)
        self.seen: set[str] = set()
        self.ticks: list[dict[str, Any]] = []
        self.skipped = 0
        self.failed_at_start = self._failed_count()

    def _failed_count(self) -> int:
        try:
            return int(self.failed.count)
        except Exception:
            return 0

    def poll(self, since: float) -> None:
        """Record the tick jobs that finished since the last poll (and started after `since`)."""
        from rq.job import Job

        ids = [i for i in self.finished.get_job_ids() if i not in self.seen]
        if not ids:
            return
        self.seen.update(ids)
        for job in Job.fetch_many(ids, connection=self.r):
            if job is None or job.started_at is None or job.started_at.timestamp() < since:
                continue
            res = job.latest_result()
            value = getattr(res, "return_value", None) if res is not None else None
            if not isinstance(value, dict):
                continue
            if value.get("status") != "ok":
                self.skipped += 1
                continue
            self.ticks.append(
                {
                    "started": job.started_at.timestamp(),
                    "enqueued": job.enqueued_at.timestamp() if job.enqueued_at else None,
                    "ms": value["ms"],
                    "events": value["events"],
                }
            )

    def report(self) -> dict[str, Any]:
        """Tick duration, events per tick, queue wait and start-to-start gaps."""
        ticks = sorted(self.ticks, key=lambda t: t["started"])
        totals = [t["ms"]["total"] for t in ticks]
        waits = [(t["started"] - t["enqueued"]) * 1000 for t in ticks if t["enqueued"]]
        gaps = [(b["started"] - a["started"]) * 1000 for a, b in itertools.pairwise(ticks)]
        phases = {}
        for k in ("read", "fold", "sql", "compute", "write"):
            vals = [t["ms"].get(k, 0.0) for t in ticks]
            phases[k] = summary(vals, 1)
        return {
            "tick_ms": summary(totals, 1),
            "tick_events": summary([float(t["events"]) for t in ticks], 0),
            "queue_wait_ms": summary(waits, 1),
            "start_gap_ms": summary(gaps, 1),
            "phases_ms": phases,
            "skipped": self.skipped,
            "failed": self._failed_count() - self.failed_at_start,
        }


def run_live(
    tmp: Path, seconds: float, warmup: float, rate: float = SIM_RATE, web_workers: int | None = None
) -> dict[str, Any]:
    """Part A; returns the figures for the JSON line (with how the runner stopped under "stop")."""
    heading(f"Part A: the whole system live at {rate:,g} events/s for {seconds:g} s")
    system = LiveSystem(tmp, rate, web_workers)
    system.start()
    out: dict[str, Any] = {}
    try:
        out = _measure(system, seconds, warmup)
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


def _measure(system: LiveSystem, seconds: float, warmup: float) -> dict[str, Any]:
    from callbacks.refresh import read_and_refresh
    from dashboard.config import Config
    from dashboard.live.aggregates import read_heads
    from dashboard.live.connections import make_redis
    from dashboard.web import create_app
    from layouts.wall import client_strings

    took = system.wait_healthy()
    say(f"/healthz 200 after {took:.1f} s; children: {', '.join(sorted(system.children))}")
    r = make_redis(system.redis_url)
    r.ping()

    http = HttpClient("127.0.0.1", system.port)
    http.login("duty", system.password)
    status, raw, _, _ = http.request("GET", "/_dash-dependencies")
    if status != 200:
        raise RuntimeError(f"/_dash-dependencies answered {status}")
    cb = RefreshCallback.find(json.loads(raw), WALL_OUTPUTS)
    say(f"refresh callback: {len(cb.outputs)} outputs, inputs {[i['id'] for i in cb.inputs]}, "
        f"state {[s['id'] for s in cb.state]}")
    strings = client_strings("zh")

    app = create_app(
        Config(redis_url=system.redis_url, database_url=system.db_url, demo_password=system.password, simulator=False)
    )
    ctx = app.app_context()
    ctx.push()

    n_intervals = 0
    http_up_state: Any = {}
    inproc_up_state: Any = None

    def post(kind: str, label: str) -> tuple[float, int, dict[str, Any]]:
        nonlocal n_intervals, http_up_state
        n_intervals += 1
        versions = {} if kind == "fresh" else http_up_state
        body = encode(cb.body({"wall-versions.data": versions, "wall-strings.data": strings}, n_intervals))
        status, data, elapsed, _ = http.request(
            "POST",
            "/_dash-update-component",
            body,
            {"Content-Type": "application/json", "Accept": "application/json", "X-Bench-Id": label},
        )
        if status != 200:
            raise RuntimeError(f"refresh answered {status}: {data[:300]!r}")
        answer = json.loads(data)["response"]
        if "wall-versions" in answer:
            new = answer["wall-versions"]["data"]
            if kind == "uptodate" or not http_up_state:
                http_up_state = new
        return elapsed * 1000, len(data), answer

    def inproc(kind: str) -> tuple[float, bool]:
        nonlocal inproc_up_state
        client = None if kind == "fresh" else inproc_up_state
        t0 = time.perf_counter()
        _, new_client, _ = read_and_refresh(r, client, "zh")
        ms = (time.perf_counter() - t0) * 1000
        fresh_state = isinstance(new_client, dict)
        if fresh_state and (kind == "uptodate" or inproc_up_state is None):
            inproc_up_state = new_client
        return ms, fresh_state

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
            if kind == "uptodate" and len(answer) > 1:
                uptodate_rendering += 1
            inproc_ms[kind].append(inproc(kind)[0])
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
        ("in-process read_and_refresh", "inproc"),
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
        if parts[4] != "/_dash-update-component" or parts[0] == "-":
            continue
        kind = parts[0].split("-", 1)[0]
        if kind in out and parts[1] == "200":
            workers["refresh"][pid] = workers["refresh"].get(pid, 0) + 1
            try:
                out[kind].append(int(parts[2]) / 1000)
            except ValueError:
                continue
    return out, workers
