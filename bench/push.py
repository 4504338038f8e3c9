"""Push streams held by one host: how many open streams the candidates keep, each receiving heartbeats and an
aggregate change, the change's latency to all of them, the CPU an idle stream costs, and whether stalled
clients hold the others back.

    .venv/bin/python -m bench.push [--streams N] [--quick] [--candidates gevent,asyncio,gthread] [--keep]

Candidates, each served on its own port against one bundled Redis and a SQLite database with the demo accounts:
- gevent: the product as `dongcheng run` serves it now (ops.servers.web_argv: gunicorn gevent workers, the whole
  Flask app, dashboard/web/api/stream.py's one-subscription hub);
- asyncio: a small asyncio push service (bench/push_async.py, redis.asyncio, one subscription per process);
- gthread: the web as it was (gunicorn gthread 2 × 8, SSE_MAX_STREAMS=4 per process): the figure before.

The streams are opened by a client in ANOTHER process (`python -m bench.push client`, asyncio, one socket per
stream), with STALLED extra connections that send their request and never read. The change is published
through the tick's own write (dashboard.live.aggregates.write_aggregates, which publishes on the updates
channel); a stream counts as held when it received a heartbeat and that change. Heartbeats every
HEARTBEAT_S here (15 s in production), so an idle window shows the heartbeat's cost at four times its real rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEARTBEAT_S = 2.0  # the servers' heartbeat in this bench (production: 15 s)
STREAMS = 1000
QUICK_STREAMS = 200
STALLED = 40
IDLE_S = 10.0
QUICK_IDLE_S = 3.0
START_TIMEOUT_S = 90.0
OPEN_CONCURRENCY = 100
PROBE = "push-bench-probe"
CANDIDATES = ("gevent", "asyncio", "gthread")
USERNAME = "duty"


# --- the client (another process) ---------------------------------------------------------------


@dataclass
class Conn:
    """What one stream received."""

    status: int = 0
    beats: int = 0
    probe_at: float | None = None
    bye: bool = False


async def _one(port: int, cookie: str, conn: Conn, gate: asyncio.Semaphore, done: asyncio.Event) -> None:
    """Open one stream and read it until `done`, noting heartbeats and the probe's arrival (wall clock)."""
    async with gate:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            conn.status = -1
            return
        writer.write(f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     f"Cookie: {cookie}\r\n\r\n".encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            conn.status = int(head.split(b" ", 2)[1])
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
            conn.status = -2  # connected, but no answer
            writer.close()
            return
    probe = f"data: {PROBE}".encode()
    try:
        while conn.status == 200 and not done.is_set():
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b": hb"):
                conn.beats += 1
            elif line.startswith(probe) and conn.probe_at is None:
                conn.probe_at = time.time()
            elif line.startswith(b"event: bye"):
                conn.bye = True
    except OSError:
        pass
    finally:
        writer.close()


def _stalled(port: int, cookie: str, n: int) -> list[socket.socket]:
    """`n` streams whose client sends its request and never reads (a small receive window)."""
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
        out.append(s)
    return out


