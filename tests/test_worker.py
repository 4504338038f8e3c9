"""RQ really running the tick: a forking Worker, a SimpleWorker, and the `rq cron` configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler
from sqlalchemy import Engine

from dashboard import store
from dashboard.live import aggregates, keys
from dashboard.live.schema import AGGREGATES
from dashboard.store.engine import session_factory
from ops.tick_bench import make_registry, make_telemetry, xadd_telemetry
from workers import tick as tick_mod
from workers.clients import job_clients
from workers.schedule import TICK_SECONDS
from workers.telemetry import STATE_VERSION

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rq_redis(redis_url: str) -> redis.Redis:
    """A plain client for RQ (no socket timeout, as the rq CLI uses)."""
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, redis_url: str, db_url: str, engine: Engine) -> Engine:
    """Point the job's Config.from_env() at the test Redis and database, with a seeded registry."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    registry = make_registry(20)
    with session_factory(engine).begin() as s:
        store.sensors.seed_sensors(s, registry)
    return engine


def test_rq_worker_runs_the_tick_and_the_aggregates_appear(rq_redis: redis.Redis, job_env: Engine) -> None:
    now = time.time()
    xadd_telemetry(rq_redis, make_telemetry(200, now - 2, now, make_registry(20)))
    queue = Queue(keys.QUEUE_TICK, connection=rq_redis)
    job = queue.enqueue(tick_mod.tick, result_ttl=60)

    Worker([queue], connection=rq_redis).work(burst=True)  # forks a work horse, as `rq worker` does

    assert job.get_status(refresh=True) == "finished", job.latest_result()
    assert job.return_value()["events"] == 200
    envs = aggregates.read_aggregates(rq_redis, AGGREGATES)
    assert all(envs[name] is not None for name in AGGREGATES)
    assert envs["sensors"]["data"]["total"] >= 20  # type: ignore[index]


def test_simple_worker_reuses_its_clients_across_ticks(rq_redis: redis.Redis, job_env: Engine) -> None:
    queue = Queue(keys.QUEUE_TICK, connection=rq_redis)
    first = queue.enqueue(tick_mod.tick, result_ttl=60)
    SimpleWorker([queue], connection=rq_redis).work(burst=True)
    clients = job_clients()
    second = queue.enqueue(tick_mod.tick, result_ttl=60)
    SimpleWorker([queue], connection=rq_redis).work(burst=True)
    assert first.return_value()["status"] == second.return_value()["status"] == "ok"
    assert job_clients() is clients
    assert json.loads(rq_redis.get(keys.TELEMETRY_STATE) or "{}")["state"]["v"] == STATE_VERSION


def test_cron_config_registers_the_tick_every_second_and_enqueues_it(
    rq_redis: redis.Redis, job_env: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    scheduler = CronScheduler(connection=rq_redis)
    scheduler.load_config_from_file("workers/cron.py")
    [cron_job] = [job for job in scheduler.get_jobs() if job.func is tick_mod.tick]
    assert (cron_job.queue_name, cron_job.interval) == (keys.QUEUE_TICK, TICK_SECONDS)
    opts = cron_job.job_options
    assert opts["ttl"] <= 5 and opts["result_ttl"] <= 60 and opts["failure_ttl"] <= 3600
    assert opts["job_timeout"] <= 10  # a stuck tick is killed within seconds

    assert cron_job in scheduler.enqueue_jobs()
    queue = Queue(keys.QUEUE_TICK, connection=rq_redis)
    assert queue.count == 1
    SimpleWorker([queue], connection=rq_redis).work(burst=True)
    assert rq_redis.get(keys.LAST_TICK) is not None
    assert aggregates.aggregate_ages(rq_redis, time.time())["kpi"] is not None
