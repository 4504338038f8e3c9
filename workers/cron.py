"""`rq cron` configuration of the product: the jobs of workers/schedule.py (the tick every second, the deadline and
sensor-alarm checks, history, linking and the early warning's baseline). The demo's scheduler loads
simulator/cron.py instead, which registers the same jobs and the simulated units' movement.

Run it with `dongcheng scheduler`, one on every host: its scheduler (workers/rq_processes.py) enqueues only while it
holds the scheduler lease in Redis, so exactly one of them enqueues. Plain `rq cron workers/cron.py` has no lease:
two of those would enqueue every job twice.
"""

from __future__ import annotations

from workers.schedule import register_product_jobs

register_product_jobs()
