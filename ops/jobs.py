"""`dongcheng worker`, `dongcheng scheduler` and `dongcheng tick`: the RQ processes, started the same way by the
runner and by a deployment, and one tick by hand.

The worker is a SimpleWorker (workers/rq_processes.py: it registers again after Redis lost its record): it runs the
tick inside the long-lived worker process, so the Redis client, the SQL engine and the
imported modules are reused every second (about 10–30 ms a tick); RQ's default forking Worker re-imports and
reconnects in a fresh child for every job (about 300 ms a tick here). Run a scheduler on every host: RQ's cron
scheduler, of which only the holder of the scheduler lease in Redis enqueues (workers/rq_processes.py), and which
waits out a lost Redis instead of exiting. The Redis settings reach them through the environment (REDIS_URL or
REDIS_SENTINELS, read by rq through its config module RQ_CONFIG=workers.rq_connection), never argv, where `ps` would
show the password.
In production both refuse to start without their settings or on a database not at the newest revision (ops/modes.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence

from dashboard.config import Config
from dashboard.live.keys import QUEUE_DEFAULT, QUEUE_TICK
from ops.modes import checked_config
from workers.rq_processes import WORKER_TTL_S

# The product's cron configuration, and the demo's (the product's jobs plus the simulated units' movement).
PRODUCT_CRON = "workers.cron"
DEMO_CRON = "simulator.cron"
# The worker class and the scheduler's entry point, which outlive a Redis restart or flush (workers/rq_processes.py).
WORKER_CLASS = "workers.rq_processes.Worker"
SCHEDULER_MODULE = "workers.rq_processes"
# The module rq's command line reads its Redis connection from (RQ_CONFIG): REDIS_URL, or Sentinel.
RQ_CONNECTION_MODULE = "workers.rq_connection"


def worker_argv(config: Config, extra: Sequence[str] = ()) -> list[str]:
    """The `rq worker` command of one of the product's workers: a SimpleWorker that re-registers after Redis lost its
    record (workers/rq_processes.py) on the tick and default queues."""
    return [
        sys.executable, "-m", "rq.cli", "worker", QUEUE_TICK, QUEUE_DEFAULT,
        "--worker-class", WORKER_CLASS,
        "--worker-ttl", str(WORKER_TTL_S),
        "--logging_level", config.rq_log_level,
        *extra,
    ]  # fmt: skip


def cron_config(config: Config) -> str:
    """The module `rq cron` loads: the demo's (the product's jobs and the simulated units' movement) when the
    simulator is on, else the product's."""
    return DEMO_CRON if config.simulator else PRODUCT_CRON


def scheduler_argv(config: Config, extra: Sequence[str] = ()) -> list[str]:
    """The command of a host's cron scheduler: RQ's, enqueueing only while it holds the scheduler lease and waiting out
    a lost Redis (workers/rq_processes.py)."""
    return [sys.executable, "-m", SCHEDULER_MODULE, "cron", cron_config(config), "-l", config.rq_log_level, *extra]


def _exec(argv: list[str], dry_run: bool) -> int:
    """Replace this process by `argv` with rq's connection read from RQ_CONNECTION_MODULE (or print it); returns only
    for a dry run."""
    if dry_run:
        print(shlex.join(argv))
        return 0
    env = dict(os.environ, RQ_CONFIG=RQ_CONNECTION_MODULE)
    env.pop("RQ_REDIS_URL", None)  # rq would prefer it to RQ_CONFIG
    sys.stdout.flush()
    os.execve(argv[0], argv, env)
    return 1  # not reached: execve replaces the process or raises


def worker_command(args: argparse.Namespace) -> int:
    """`dongcheng worker`: become an RQ SimpleWorker on the product's queues (refused, status 1, when production
    lacks a setting or its database is not at the newest revision)."""
    config = checked_config("worker")
    if config is None:
        return 1
    return _exec(worker_argv(config, _rest(args.rq_args)), args.dry_run)


def scheduler_command(args: argparse.Namespace) -> int:
    """`dongcheng scheduler`: become one of the deployment's cron schedulers, the one enqueueing while it holds the
    scheduler lease (refused like the worker)."""
    config = checked_config("scheduler")
    if config is None:
        return 1
    return _exec(scheduler_argv(config, _rest(args.rq_args)), args.dry_run)


def _rest(extra: Sequence[str]) -> list[str]:
    """Options after `--` that are handed to rq as they are."""
    return list(extra[1:] if extra[:1] == ["--"] else extra)


def tick_command(_args: argparse.Namespace) -> int:
    """`dongcheng tick`: run one tick now with the environment's configuration and print its result as JSON."""
    from dashboard.live.connections import make_redis
    from dashboard.store.engine import make_engine, session_factory
    from workers.tick import run_tick

    config = Config.from_env()
    config.require("DATABASE_URL")
    engine = make_engine(config.database_url)
    try:
        print(json.dumps(run_tick(make_redis(config.redis), session_factory(engine), time.time()), indent=1))
    finally:
        engine.dispose()
    return 0
