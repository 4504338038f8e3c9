"""Prometheus metrics, scraped for real from each kind of process: the web app (its /metrics refused without the token),
a real gunicorn with two workers whose counters are summed, the feeds counting accepted and rejected events, an RQ
worker running jobs and the scheduler enqueuing them (through `dongcheng exporter`), and the aggregate-age gauge read
from Redis, which a lost Redis never turns into a failed scrape. JSON log lines parse as JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from dashboard import store
from dashboard.config import Config, ConfigError
from dashboard.live import keys
from dashboard.live.aggregates import write_aggregates
from dashboard.live.schema import AGGREGATES
from dashboard.observe.collectors import RedisStateCollector, scrape_redis
from dashboard.observe.exposition import scrape
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.schema import init_db
from dashboard.web.api.stream import STREAM_PATH
from ops.redis_server import free_port
from ops.runner import ROOT
from ops.servers import gunicorn_argv
from ops.tick_bench import make_registry
from tests.helpers import login, reading
from tests.servers import wait_for
from workers import tick as tick_mod

TOKEN = "scrape-token"
INGEST = "test-token"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, labels) -> value."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when absent (a counter never incremented)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def _get(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    """GET `url` (with the scrape token): status and body."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with _NO_PROXY.open(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""  # not listening (yet)


def _post(url: str, body: Any) -> int:
    """POST JSON to the ingest: the status."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {INGEST}"})
    try:
        with _NO_PROXY.open(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# --- the web app ---------------------------------------------------------------------------------------------------


@pytest.fixture
def config(redis_url: str, tmp_path: Path) -> Config:
    """conftest's `app` on SQLite only (the metrics touch no SQL), with a scrape token and one allowed network."""
    return replace(Config.for_tests(redis_url, f"sqlite:///{tmp_path / 'metrics.db'}"), metrics_token=TOKEN,
                   metrics_allow=("10.0.0.0/8",))


@pytest.fixture
def metrics_app(app: Any) -> Any:
    """The app of `config`."""
    return app


def _scrape(client: Any) -> Samples:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return samples(resp.get_data(as_text=True))


def test_metrics_are_refused_without_the_token_and_answered_with_it_or_to_an_allowed_address(metrics_app: Any) -> None:
    client = metrics_app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"X-Forwarded-For": "10.0.0.1", "X-Real-IP": "10.0.0.1"}):  # a forwarded address is not trusted
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert b"dongcheng_" not in refused.data
    answered = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answered.status_code == 200
    assert answered.content_type.startswith("text/plain; version=")
    assert b"dongcheng_http_requests_total" in answered.data
    from_allowed = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.3.4"})
    assert from_allowed.status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "11.2.3.4"}).status_code == 401
    # Production trusts no address unless told; the demo trusts this machine; nonsense is refused at start.
    assert Config.from_env({"DEPLOYMENT": "production"}).metrics_allow == ()
    assert Config.from_env({}).metrics_allow == ("127.0.0.1", "::1")
    assert Config.from_env({"METRICS_ALLOW": "10.1.0.0/16, ::1"}).metrics_allow == ("10.1.0.0/16", "::1/128")
    with pytest.raises(ConfigError, match="METRICS_ALLOW"):
        Config.from_env({"METRICS_ALLOW": "intranet"})


def test_requests_are_counted_by_route_method_and_status_and_timed_without_client_paths(metrics_app: Any) -> None:
    client = metrics_app.test_client()
    before = _scrape(client)
    for _ in range(3):
        assert client.get("/livez").status_code == 200
    assert client.post("/no-such-route-4711").status_code in (401, 405)
    after = _scrape(client)
    livez = {"endpoint": "health.livez", "method": "GET"}
    assert value(after, "dongcheng_http_requests_total", **livez, status="200") - value(
        before, "dongcheng_http_requests_total", **livez, status="200") == 3
    assert value(after, "dongcheng_http_request_duration_seconds_count", **livez) - value(
        before, "dongcheng_http_request_duration_seconds_count", **livez) == 3
    assert value(after, "dongcheng_http_request_duration_seconds_bucket", **livez, le="+Inf") >= 3
    labels = {v for _, pairs in after for _, v in pairs}
    assert not [v for v in labels if "4711" in v], "a client's path became a label"


