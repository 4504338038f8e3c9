"""Many screens: 200 walls on the live system at 1,000 events/s, today's refresh path and the frames side by side.

    .venv/bin/python bench/screens.py [--screens 200] [--seconds 60] [--baseline REF | --no-baseline] [--quick]

The live system (bench/system.py: `dongcheng run` with the simulator at SIM_RATE) is started twice, once from
the baseline release (`git archive` of REF, unpacked in the temporary directory; the Dash refresh callback of
before the frames) and once from this tree, and the same screens are played against each over real HTTP, each
doing exactly what a wall browser of that release does:
- baseline: every second the refresh callback (POST /_dash-update-component, its VERSIONS store sent back), then
  the alarm callback whenever VERSIONS changed, the database notice every 5 s; a pushed change refreshes at once;
- frames (this tree's wall, assets/push.js + wall.js): the screen holds /api/v1/stream?frames=zh&from=<token> and
  applies each pushed frame whose `from` is its token; it GETs /api/v1/frame only when a pushed frame does not
  start from its token (and then reopens the stream from the new token, at most every REJOIN_S), or as the safety
  poll: every second while it holds no stream, or when no frame came for SAFETY_S.
Every screen tries to hold the push stream as assets/push.js does (503: back-off 1 s doubling to 30 s); a baseline
screen without one polls. Measured over the window (after a warm-up):
- `refresh_p99_ms`: a wall's refresh at the server over the window, the worse of two: its pushed frames (from the
  change reaching the web process to the frame handed to every stream of its group: the web's own histogram
  dongcheng_push_frame_duration_seconds, read from /metrics before and after) and the refresh requests the screens
  still made in the window (gunicorn's access log, %(D)s: safety polls, mismatches; the baseline's only kind).
  The first frames asked for at start-up (200 screens in the same second) are reported apart
  (`refresh_requests_all_server_ms`);
- `push_to_screen_p95_ms`: an incident with a unique title is posted to the ingest every MARK_EVERY_S (±0.5 s); from
  just before that POST to the answer or pushed frame that first carries the title on each screen (p95 over
  screens × incidents);
- `cpu_ms_per_screen_second`: CPU time of the web processes (gunicorn's master and workers) / (screens × seconds).
Prints figures as it goes, and its result as one JSON object on the last line when run on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import served  # noqa: E402
from bench.common import HttpClient, RefreshCallback, encode, heading, percentile, say, summary, warn  # noqa: E402
from bench.system import CpuMeter, LiveSystem  # noqa: E402

# The last commit before the frames: the wall's refresh as a Dash callback per screen per second.
BASELINE = "3f8ff7e"
WEB_RENDERS = "dongcheng_frames_rendered"  # the web's counter of the frames it rendered itself
SCREENS = 200
SESSIONS = 20  # screens share sign-ins (a sign-in hashes a password; what a request costs does not change)
POLLERS = 1_000  # threads playing the screens: one per screen, as each browser is on its own
MARK_EVERY_S = 3.0
MARK_TIMEOUT_S = 10.0
TICK_S = 1.0
DB_POLL_S = 5.0
PUSH_FLUSH_S = 0.05
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 30.0
FRAME_PATH = "/api/v1/frame"
STREAM_PATH = "/api/v1/stream"
DASH_PATH = "/_dash-update-component"
SAFETY_S = 10.0  # assets/wall.js SAFETY_MS
REJOIN_S = 10.0  # assets/push.js REJOIN_MS
TOKEN_RE = re.compile(rb'"token":"([0-9a-f]*)","out":')
FROM_RE = re.compile(rb'^\{"from":"([0-9a-f]*)"')
TARGETS = {"refresh_p99_ms": 50.0, "push_to_screen_p95_ms": 1500.0}


class Screen:
    """One wall: its connection, what it shows (versions or token), and when it first showed each marker."""

    def __init__(self, n: int, cookies: dict[str, str], port: int) -> None:
        self.n = n
        self.http = HttpClient("127.0.0.1", port, timeout=30)
        self.http.cookies = dict(cookies)
        self.versions: Any = {}  # baseline: the VERSIONS store
        self.alarm: Any = None  # baseline: the ALARM_STORE
        self.token = ""  # frames: the token of what it shows
        self.ticks = 0
        self.seen: dict[str, float] = {}
        self.push_due = False
        self.lock = threading.Lock()
        self.streaming = False  # frames: holds a stream that carries its frames
        self.last_frame = 0.0  # frames: time.monotonic() of the last frame applied (pushed or fetched)
        self.rejoin = False  # frames: reopen the stream from the new token
        self.rejoined_at = 0.0
        self.pushed = 0
        self.mismatched = 0


class Wall:
    """How a wall of one release asks for its refresh."""

    def __init__(self, kind: str, deps: list[dict[str, Any]] | None) -> None:
        self.kind = kind
        self.refresh = self.alarm = self.db = None
        if kind == "baseline" and deps is not None:
            self.refresh = RefreshCallback.find(deps, ("wall-versions.data", "wall-meta.data"))
            self.alarm = RefreshCallback.find(deps, ("alarm-store.data", "alarm-content.children"))
            self.db = RefreshCallback.find(deps, ("db-notice.children",))

    def post(self, s: Screen, cb: RefreshCallback, values: dict[str, Any], label: str, n: int) -> dict[str, Any]:
        body = encode(cb.body(values, n))
        status, data, _, _ = s.http.request("POST", DASH_PATH, body, {
            "Content-Type": "application/json", "Accept": "application/json", "X-Bench-Id": label})
        if status == 204:
            return {}
        if status != 200:
            raise RuntimeError(f"{label}: {status} {data[:200]!r}")
        see(s, data)
        return dict(json.loads(data).get("response") or {})

    def due(self, s: Screen, by_push: bool) -> bool:
        """Whether this release's wall asks now: the baseline always; the frames' wall on a mismatch (by push), or
        as the safety poll (no stream held, or no frame for SAFETY_S)."""
        if self.kind != "frames" or by_push:
            return True
        return not s.streaming or time.monotonic() - s.last_frame >= SAFETY_S

    def tick(self, s: Screen, label: str) -> None:
        """The wall's refresh (by the interval or by push), and what follows it in this release."""
        s.ticks += 1
        if self.kind == "frames":
            with s.lock:
                token = s.token
            status, data, _, _ = s.http.request(
                "GET", f"{FRAME_PATH}?lang=zh&from={token}", None, {"Accept": "application/json",
                                                                    "X-Bench-Id": label})
            if status != 200:
                raise RuntimeError(f"{label}: {status} {data[:200]!r}")
            see(s, data)
            with s.lock:
                if s.token == token:
                    s.token = json.loads(data)["token"]
                    s.last_frame = time.monotonic()
            return
        assert self.refresh is not None and self.alarm is not None
        answer = self.post(s, self.refresh, {"wall-versions.data": s.versions, "wall-strings.data": {"lang": "zh"},
                                             "wall-slider.value": 0}, label, s.ticks)
        new = (answer.get("wall-versions") or {}).get("data")
        if new is not None:
            s.versions = new
            got = self.post(s, self.alarm, {"wall-versions.data": new, "alarm-store.data": s.alarm,
                                            "wall-strings.data": {"lang": "zh"}}, label.replace("r-", "a-"), 0)
            store = (got.get("alarm-store") or {}).get("data")
            if store is not None:
                s.alarm = store

    def db_poll(self, s: Screen, label: str) -> None:
        """The shell's database notice (the frames' wall lets it rest: the frame carries it)."""
        if self.kind == "baseline" and self.db is not None:
            self.post(s, self.db, {}, label, s.ticks)


