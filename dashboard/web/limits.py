"""The limits of what a request may bring, checked before anything reads it.

- **Paths and query parameters are one line**: a control character in the path, or in the name or value of a query
  parameter (`%0a`, `%0d`, `%00` …), answers 400 before the login guard, a redirect or the log could use it. Form
  fields follow the text rule of the API's bodies (dashboard.domain.text).
- **JSON nests at most MAX_JSON_DEPTH levels**: deeper answers 400 with the reason, for the API, the ingest and
  Dash's callbacks alike (the standard library's parser would otherwise recurse out of its stack near 1,000 levels
  and answer 500). Our own bodies nest at most 4 levels (a batch of events), Dash's callbacks about 6.
- **Dash's callback requests have Dash's shape**: a body Dash's dispatch would fail on (no such callback, inputs that
  are not {id, property}, the wrong number of them) answers 400 rather than 500 inside Dash.
- Bodies are bounded by Config.max_body_bytes (Flask's MAX_CONTENT_LENGTH: 413).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from dash._utils import split_callback_id
from flask import Flask, Response, current_app, jsonify, request
from flask.globals import request_ctx
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request
from werkzeug.exceptions import BadRequest

from dashboard.domain import text
from dashboard.web.extensions import DASH

MAX_JSON_DEPTH = 64
# Paths whose answers are JSON, refusals included.
JSON_PATHS = ("/api/", "/_dash-", "/healthz", "/livez", "/readyz")
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""

    def __init__(self) -> None:
        super().__init__(TOO_DEEP)


# --- JSON -----------------------------------------------------------------------------------------------------------

# Every byte but the quote and the brackets, for bytes.translate to delete.
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}')
_STRING = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\[\]|\{\}")


def _nests_deeper(raw: bytes, limit: int) -> bool:
    """True when a valid UTF-8 JSON document nests deeper than `limit`, found without parsing it again.

    Only quotes and brackets matter: escaped backslashes and quotes are dropped first, then everything else; a pair
    of adjacent quotes is an empty string or the end of one string and the start of the next (merged, harmlessly),
    so dropping such pairs keeps the brackets inside strings inside strings; the few strings left (with brackets in
    them) go by a regular expression. What remains are the brackets, balanced: each round drops the innermost
    pairs, so the rounds count the depth. Every step is one pass in C over the document (a few ms for 1 MB), about
    three times faster than walking the parsed value.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    s = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in s:
        s = _STRING.sub(b"", s)
    for _ in range(limit):
        if not s:
            break
        s = _INNERMOST.sub(b"", s)  # one pass: a pair that forms as another goes waits for the next round
    return bool(s)


