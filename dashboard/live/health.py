"""Health of every data source, of the workers and of the queues, for the administrator's page (read-only), and what
`/healthz` judges (dashboard/web/health.py): the workers by their heartbeats, the tick and the aggregates by age, the
scheduler by its lease (keys.SCHEDULER_LEASE: "no scheduler leader" while nobody holds it), and
whether the tick can read the database (mark_database: the screens say so while it cannot).

Data sources: what the ingest records in Redis (dashboard/services/ingest.py `_count`): accepted and rejected counters
(keys.INGEST_STATS), the time of the latest accepted event (keys.INGEST_LAST), accepted events per minute
(keys.ingest_minute_key) and the latest rejected events with their reasons (keys.ingest_rejects_key).

Workers and queues: RQ's own records, read without side effects (registry counts without their clean-up):
for each queue the jobs queued, started, failed, finished, deferred and scheduled, the latest failed jobs with
the last line of their error; every worker with its state, queues, current job and heartbeat; the `rq cron`
schedulers; and the tick's own heartbeat (keys.LAST_TICK).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Final

import redis
from rq import Queue, Worker
from rq.cron_scheduler_registry import get_keys as cron_scheduler_names
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from dashboard.live import keys
from dashboard.live.aggregates import aggregate_ages
from dashboard.live.lease import current_holder

log = logging.getLogger(__name__)

# A source that sent nothing accepted for this long is "quiet", then "silent".
SOURCE_QUIET_AFTER_S: Final = 60
SOURCE_SILENT_AFTER_S: Final = 300
# A worker whose heartbeat is older than this is shown as late (RQ's default heartbeat is every few seconds).
WORKER_LATE_AFTER_S: Final = 60
# The latest failed jobs listed per queue.
FAILED_LISTED: Final = 5
# The admin page shows the tick late after this long without one (the wall turns a panel stale after as long).
TICK_LATE_AFTER_S: Final = 5.0

# What /healthz calls degraded. Thresholds for a monitor, not for the wall: a tick that is a few seconds late (a slow
# machine, a worker restarting, a catch-up after a backlog) must not page anyone, and the wall already marks a late
# panel stale after AGG_STALE_AFTER_S. Fifteen seconds is fifteen missed ticks: the workers are really not keeping up.
HEALTH_TICK_LATE_AFTER_S: Final = 15.0
HEALTH_AGGREGATE_LATE_AFTER_S: Final = 15.0
# The queues that need at least one live worker (the tick's, and the deadline, sensor-alarm, linking … jobs').
PRODUCT_QUEUES: Final = (keys.QUEUE_TICK, keys.QUEUE_DEFAULT)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def per_minute(previous: int, current: int, now: float) -> float:
    """Events in the last 60 s, estimated from two fixed minutes: the current one so far plus the share of the
    previous one that still lies within the window (pure)."""
    into = (now % 60) / 60
    return round(current + previous * (1 - into), 1)


def source_state(last_at: float | None, now: float) -> str:
    """live / quiet / silent / never by the age of the latest accepted event (pure)."""
    if last_at is None:
        return "never"
    age = now - last_at
    if age <= SOURCE_QUIET_AFTER_S:
        return "live"
    return "quiet" if age <= SOURCE_SILENT_AFTER_S else "silent"


def sources(r: redis.Redis, now: float) -> list[dict[str, Any]]:
    """Every source the ingest has seen, by name: counters, last event, events per minute, latest rejections."""
    minute = int(now // 60)
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.INGEST_STATS)
    pipe.hgetall(keys.INGEST_LAST)
    pipe.hgetall(keys.ingest_minute_key(minute - 1))
    pipe.hgetall(keys.ingest_minute_key(minute))
    stats_raw, last_raw, prev_raw, cur_raw = pipe.execute()
    counters: dict[str, dict[str, int]] = {}
    for field, value in stats_raw.items():
        name, _, what = _s(field).rpartition(":")
        try:
            counters.setdefault(name, {})[what] = int(value)
        except ValueError:
            continue
    last = {_s(k): float(v) for k, v in last_raw.items()}
    prev = {_s(k): int(v) for k, v in prev_raw.items()}
    cur = {_s(k): int(v) for k, v in cur_raw.items()}
    names = sorted(set(counters) | set(last))
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.lrange(keys.ingest_rejects_key(name), 0, keys.INGEST_REJECTS_KEEP - 1)
    rejects = pipe.execute() if names else []
    out = []
    for name, latest in zip(names, rejects, strict=True):
        entries = []
        for raw in latest:
            try:
                entries.append(json.loads(raw))
            except ValueError:
                continue
        last_at = last.get(name)
        out.append({
            "source": name,
            "accepted": counters.get(name, {}).get("accepted", 0),
            "rejected": counters.get(name, {}).get("rejected", 0),
            "last_at": last_at,
            "age_s": None if last_at is None else max(0.0, now - last_at),
            "state": source_state(last_at, now),
            "per_minute": per_minute(prev.get(name, 0), cur.get(name, 0), now),
            "rejections": entries,
        })
    return out


def _last_line(text: str | None) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _failed_jobs(r: redis.Redis, registry: FailedJobRegistry) -> list[dict[str, Any]]:
    """The latest failed jobs of a queue: id, function, when it ended and the last line of its error."""
    ids = registry.get_job_ids(0, FAILED_LISTED - 1, desc=True, cleanup=False)
    out: list[dict[str, Any]] = []
    for job_id, job in zip(ids, Job.fetch_many(ids, connection=r), strict=True):
        if job is None:
            out.append({"id": job_id, "func": None, "ended_at": None, "error": ""})
            continue
        try:
            result = job.latest_result()
            error = _last_line(result.exc_string if result is not None else None)
            func = job.func_name
        except Exception:  # a job pickled by other code may not load here; show what we know
            error, func = "", None
        out.append({"id": job_id, "func": func,
                    "ended_at": job.ended_at.timestamp() if job.ended_at else None, "error": error})
    return out


def queues(r: redis.Redis, names: Iterable[str] = (keys.QUEUE_TICK, keys.QUEUE_DEFAULT)) -> list[dict[str, Any]]:
    """Each queue's job counts by RQ registry (no clean-up: reading never moves a job) and latest failures."""
    wanted = list(dict.fromkeys([*names, *(q.name for q in Queue.all(connection=r))]))
    out = []
    for name in wanted:
        q = Queue(name, connection=r)
        failed = FailedJobRegistry(queue=q)
        out.append({
            "name": name,
            "queued": q.count,
            "started": StartedJobRegistry(queue=q).get_job_count(cleanup=False),
            "failed": failed.get_job_count(cleanup=False),
            "finished": FinishedJobRegistry(queue=q).get_job_count(cleanup=False),
            "deferred": DeferredJobRegistry(queue=q).get_job_count(cleanup=False),
            "scheduled": ScheduledJobRegistry(queue=q).get_job_count(cleanup=False),
            "failed_jobs": _failed_jobs(r, failed),
        })
    return out


