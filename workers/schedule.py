"""What the product runs on a schedule, for `rq cron`: the tick on keys.QUEUE_TICK every second, and on
keys.QUEUE_DEFAULT the deadline check every rules.DEADLINE_CHECK_S seconds, the sensor-alarm check
(workers/sensor_incidents.py) every rules.SENSOR_INCIDENT_CHECK_S seconds, the history snapshots, the telemetry
roll-up into SQL (workers/rollup.py), the linking of tickets into cases and the early warning's baseline.

`register_product_jobs()` registers them with `rq.cron.register`; the scheduler's configuration files call it:
workers/cron.py (the product) and simulator/cron.py (the demo, which adds the simulated units' movement). A function
rather than an import's side effect, so that a configuration loaded again (the scheduler reloads a module it has
already imported) registers the jobs again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from rq import cron

from dashboard.live import keys
from workers.deadlines import check_deadlines
from workers.early_warning import BASELINE_REFRESH_S, refresh_baseline
from workers.history import record_history
from workers.linking import link_tickets
from workers.rollup import roll_up_telemetry
from workers.sensor_incidents import check_sensor_alarms
from workers.tick import tick

# The tick period, in seconds.
TICK_SECONDS: Final = 1
# The tick's name as a cron job (its jobs' history in RQ is kept under it).
TICK_JOB_NAME: Final = "dongcheng-tick"
# Seconds between two runs of the sensor-alarm check (workers/sensor_incidents.py).
SENSOR_INCIDENT_CHECK_S: Final = 1
# Seconds between two runs of the deadline check (workers/deadlines.py).
DEADLINE_CHECK_S: Final = 10
# Seconds between two runs of the history job. Several runs a minute, each storing the minute's snapshot only when
# it is missing, so that a dropped or late run never leaves a minute without one.
HISTORY_CHECK_S: Final = 10
# Seconds between two runs of the telemetry roll-up (workers/rollup.py): the stream holds about 200 s at 1,000
# events a second, so a run every 10 s leaves it ample room to catch up after a pause.
ROLLUP_CHECK_S: Final = 10
# Seconds between two runs of the linking job.
CASE_LINK_CHECK_S: Final = 5
# A tick takes well under a second (a catch-up tick of 20,000 events about half a second); RQ kills a
# stuck one after this. The tick renews its lock while it works, so this may exceed the lock's TTL.
TICK_JOB_TIMEOUT_S: Final = 8
# A tick job not started within this many seconds is dropped: the next one (due every second) supersedes
# it, so a worker outage never leaves a pile of stale ticks to run through.
TICK_JOB_TTL_S: Final = 3
# Keep a successful tick's result briefly (enough for `rq info` and debugging), failures for 5 minutes.
TICK_RESULT_TTL_S: Final = 10
TICK_FAILURE_TTL_S: Final = 300


def every(func: Callable[[], Any], queue: str, interval: int, name: str, *, timeout: int, ttl: int,
          result_ttl: int) -> None:
    """Register `func` on `queue` every `interval` seconds; a failed run is kept TICK_FAILURE_TTL_S for debugging."""
    cron.register(func, queue_name=queue, interval=interval, job_timeout=timeout, ttl=ttl, result_ttl=result_ttl,
                  failure_ttl=TICK_FAILURE_TTL_S, name=name)


def register_product_jobs() -> None:
    """Register every job the product runs on a schedule (see the module docstring)."""
    every(tick, keys.QUEUE_TICK, TICK_SECONDS, TICK_JOB_NAME,
          timeout=TICK_JOB_TIMEOUT_S, ttl=TICK_JOB_TTL_S, result_ttl=TICK_RESULT_TTL_S)

    # Overdue summons (吹哨报到) and incidents escalate to the leader. A check takes milliseconds; one not started
    # within its interval is dropped, the next one covers it (escalation is idempotent).
    every(check_deadlines, keys.QUEUE_DEFAULT, DEADLINE_CHECK_S, "dongcheng-deadlines",
          timeout=30, ttl=DEADLINE_CHECK_S, result_ttl=60)

    # Sensor alarms that reach an incident band open (or raise) an incident linked to the sensor. A check reads one
    # aggregate and takes a few ms; one not started within its interval is dropped, the next covers it (idempotent).
    every(check_sensor_alarms, keys.QUEUE_DEFAULT, SENSOR_INCIDENT_CHECK_S, "dongcheng-sensor-alarms",
          timeout=10, ttl=SENSOR_INCIDENT_CHECK_S + 1, result_ttl=10)

    # History (workers/history.py): the minute's snapshot of the aggregates, hourly roll-ups and retention.
    # Several runs a minute, each storing the minute's snapshot only when it is missing, so a dropped run leaves no gap;
    # a run takes a few ms, and one not started within its interval is dropped (the next covers it; idempotent).
    every(record_history, keys.QUEUE_DEFAULT, HISTORY_CHECK_S, "dongcheng-history",
          timeout=30, ttl=HISTORY_CHECK_S, result_ttl=60)

    # Durable telemetry (workers/rollup.py): the stream's new entries rolled up per entity and minute into SQL. A run
    # takes tens of ms (a catch-up of a full stream a few seconds); one not started within its interval is dropped,
    # the next reads on from the same cursor (a run repeated after a crash changes nothing).
    every(roll_up_telemetry, keys.QUEUE_DEFAULT, ROLLUP_CHECK_S, "dongcheng-telemetry-rollup",
          timeout=120, ttl=ROLLUP_CHECK_S, result_ttl=60)

    # Cases (热线+网格, workers/linking/job.py): link the tickets not considered yet into cases. A run takes a few ms
    # and considers each ticket once; one not started within its interval is dropped, the next covers it (idempotent).
    every(link_tickets, keys.QUEUE_DEFAULT, CASE_LINK_CHECK_S, "dongcheng-linking",
          timeout=30, ttl=CASE_LINK_CHECK_S, result_ttl=60)

    # 未诉先办 (workers/early_warning/job.py): the seasonal ticket baseline the tick's early warning compares recent
    # tickets with, learned from the last four weeks of tickets in SQL. A run takes well under a second; one not
    # started within its interval is dropped (the next covers it; the tick keeps using the last baseline, kept for
    # hours).
    every(refresh_baseline, keys.QUEUE_DEFAULT, BASELINE_REFRESH_S, "dongcheng-warnings-baseline",
          timeout=120, ttl=BASELINE_REFRESH_S, result_ttl=600)