def test_the_feeds_count_accepted_and_rejected_events_by_kind_and_reason(metrics_app: Any) -> None:
    client = metrics_app.test_client()
    before = _scrape(client)
    auth = {"Authorization": f"Bearer {INGEST}"}
    end_unknown = {"event_id": "u-1", "source": "test", "kind": "incident_update", "ts": reading("x")["ts"],
                   "incident_id": "no-such-incident", "status": "resolved"}
    batch = [reading("m-1"), reading("m-2"), reading("m-3", value="much"), {"kind": "made-up", "event_id": "z"},
             end_unknown]
    assert client.post("/api/v1/events", json=batch, headers=auth).status_code == 200
    assert client.post("/api/v1/events", json=[reading("m-1")], headers=auth).status_code == 200  # a duplicate
    assert client.post("/api/v1/events", json=[reading("m-4")]).status_code == 401
    assert client.post("/api/v1/events", data="x", headers={**auth, "Content-Type": "text/plain"}).status_code == 415
    after = _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("dongcheng_ingest_events_accepted_total", kind="sensor_reading") == 2
    rejected = "dongcheng_ingest_events_rejected_total"
    assert delta(rejected, kind="sensor_reading", reason="invalid") == 1
    assert delta(rejected, kind="unknown", reason="invalid") == 1  # "made-up" never becomes a label
    assert delta(rejected, kind="incident_update", reason="unknown_reference") == 1
    assert delta(rejected, kind="sensor_reading", reason="duplicate") == 1
    assert delta("dongcheng_ingest_requests_refused_total", reason="unauthorized") == 1
    assert delta("dongcheng_ingest_requests_refused_total", reason="unsupported_media_type") == 1


def test_the_open_streams_gauge_follows_a_stream_opening_and_closing(metrics_app: Any) -> None:
    client = metrics_app.test_client()
    base = value(_scrape(client), "dongcheng_push_streams_open")
    login(client, "duty")
    stream = client.get(STREAM_PATH)
    try:
        assert stream.status_code == 200
        assert value(_scrape(client), "dongcheng_push_streams_open") == base + 1
    finally:
        stream.close()
    assert value(_scrape(client), "dongcheng_push_streams_open") == base


# --- the gauges read from Redis --------------------------------------------------------------------------------------


def test_the_aggregate_age_gauge_is_read_from_computed_at_and_a_lost_redis_never_fails_the_scrape(
    redis_url: str, r: redis.Redis
) -> None:
    write_aggregates(r, {"kpi": {"open": 1}, "traffic": {"index": 2}}, 1_000.0)
    r.set(keys.LAST_TICK, "1000.0")
    Queue(keys.QUEUE_DEFAULT, connection=redis.Redis.from_url(redis_url)).enqueue("workers.tick.tick")
    registry = CollectorRegistry()
    registry.register(RedisStateCollector(scrape_redis(redis_url), clock=lambda: 1_042.5))
    found = samples(generate_latest(registry).decode())
    assert value(found, "dongcheng_redis_up") == 1
    assert value(found, "dongcheng_aggregate_age_seconds", aggregate="kpi") == 42.5
    assert value(found, "dongcheng_aggregate_age_seconds", aggregate="traffic") == 42.5
    missing = set(AGGREGATES) - {"kpi", "traffic"}
    assert not [k for k in found if k[0] == "dongcheng_aggregate_age_seconds" and dict(k[1])["aggregate"] in missing]
    assert value(found, "dongcheng_tick_age_seconds") == 42.5
    assert value(found, "dongcheng_rq_queue_depth", queue=keys.QUEUE_DEFAULT) == 1
    assert value(found, "dongcheng_rq_queue_depth", queue=keys.QUEUE_TICK) == 0
    assert ("dongcheng_rq_failed_jobs", frozenset({("queue", keys.QUEUE_TICK)})) in found
    assert value(found, "dongcheng_rq_workers_live", queue=keys.QUEUE_TICK) == 0

    # Nothing listens there: the scrape still answers, saying Redis is down, with this process's own metrics.
    gone = RedisStateCollector(scrape_redis(f"redis://127.0.0.1:{free_port()}/0"))
    text = scrape(Config.for_tests(redis_url), [gone]).decode()
    down = samples(text)
    assert value(down, "dongcheng_redis_up") == 0
    assert "dongcheng_aggregate_age_seconds" not in text
    assert "dongcheng_http_requests_total" in text or "dongcheng_ticks_total" in text


# --- real processes ------------------------------------------------------------------------------------------------