MARKS: dict[str, float] = {}
MARKS_LOCK = threading.Lock()


def see(s: Screen, data: bytes) -> None:
    """Record the first answer that carries each marker's title."""
    if b"BENCH-" not in data:
        return
    now = time.perf_counter()
    with MARKS_LOCK:
        marks = list(MARKS)
    for title in marks:
        if title not in s.seen and title.encode() in data:
            s.seen[title] = now


class Push:
    """The screens' push streams: held where the server gives one, retried with back-off where it does not."""

    def __init__(self, port: int, screens: list[Screen], notify: Any, stop: threading.Event,
                 frames: bool = False) -> None:
        self.port = port
        self.frames = frames
        self.screens = screens
        self.notify = notify
        self.stop = stop
        self.held = 0
        self.most_held = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.conns: list[http.client.HTTPConnection] = []

    def start(self) -> None:
        for s in self.screens:
            threading.Thread(target=self._run, args=(s,), daemon=True, name=f"push-{s.n}").start()

    def _run(self, s: Screen) -> None:
        failures = 0
        cookie = "; ".join(f"{k}={v}" for k, v in s.http.cookies.items())
        while not self.stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            path = STREAM_PATH
            if self.frames:
                with s.lock:
                    path = f"{STREAM_PATH}?frames=zh&from={s.token}"
                    s.rejoin = False
            try:
                conn.request("GET", path, headers={"Accept": "text/event-stream", "Cookie": cookie})
                resp = conn.getresponse()
                if resp.status == 200:
                    failures = 0
                    with self.lock:
                        self.held += 1
                        self.most_held = max(self.most_held, self.held)
                        self.conns.append(conn)
                    s.streaming = self.frames
                    try:
                        self._read(s, resp)
                    finally:
                        s.streaming = False
                        with self.lock:
                            self.held -= 1
                    continue
                resp.read()
                with self.lock:
                    self.refused += 1
            except Exception:  # a stream cut while closing, or any failure: retried as push.js does
                pass
            finally:
                with contextlib.suppress(Exception):
                    conn.close()
            failures += 1
            delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
            self.stop.wait(delay)

    def _read(self, s: Screen, resp: http.client.HTTPResponse) -> None:
        event = ""
        while not self.stop.is_set():
            raw = resp.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "frame":
                if self._frame(s, raw[5:].strip()):
                    return  # rejoin: reopen from the screen's token
            elif line.startswith("data:") and event in ("aggregate", "incident"):
                self.notify(s)
            elif line.startswith("event: bye") or event == "bye":
                return

    def _frame(self, s: Screen, data: bytes) -> bool:
        """Apply a pushed frame as assets/wall.js does; on a mismatch fetch, and True when the stream is to be
        reopened from the new token (at most every REJOIN_S)."""
        start, reached = FROM_RE.match(data), TOKEN_RE.search(data)
        if start is None or reached is None:
            return False
        with s.lock:
            if start.group(1).decode() == s.token:
                s.token = reached.group(1).decode()
                s.last_frame = time.monotonic()
                s.pushed += 1
                applied = True
            else:
                s.mismatched += 1
                applied = False
        if applied:
            see(s, data)
            return False
        self.notify(s)
        now = time.monotonic()
        if now - s.rejoined_at >= REJOIN_S:
            s.rejoined_at = now
            return True
        return False

    def close(self) -> None:
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(Exception):
                if c.sock is not None:
                    c.sock.shutdown(2)
                c.close()


