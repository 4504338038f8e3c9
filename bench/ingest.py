"""Part G: the ingest at capacity (`--only ingest`): the highest rate the feeds' server holds in batches of 100 and one
event per request over HTTP, and the MQTT subscriber one event per message.

The whole system runs as `make run` starts it (bench/system.py, simulator off, so that every event is the load's).
A load generator in processes of its own (bench/loadgen.py) offers increasing rates, each for STEP_S seconds, while
this process samples the age of every aggregate; a rate is held when
- the p99 of the requests' latency (from each request's scheduled time to its answer) is at most P99_LIMIT_MS;
- nothing is refused (every answer 200, every event accepted), and the load got out what it offered;
- the aggregates were never more than AGE_LIMIT_S old;
- what the answers accepted is what the stream got (keys.TELEMETRY_ADDED, counted by the ingest's own Lua).
The ramp stops at the first rate not held; the figure is the accepted events/s of the last one held. MQTT has no
answer per message: there a rate is held when every message published is stored within DRAIN_LIMIT_S of the step's
end (counted in the stream) and the aggregates stay fresh.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import heading, say, summary, warn
from bench.loadgen import Offer, Tally, offer_load
from bench.system import CpuMeter, LiveSystem

P99_LIMIT_MS = 250.0
AGE_LIMIT_S = 2.0
DRAIN_LIMIT_S = 2.0
STEP_S = 5.0
# The longest wait before a step for the tick to fold the events of the steps before it.
SETTLE_TIMEOUT_S = 60.0
BATCH = 100
# Offered events/s, in turn, until one is not held.
BATCH_RATES = (2_000, 5_000, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 100_000)
SINGLE_RATES = (250, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 10_000)
MQTT_RATES = (2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 15_000, 20_000)


def _id_s(entry_id: bytes | str) -> float:
    """The time in a stream entry's ID, seconds."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-")[0]) / 1000


class AgeSampler(threading.Thread):
    """How far behind the aggregates are, every 200 ms while a step runs: the age of the oldest aggregate, and once
    a second, when the stream holds events the tick has not folded yet, the age of the oldest of them (a tick that
    runs on time but folds only part of the backlog is behind all the same)."""

    def __init__(self, r: Any) -> None:
        super().__init__(daemon=True)
        self.r = r
        self.stop = threading.Event()
        self.worst = 0.0
        self.worst_backlog = 0.0
        self.missing = 0

    def run(self) -> None:
        from dashboard.live.aggregates import read_heads

        n = 0
        while not self.stop.wait(0.2):
            now = time.time()
            for head in read_heads(self.r).values():
                if head is None:
                    self.missing += 1
                else:
                    self.worst = max(self.worst, now - head.computed_at)
            n += 1
            if n % 5:
                continue
            self.worst_backlog = max(self.worst_backlog, _backlog_age(self.r, now))


def _backlog_age(r: Any, now: float) -> float:
    """How old the oldest event the tick has not folded yet is, seconds (0 when it has folded them all)."""
    import orjson

    from dashboard.live import keys

    raw = r.get(keys.TELEMETRY_STATE)
    newest = r.xrevrange(keys.TELEMETRY_STREAM, count=1)
    if raw is None or not newest:
        return 0.0
    cursor = str(orjson.loads(raw).get("cursor", "0-0"))
    if newest[0][0] == cursor.encode() or cursor == "0-0":
        return 0.0
    unfolded = r.xrange(keys.TELEMETRY_STREAM, min=f"({cursor}", count=1)
    return now - _id_s(unfolded[0][0]) if unfolded else 0.0


