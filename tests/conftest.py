"""Shared fixtures: a real Redis (the machine's, or the bundled one) and real databases."""

from __future__ import annotations

import os
import subprocess
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy.exc
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config
from dashboard.live.connections import make_redis
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.models import Base
from dashboard.store.schema import init_db
from ops.redis_server import start_bundled_redis

# Tests use their own logical database so they never touch a running system's data (0 by default); the number
# follows the process id so that two test runs on one machine (several developers, CI) rarely share one. Under
# pytest-xdist each worker (gw0, gw1, …) takes the next number after one base shared by the run (from the run's id,
# the same in every worker: each worker's own process id would give two workers the same number one time in four),
# so parallel workers never flush each other's.
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_RUN = zlib.crc32(_RUN_ID.encode()) if _RUN_ID else os.getpid()
TEST_REDIS_DB = (int(os.environ.get("TEST_REDIS_DB") or 8 + _RUN % 4) + _XDIST_WORKER) % 16
PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _reachable(url: str) -> bool:
    """True when a Redis answers at `url`."""
    try:
        return bool(make_redis(url).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real Redis: TEST_REDIS_URL, the local 6379, or a bundled redis-server we start."""
    for url in (os.environ.get("TEST_REDIS_URL"), "redis://127.0.0.1:6379/0"):
        if url and _reachable(url):
            yield url.rsplit("/", 1)[0]
            return
    proc: subprocess.Popen[bytes]
    proc, url = start_bundled_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url.rsplit("/", 1)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """URL of a clean Redis database for one test."""
    url = f"{redis_server}/{TEST_REDIS_DB}"
    client = make_redis(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    """A client on the clean test database."""
    return make_redis(redis_url)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """A PostgreSQL database private to this test run (created and dropped here), or None when unreachable."""
    try:
        admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        warnings.warn(f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}): its variants are skipped",
                      stacklevel=1)
        yield None
        return
    name = f"dc_test_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.SQLAlchemyError:
        # No right to create databases: share the given one (its schema is reset before each test).
        admin.dispose()
        yield PG_URL
        return
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database URL: SQLite in a temp file, and PostgreSQL when it is reachable."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("pg_url")
    if url is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: the PostgreSQL variant is skipped")
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with every table created."""
    eng = make_engine(db_url)
    init_db(eng)
    yield eng
    Base.metadata.drop_all(eng)
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A sessionmaker on the fresh database."""
    return session_factory(engine)


@pytest.fixture
def config(redis_url: str, db_url: str) -> Config:
    """The test configuration on clean Redis and database."""
    return Config.for_tests(redis_url=redis_url, database_url=db_url)


@pytest.fixture
def app(config: Config) -> Iterator[Any]:
    """The Flask server built by the factory on clean Redis and database, with the demo users."""
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from tests.helpers import seed_users

    server = create_app(config)
    with server.app_context():
        engine = db_sessions().kw["bind"]
        init_db(engine)
        seed_users(db_sessions())
    yield server
    # Give the connections back now, not at garbage collection: PostgreSQL allows only so many.
    engine.dispose()
    server.extensions["dc_redis"].close()


@pytest.fixture
def client(app: Any) -> Any:
    """A test client of the app (no session)."""
    return app.test_client()


@pytest.fixture
def live_ticks(app: Any) -> Iterator[None]:
    """Run the workers' tick every half second in a thread, as the RQ cron would."""
    from tests.helpers import workers_ticking

    with workers_ticking(app):
        yield