async def _client(port: int, cookie: str, streams: int, stalled: int, wait_s: float) -> None:
    """Open the streams, report `ready` once each saw a heartbeat, then the probe's latency per stream."""
    from ops.processes import raise_open_files_limit

    raise_open_files_limit()
    conns = [Conn() for _ in range(streams)]
    gate, done = asyncio.Semaphore(OPEN_CONCURRENCY), asyncio.Event()
    tasks = [asyncio.create_task(_one(port, cookie, c, gate, done)) for c in conns]
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        opened = [c for c in conns if c.status]
        if len(opened) == streams and all(c.beats for c in conns if c.status == 200):
            break
        await asyncio.sleep(0.1)
    # After the others: on a server with few slots (the threaded web) they would otherwise take them all.
    slow = _stalled(port, cookie, stalled)
    statuses: dict[str, int] = {}
    for c in conns:
        statuses[str(c.status)] = statuses.get(str(c.status), 0) + 1
    beat = sum(1 for c in conns if c.beats)
    print(json.dumps({"phase": "ready", "statuses": statuses, "beat": beat}), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    published_at = float(json.loads(line)["published_at"])
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(c.status == 200 and c.probe_at is None and not c.bye for c in conns):
        await asyncio.sleep(0.05)
    done.set()
    held = [c for c in conns if c.status == 200 and c.beats and c.probe_at is not None]
    latencies = sorted(round((c.probe_at - published_at) * 1000, 2) for c in held if c.probe_at is not None)
    print(json.dumps({"phase": "done", "held": len(held), "latencies_ms": latencies, "stalled": len(slow)}),
          flush=True)
    for s in slow:
        s.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- the servers ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """The bundled Redis, the database with the demo accounts, and the environment every server gets."""

    redis_url: str
    env: dict[str, str]
    password: str


@contextlib.contextmanager
def stack(tmp: Path) -> Iterator[Stack]:
    """A bundled Redis and a SQLite database with the demo accounts; the Redis is stopped on exit."""
    from dashboard.config import Config
    from ops.bootstrap import bootstrap
    from ops.redis_server import start_bundled_redis

    proc, url = start_bundled_redis(tmp / "redis")
    try:
        password = secrets.token_urlsafe(12)
        env = dict(os.environ, REDIS_URL=url, DATABASE_URL=f"sqlite:///{tmp / 'push.db'}",
                   SECRET_KEY=secrets.token_urlsafe(24), INGEST_TOKEN=secrets.token_urlsafe(24), SIMULATOR="off",
                   DEMO_PASSWORD=password, INSTANCE_DIR=str(tmp / "instance"), PYTHONUNBUFFERED="1",
                   SSE_HEARTBEAT_S=f"{HEARTBEAT_S:g}",
                   # One account opens every stream here: the per-user cap (half a process) would measure itself.
                   SSE_MAX_STREAMS_PER_USER=str(Config().sse_max_streams))
        bootstrap(Config.from_env(env), installations=False)
        yield Stack(url, env, password)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _argv(candidate: str, port: int, stack: Stack) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a candidate's server."""
    from ops.servers import gunicorn_argv, web_argv

    if candidate == "gevent":
        return web_argv("127.0.0.1", port, 2), stack.env
    if candidate == "gthread":
        return gunicorn_argv("127.0.0.1", port, 2, 8), dict(stack.env, SSE_MAX_STREAMS="4")
    return ([sys.executable, "-m", "bench.push_async", "--port", str(port), "--redis", stack.redis_url,
             "--processes", "2", "--heartbeat", f"{HEARTBEAT_S:g}"], stack.env)


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by `root` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid], stats[pid] = int(fields[1]), fields
    for pid, fields in stats.items():
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(candidate: str, st: Stack, tmp: Path, streams: int, stalled: int, idle_s: float) -> dict[str, Any]:
    """Serve with `candidate`, open the streams from the client process, idle, publish the change; figures."""
    from bench.common import HttpClient, answers, percentile, say
    from dashboard.live.aggregates import write_aggregates
    from dashboard.live.connections import make_redis
    from ops.redis_server import free_port

    port = free_port()
    argv, env = _argv(candidate, port, st)
    log = (tmp / f"{candidate}.log").open("wb")
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    client: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port, "/healthz" if candidate != "asyncio" else "/"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{candidate} server did not start: see {log.name}")
            time.sleep(0.2)
        web = HttpClient("127.0.0.1", port) if candidate != "asyncio" else None
        login = HttpClient("127.0.0.1", free_port_of_web(st, port, candidate))
        login.login(USERNAME, st.password)
        cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
        login.close()
        client = subprocess.Popen([sys.executable, "-m", "bench.push", "client", "--port", str(port), "--streams",
                                   str(streams), "--stalled", str(stalled), "--wait", str(max(30.0, HEARTBEAT_S * 10))],
                                  cwd=ROOT, env=dict(os.environ, PUSH_BENCH_COOKIE=cookie), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        t0 = time.monotonic()
        ready = json.loads(client.stdout.readline())
        say(f"  {candidate}: {streams} streams asked in {time.monotonic() - t0:.1f} s: statuses {ready['statuses']}, "
            f"{ready['beat']} saw a heartbeat; {stalled} stalled readers open")
        # The cost of idle streams: heartbeats (and, on the product, the caller's checks) only.
        cpu0, w0 = tree_cpu_s(server.pid), time.monotonic()
        time.sleep(idle_s)
        cpu_idle, window = tree_cpu_s(server.pid) - cpu0, time.monotonic() - w0
        # The rest of the web meanwhile: an authenticated API read (session in Redis, SQL) on the same server.
        api_ms: list[float] = []
        if web is not None:
            web.cookies = dict(login.cookies)
            for _ in range(20):
                status, _, elapsed, _ = web.request("GET", "/api/v1/incidents?limit=5")
                if status == 200:
                    api_ms.append(elapsed * 1000)
            web.close()
        published_at = time.time()
        write_aggregates(make_redis(st.redis_url), {PROBE: {"at": published_at}}, now=published_at)
        client.stdin.write(json.dumps({"published_at": published_at}) + "\n")
        client.stdin.flush()
        done = json.loads(client.stdout.readline())
        client.wait(timeout=60)
        lat = done["latencies_ms"]
        open_ok = ready["statuses"].get("200", 0)
        result = {
            "streams_asked": streams,
            "streams_open": open_ok,
            "held": done["held"],
            "stalled_clients": stalled,
            "latency_ms": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "max": max(lat) if lat else None},
            "idle_cpu_ms_per_s": round(cpu_idle / window * 1000, 1),
            "idle_cpu_us_per_stream_s": round(cpu_idle / window / open_ok * 1e6, 2) if open_ok else None,
            "api_read_with_streams_open_p50_ms": round(percentile(api_ms, 50) or 0, 2) if api_ms else None,
            "api_reads_ok": len(api_ms) if web is not None else None,
        }
        say(f"  {candidate}: held {result['held']} of {streams} (+{stalled} stalled); change to all: "
            f"p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms, max "
            f"{result['latency_ms']['max']} ms; idle {result['idle_cpu_ms_per_s']} ms CPU/s "
            f"({result['idle_cpu_us_per_stream_s']} µs per stream-second, heartbeat {HEARTBEAT_S:g} s)"
            + (f"; API read p50 {result['api_read_with_streams_open_p50_ms']} ms ({len(api_ms)}/20 ok)"
               if web is not None else ""))
        return result
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def free_port_of_web(st: Stack, port: int, candidate: str) -> int:
    """Where to sign in: the candidate itself, or (for the asyncio service, which serves only the stream) the
    web's gunicorn started for it."""
    if candidate != "asyncio":
        return port
    return _login_web(st)