def depth_of(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep a parsed JSON value nests (a scalar 0, `[]` 1), counted up to `limit` + 1."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if not isinstance(v, dict | list):
            continue
        deepest = max(deepest, d)
        if d > limit:
            break
        stack.extend((child, d + 1) for child in (v.values() if isinstance(v, dict) else v))
    return deepest


def _reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON body; ValueError (or UnicodeDecodeError) with the reason when it is not JSON or nests too deep.

    orjson parses several times faster; whatever it refuses is parsed again by the standard library, which
    decides (it reads UTF-16 and UTF-32 too, and gives its own reasons), so the answers stay the same."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's own limit, 1024 levels
            raise JsonTooDeep() from None
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except RecursionError:
            raise JsonTooDeep() from None
        if depth_of(value, max_depth) > max_depth:
            raise JsonTooDeep() from None
        return value
    if _nests_deeper(raw, max_depth):
        raise JsonTooDeep()
    return value


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON (request.get_json, as Dash's callbacks read their bodies) with the nesting limit."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse like Flask, refusing what nests deeper than MAX_JSON_DEPTH (ValueError: Flask answers 400)."""
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise JsonTooDeep() from None
        if depth_of(value) > MAX_JSON_DEPTH:
            raise JsonTooDeep()
        return value


class LimitedRequest(Request):
    """A request whose unreadable JSON answers 400 with the reason (Flask keeps it for debug mode)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """400 saying why the body is not acceptable JSON (415 as before when it is not JSON at all)."""
        if e is None:
            return super().on_json_loading_failed(e)
        raise BadRequest(f"the body is not acceptable JSON: {e}")


# --- paths, parameters, form fields -------------------------------------------------------------------------------


def _refuse(what: str) -> Response:
    """400: JSON for the API, the health checks and Dash's requests, text for pages (whose answers a person reads)."""
    reason = f"control characters are not allowed in {what}"
    if request.path.startswith(JSON_PATHS):
        resp = jsonify(error=reason, code="control_characters")
    else:
        resp = Response(reason + "\n", mimetype="text/plain")
    resp.status_code = 400
    return resp


def check_request() -> Response | None:
    """before_request, first of all: refuse control characters in the path, the query and form fields.

    The names in the reasons are escaped, so that an answer or a log line quoting them stays one line."""
    req = request_ctx.request  # (one look-up through the context's proxy: this runs on every request)
    if text.has_control(req.path):
        return _refuse("the path")
    for name, value in req.args.items(multi=True):
        if text.has_control(name) or text.has_control(value):
            return _refuse(f"the query parameter '{text.escape_controls(name)}'")
    if req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in req.form.items(multi=True):
            if text.has_control(name) or text.text_problem(value) is not None:
                return _refuse(f"the form field '{text.escape_controls(name)}'")
    return None


# --- Dash's callback requests --------------------------------------------------------------------------------------

DASH_CALLBACK_PATH = "/_dash-update-component"


def _is_prop(item: Any) -> bool:
    """An input, state or output of a callback request: {"id", "property", …}, or a list of them (a pattern)."""
    if isinstance(item, list):
        return all(_is_prop(i) for i in item)
    return (isinstance(item, dict) and isinstance(item.get("id"), str | dict)
            and isinstance(item.get("property"), str))


# The values a pattern's wildcard may take in a component's id (Dash's own rule for ids).
_WILDCARD_VALUE = str | int | float | bool


def _pattern(declared: str) -> dict[str, Any] | None:
    """The id of a declared input, state or output when it is a pattern ('{"index":["ALL"],…}'), else None."""
    return json.loads(declared) if declared.startswith("{") else None


def _matches(cid: Any, pattern: dict[str, Any]) -> bool:
    """True when a component's id is one the pattern can match: the same keys, the fixed ones equal, a scalar in
    each wildcard."""
    if not (isinstance(cid, dict) and cid.keys() == pattern.keys()):
        return False
    return all(isinstance(cid[k], _WILDCARD_VALUE) if isinstance(v, list) else cid[k] == v for k, v in pattern.items())


def _fits(item: Any, declared: dict[str, Any]) -> bool:
    """An entry of the request fits its declared input, state or output: a pattern's entry lists components it
    matches (Dash compares their ids with the pattern and hashes their wildcards' values); a plain one is one."""
    pattern = _pattern(declared["id"])
    if pattern is None:
        return not isinstance(item, list)
    items = item if isinstance(item, list) else [item]
    return all(_matches(i.get("id"), pattern) for i in items)


def _prop_id_problem(prop_id: str) -> bool:
    """True when a changed property's name cannot be read back: a pattern's id must be a JSON object."""
    cid = prop_id.rsplit(".", 1)[0]
    if not cid.startswith("{"):
        return False
    try:
        return not isinstance(json.loads(cid), dict)
    except ValueError:
        return True


def dash_callback_problem(body: Any, callback_map: dict[str, Any]) -> str | None:
    """Why a callback request's body is not one Dash can serve, or None.

    Dash's dispatch trusts its renderer: another shape raises KeyError, TypeError or AttributeError inside Dash
    (500), and so does a pattern's entry whose id the pattern cannot match (Dash refuses an output's, hashes the
    wildcards' values, and the callbacks read the pattern's keys). The values themselves are the callbacks' to
    judge (layouts/inputs.py)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    callback = callback_map.get(output) if isinstance(output, str) else None
    if callback is None or "callback" not in callback:
        return "'output' names no callback of this server"
    for key in ("inputs", "state"):
        items = body.get(key, [])
        if not (isinstance(items, list) and len(items) == len(callback[key]) and all(map(_is_prop, items))):
            return f"'{key}' must list the callback's {len(callback[key])} {key} as {{id, property, value}}"
        if not all(_fits(i, d) for i, d in zip(items, callback[key], strict=True)):
            return f"the ids in '{key}' must be those the callback's patterns match"
    outputs = body.get("outputs")
    expected = split_callback_id(output)  # a dict for one output, a list for several
    if isinstance(expected, list):
        fits = isinstance(outputs, list) and len(outputs) == len(expected) and _is_prop(outputs)
    else:  # a pattern's output (its id a JSON object) comes as the list of what it matched
        fits = (isinstance(outputs, dict) or str(expected["id"]).startswith("{")) and _is_prop(outputs)
    if not (fits or callback.get("no_output")):
        return "'outputs' must be the callback's outputs as {id, property}"
    if fits and not callback.get("no_output"):
        declared = [{"id": o["id"]} for o in (expected if isinstance(expected, list) else [expected])]
        got: list[Any] = outputs if isinstance(outputs, list) and isinstance(expected, list) else [outputs]
        if not all(_fits(i, d) for i, d in zip(got, declared, strict=True)):
            return "the ids in 'outputs' must be those the callback's patterns match"
    changed = body.get("changedPropIds", [])
    if not (isinstance(changed, list) and all(isinstance(c, str) for c in changed)):
        return "'changedPropIds' must be a list of strings"
    if any(map(_prop_id_problem, changed)):
        return "'changedPropIds' must name a pattern's component by its id as a JSON object"
    return None


def check_dash_callback() -> Response | None:
    """before_request: 400 for a callback request whose body Dash itself would fail on."""
    if request.path != DASH_CALLBACK_PATH or request.method != "POST":
        return None
    problem = dash_callback_problem(request.get_json(silent=False), current_app.extensions[DASH].callback_map)
    if problem is None:
        return None
    resp = jsonify(error=problem, code="bad_callback_request")
    resp.status_code = 400
    return resp


def init_limits(app: Flask) -> None:
    """Install the checks on the app: call before anything else registers a before_request."""
    app.json = LimitedJSONProvider(app)
    app.request_class = LimitedRequest
    app.before_request(check_request)


def init_dash_limits(app: Flask) -> None:
    """Install the check of Dash's callback requests: call after the login guard and the CSRF check, which answer
    first (401, 403)."""
    app.before_request(check_dash_callback)