def _caught_up(r: Any, timeout_s: float = SETTLE_TIMEOUT_S) -> float:
    """Wait until the tick has folded what earlier steps stored, so that a step's aggregates' age is its own and
    not the backlog of the step before (a step not held leaves up to a few seconds of events); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s and _backlog_age(r, time.time()) > 0.0:
        time.sleep(0.2)
    return time.monotonic() - started


def _added(r: Any) -> int:
    from dashboard.live import keys

    return int(r.get(keys.TELEMETRY_ADDED) or 0)


def _step(system: Any, r: Any, rate: float, batch: int, procs: int, seconds: float, tag: str,
          mqtt: tuple[str, int, str] | None = None) -> dict[str, Any]:
    """Offer `rate` events/s for `seconds` from `procs` processes; the step's figures and whether it was held."""
    per_proc = rate / batch / procs
    conns = max(4, min(64, int(per_proc * 0.02) + 4))  # enough for 20 ms of service time each
    offers = [Offer(per_proc, seconds, batch, f"{tag}{p}", conns) for p in range(procs)]
    settled = _caught_up(r)
    if settled > 1.0:
        say(f"    (waited {settled:.1f} s for the tick to fold the earlier steps' events)")
    added0 = _added(r)
    meter: CpuMeter | None = getattr(system, "meter", None)
    cpu0 = meter.snapshot() if meter else None
    ages = AgeSampler(r)
    ages.start()
    t0 = time.monotonic()
    if mqtt is None:
        tally = offer_load(("127.0.0.1", system.ingest_port, system.token), offers)
    else:
        tally = offer_load(mqtt[:2], offers, mqtt_topic=mqtt[2])
    took = time.monotonic() - t0
    drain_s = 0.0
    if mqtt is not None:
        # From the end of the publishers' schedule, not from their return (they wait for the broker's PUBACKs).
        while _added(r) - added0 < tally.events and time.time() - tally.started_at - seconds < 10:
            time.sleep(0.05)
        drain_s = max(0.0, time.time() - tally.started_at - seconds)
    cpu = meter.report(cpu0, meter.snapshot()) if meter and cpu0 else None
    ages.stop.set()
    ages.join()
    stored = _added(r) - added0
    lat = summary(tally.latencies_ms, 1) if tally.latencies_ms else {}
    out: dict[str, Any] = {
        "offered_events_per_s": rate,
        "events": tally.events,
        "stored": stored,
        "accepted": tally.accepted if mqtt is None else stored,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "age_max_s": round(max(ages.worst, ages.worst_backlog), 2),
        "backlog_age_max_s": round(ages.worst_backlog, 2),
        "behind_ms": round(tally.late_start_ms, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "errors": tally.errors[:3],
        "accepted_events_per_s": round((stored if mqtt is not None else tally.accepted) / seconds),
    }
    if cpu is not None and stored:
        # CPU time per stored event: the feeds' server's, and every process of the system's (Redis, the tick …)
        # but the load generator's. Unlike the rates, these hardly depend on what else the machine runs.
        per = cpu["percent_of_one_core"]
        span = took
        ours = sum(v for k, v in per.items() if k != "bench (this process)")
        server = per.get("mqtt" if mqtt else "ingest", 0.0)
        out["server_cpu_us_per_event"] = round(server / 100 * span / stored * 1e6, 1)
        out["system_cpu_us_per_event"] = round(ours / 100 * span / stored * 1e6, 1)
        out["server_cpu_percent"] = server
    why = _why_not_held(tally, out, seconds, took, drain_s, mqtt is not None)
    out["held"] = not why
    out["why_not"] = why
    if mqtt is not None:
        out["drain_s"] = round(drain_s, 2)
    return out


def _why_not_held(tally: Tally, out: dict[str, Any], seconds: float, took: float, drain_s: float,
                  mqtt: bool) -> list[str]:
    why = []
    if tally.errors:
        why.append(f"load errors: {tally.errors[0]}")
    if tally.late_start_ms > 1000 * max(1.0, 0.1 * seconds):
        why.append(f"the load fell {tally.late_start_ms:.0f} ms behind its schedule")
    if out["age_max_s"] > AGE_LIMIT_S:
        why.append(f"aggregates {out['age_max_s']} s old")
    if mqtt:
        if out["stored"] != tally.events:
            why.append(f"{out['stored']} stored of {tally.events} published")
        elif drain_s > DRAIN_LIMIT_S:
            why.append(f"stored {drain_s:.1f} s after the last message")
        return why
    if out["p99_ms"] is None or out["p99_ms"] > P99_LIMIT_MS:
        why.append(f"p99 {out['p99_ms']} ms")
    if set(tally.statuses) - {200} or tally.answered < tally.sent:
        why.append(f"refused or unanswered: {out['statuses']}, {tally.sent - tally.answered} unanswered")
    if tally.not_accepted:
        why.append(f"{tally.not_accepted} events not accepted")
    if out["stored"] != tally.accepted:
        why.append(f"LOST: {tally.accepted} accepted but {out['stored']} stored")
    return why


def ramp(system: Any, r: Any, label: str, rates: tuple[int, ...], batch: int, procs: int, seconds: float,
         mqtt: tuple[str, int, str] | None = None) -> dict[str, Any]:
    """Offer each rate in turn until one is not held; the highest held and every step."""
    steps = []
    best: dict[str, Any] | None = None
    for n, rate in enumerate(rates):
        tag = "".join(ch for ch in label if ch.isalnum())
        step = _step(system, r, rate, batch, procs, seconds, f"{tag}-{n}-{int(time.time())}-", mqtt)
        steps.append(step)
        say(f"  {label}: offered {rate:>7,} ev/s → accepted {step['accepted_events_per_s']:>7,}/s, p50 "
            f"{step['p50_ms']} ms p99 {step['p99_ms']} ms, aggregates ≤ {step['age_max_s']} s, stored "
            f"{step['stored']:,} of {step['events']:,}, CPU/event {step.get('server_cpu_us_per_event')} µs server, "
            f"{step.get('system_cpu_us_per_event')} µs system, load {step['load_average']}"
            + ("" if step["held"] else f" · NOT HELD: {'; '.join(step['why_not'])}"))
        if not step["held"]:
            break
        best = step
        time.sleep(1.0)  # the server's queues empty between steps
    return {"held_events_per_s": best["accepted_events_per_s"] if best else 0,
            "server_cpu_us_per_event": (best or steps[0]).get("server_cpu_us_per_event"),
            "system_cpu_us_per_event": (best or steps[0]).get("system_cpu_us_per_event"),
            "held_offered_events_per_s": best["offered_events_per_s"] if best else 0,
            "lost": sum(s["accepted"] - s["stored"] for s in steps if s["stored"] < s["accepted"]),
            "steps": steps}


def _start(tmp: Path, name: str, env: dict[str, str]) -> tuple[LiveSystem, Any]:
    import redis

    # At the load generator's priority: on this shared machine other work runs at niceness 0, and a feeds' server at
    # BACKGROUND_NICE would measure the neighbours' load rather than its own capacity (a host of its own has none).
    system = LiveSystem(tmp / name, rate=0, env={"BACKGROUND_NICE": "0", **env})
    (tmp / name).mkdir(parents=True, exist_ok=True)
    system.start()
    took = system.wait_healthy()
    say(f"system up in {took:.1f} s ({', '.join(f'{k}={v}' for k, v in env.items()) or 'defaults'})")
    return system, redis.Redis.from_url(system.redis_url)


def _stop(system: LiveSystem) -> None:
    if system.proc is not None and system.proc.poll() is None:
        system.stop()
    system.kill_leftovers()


# The feeds' servers measured side by side against the same live system: the runner's own ("default": granian serving
# ops.wsgi:feeds, INGEST_WORKERS processes, ops/feeds_server.py), and beside it on ports of their own with the system's
# settings
# - "app-1": the app itself (ops.wsgi:server) in one gunicorn process of INGEST_THREADS threads, the feeds' server
#   as it was before the fast path;
# - "gunicorn": the fast path under gunicorn, INGEST_WORKERS processes of INGEST_THREADS threads, the runner's feeds'
#   server before granian;
# - "fast-1": the same in one process.
CANDIDATES = ("gunicorn", "default")
KNOWN_CANDIDATES = ("app-1", "fast-1", "gunicorn", "default")


def _candidate_argv(name: str, port: int) -> list[str] | None:
    """The command line of a candidate feeds' server on `port` (None: the runner's own)."""
    from ops.servers import INGEST_THREADS, WSGI_APP, feeds_gunicorn_argv, gunicorn_argv

    if name == "app-1":
        return gunicorn_argv("127.0.0.1", port, 1, INGEST_THREADS, app=WSGI_APP)
    if name == "fast-1":
        return feeds_gunicorn_argv("127.0.0.1", port, 1)
    if name == "gunicorn":
        return feeds_gunicorn_argv("127.0.0.1", port, max(2, min(8, os.cpu_count() or 2)))
    return None


def _candidate_env(system: LiveSystem) -> dict[str, str]:
    """The environment a candidate server shares with the runner's children (the same Redis, database, token)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(INSTANCE_DIR=str(system.instance), DATABASE_URL=system.db_url, REDIS_URL=system.redis_url,
               INGEST_TOKEN=system.token, SIMULATOR="off")
    return env


def _wait_port(port: int, proc: Any, timeout_s: float = 60.0) -> bool:
    """Wait until the candidate on `port` answers HTTP (its port open is not enough: gunicorn binds before its workers
    have imported the app, and a ramp started then measures their start)."""
    import http.client

    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/livez")
            conn.getresponse().read()
            conn.close()
            return True
        except (OSError, http.client.HTTPException):
            time.sleep(0.3)
    return False


def run_ingest(tmp: Path, quick: bool, candidates: tuple[str, ...] = CANDIDATES,
               with_mqtt: bool = True) -> dict[str, Any]:
    """Part G: the HTTP ramps for each candidate feeds' server against one live system, then MQTT."""
    import subprocess

    from ops.redis_server import free_port

    seconds = 3.0 if quick else STEP_S
    procs = 2
    out: dict[str, Any] = {"cpus": os.cpu_count(), "http": {}}
    heading("Part G: the feeds' server at capacity (bench/ingest.py)")
    system, r = _start(tmp, "ingest-http", {})
    try:
        for name in candidates:
            port = system.ingest_port
            proc = None
            if name != "default":
                port = free_port()
                argv = _candidate_argv(name, port)
                if argv is None:
                    say(f"candidate {name}: not installed, skipped")
                    continue
                with (tmp / f"candidate-{name}.log").open("ab") as log:
                    proc = subprocess.Popen(argv, env=_candidate_env(system), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log, start_new_session=True)
                if not _wait_port(port, proc):
                    warn(f"candidate {name} did not start (see {tmp / f'candidate-{name}.log'})")
                    proc.kill()
                    continue
                time.sleep(2.0)  # every worker up
            say(f"candidate {name} on :{port} (load average {os.getloadavg()[0]:.1f})")
            target = _Target(system, port, None if proc is None else proc.pid)
            try:
                out["http"][name] = {
                    "batch": ramp(target, r, f"{name} batches of {BATCH}", BATCH_RATES, BATCH, procs, seconds),
                    "single": ramp(target, r, f"{name} one per request", SINGLE_RATES, 1, procs, seconds),
                }
            finally:
                if proc is not None:
                    os.killpg(proc.pid, 15)
                    proc.wait(30)
        heading("Part G: a request's CPU without HTTP, the app's view against the fast path (this process)")
        out["request_cpu"] = measure_request_cpu(tmp, system.redis_url)
        for key, value in out["request_cpu"].items():
            say(f"  {key}: {value} µs")
    except BaseException:
        say("runner output (last lines):\n" + system.output_tail())
        raise
    finally:
        _stop(system)
    if with_mqtt:
        out["mqtt"] = run_mqtt(tmp, seconds, procs)
    heading("Part G: parsing and validation side by side (CPU time of this process, best of 5)")
    out["parse"] = measure_parse(100 if quick else 300)
    for key, value in out["parse"].items():
        say(f"  {key}: {value} µs")
    return out


class _Target:
    """Where a ramp's HTTP load goes: a feeds' server's port, with the system's token, and the processes whose CPU
    time counts as the server's (`server`: a session id's name in `meter`)."""

    def __init__(self, system: LiveSystem, port: int, server_pid: int | None = None) -> None:
        self.ingest_port = port
        self.token = system.token
        children = dict(system.children)  # read from pids.json once the system answered
        if server_pid is not None:  # a candidate: its own session instead of the runner's feeds' server
            children = {k: v for k, v in children.items() if k != "ingest"}
            children["ingest"] = {"pid": server_pid}
        self.meter = CpuMeter(children)


def run_mqtt(tmp: Path, seconds: float, procs: int) -> dict[str, Any] | None:
    """The MQTT subscriber's ramp, one event per message, against a Mosquitto of our own."""
    import shutil
    import subprocess

    from ops.redis_server import free_port

    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    heading("Part G: the MQTT subscriber at capacity, one event per message")
    if mosquitto is None:
        warn("mosquitto is not installed: the MQTT ramp is skipped")
        return None
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
                    f"max_inflight_messages 0\n", encoding="utf-8")
    with (tmp / "mosquitto.log").open("ab") as log:
        broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=log, stderr=log)
    try:
        system, r = _start(tmp, "ingest-mqtt", {"MQTT_URL": f"mqtt://127.0.0.1:{port}"})
        try:
            time.sleep(2.0)  # the subscriber connected and subscribed
            return ramp(_Target(system, system.ingest_port), r, "MQTT one per message", MQTT_RATES, 1, procs, seconds,
                        mqtt=("127.0.0.1", port, "dongcheng/bench/sensor_reading"))
        finally:
            _stop(system)
    finally:
        broker.terminate()
        broker.wait(10)