_LOGIN_WEB: dict[str, Any] = {}


def _login_web(st: Stack) -> int:
    """A gthread web on the same Redis and database, for signing in (kept until the end of the run)."""
    from bench.common import answers
    from ops.redis_server import free_port
    from ops.servers import gunicorn_argv

    if "port" not in _LOGIN_WEB:
        port = free_port()
        proc = subprocess.Popen(gunicorn_argv("127.0.0.1", port, 1, 4), cwd=ROOT, env=st.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port, "/healthz"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sign-in web did not start")
            time.sleep(0.2)
        _LOGIN_WEB.update(port=port, proc=proc)
    return int(_LOGIN_WEB["port"])


def _stop_login_web() -> None:
    proc = _LOGIN_WEB.pop("proc", None)
    _LOGIN_WEB.pop("port", None)
    if proc is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def run_push(tmp: Path, quick: bool, streams: int | None = None,
             candidates: tuple[str, ...] = ("gevent",)) -> dict[str, Any]:
    """Measure each candidate on one stack; the figures by candidate."""
    from bench.common import heading
    from ops.processes import raise_open_files_limit

    raise_open_files_limit()
    n = streams or (QUICK_STREAMS if quick else STREAMS)
    heading(f"Push: {n} streams from another process, {STALLED} stalled readers (bench/push.py)")
    out: dict[str, Any] = {}
    tmp.mkdir(parents=True, exist_ok=True)
    with stack(tmp) as st:
        try:
            for candidate in candidates:
                out[candidate] = measure(candidate, st, tmp, n, STALLED, QUICK_IDLE_S if quick else IDLE_S)
        finally:
            _stop_login_web()
    return out


def summary_line(push: dict[str, Any]) -> dict[str, Any]:
    """The push figures of bench/run.py's JSON line (the product's: the gevent web)."""
    g = push.get("gevent") or {}
    lat = g.get("latency_ms") or {}
    return {
        "push_streams_held": g.get("held"),
        "push_streams_asked": g.get("streams_asked"),
        "push_change_p50_ms": lat.get("p50"),
        "push_change_p95_ms": lat.get("p95"),
        "push_change_max_ms": lat.get("max"),
        "push_idle_cpu_us_per_stream_s": g.get("idle_cpu_us_per_stream_s"),
        "push_streams_held_before": (push.get("gthread") or {}).get("held"),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.push` (the candidates) or `python -m bench.push client` (the streams' process)."""
    p = argparse.ArgumentParser(prog="bench.push", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd")
    c = sub.add_parser("client", help="open the streams (run by the bench in its own process)")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--streams", type=int, required=True)
    c.add_argument("--stalled", type=int, default=0)
    c.add_argument("--wait", type=float, default=30.0)
    p.add_argument("--streams", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--candidates", default=",".join(CANDIDATES))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "client":
        asyncio.run(_client(args.port, os.environ["PUSH_BENCH_COOKIE"], args.streams, args.stalled, args.wait))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="dc-push-bench-"))
    os.environ["INSTANCE_DIR"] = str(tmp / "instance")
    try:
        result = run_push(tmp, args.quick, args.streams, tuple(args.candidates.split(",")))
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"push": result, **summary_line(result)}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
