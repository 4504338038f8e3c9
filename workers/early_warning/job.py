"""未诉先办 early warning: the thin RQ job that learns the seasonal baseline from SQL and keeps it in Redis.

`run_baseline(r, sessions, now)` (the RQ job `refresh_baseline`, registered in workers/schedule.py) keeps the
baseline under keys.WARNINGS_BASELINE; the tick reads it back with `load_baseline`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain.beijing import DAY_S, utc_datetime
from dashboard.live import keys
from dashboard.store.outage import absorb, unavailable_result
from workers.clients import job_clients
from workers.early_warning.baseline import BASELINE_DAYS, BASELINE_VERSION, Baseline, learn_baseline
from workers.early_warning.rules import LOOKBACK_S

log = logging.getLogger(__name__)

# How often the job learns the baseline again (workers/schedule.py registers it at this cadence).
BASELINE_REFRESH_S: Final = 600
# Kept in Redis well past its refresh, so that a stopped job degrades to an older baseline, not to none.
BASELINE_TTL_S: Final = 6 * 3600


def load_baseline(r: redis.Redis) -> Baseline | None:
    """The baseline the job keeps in Redis, or None (missing, unreadable, another version, Redis away)."""
    try:
        raw = r.get(keys.WARNINGS_BASELINE)
    except redis.RedisError:
        return None
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        log.warning("the early-warning baseline in Redis is unreadable; the tick learns one from today's tickets")
        return None
    return doc if isinstance(doc, dict) and doc.get("v") == BASELINE_VERSION else None


def run_baseline(r: redis.Redis, sessions: sessionmaker[Session], now: float) -> dict[str, Any]:
    """Learn the baseline from BASELINE_DAYS of tickets in SQL and keep it in Redis. The last LOOKBACK_S are left
    out: they are what the tick judges, and a burst must not become its own norm."""
    until = now - LOOKBACK_S
    with sessions() as s:
        rows = store.tickets.ticket_places_since(s, utc_datetime(until - BASELINE_DAYS * DAY_S))
    base = learn_baseline(rows, until)
    r.set(keys.WARNINGS_BASELINE, json.dumps(base, separators=(",", ":")), ex=BASELINE_TTL_S)
    return {"status": "ok", "tickets": base["tickets"], "days": base["days"]}


@absorb("early-warning baseline", unavailable_result)
def refresh_baseline() -> dict[str, Any]:
    """RQ job: learn the early-warning baseline with the configuration from the environment."""

    clients = job_clients()
    return run_baseline(clients.redis, clients.sessions, time.time())
