"""What the JSON API's blueprints share: errors as JSON, the caller, request bodies parsed through their models,
query parameters, idempotency keys and one transaction per call.

Errors are `{"error": <reason>, "code": <machine code>}`; a 422 adds `errors` (field or parameter -> reason).
The incidents and cases blueprints install the same handlers (install_error_handlers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.globals import request_ctx
from flask_login import current_user
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from dashboard.domain.text import escape_controls, json_text_problem, text_problem
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import session_scope
from dashboard.store.models import MAX_ID
from dashboard.store.outage import DATABASE
from dashboard.web.extensions import db_sessions
from dashboard.web.limits import JsonTooDeep, parse_json

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
# An id in a path: a positive number an INTEGER column can hold; any other matches no route (404, no query).
ID = f"int(min=1, max={MAX_ID})"
# Seconds a client should wait before retrying after the database failed.
RETRY_AFTER_S = 2
# Idempotency keys: printable ASCII without spaces, scoped to the user (see idempotency_key).
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")

# app.extensions key of the API's own routes (route_api).
_ROUTES = "dc_api_routes"

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A request this API refuses before (or instead of) calling the service; `errors`: field -> reason."""

    def __init__(self, status: int, message: str, code: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors


def fail(status: int, message: str, code: str, errors: dict[str, str] | None = None) -> NoReturn:
    """Refuse the request with a JSON error."""
    raise ApiError(status, message, code, errors)


def invalid(code: str, errors: dict[str, str]) -> NoReturn:
    """Refuse with 422 and field-level reasons; the message joins them."""
    fail(422, "; ".join(f"{name} {reason}" for name, reason in errors.items()), code, errors)


# --- answers ------------------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 (Flask would write RFC 822 dates), recursively."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    """A JSON answer (datetimes in ISO 8601)."""
    resp = jsonify(jsonable(body))
    resp.status_code = status
    for k, v in headers.items():
        resp.headers[k] = v
    return resp


def error_response(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None) -> Response:
    """A JSON error: {"error", "code"} and, given or for a 422, "errors" (field -> reason)."""
    body: dict[str, Any] = {"error": message}
    if code is not None:
        body["code"] = code
    if errors is not None or status == 422:
        body["errors"] = errors or {}
    resp = jsonify(body)
    resp.status_code = status
    resp.headers.update(headers or {})
    return resp


def api_error(exc: ApiError) -> Response:
    """An ApiError as its JSON answer."""
    return error_response(exc.status, exc.message, exc.code, errors=exc.errors)


def refused(exc: Refused) -> Response:
    """A refusal of the service (it has rolled the session back and audited the refusal already)."""
    return error_response(exc.status, exc.reason, exc.code, errors=exc.errors or None)


def database_failed(exc: SQLAlchemyError) -> Response:
    """503 with Retry-After: session_scope rolled back, so the action and its audit entry were written together
    or not at all. The database away is counted in the outage (said once, store/outage.py); another error is
    logged in full there."""
    DATABASE.failed("API request", exc)
    return error_response(503, "nothing was saved; retry", "database_unavailable", {"Retry-After": str(RETRY_AFTER_S)})


def http_error(exc: HTTPException) -> Any:
    """JSON instead of HTML for unknown routes, wrong methods, oversized bodies … under /api/."""
    if not request.path.startswith("/api/"):
        return exc
    if exc.code == 429 and exc.response is not None:
        return exc.response  # a per-user limit's own JSON refusal, with its Retry-After (too_many)
    code = (exc.name or "error").lower().replace(" ", "_")
    resp = error_response(exc.code or 500, exc.description or exc.name, code)
    if exc.code == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            resp.headers["Allow"] = ", ".join(allowed)
    return resp


def too_many(wait_s: int) -> Response:
    """429 past a per-user limit of the API (Retry-After is set by the throttle)."""
    return error_response(429, f"too many requests: try again in {wait_s} s", "rate_limited")


def _api_routes(app: Flask) -> tuple[Map, tuple[str, ...]]:
    """The API's own routes (those under PREFIX, apart from the pages' catch-all routes) and every method they
    take, built once per app."""
    routes = app.extensions.get(_ROUTES)
    if routes is None:
        rules = [Rule(r.rule, methods=r.methods, endpoint=r.endpoint) for r in app.url_map.iter_rules()
                 if r.rule.startswith(PREFIX + "/")]
        routes = Map(rules), tuple(sorted(set().union(*(r.methods or () for r in rules))))
        app.extensions[_ROUTES] = routes
    return routes


def _allowed_methods(path: str) -> list[str]:
    """The methods the API's routes take at `path`, each matched in full (werkzeug's allowed_methods lists a
    method before the path's converters have accepted their values, so an id out of range would seem routed)."""
    routes, methods = _api_routes(current_app)
    adapter = routes.bind("")
    allowed = []
    for method in methods:
        try:
            adapter.match(path, method=method)
        except HTTPException:
            continue
        allowed.append(method)
    return allowed


def route_api() -> Response | None:
    """before_request: 404, 405 and OPTIONS of an API path as the API's own routes say.

    Dash serves its pages at every path (GET /<path:path>), so Flask alone would find a GET on any API path (its
    page), answer OPTIONS with GET allowed, and 405 a POST to a path that does not exist."""
    req = request_ctx.request  # (one look-up through the context's proxy: this runs on every request)
    if not req.path.startswith(PREFIX + "/"):
        return None
    rule = req.url_rule
    if (rule is not None and rule.rule.startswith(PREFIX + "/") and req.method != "OPTIONS"
            and req.method in (rule.methods or ())):
        return None  # Flask matched one of the API's own routes for this method: nothing to answer here
    allowed = _allowed_methods(request.path)
    if not allowed:
        fail(404, f"no such API path: {escape_controls(request.path)}; see {PREFIX}/openapi.json", "not_found")
    if request.method == "OPTIONS":
        return Response(status=200, headers={"Allow": ", ".join(allowed)})
    if request.method not in allowed:
        resp = error_response(405, f"{request.method} is not allowed here; allowed: {', '.join(allowed)}",
                              "method_not_allowed")
        resp.headers["Allow"] = ", ".join(allowed)
        return resp
    return None


def no_store(resp: Response) -> Response:
    """Answers about incidents and cases are never cached."""
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def install_error_handlers(bp: Blueprint) -> None:
    """The API's JSON errors (refusals, the database away) and no caching, on one blueprint."""
    bp.register_error_handler(ApiError, api_error)
    bp.register_error_handler(Refused, refused)
    bp.register_error_handler(SQLAlchemyError, database_failed)
    bp.after_request(no_store)


# --- requests -------------------------------------------------------------------------------------------------------


def actor() -> Actor:
    """The caller, from the session or the API token (the login guard has authenticated one of them)."""
    return Actor(id=int(current_user.id), username=str(current_user.username), role=str(current_user.role))


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; 415 for another content type, 400 for anything but an object (or one
    nested deeper than dashboard.web.limits allows), 422 for a string no text field can hold (a NUL …)."""
    if request.mimetype != "application/json":
        fail(415, "Content-Type must be application/json", "unsupported_media_type")
    try:
        payload = parse_json(request.get_data(cache=False))
    except JsonTooDeep as exc:
        fail(400, str(exc), "json_too_deep")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(400, f"malformed JSON: {exc}", "malformed_json")
    if not isinstance(payload, dict):
        fail(400, "the body must be a JSON object", "malformed_json")
    problems = {escape_controls(name): problem for name, value in payload.items()
                if (problem := text_problem(name) or json_text_problem(value)) is not None}
    if problems:
        invalid("invalid_field", problems)
    return payload


# What a refused field of a request body is told, by pydantic's error type.
_TYPE_NAMES = {"string_type": "string", "int_type": "integer", "list_type": "array", "bool_type": "boolean",
               "dict_type": "object", "float_type": "number"}


def field_errors(exc: ValidationError, allowed: Iterable[str] = ()) -> dict[str, str]:
    """field -> reason, the first error of each top-level field of a request body."""
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False):
        name = str(err["loc"][0]) if err["loc"] else "body"
        if name in out:
            continue
        kind, ctx = err["type"], err.get("ctx") or {}
        if kind == "extra_forbidden":
            out[name] = "is not a field of this request; allowed: " + ", ".join(allowed)
        elif kind == "missing":
            out[name] = "is required"
        elif kind in _TYPE_NAMES and len(err["loc"]) == 1:
            out[name] = f"must be a JSON {_TYPE_NAMES[kind]}"
        elif kind == "string_too_long":
            out[name] = f"is longer than {ctx.get('max_length')} characters"
        elif kind == "string_too_short":
            out[name] = "must not be empty"
        else:
            out[name] = str(err["msg"])[0].lower() + str(err["msg"])[1:]
    return out


def parse_body(model: type[M], body: dict[str, Any]) -> M:
    """`body` parsed by its model; 422 `invalid_field` with the reason of each refused field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        invalid("invalid_field", field_errors(exc, model.model_fields))


def idempotency_key() -> str:
    """The Idempotency-Key header, scoped to the caller so that two users' keys never collide."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        fail(400, f"the {IDEMPOTENCY_HEADER} header is required: a unique value per intended action (e.g. a UUID); "
                  "send the same value again to retry safely", "idempotency_key_required")
    if not IDEMPOTENCY_KEY_RE.match(key):
        fail(400, f"{IDEMPOTENCY_HEADER} must be 1–100 printable ASCII characters without spaces",
             "idempotency_key_invalid")
    return f"api:{int(current_user.id)}:{key}"


def only_params(allowed: Iterable[str]) -> None:
    """422 for a query parameter this route does not know."""
    names = sorted(allowed)
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        fail(422, f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(names)}",
             "invalid_parameter", {name: "is not a parameter of this request" for name in unknown})


def split(values: list[str]) -> list[str]:
    """Repeatable and comma-separated query values as one list."""
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def int_param(name: str, raw: str, lo: int, hi: int) -> int:
    """An integer query parameter within [lo, hi]; 422 otherwise."""
    try:
        value = int(raw)
    except ValueError:
        fail(422, f"{name} must be an integer from {lo} to {hi}, not {raw!r}", "invalid_parameter",
             {name: f"must be an integer from {lo} to {hi}"})
    if not lo <= value <= hi:
        fail(422, f"{name} must be from {lo} to {hi}, not {value}", "invalid_parameter",
             {name: f"must be from {lo} to {hi}"})
    return value


def in_session(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service function in one transaction (committed on success, rolled back on any error)."""
    with session_scope(db_sessions()) as s:
        return fn(s, *args, **kwargs)
