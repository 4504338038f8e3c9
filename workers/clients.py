"""The Redis client and SQL engine that RQ jobs share within one worker process, made on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config, RedisTarget
from dashboard.live.connections import make_redis
from dashboard.store.engine import make_engine, session_factory


@dataclass
class Clients:
    """The Redis client and SQL engine of one process for one configuration."""

    pid: int
    redis_at: RedisTarget
    database_url: str
    redis: redis.Redis
    engine: Engine
    sessions: sessionmaker[Session]


class _ClientHolder:
    """Per-process, lazily created Redis client and SQL engine for the RQ job.

    Why: the tick runs every second, and a new engine per tick would pay a fresh database connection
    (PostgreSQL: several ms) and SQLAlchemy's statement compilation every time. Under RQ's SimpleWorker
    (recommended for the tick queue) the job runs in the long-lived worker process, so this cache lives
    for the whole process. Under the forking Worker each job runs in a fresh child: the holder is then
    rebuilt per job, and a holder inherited from the parent is never reused (its pid differs): its
    engine is disposed without closing the parent's sockets. A changed Redis (REDIS_URL, the Sentinel settings) or
    DATABASE_URL also replaces it, which tests rely on.
    """

    def __init__(self) -> None:
        self._clients: Clients | None = None

    def get(self, config: Config) -> Clients:
        """The clients for `config` in this process, created on first use."""
        cur = self._clients
        pid = os.getpid()
        if (
            cur is not None
            and cur.pid == pid
            and cur.redis_at == config.redis
            and cur.database_url == config.database_url
        ):
            return cur
        if cur is not None:
            # close=False: in a forked child the pooled connections still belong to the parent.
            cur.engine.dispose(close=cur.pid == pid)
        engine = make_engine(config.database_url)
        self._clients = Clients(
            pid=pid,
            redis_at=config.redis,
            database_url=config.database_url,
            redis=make_redis(config.redis),
            engine=engine,
            sessions=session_factory(engine),
        )
        return self._clients




# One holder per process: a worker's jobs share its clients (see _ClientHolder for why).
_HOLDER = _ClientHolder()


def job_clients(config: Config | None = None) -> Clients:
    """This process's clients for `config` (default: the environment's), created on first use."""
    return _HOLDER.get(config or Config.from_env())