def workers(r: redis.Redis, now: float) -> list[dict[str, Any]]:
    """Every registered RQ worker: name, state, queues, current job, heartbeat age, job counts."""
    out = []
    for w in sorted(Worker.all(connection=r), key=lambda w: w.name):
        beat = w.last_heartbeat.timestamp() if w.last_heartbeat else None
        age = None if beat is None else max(0.0, now - beat)
        out.append({
            "name": w.name,
            "state": str(w.get_state()),
            "queues": w.queue_names(),
            "current_job": w.get_current_job_id(),
            "heartbeat_age_s": age,
            "late": age is None or age > WORKER_LATE_AFTER_S,
            "successful": int(w.successful_job_count or 0),
            "failed": int(w.failed_job_count or 0),
            "birth": w.birth_date.timestamp() if w.birth_date else None,
        })
    return out


def system(r: redis.Redis, now: float) -> dict[str, Any]:
    """Everything the health tab shows; {"ok": False, "error": …} when Redis cannot answer."""
    try:
        last_tick = r.get(keys.LAST_TICK)
        tick_age = None if last_tick is None else max(0.0, now - float(last_tick))
        return {
            "ok": True,
            "sources": sources(r, now),
            "queues": queues(r),
            "workers": workers(r, now),
            "schedulers": cron_scheduler_names(r),
            "tick_age_s": tick_age,
            "tick_ok": tick_age is not None and tick_age < TICK_LATE_AFTER_S,
        }
    except redis.RedisError as exc:
        log.warning("health of sources and workers unavailable: %s", exc)
        return {"ok": False, "error": str(exc)}


