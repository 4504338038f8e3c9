"""The RQ worker and the cron scheduler the product runs (`dongcheng worker`, `dongcheng scheduler`), made to outlive
a Redis restart or flush without a restart of their own.

RQ registers a worker once, when it starts: after Redis restarts empty or is flushed, the worker keeps working but is
no longer listed, and anything that counts workers (`/healthz`, the admin page, `rq info`) sees none for good.
`Worker` checks at each heartbeat (after every job, and at least every worker TTL less 15 s while idle) that its
registration is still there, and writes it again when it is gone. It also waits for a lost Redis instead of quitting
(RQ's loop quits when Redis vanishes outside its wait for a job), retrying every few seconds at most (RQ's default
backs off to a minute), so it resumes soon after Redis is back.

RQ's cron scheduler re-registers by itself at its heartbeat, but dies on the first command that finds Redis
unreachable; `Scheduler` waits for Redis instead and carries on, so the tick resumes within seconds of Redis coming
back rather than after a supervisor's back-off.

`python -m workers.rq_processes cron CONFIG [-l LEVEL]` runs the scheduler (what `dongcheng scheduler` executes); the
worker is started by `rq worker --worker-class workers.rq_processes.Worker` (what `dongcheng worker` executes).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

import redis
from rq import SimpleWorker, worker_registration
from rq.cron import CronScheduler
from rq.exceptions import SchedulerNotFound, StopRequested

from dashboard.config import Config
from dashboard.live.connections import make_redis

log = logging.getLogger("workers.rq_processes")  # the same name when run as __main__

# The worker TTL `dongcheng worker` gives rq: an idle worker heartbeats (and re-registers) every TTL - 15 s; RQ's
# default (420 s) would leave an idle worker unlisted for seven minutes after a flush.
WORKER_TTL_S: Final = 60
# Longest wait between two attempts of the worker to reach a lost Redis (seconds): it resumes at most this long after
# Redis is back. The scheduler, whose every step is one short command, tries every REDIS_RETRY_S.
REDIS_RETRY_MAX_S: Final = 5.0
REDIS_RETRY_S: Final = 1.0
# The errors that mean Redis is unreachable (restarting, network cut), as opposed to a refused command.
REDIS_LOST: Final = (redis.ConnectionError, redis.TimeoutError)


class Worker(SimpleWorker):
    """A SimpleWorker (the tick runs in the long-lived process) that registers again when Redis lost its record, and
    waits for a lost Redis instead of quitting.

    RQ's work loop quits on any error outside its wait for the next job, so Redis vanishing while the worker checks
    for suspension, finishes a job or heartbeats would end the process. Here those steps let a lost connection pass:
    the wait for the next job, which follows at once, retries until Redis answers (every REDIS_RETRY_MAX_S at most).
    """

    max_connection_wait_time = REDIS_RETRY_MAX_S

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, and in the same round trip a check that this worker is still registered."""
        if pipeline is not None:  # part of a bigger pipeline of RQ's: the next plain heartbeat checks
            super().heartbeat(timeout, pipeline)
            return
        try:
            with self.connection.pipeline() as pipe:
                super().heartbeat(timeout, pipe)
                pipe.sismember(self.redis_workers_keys, self.key)
                pipe.hexists(self.key, "birth")
                *_, listed, born = pipe.execute()
            if not (listed and born):
                self.register_again()
        except REDIS_LOST as exc:
            log.debug("worker %s: heartbeat lost (%s); the wait for the next job retries", self.name, exc)

    def register_again(self) -> None:
        """Write this worker's record and its place in the worker sets again (after Redis lost them)."""
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()
        log.warning("worker %s: its registration was gone (Redis restarted or was emptied); registered again",
                    self.name)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for `rq suspend`; a lost Redis is left to the wait for the next job."""
        try:
            super().check_for_suspension(burst)
        except REDIS_LOST as exc:
            log.debug("worker %s: suspension not checked (%s)", self.name, exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's periodic clean-up of its registries; skipped this time when Redis is lost."""
        try:
            super().run_maintenance_tasks()
        except REDIS_LOST as exc:
            log.debug("worker %s: maintenance skipped (%s)", self.name, exc)

    def execute_job(self, job: Any, queue: Any) -> None:
        """Run the job; when Redis is lost while the job's outcome is recorded, carry on with the next one (RQ's
        clean-up later moves a job left "started" to the failed ones; the tick and the checks simply run again)."""
        try:
            super().execute_job(job, queue)
        except REDIS_LOST as exc:
            log.warning("worker %s: Redis lost while finishing job %s (%s); carrying on", self.name, job.id, exc)


class Scheduler(CronScheduler):
    """RQ's cron scheduler, waiting for a lost Redis instead of dying with it."""

    def start(self) -> None:
        """Register, then enqueue what is due and heartbeat (re-registering when Redis lost the record) until told
        to stop; while Redis is unreachable, retry every REDIS_RETRY_S."""
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        lost_since: float | None = None
        try:
            while True:
                try:
                    self.register_birth()
                    break
                except REDIS_LOST as exc:
                    lost_since = self._lost(lost_since, exc)
            while True:
                try:
                    if self.enqueue_jobs():
                        self.save()  # the jobs' next run times, as RQ's own loop keeps them
                    self.heartbeat()
                except REDIS_LOST as exc:
                    lost_since = self._lost(lost_since, exc)
                    continue
                if lost_since is not None:
                    log.warning("scheduler %s: Redis is back after %.0f s; scheduling again", self.name,
                                time.time() - lost_since)
                    lost_since = None
                pause = self.calculate_sleep_interval()
                if pause > 0:
                    time.sleep(pause)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            # Redis may be the reason we stop: the record then expires by itself.
            with contextlib.suppress(redis.RedisError, SchedulerNotFound):
                self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)

    def _lost(self, since: float | None, exc: Exception) -> float:
        """Say once that Redis is unreachable, wait a little; the start of the loss."""
        if since is None:
            log.error("scheduler %s: Redis unreachable (%s); retrying every %.0f s", self.name, exc, REDIS_RETRY_S)
            since = time.time()
        time.sleep(REDIS_RETRY_S)
        return since


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m workers.rq_processes cron CONFIG [-l LEVEL]`: the cron scheduler on REDIS_URL."""
    parser = argparse.ArgumentParser(prog="python -m workers.rq_processes")
    sub = parser.add_subparsers(dest="command", required=True)
    cron = sub.add_parser("cron", help="run the cron scheduler with the jobs of CONFIG")
    cron.add_argument("config", help="module or file registering the jobs (workers.cron, simulator.cron)")
    cron.add_argument("-l", "--logging-level", default="INFO", type=str.upper,
                      choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.logging_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheduler = Scheduler(connection=make_redis(Config.from_env().redis_url), logging_level=args.logging_level)
    scheduler.load_config_from_file(args.config)
    scheduler.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
