"""Redis connections (the bundled server of the demo is ops.redis_server)."""

from __future__ import annotations

import redis


def make_redis(url: str) -> redis.Redis:
    """A client for aggregates and ingest: short timeouts so a dead Redis fails fast, not in 5 s."""
    return redis.Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=10,
        retry_on_timeout=False,
        protocol=2,
    )


def make_blocking_redis(url: str) -> redis.Redis:
    """A client for blocking reads (pub/sub, RQ): no socket timeout, so an idle wait is not an error."""
    return redis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=2.0, protocol=2)
