"""Which worker process takes the ticks: the holder of the tick-worker lease, one at a time.

The tick keeps the sensors' book in the process that runs it (workers/sensor_sync.py). Workers that took ticks in
turn (RQ hands a job to whichever worker has waited longest) each caught up on the readings the other had folded: at
50,000 sensors and 10,000 events a second, every tick folded its readings and replayed the ones of the tick before.
So every worker on the tick queue seeks the lease keys.TICK_WORKER_LEASE (dashboard/live/lease.py) at each of its
heartbeats, and listens on the tick queue only while it holds it; the others serve the rest of their queues and
keep trying. While another worker has said lately that it serves the other queues (keys.TICK_WORKER_OTHERS), the
holder listens on the tick queue alone: a long job of the default queue (a telemetry roll-up at a high rate, the
early warning's baseline) would otherwise hold the ticks back for its whole length. A holder alone serves every
queue. A holder that dies, stalls or spends longer than the lease's life on another job loses it, and
another worker takes the ticks within TICK_WORKER_LEASE_TTL_S and one poll (the book is read once, then kept); a
clean stop releases it at once. Two holders for a moment change nothing but speed: the tick's own lock and its
sequence numbers keep every tick correct whoever runs it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import redis

from dashboard.live import keys
from dashboard.live.lease import Lease, LeaseTimings

# The lease's life and its renewal period: a worker that stopped renewing loses the ticks within the life.
TICK_WORKER_LEASE_TTL_S: Final = 3.0
TICK_WORKER_LEASE_RENEW_S: Final = 1.0
# A worker that said it serves the other queues within this many seconds counts as serving them (it says so at each
# heartbeat, every TICK_WORKER_POLL_S while idle; one busy with a long job falls silent, and the holder helps).
OTHERS_FRESH_S: Final = 5.0
# How long a worker on the tick queue waits for a job before it looks at the lease again (seconds): its holder
# renews it this often while idle, the others take over this soon after it expired.
TICK_WORKER_POLL_S: Final = 1


class TickElection:
    """One worker's side of the tick-worker lease: whether it holds it, and the queues it should listen on."""

    def __init__(self, r: redis.Redis, name: str = "") -> None:
        """The lease on `r`, as this process (the worker `name`) would hold it."""
        self.r = r
        self.name = name
        self.lease = Lease(r, keys.TICK_WORKER_LEASE,
                           LeaseTimings(ttl_s=TICK_WORKER_LEASE_TTL_S, renew_s=TICK_WORKER_LEASE_RENEW_S))
        self.holding = False

    def serving(self, queues: Sequence[Any]) -> list[Any]:
        """Keep or seek the lease; the RQ queues of `queues` to listen on now (RedisError propagates): without the
        tick queue unless this process holds it, the tick queue alone while it holds it and another worker serves
        the rest. A worker of the tick queue alone keeps it: a worker idle for good would help nobody."""
        if self.lease.due_in() <= 0:  # RQ heartbeats around every job: the lease is kept on its own schedule
            self.holding = self.lease.keep()
        ticks = [q for q in queues if q.name == keys.QUEUE_TICK]
        rest = [q for q in queues if q.name != keys.QUEUE_TICK]
        now = time.time()
        if not self.holding:
            if rest:
                with self.r.pipeline(transaction=False) as pipe:
                    pipe.zadd(keys.TICK_WORKER_OTHERS, {self.name: now})
                    pipe.expire(keys.TICK_WORKER_OTHERS, int(OTHERS_FRESH_S * 4))
                    pipe.execute()
            return rest or list(queues)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(keys.TICK_WORKER_OTHERS, "-inf", f"({now - OTHERS_FRESH_S}")
            pipe.zrem(keys.TICK_WORKER_OTHERS, self.name)  # said before it took the ticks
            pipe.zcard(keys.TICK_WORKER_OTHERS)
            *_, others = pipe.execute()
        return ticks if ticks and rest and others else list(queues)

    def release(self) -> bool:
        """Give the lease up (a clean stop: another worker takes the ticks at its next poll); True when it was
        held."""
        self.holding = False
        return self.lease.release()


def serves_ticks(queues: Sequence[Any]) -> bool:
    """True when the tick queue is among `queues` (a worker of the default queue only takes no part)."""
    return any(q.name == keys.QUEUE_TICK for q in queues)