def summary_line(res: dict[str, Any]) -> dict[str, Any]:
    """Part G's keys in the JSON line."""
    if not res:
        return {}
    http = res.get("http", {})
    main = http.get("default") or next(iter(http.values()), {})
    out: dict[str, Any] = {
        "ingest_capacity_events_per_s": main.get("batch", {}).get("held_events_per_s"),
        "ingest_single_events_per_s": main.get("single", {}).get("held_events_per_s"),
        "ingest_lost_events": sum(part.get("lost", 0) for cand in http.values() for part in cand.values()),
        "ingest_by_server": {w: {k: v.get("held_events_per_s") for k, v in cand.items()} for w, cand in http.items()},
        # CPU µs per event at the highest rate held (or the first offered): the feeds' server's / the system's.
        "ingest_cpu_us_per_event": {w: {k: [v.get("server_cpu_us_per_event"), v.get("system_cpu_us_per_event")]
                                        for k, v in cand.items()} for w, cand in http.items()},
    }
    mqtt = res.get("mqtt")
    if mqtt:
        out["mqtt_capacity_events_per_s"] = mqtt.get("held_events_per_s")
        out["mqtt_cpu_us_per_event"] = [mqtt.get("server_cpu_us_per_event"), mqtt.get("system_cpu_us_per_event")]
    if "parse" in res:
        out.update(res["parse"])
    if "request_cpu" in res:
        out.update(res["request_cpu"])
    return out


