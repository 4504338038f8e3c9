"""Health that tells the truth: liveness, readiness and the detailed /healthz, each back to 200 by itself when its
cause is gone; workers that stay registered through a Redis flush or restart, proven with real worker and scheduler
processes on a Redis of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq import Worker as RqWorker

from dashboard.config import Config
from dashboard.live import health as live_health
from dashboard.live import keys
from dashboard.live.aggregates import write_aggregates
from dashboard.live.connections import make_redis
from dashboard.live.health import HEALTH_TICK_LATE_AFTER_S, PRODUCT_QUEUES
from dashboard.live.lease import Lease, LeaseTimings
from dashboard.live.schema import AGGREGATES
from dashboard.store.schema import init_db
from dashboard.web import create_app
from dashboard.web.extensions import db_sessions
from ops.jobs import scheduler_argv, worker_argv
from ops.redis_server import free_port
from tests.helpers import seed_users
from tests.openapi_check import answers_match_the_document  # noqa: F401  (checks every answer against the document)
from tests.servers import RedisProcess, stop_processes, wait_for
from workers.rq_processes import Worker

ROOT = Path(__file__).resolve().parent.parent


def _fresh(r: redis.Redis, age_s: float) -> None:
    """Every aggregate and the tick's heartbeat as a tick `age_s` seconds ago left them."""
    at = time.time() - age_s
    write_aggregates(r, {name: {"n": 1} for name in AGGREGATES}, at, extra_state={keys.LAST_TICK: repr(at)})


def _lead(r: redis.Redis) -> Lease:
    """A scheduler's hold of the scheduler lease, as a leading `dongcheng scheduler` keeps it."""
    lease = Lease(r, keys.SCHEDULER_LEASE, LeaseTimings(ttl_s=60, renew_s=1))
    assert lease.acquire()
    return lease


def _worker(r: redis.Redis, queues: tuple[str, ...] = PRODUCT_QUEUES) -> Worker:
    """One of the product's workers, registered (as its start does) but not working."""
    w = Worker([Queue(q, connection=r) for q in queues], connection=r)
    w.register_birth()
    return w


# --- the probes ----------------------------------------------------------------------------------------------------


def test_liveness_and_readiness_need_no_login_and_answer_fast(client: Any) -> None:
    live = client.get("/livez")
    assert live.status_code == 200 and live.get_json()["status"] == "ok"
    assert live.headers["Cache-Control"] == "no-store"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready" and ready.get_json()["redis"] == {"ok": True}


def test_healthz_is_200_when_all_is_well_and_a_few_late_seconds_are_no_alarm(app: Any, client: Any) -> None:
    r = app.extensions["dc_redis"]
    _worker(r)
    leader = _lead(r)
    _fresh(r, HEALTH_TICK_LATE_AFTER_S - 5)  # ten seconds late: the wall shows stale panels, monitoring is calm
    body = client.get("/healthz")
    assert body.status_code == 200, body.get_json()["problems"]
    doc = body.get_json()
    assert doc["status"] == "ok" and doc["problems"] == []
    assert live_health.detail(r, time.time())["scheduler"] == {
        "ok": True, "leader": {"host": leader.holder.host, "pid": os.getpid()}}
    # Monitoring sees who leads in /healthz itself.
    assert doc["scheduler"] == {"ok": True, "leader": {"host": leader.holder.host, "pid": os.getpid()}}
    assert doc["workers"]["count"] == doc["workers"]["registered"] == 1
    assert doc["workers"]["queues"] == dict.fromkeys(PRODUCT_QUEUES, 1)
    assert doc["thresholds"]["tick_late_after_s"] == HEALTH_TICK_LATE_AFTER_S


def test_healthz_names_what_is_degraded_and_recovers_by_itself(app: Any, client: Any) -> None:
    r = app.extensions["dc_redis"]
    _fresh(r, HEALTH_TICK_LATE_AFTER_S + 5)
    tick_only = _worker(r, (keys.QUEUE_TICK,))
    late = client.get("/healthz")
    assert late.status_code == 503 and late.headers["Retry-After"]
    problems = late.get_json()["problems"]
    assert f"no live worker on queue {keys.QUEUE_DEFAULT}" in problems
    assert any(p.startswith("last tick") for p in problems) and any(p.startswith("aggregates late") for p in problems)

    # A worker whose heartbeat stopped two minutes ago is not live, however registered.
    stale = _worker(r, (keys.QUEUE_DEFAULT,))
    r.hset(stale.key, "last_heartbeat", "2000-01-01T00:00:00.000000Z")
    assert f"no live worker on queue {keys.QUEUE_DEFAULT}" in client.get("/healthz").get_json()["problems"]

    assert "no scheduler leader" in problems
    assert late.get_json()["scheduler"] == {"ok": False, "leader": None}

    stale.heartbeat()  # it beats again, the tick catches up and a scheduler leads: all is well without a restart
    tick_only.heartbeat()
    _fresh(r, 0)
    _lead(r)
    assert client.get("/healthz").status_code == 200


def test_a_worker_registers_again_after_redis_lost_its_record(r: redis.Redis) -> None:
    w = _worker(r)
    assert [x.name for x in RqWorker.all(connection=r)] == [w.name]
    r.flushdb()  # the test's own database: what a FLUSHALL or an empty restart does to the registration
    assert RqWorker.all(connection=r) == []
    w.heartbeat()
    (back,) = RqWorker.all(connection=r)
    assert back.name == w.name and set(back.queue_names()) == set(PRODUCT_QUEUES)
    assert back.birth_date is not None and back.last_heartbeat is not None


