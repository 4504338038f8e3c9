"""One worker takes the ticks, however many serve the tick queue (workers/tick_worker.py): real `dongcheng worker`
processes on a Redis of the test's own, the holder of the tick-worker lease running every tick job, another taking
over when it is killed, and a clean stop handing the ticks over at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq import Worker as RqWorker

from dashboard.config import Config
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.live.lease import current_holder
from ops.jobs import worker_argv
from tests.servers import RedisProcess, stop_processes, wait_for
from workers.tick_worker import TICK_WORKER_LEASE_TTL_S, TICK_WORKER_POLL_S

ROOT = Path(__file__).resolve().parent.parent
RAN_KEY = keys.PREFIX + "test:ran-by"
# The jobs, by the names the workers import them under (pytest imports this file under another).
RECORD = "tests.test_tick_worker.record_pid"
RECORD_SLOWLY = "tests.test_tick_worker.record_pid_slowly"
RECORD_WITH_HOLDER = "tests.test_tick_worker.record_pid_and_holder"
HELD_KEY = "test:tick-worker:held"
# Long enough for a lease to expire, the survivor to look again and take the job (and a loaded machine's delays).
TAKEOVER_WAIT_S = TICK_WORKER_LEASE_TTL_S + TICK_WORKER_POLL_S + 20


def record_pid() -> int:
    """The job: note which worker process ran it."""
    r = make_redis(os.environ["REDIS_URL"])
    r.rpush(RAN_KEY, os.getpid())
    return os.getpid()


def record_pid_and_holder() -> int:
    """The job: note which worker process ran it, and which held the tick-worker lease as it ran."""
    r = make_redis(os.environ["REDIS_URL"])
    r.rpush(HELD_KEY, str(holder_pid(r)))
    return record_pid()


def record_pid_slowly() -> None:
    """A job that notes its worker at once and keeps it busy for a while (less than the lease's life)."""
    record_pid()
    time.sleep(TICK_WORKER_LEASE_TTL_S / 2)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Redis of our own and two `dongcheng worker` processes (the tick and default queues) on it; stopped after."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    config = Config.for_tests(redis_url=server.url, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    env = {**os.environ, "REDIS_URL": server.url, "RQ_REDIS_URL": server.url, "DATABASE_URL": config.database_url,
           "SIMULATOR": "off", "RQ_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen[bytes]] = []
    for name in ("first", "second"):
        with (tmp_path / f"{name}.log").open("wb") as out:
            procs.append(subprocess.Popen(worker_argv(config), cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT))
    r = make_redis(server.url)
    try:
        wait_for("both workers registered", lambda: len(RqWorker.all(connection=r)) == 2, 60)
        yield {"r": r, "procs": procs}
    finally:
        stop_processes(procs)
        server.stop()


def holder_pid(r: redis.Redis) -> int | None:
    """The pid of the worker holding the tick-worker lease, None when nobody does."""
    held = current_holder(r, keys.TICK_WORKER_LEASE)
    return None if held is None else held.pid


def elected(workers: dict[str, Any]) -> tuple[redis.Redis, dict[int, subprocess.Popen[bytes]], int]:
    """Wait until one of the workers holds the tick-worker lease; (the client, the workers by pid, the holder's)."""
    r = workers["r"]
    procs = {p.pid: p for p in workers["procs"]}
    wait_for("one worker holds the tick-worker lease", lambda: holder_pid(r) in procs, 30)
    holder = holder_pid(r)
    assert holder is not None
    return r, procs, holder


def run_ticks(r: redis.Redis, n: int) -> list[int]:
    """Enqueue `n` jobs on the tick queue one after another, each once the one before ran; the pids that ran them.
    Each ran in the worker that held the lease as it ran: on a machine so busy that the holder could not renew its
    lease in time the other takes it over, as it should, so the holder of the test's start is not asserted."""
    queue = Queue(keys.QUEUE_TICK, connection=r)
    r.delete(RAN_KEY, HELD_KEY)
    for i in range(n):
        queue.enqueue(RECORD_WITH_HOLDER)
        wait_for(f"tick job {i + 1} run", lambda i=i: r.llen(RAN_KEY) == i + 1, TAKEOVER_WAIT_S, every_s=0.05)
    ran = [int(p) for p in r.lrange(RAN_KEY, 0, -1)]
    held = [None if h == b"None" else int(h) for h in r.lrange(HELD_KEY, 0, -1)]
    assert ran == held, f"a tick ran in a worker not holding the lease: ran {ran}, held {held}"
    return ran


def test_of_two_workers_on_the_tick_queue_only_the_lease_holder_runs_the_ticks(workers: dict[str, Any]) -> None:
    r, procs, holder = elected(workers)
    ran = run_ticks(r, 8)  # each in the lease's holder: in turn they would have alternated
    assert ran.count(holder) >= 4, ran  # (the lease moves only when its holder cannot renew it: a starved machine)
    # The other still serves the default queue: a default job queued while the holder is busy with a tick runs there.
    r.delete(RAN_KEY)
    Queue(keys.QUEUE_TICK, connection=r).enqueue(RECORD_SLOWLY)
    wait_for("the slow tick job started", lambda: r.llen(RAN_KEY) == 1, 30, every_s=0.05)
    Queue(keys.QUEUE_DEFAULT, connection=r).enqueue(RECORD)
    wait_for("both jobs run", lambda: r.llen(RAN_KEY) == 2, 30, every_s=0.05)
    assert [int(p) for p in r.lrange(RAN_KEY, 0, -1)] == [holder, (set(procs) - {holder}).pop()]


def test_when_the_tick_worker_is_killed_the_other_takes_the_ticks(workers: dict[str, Any]) -> None:
    r, procs, holder = elected(workers)
    run_ticks(r, 3)  # each in the lease's holder
    holder = holder_pid(r) or holder
    procs[holder].send_signal(signal.SIGKILL)
    procs[holder].wait(10)
    (other,) = set(procs) - {holder}
    assert set(run_ticks(r, 3)) == {other}  # after the lease expired, the survivor takes them
    assert holder_pid(r) == other


def test_a_clean_stop_of_the_tick_worker_releases_the_lease_at_once(workers: dict[str, Any]) -> None:
    r, procs, holder = elected(workers)
    procs[holder].terminate()
    assert procs[holder].wait(timeout=30) == 0
    assert holder_pid(r) != holder  # released on the way out, not left to expire
    (other,) = set(procs) - {holder}
    assert set(run_ticks(r, 2)) == {other}


def test_the_tick_worker_leaves_the_default_queue_to_the_other_worker(workers: dict[str, Any]) -> None:
    r, procs, holder = elected(workers)
    (other,) = set(procs) - {holder}
    wait_for("the other worker says it serves the default queue", lambda: r.zcard(keys.TICK_WORKER_OTHERS) == 1, 30)
    time.sleep(2 * TICK_WORKER_POLL_S + 0.5)  # the holder looks again when its current wait for a job ends
    # Two slow default jobs at once: the holder, idle, would have taken the second one and held back the ticks.
    r.delete(RAN_KEY)
    for _ in range(2):
        Queue(keys.QUEUE_DEFAULT, connection=r).enqueue(RECORD_SLOWLY)
    wait_for("both default jobs run", lambda: r.llen(RAN_KEY) == 2, 30, every_s=0.05)
    assert {int(p) for p in r.lrange(RAN_KEY, 0, -1)} == {other}
    assert set(run_ticks(r, 3)) == {holder}
    # Alone, the holder serves the default queue too.
    procs[other].terminate()
    assert procs[other].wait(timeout=30) == 0
    wait_for("the other worker's word expired", lambda: r.zcard(keys.TICK_WORKER_OTHERS) == 0, 30)
    r.delete(RAN_KEY)
    Queue(keys.QUEUE_DEFAULT, connection=r).enqueue(RECORD)
    wait_for("the default job run", lambda: r.llen(RAN_KEY) == 1, 30, every_s=0.05)
    assert [int(p) for p in r.lrange(RAN_KEY, 0, -1)] == [holder]
