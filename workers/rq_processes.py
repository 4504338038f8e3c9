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
back rather than after a supervisor's back-off. RQ's `rq cron` elects no leader either: two would enqueue every job
twice, one alone takes the panels stale with its host. `Scheduler` runs on every host and enqueues only while it
holds the scheduler lease (dashboard/live/lease.py, keys.SCHEDULER_LEASE), in transactions fenced by it.

`python -m workers.rq_processes cron CONFIG [-l LEVEL]` runs the scheduler (what `dongcheng scheduler` executes); the
worker is started by `rq worker --worker-class workers.rq_processes.Worker` (what `dongcheng worker` executes).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker, cron_job_registry, worker_registration
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.exceptions import SchedulerNotFound, StopRequested
from rq.utils import now

from dashboard.config import Config
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.live.lease import Lease, LeaseTimings
from dashboard.observe import metrics
from dashboard.observe.logs import JSON, configure_logging, to_root
from workers.tick_worker import TICK_WORKER_POLL_S, TickElection, serves_ticks

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
    for suspension, finishes a job, records its state or heartbeats would end the process. Here those steps let a
    lost connection pass: the wait for the next job, which follows at once, retries until Redis answers (every
    REDIS_RETRY_MAX_S at most).
    """

    max_connection_wait_time = REDIS_RETRY_MAX_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """RQ's worker; with LOG_FORMAT=json its log (and the jobs') is JSON lines: the handlers `rq worker` gave its
        loggers before making the worker give way to one JSON handler on the root logger, which RQ's later set-up
        (the worker's bootstrap) then leaves alone."""
        config = Config.from_env()
        if config.log_format == JSON:
            configure_logging(JSON, config.rq_log_level)
            to_root("rq.worker", "rq.job")
        super().__init__(*args, **kwargs)
        # One worker at a time listens on the tick queue (workers/tick_worker.py); None: this one does not serve it.
        self.tick_election = TickElection(self.connection, self.name) if serves_ticks(self.queues) else None

    @property
    def dequeue_timeout(self) -> int:
        """How long one wait for a job lasts: a worker of the tick queue looks at the tick-worker lease every
        TICK_WORKER_POLL_S (RQ's wait, a worker TTL less 15 s, would leave the ticks without a worker that long)."""
        if getattr(self, "tick_election", None) is None:  # RQ asks while it builds the worker, before it is known
            return max(1, self.worker_ttl - 15)
        return TICK_WORKER_POLL_S

    def elect(self) -> None:
        """Listen on the tick queue only while this process holds the tick-worker lease (RedisError propagates);
        a change is logged."""
        if self.tick_election is None:
            return
        held = self.tick_election.holding
        self._ordered_queues = self.tick_election.serving(self.queues)
        if self.tick_election.holding != held:
            log.info("worker %s: %s the ticks", self.name, "takes" if self.tick_election.holding else "leaves")

    def register_death(self) -> None:
        """RQ's record of a stopped worker, after giving up the tick-worker lease so that another takes the ticks at
        once."""
        if self.tick_election is not None:
            try:
                self.tick_election.release()
            except redis.RedisError as exc:
                log.warning("worker %s: the tick-worker lease was not released (%s); it expires by itself", self.name,
                            exc)
        super().register_death()

    def perform_job(self, job: Any, queue: Any, execution: Any) -> bool:
        """Run the job as RQ does, counted and timed by function and outcome (dongcheng_rq_jobs_total)."""
        started = time.perf_counter()
        ok = False
        try:
            ok = bool(super().perform_job(job, queue, execution))
        finally:
            metrics.observe_job(_function_of(job), ok, time.perf_counter() - started)
        return ok

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
            self.elect()
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

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's record of the worker's state ("idle", "busy"); a lost Redis is left to the wait for the next job,
        which RQ starts by writing "idle" outside its own retries (the state is written again at the next change)."""
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        try:
            super().set_state(state)
        except REDIS_LOST as exc:
            log.debug("worker %s: state %s not recorded (%s)", self.name, state, exc)

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


def _function_of(job: Any) -> str | None:
    """The job's function name, None when its data cannot be read."""
    try:
        return str(job.func_name)
    except Exception:  # a job pickled by other code: counted as "other"
        return None


class Scheduler(CronScheduler):
    """RQ's cron scheduler, one on every host, of which only the holder of the scheduler lease (keys.SCHEDULER_LEASE,
    dashboard/live/lease.py) enqueues; waiting for a lost Redis instead of dying with it.

    RQ's `start` loop is replaced by one that, each round, first keeps the lease when that is due (renews it while
    held, else tries to acquire it), then enqueues the due jobs only while it holds the lease. Its `enqueue_jobs` is
    fenced: the due jobs are enqueued in one transaction that WATCHes the lease, so Redis refuses it when the lease
    expired or changed hands after the check. Followers keep their jobs' next run times untouched: a new leader
    enqueues everything at once, then on its own schedule.
    """

    def __init__(self, connection: redis.Redis, logging_level: str | int = logging.INFO, name: str = "",
                 timings: LeaseTimings | None = None) -> None:
        """RQ's scheduler with a lease of `timings` (by default Config's)."""
        super().__init__(connection, logging_level, name)
        self.lease = Lease(connection, keys.SCHEDULER_LEASE, timings or lease_timings(Config()))
        self.leading = False

    def start(self) -> None:
        """Serve until told to stop (SIGINT, SIGTERM); a clean stop releases the lease, so that another scheduler
        takes over at once."""
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        try:
            self.serve()
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            self.step_down()
            # Redis may be the reason we stop: the record then expires by itself.
            with contextlib.suppress(redis.RedisError, SchedulerNotFound):
                self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)

    def serve(self, stop: threading.Event | None = None) -> None:
        """Register, then keep or seek the lease, enqueue what is due while leading and heartbeat (re-registering
        when Redis lost the record) until `stop` is set (never, by default); while Redis is unreachable, retry every
        REDIS_RETRY_S."""
        stop = stop or threading.Event()
        lost_since: float | None = None
        while not stop.is_set():
            try:
                self.register_birth()
                break
            except REDIS_LOST as exc:
                lost_since = self._lost(lost_since, exc, stop)
        while not stop.is_set():
            try:
                self.run_round()
            except REDIS_LOST as exc:
                self.note_leadership()  # the deadline may pass while Redis is away: say so
                lost_since = self._lost(lost_since, exc, stop)
                continue
            if lost_since is not None:
                log.warning("scheduler %s: Redis is back after %.0f s; scheduling again", self.name,
                            time.time() - lost_since)
                lost_since = None
            pause = self.lease.due_in()
            if self.leading:
                pause = min(pause, self.calculate_sleep_interval())
            if pause > 0:
                stop.wait(pause)

    def run_round(self) -> None:
        """One round: keep the lease when due, enqueue the due jobs while leading, heartbeat (REDIS_LOST
        propagates)."""
        if self.lease.due_in() <= 0:
            try:
                self.lease.keep()
            finally:
                self.note_leadership()
        if self.note_leadership():
            enqueued = self.enqueue_jobs()
            if enqueued:
                self.save()  # the jobs' next run times, as RQ's own loop keeps them
                metrics.count_enqueued(job.func_name for job in enqueued)
        self.heartbeat()

    def note_leadership(self) -> bool:
        """Whether this process leads now (by the lease's own deadline); a change is logged and counted."""
        leads = self.lease.holds()
        if leads != self.leading:
            self.leading = leads
            metrics.scheduler_leadership_changed(leads)
            if leads:
                log.warning("scheduler %s: became the leader (lease %s held by %s pid %d); enqueueing", self.name,
                            self.lease.key, self.lease.holder.host, self.lease.holder.pid)
            else:
                log.warning("scheduler %s: lost the lease %s (not renewed in time, or another holds it); enqueueing "
                            "stops, trying again every %.1f s", self.name, self.lease.key, self.lease.timings.retry_s)
        return leads

    def enqueue_jobs(self) -> list[CronJob]:
        """Enqueue the jobs that are due, in one transaction Redis refuses unless this process still holds the
        lease when it runs (see `Lease.fence`); the jobs enqueued (none when the lease was not held)."""
        due = [job for job in self._cron_jobs if job.should_run()]
        if not due:
            return []
        enqueue_time = now()
        try:
            with self.connection.pipeline() as pipe:
                if not self.lease.fence(pipe):
                    return []
                pipe.multi()
                for job in due:
                    _enqueue_on(job, self.connection, pipe)
                pipe.execute()
        except redis.WatchError as exc:
            log.warning("scheduler %s: the lease expired or changed hands while jobs were being enqueued (%s); none "
                        "was", self.name, exc)
            return []
        for job in due:
            job.set_enqueue_time(enqueue_time)
        return due

    def step_down(self) -> None:
        """Release the lease when this process holds it (a clean stop), so another takes over without waiting."""
        try:
            if self.lease.release():
                log.warning("scheduler %s: released the lease %s on stopping", self.name, self.lease.key)
        except redis.RedisError as exc:
            log.warning("scheduler %s: the lease %s was not released (%s); it expires by itself within %.0f s",
                        self.name, self.lease.key, exc, self.lease.timings.ttl_s)
        if self.leading:
            self.leading = False
            metrics.scheduler_leadership_changed(False)

    def _lost(self, since: float | None, exc: Exception, stop: threading.Event) -> float:
        """Say once that Redis is unreachable, wait a little (or until `stop`); the start of the loss."""
        if since is None:
            log.error("scheduler %s: Redis unreachable (%s); retrying every %.0f s", self.name, exc, REDIS_RETRY_S)
            since = time.time()
        stop.wait(REDIS_RETRY_S)
        return since


