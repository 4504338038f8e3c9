"""The login guard while the database is away, in a real outage: a PostgreSQL this test starts and stops, and a
SQLite file made unreachable. The wall's refresh answers 200 from Redis on the session's snapshot of the user,
the outage is logged once with a count (no traceback per request), the trust is bounded (then 503, never 401),
and everything is as before when the database is back."""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dashboard.config import Config
from dashboard.store import outage
from dashboard.web import sessions
from tests.helpers import incident, login, replay, seed_users, stolen


@dataclass
class Database:
    """A database the test can take away and bring back."""

    url: str
    stop: Callable[[], None]
    start: Callable[[], None]


def _pg_bin() -> Path | None:
    """The directory of PostgreSQL's server programs, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run a server program as the postgres user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def own_postgres() -> Iterator[Database]:
    """A PostgreSQL server of this test's own on a free port: initdb, pg_ctl start/stop."""
    from ops.redis_server import free_port

    bindir = _pg_bin()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="dc-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8"]), check=True, capture_output=True)
    ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60"]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start() -> None:
        subprocess.run(_as_postgres([*ctl, "-o", options, "start"]), check=True, capture_output=True)

    def stop() -> None:
        subprocess.run(_as_postgres([*ctl, "-m", "fast", "stop"]), check=True, capture_output=True)

    start()
    try:
        yield Database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop, start)
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_sqlite(tmp_path: Path) -> Iterator[Database]:
    """A SQLite file that can be made unreachable: moved away, with a directory where the file was."""
    path = tmp_path / "dc.db"
    aside = tmp_path / "dc.db.away"

    def stop() -> None:
        path.rename(aside)
        path.mkdir()

    def start() -> None:
        path.rmdir()
        aside.rename(path)

    yield Database(f"sqlite:///{path}", stop, start)


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest) -> Database:
    """Each kind of database, taken away for real."""
    found: Database = request.getfixturevalue(f"own_{request.param}")
    return found


@pytest.fixture
def outage_app(database: Database, redis_url: str) -> Iterator[Any]:
    """The app on that database, with the demo users and a tick's aggregates in Redis."""
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from workers.tick import run_tick

    # The user is reloaded at every request here: these tests are about what happens when that reload fails.
    config = dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=database.url),
                                 session_user_recheck_s=0.0)
    app = create_app(config)
    with app.app_context():
        sessions_ = db_sessions()
        init_db(sessions_.kw["bind"])
        seed_users(sessions_)
    resp = app.test_client().post("/api/v1/events", json=[incident("o1", severity=2)],
                                  headers={"Authorization": "Bearer test-token"})
    assert resp.status_code == 200
    run_tick(app.extensions["dc_redis"], sessions_, time.time())
    yield app
    app.extensions["dc_redis"].close()
    sessions_.kw["bind"].dispose()


def wall_refresh(app: Any, client: Any) -> Any:
    """The wall's refresh (its frame), as the browser asks for it every second."""
    return client.get("/api/v1/frame", query_string={"from": "", "lang": "zh"}, headers={"Accept": "application/json"})


def take_away(app: Any, database: Database) -> None:
    """Stop the database, and drop the pooled connections (as the server's going away does to them)."""
    from dashboard.web.extensions import db_sessions

    database.stop()
    with app.app_context():
        db_sessions().kw["bind"].dispose()


def test_with_the_database_away_the_wall_refreshes_from_redis(
    outage_app: Any, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app = outage_app
    wall = app.test_client()
    assert login(wall, "duty").status_code == 302
    assert wall_refresh(app, wall).status_code == 200
    caplog.set_level(logging.INFO)
    take_away(app, database)

    for _ in range(20):
        resp = wall_refresh(app, wall)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    meta = resp.get_json()["meta"]
    assert meta["ok"] is True  # the aggregates are there, from Redis
    assert wall.get("/wall").status_code == 200 and wall.get("/_dash-layout").status_code == 200

    # Said once for the outage, with no traceback, however many requests.
    said = [r for r in caplog.records if r.name == outage.__name__ and "unavailable" in r.getMessage()]
    assert len(said) == 1 and "user reload failed" in said[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("dashboard.web") and r.exc_info]

    # Signing in needs the database: 503, asking to retry, not a 500.
    resp = login(app.test_client(), "leader")
    assert resp.status_code == 503 and resp.headers["Retry-After"]

    # The snapshot is trusted for a bounded time only; then 503, which the wall waits out (a 401 would sign it out).
    app.extensions[sessions.EXTENSION].db_grace_s = 0.0
    resp = wall_refresh(app, wall)
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert wall.get("/wall").status_code == 503

    # Back: the same session goes on, the user is reloaded again, and the end of the outage is logged with its count.
    database.start()
    assert wall_refresh(app, wall).status_code == 200
    back = [r.getMessage() for r in caplog.records if "answers again after" in r.getMessage()]
    assert len(back) == 1 and "request served on its session's snapshot" in back[0]


def test_while_the_database_answers_a_disabled_user_is_refused_at_the_next_request(
    outage_app: Any, database: Database
) -> None:
    """The snapshot never stands in for an answer the database gave: reloading goes on while it answers."""
    from sqlalchemy import select

    from dashboard.store.models import User
    from dashboard.web.extensions import db_sessions

    app = outage_app
    wall = app.test_client()
    login(wall, "duty")
    cookies = stolen(wall)
    with app.app_context(), db_sessions()() as s:
        s.scalars(select(User).where(User.username == "duty")).one().active = False
        s.commit()
    assert wall_refresh(app, replay(app, cookies)).status_code == 401
    # And the session stays ended when the database goes away afterwards: its record ended with it.
    take_away(app, database)
    assert wall_refresh(app, replay(app, cookies)).status_code == 401