def measure_parse(bodies: int = 300, rounds: int = 5) -> dict[str, Any]:
    """The micro-benchmark of parsing and validation side by side, CPU time of this process, best of `rounds`:
    a body of BATCH readings and a body of one, through what the ingest does (orjson, then the pydantic models:
    validate_batch) and through msgspec decoding into a typed Struct with the same per-field constraints (no
    cross-field rule: the value's range by sensor type, the district's outline, the time window, the ingest's
    field-level reasons); msgspec only when installed (it is not a dependency)."""
    import importlib.util

    import orjson

    from bench.loadgen import body, now_ts
    from dashboard.domain.events import validate_batch

    ts = now_ts()
    batches = [body("p", k, BATCH, ts) for k in range(bodies)]
    singles = [body("s", k, 1, ts) for k in range(bodies * 20)]
    ways: dict[str, Callable[[bytes], Any]] = {
        "orjson_pydantic": lambda raw: validate_batch(orjson.loads(raw), time.time(), 1000),
        "orjson_only": orjson.loads,
    }
    if importlib.util.find_spec("msgspec") is not None:
        ways.update(_msgspec_ways())
    out: dict[str, Any] = {}
    for label, data, per in (("batch", batches, BATCH), ("single", singles, 1)):
        for name, way in ways.items():
            if name.startswith("msgspec") and per == 1:
                way = _msgspec_single(way)
            best = float("inf")
            for _ in range(rounds):
                t0 = time.process_time()
                for raw in data:
                    way(raw)
                best = min(best, time.process_time() - t0)
            out[f"parse_{label}_{name}_us_per_event"] = round(best / (len(data) * per) * 1e6, 2)
    return out


