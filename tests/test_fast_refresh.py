"""An incident action reaches the screens at once: notify_change enqueues an immediate tick (RQ, real Redis), and
a tick that finds the lock held never loses the change."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.live import aggregates, keys, publish
from dashboard.live.connections import make_redis
from dashboard.live.schema import AGG_INCIDENTS
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.services.incidents import ActionRequest
from dashboard.store.engine import session_factory, session_scope
from dashboard.store.models import User
from tests.helpers import seed_users
from workers import prompt
from workers.tick import run_tick

DONGSI = (116.4170, 39.9240)


@pytest.fixture
def rq_redis(redis_url: str) -> redis.Redis:
    """A plain client for RQ (no socket timeout, as the rq CLI uses)."""
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def job_sessions(monkeypatch: pytest.MonkeyPatch, redis_url: str, db_url: str, engine: Engine) -> sessionmaker[Session]:
    """Point the jobs' Config.from_env() at the test Redis and database; demo users seeded."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    sessions = session_factory(engine)
    seed_users(sessions)
    return sessions


def actor(sessions: sessionmaker[Session], role: str = "dispatch") -> Actor:
    with sessions() as s:
        u = s.scalars(select(User).where(User.role == role)).one()
        return Actor(u.id, u.username, u.role)


def new_incident(sessions: sessionmaker[Session]) -> int:
    with session_scope(sessions) as s:
        res = svc.create_incident(s, {"category": "fire", "severity": 2, "title": "东四 火情", "lon": DONGSI[0],
                                      "lat": DONGSI[1]}, actor(sessions), f"create-{uuid.uuid4().hex}")
    return int(res.incident["id"])


def acknowledge(sessions: sessionmaker[Session], incident_id: int) -> None:
    with session_scope(sessions) as s:
        svc.perform_action(s, incident_id, ActionRequest("acknowledge"), actor(sessions), uuid.uuid4().hex)


def shown_state(r: redis.Redis, incident_id: int) -> str | None:
    """The incident's state in the incidents aggregate the screens read (None when not there)."""
    env: Any = aggregates.read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS]
    if env is None:
        return None
    return next((i["state"] for i in env["data"]["items"] if i["id"] == incident_id), None)


def test_an_action_enqueues_an_immediate_tick_that_shows_it(
    rq_redis: redis.Redis, r: redis.Redis, job_sessions: sessionmaker[Session]
) -> None:
    incident_id = new_incident(job_sessions)
    assert run_tick(r, job_sessions, time.time())["status"] == "ok"
    assert shown_state(r, incident_id) == "new"

    acknowledge(job_sessions, incident_id)
    publish.notify_change(r, incident_id, "acknowledge")  # as the API and the console do after the commit
    queue = Queue(keys.QUEUE_TICK, connection=rq_redis)
    [job_id] = queue.job_ids
    job = queue.fetch_job(job_id)
    assert job is not None and job.func_name == publish.PROMPT_TICK_JOB
    assert job.ttl == publish.PROMPT_TICK_TTL_S and job.failure_ttl == 60 and job.result_ttl == 10

    SimpleWorker([queue], connection=rq_redis).work(burst=True)

    assert job.get_status(refresh=True) == "finished", job.latest_result()
    assert job.return_value()["status"] == "ok", job.return_value()
    assert shown_state(r, incident_id) == "acknowledged"
    assert r.get(keys.PROMPT_TICK_PENDING) is None


def test_changes_while_a_prompt_tick_is_queued_share_it_and_later_ones_get_their_own(
    rq_redis: redis.Redis, r: redis.Redis, job_sessions: sessionmaker[Session]
) -> None:
    queue = Queue(keys.QUEUE_TICK, connection=rq_redis)
    assert publish.request_tick(r)
    assert not publish.request_tick(r)  # pending and not started: it will see this change too
    publish.notify_many(r, [(1, "x"), (2, "y")])
    assert queue.count == 1
    SimpleWorker([queue], connection=rq_redis).work(burst=True)
    assert queue.count == 0
    assert publish.request_tick(r)  # the first one has started (and finished): a new change needs a new tick
    assert queue.count == 1
    # The mark expires with the job's ttl, so a lost job never blocks prompt ticks for long.
    assert 0 < r.ttl(keys.PROMPT_TICK_PENDING) <= publish.PROMPT_TICK_TTL_S


def test_a_prompt_tick_that_finds_the_lock_held_waits_and_ticks_again(
    r: redis.Redis, job_sessions: sessionmaker[Session]
) -> None:
    """The tick holding the lock may have read SQL before the commit: the prompt tick must not just give up."""
    incident_id = new_incident(job_sessions)
    assert run_tick(r, job_sessions, time.time())["status"] == "ok"
    r.set(keys.TICK_LOCK, "an-older-tick", px=keys.TICK_LOCK_TTL_MS)  # it read SQL before the action
    acknowledge(job_sessions, incident_id)
    threading.Timer(0.3, r.delete, args=(keys.TICK_LOCK,)).start()

    t0 = time.monotonic()
    result = prompt.run_prompt_tick(r, job_sessions)

    assert result["status"] == "ok"
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert shown_state(r, incident_id) == "acknowledged"


def test_a_prompt_tick_stops_when_a_newer_tick_takes_the_lock(
    r: redis.Redis, job_sessions: sessionmaker[Session]
) -> None:
    r.set(keys.TICK_LOCK, "an-older-tick", px=keys.TICK_LOCK_TTL_MS)

    def newer() -> None:  # the older one finished and a newer tick (started after the change) took over
        r.set(keys.TICK_LOCK, "a-newer-tick", px=keys.TICK_LOCK_TTL_MS)

    threading.Timer(0.2, newer).start()
    assert prompt.run_prompt_tick(r, job_sessions)["status"] == "covered"


def test_a_prompt_tick_gives_up_after_its_wait_and_leaves_it_to_the_regular_tick(
    r: redis.Redis, job_sessions: sessionmaker[Session]
) -> None:
    r.set(keys.TICK_LOCK, "a-stuck-tick", px=keys.TICK_LOCK_TTL_MS)
    t0 = time.monotonic()
    assert prompt.run_prompt_tick(r, job_sessions, wait_s=0.3)["status"] == "skipped"
    assert time.monotonic() - t0 < 1.0


def test_redis_down_loses_only_the_prompt_tick() -> None:
    dead = make_redis("redis://127.0.0.1:1/0")
    assert publish.request_tick(dead) is False  # logged, never raised: the change is saved, the regular tick shows it