def play(system: LiveSystem, kind: str, n_screens: int, seconds: float, warmup: float,
         arrivals: list[tuple[float, float]] | None = None) -> dict[str, Any]:
    """Play `n_screens` walls of release `kind` against `system` for `seconds`; the figures. Each marker's arrival
    on a screen also goes to `arrivals`: (perf_counter() when posted, ms to the screen), for a part of the window."""
    took = system.wait_healthy()
    say(f"{kind}: /healthz 200 after {took:.1f} s")
    logins = []
    for _ in range(min(SESSIONS, n_screens)):
        c = HttpClient("127.0.0.1", system.port)
        c.login("duty", system.password)
        logins.append(dict(c.cookies))
        c.close()
    deps = None
    if kind == "baseline":
        c = HttpClient("127.0.0.1", system.port)
        c.cookies = dict(logins[0])
        status, raw, _, _ = c.request("GET", "/_dash-dependencies")
        deps = json.loads(raw)
        c.close()
    wall = Wall(kind, deps)
    screens = [Screen(i, logins[i % len(logins)], system.port) for i in range(n_screens)]
    stop = threading.Event()
    pollers = min(POLLERS, n_screens)
    queues: list[queue.Queue[Screen]] = [queue.Queue() for _ in range(pollers)]
    errors: list[str] = []
    counts = {"tick": 0, "push": 0, "db": 0}

    def notify(s: Screen) -> None:
        with s.lock:
            if s.push_due:
                return
            s.push_due = True
        # push.js gathers the events of FLUSH_MS into one update.
        threading.Timer(PUSH_FLUSH_S, queues[s.n % pollers].put, args=(s,)).start()

    def poller(k: int) -> None:
        mine = [s for s in screens if s.n % pollers == k]
        start = time.monotonic()
        due = {s.n: start + random.uniform(0, TICK_S) for s in mine}
        db_due = {s.n: start + random.uniform(0, DB_POLL_S) for s in mine}
        seq = 0
        while not stop.is_set():
            now = time.monotonic()
            try:
                for s in mine:
                    if due[s.n] <= now:
                        due[s.n] += TICK_S
                        if wall.due(s, by_push=False):
                            seq += 1
                            wall.tick(s, f"scr-r-{k}-{seq}")
                            counts["tick"] += 1
                    if db_due[s.n] <= now:
                        db_due[s.n] += DB_POLL_S
                        if wall.kind == "baseline":
                            seq += 1
                            wall.db_poll(s, f"scr-d-{k}-{seq}")
                            counts["db"] += 1
                wake = min(min(due.values()), min(db_due.values()))
                while True:
                    left = wake - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        s = queues[k].get(timeout=left)
                    except queue.Empty:
                        break
                    with s.lock:
                        s.push_due = False
                    seq += 1
                    wall.tick(s, f"scr-r-{k}-{seq}")
                    counts["push"] += 1
            except Exception as exc:  # a screen's failure is counted, the others go on
                errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.2)

    threads = [threading.Thread(target=poller, args=(k,), daemon=True) for k in range(pollers)]
    push = Push(system.port, screens, notify, stop, frames=kind == "frames")
    push.start()
    for t in threads:
        t.start()
    say(f"{kind}: {n_screens} screens playing; warming up {warmup:g} s")
    time.sleep(warmup)

    cpu = CpuMeter(system.children)
    log_at = served.log_size(system.access_log)
    frames0 = served.push_frame_histograms(system.port)
    web_renders0 = served.scrape_counter(system.port, WEB_RENDERS, {"by": "web"})
    cpu0 = cpu.snapshot()
    t0 = time.monotonic()
    c0 = dict(counts)
    p0 = sum(s.pushed for s in screens), sum(s.mismatched for s in screens)
    ingest = HttpClient("127.0.0.1", system.ingest_port)
    marks: dict[str, float] = {}
    next_mark = t0
    jitter = random.Random(7)
    while time.monotonic() - t0 < seconds:
        if time.monotonic() >= next_mark:
            # Jittered: at a fixed period every marker would meet the once-a-second tick at the same phase, and a
            # run would measure one point of the tick's cycle (0.3 s in one run, 1.1 s in the next) instead of all.
            next_mark += MARK_EVERY_S + jitter.uniform(-0.5, 0.5)
            title = f"BENCH-{uuid.uuid4().hex[:10]}"
            with MARKS_LOCK:
                MARKS[title] = 0.0
            ev = {"event_id": title, "source": "bench", "kind": "incident", "lon": 116.4170, "lat": 39.9240,
                  "category": "fire", "severity": 1, "title": title,
                  "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))}
            sent = time.perf_counter()
            status, data, _, _ = ingest.request("POST", "/api/v1/events", encode([ev]), {
                "Content-Type": "application/json", "Authorization": f"Bearer {system.token}"})
            if status != 200:
                warn(f"marker incident refused: {status} {data[:200]!r}")
            else:
                marks[title] = sent
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    cpu1 = cpu.snapshot()
    frames1 = served.push_frame_histograms(system.port)
    web_renders1 = served.scrape_counter(system.port, WEB_RENDERS, {"by": "web"})
    c1 = dict(counts)
    p1 = sum(s.pushed for s in screens), sum(s.mismatched for s in screens)
    held = push.held
    time.sleep(MARK_TIMEOUT_S)  # the last marker's time to arrive
    stop.set()
    push.close()
    for t in threads:
        t.join(5)

    lat: list[float] = []
    missed = 0
    for title, sent in marks.items():
        for s in screens:
            at = s.seen.get(title)
            if at is None or at - sent > MARK_TIMEOUT_S:
                missed += 1
            else:
                lat.append((at - sent) * 1000)
                if arrivals is not None:
                    arrivals.append((sent, (at - sent) * 1000))
    web_ticks = cpu1["per"].get("web", 0) - cpu0["per"].get("web", 0)
    cpu_ms = 1000 * web_ticks / cpu.hz
    server = served.server_times(system.access_log, kind)
    window = served.server_times(system.access_log, kind, since=log_at)
    report = cpu.report(cpu0, cpu1)
    out = {
        "screens": n_screens,
        "seconds": round(elapsed, 1),
        "requests_per_s": {k: round((c1[k] - c0[k]) / elapsed, 1) for k in counts},
        "push_streams_held": held,
        "pushed_frames_applied_per_s": round((p1[0] - p0[0]) / elapsed, 1),
        "pushed_frames_mismatched_per_s": round((p1[1] - p0[1]) / elapsed, 1),
        "push_streams_held_max": push.most_held,
        "push_refused": push.refused,
        # A wall's refresh at the server, over the window: the pushed frames (the web's own histogram) and the
        # refresh requests the screens still made (safety polls, mismatches; the baseline's only kind).
        **served.refresh_figures(frames0, frames1, window["refresh"]),
        "frames_rendered_by_web": None if None in (web_renders0, web_renders1) else int(web_renders1 - web_renders0),
        "refresh_requests_in_window_server_ms": summary(window["refresh"]),
        "refresh_requests_all_server_ms": summary(server["refresh"]),
        "all_requests_server_ms": summary(server["all"]),
        "push_to_screen_ms": {**summary(lat), "p95": _round(percentile(lat, 95))},
        "markers": len(marks),
        "marker_screens_missed": missed,
        "web_cpu_percent_of_one_core": report["percent_of_one_core"].get("web"),
        "cpu_ms_per_screen_second": round(cpu_ms / (n_screens * elapsed), 3),
        "machine_busy_percent": report["machine_busy_percent"],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }
    say(f"{kind}: {json.dumps(out, ensure_ascii=False)}")
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def unpack(ref: str, dest: Path) -> Path:
    """The release `ref` of this repository unpacked in `dest`, with this tree's compiled catalogues."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest.with_suffix(".tar")
    with archive.open("wb") as f:
        subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    for mo in (ROOT / "dashboard" / "i18n" / "locale").glob("*/LC_MESSAGES/*.mo"):
        target = dest / mo.relative_to(ROOT)
        if target.parent.is_dir() and not target.exists():
            shutil.copy2(mo, target)
    return dest


def run_one(tmp: Path, kind: str, root: Path, n: int, seconds: float, warmup: float, rate: float) -> dict[str, Any]:
    """Start the live system from `root`, play the screens, stop it."""
    heading(f"Many screens: {n} walls of the {kind} release, simulator at {rate:,g} events/s")
    system = LiveSystem(tmp / kind, rate, root=root)
    (tmp / kind).mkdir(parents=True, exist_ok=True)
    system.start()
    try:
        return play(system, kind, n, seconds, warmup)
    except BaseException:
        say("runner output (last lines):\n" + system.output_tail())
        raise
    finally:
        if system.proc is not None and system.proc.poll() is None:
            system.stop()
        system.kill_leftovers()


def run_screens(tmp: Path, n: int = SCREENS, seconds: float = 60.0, warmup: float = 10.0, rate: float = 1000.0,
                baseline: str | None = BASELINE) -> dict[str, Any]:
    """Frames (this tree) and, unless `baseline` is None, the baseline release: the figures side by side."""
    out: dict[str, Any] = {}
    if baseline:
        try:
            old_root = unpack(baseline, tmp / "baseline-src")
            out["baseline"] = run_one(tmp, "baseline", old_root, n, seconds, warmup, rate)
        except Exception as exc:
            warn(f"baseline {baseline} not measured: {type(exc).__name__}: {exc}")
    out["frames"] = run_one(tmp, "frames", ROOT, n, seconds, warmup, rate)
    return out


def summary_line(res: dict[str, Any]) -> dict[str, Any]:
    """The figures for make bench's JSON line (this tree's, and the baseline's beside them)."""
    new, old = res.get("frames") or {}, res.get("baseline") or {}

    def pick(d: dict[str, Any], *path: str) -> Any:
        for k in path:
            d = d.get(k) if isinstance(d, dict) else None  # type: ignore[assignment]
        return d

    n = new.get("screens") or SCREENS
    line = {
        f"screens_{n}_refresh_p99_ms": pick(new, "refresh_server_ms", "p99"),
        f"screens_{n}_push_to_screen_p95_ms": pick(new, "push_to_screen_ms", "p95"),
        "server_cpu_ms_per_screen_second": new.get("cpu_ms_per_screen_second"),
        f"screens_{n}_push_streams_held": new.get("push_streams_held"),
        f"baseline_screens_{n}_refresh_p99_ms": pick(old, "refresh_server_ms", "p99"),
        f"baseline_screens_{n}_push_to_screen_p95_ms": pick(old, "push_to_screen_ms", "p95"),
        "baseline_server_cpu_ms_per_screen_second": old.get("cpu_ms_per_screen_second"),
    }
    a, b = old.get("cpu_ms_per_screen_second"), new.get("cpu_ms_per_screen_second")
    line["server_cpu_baseline_over_frames"] = round(a / b, 1) if a and b else None
    return line


def print_side_by_side(res: dict[str, Any]) -> None:
    """The two releases' figures in one table."""
    rows = [
        ("refresh p50 ms (server)", ("refresh_server_ms", "p50")),
        ("refresh p99 ms (server)", ("refresh_server_ms", "p99")),
        ("all screen requests p99 ms (server)", ("all_requests_server_ms", "p99")),
        ("push to screen p50 ms", ("push_to_screen_ms", "p50")),
        ("push to screen p95 ms", ("push_to_screen_ms", "p95")),
        ("screens missing a marker", ("marker_screens_missed",)),
        ("refresh requests in the log (n)", ("refresh_server_ms", "n")),
        ("pushed frames applied per s", ("pushed_frames_applied_per_s",)),
        ("pushed frames sent (groups x changes)", ("pushed_frame_server_ms", "count")),
        ("of which the web rendered itself", ("frames_rendered_by_web",)),
        ("push streams held", ("push_streams_held",)),
        ("web CPU ms per screen-second", ("cpu_ms_per_screen_second",)),
        ("web CPU % of one core", ("web_cpu_percent_of_one_core",)),
    ]
    say(f"{'':40s} {'baseline':>12s} {'frames':>12s}")
    for label, path in rows:
        vals = []
        for kind in ("baseline", "frames"):
            d: Any = res.get(kind) or {}
            for k in path:
                d = d.get(k) if isinstance(d, dict) else None
            vals.append("-" if d is None else str(d))
        say(f"{label:40s} {vals[0]:>12s} {vals[1]:>12s}")
    for kind in ("baseline", "frames"):
        rps = (res.get(kind) or {}).get("requests_per_s")
        if rps:
            say(f"{kind} requests/s by cause: {rps}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/screens.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--screens", type=int, default=None)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--baseline", default=BASELINE, help="git ref of today's release to measure beside")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 10 screens (or --screens), 5 s, no baseline")
    args = p.parse_args(argv)
    n = args.screens or (10 if args.quick else SCREENS)
    seconds = args.seconds or (5.0 if args.quick else 60.0)
    warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 10.0)
    baseline = None if (args.no_baseline or args.quick) else args.baseline
    tmp = Path(tempfile.mkdtemp(prefix="dc-screens-"))
    os.environ.setdefault("INSTANCE_DIR", str(tmp / "instance"))
    try:
        res = run_screens(tmp, n, seconds, warmup, args.rate, baseline)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    heading("Many screens: side by side")
    print_side_by_side(res)
    print(json.dumps(summary_line(res), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
