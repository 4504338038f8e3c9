"""A DATABASE_URL listing several PostgreSQL hosts (libpq's `host1:port1,host2:port2` with
`target_session_attrs=read-write`) reaches the primary whichever order the hosts are listed in: a primary of the
test's own (initdb on a free port) and a streaming standby made from it (pg_basebackup), never the shared server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text

from dashboard import store
from dashboard.services.ingest import store_telemetry
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory, sqlalchemy_url
from ops.cli import main as dongcheng
from tests.servers import PostgresProcess, wait_for
from tests.test_telemetry_rollup import expected, stored, telemetry
from workers.rollup import run_rollup


def test_a_libpq_host_list_becomes_sqlalchemys_repeated_host_parameters() -> None:
    url = "postgresql://u:p%40ss@10.0.0.1:5432,10.0.0.2:5433/dc?target_session_attrs=read-write"
    assert sqlalchemy_url(url) == ("postgresql+psycopg://u:p%40ss@/dc?host=10.0.0.1:5432&host=10.0.0.2:5433"
                                   "&target_session_attrs=read-write")
    assert sqlalchemy_url("postgresql+psycopg://u@h1:1,h2:2/dc") == "postgresql+psycopg://u@/dc?host=h1:1&host=h2:2"
    assert sqlalchemy_url("postgres://u@h/dc") == "postgresql+psycopg://u@h/dc"  # one host: unchanged
    assert sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PostgresProcess, PostgresProcess]]:
    """A primary and a streaming standby of it, both of this test's own."""
    primary = PostgresProcess()
    standby: PostgresProcess | None = None
    try:
        primary.start()
        standby = PostgresProcess(standby_of=primary)
        standby.start()
        yield primary, standby
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


def listed(*servers: PostgresProcess, read_write: bool = True) -> str:
    """A DATABASE_URL naming `servers` in this order."""
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in servers)
    return f"postgresql+psycopg://postgres@{hosts}/postgres" + ("?target_session_attrs=read-write" if read_write
                                                                 else "")


def server_port(engine: Engine) -> tuple[int, bool]:
    """(port, in recovery) of the server a connection of `engine` reached."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT current_setting('port')::int, pg_is_in_recovery()")).one()
    return int(row[0]), bool(row[1])


def test_the_app_writes_to_the_primary_whichever_order_the_hosts_are_listed_in(
    pair: tuple[PostgresProcess, PostgresProcess], r: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    primary, standby = pair
    # Without target_session_attrs libpq takes the first host that answers: the standby, read-only.
    plain = make_engine(listed(standby, primary, read_write=False))
    try:
        assert server_port(plain) == (standby.port, True)
    finally:
        plain.dispose()
    monkeypatch.setenv("DATABASE_URL", listed(standby, primary))
    assert dongcheng(["db", "upgrade"]) == 0  # the schema is made on the primary through the host list
    assert "127.0.0.1" in capsys.readouterr().out
    now = time.time()
    written: list[dict[str, Any]] = []
    for order in ((primary, standby), (standby, primary)):
        engine = make_engine(listed(*order))
        try:
            assert server_port(engine) == (primary.port, False)
            assert schema.current(engine) == schema.head()
            sessions = session_factory(engine)
            r.flushdb()
            events = telemetry(40, now - 900, 120, seed=order[0].port)
            written += events
            store_telemetry(r, events)
            assert run_rollup(r, sessions, now, retention_days=30)["rolled"] == 40
            with sessions() as s:
                assert store.telemetry.cells_between(s, now - 1000, now)
        finally:
            engine.dispose()
    on_primary = make_engine(primary.url)
    on_standby = make_engine(standby.url)
    try:
        want = stored(session_factory(on_primary))
        assert want == expected(written)  # both runs wrote there
        # And the standby follows it (replication), which is why it could be listed at all.
        wait_for("the standby to replay the roll-ups", lambda: stored(session_factory(on_standby)) == want, 30)
    finally:
        on_primary.dispose()
        on_standby.dispose()
