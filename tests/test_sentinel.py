"""Redis through Sentinel, against real processes: a master, a replica and three sentinels of the test's own (the
bundled redis-server on free ports, a fast failover), whose master is SIGKILLed to prove that every kind of client
follows the failover: a client of dashboard/live/connections.py (the same object and a new one), the metrics
collector, the push hub's subscription (its streams end with bye/redis, the next stream subscribes to the new master,
the web's sessions and throttle work on it), and an RQ worker and the scheduler started as `dongcheng worker` and
`dongcheng scheduler` start them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from rq import Queue
from rq.cli.helpers import get_redis_from_config

from dashboard.config import ROOT, Config, ConfigError
from dashboard.live import keys
from dashboard.live.connections import limiter_storage, make_redis, rq_settings
from dashboard.observe.collectors import RedisStateCollector, scrape_redis
from ops.redis_sentinels import SETTLE_S, SentinelSet
from tests.helpers import login
from tests.servers import serve_app, wait_for
from tests.test_push import SSE


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    """A running master, replica and three sentinels, stopped after the test whatever it did."""
    found = SentinelSet(tmp_path / "sentinel-set")
    try:
        found.start()
        yield found
    finally:
        found.stop()


@pytest.fixture
def sentinel_config(sentinels: SentinelSet, tmp_path: Path) -> Config:
    """The product's configuration on the sentinel set (database 3 of its master), read from the environment."""
    return Config.from_env({**sentinels.env, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})


# --- the settings ----------------------------------------------------------------------------------------------


def test_sentinel_settings_are_read_and_redis_url_gives_only_the_database() -> None:
    config = Config.from_env({"REDIS_SENTINELS": "10.0.0.1:26379, [::1]:26380", "REDIS_URL": "redis://:pw@x/5",
                              "REDIS_SENTINEL_PASSWORD": "sentinel-pw"})
    target = config.redis
    assert target.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (target.master, target.sentinel_password, target.url) == ("dongcheng", "sentinel-pw", "redis://:pw@x/5")
    assert Config.from_env({}).redis.sentinels == ()  # unset: REDIS_URL itself, no Sentinel


@pytest.mark.parametrize(("env", "named"), [
    ({"REDIS_SENTINELS": "10.0.0.1"}, "REDIS_SENTINELS"),
    ({"REDIS_SENTINELS": "10.0.0.1:26379,host:port"}, "REDIS_SENTINELS"),
    ({"REDIS_SENTINELS": "10.0.0.1:70000"}, "REDIS_SENTINELS"),
    ({"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "my master"}, "REDIS_SENTINEL_MASTER"),
    ({"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_URL": "unix:///tmp/redis.sock"}, "REDIS_URL"),
    ({"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_URL": "redis://h/zero"}, "REDIS_URL"),
])
def test_an_invalid_sentinel_setting_is_refused_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env)


def test_the_master_password_comes_from_redis_url_and_the_sentinels_from_their_own_setting(tmp_path: Path) -> None:
    guarded = SentinelSet(tmp_path / "guarded", password="master-pw", sentinel_password="sentinel-pw")
    try:
        guarded.start()
        config = Config.from_env(guarded.env)
        # Each sentinel refuses a client without its password, and the master one without the master's: both reached.
        client = make_redis(config.redis)
        client.set("k", "v")
        assert guarded.server(guarded.master_port, 3).get("k") == b"v"
        # The two clients other libraries make, from the same settings: rq's and the throttle's.
        assert get_redis_from_config(rq_settings(config.redis)).set("rq", "1")
        uri, options = limiter_storage(config.redis)
        assert MovingWindowRateLimiter(storage_from_string(uri, **options)).hit(parse("1 per minute"), "who")
        assert guarded.server(guarded.master_port, 3).get("rq") == b"1"
        assert guarded.server(guarded.master_port, 3).keys("LIMITS*")
    finally:
        guarded.stop()


# --- clients follow a failover ---------------------------------------------------------------------------------


def test_a_client_writes_through_sentinel_and_the_same_client_and_the_collector_follow_a_failover(
    sentinels: SentinelSet, sentinel_config: Config
) -> None:
    client = make_redis(sentinel_config.redis)
    collector = RedisStateCollector(scrape_redis(sentinel_config.redis))
    client.set("before", "1")
    assert client.get("before") == b"1"
    # Written to the master of the set, in the database REDIS_URL names.
    assert sentinels.server(sentinels.master_port, 3).get("before") == b"1"
    client.wait(1, 2000)  # on the replica too, so that the failover keeps it

    sentinels.fail_master()
    # The same object: its pool asks the sentinels again and reaches the promoted replica.
    client.set("after", "2")
    assert client.get("before") == b"1" and client.get("after") == b"2"
    assert sentinels.server(sentinels.replica_port, 3).get("after") == b"2"
    fresh = make_redis(sentinel_config.redis)
    fresh.set("fresh", "3")
    assert sentinels.server(sentinels.replica_port, 3).get("fresh") == b"3"
    # The exporter's collector, made before the failover, reads the new master.
    up = next(m for m in collector.collect() if m.name == "dongcheng_redis_up")
    assert up.samples[0].value == 1


def test_push_streams_end_on_a_failover_and_a_new_stream_works_on_the_new_master(
    sentinels: SentinelSet, sentinel_config: Config
) -> None:
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.api.hub import CFG_HEARTBEAT_S
    from dashboard.web.extensions import db_sessions
    from tests.helpers import seed_users

    app = create_app(replace(sentinel_config, testing=True, simulator=False, secret_key="test-secret"))
    app.config[CFG_HEARTBEAT_S] = 0.2
    with app.app_context():
        init_db(db_sessions().kw["bind"])
        seed_users(db_sessions())
    publisher = make_redis(sentinel_config.redis)
    with serve_app(app) as port:
        cookie = _signed_in(app)
        stream = SSE(port, cookie)
        try:
            stream.wait_for(lambda i: i.get("comment") == "connected", timeout=5)
            publisher.publish(keys.updates_channel(3), "kpi")
            stream.wait_for(lambda i: i.get("data") == "kpi", timeout=5)
            publisher.wait(1, 2000)  # the session and the throttle's count are on the replica too
            assert _failed_sign_ins(sentinels.server(sentinels.master_port, 3)) == 1
            sentinels.fail_master()
            bye = stream.wait_for(lambda i: i.get("event") == "bye", timeout=10)
            assert bye["data"] == "redis"
        finally:
            stream.close()
        # The web on the new master: a sign-in (its session record, the throttle's counters) and a new stream.
        again = SSE(port, _signed_in(app))
        try:
            again.wait_for(lambda i: i.get("comment") == "connected", timeout=10)
            publisher.publish(keys.updates_channel(3), "traffic")
            again.wait_for(lambda i: i.get("data") == "traffic", timeout=5)
        finally:
            again.close()
    # The throttle counted the failed sign-in after the failover on the new master, beside the one before.
    assert _failed_sign_ins(sentinels.server(sentinels.replica_port, 3)) == 2
    app.extensions["dc_redis"].close()


def _failed_sign_ins(r: redis.Redis) -> int:
    """Failed sign-ins the throttle counts per client address (its moving window: a list per address)."""
    return sum(int(r.llen(k)) for k in r.keys(f"*{keys.LIMITER_PREFIX}/*login-address*"))


def _signed_in(app: Any) -> str:
    """A signed-in session (a failed attempt first, which the throttle counts) as a Cookie header value."""
    c = app.test_client()
    assert login(c, "duty", "wrong password").status_code != 302
    assert login(c, "duty").status_code == 302
    cookie = c.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}"