def _process_env(tmp_path: Path, redis_url: str, db_url: str, metrics_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a product process started by a test."""
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "DEPLOYMENT")}
    env.update(REDIS_URL=redis_url, DATABASE_URL=db_url, SECRET_KEY="metrics-test", INGEST_TOKEN=INGEST,
               METRICS_TOKEN=TOKEN, METRICS_ALLOW="none", SIMULATOR="off", INSTANCE_DIR=str(tmp_path / "instance"),
               PYTHONUNBUFFERED="1", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), LOG_FORMAT="json")
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's group, SIGKILL what is left after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _children(pid: int) -> list[int]:
    """Live children of `pid` (a gunicorn master's workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _accepted_per_process(metrics_dir: Path) -> dict[int, float]:
    """pid -> telemetry events that gunicorn worker accepted, read from its own file in the shared directory."""
    out: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, val, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            if sample == "dongcheng_ingest_events_accepted_total" and labels == {"kind": "sensor_reading"}:
                out[pid] = out.get(pid, 0.0) + val
    return out


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` parsed as a JSON object (fails on one that is not)."""
    out = []
    for line in text.splitlines():
        if line.strip():
            parsed = json.loads(line)
            assert isinstance(parsed, dict), line
            out.append(parsed)
    return out


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc to find gunicorn's workers")
def test_gunicorn_with_two_workers_sums_their_counters_marks_dead_workers_and_logs_json(
    tmp_path: Path, redis_url: str
) -> None:
    """The feeds' events posted one connection at a time until both workers took some: one scrape of either worker
    reports the sum; a stale file of an earlier run is gone; a killed worker's live gauge leaves with it; every line
    gunicorn and the app write is JSON, the access lines with their request time and without the query string."""
    db_url = f"sqlite:///{tmp_path / 'gunicorn.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    engine.dispose()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")
    port = free_port()
    out_path = tmp_path / "gunicorn.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(gunicorn_argv("127.0.0.1", port, 2, 2), cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=_process_env(tmp_path, redis_url, db_url, metrics_dir))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("gunicorn to answer", lambda: proc.poll() is None and _get(f"{base}/livez")[0] == 200, 90)
        assert not (metrics_dir / "counter_999999.db").exists()
        posted = 0
        while len([n for n in _accepted_per_process(metrics_dir).values() if n]) < 2:
            assert posted < 500, f"500 connections, one worker: {_accepted_per_process(metrics_dir)}"
            assert _post(f"{base}/api/v1/events", [reading(f"g-{posted}")]) == 200
            posted += 1
        assert _post(f"{base}/api/v1/events", [reading("bad", value="much")]) == 422
        status, text = _get(f"{base}/metrics")
        assert status == 200, text
        found = samples(text)
        per_process = _accepted_per_process(metrics_dir)
        assert value(found, "dongcheng_ingest_events_accepted_total", kind="sensor_reading") == posted
        assert sum(per_process.values()) == posted and len(per_process) == 2
        assert value(found, "dongcheng_ingest_events_rejected_total", kind="sensor_reading", reason="invalid") == 1
        assert _get(f"{base}/metrics", token=None)[0] == 401
        assert _get(f"{base}/livez?token=secret-in-query")[0] == 200

        # A worker killed outright: gunicorn's child_exit marks it dead, and its live gauge's file goes.
        victim = _children(proc.pid)[0]
        assert (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        wait_for("the killed worker's live gauge to be removed",
                 lambda: not (metrics_dir / f"gauge_livesum_{victim}.db").exists(), 30)
        assert (metrics_dir / f"counter_{victim}.db").exists()  # its counts stay in the sums
        wait_for("a replacement worker", lambda: len(_children(proc.pid)) == 2, 60)
    finally:
        _stop(proc)
    lines = _json_lines(out_path.read_text())
    assert any(line.get("logger") == "gunicorn.error" for line in lines)
    access = [line for line in lines if line.get("logger") == "gunicorn.access"]
    assert access and all(isinstance(line["duration_ms"], int) for line in access)
    livez = [line for line in access if line.get("path") == "/livez"]
    assert livez and all(line["status"] == "200" and line["method"] == "GET" for line in livez)
    assert "secret-in-query" not in out_path.read_text()
    assert any(line["message"].endswith(f'{line["duration_ms"]}ms "Python-urllib/{sys.version_info[0]}.'
                                        f'{sys.version_info[1]}"') for line in livez)


def test_an_rq_worker_and_the_scheduler_are_scraped_through_the_host_exporter(tmp_path: Path, redis_url: str) -> None:
    """`dongcheng worker` runs a tick and a failing job, `dongcheng scheduler` enqueues, both into one directory that
    `dongcheng exporter` serves with the gauges read from Redis; the worker's JSON log lines parse."""
    db_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    with session_factory(engine).begin() as s:
        store.sensors.seed_sensors(s, make_registry(10))
    engine.dispose()
    metrics_dir = tmp_path / "jobs"
    metrics_dir.mkdir()
    env = _process_env(tmp_path, redis_url, db_url, metrics_dir, RQ_LOG_LEVEL="INFO")
    conn = redis.Redis.from_url(redis_url)
    queue = Queue(keys.QUEUE_TICK, connection=conn)
    queue.enqueue(tick_mod.tick, result_ttl=60)
    queue.enqueue("workers.tick.tick", "an argument it does not take", failure_ttl=60)
    worker = subprocess.run([sys.executable, "-m", "ops.cli", "worker", "--", "--burst"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    logged = _json_lines(worker.stdout + worker.stderr)
    assert any(line["logger"] == "rq.worker" for line in logged), logged

    port = free_port()
    scheduler: subprocess.Popen[bytes] | None = None
    url = f"http://127.0.0.1:{port}/metrics"
    logs = (tmp_path / "exporter-and-scheduler.log").open("wb")
    exporter = subprocess.Popen([sys.executable, "-m", "ops.cli", "exporter", "--port", str(port)], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=logs, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for("the exporter to answer", lambda: exporter.poll() is None and _get(url)[0] == 200, 60)
        assert _get(url, token=None)[0] == 401
        assert _get(url, token="wrong")[0] == 401
        found = samples(_get(url)[1])
        tick = {"function": "workers.tick.tick"}
        assert value(found, "dongcheng_rq_jobs_total", **tick, outcome="success") == 1
        assert value(found, "dongcheng_rq_jobs_total", **tick, outcome="failure") == 1
        assert value(found, "dongcheng_rq_job_duration_seconds_count", **tick) == 2
        assert value(found, "dongcheng_ticks_total", outcome="ok") == 1
        assert value(found, "dongcheng_tick_duration_seconds_count") == 1
        for phase in ("read", "fold", "sql", "compute", "write"):
            assert value(found, "dongcheng_tick_phase_duration_seconds_count", phase=phase) == 1
        assert value(found, "dongcheng_redis_up") == 1
        assert value(found, "dongcheng_rq_failed_jobs", queue=keys.QUEUE_TICK) == 1
        assert value(found, "dongcheng_rq_queue_depth", queue=keys.QUEUE_TICK) == 0
        ages = {dict(k[1])["aggregate"]: v for k, v in found.items() if k[0] == "dongcheng_aggregate_age_seconds"}
        assert set(ages) == set(AGGREGATES) and all(age >= 0 for age in ages.values())

        scheduler = subprocess.Popen([sys.executable, "-m", "ops.cli", "scheduler"], cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=logs, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for("the scheduler's first enqueued tick in a scrape", lambda: value(
            samples(_get(url)[1]), "dongcheng_scheduler_enqueued_jobs_total", **tick) >= 1, 60)
    finally:
        if scheduler is not None:
            _stop(scheduler)
        _stop(exporter)
        logs.close()
    logged = _json_lines((tmp_path / "exporter-and-scheduler.log").read_text())
    assert {"ops.exporter", "rq.cron"} <= {line["logger"] for line in logged}, logged


# --- log lines -----------------------------------------------------------------------------------------------------


def test_text_logs_stay_as_they_were_and_the_runner_writes_json_lines_naming_each_child(tmp_path: Path) -> None:
    from dashboard.observe.logs import TEXT_FORMAT
    from ops.processes import Console, LogSink, as_json_line

    assert TEXT_FORMAT == "%(asctime)s %(levelname)s %(name)s: %(message)s"
    assert Config.from_env({}).log_format == "text"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Config.from_env({"LOG_FORMAT": "xml"})
    child = json.dumps({"level": "INFO", "logger": "gunicorn.error", "message": "Booting worker"})
    assert json.loads(as_json_line("web", child)) == {"process": "web", **json.loads(child)}
    printed = json.loads(as_json_line("web", 'Traceback (most recent call last):\n\x1b[31m"forged"}'))
    assert printed["process"] == "web" and printed["message"].startswith("Traceback") and "time" in printed
    console = tmp_path / "console.txt"
    with console.open("w") as out:
        sink = LogSink("runner", tmp_path / "runner.log", Console(out, json_lines=True))
        sink.write("started web (pid 42)")
        sink.write(child)
        sink.close()
    logged = _json_lines((tmp_path / "runner.log").read_text())
    assert [line["process"] for line in logged] == ["runner", "runner"]
    assert logged[0]["message"] == "started web (pid 42)" and logged[1]["logger"] == "gunicorn.error"
    # The console shows the runner's own line; the child's INFO record is routine and stays in the file alone.
    shown = _json_lines(console.read_text())
    assert [(line["process"], line["message"]) for line in shown] == [("runner", "started web (pid 42)")]
