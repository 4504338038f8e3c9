"""GET /healthz: the state of Redis, the database, the workers and the age of every aggregate (503 when degraded).

Public (no login): load balancers and the operators' monitoring call it. Described in the OpenAPI document.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, Response, jsonify
from rq import Worker
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.live import keys
from dashboard.live.aggregates import aggregate_ages
from dashboard.live.health import TICK_LATE_AFTER_S
from dashboard.live.schema import AGG_STALE_AFTER_S, AGGREGATES
from dashboard.store.engine import session_scope
from dashboard.web.extensions import db_sessions, redis_client

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """State of Redis, the database, the workers and the age of every aggregate; 503 when degraded."""
    now = time.time()
    body: dict[str, Any] = {"time": now}
    ok = True
    r = redis_client()
    try:
        r.ping()
        body["redis"] = {"ok": True}
    except redis.RedisError as exc:
        body["redis"] = {"ok": False, "error": str(exc)}
        ok = False
    try:
        with session_scope(db_sessions()) as s:
            store.schema.ping(s)
        body["database"] = {"ok": True}
    except SQLAlchemyError as exc:
        body["database"] = {"ok": False, "error": type(exc).__name__}
        ok = False
    if body["redis"]["ok"]:
        try:
            workers = Worker.all(connection=r)
            last_tick = r.get(keys.LAST_TICK)
            tick_age = now - float(last_tick) if last_tick else None
            workers_ok = bool(workers) and tick_age is not None and tick_age < TICK_LATE_AFTER_S
            body["workers"] = {"ok": workers_ok, "count": len(workers), "last_tick_age_s": tick_age}
            ages = aggregate_ages(r, now)
            body["aggregates"] = {
                name: {"age_s": None if age is None else round(age, 3),
                       "ok": age is not None and age < AGG_STALE_AFTER_S}
                for name, age in ages.items()
            }
            ok = ok and workers_ok and all(a["ok"] for a in body["aggregates"].values())
        except redis.RedisError as exc:
            body["workers"] = {"ok": False, "error": str(exc)}
            ok = False
    else:
        body["workers"] = {"ok": False, "error": "redis unavailable"}
        body["aggregates"] = {name: {"age_s": None, "ok": False} for name in AGGREGATES}
    body["status"] = "ok" if ok else "degraded"
    resp = jsonify(body)
    resp.status_code = 200 if ok else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp
