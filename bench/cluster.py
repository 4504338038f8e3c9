"""Many hosts: the failover benchmark of `make bench-cluster` on `dongcheng cluster` (ops/cluster.py).

    .venv/bin/python -m bench.cluster [--screens 200] [--streams 1000] [--rate 1000] [--gap 15]

The cluster (two hosts behind nginx, Redis with a replica and three sentinels, PostgreSQL) runs with the simulator at
1,000 events/s through nginx. First 1,000 push streams are opened through nginx and counted after being held
(`push_streams_held`), and closed. Then 200 walls are played through nginx as bench/screens.py plays them (the
frames' wall: its request sequence and its push stream), while incidents and tickets with unique ids are posted
through nginx, and one after the other, `--gap` seconds apart:
- one web host's screens' gunicorn, master and workers, is SIGKILLed (its runner then starts it again):
  `web_host_loss_errors` counts the answers nginx gave with a 5xx status (it found no host to answer) and the durable
  posts that failed, from the kill until the next fault (an answer cut mid-body counts among `screen_errors`);
- the scheduler holding the lease is SIGKILLed: `scheduler_takeover_s` from the kill to the first tick completed
  after another scheduler took the lease;
- the Redis master is SIGKILLed: `redis_failover_heal_s` from the kill until /healthz through nginx shows every
  aggregate written after the kill.
At the end: `durable_accepted` (posts answered 200) and `durable_lost` (of those, missing from PostgreSQL), and
`telemetry_lost_during_failover` (the roll-up job's lost-entries counter over both hosts' exporters, read once the
roll-up has passed the failover). Refresh figures at the server are bench/screens.py's (the pushed frames'
histograms of both hosts' webs and the screens' refresh requests in gunicorn's access log). Targets are reported,
not asserted. Prints progress, then ONE JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import shlex
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import screens, served  # noqa: E402
from bench.common import HttpClient, encode, percentile, say, warn  # noqa: E402
from bench.system import ACCESS_FORMAT  # noqa: E402
from dashboard.live import keys  # noqa: E402
from dashboard.store import incidents, tickets  # noqa: E402
from dashboard.store.engine import make_engine, session_factory, session_scope  # noqa: E402
from ops.cluster import Cluster, ClusterRefused, Host  # noqa: E402
from ops.processes import raise_open_files_limit  # noqa: E402

SCREENS = 200
STREAMS = 1000
RATE = 1000.0
WARMUP_S = 10.0
FAULT_GAP_S = 15.0
# A window without faults before the first one: the figures of two hosts serving 200 walls as they do day to day.
QUIET_S = 30.0
AFTER_S = 20.0
# The roll-up job reads the telemetry stream this long behind (keys.HISTORY_ROLLUP_DELAY_S) and runs every 10 s.
ROLLUP_WAIT_S = keys.HISTORY_ROLLUP_DELAY_S + 20.0
STREAM_HOLD_S = 10.0
DURABLE_EVERY_S = 0.25
BENCH_SOURCE = "bench-cluster"
POLL_S = 0.05
MEASURE_TIMEOUT_S = 60.0
NGINX_CONNECTIONS = 8192
LOST_METRIC = "dongcheng_telemetry_rollup_lost_entries_total"
GAPS_METRIC = "dongcheng_telemetry_rollup_gaps_total"
# Entries the roll-up read (all outcomes): shows that it ran through the window.
READ_METRIC = "dongcheng_telemetry_rollup_entries_total"
TARGETS = {"web_host_loss_errors": 0, "scheduler_takeover_s": 5.0, "redis_failover_heal_s": 15.0, "durable_lost": 0,
           "refresh_p99_ms": 50.0, "push_to_screen_p95_ms": 1500.0, "push_streams_held": STREAMS}
# nginx's default "combined" access line: the status follows the quoted request line.
STATUS_RE = re.compile(rb'" (\d{3}) ')


class ClusterSystem:
    """What bench/screens.py's screen players need of a system, here the cluster through nginx."""

    def __init__(self, cluster: Cluster, access_log: Path) -> None:
        """The cluster's address (screens and feeds alike go through nginx), its demo password and feeds' token."""
        self.cluster = cluster
        self.port = self.ingest_port = cluster.nginx_port
        self.password = cluster.env["DEMO_PASSWORD"]
        self.token = cluster.env["INGEST_TOKEN"]
        self.access_log = access_log
        self.children: dict[str, dict[str, Any]] = {}  # CPU is not measured here: two hosts share the machine

    def wait_healthy(self) -> float:
        """Wait until every aggregate is fresh through nginx; the seconds it took."""
        t0 = time.monotonic()
        while not self.cluster.aggregates_fresh():
            if time.monotonic() - t0 > MEASURE_TIMEOUT_S:
                raise RuntimeError(f"the cluster is not healthy: {self.cluster.health()}")
            time.sleep(0.5)
        return time.monotonic() - t0