def test_probes_and_healthz_say_503_while_redis_is_away_and_200_when_it_returns(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    app = create_app(Config.for_tests(redis_url=server.url, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    with app.app_context():
        init_db(db_sessions().kw["bind"])
    client = app.test_client()
    r = app.extensions["dc_redis"]
    try:
        _worker(r)
        _lead(r)
        _fresh(r, 0)
        assert client.get("/healthz").status_code == client.get("/readyz").status_code == 200
        server.stop()
        assert client.get("/livez").status_code == 200  # the process answers: no reason to restart it
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["redis"]["ok"] is False
        assert ready.get_json()["database"] == {"ok": True}
        health = client.get("/healthz").get_json()
        assert health["status"] == "degraded" and health["problems"][0] == "redis unreachable"
        server.start()
        assert client.get("/readyz").status_code == 200
        _worker(r)
        _lead(r)
        _fresh(r, 0)
        assert client.get("/healthz").status_code == 200
    finally:
        if server.running():
            server.stop()
        with app.app_context():
            db_sessions().kw["bind"].dispose()


def test_the_public_probes_name_a_redis_failure_by_its_kind_without_its_address(tmp_path: Path) -> None:
    """The probes answer anyone: Redis's own message ("Error 111 connecting to <host>:<port>") told them the
    internal address, as the database's never did."""
    port = free_port()
    app = create_app(Config.for_tests(redis_url=f"redis://127.0.0.1:{port}/0",
                                      database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    with app.app_context():
        init_db(db_sessions().kw["bind"])
    client = app.test_client()
    try:
        for path in ("/readyz", "/healthz"):
            resp = client.get(path)
            assert resp.status_code == 503
            assert resp.get_json()["redis"] == {"ok": False, "error": "ConnectionError"}
            assert str(port) not in resp.get_data(as_text=True)
    finally:
        with app.app_context():
            db_sessions().kw["bind"].dispose()


# --- real processes through a flush and an empty restart -----------------------------------------------------------


@pytest.fixture
def system(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Redis of our own, a SQLite database, the web app, and two workers and the scheduler started exactly as
    `dongcheng worker` and `dongcheng scheduler` start them (their logs in tmp_path)."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = Config.for_tests(redis_url=server.url, database_url=db)
    app = create_app(config)
    with app.app_context():
        init_db(db_sessions().kw["bind"])
        seed_users(db_sessions())
    env = {**os.environ, "REDIS_URL": server.url, "RQ_REDIS_URL": server.url, "DATABASE_URL": db,
           "SIMULATOR": "off", "RQ_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    for name, argv in (("worker-1", worker_argv(config)), ("worker-2", worker_argv(config)),
                       ("scheduler", scheduler_argv(config))):
        logs[name] = tmp_path / f"{name}.log"
        with logs[name].open("wb") as out:
            procs[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield {"server": server, "client": app.test_client(), "procs": procs, "logs": logs}
    finally:
        stop_processes(procs.values())
        if server.running():
            server.stop()
        with app.app_context():
            db_sessions().kw["bind"].dispose()


def test_healthz_is_200_again_within_30_s_after_redis_is_flushed_or_restarted_empty(system: dict[str, Any]) -> None:
    client, server = system["client"], system["server"]
    procs: dict[str, subprocess.Popen[bytes]] = system["procs"]

    def healthy() -> bool:
        return bool(client.get("/healthz").status_code == 200)

    def both_registered() -> bool:
        return bool(client.get("/healthz").get_json()["workers"].get("registered") == 2)

    def log_of(name: str) -> str:
        return str(system["logs"][name].read_text(errors="replace"))

    wait_for("/healthz 200 once the workers and the scheduler run", healthy, 90)
    wait_for("both workers registered", both_registered, 60)

    # FLUSHALL under the running workers and tick: registrations, aggregates, the tick's state all gone.
    make_redis(server.url).flushall()
    wait_for("/healthz 200 again after FLUSHALL", healthy, 30)
    wait_for("both workers registered again after FLUSHALL", both_registered, 30)
    assert client.get("/healthz").get_json()["workers"]["queues"] == dict.fromkeys(PRODUCT_QUEUES, 2)
    assert log_of("worker-1").count("registered again") == log_of("worker-2").count("registered again") == 1

    # Redis dies and comes back empty on the same port.
    server.stop()
    assert client.get("/healthz").status_code == 503
    wait_for("the scheduler notices Redis is gone", lambda: "Redis unreachable" in log_of("scheduler"), 30)
    server.start(empty=True)
    wait_for("/healthz 200 again after an empty restart", healthy, 30)
    wait_for("both workers registered again after the restart", both_registered, 30)
    assert "Redis is back" in log_of("scheduler")
    assert {name: proc.poll() for name, proc in procs.items()} == dict.fromkeys(procs)  # nothing was restarted


def test_the_scheduler_command_runs_the_product_cron_with_the_url_from_the_environment(tmp_path: Path) -> None:
    shown = subprocess.run([sys.executable, "-m", "workers.rq_processes", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "cron" in shown.stdout
    dead = f"redis://127.0.0.1:{free_port()}/0"
    argv = scheduler_argv(Config.for_tests(redis_url=dead))
    assert dead not in " ".join(argv)  # the URL reaches it through the environment, never argv
