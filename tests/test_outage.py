"""Degrade, don't fail: with the database away (a PostgreSQL of the test's own, stopped and started again, or the SQLite
file made unreachable) the screens keep their data from Redis and say the database is unavailable, actions answer
"nothing was saved, retry" and are never half-done, the jobs wait, and the log says it once with what failed."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask_login import login_user
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import Engine, event, func, select

from callbacks.database import down_since
from callbacks.dispatch import run_action
from dashboard import store
from dashboard.config import Config
from dashboard.domain import geo
from dashboard.frames.cache import read_and_refresh
from dashboard.i18n import t
from dashboard.live import keys
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_INCIDENTS, AGG_KPI, AGG_TRAFFIC
from dashboard.services import incident_reads
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.store.engine import make_engine, session_factory, session_scope
from dashboard.store.models import AuditLog, DispatchAction, Unit, User
from dashboard.store.outage import DATABASE
from dashboard.store.schema import init_db
from dashboard.web import create_app
from dashboard.web.auth import SessionUser
from dashboard.web.extensions import db_sessions
from layouts.db_notice import database_notice
from ops.redis_server import free_port
from tests.helpers import csrf_headers, incident, login, reading, seed_users
from tests.openapi_check import answers_match_the_document  # noqa: F401  (checks every answer against the document)
from tests.servers import PostgresProcess
from workers.clients import job_clients
from workers.tick import run_tick

INGEST = {"Authorization": "Bearer test-token"}
SYSTEM = Actor(id=None, username="system", role="system")
DONGSI = (116.4170, 39.9240)


@dataclass
class Database:
    """A database a test can make unreachable and bring back: `cut()` and `restore()`."""

    kind: str
    url: str
    cut: Callable[[], None]
    restore: Callable[[], None]
    engines: list[Engine] = field(default_factory=list)  # SQLite: closed when cut (open files would still work)
    away: bool = False


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A PostgreSQL of our own (stopped at once, as a crash does) or a SQLite file replaced by a directory."""
    if request.param == "postgres":
        pg = PostgresProcess()
        pg.start()
        db = Database("postgres", pg.url, pg.stop, pg.start)
        try:
            yield db
        finally:
            pg.remove()
        return
    path = tmp_path / "db.sqlite"
    aside = tmp_path / "db.sqlite.away"

    def cut() -> None:
        for engine in db.engines:
            engine.dispose()
        path.rename(aside)
        path.mkdir()

    def restore() -> None:
        path.rmdir()
        aside.rename(path)

    db = Database("sqlite", f"sqlite:///{path}", cut, restore)
    yield db


def _cut(db: Database) -> None:
    db.cut()
    db.away = True


def _restore(db: Database) -> None:
    db.restore()
    db.away = False


@pytest.fixture(autouse=True)
def no_outage_yet() -> Iterator[None]:
    """Each test starts without an outage recorded in this process (the record is per process)."""
    DATABASE.reset()
    yield
    DATABASE.reset()


@pytest.fixture
def app(database: Database, redis_url: str) -> Iterator[Flask]:
    """The app on the database that goes away (Redis stays), with the demo users and two fire engines."""
    server = create_app(Config.for_tests(redis_url=redis_url, database_url=database.url))
    with server.app_context():
        engine = db_sessions().kw["bind"]
        init_db(engine)
        seed_users(db_sessions())
        with db_sessions().begin() as s:
            for code, d in (("F1", 0.004), ("F2", 0.010)):
                lon, lat = DONGSI[0] + d, DONGSI[1]
                s.add(Unit(code=code, name=code, kind="fire", status="available", home_lon=lon, home_lat=lat,
                           lon=lon, lat=lat, subdistrict=geo.subdistrict_of(lon, lat) or ""))
    database.engines.append(engine)
    yield server
    if database.away:
        _restore(database)
    engine.dispose()
    server.extensions["dc_redis"].close()