def _msgspec_ways() -> dict[str, Callable[[bytes], Any]]:
    """msgspec: a reading as a typed Struct with the models' per-field constraints."""
    import importlib
    from typing import Annotated, Literal

    msgspec: Any = importlib.import_module("msgspec")  # not a dependency: imported by name, untyped

    from dashboard.domain.events import IDENTIFIER_PATTERN, SOURCE_PATTERN

    ident = Annotated[str, msgspec.Meta(pattern=IDENTIFIER_PATTERN)]
    # defstruct rather than a class body: this module's annotations are strings (PEP 563), its locals unresolvable.
    reading = msgspec.defstruct("Reading", [
        ("event_id", ident),
        ("source", Annotated[str, msgspec.Meta(pattern=SOURCE_PATTERN)]),
        ("kind", Literal["sensor_reading"]),
        ("ts", str),
        ("lon", Annotated[float, msgspec.Meta(ge=-180, le=180)]),
        ("lat", Annotated[float, msgspec.Meta(ge=-90, le=90)]),
        ("sensor_id", ident),
        ("sensor_type", str),
        ("value", float),
        ("pole_id", ident | None, None),
    ], forbid_unknown_fields=True)

    many = msgspec.json.Decoder(list[reading])  # type: ignore[valid-type]
    one = msgspec.json.Decoder(reading)
    _ONE_DECODERS[id(many.decode)] = one.decode
    return {"msgspec_struct": many.decode}


_ONE_DECODERS: dict[int, Callable[[bytes], Any]] = {}


def _msgspec_single(way: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """The one-event decoder that goes with a list decoder."""
    return _ONE_DECODERS.get(id(way), way)


def measure_request_cpu(tmp: Path, redis_url: str, n: int = 2000, rounds: int = 3) -> dict[str, Any]:
    """CPU time per request in this process, without HTTP: werkzeug's test client posting one reading, and a batch
    of BATCH, to the app (its Flask view, as the feeds' server served it before) and to the fast path in front of it
    (dashboard/web/feeds.py), alternated `rounds` times, best round of each; on a database of its own and the live
    system's Redis (a database number of its own)."""
    import resource

    from werkzeug.test import Client

    from bench.loadgen import body, now_ts
    from dashboard.config import Config
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from dashboard.web.feeds import FeedsApp

    def cpu() -> float:
        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime

    url = redis_url.rsplit("/", 1)[0] + "/9"
    app = create_app(Config.for_tests(redis_url=url, database_url=f"sqlite:///{tmp / 'request-cpu.db'}"))
    with app.app_context():
        init_db(db_sessions().kw["bind"])
    token = app.extensions["dc_config"].ingest_token
    headers = {"Authorization": f"Bearer {token}"}
    best: dict[str, float] = {}
    seq = 0
    for _ in range(rounds):
        for name, wsgi in (("app", app), ("fast", FeedsApp(app))):
            client = Client(wsgi)
            for batch, count in ((1, n), (BATCH, max(1, n // 20))):
                t0 = cpu()
                for _ in range(count):
                    seq += 1
                    resp = client.post("/api/v1/events", data=body(f"cpu{name}", seq, batch, now_ts()),
                                       headers=headers, content_type="application/json")
                    if resp.status_code != 200:
                        raise RuntimeError(f"{name}: {resp.status_code} {resp.get_data()[:200]!r}")
                key = f"request_cpu_{name}_{'single' if batch == 1 else 'batch'}_us"
                best[key] = min(best.get(key, float("inf")), (cpu() - t0) / count * 1e6)
        best.update({k: min(best.get(k, float("inf")), v) for k, v in _mqtt_cpu(app, n, seq, cpu).items()})
        seq += n
    return {k: round(v, 1) for k, v in best.items()}


def _mqtt_cpu(app: Any, n: int, seq: int, cpu: Callable[[], float]) -> dict[str, float]:
    """CPU per message of the MQTT subscriber's own work for what one network read brings (ops/mqtt.py
    Subscriber.handle_many: parsing, validation, one round trip to Redis for the read, the counters), for reads of
    one message and of ten; paho's reading and acknowledging are not in it."""
    from bench.loadgen import body, now_ts
    from dashboard.config import MqttTarget
    from dashboard.web.extensions import CONFIG, REDIS, SESSIONS
    from ops.mqtt import Subscriber

    cfg = app.extensions[CONFIG]
    sub = Subscriber(cfg, MqttTarget("127.0.0.1", 1883), app.extensions[REDIS], app.extensions[SESSIONS])
    topic = f"{cfg.mqtt_prefix}/bench/sensor_reading"
    out: dict[str, float] = {}
    for per in (1, 10):
        reads = [[(topic, body(f"cpumqtt{per}", seq + k * per + j, 1, now_ts())) for j in range(per)]
                 for k in range(max(1, n // per))]
        t0 = cpu()
        for read in reads:
            sub.handle_many(read)
        out[f"request_cpu_mqtt_{'single' if per == 1 else 'read_of_10'}_us_per_message"] = (
            (cpu() - t0) / (len(reads) * per) * 1e6)
    return out
