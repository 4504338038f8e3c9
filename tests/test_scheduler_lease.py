"""One scheduler leads, however many run: the scheduler lease (dashboard/live/lease.py) on a real Redis, held by one
contender at a time, renewed and released only by its holder, let go by a holder that cannot renew before it can
expire; and real `dongcheng scheduler` processes on a Redis of the test's own, two at once enqueueing each tick once,
the survivor taking over from a killed or stalled leader, and /healthz's word on who leads."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq.cron import get_cron_job_history_key
from rq.cron_scheduler_registry import get_keys as cron_scheduler_names

from dashboard.config import Config, ConfigError
from dashboard.live import health as live_health
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.live.lease import Lease, LeaseTimings, current_holder
from ops.jobs import scheduler_argv
from tests.servers import RedisProcess, TcpProxy, stop_processes, wait_for
from workers.rq_processes import Scheduler
from workers.schedule import TICK_JOB_NAME, TICK_SECONDS

ROOT = Path(__file__).resolve().parent.parent
# The product's timings (Config's defaults): a 3 s lease renewed every second.
PRODUCT = LeaseTimings(ttl_s=Config().scheduler_lease_ttl_s, renew_s=Config().scheduler_lease_renew_s)
# Ticks of one scheduler are a second apart; two schedulers ticking each at its own pace make some two ticks at most
# half a second apart (their phases differ by at most half a period, one way or the other).
NOT_DOUBLED_GAP_S = 0.5
TEST_KEY = keys.PREFIX + "test:lease"
TEST_JOB = "lease-test-job"


def noop() -> None:
    """The job the in-process scheduler enqueues (never run: no worker listens)."""


def contenders(r: redis.Redis, n: int, timings: LeaseTimings, key: str = TEST_KEY) -> list[Lease]:
    """`n` contenders for one lease, each as another process would hold it (its own nonce)."""
    return [Lease(r, key, timings) for _ in range(n)]


# --- the lease ----------------------------------------------------------------------------------------------------


def test_only_one_of_several_contenders_acquiring_at_once_holds_the_lease(redis_url: str) -> None:
    leases = [Lease(make_redis(redis_url), TEST_KEY, PRODUCT) for _ in range(8)]  # a connection each
    start = threading.Barrier(len(leases))
    won: list[bool] = [False] * len(leases)

    def contend(i: int) -> None:
        start.wait()
        won[i] = leases[i].acquire()

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(leases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert won.count(True) == 1
    winner = leases[won.index(True)]
    assert [lease.holds() for lease in leases] == won
    held = current_holder(make_redis(redis_url), TEST_KEY)
    assert held == winner.holder and held.pid == os.getpid()
    assert not any(lease.keep() for lease in leases if lease is not winner)  # keep: renew, else acquire


def test_only_the_holder_renews_or_releases_the_lease(r: redis.Redis) -> None:
    holder, other = contenders(r, 2, PRODUCT)
    assert holder.acquire() and not other.acquire()
    assert not other.renew() and not other.holds()
    assert not other.release()
    assert r.get(TEST_KEY) == holder.token.encode()  # untouched by the other
    r.pexpire(TEST_KEY, 500)
    assert holder.renew() and r.pttl(TEST_KEY) > 2000  # the holder's renewal gives it the lease's whole life again
    assert holder.release() and r.get(TEST_KEY) is None and not holder.holds()
    assert not holder.renew()  # released is released
    assert other.acquire() and current_holder(r, TEST_KEY) == other.holder


def test_an_expired_lease_lets_another_in_and_its_old_holder_knows_it_no_longer_holds_it(r: redis.Redis) -> None:
    short = LeaseTimings(ttl_s=0.2, renew_s=0.1)
    first, second = contenders(r, 2, short)
    assert first.acquire() and not second.acquire()
    wait_for("the first holder's own deadline", lambda: not first.holds(), 5, every_s=0.01)
    assert r.get(TEST_KEY) == first.token.encode()  # it let go while the lease was still its own
    wait_for("the lease expires", lambda: r.get(TEST_KEY) is None, 5, every_s=0.01)
    assert second.acquire() and second.holds()
    assert not first.renew() and not first.keep() and not first.holds()
    assert current_holder(r, TEST_KEY) == second.holder


def test_a_transaction_fenced_by_the_lease_is_refused_when_the_lease_changed_hands_meanwhile(r: redis.Redis) -> None:
    holder, other = contenders(r, 2, PRODUCT)
    assert holder.acquire()
    with r.pipeline() as pipe:
        assert holder.fence(pipe)
        r.delete(TEST_KEY)  # the lease expired (as a stalled holder's does) and another took it
        assert other.acquire()
        pipe.multi()
        pipe.set(keys.PREFIX + "test:fenced", "done by the old holder")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get(keys.PREFIX + "test:fenced") is None
    with r.pipeline() as pipe:
        assert not holder.fence(pipe)  # its renewal would have failed: no longer the holder
    assert not holder.renew() and not holder.fence(r.pipeline())


def test_timings_that_leave_no_renewal_before_the_holders_deadline_are_refused() -> None:
    assert (PRODUCT.ttl_s, PRODUCT.renew_s, PRODUCT.valid_s, PRODUCT.retry_s) == (3.0, 1.0, 2.0, 0.5)
    tuned = Config.from_env({"SCHEDULER_LEASE_TTL_S": "10", "SCHEDULER_LEASE_RENEW_S": "2"})
    assert (tuned.scheduler_lease_ttl_s, tuned.scheduler_lease_renew_s) == (10.0, 2.0)
    with pytest.raises(ConfigError, match="SCHEDULER_LEASE_RENEW_S"):
        Config.from_env({"SCHEDULER_LEASE_TTL_S": "3", "SCHEDULER_LEASE_RENEW_S": "2"})
    with pytest.raises(ValueError):
        LeaseTimings(ttl_s=1.0, renew_s=0.6)  # its deadline would come before its first renewal
    with pytest.raises(ValueError):
        LeaseTimings(ttl_s=1.0, renew_s=0.0)


OPS = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["acquire", "renew", "keep", "release", "wait"]),
                         st.integers(0, 40)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_whatever_contenders_do_and_however_time_passes_a_holder_is_always_the_one_redis_names(
        r: redis.Redis, ops: list[tuple[int, str, int]]) -> None:
    r.delete(TEST_KEY)
    leases = contenders(r, 3, LeaseTimings(ttl_s=0.06, renew_s=0.03))
    for who, op, wait_ms in ops:
        if op == "wait":
            time.sleep(wait_ms / 1000)  # a stall: leases expire in Redis meanwhile, deadlines pass
        else:
            getattr(leases[who], op)()
        value = r.get(TEST_KEY)
        holding = [lease for lease in leases if lease.holds()]  # asked after Redis: held then at the latest
        assert len(holding) <= 1
        assert all(value == lease.token.encode() for lease in holding)


def test_a_leader_that_loses_redis_stops_enqueueing_before_its_lease_expires(r: redis.Redis, redis_url: str) -> None:
    target = r.connection_pool.connection_kwargs
    proxy = TcpProxy(int(target["port"]), str(target["host"]))
    # Through the proxy, with short timeouts and no retries, so that each round soon fails while the network is cut.
    through = redis.Redis.from_url(proxy.url(int(target["db"])), socket_timeout=0.3, socket_connect_timeout=0.3,
                                   retry=Retry(NoBackoff(), 0), protocol=2)
    scheduler = Scheduler(connection=through, timings=PRODUCT)
    scheduler.register(noop, queue_name="lease-test", interval=1, name=TEST_JOB)
    stop = threading.Event()
    serving = threading.Thread(target=scheduler.serve, args=(stop,), daemon=True)
    serving.start()
    history = get_cron_job_history_key(TEST_JOB)
    try:
        wait_for("the scheduler leads", scheduler.lease.holds, 10, every_s=0.01)
        wait_for("it enqueues", lambda: r.zcard(history) >= 2, 10)
        proxy.cut.set()  # the leader's host loses the network: it cannot renew
        wait_for("the cut-off leader stops counting itself the leader", lambda: not scheduler.lease.holds(), 10,
                 every_s=0.005)
        value, ttl_ms = r.get(keys.SCHEDULER_LEASE), r.pttl(keys.SCHEDULER_LEASE)
        # It stopped while Redis still held its lease: nobody else could have been leading yet.
        assert value == scheduler.lease.token.encode() and ttl_ms > 0
        enqueued = r.zcard(history)
        successor = Lease(r, keys.SCHEDULER_LEASE, PRODUCT)
        assert not successor.acquire()
        wait_for("another takes the lease once it expired", successor.acquire, 5, every_s=0.05)
        assert r.zcard(history) == enqueued
        wait_for("the cut-off leader notes it lost the lease", lambda: not scheduler.leading, 5)
    finally:
        stop.set()
        proxy.close()
        serving.join(timeout=10)
    assert not serving.is_alive()


# --- real schedulers ----------------------------------------------------------------------------------------------


def ticks_since(r: redis.Redis, since: float) -> list[float]:
    """When each tick enqueued since `since` (epoch seconds) was enqueued, in order (RQ's history of the cron job)."""
    return [at for _, at in r.zrangebyscore(get_cron_job_history_key(TICK_JOB_NAME), since, "+inf", withscores=True)]


def assert_not_doubled(ticks: list[float]) -> None:
    """One tick a second, and no two ticks closer than a scheduler's own pace allows: one scheduler enqueued each."""
    gaps = [round(b - a, 3) for a, b in pairwise(ticks)]
    assert gaps and min(gaps) >= NOT_DOUBLED_GAP_S, gaps
    # Each tick is due a period after the previous round began: n ticks span at least n - 1 periods, less the
    # first one's own delay within its round (well under a period).
    assert len(ticks) <= (ticks[-1] - ticks[0]) / TICK_SECONDS + 2, gaps


def leader_host(r: redis.Redis) -> str | None:
    """The host of the scheduler holding the lease, None when nobody does."""
    held = current_holder(r, keys.SCHEDULER_LEASE)
    return None if held is None else held.host


def leader_pid(r: redis.Redis) -> int | None:
    """The pid of the scheduler holding the lease, None when nobody does."""
    held = current_holder(r, keys.SCHEDULER_LEASE)
    return None if held is None else held.pid


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Redis of our own and a way to start `dongcheng scheduler` processes on it (their logs in tmp_path), each
    exactly as the command runs it; every process is stopped after."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    config = Config.for_tests(redis_url=server.url, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    env = {**os.environ, "REDIS_URL": server.url, "RQ_REDIS_URL": server.url, "DATABASE_URL": config.database_url,
           "SIMULATOR": "off", "RQ_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    procs: dict[int, subprocess.Popen[bytes]] = {}
    logs: dict[int, Path] = {}

    def start(name: str) -> subprocess.Popen[bytes]:
        path = tmp_path / f"{name}.log"
        with path.open("wb") as out:
            proc = subprocess.Popen(scheduler_argv(config), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        procs[proc.pid], logs[proc.pid] = proc, path
        return proc

    def log_of(pid: int) -> str:
        return logs[pid].read_text(errors="replace")

    try:
        yield {"r": make_redis(server.url), "start": start, "log": log_of, "procs": procs}
    finally:
        stop_processes(procs.values())
        server.stop()


def two_running(system: dict[str, Any]) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], redis.Redis]:
    """Start two schedulers and wait until both run and one leads; (the leader, the other, the client)."""
    r: redis.Redis = system["r"]
    start: Callable[[str], subprocess.Popen[bytes]] = system["start"]
    first, second = start("first"), start("second")
    wait_for("both schedulers run", lambda: len(cron_scheduler_names(r)) == 2, 60)
    wait_for("one of them leads", lambda: leader_pid(r) in (first.pid, second.pid), 10)
    return (first, second, r) if leader_pid(r) == first.pid else (second, first, r)