def sign_ins(port: int, password: str, n: int) -> list[dict[str, str]]:
    """The cookies of `n` sign-ins of the duty officer through nginx."""
    out = []
    for _ in range(n):
        c = HttpClient("127.0.0.1", port)
        c.login("duty", password)
        out.append(dict(c.cookies))
        c.close()
    return out


def hold_streams(port: int, cookies: list[dict[str, str]], n: int, hold_s: float) -> dict[str, int]:
    """Open `n` push streams through nginx at once; how many were answered 200 and how many were still open after
    `hold_s` seconds."""
    held: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()
    conns: list[http.client.HTTPConnection] = []
    refused = [0]

    def one(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=hold_s + 30)
        with lock:
            conns.append(conn)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies[i % len(cookies)].items())
        try:
            conn.request("GET", screens.STREAM_PATH, headers={"Accept": "text/event-stream", "Cookie": cookie})
            resp = conn.getresponse()
            if resp.status != 200:
                with lock:
                    refused[0] += 1
                return
            with lock:
                held.add(i)
            while not stop.is_set() and resp.readline():
                pass
        except Exception:  # closed by us at the end (http.client fails variously then), or cut: no longer held
            pass
        with lock:
            held.discard(i)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(hold_s)
    with lock:
        answered = len(held)
    time.sleep(1.0)
    with lock:
        still = len(held)
    stop.set()
    for conn in conns:
        with contextlib.suppress(OSError):
            if conn.sock is not None:
                conn.sock.shutdown(2)
            conn.close()
    return {"held": min(answered, still), "refused": refused[0]}


