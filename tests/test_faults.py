"""Faults: Redis stopping under an open wall and coming back; the process keeps serving throughout."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import no_update

from dashboard.config import Config
from dashboard.frames.cache import read_and_refresh
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_INCIDENTS, AGGREGATES
from dashboard.store.schema import init_db
from dashboard.web import create_app
from dashboard.web.extensions import db_sessions
from tests.helpers import incident, login, reading, seed_users
from tests.servers import RedisProcess
from workers.tick import run_tick

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private Redis server for this test."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


def post(client: Any, events: list[dict[str, Any]]) -> Any:
    """POST events to the ingest API."""
    return client.post("/api/v1/events", data=json.dumps(events), content_type="application/json", headers=AUTH)


def test_redis_stopping_and_returning_under_an_open_wall(own_redis: RedisProcess, tmp_path: Path) -> None:
    app = create_app(Config.for_tests(redis_url=own_redis.url, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    r = app.extensions["dc_redis"]
    with app.app_context():
        sessions = db_sessions()
        init_db(sessions.kw["bind"])
        seed_users(sessions)
    client = app.test_client()
    login(client, "duty")
    assert post(client, [reading("r1"), incident("i1", severity=2)]).status_code == 200
    run_tick(r, sessions, time.time())
    with app.app_context():
        _, versions, meta = read_and_refresh(r, None, "zh")
    assert meta["ok"] and meta[AGG_INCIDENTS] is not None

    own_redis.stop()
    # Pages still load, the wall's refresh marks every panel stale instead of failing, /healthz says 503.
    assert client.get("/wall").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    with app.app_context():
        values, new_client, meta = read_and_refresh(r, versions, "zh")
    assert meta["ok"] is False and all(meta[name] is None for name in AGGREGATES)
    assert new_client is no_update and all(v is no_update for v in values)  # panels keep their last values
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["redis"]["ok"] is False
    # Incidents posted meanwhile are kept in SQL; telemetry is refused with 503 and Retry-After.
    resp = post(client, [incident("i2", severity=1)])
    assert resp.status_code == 200 and resp.get_json()["accepted"] == 1
    resp = post(client, [reading("r2")])
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"

    own_redis.start()
    deadline = time.monotonic() + 10
    while True:  # the next ticks recover the aggregates by themselves, including what arrived meanwhile
        run_tick(r, sessions, time.time())
        envs = read_aggregates(r, AGGREGATES)
        inc = envs[AGG_INCIDENTS]
        if (inc and inc["data"]["open_total"] == 2) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert inc is not None and inc["data"]["open_by_severity"] == {"1": 1, "2": 1, "3": 0, "4": 0}
    assert all(envs[name] is not None for name in AGGREGATES)
    assert post(client, [reading("r3")]).status_code == 200
    health = client.get("/healthz").get_json()
    assert health["redis"]["ok"] and all(a["ok"] for a in health["aggregates"].values())
