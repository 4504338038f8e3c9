"""Database engine and sessions (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from dashboard.store.outage import watch

# Seconds PostgreSQL may take to accept a connection: with the network cut, a connection attempt would otherwise wait
# for the operating system's TCP timeout (minutes), and every request and tick with it.
PG_CONNECT_TIMEOUT_S = 3


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as SQLAlchemy reads it: `postgres://` and `postgresql://` name the psycopg driver, and a libpq
    list of hosts (`…@host1:port1,host2:port2/db`, the form libpq and psql take) becomes SQLAlchemy's repeated `host`
    query parameters (`…@/db?host=host1:port1&host=host2:port2`), which it hands to libpq as the same list; libpq
    then tries the hosts in turn (with `target_session_attrs=read-write`, until one takes writes: the primary)."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("postgresql"):
        return url
    scheme, sep, rest = url.partition("://")
    netloc, _, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return url
    path, question, query = tail.partition("?")
    params = "&".join(f"host={host}" for host in hosts.split(",") if host)
    return f"{scheme}{sep}{userinfo}{at}/{path}?{params}{'&' + query if question and query else ''}"


def make_engine(url: str) -> Engine:
    """Create an engine with settings that suit each backend, watched for the end of an outage (store/outage.py)."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the web server read while the ingest writes; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        watch(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                           connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
    watch(engine)
    return engine


def begin_write(session: Session) -> None:
    """Make the session's transaction a writer now.

    PostgreSQL: nothing to do (row locks do the work). SQLite: issue BEGIN IMMEDIATE unless the connection is
    already in a transaction (pysqlite opens one only before a write, which already holds the write lock). The
    write lock serialises all writers of the database file across processes; others wait up to the
    connection's busy timeout (30 s, see make_engine).
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if not getattr(dbapi, "in_transaction", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def begin_snapshot(session: Session) -> None:
    """Make the session's reads see one snapshot of the database (call it before the session's first statement).

    PostgreSQL: a REPEATABLE READ transaction. SQLite: a deferred BEGIN (pysqlite opens no transaction for reads, so
    each SELECT would see the newest commit); in WAL mode the snapshot is taken at the first read.
    """
    if session.get_bind().dialect.name != "sqlite":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return
    conn = session.connection()
    if not getattr(conn.connection.dbapi_connection, "in_transaction", False):
        conn.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A sessionmaker bound to `engine`."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