def sessions_of(app: Flask) -> Any:
    """The app's session factory (the tick of these tests uses it too)."""
    with app.app_context():
        return db_sessions()


def post_events(client: Any, events: list[dict[str, Any]]) -> Any:
    """POST events to the ingest API."""
    return client.post("/api/v1/events", data=json.dumps(events), content_type="application/json", headers=INGEST)


def api_token(app: Flask, username: str) -> dict[str, str]:
    """A new API token of `username` as request headers."""
    with app.app_context(), db_sessions().begin() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        return {"Authorization": f"Bearer {store.users.create_api_token(s, user, 'tests')[1]}"}


def new_incident(app: Flask) -> int:
    """An incident at Dongsi, created through the service."""
    fields = {"category": "fire", "severity": 2, "title": "东四 火情", "lon": DONGSI[0], "lat": DONGSI[1]}
    with app.app_context(), session_scope(db_sessions()) as s:
        return int(svc.create_incident(s, fields, SYSTEM, uuid.uuid4().hex).incident["id"])


# --- the screens -----------------------------------------------------------------------------------------------------


def test_the_screens_keep_their_data_from_redis_and_say_the_database_is_unavailable(
    app: Flask, database: Database
) -> None:
    r = app.extensions["dc_redis"]
    sessions = sessions_of(app)
    client = app.test_client()
    assert post_events(client, [reading("r1"), incident("i1", severity=2)]).status_code == 200
    assert run_tick(r, sessions, time.time())["database"] is True
    before = read_aggregates(r, [AGG_INCIDENTS, AGG_TRAFFIC])

    _cut(database)
    for _ in range(3):
        result = run_tick(r, sessions, time.time())
        assert result["status"] == "ok" and result["database"] is False
    envs = read_aggregates(r, [AGG_INCIDENTS, AGG_TRAFFIC, AGG_KPI])
    # The telemetry aggregates stay fresh; those computed from SQL keep their last value (and age: stale).
    assert envs[AGG_TRAFFIC]["computed_at"] > before[AGG_TRAFFIC]["computed_at"]  # type: ignore[index]
    assert envs[AGG_INCIDENTS] == before[AGG_INCIDENTS]
    assert envs[AGG_INCIDENTS]["data"]["open_total"] == 1  # type: ignore[index]
    since = r.get(keys.DB_DOWN_SINCE)
    assert since is not None

    # The wall's refresh reads Redis only: it renders the incidents panel from the stale aggregate.
    with app.app_context():
        _values, shown, meta = read_and_refresh(r, None, "zh")
    assert meta["ok"] is True and meta[AGG_INCIDENTS] == before[AGG_INCIDENTS]["computed_at"]  # type: ignore[index]
    assert isinstance(shown, dict) and AGG_INCIDENTS in shown["v"]
    # Every screen's notice says why, in the user's language, from Redis alone.
    with app.test_request_context("/_dash-update-component"):
        login_user(SessionUser(1, "duty", "duty", "duty", "zh"))
        when = down_since(r)
    assert when == float(since)
    zh, hidden = database_notice(when, "zh")
    en, _ = database_notice(when, "en")
    assert hidden is False
    assert "数据库暂时不可用" in str(zh) and "操作不会保存" in str(zh)
    assert "Database unavailable" in str(en) and "actions are not saved" in str(en)

    _restore(database)
    assert run_tick(r, sessions, time.time())["database"] is True
    assert r.get(keys.DB_DOWN_SINCE) is None
    assert down_since(r) is None and database_notice(None, "zh") == ([], True)
    assert read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS] != before[AGG_INCIDENTS]  # fresh again


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_notice_reaches_a_signed_in_screen_over_http(app: Flask) -> None:
    """The notice's whole path through Dash, from the tick's word in Redis: here the tick reads a database nobody
    serves while this web process reaches its own, so that the request's login works whatever the login guard does
    without the database."""
    r = app.extensions["dc_redis"]
    client = app.test_client()
    assert login(client, "duty").status_code == 302
    body = {"output": "..db-notice.children...db-notice.hidden..",
            "outputs": [{"id": "db-notice", "property": "children"}, {"id": "db-notice", "property": "hidden"}],
            "inputs": [{"id": "db-poll", "property": "n_intervals", "value": 1}], "changedPropIds": [], "state": []}

    def notice() -> Any:
        resp = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
        assert resp.status_code == 200
        return resp.get_json()["response"]["db-notice"]

    assert notice()["hidden"] is True
    nobody = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")
    try:
        assert run_tick(r, session_factory(nobody), time.time())["database"] is False
    finally:
        nobody.dispose()
    DATABASE.reset()  # only the tick's word in Redis is left to say it
    shown = notice()
    assert shown["hidden"] is False and "数据库暂时不可用" in json.dumps(shown["children"], ensure_ascii=False)
    assert run_tick(r, sessions_of(app), time.time())["database"] is True
    assert notice()["hidden"] is True


