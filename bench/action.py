"""Action to screen: how long an incident action taken by a dispatcher takes to appear on another open screen.

Runs on the live system of part A (bench/live.py, SIM_RATE 1000), after its measuring window:
- a second screen, logged in as `duty` through the login form, holds the push stream open
  (GET /api/v1/stream, Server-Sent Events) exactly as assets/push.js does; on every `aggregate` event for
  `incidents` it does what the wall does on that event, reading the incidents aggregate at once (from Redis,
  with read_aggregates, like the wall's refresh callback), and records when that read finished and the state
  of every incident it shows;
- a dispatcher, logged in as `dispatch` (session cookie + the X-CSRFToken header), takes N actions through
  POST /api/v1/incidents/<id>/actions with an Idempotency-Key, alternating "acknowledge" on a new incident
  the wall shows (the simulator reports them; one is created through POST /api/v1/incidents when none is
  new) and "dispatch" of the first suggested unit (GET …/suggestions) to an incident it acknowledged;
- the latency of an action is from just before its POST is sent to the first read on the second screen
  that shows the incident in its new state. Actions are spaced by a random 0.1–0.5 s so they fall on every
  phase of the one-second tick.
The wall's own HTTP refresh round trip (a few ms, measured in part A) comes on top.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
import uuid
from typing import Any

from bench.common import HttpClient, encode, fmt_summary, heading, percentile, say, summary, warn
from dashboard.live.schema import AGG_INCIDENTS

N_ACTIONS = 30
# A --quick run's: enough for every figure of the line (both actions, a p95), a smoke run of the code.
N_ACTIONS_QUICK = 10
SEEN_TIMEOUT_S = 5.0
SPACING_S = (0.1, 0.5)
STREAM_PATH = "/api/v1/stream"


class ScreenWatcher:
    """The second screen: the push stream as `duty`, and a read of the incidents aggregate on each event."""

    def __init__(self, port: int, password: str, redis_url: str) -> None:
        from dashboard.live.connections import make_redis

        self.port = port
        self.r = make_redis(redis_url)
        login = HttpClient("127.0.0.1", port)
        login.login("duty", password)
        self.cookies = dict(login.cookies)
        login.close()
        self.conn: http.client.HTTPConnection | None = None
        self.reads: list[tuple[float, dict[int, str]]] = []  # (perf_counter after the read, id -> state)
        self.events = 0
        self.error: str | None = None
        self.cond = threading.Condition()
        self.stopping = False
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-screen", daemon=True)

    def start(self) -> None:
        """Open the stream (in a thread) and wait until it answers."""
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError(f"the push stream did not open: {self.error}")
        if self.error:
            raise RuntimeError(f"the push stream did not open: {self.error}")

    def read_now(self) -> dict[int, str]:
        """What the wall would show now: id -> state of the incidents in the aggregate."""
        from dashboard.live.aggregates import read_aggregates

        env: Any = read_aggregates(self.r, [AGG_INCIDENTS])[AGG_INCIDENTS]
        items = env["data"]["items"] if env else []
        return {int(i["id"]): str(i["state"]) for i in items}

    def _run(self) -> None:
        try:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            self.conn.request("GET", STREAM_PATH, headers={"Accept": "text/event-stream", "Cookie": cookie})
            resp = self.conn.getresponse()
            if resp.status != 200:
                self.error = f"{resp.status} {resp.read()[:200]!r}"
                self.ready.set()
                return
            self.ready.set()
            event = ""
            while not self.stopping:
                raw = resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    if event == "aggregate" and line[5:].strip() == "incidents":
                        shown = self.read_now()
                        t = time.perf_counter()
                        with self.cond:
                            self.events += 1
                            self.reads.append((t, shown))
                            self.cond.notify_all()
                elif not line:
                    event = ""
        except Exception as exc:
            if not self.stopping:
                self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()
            with self.cond:
                self.cond.notify_all()

    def wait_for(self, incident_id: int, state: str, since: float, timeout: float) -> float | None:
        """perf_counter of the first read after `since` that shows the incident in `state`, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, shown in self.reads:
                    if t >= since and shown.get(incident_id) == state:
                        return t
                left = deadline - time.monotonic()
                if left <= 0 or self.error:
                    return None
                self.cond.wait(left)

    def stop(self) -> None:
        """Close the stream."""
        self.stopping = True
        if self.conn is not None:
            with contextlib.suppress(Exception):
                if self.conn.sock is not None:
                    self.conn.sock.shutdown(2)
            self.conn.close()
        self.thread.join(5)


def _post_json(client: HttpClient, path: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any], float]:
    status, data, elapsed, _ = client.request(
        "POST", path, encode(body),
        {"Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": key},
    )
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {"raw": data[:200].decode("utf-8", "replace")}
    return status, doc, elapsed


