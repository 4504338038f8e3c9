"""The health probes, public (no login) and described in the OpenAPI document:

- `GET /livez`, liveness: the process answers. Touches nothing else, so a restart is never ordered because Redis or
  the database is away (a restart would not bring them back).
- `GET /readyz`, readiness, for the load balancer: this host can serve: Redis and the database answer. Nothing about
  workers or ages: another host's workers serve this host's screens as well.
- `GET /healthz`, the detail, for monitoring: Redis, the database, live workers on every product queue, the tick, a
  scheduler leader (one holds the scheduler lease; "no scheduler leader" among the problems when none does) and the
  age of every aggregate (thresholds in dashboard/live/health.py); 200 when all is well, 503 when degraded with
  the problems listed.

Each answers 200 again by itself as soon as its cause is gone: every answer is worked out afresh, nothing is cached.
The liveness and readiness probes are answered before the login guard and the session checks run (`init_probes`), so
that a probe a load balancer sends every few seconds costs a ping and depends on nothing else.
"""

from __future__ import annotations

import time
from typing import Any, Final

import redis
from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.live import health as live_health
from dashboard.live.schema import AGGREGATES
from dashboard.store.engine import session_scope
from dashboard.store.outage import DATABASE
from dashboard.web.extensions import db_sessions, redis_client

bp = Blueprint("health", __name__)

LIVEZ: Final = "/livez"
READYZ: Final = "/readyz"
# Seconds a load balancer or monitor may wait before asking again after a 503.
RETRY_AFTER_S: Final = 5


def _answer(body: dict[str, Any], ok: bool) -> Response:
    """JSON, 200 or 503 (with Retry-After), never cached."""
    resp = jsonify(body)
    resp.status_code = 200 if ok else 503
    resp.headers["Cache-Control"] = "no-store"
    if not ok:
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


def _kind(exc: BaseException) -> dict[str, Any]:
    """A failed check as the public probes say it: the error's kind, never its message (Redis's names the internal
    host and port, Sentinel's its sentinels)."""
    return {"ok": False, "error": type(exc).__name__}


def check_redis(r: redis.Redis) -> dict[str, Any]:
    """{"ok": True} when Redis answers a PING, else the kind of error."""
    try:
        r.ping()
        return {"ok": True}
    except (redis.RedisError, OSError) as exc:
        return _kind(exc)


def check_database() -> dict[str, Any]:
    """{"ok": True} when the database answers `SELECT 1`, else the kind of error (counted in the outage, not
    logged: a probe every few seconds must not fill the log while the database is away)."""
    try:
        with session_scope(db_sessions()) as s:
            store.schema.ping(s)
        return {"ok": True}
    except SQLAlchemyError as exc:
        DATABASE.failed("health check", exc)
        return _kind(exc)


@bp.get(LIVEZ)
def livez() -> Response:
    """Liveness: the process answers (no dependency is checked)."""
    return _answer({"status": "ok", "time": time.time()}, True)


@bp.get(READYZ)
def readyz() -> Response:
    """Readiness: Redis and the database answer; 503 while either does not."""
    body: dict[str, Any] = {"time": time.time(), "redis": check_redis(redis_client()), "database": check_database()}
    ok = body["redis"]["ok"] and body["database"]["ok"]
    body["status"] = "ready" if ok else "unready"
    return _answer(body, ok)


@bp.get("/healthz")
def healthz() -> Response:
    """State of Redis, the database, the workers (and whether a scheduler leads) and the age of every aggregate; 503
    when degraded."""
    now = time.time()
    r = redis_client()
    body: dict[str, Any] = {"time": now, "redis": check_redis(r), "database": check_database()}
    problems: list[str] = []
    if not body["database"]["ok"]:
        problems.append("database unreachable")
    if body["redis"]["ok"]:
        try:
            found = live_health.detail(r, now)
            body["workers"], body["aggregates"] = found["workers"], found["aggregates"]
            body["scheduler"] = found["scheduler"]
            problems += found["problems"]
        except (redis.RedisError, OSError) as exc:
            body["redis"] = _kind(exc)
    if not body["redis"]["ok"]:
        problems.insert(0, "redis unreachable")
        body["workers"] = {"ok": False, "error": "redis unavailable"}
        body["scheduler"] = {"ok": False, "error": "redis unavailable"}
        body["aggregates"] = {name: {"age_s": None, "ok": False} for name in AGGREGATES}
    body["problems"] = problems
    body["thresholds"] = {
        "tick_late_after_s": live_health.HEALTH_TICK_LATE_AFTER_S,
        "aggregate_late_after_s": live_health.HEALTH_AGGREGATE_LATE_AFTER_S,
        "worker_heartbeat_late_after_s": live_health.WORKER_LATE_AFTER_S,
    }
    body["status"] = "degraded" if problems else "ok"
    return _answer(body, not problems)


_PROBES: Final = {LIVEZ: livez, READYZ: readyz}


def _answer_probe() -> Response | None:
    """The liveness or readiness answer, before any other before-request hook (login guard, CSRF) runs."""
    view = _PROBES.get(request.path)
    if view is None:
        return None
    if request.method not in ("GET", "HEAD"):
        # Answered here too: the login guard would otherwise say 401 to a method the probe does not have.
        resp = jsonify(error=f"{request.method} is not allowed here", code="method_not_allowed")
        resp.status_code = 405
        resp.headers["Allow"] = "GET, HEAD"
        return resp
    return view()


def init_probes(app: Flask) -> None:
    """Register the probes; call it before the login guard is installed, so that their answer comes first."""
    app.before_request(_answer_probe)
    app.register_blueprint(bp)