# --- /healthz -----------------------------------------------------------------------------------------------------


def live_workers(r: redis.Redis, now: float) -> tuple[int, int, dict[str, int]]:
    """(workers registered, live ones, live ones per product queue): live means a heartbeat within
    WORKER_LATE_AFTER_S.

    The product's workers register again after Redis lost their records (workers/rq_processes.py), so the count
    comes back by itself after a Redis restart or flush."""
    registered = Worker.all(connection=r)
    per_queue = dict.fromkeys(PRODUCT_QUEUES, 0)
    live = 0
    for w in registered:
        beat = w.last_heartbeat.timestamp() if w.last_heartbeat else None
        if beat is None or now - beat > WORKER_LATE_AFTER_S:
            continue
        live += 1
        for name in w.queue_names():
            if name in per_queue:
                per_queue[name] += 1
    return len(registered), live, per_queue


def mark_database(r: redis.Redis, ok: bool, now: float) -> None:
    """The tick's word on the database: while it cannot read it, keys.DB_DOWN_SINCE holds when that began."""
    if ok:
        r.delete(keys.DB_DOWN_SINCE)
        return
    pipe = r.pipeline(transaction=False)
    pipe.set(keys.DB_DOWN_SINCE, repr(float(now)), nx=True, ex=keys.DB_DOWN_TTL_S)
    pipe.expire(keys.DB_DOWN_SINCE, keys.DB_DOWN_TTL_S)
    pipe.execute()


def database_down_since(r: redis.Redis) -> float | None:
    """Since when the tick cannot read the database, or None while it can (or no tick ran lately)."""
    return down_since(r.get(keys.DB_DOWN_SINCE))


def down_since(raw: Any) -> float | None:
    """The value of keys.DB_DOWN_SINCE read by the caller (with other keys in one round trip), as a time."""
    try:
        return None if raw is None else float(raw)
    except ValueError:
        return None


def detail(r: redis.Redis, now: float) -> dict[str, Any]:
    """The Redis half of /healthz: workers, tick, the scheduler lease's holder (who leads) and the age of every
    aggregate, each judged, and the problems found (RedisError propagates)."""
    registered, live, per_queue = live_workers(r, now)
    last_tick = r.get(keys.LAST_TICK)
    tick_age = None if last_tick is None else round(max(0.0, now - float(last_tick)), 3)
    problems = [f"no live worker on queue {name}" for name, n in per_queue.items() if n == 0]
    if tick_age is None:
        problems.append("no tick yet")
    elif tick_age > HEALTH_TICK_LATE_AFTER_S:
        problems.append(f"last tick {tick_age:.0f} s ago")
    leader = current_holder(r, keys.SCHEDULER_LEASE)
    if leader is None:
        problems.append("no scheduler leader")
    ages = aggregate_ages(r, now)
    aggregates = {
        name: {"age_s": age, "ok": age is not None and age <= HEALTH_AGGREGATE_LATE_AFTER_S}
        for name, age in ages.items()
    }
    late = sorted(name for name, a in aggregates.items() if not a["ok"])
    if late:
        problems.append("aggregates late: " + ", ".join(late))
    return {
        "workers": {"ok": all(per_queue.values()) and tick_age is not None and tick_age <= HEALTH_TICK_LATE_AFTER_S,
                    "count": live, "registered": registered, "queues": per_queue, "last_tick_age_s": tick_age},
        "scheduler": {"ok": leader is not None,
                      "leader": None if leader is None else {"host": leader.host, "pid": leader.pid}},
        "aggregates": aggregates,
        "problems": problems,
    }
