"""Publishing changes to open screens (Redis pub/sub) and asking for an immediate tick after a change.

A committed incident action publishes one message on keys.incidents_channel(db); the push stream
(dashboard.web.api.stream) relays it to every open screen, which refreshes at once. The aggregates' own changes
are published by dashboard.live.aggregates.write_aggregates in the same transaction as the write.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Final

import redis

from dashboard.live import keys

log = logging.getLogger(__name__)


def notify_change(r: redis.Redis, incident_id: int, action: str | None = None) -> None:
    """After the commit: publish {"incident_id", "action", "ts"} on keys.incidents_channel(db) so that push
    reaches open screens. Raises redis.RedisError (the change itself is saved; screens also poll)."""
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    message = {"incident_id": int(incident_id), "action": action, "ts": time.time()}
    r.publish(keys.incidents_channel(db), json.dumps(message, separators=(",", ":")))
    request_tick(r)


def notify_many(r: redis.Redis, changes: Iterable[tuple[int, str | None]]) -> None:
    """notify_change for several changes in one round trip."""
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    channel = keys.incidents_channel(db)
    pipe = r.pipeline(transaction=False)
    for incident_id, action in changes:
        pipe.publish(channel, json.dumps({"incident_id": int(incident_id), "action": action, "ts": time.time()},
                                         separators=(",", ":")))
    pipe.execute()
    request_tick(r)


# The RQ job that refreshes the aggregates at once (workers/prompt.py: prompt_tick), named so that the web
# process need not import the workers.
PROMPT_TICK_JOB: Final = "workers.prompt.prompt_tick"
PROMPT_TICK_TTL_S: Final = 3


def request_tick(r: redis.Redis) -> bool:
    """After a commit: have the aggregates rebuilt now instead of at the next one-second tick, so that every
    open screen (which refreshes on the tick's `aggregate` push) shows the change well within a second.

    Enqueues PROMPT_TICK_JOB on keys.QUEUE_TICK unless one is already pending (keys.PROMPT_TICK_PENDING); True when
    it enqueued one.
    Never raises: without it the change still appears on the next regular tick (at most a second later).
    """
    from rq import Queue  # the web process only needs RQ here

    try:
        if not r.set(keys.PROMPT_TICK_PENDING, "1", nx=True, ex=PROMPT_TICK_TTL_S):
            return False
        try:
            Queue(keys.QUEUE_TICK, connection=r).enqueue(
                PROMPT_TICK_JOB, ttl=PROMPT_TICK_TTL_S, failure_ttl=60, result_ttl=10, job_timeout=8
            )
        except BaseException:
            r.delete(keys.PROMPT_TICK_PENDING)
            raise
        return True
    except redis.RedisError as exc:
        log.warning("could not request an immediate tick (the next regular tick shows the change): %s", exc)
        return False
