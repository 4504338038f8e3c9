"""The immediate tick after an incident action.

`prompt_tick()` (RQ, enqueued by dashboard.services.incidents.request_tick after every committed action) runs a tick
at once, so that the change reaches every open screen well within a second instead of at the next regular tick.
If another tick holds the lock, that tick may have read SQL before the change was committed, so the job waits for
it to finish and runs again (or stops when a tick that started after it covers the change).
"""

from __future__ import annotations

import time
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard.live import keys
from workers.clients import job_clients
from workers.tick import run_tick

# How long a prompt tick waits for a tick holding the lock before leaving the change to the regular tick.
PROMPT_WAIT_S: Final = 2.0
PROMPT_POLL_S: Final = 0.01


def run_prompt_tick(r: redis.Redis, sessions: sessionmaker[Session], wait_s: float = PROMPT_WAIT_S) -> dict[str, Any]:
    """A tick now. When another tick holds the lock it may have read SQL before the change that asked for this
    one, so: wait until the lock is free and tick again, or stop as soon as the lock is taken by a newer tick
    (which started after that change and therefore shows it). After `wait_s` the regular tick takes over."""
    deadline = time.monotonic() + wait_s
    while True:
        result = run_tick(r, sessions, time.time())
        if result.get("status") != "skipped":
            return result
        holder = r.get(keys.TICK_LOCK)
        while holder is not None:
            if time.monotonic() >= deadline:
                return {"status": "skipped", "note": "a tick held the lock too long; the regular tick follows"}
            time.sleep(PROMPT_POLL_S)
            now_holder = r.get(keys.TICK_LOCK)
            if now_holder is not None and now_holder != holder:
                return {"status": "covered", "note": "a tick that started after the change is running"}
            holder = now_holder


def prompt_tick() -> dict[str, Any]:
    """RQ job enqueued by dashboard.live.publish.request_tick: clear the pending mark, then tick at once."""
    clients = job_clients()
    # Cleared before anything is read: a change committed from now on asks for (and gets) a tick of its own.
    clients.redis.delete(keys.PROMPT_TICK_PENDING)
    return run_prompt_tick(clients.redis, clients.sessions)