def lease_timings(config: Config) -> LeaseTimings:
    """The scheduler lease's timings of `config`."""
    return LeaseTimings(ttl_s=config.scheduler_lease_ttl_s, renew_s=config.scheduler_lease_renew_s)


def _enqueue_on(job: CronJob, connection: redis.Redis, pipe: Pipeline) -> None:
    """Queue on `pipe` (in MULTI) what RQ's `CronJob.enqueue` does in its own transaction: the job on its queue, its
    place in the cron job's history and in the registry of cron jobs."""
    if job.func is None:
        raise ValueError(f"cron job {job.name} has no function to enqueue")
    queued = Queue(job.queue_name, connection=connection).enqueue(
        job.func, args=job.args, kwargs=job.kwargs, **job.job_options, pipeline=pipe)
    at = (queued.enqueued_at or now()).timestamp()
    pipe.zadd(job.job_history_key, {queued.id: at})
    pipe.zremrangebyrank(job.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
    pipe.expire(job.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
    cron_job_registry.add(job.name, pipe, enqueue_timestamp=at)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m workers.rq_processes cron CONFIG [-l LEVEL]`: the cron scheduler on REDIS_URL (or Sentinel)."""
    parser = argparse.ArgumentParser(prog="python -m workers.rq_processes")
    sub = parser.add_subparsers(dest="command", required=True)
    cron = sub.add_parser("cron", help="run the cron scheduler with the jobs of CONFIG")
    cron.add_argument("config", help="module or file registering the jobs (workers.cron, simulator.cron)")
    cron.add_argument("-l", "--logging-level", default="INFO", type=str.upper,
                      choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    args = parser.parse_args(argv)
    config = Config.from_env()
    configure_logging(config.log_format, args.logging_level)
    scheduler = Scheduler(connection=make_redis(config.redis), logging_level=args.logging_level,
                          timings=lease_timings(config))
    scheduler.load_config_from_file(args.config)
    scheduler.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
