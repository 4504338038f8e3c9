"""HTTP API: the event ingest (POST /api/v1/events), authenticated by the sources' INGEST_TOKEN.

`answer_events` is the endpoint's whole answer from the request's few facts (its Authorization and Content-Type
headers, its declared length, its body): the Flask view below and the feeds' server's fast path
(dashboard/web/feeds.py) both answer with it, so the two answer alike.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.config import Config
from dashboard.observe.metrics import ingest_refused
from dashboard.services.ingest import RETRY_AFTER_S, IngestResult, ingest_payload
from dashboard.web.extensions import current_config, db_sessions, redis_client
from dashboard.web.limits import JsonTooDeep, parse_json

bp = Blueprint("api", __name__)
PATH = "/api/v1/events"


@dataclass(frozen=True)
class Answer:
    """The endpoint's answer: status, JSON body and the headers of its own."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    """An error as dashboard.web.api.common.error_response words it."""
    return Answer(status, {"error": message}, headers or {})


# How a parsed body is ingested at a given time: ingest_payload, or the feeds' server's group commit.
Ingest = Callable[[Any, float], IngestResult]


def alone(cfg: Config, r: redis.Redis, sessions: sessionmaker[Session]) -> Ingest:
    """Each body ingested on its own (ingest_payload), as the app's view does."""
    return lambda payload, now: ingest_payload(payload, now, r, sessions, cfg.max_batch_events)


def answer_events(cfg: Config, authorization: str, mimetype: str, content_length: int | None,
                  read_body: Callable[[], bytes | None], ingest: Ingest) -> Answer:
    """Accept one event or a batch from an authenticated source; `read_body` gives the body, or None when it is
    larger than the app takes."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        ingest_refused("unauthorized")
        return _error(401, "missing bearer token: send 'Authorization: Bearer <INGEST_TOKEN>'",
                      {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.strip().encode(), cfg.ingest_token.encode()):
        ingest_refused("unauthorized")
        return _error(401, "invalid token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if mimetype != "application/json":
        ingest_refused("unsupported_media_type")
        return _error(415, "Content-Type must be application/json")
    too_large = f"body larger than {cfg.max_body_bytes} bytes; send smaller batches"
    if content_length is not None and content_length > cfg.max_body_bytes:
        ingest_refused("too_large")
        return _error(413, too_large)
    raw = read_body()
    if raw is None or len(raw) > cfg.max_body_bytes:
        ingest_refused("too_large")
        return _error(413, too_large)
    try:
        payload = parse_json(raw)
    except JsonTooDeep as exc:
        ingest_refused("malformed")
        return _error(400, str(exc))
    except (ValueError, UnicodeDecodeError) as exc:
        ingest_refused("malformed")
        return _error(400, f"malformed JSON: {exc}")
    result = ingest(payload, time.time())
    headers = {"Retry-After": str(RETRY_AFTER_S)} if result.status == 503 else {}
    return Answer(result.status, result.body(), headers)


def _flask_body() -> bytes | None:
    """The request's body, None when larger than Flask's MAX_CONTENT_LENGTH."""
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None


@bp.post(PATH)
def post_events() -> Response:
    """Accept one event or a batch from an authenticated source."""
    answer = answer_events(current_config(), request.headers.get("Authorization", ""), request.mimetype,
                           request.content_length, _flask_body, alone(current_config(), redis_client(), db_sessions()))
    resp = jsonify(answer.body)
    resp.status_code = answer.status
    resp.headers.update(answer.headers)
    return resp
