"""HTTP API: the event ingest (POST /api/v1/events), authenticated by the sources' INGEST_TOKEN."""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.observe.metrics import ingest_refused
from dashboard.services.ingest import RETRY_AFTER_S, ingest_payload
from dashboard.web.api.common import error_response
from dashboard.web.extensions import current_config, db_sessions, redis_client
from dashboard.web.limits import JsonTooDeep, parse_json

bp = Blueprint("api", __name__)


@bp.post("/api/v1/events")
def post_events() -> Response:
    """Accept one event or a batch from an authenticated source."""
    cfg = current_config()
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        ingest_refused("unauthorized")
        return error_response(401, "missing bearer token: send 'Authorization: Bearer <INGEST_TOKEN>'",
                              headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.strip().encode(), cfg.ingest_token.encode()):
        ingest_refused("unauthorized")
        return error_response(401, "invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if request.mimetype != "application/json":
        ingest_refused("unsupported_media_type")
        return error_response(415, "Content-Type must be application/json")
    too_large = f"body larger than {cfg.max_body_bytes} bytes; send smaller batches"
    if request.content_length is not None and request.content_length > cfg.max_body_bytes:
        ingest_refused("too_large")
        return error_response(413, too_large)
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > cfg.max_body_bytes:
        ingest_refused("too_large")
        return error_response(413, too_large)
    try:
        payload = parse_json(raw)
    except JsonTooDeep as exc:
        ingest_refused("malformed")
        return error_response(400, str(exc))
    except (ValueError, UnicodeDecodeError) as exc:
        ingest_refused("malformed")
        return error_response(400, f"malformed JSON: {exc}")
    result = ingest_payload(payload, time.time(), redis_client(), db_sessions(), cfg.max_batch_events)
    resp = jsonify(result.body())
    resp.status_code = result.status
    if result.status == 503:
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp
