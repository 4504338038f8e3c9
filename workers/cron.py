"""`rq cron` configuration of the product: the jobs of workers/schedule.py (the tick every second, the deadline and
sensor-alarm checks, history, linking and the early warning's baseline). The demo's scheduler loads
simulator/cron.py instead, which registers the same jobs and the simulated units' movement.

Run exactly one scheduler process:  rq cron workers/cron.py --url "$REDIS_URL"  (from the project root).
"""

from __future__ import annotations

from workers.schedule import register_product_jobs

register_product_jobs()