# --- actions -------------------------------------------------------------------------------------------------------


def test_actions_answer_not_saved_retry_while_the_database_is_away(app: Flask, database: Database) -> None:
    inc = new_incident(app)
    token = api_token(app, "dispatch")
    client, duty = app.test_client(), app.test_client()
    assert login(client, "dispatch").status_code == 302 and login(duty, "duty").status_code == 302
    console = csrf_headers(client)
    _cut(database)
    # The API, by token and by session: 503, Retry-After, nothing saved.
    for headers in (token, console):
        resp = client.post(f"/api/v1/incidents/{inc}/actions", json={"action": "acknowledge"},
                           headers={**headers, "Idempotency-Key": "k1"})
        assert resp.status_code == 503 and int(resp.headers["Retry-After"]) > 0, resp.get_data(as_text=True)
    # The feeds: incidents and tickets answered 503 per event (resent later), telemetry still accepted.
    resp = post_events(client, [incident("i9"), reading("r9")])
    assert resp.status_code == 503 and resp.get_json()["accepted"] == 1 and len(resp.get_json()["unavailable"]) == 1
    # The console's action: the toast says nothing was saved.
    with app.test_request_context("/_dash-update-component"):
        login_user(SessionUser(3, "dispatch", "dispatch", "dispatch", "zh"))
        fb = run_action(inc, svc.ActionRequest("acknowledge"), "k2", Actor(3, "dispatch", "dispatch"), "zh")
    assert (fb.kind, fb.status, fb.message) == ("error", 503, t("dsp.db_failed", "zh"))
    # The daily report (a page): 503 and Retry-After, never a 500.
    report = duty.get("/report")
    assert report.status_code == 503 and int(report.headers["Retry-After"]) > 0

    _restore(database)
    with app.app_context(), session_scope(db_sessions()) as s:
        assert incident_reads.get_incident(s, inc)["state"] == "new"
    ok = client.post(f"/api/v1/incidents/{inc}/actions", json={"action": "acknowledge"},
                     headers={**token, "Idempotency-Key": "k1"})
    assert ok.status_code == 200 and ok.get_json()["replayed"] is False


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_an_action_cut_off_by_the_outage_is_never_half_done_and_its_retry_is_done_once(
    app: Flask, database: Database
) -> None:
    """PostgreSQL stops (as a crash) right after the action's first write, inside its transaction: nothing of it is
    kept — not the incident's change, not the unit's, not the action row, not its audit entry — and the retry with the
    same Idempotency-Key does it exactly once."""
    inc = new_incident(app)
    token = api_token(app, "dispatch")
    client = app.test_client()
    def records() -> tuple[int, int]:
        """(dispatch action rows, audit entries of dispatches)."""
        with app.app_context(), session_scope(db_sessions()) as s:
            return (s.scalar(select(func.count()).select_from(DispatchAction)) or 0,
                    s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "dispatch")) or 0)

    with app.app_context(), session_scope(db_sessions()) as s:
        before = incident_reads.get_incident(s, inc)
        unit = next(u["id"] for u in incident_reads.list_units(s) if u["code"] == "F1")
    rows, audited = records()  # the incident's creation is an action row too
    engine = database.engines[0]
    armed = {"on": True}

    @event.listens_for(engine, "after_cursor_execute")
    def crash_after_the_first_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = " ".join(statement.split()[:3]).upper()
        if armed["on"] and words.startswith(("UPDATE INCIDENTS", "UPDATE UNITS", "INSERT INTO DISPATCH_ACTIONS")):
            armed["on"] = False
            _cut(database)

    body = {"action": "dispatch", "unit_id": unit, "expected_version": before["version"]}
    resp = client.post(f"/api/v1/incidents/{inc}/actions", json=body, headers={**token, "Idempotency-Key": "once"})
    assert armed["on"] is False, "the action never wrote"
    assert resp.status_code == 503 and resp.get_json()["code"] == "database_unavailable"
    assert int(resp.headers["Retry-After"]) > 0
    event.remove(engine, "after_cursor_execute", crash_after_the_first_write)

    _restore(database)
    with app.app_context(), session_scope(db_sessions()) as s:
        after = incident_reads.get_incident(s, inc)
        units = {u["id"]: u for u in incident_reads.list_units(s)}
    assert (after["state"], after["version"], after["units"]) == (before["state"], before["version"], [])
    assert units[unit]["status"] == "available" and units[unit]["incident_id"] is None
    assert records() == (rows, audited)

    retry = client.post(f"/api/v1/incidents/{inc}/actions", json=body, headers={**token, "Idempotency-Key": "once"})
    assert retry.status_code == 200 and retry.get_json()["replayed"] is False
    again = client.post(f"/api/v1/incidents/{inc}/actions", json=body, headers={**token, "Idempotency-Key": "once"})
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert records() == (rows + 1, audited + 1)


