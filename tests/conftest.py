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
if _XDIST_WORKER > 3:
    raise RuntimeError("at most 4 pytest-xdist workers (-n 4): each takes a Redis database of its own from 8 up, and "
                       "a fifth could wrap round to a running system's")
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
    # A test whose fixtures make the current schema anyway (init_db) gets the last test's emptied when that one is
    # still exactly what init_db made; any other test gets an empty database.
    reuse = not {"engine", "app"}.isdisjoint(request.fixturenames)
    eng = make_engine(url)
    with eng.begin() as conn:
        if reuse and _emptied_if_kept(conn):
            request.node.stash[_REUSED] = True
        else:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    yield url


# PostgreSQL's schema made by init_db is kept for the next test, emptied (TRUNCATE), rather than dropped and made again:
# a fifth of a second a test, ~500 tests. It is kept only while its shape is the one init_db left, down to the
# number of columns, relations and constraints and the migration revision, written in the schema's comment.
_SHAPE = text(
    "SELECT (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON a.attrelid = c.oid"
    "        WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),"
    "       (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace),"
    "       (SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace),"
    "       (SELECT string_agg(version_num, ',') FROM public.alembic_version),"
    "       obj_description('public'::regnamespace, 'pg_namespace')"
)
_KEPT = "dongcheng tests, made by init_db:"
_REUSED = pytest.StashKey[bool]()


def _emptied_if_kept(conn: Any) -> bool:
    """Empty every table of a schema init_db made and nothing changed since (True), else leave it (False)."""
    tables = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
    if tables is None:
        return False
    *shape, comment = conn.execute(_SHAPE).one()
    if comment != _kept_comment(shape):
        return False
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return True


def _kept_comment(shape: list[Any]) -> str:
    """The schema's comment that says init_db made it with this shape (numbers and revision names: no quotes)."""
    return " ".join([_KEPT, *map(str, shape)])


def _keep(engine: Engine) -> None:
    """Mark a PostgreSQL schema init_db just made, with its shape, as one the next test may empty and reuse."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        *shape, _ = conn.execute(_SHAPE).one()
        conn.execute(text(f"COMMENT ON SCHEMA public IS '{_kept_comment(shape)}'"))


def _current_schema(request: pytest.FixtureRequest, engine: Engine) -> None:
    """Every table created (init_db) unless db_url gave the last test's schema emptied."""
    if not request.node.stash.get(_REUSED, False):
        init_db(engine)
        _keep(engine)


@pytest.fixture
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with every table created."""
    eng = make_engine(db_url)
    _current_schema(request, eng)
    yield eng
    if eng.dialect.name != "postgresql":  # (PostgreSQL's is emptied or dropped before the next test)
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
def app(request: pytest.FixtureRequest, config: Config) -> Iterator[Any]:
    """The Flask server built by the factory on clean Redis and database, with the demo users."""
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from tests.helpers import seed_users

    server = create_app(config)
    with server.app_context():
        engine = db_sessions().kw["bind"]
        _current_schema(request, engine)
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