def test_two_schedulers_enqueue_each_tick_once_and_the_other_takes_over_within_5_s_of_a_sigkill(
        schedulers: dict[str, Any]) -> None:
    leader, other, r = two_running(schedulers)
    since = time.time()
    wait_for("ticks while both run", lambda: len(ticks_since(r, since)) >= 4, 10)
    both = ticks_since(r, since)
    assert_not_doubled(both)
    assert live_health.detail(r, time.time())["scheduler"] == {"ok": True, "leader": {"host": leader_host(r),
                                                                                      "pid": leader.pid}}

    leader.send_signal(signal.SIGKILL)
    killed_at = time.time()
    wait_for("the other scheduler takes the lease", lambda: leader_pid(r) == other.pid, 5, every_s=0.05)
    wait_for("ticks after the takeover", lambda: len(ticks_since(r, killed_at)) >= 3, 10)
    assert_not_doubled(ticks_since(r, since))
    assert "became the leader" in schedulers["log"](other.pid)
    assert other.poll() is None


def test_a_stalled_leader_that_wakes_after_losing_its_lease_enqueues_nothing_and_a_clean_stop_hands_over_at_once(
        schedulers: dict[str, Any]) -> None:
    leader, other, r = two_running(schedulers)
    since = time.time()
    leader.send_signal(signal.SIGSTOP)  # stalled: alive, holding its connection, but not renewing
    wait_for("the other scheduler takes the lease", lambda: leader_pid(r) == other.pid, 5, every_s=0.05)
    taken_at = time.time()
    wait_for("ticks after the takeover", lambda: len(ticks_since(r, taken_at)) >= 2, 10)
    leader.send_signal(signal.SIGCONT)
    wait_for("the woken scheduler says it lost the lease", lambda: "lost the lease" in schedulers["log"](leader.pid),
             10)
    woken_at = time.time()
    wait_for("ticks after it woke", lambda: len(ticks_since(r, woken_at)) >= 3, 10)
    assert leader_pid(r) == other.pid
    assert_not_doubled(ticks_since(r, since))

    other.terminate()  # a clean stop releases the lease: the first takes it back without waiting for it to expire
    assert other.wait(timeout=20) == 0
    assert leader_pid(r) != other.pid  # its lease is gone at once, not 3 s later
    assert "released the lease" in schedulers["log"](other.pid)
    wait_for("the first leads again", lambda: leader_pid(r) == leader.pid, 5, every_s=0.05)
    leader.terminate()
    assert leader.wait(timeout=20) == 0
    assert leader_pid(r) is None
    assert "no scheduler leader" in live_health.detail(r, time.time())["problems"]