# --- the log and the jobs ------------------------------------------------------------------------------------------


def test_an_outage_is_logged_once_with_a_count_of_what_failed_and_the_jobs_wait(
    app: Flask, database: Database, redis_url: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = app.extensions["dc_redis"]
    sessions = sessions_of(app)
    client = app.test_client()
    assert login(client, "duty").status_code == 302
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", database.url)
    database.engines.append(job_clients().engine)  # the jobs' own engine (this process's worker clients)
    rq = redis.Redis.from_url(redis_url)
    jobs = ("workers.deadlines.check_deadlines", "workers.linking.job.link_tickets",
            "workers.early_warning.job.refresh_baseline")
    caplog.set_level(logging.INFO)

    _cut(database)
    for _ in range(4):
        run_tick(r, sessions, time.time())
    for _ in range(3):
        assert client.get("/api/v1/incidents").status_code == 503
    assert client.get("/readyz").status_code == 503
    queue = Queue(keys.QUEUE_DEFAULT, connection=rq)
    enqueued = [queue.enqueue(name, result_ttl=60) for name in jobs]
    SimpleWorker([queue], connection=rq).work(burst=True)  # RQ runs them as the workers do
    assert [job.return_value() for job in enqueued] == [{"status": "database_unavailable"}] * len(jobs)
    assert FailedJobRegistry(queue=queue).count == 0
    assert DATABASE.down

    said = [rec for rec in caplog.records if rec.name == "dashboard.store.outage"]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert said[0].getMessage().startswith("database unavailable (")
    assert [rec.getMessage() for rec in caplog.records if rec.exc_info] == []  # no traceback anywhere

    caplog.clear()
    _restore(database)
    assert run_tick(r, sessions, time.time())["database"] is True
    assert not DATABASE.down
    (back,) = [rec for rec in caplog.records if rec.name == "dashboard.store.outage"]
    message = back.getMessage()
    assert message.startswith("database answers again after")
    for count in ("4 tick", "3 API request", "1 health check", "1 deadline check", "1 linking",
                  "1 early-warning baseline"):
        assert count in message, message