class DurablePoster:
    """Incidents and tickets with unique ids posted through nginx, one every DURABLE_EVERY_S; which were accepted."""

    def __init__(self, port: int, token: str) -> None:
        """Post to nginx on `port` with the feeds' `token`."""
        self.http = HttpClient("127.0.0.1", port, timeout=15)
        self.token = token
        self.accepted: dict[str, list[str]] = {"incident": [], "hotline_ticket": []}
        self.failed: list[float] = []  # monotonic times of posts not answered 200
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="durable")

    def _event(self, n: int) -> tuple[str, dict[str, Any]]:
        """The n-th event: an incident or a ticket, alternately, with a unique id."""
        uid = uuid.uuid4().hex[:12]
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        if n % 2 == 0:
            return uid, {"event_id": f"bc-{uid}", "source": BENCH_SOURCE, "kind": "incident", "lon": 116.4170,
                         "lat": 39.9240, "category": "fire", "severity": 3, "title": f"bench {uid}", "ts": ts}
        return uid, {"event_id": f"bc-{uid}", "source": BENCH_SOURCE, "kind": "hotline_ticket", "ts": ts,
                     "ticket_id": f"bc-{uid}", "category": "noise", "summary": "bench", "lon": 116.4170,
                     "lat": 39.9240}

    def _run(self) -> None:
        """Post until stopped."""
        n = 0
        while not self.stop.wait(DURABLE_EVERY_S):
            _, ev = self._event(n)
            n += 1
            try:
                status, _, _, _ = self.http.request("POST", "/api/v1/events", encode([ev]), {
                    "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
            except (OSError, http.client.HTTPException):
                status = 0
                self.http.close()
            if status == 200:
                self.accepted[ev["kind"]].append(ev["event_id"] if ev["kind"] == "incident" else ev["ticket_id"])
            else:
                self.failed.append(time.monotonic())

    def lost(self, database_url: str) -> int:
        """How many of the accepted events PostgreSQL does not have."""
        engine = make_engine(database_url)
        try:
            with session_scope(session_factory(engine)) as s:
                found = len(incidents.incidents_by_external_id(s, BENCH_SOURCE, self.accepted["incident"]))
                found += len(tickets.tickets_by_external_id(s, BENCH_SOURCE, self.accepted["hotline_ticket"]))
        finally:
            engine.dispose()
        return sum(len(v) for v in self.accepted.values()) - found


def scrape_counter(port: int, name: str) -> float:
    """The sum of counter `name`'s samples on /metrics at `port` (0 when absent or unreadable)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode(errors="replace")
        conn.close()
    except OSError as exc:
        warn(f"/metrics on {port} not read: {exc}")
        return 0.0
    return sum(float(s.value) for f in text_string_to_metric_families(text) for s in f.samples
               if s.name in (name, f"{name.removesuffix('_total')}_total") and f.type == "counter")


def rollup_losses(cluster: Cluster) -> dict[str, float]:
    """The roll-up job's lost entries, its gaps and the entries it read so far, over both hosts' exporters."""
    hosts = cluster.hosts
    return {"lost": sum(scrape_counter(h.metrics_port, LOST_METRIC) for h in hosts),
            "gaps": sum(scrape_counter(h.metrics_port, GAPS_METRIC) for h in hosts),
            "read": sum(scrape_counter(h.metrics_port, READ_METRIC) for h in hosts)}


def frames_by_host(hosts: list[Host]) -> list[tuple[int | None, dict[str, dict[float, float]]]]:
    """Each host's web (its gunicorn master's PID) and the pushed frames' histograms its /metrics has now."""
    return [(h.children().get("web"), served.push_frame_histograms(h.port)) for h in hosts]


def frames_delta(before: list[tuple[int | None, dict[str, dict[float, float]]]],
                 after: list[tuple[int | None, dict[str, dict[float, float]]]]) -> dict[str, dict[float, float]]:
    """The pushed frames' histograms over the window, summed over the hosts; a host whose web started again in the
    window (another master, its metrics directory made afresh) counts from its new start."""
    out: dict[str, dict[float, float]] = {}
    for (pid0, b), (pid1, a) in zip(before, after, strict=True):
        for name, buckets in a.items():
            old = b.get(name, {}) if pid0 == pid1 else {}
            into = out.setdefault(name, {})
            for le, n in buckets.items():
                into[le] = into.get(le, 0.0) + n - old.get(le, 0.0)
    return out


def nginx_errors(log: Path, since: int, until: int) -> dict[str, int]:
    """The 5xx answers nginx logged between two byte offsets of its access log, by status."""
    with log.open("rb") as f:
        f.seek(since)
        lines = f.read(max(0, until - since)).splitlines()
    out: dict[str, int] = {}
    for line in lines:
        m = STATUS_RE.search(line)
        if m and m.group(1).startswith(b"5"):
            out[m.group(1).decode()] = out.get(m.group(1).decode(), 0) + 1
    return out


def scheduler_takeover(cluster: Cluster) -> dict[str, Any]:
    """Kill the leading scheduler; seconds from the kill to the first tick completed after another took the lease."""
    host, pid, at = cluster.kill_leader()
    kill_wall = time.time() - (time.monotonic() - at)
    say(f"killed the leading scheduler (host {host.name}, pid {pid})")
    r = cluster.client()
    deadline = time.monotonic() + MEASURE_TIMEOUT_S
    new_at = None
    while time.monotonic() < deadline:
        found = cluster.leader()
        if found is not None and found[1] != pid:
            new_at = time.time()
            say(f"host {found[0].name}'s scheduler (pid {found[1]}) leads now")
            break
        time.sleep(POLL_S)
    if new_at is None:
        return {"scheduler_takeover_s": None}
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = float(r.get(keys.LAST_TICK) or 0)
            if last > new_at - POLL_S:
                return {"scheduler_takeover_s": round(last - kill_wall, 2),
                        "scheduler_lease_taken_after_s": round(new_at - kill_wall, 2)}
        time.sleep(POLL_S)
    return {"scheduler_takeover_s": None, "scheduler_lease_taken_after_s": round(new_at - kill_wall, 2)}


def redis_heal(cluster: Cluster) -> dict[str, Any]:
    """Kill the Redis master; seconds until the sentinels agree on the replica and until /healthz through nginx shows
    every aggregate written after the kill."""
    name, at = cluster.kill_redis_master()
    say(f"killed the Redis master ({name})")
    assert cluster.redis is not None
    failed_over = None
    # When each aggregate was first seen written after the kill.
    healed: dict[str, float] = {}
    aggregates: dict[str, Any] = {}
    while time.monotonic() - at < MEASURE_TIMEOUT_S:
        since = time.monotonic() - at
        if failed_over is None and cluster.redis.master() not in (None, name):
            failed_over = round(since, 2)
        aggregates = cluster.health().get("aggregates") or {}
        for agg, state in aggregates.items():
            age = state.get("age_s")
            if agg not in healed and age is not None and age < since:
                healed[agg] = round(since, 2)
        if aggregates and len(healed) == len(aggregates):
            break
        time.sleep(POLL_S * 4)
    whole = len(healed) == len(aggregates) and bool(aggregates)
    return {"redis_failover_heal_s": max(healed.values()) if whole else None, "redis_sentinels_agreed_s": failed_over,
            "redis_failover_heal_by_aggregate_s": healed}


def run(folder: Path, n_screens: int, n_streams: int, rate: float, gap: float) -> dict[str, Any]:
    """Start the cluster, measure, stop it; the figures."""
    raise_open_files_limit()
    access_log = folder / "access.log"

    def host_env(_host: Host) -> dict[str, str]:
        return {"GUNICORN_CMD_ARGS": shlex.join(["--access-logfile", str(access_log), "--access-logformat",
                                                 ACCESS_FORMAT])}

    cluster = Cluster(folder / "cluster", web_workers=2, rq_workers=1, sim_rate=rate,
                      nginx_connections=NGINX_CONNECTIONS, host_env=host_env)
    try:
        cluster.start()
        cluster.supervise_in_background()  # as `make cluster` does: a dead Redis server comes back as a replica
        for line in cluster.banner():
            say(line)
        return measure(cluster, ClusterSystem(cluster, access_log), n_screens, n_streams, gap)
    finally:
        cluster.stop()


def measure(cluster: Cluster, system: ClusterSystem, n_screens: int, n_streams: int, gap: float) -> dict[str, Any]:
    """The streams held, then the screens with the three faults; the figures."""
    took = system.wait_healthy()
    say(f"every aggregate fresh through nginx after {took:.1f} s")
    cookies = sign_ins(system.port, system.password, screens.SESSIONS)
    streams = hold_streams(system.port, cookies, n_streams, STREAM_HOLD_S)
    say(f"push streams through nginx: {streams}")
    nginx_log = cluster.folder / "nginx" / "access.log"
    lost0 = rollup_losses(cluster)
    seconds = QUIET_S + 3 * gap + AFTER_S
    played: dict[str, Any] = {}
    arrivals: list[tuple[float, float]] = []

    def player() -> None:
        try:
            played.update(screens.play(system, "frames", n_screens, seconds, WARMUP_S,  # type: ignore[arg-type]
                                       arrivals))
        except Exception as exc:  # said in the result, never hidden
            played["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=player, name="screens")
    thread.start()
    poster = DurablePoster(system.port, system.token)
    time.sleep(WARMUP_S + 2)
    frames0 = frames_by_host(cluster.hosts)
    quiet0 = time.perf_counter()
    say(f"a quiet window of {QUIET_S:g} s before the faults")
    time.sleep(QUIET_S)
    quiet1, frames_quiet = time.perf_counter(), frames_by_host(cluster.hosts)
    poster.thread.start()
    time.sleep(gap / 2)

    log0, t_web = nginx_log.stat().st_size, cluster.kill_web(cluster.hosts[0])
    say(f"killed host {cluster.hosts[0].name}'s web (gunicorn master and workers, SIGKILL)")
    time.sleep(gap)
    web_errors = nginx_errors(nginx_log, log0, nginx_log.stat().st_size)
    posts_failed = sum(1 for t in poster.failed if t >= t_web)
    takeover = scheduler_takeover(cluster)
    time.sleep(max(0.0, gap - 5))
    heal = redis_heal(cluster)
    thread.join()
    frames1 = frames_by_host(cluster.hosts)
    poster.stop.set()
    poster.thread.join(20)
    say(f"waiting {ROLLUP_WAIT_S:.0f} s for the roll-up to pass the failover")
    time.sleep(ROLLUP_WAIT_S)
    lost1 = rollup_losses(cluster)
    pushed = served.refresh_figures({}, frames_delta(frames0, frames1), [])["pushed_frame_server_ms"]
    quiet = served.refresh_figures({}, frames_delta(frames0, frames_quiet), [])["pushed_frame_server_ms"]
    quiet_lat = [ms for sent, ms in arrivals if quiet0 <= sent < quiet1]
    in_window = played.get("refresh_requests_in_window_server_ms") or {}
    accepted = sum(len(v) for v in poster.accepted.values())
    result = {
        "screens": n_screens,
        "push_streams_held": streams["held"],
        "push_streams_refused": streams["refused"],
        "refresh_p50_ms": served.worst(pushed["p50"], in_window.get("p50")),
        "refresh_p99_ms": served.worst(pushed["p99"], in_window.get("p99")),
        "push_to_screen_p95_ms": (played.get("push_to_screen_ms") or {}).get("p95"),
        # The same before the first fault: two hosts serving the walls day to day.
        "quiet_refresh_p50_ms": quiet["p50"],
        "quiet_refresh_p99_ms": quiet["p99"],
        "quiet_push_to_screen_p95_ms": None if not quiet_lat else round(percentile(quiet_lat, 95) or 0.0, 1),
        "quiet_pushed_frames": quiet["count"],
        "web_host_loss_errors": sum(web_errors.values()) + posts_failed,
        "web_host_loss_nginx_5xx": web_errors,
        "web_host_loss_posts_failed": posts_failed,
        **takeover,
        **heal,
        "durable_accepted": accepted,
        "durable_lost": poster.lost(cluster.env["DATABASE_URL"]),
        "durable_refused": len(poster.failed),
        "telemetry_lost_during_failover": int(lost1["lost"] - lost0["lost"]),
        "telemetry_rollup_gaps_during_failover": int(lost1["gaps"] - lost0["gaps"]),
        "telemetry_rollup_entries_read_in_window": int(lost1["read"] - lost0["read"]),
        "pushed_frame_server_ms": pushed,
        "refresh_requests_in_window_server_ms": in_window,
        "screen_errors": played.get("errors"),
        "first_screen_error": played.get("first_error") or played.get("error"),
        "marker_screens_missed": played.get("marker_screens_missed"),
        "sim_rate": cluster.sim_rate,
        "targets": TARGETS,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the failover benchmark; print its figures as one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--screens", type=int, default=SCREENS)
    p.add_argument("--streams", type=int, default=STREAMS)
    p.add_argument("--rate", type=float, default=RATE)
    p.add_argument("--gap", type=float, default=FAULT_GAP_S, help="seconds between the faults")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dc-bench-cluster-") as tmp:
        try:
            result = run(Path(tmp), args.screens, args.streams, args.rate, args.gap)
        except ClusterRefused as exc:
            say(f"the cluster cannot run here: {exc}")
            return 1
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
