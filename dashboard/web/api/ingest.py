"""HTTP API: event ingest and the health probe."""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request
from rq import Worker
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard import store
from dashboard.live import keys
from dashboard.live.aggregates import aggregate_ages
from dashboard.live.schema import AGG_STALE_AFTER_S, AGGREGATES
from dashboard.services.ingest import RETRY_AFTER_S, ingest_payload
from dashboard.store.engine import session_scope
from dashboard.web.extensions import current_config, db_sessions, redis_client

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)

# /healthz calls the tick "late" after this many seconds without one.
TICK_LATE_AFTER_S = 5.0


def _error(status: int, message: str, **headers: str) -> Response:
    """A JSON error response."""
    resp = jsonify(error=message)
    resp.status_code = status
    for k, v in headers.items():
        resp.headers[k.replace("_", "-")] = v
    return resp


def _reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


@bp.post("/api/v1/events")
def post_events() -> Response:
    """Accept one event or a batch from an authenticated source."""
    cfg = current_config()
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "missing bearer token: send 'Authorization: Bearer <INGEST_TOKEN>'",
                      WWW_Authenticate="Bearer")
    if not hmac.compare_digest(token.strip().encode(), cfg.ingest_token.encode()):
        return _error(401, "invalid token", WWW_Authenticate='Bearer error="invalid_token"')
    if request.mimetype != "application/json":
        return _error(415, "Content-Type must be application/json")
    if request.content_length is not None and request.content_length > cfg.max_body_bytes:
        return _error(413, f"body larger than {cfg.max_body_bytes} bytes; send smaller batches")
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _error(413, f"body larger than {cfg.max_body_bytes} bytes; send smaller batches")
    if len(raw) > cfg.max_body_bytes:
        return _error(413, f"body larger than {cfg.max_body_bytes} bytes; send smaller batches")
    try:
        payload = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"malformed JSON: {exc}")
    result = ingest_payload(payload, time.time(), redis_client(), db_sessions(), cfg.max_batch_events)
    resp = jsonify(result.body())
    resp.status_code = result.status
    if result.status == 503:
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


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
