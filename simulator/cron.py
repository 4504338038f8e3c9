"""`rq cron` configuration of the demo: the product's jobs (workers/schedule.py, as workers/cron.py registers them)
and the simulated units' movement (units.py) every units.UNITS_INTERVAL_S seconds. The runner uses this file when the
simulator is on (SIMULATOR), workers/cron.py otherwise.

Run it with `dongcheng scheduler` (with the simulator on), one on every host: only the holder of the scheduler lease
enqueues (workers/rq_processes.py). Plain `rq cron simulator/cron.py` has no lease: two of those would enqueue every
job twice.
"""

from __future__ import annotations

from dashboard.live import keys
from simulator.units import UNITS_INTERVAL_S, move_units
from workers.schedule import every, register_product_jobs

register_product_jobs()

# Simulated units drive towards their incidents and home again (real units report their own positions). A step
# takes milliseconds; one not started within its interval is dropped (each step covers the time since the unit last
# moved, so nothing is lost).
every(move_units, keys.QUEUE_DEFAULT, UNITS_INTERVAL_S, "dongcheng-units", timeout=10, ttl=UNITS_INTERVAL_S,
      result_ttl=10)