def _create_incident(client: HttpClient) -> int:
    """A new incident by hand (as the console does); its id."""
    status, doc, _ = _post_json(client, "/api/v1/incidents", {
        "category": "fire", "severity": 3, "title": "压测 火情", "lon": 116.4170, "lat": 39.9240,
    }, f"bench-create-{uuid.uuid4().hex}")
    if status not in (200, 201):
        raise RuntimeError(f"POST /api/v1/incidents answered {status}: {doc}")
    return int(doc["incident"]["id"])


def _suggested_unit(client: HttpClient, incident_id: int) -> int | None:
    status, data, _, _ = client.request("GET", f"/api/v1/incidents/{incident_id}/suggestions?limit=1")
    if status != 200:
        return None
    rows = json.loads(data).get("suggestions") or []
    return int(rows[0]["id"]) if rows else None


def run_actions(port: int, password: str, redis_url: str, n: int = N_ACTIONS, seed: int = 7) -> dict[str, Any]:
    """Take `n` actions as `dispatch` and time each until the second screen shows it; the figures."""
    heading(f"Part A+: action to screen, {n} incident actions on the live system")
    rng = random.Random(seed)
    screen = ScreenWatcher(port, password, redis_url)
    screen.start()
    dispatcher = HttpClient("127.0.0.1", port)
    dispatcher.login("dispatch", password)
    used: set[int] = set()
    acknowledged: list[int] = []
    latencies: list[float] = []
    api_ms: list[float] = []
    by_action: dict[str, list[float]] = {"acknowledge": [], "dispatch": []}
    missed: list[dict[str, Any]] = []
    refused = created = 0
    t_start = time.monotonic()
    try:
        for i in range(n):
            time.sleep(rng.uniform(*SPACING_S))
            body: dict[str, Any]
            unit = None
            if i % 2 == 1 and acknowledged:
                incident_id = acknowledged.pop(0)
                unit = _suggested_unit(dispatcher, incident_id)
            if unit is not None:
                action, expected, body = "dispatch", "dispatched", {"action": "dispatch", "unit_id": unit}
            else:
                fresh = [k for k, v in screen.read_now().items() if v == "new" and k not in used]
                if fresh:
                    incident_id = max(fresh)  # the newest: it stays among the items the wall shows
                else:
                    incident_id = _create_incident(dispatcher)
                    created += 1
                    time.sleep(0.3)
                action, expected, body = "acknowledge", "acknowledged", {"action": "acknowledge"}
            used.add(incident_id)
            t0 = time.perf_counter()
            status, doc, elapsed = _post_json(
                dispatcher, f"/api/v1/incidents/{incident_id}/actions", body, f"bench-{uuid.uuid4().hex}"
            )
            if status != 200:
                refused += 1
                say(f"  {action} on incident {incident_id} answered {status}: {doc.get('reason') or doc}")
                continue
            api_ms.append(elapsed * 1000)
            if doc.get("incident", {}).get("state") != expected:
                expected = str(doc.get("incident", {}).get("state"))
            seen = screen.wait_for(incident_id, expected, t0, SEEN_TIMEOUT_S)
            if seen is None:
                missed.append({"incident": incident_id, "action": action, "state": expected})
                continue
            ms = (seen - t0) * 1000
            latencies.append(ms)
            by_action[action].append(ms)
            if action == "acknowledge":
                acknowledged.append(incident_id)
    finally:
        dispatcher.close()
        screen.stop()
    took = time.monotonic() - t_start
    out: dict[str, Any] = {
        "n": len(latencies),
        "p50_ms": _round(percentile(latencies, 50)),
        "p95_ms": _round(percentile(latencies, 95)),
        "max_ms": _round(max(latencies) if latencies else None),
        "action_to_screen_ms": summary(latencies, 1),
        "by_action_ms": {k: summary(v, 1) for k, v in by_action.items()},
        "api_round_trip_ms": summary(api_ms, 1),
        "missed": missed,
        "refused": refused,
        "created": created,
        "incidents_events": screen.events,
        "stream_error": screen.error,
        "seconds": round(took, 1),
    }
    say(f"action → other screen ({len(latencies)} actions, {took:.0f} s): p50 {out['p50_ms']} ms · "
        f"p95 {out['p95_ms']} ms · max {out['max_ms']} ms (target p95 < 1000 ms)")
    for k, v in out["by_action_ms"].items():
        say(f"  {k:12s}: {fmt_summary(v)}")
    say(f"  API round trip of the action: {fmt_summary(out['api_round_trip_ms'])}")
    if missed or refused:
        warn(f"{len(missed)} actions not seen within {SEEN_TIMEOUT_S:g} s, {refused} refused: {missed}")
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def actions_on(system: Any, n: int = N_ACTIONS) -> dict[str, Any]:
    """`n` actions to screen on part A's running system (bench.live.run_live's `after`): {"actions": figures}."""
    try:
        return {"actions": run_actions(system.port, system.password, system.redis_url, n)}
    except Exception as exc:
        warn(f"action-to-screen measurement failed: {type(exc).__name__}: {exc}")
        return {"actions": {"error": f"{type(exc).__name__}: {exc}"}}
