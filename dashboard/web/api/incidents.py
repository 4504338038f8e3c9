"""REST API for incidents, their actions and the units: the console's service functions over HTTP.

Authenticated by the browser session (state changes then need the CSRF header, see dashboard.web.csrf) or by a
per-user API token (`Authorization: Bearer`, see ops.tokens). Roles are checked by the service, which
refuses with a status, a reason and an audit entry; this module only parses, validates the shape of requests and
maps results and failures to JSON. Described by the OpenAPI document at /api/v1/openapi.json.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

import redis
from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.live.publish import notify_change
from dashboard.services.base import Actor, Refused
from dashboard.services.incident_reads import get_incident, list_incidents, list_units, suggest_units
from dashboard.services.incidents import ActionRequest, ActionResult, create_incident, perform_action
from dashboard.store.engine import session_scope
from dashboard.web.api import openapi
from dashboard.web.extensions import db_sessions, redis_client

log = logging.getLogger(__name__)
bp = Blueprint("api_incidents", __name__, url_prefix="/api/v1")

PREFIX = "/api/v1"
# Seconds a client should wait before retrying after the database failed.
RETRY_AFTER_S = 2
# Idempotency keys: printable ASCII without spaces, scoped to the user (see _idempotency_key).
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")
LIST_LIMIT_MAX = 500
LIST_LIMIT_DEFAULT = 200
SUGGEST_LIMIT_MAX = 20
LIST_PARAMS = frozenset({"state", "severity", "subdistrict", "limit"})
# Fields of an action body and their JSON types.
ACTION_FIELDS: dict[str, type] = {
    "action": str,
    "unit_id": int,
    "severity": int,
    "reason": str,
    "departments": list,
    "department": str,
    "note": str,
    "expected_version": int,
}
TEXT_MAX = 2000

T = TypeVar("T")


class ApiError(Exception):
    """A request this API refuses before (or instead of) calling the service."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _fail(status: int, message: str, code: str) -> NoReturn:
    raise ApiError(status, message, code)


def _jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 (Flask would write RFC 822 dates), recursively."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    resp = jsonify(_jsonable(body))
    resp.status_code = status
    for k, v in headers.items():
        resp.headers[k] = v
    return resp


def _error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    resp = jsonify(error=message, code=code)
    resp.status_code = status
    resp.headers.update(headers or {})
    return resp


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return _error_response(exc.status, exc.message, exc.code)


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> Response:
    # The service has rolled the session back and audited the refusal already.
    body: dict[str, Any] = {"error": exc.reason, "code": exc.code}
    if exc.errors:
        body["errors"] = exc.errors  # field -> reason, for 422
    return _json(body, exc.status)


@bp.errorhandler(SQLAlchemyError)
def _database_failed(exc: SQLAlchemyError) -> Response:
    # session_scope rolled the transaction back: the action and its audit entry were written together or not at all.
    log.warning("API request failed in the database: %s", type(exc).__name__)
    return _error_response(503, "nothing was saved; retry", "database_unavailable",
                           {"Retry-After": str(RETRY_AFTER_S)})


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    """JSON instead of HTML for unknown routes, wrong methods, oversized bodies … under /api/."""
    if not request.path.startswith("/api/"):
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    resp = _error_response(exc.code or 500, exc.description or exc.name, code)
    if exc.code == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            resp.headers["Allow"] = ", ".join(allowed)
    return resp


@bp.after_request
def _no_store(resp: Response) -> Response:
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


# --- request parsing ----------------------------------------------------------------------------


def _actor() -> Actor:
    """The caller, from the session or the API token (the login guard has authenticated one of them)."""
    return Actor(id=int(current_user.id), username=str(current_user.username), role=str(current_user.role))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_object() -> dict[str, Any]:
    """The request body as a JSON object; 415 for another content type, 400 for anything but an object."""
    if request.mimetype != "application/json":
        _fail(415, "Content-Type must be application/json", "unsupported_media_type")
    try:
        payload = json.loads(request.get_data(cache=False), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(400, f"malformed JSON: {exc}", "malformed_json")
    if not isinstance(payload, dict):
        _fail(400, "the body must be a JSON object", "malformed_json")
    return payload


def _idempotency_key() -> str:
    """The Idempotency-Key header, scoped to the caller so that two users' keys never collide."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        _fail(400, f"the {IDEMPOTENCY_HEADER} header is required: a unique value per intended action (e.g. a UUID); "
                   "send the same value again to retry safely", "idempotency_key_required")
    if not IDEMPOTENCY_KEY_RE.match(key):
        _fail(400, f"{IDEMPOTENCY_HEADER} must be 1–100 printable ASCII characters without spaces",
              "idempotency_key_invalid")
    return f"api:{int(current_user.id)}:{key}"


def _split(values: list[str]) -> list[str]:
    """Repeatable and comma-separated query values as one list."""
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _int_param(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        _fail(422, f"{name} must be an integer from {lo} to {hi}, not {raw!r}", "invalid_parameter")
    if not lo <= value <= hi:
        _fail(422, f"{name} must be from {lo} to {hi}, not {value}", "invalid_parameter")
    return value


def _subdistrict_code(raw: str) -> str:
    """A subdistrict given by its code, Chinese or English name, as its code."""
    for s in geo.subdistricts():
        if raw in (s.code, s.name_zh) or raw.lower() == s.name_en.lower():
            return s.code
    _fail(422, f"unknown subdistrict {raw!r}: give its 9-digit code or its name", "invalid_parameter")


def _list_filters() -> dict[str, Any]:
    unknown = sorted(set(request.args) - LIST_PARAMS)
    if unknown:
        _fail(422, f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(LIST_PARAMS))}",
              "invalid_parameter")
    states = _split(request.args.getlist("state"))
    for s in states:
        if s not in _states():
            _fail(422, f"unknown state {s!r}; one of {', '.join(_states())}", "invalid_parameter")
    severities = [_int_param("severity", v, min(c.SEVERITIES), max(c.SEVERITIES))
                  for v in _split(request.args.getlist("severity"))]
    raw_sub = request.args.get("subdistrict", "").strip()
    raw_limit = request.args.get("limit", "").strip()
    return {
        "states": states or None,
        "severities": severities or None,
        "subdistrict": _subdistrict_code(raw_sub) if raw_sub else None,
        "limit": _int_param("limit", raw_limit, 1, LIST_LIMIT_MAX) if raw_limit else LIST_LIMIT_DEFAULT,
    }


def _action_request(body: dict[str, Any]) -> ActionRequest:
    """An ActionRequest from a JSON body, checking field names and JSON types (the service checks meaning)."""
    unknown = sorted(set(body) - set(ACTION_FIELDS))
    if unknown:
        _fail(422, f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(ACTION_FIELDS)}", "invalid_field")
    fields: dict[str, Any] = {}
    for name, kind in ACTION_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        # bool is an int in Python, never in this API.
        if not isinstance(value, kind) or isinstance(value, bool):
            _fail(422, f"{name} must be a JSON {_type_name(kind)}", "invalid_field")
        if isinstance(value, str) and len(value) > TEXT_MAX:
            _fail(422, f"{name} is longer than {TEXT_MAX} characters", "invalid_field")
        if isinstance(value, list) and not all(isinstance(d, str) and d.strip() for d in value):
            _fail(422, f"{name} must be a list of department names", "invalid_field")
        fields[name] = value
    if not fields.get("action"):
        _fail(422, "action is required", "invalid_field")
    # An unknown action, a missing unit or reason …: the service refuses those, with an audit entry.
    return ActionRequest(**fields)


def _type_name(kind: type) -> str:
    return {str: "string", int: "integer", list: "array"}[kind]


def _states() -> list[str]:
    """Every incident state, in lifecycle order."""
    return list(lifecycle.STATES)


def _with_allowed_actions(incident: dict[str, Any], role: str) -> dict[str, Any]:
    state = incident.get("state")
    if isinstance(state, str):
        return {**incident, "allowed_actions": lifecycle.allowed_actions(state, role)}
    return incident


def _in_session(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service function in one transaction (committed on success, rolled back on any error)."""
    with session_scope(db_sessions()) as s:
        return fn(s, *args, **kwargs)


def _notify(incident_id: int, action: str) -> None:
    """Tell open screens after the commit; a Redis failure loses only the push (screens also poll)."""
    try:
        notify_change(redis_client(), incident_id, action)
    except redis.RedisError as exc:
        log.warning("push for incident %s failed: %s", incident_id, exc)


def _result_body(result: ActionResult, role: str) -> dict[str, Any]:
    return {
        "incident": _with_allowed_actions(result.incident, role),
        "action_id": result.action_id,
        "replayed": result.replayed,
    }


# --- routes -------------------------------------------------------------------------------------


@bp.get("/incidents")
def incidents_index() -> Response:
    """Incidents, most severe then newest first, filtered by state, severity and subdistrict."""
    filters = _list_filters()
    rows = _in_session(list_incidents, **filters)
    return _json({"incidents": rows, "count": len(rows)})


@bp.post("/incidents")
def incidents_create() -> Response:
    """Create an incident by hand (as the console does)."""
    key = _idempotency_key()
    body = _json_object()
    actor = _actor()
    result = _in_session(create_incident, body, actor, key)
    if not result.replayed:
        _notify(int(result.incident["id"]), lifecycle.CREATE)
    incident_id = result.incident["id"]
    return _json(_result_body(result, actor.role), 200 if result.replayed else 201,
                 Location=f"{PREFIX}/incidents/{incident_id}")


@bp.get("/incidents/<int:incident_id>")
def incidents_show(incident_id: int) -> Response:
    """One incident with its timeline, summons and units, and the actions the caller may take now."""
    incident = _in_session(get_incident, incident_id)  # Refused(404) when there is none
    return _json(_with_allowed_actions(incident, _actor().role))


@bp.post("/incidents/<int:incident_id>/actions")
def incidents_action(incident_id: int) -> Response:
    """Take one action on an incident; the same Idempotency-Key again replays the first result."""
    key = _idempotency_key()
    req = _action_request(_json_object())
    actor = _actor()
    result = _in_session(perform_action, incident_id, req, actor, key)
    if not result.replayed:
        _notify(incident_id, req.action)
    return _json(_result_body(result, actor.role))


@bp.get("/incidents/<int:incident_id>/suggestions")
def incidents_suggestions(incident_id: int) -> Response:
    """The nearest available suitable units (straight-line distance)."""
    unknown = sorted(set(request.args) - {"limit"})
    if unknown:
        _fail(422, f"unknown query parameter(s) {', '.join(unknown)}; allowed: limit", "invalid_parameter")
    raw = request.args.get("limit", "").strip()
    limit = _int_param("limit", raw, 1, SUGGEST_LIMIT_MAX) if raw else 5
    rows = _in_session(suggest_units, incident_id, limit)
    return _json({"incident_id": incident_id, "suggestions": rows})


@bp.get("/units")
def units_index() -> Response:
    """Every unit with its status and position."""
    rows = _in_session(list_units)
    return _json({"units": rows, "count": len(rows)})


@bp.get("/<path:unknown>")
def unknown_path(unknown: str) -> Response:
    """A GET of an unknown /api/v1/ path is a JSON 404 (Dash would otherwise serve its page for any path)."""
    _fail(404, f"no such API path: {PREFIX}/{unknown}; see {PREFIX}/openapi.json", "not_found")


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 description of this API (public: it describes the interface and holds no data)."""
    resp = _json(openapi.document())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
