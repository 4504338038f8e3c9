"""Redis connections: every client of the product is made here, from a plain URL or through Sentinel (the bundled
server of the demo is ops.redis_server).

With Sentinel (REDIS_SENTINELS) a client is redis-py's `Sentinel(...).master_for(...)`: its SentinelConnectionPool
asks the sentinels for the master whenever it connects, so after a failover the next command of the same client
object reaches the new master. The two clients that other libraries make (rq's worker, Flask-Limiter's storage) get
their settings from here too, in the form those libraries read (`rq_settings`, `limiter_storage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from dashboard.config import RedisTarget

# The product's clients fail fast: a command waits this long at most (connect, then answer) on a dead Redis.
TIMEOUT_S: Final = 1.0
# Connecting a blocking client (pub/sub, whose reads wait without a timeout), and asking a sentinel for the master.
BLOCKING_CONNECT_S: Final = 2.0


def _target(where: RedisTarget | str) -> RedisTarget:
    """A plain URL (tests, benches, the bundled Redis) as a target without Sentinel."""
    return RedisTarget(where) if isinstance(where, str) else where


def _master_auth(url: str) -> dict[str, Any]:
    """What REDIS_URL gives a client of the master found through Sentinel: database, user, password, TLS."""
    parsed = redis.connection.parse_url(url)
    auth = {k: parsed[k] for k in ("db", "username", "password") if parsed.get(k) is not None}
    if url.startswith("rediss://"):
        auth["ssl"] = True
    return auth


def _sentinel_kwargs(target: RedisTarget, timeout_s: float) -> dict[str, Any]:
    """How the sentinels themselves are asked: their own password, and a timeout even for blocking clients (a
    sentinel that does not answer must not hang the discovery; the next one is asked)."""
    return {"password": target.sentinel_password, "socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}


def _client(where: RedisTarget | str, connect_s: float, **options: Any) -> redis.Redis:
    """A client on REDIS_URL, or on the master the sentinels name (found again after a failover)."""
    target = _target(where)
    if not target.sentinels:
        return redis.Redis.from_url(target.url, socket_connect_timeout=connect_s, **options)
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(target, connect_s),
                        socket_connect_timeout=connect_s, **_master_auth(target.url), **options)
    return sentinel.master_for(target.master)


def make_redis(where: RedisTarget | str, timeout_s: float = TIMEOUT_S) -> redis.Redis:
    """A client for aggregates, ingest, sessions and scrapes: short timeouts so a dead Redis fails fast, not in 5 s."""
    return _client(where, timeout_s, socket_timeout=timeout_s, health_check_interval=10, retry_on_timeout=False,
                   protocol=2)


def round_trip(r: redis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """The replies to `commands`, sent in one write and read in order: a pipeline without a transaction, as redis-py's
    `r.pipeline(transaction=False)` answers it (each reply through the client's own parsing, a connection error
    retried as the client's retry says, the first error reply raised once every reply is read) with less of its
    bookkeeping per command; the login guard's read of a refresh (dashboard/live/sessions.py `inspect`) is one.

    The commands must be safe to send twice (reads): a retry after a lost connection sends them all again, as
    redis-py's pipeline does. Raises redis.RedisError when Redis does not answer (the connection is then dropped,
    never reused half-read).
    """
    if not commands:
        return []
    pool = r.connection_pool
    conn = pool.get_connection()

    def send_and_read() -> list[Any]:
        conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for command in commands:
            try:
                replies.append(r.parse_response(conn, command[0]))
            except redis.ResponseError as exc:  # an error reply: the ones after it are still read
                replies.append(exc)
        return replies

    try:
        replies = conn.retry.call_with_retry(send_and_read, lambda _error: conn.disconnect())
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)
    for i, reply in enumerate(replies):
        if isinstance(reply, redis.ResponseError):
            # Named as redis-py's pipeline names it (position and command), without the arguments: a session's id
            # travels in them and error messages reach the logs.
            reply.args = (f"Command # {i + 1} ({commands[i][0]}) of the round trip caused error: {reply}",
                          *reply.args[1:])
            raise reply
    return replies


def make_blocking_redis(where: RedisTarget | str) -> redis.Redis:
    """A client for blocking reads (pub/sub): no socket timeout, so an idle wait is not an error; and no retry, so
    a lost connection (Redis gone, a failover) is an error its reader sees: a silent re-subscription would hide the
    messages published meanwhile."""
    return _client(where, BLOCKING_CONNECT_S, socket_timeout=None, retry=Retry(NoBackoff(), 0), protocol=2)


def rq_settings(where: RedisTarget | str) -> dict[str, Any]:
    """The connection settings of rq's command line (its RQ_CONFIG module, workers/rq_connection.py): REDIS_URL, or
    SENTINEL (rq then makes `Sentinel(...).master_for(...)` itself, with the same database, password and timeouts)."""
    target = _target(where)
    if not target.sentinels:
        return {"REDIS_URL": target.url}
    auth = _master_auth(target.url)
    return {"SENTINEL": {
        "INSTANCES": list(target.sentinels),
        "MASTER_NAME": target.master,
        "DB": auth.get("db", 0),
        "USERNAME": auth.get("username"),
        "PASSWORD": auth.get("password"),
        "SSL": auth.get("ssl", False),
        # rq's worker sets the socket timeout its blocking wait for a job needs.
        "SOCKET_TIMEOUT": None,
        "CONNECTION_KWARGS": {"socket_connect_timeout": BLOCKING_CONNECT_S},
        "SENTINEL_KWARGS": _sentinel_kwargs(target, BLOCKING_CONNECT_S),
    }}


def limiter_storage(where: RedisTarget | str) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's storage URI and options: REDIS_URL, or the `limits` package's `redis+sentinel://` storage on
    the same master (counters read where they are written: never from a replica, which may lag)."""
    target = _target(where)
    timeouts = {"socket_timeout": TIMEOUT_S, "socket_connect_timeout": TIMEOUT_S}
    if not target.sentinels:
        return target.url, timeouts
    hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in target.sentinels)
    return f"redis+sentinel://{hosts}/{target.master}", {
        **timeouts, **_master_auth(target.url), "use_replicas": False,
        "sentinel_kwargs": _sentinel_kwargs(target, TIMEOUT_S),
    }