def test_a_worker_and_the_scheduler_started_with_the_sentinel_settings_carry_on_after_a_failover(
    sentinels: SentinelSet, sentinel_config: Config, tmp_path: Path
) -> None:
    from dashboard.store.engine import make_engine
    from dashboard.store.schema import init_db

    engine = make_engine(sentinel_config.database_url)
    init_db(engine)  # the tick reads the database
    engine.dispose()
    env = {**os.environ, **sentinels.env, "SIMULATOR": "off", "RQ_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
           "DATABASE_URL": sentinel_config.database_url}
    env.pop("RQ_REDIS_URL", None)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("worker", "scheduler"):
        with (tmp_path / f"{name}.log").open("wb") as out:
            procs[name] = subprocess.Popen([sys.executable, "-m", "ops.cli", name], cwd=ROOT, env=env, stdout=out,
                                           stderr=subprocess.STDOUT)
    try:
        client = make_redis(sentinel_config.redis)
        queue = Queue(keys.QUEUE_DEFAULT, connection=client)
        first = queue.enqueue("time.time", result_ttl=600)
        wait_for("the job enqueued before the failover", lambda: _finished(first), SETTLE_S, 0.1)
        sentinels.fail_master()
        failed_over_at = time.time()
        second = queue.enqueue("time.time", result_ttl=600)
        wait_for(f"the job enqueued after the failover (see {tmp_path}/worker.log)", lambda: _finished(second),
                 SETTLE_S, 0.1)
        promoted = sentinels.server(sentinels.replica_port, 3)
        assert Queue(keys.QUEUE_DEFAULT, connection=promoted).fetch_job(second.id) is not None
        # The scheduler enqueues the tick on the new master, and the worker's tick writes there.
        wait_for(f"a tick after the failover (see {tmp_path}/scheduler.log)",
                 lambda: float(promoted.get(keys.LAST_TICK) or 0) > failed_over_at, SETTLE_S, 0.1)
        assert all(proc.poll() is None for proc in procs.values())
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _finished(job: Any) -> bool:
    """True when `job` finished (a Redis that does not answer yet counts as not yet)."""
    try:
        return bool(job.get_status(refresh=True) == "finished")
    except redis.RedisError:
        return False
