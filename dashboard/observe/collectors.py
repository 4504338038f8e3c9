"""Gauges computed at scrape time from what Redis holds for the whole deployment: the age of every aggregate and of
the tick, the depth and failed jobs of the product's RQ queues, and their live workers.

Read with a short timeout: a Redis that is away or slow never fails the scrape, it only makes
`dongcheng_redis_up` 0 and leaves the Redis-derived gauges out of that scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Final

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry

from dashboard.config import RedisTarget
from dashboard.live import keys
from dashboard.live.aggregates import aggregate_ages
from dashboard.live.connections import make_redis
from dashboard.live.health import PRODUCT_QUEUES, live_workers
from dashboard.live.schema import AGGREGATES

log = logging.getLogger(__name__)

# Longest a scrape waits for each Redis command (connect and answer): Prometheus' own scrape timeout is 10 s.
REDIS_TIMEOUT_S: Final = 0.5


def scrape_redis(where: RedisTarget | str, timeout_s: float = REDIS_TIMEOUT_S) -> redis.Redis:
    """A client for scrapes: short timeouts (through Sentinel when it is set)."""
    return make_redis(where, timeout_s)


class RedisStateCollector(Collector):
    """Aggregate and tick ages, RQ queue depth, failed jobs and live workers, read from Redis at each scrape."""

    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        """Read through `client` (see scrape_redis); `clock` gives the time the ages are measured at."""
        self.client = client
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, or only `dongcheng_redis_up` 0 when Redis does not answer in time."""
        up = GaugeMetricFamily("dongcheng_redis_up", "1 when this scrape could read Redis, else 0.")
        try:
            families = self._read()
        except (redis.RedisError, OSError, ValueError) as exc:
            log.debug("metrics: Redis not read (%s)", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[GaugeMetricFamily]:
        """Every Redis-derived gauge (raises when Redis does not answer)."""
        r, now = self.client, self.clock()
        ages = GaugeMetricFamily("dongcheng_aggregate_age_seconds",
                                 "Seconds since each aggregate was computed (absent: never computed).",
                                 labels=["aggregate"])
        for name, age in aggregate_ages(r, now, AGGREGATES).items():
            if age is not None:
                ages.add_metric([name], age)
        tick = GaugeMetricFamily("dongcheng_tick_age_seconds", "Seconds since the last complete tick.")
        last = r.get(keys.LAST_TICK)
        if last is not None:
            tick.add_metric([], max(0.0, now - float(last)))
        depth = GaugeMetricFamily("dongcheng_rq_queue_depth", "Jobs waiting in each product queue.", labels=["queue"])
        started = GaugeMetricFamily("dongcheng_rq_started_jobs", "Jobs running now, by queue.", labels=["queue"])
        failed = GaugeMetricFamily("dongcheng_rq_failed_jobs", "Jobs in each queue's failed registry.",
                                   labels=["queue"])
        for name in PRODUCT_QUEUES:
            queue = Queue(name, connection=r)
            depth.add_metric([name], queue.count)
            # cleanup=False: a scrape never moves a job.
            started.add_metric([name], StartedJobRegistry(queue=queue).get_job_count(cleanup=False))
            failed.add_metric([name], FailedJobRegistry(queue=queue).get_job_count(cleanup=False))
        _, _, per_queue = live_workers(r, now)
        workers = GaugeMetricFamily("dongcheng_rq_workers_live",
                                    "Workers on each product queue whose heartbeat is recent.", labels=["queue"])
        for name, n in per_queue.items():
            workers.add_metric([name], n)
        return [ages, tick, depth, started, failed, workers]
