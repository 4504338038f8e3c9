"""The Redis connection of rq's command line (`rq worker`, as `dongcheng worker` runs it): its RQ_CONFIG module.

rq reads its connection from a module's upper-case names: REDIS_URL, or SENTINEL (then rq makes redis-py's
`Sentinel(...).master_for(...)`, which finds the new master after a failover). Both come from the product's settings
(dashboard/config.py) through dashboard/live/connections.py, like every other client.
"""

from __future__ import annotations

from typing import Any, Final

from dashboard.config import Config
from dashboard.live.connections import rq_settings

_SETTINGS: Final = rq_settings(Config.from_env().redis)
REDIS_URL: Final[str | None] = _SETTINGS.get("REDIS_URL")
SENTINEL: Final[dict[str, Any] | None] = _SETTINGS.get("SENTINEL")
