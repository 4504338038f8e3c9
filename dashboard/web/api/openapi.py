"""The OpenAPI 3.1 document of the HTTP API, served at GET /api/v1/openapi.json.

The schemas are the JSON Schema of the models that parse the requests and describe the answers
(dashboard.web.api.models, and dashboard.domain.events for the ingest's events), so the enums (actions, states,
severities, categories, unit kinds) and the rules come from the code the server runs. The paths, security schemes
and descriptions are written here; tests check that every route of the API blueprints is described, and that real
answers validate against the schema given for their status.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.store.models import MAX_ID
from dashboard.web import csrf
from dashboard.web.api import models
from dashboard.web.limits import MAX_JSON_DEPTH

API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"

# Who may call what: reads take the session or an API token; session writes also need the CSRF header.
READ_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"apiToken": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": [], "csrfHeader": []}, {"apiToken": []}]
INGEST_SECURITY: list[dict[str, list[str]]] = [{"ingestToken": []}]
PUBLIC: list[dict[str, list[str]]] = []

DESCRIPTION = f"""\
REST API of the Dongcheng city-operations command centre (东城区城市运行指挥中心): the incident actions of the
dispatch console for other systems and scripts, the units, and the event ingest.

**Authentication.** Either the browser session of a logged-in user (cookie `session`), or a per-user API token
sent as `Authorization: Bearer <token>` (create one with `dongcheng tokens create <username> <name>`;
only its hash is stored; revoking it or disabling the user stops it at once). The event ingest takes the
separate `INGEST_TOKEN` instead. Roles are enforced on the server for every action: a refused action answers 403,
is recorded in the audit log and changes nothing.

**CSRF.** A state-changing request authenticated by the session cookie must send the header
`{csrf.HEADER_NAME}` equal to the cookie `{csrf.COOKIE_NAME}` (set at login, readable by page scripts), else 403.
Requests authenticated by an API token need no such header.

**Idempotency.** Every POST that changes an incident needs an `Idempotency-Key` header (for example a UUID).
Sending the same request with the same key again (a retry after a timeout, a double click) performs nothing new
and answers 200 with the first result and `"replayed": true`. Keys are scoped to the user.

**Errors** are JSON: `{{"error": "<reason>", "code": "<machine-readable code>"}}`; a 422 adds `errors`, the
reason for each field or query parameter at fault. When the database fails the answer is 503 with `Retry-After`:
nothing was saved, retry with the same `Idempotency-Key`.

Times are ISO 8601 in UTC. Distances for unit suggestions are straight-line distances.
"""


# An id in a path: what an INTEGER column holds; any other id answers 404.
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _ref(name: str) -> dict[str, str]:
    """A reference to one of the schemas."""
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON body of this schema."""
    return {"application/json": {"schema": schema}}


def _error(description: str, retry: bool = False, schema: str = "Error") -> dict[str, Any]:
    """An error answer."""
    out: dict[str, Any] = {"description": description, "content": _json_content(_ref(schema))}
    if retry:
        out["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return out


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    """The answers of one operation: its own, the shared error answers of `codes`, and 400 (every request may
    bring control characters in its path or parameters)."""
    errors = {
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/Forbidden"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "409": {"$ref": "#/components/responses/Conflict"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
        "422": {"$ref": "#/components/responses/Unprocessable"},
        "429": {"$ref": "#/components/responses/TooManyRequests"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }
    out = dict(ok)
    for code in sorted({"400", *codes}):
        out[code] = errors[code]
    return out


def _role_actions() -> str:
    """Which role may take which action, in words."""
    roles = [r for r in c.ROLES if r in lifecycle.ROLE_ACTIONS]
    return "; ".join(
        f"{r}: {', '.join(a for a in lifecycle.ACTIONS if a in lifecycle.ROLE_ACTIONS[r]) or 'none'}" for r in roles
    )


def _states() -> list[str]:
    """Every incident state, in lifecycle order."""
    return list(lifecycle.STATES)


def _schemas() -> dict[str, Any]:
    """components/schemas from the models: requests as they are parsed, answers as they are written."""
    _, top = models_json_schema(
        [(m, "validation") for m in models.REQUESTS] + [(m, "serialization") for m in models.ANSWERS],
        ref_template=REF_TEMPLATE,
    )
    return dict(top["$defs"])


def _probe(operation: str, summary: str, description: str, schema: str, ok: str,
           failing: str | None = None) -> dict[str, Any]:
    """A public health probe's GET: 200 with `schema`, and when it can fail 503 with the same schema and Retry-After."""
    responses: dict[str, Any] = {"200": {"description": ok, "content": _json_content(_ref(schema))},
                                 "400": {"$ref": "#/components/responses/BadRequest"}}
    if failing is not None:
        responses["503"] = {"description": failing, "content": _json_content(_ref(schema)),
                            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}}
    return {"get": {"operationId": operation, "summary": summary, "description": description,
                    "tags": ["operations"], "security": PUBLIC, "responses": responses}}


def _paths() -> dict[str, Any]:
    """Every path of the API, its operations and their answers."""
    incident_id = {"$ref": "#/components/parameters/IncidentId"}
    idem = {"$ref": "#/components/parameters/IdempotencyKey"}
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": _ID_SCHEMA}
    link_id = {"name": "link_id", "in": "path", "required": True, "schema": _ID_SCHEMA}
    return {
        "/api/v1/incidents": {
            "get": {
                "operationId": "listIncidents",
                "summary": "List incidents, most severe then newest first",
                "tags": ["incidents"],
                "security": READ_SECURITY,
                "parameters": [
                    {"name": "state", "in": "query", "style": "form", "explode": True,
                     "description": "repeat the parameter or separate states by commas",
                     "schema": {"type": "array", "items": {"type": "string", "enum": _states()}}},
                    {"name": "severity", "in": "query", "style": "form", "explode": True,
                     "description": "repeat the parameter or separate severities by commas",
                     "schema": {"type": "array", "items": {"type": "integer", "enum": list(c.SEVERITIES)}}},
                    {"name": "subdistrict", "in": "query", "description": "9-digit code, Chinese or English name",
                     "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                                                "default": 200}},
                ],
                "responses": _responses(
                    {"200": {"description": "the incidents", "content": _json_content(_ref("IncidentList"))}},
                    "401", "422", "429", "503",
                ),
            },
            "post": {
                "operationId": "createIncident",
                "summary": "Report an incident by hand",
                "tags": ["incidents"],
                "security": WRITE_SECURITY,
                "parameters": [idem],
                "requestBody": {"required": True, "content": _json_content(_ref("NewIncident"))},
                "responses": _responses(
                    {
                        "201": {"description": "created", "content": _json_content(_ref("ActionResult")),
                                "headers": {"Location": {"schema": {"type": "string"}}}},
                        "200": {"description": "a replay of an earlier request with the same Idempotency-Key",
                                "content": _json_content(_ref("ActionResult"))},
                    },
                    "400", "401", "403", "409", "415", "422", "503",
                ),
            },
        },
        "/api/v1/incidents/{incident_id}": {
            "get": {
                "operationId": "getIncident",
                "summary": "One incident with its timeline, summons, units and the caller's allowed actions",
                "tags": ["incidents"],
                "security": READ_SECURITY,
                "parameters": [incident_id],
                "responses": _responses(
                    {"200": {"description": "the incident", "content": _json_content(_ref("IncidentDetail"))}},
                    "401", "404", "503",
                ),
            },
        },
        "/api/v1/incidents/{incident_id}/actions": {
            "post": {
                "operationId": "performAction",
                "summary": "Take an action on an incident (acknowledge, dispatch, arrive, resolve, close, whistle …)",
                "description": "Roles and their actions: " + _role_actions() + ". `allowed_actions` of the "
                               "incident lists what the caller may do in its current state. A refused role answers "
                               "403 (audited, nothing changed); an action illegal in the current state answers 409 "
                               "with the reason.",
                "tags": ["incidents"],
                "security": WRITE_SECURITY,
                "parameters": [incident_id, idem],
                "requestBody": {"required": True, "content": _json_content(_ref("ActionRequest"))},
                "responses": _responses(
                    {"200": {"description": "done, or replayed (`replayed: true`) for a known Idempotency-Key",
                             "content": _json_content(_ref("ActionResult"))}},
                    "400", "401", "403", "404", "409", "415", "422", "503",
                ),
            },
        },
        "/api/v1/incidents/{incident_id}/suggestions": {
            "get": {
                "operationId": "suggestUnits",
                "summary": "The nearest available suitable units (straight-line distance)",
                "tags": ["units"],
                "security": READ_SECURITY,
                "parameters": [
                    incident_id,
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}},
                ],
                "responses": _responses(
                    {"200": {"description": "suggested units", "content": _json_content(_ref("Suggestions"))}},
                    "401", "404", "422", "503",
                ),
            },
        },
        "/api/v1/units": {
            "get": {
                "operationId": "listUnits",
                "summary": "Every unit with its status and position",
                "tags": ["units"],
                "security": READ_SECURITY,
                "responses": _responses(
                    {"200": {"description": "the units", "content": _json_content(_ref("UnitList"))}}, "401", "503",
                ),
            },
        },
        # cases (热线+网格): dashboard/web/api/cases.py
        "/api/v1/cases": {
            "get": {
                "operationId": "listCases",
                "summary": "Open cases of linked hotline tickets, the latest ticket first",
                "description": "A case is open while one of its tickets (not split off) is unresolved. Each case "
                               "lists its tickets (split ones too, with `decision`), its links with the reason each "
                               "ticket was linked, and an explanation in Chinese and English.",
                "tags": ["cases"],
                "security": READ_SECURITY,
                "parameters": [{"name": "limit", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}],
                "responses": _responses(
                    {"200": {"description": "the open cases", "content": _json_content(_ref("CaseList"))}},
                    "401", "422", "429", "503",
                ),
            },
        },
        "/api/v1/cases/{case_id}": {
            "get": {
                "operationId": "getCase",
                "summary": "One case (open or not) with its tickets, links, reasons and decisions",
                "tags": ["cases"],
                "security": READ_SECURITY,
                "parameters": [case_id],
                "responses": _responses(
                    {"200": {"description": "the case", "content": _json_content(_ref("CaseDetail"))}},
                    "401", "404", "503",
                ),
            },
        },
        "/api/v1/cases/{case_id}/links/{link_id}": {
            "post": {
                "operationId": "decideLink",
                "summary": "Confirm a link, or split the ticket off its case",
                "description": "Roles dispatch and admin; any other role answers 403 (audited, nothing changed). "
                               "A split ticket counts alone on the wall and is never linked again by the linker. "
                               "Deciding what the link already is answers 409.",
                "tags": ["cases"],
                "security": WRITE_SECURITY,
                "parameters": [case_id, link_id, idem],
                "requestBody": {"required": True, "content": _json_content(_ref("LinkDecision"))},
                "responses": _responses(
                    {"200": {"description": "done, or replayed (`replayed: true`) for a known Idempotency-Key",
                             "content": _json_content(_ref("LinkDecisionResult"))}},
                    "400", "401", "403", "404", "409", "415", "422", "503",
                ),
            },
        },
        "/api/v1/events": {
            "post": {
                "operationId": "ingestEvents",
                "summary": "Ingest one event or a batch from a source system",
                "description": "Each invalid event gets field-level reasons; valid events are kept. Duplicates "
                               "(same source and event_id) are counted, not stored twice.",
                "tags": ["ingest"],
                "security": INGEST_SECURITY,
                "requestBody": {"required": True, "content": _json_content(
                    {"oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event")}, _ref("EventBatch")]})},
                "responses": {
                    "200": {"description": "all events accepted, duplicate or rejected with reasons",
                            "content": _json_content(_ref("IngestResult"))},
                    "400": {"$ref": "#/components/responses/BadRequest"},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "413": _error("body or batch too large"),
                    "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                    "422": {"description": "no event was valid", "content": _json_content(_ref("IngestResult"))},
                    "503": {"description": "some events could not be stored; resend those listed in `unavailable`",
                            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                            "content": _json_content(_ref("IngestResult"))},
                },
            },
        },
        "/api/v1/stream": {
            "get": {
                "operationId": "stream",
                "summary": "Push: changed aggregates and incident actions as Server-Sent Events",
                "description": "A `text/event-stream` for open screens: `event: aggregate` with the name of an "
                               "aggregate the tick changed (bursts coalesced, the last one always sent), `event: "
                               "incident` with the JSON of an incident action, a comment as heartbeat, and `event: "
                               "bye` before the server ends the stream after its lifetime (reconnect at once). Each "
                               "open stream holds a server thread: when a process has its maximum open, or Redis "
                               "cannot be reached, the answer is 503 with Retry-After and the screen keeps polling.",
                "tags": ["push"],
                "security": READ_SECURITY,
                "responses": {
                    "200": {"description": "the stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "503": _error("too many open streams in this server process, or for this user in it "
                                  "(SSE_MAX_STREAMS_PER_USER), or Redis unavailable: keep polling and retry later",
                                  retry=True),
                },
            },
        },
        "/livez": _probe(
            "liveness", "Liveness: the process answers (no dependency is checked)",
            "For a process supervisor: restart the process when this does not answer. Never depends on Redis or the "
            "database, whose absence a restart would not cure.", "Liveness", "the process answers"),
        "/readyz": _probe(
            "readiness", "Readiness, the load balancer's check: Redis and the database answer",
            "200 while this host can serve; 503 with Retry-After while Redis or the database does not answer it. "
            "Workers and aggregate ages are not part of it (see /healthz).", "Readiness", "ready", "not ready"),
        "/healthz": _probe(
            "health", "Monitoring: Redis, the database, the workers, the scheduler's leader, every aggregate's age",
            "200 when all is well; 503 with Retry-After and the `problems` when degraded: Redis or the database "
            "unreachable, a product queue without a live worker, no scheduler holding the lease (`scheduler.leader` "
            "names the host and process that does), the tick or an aggregate later than its threshold (given in "
            "`thresholds`).", "Health", "all is well", "degraded"),
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["operations"],
                "security": PUBLIC,
                "responses": {"200": {"description": "the OpenAPI document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "400": {"$ref": "#/components/responses/BadRequest"}},
            },
        },
    }


@cache
def _document() -> dict[str, Any]:
    """The document, built once."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dongcheng City Operations Command Centre API",
            "version": API_VERSION,
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "this server"}],
        "tags": [
            {"name": "incidents", "description": "incidents and their lifecycle actions"},
            {"name": "units", "description": "response units"},
            {"name": "cases", "description": "hotline tickets linked into cases (热线+网格)"},
            {"name": "ingest", "description": "events from source systems"},
            {"name": "push", "description": "changes pushed to open screens"},
            {"name": "operations", "description": "health and this document"},
        ],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                                  "description": "the browser session of a logged-in user (POST /login)"},
                "csrfHeader": {"type": "apiKey", "in": "header", "name": csrf.HEADER_NAME,
                               "description": f"with the session: the value of the cookie `{csrf.COOKIE_NAME}`, "
                                              "required on POST, PUT, PATCH and DELETE"},
                "apiToken": {"type": "http", "scheme": "bearer",
                             "description": "a per-user API token (dongcheng tokens create)"},
                "ingestToken": {"type": "http", "scheme": "bearer",
                                "description": "the INGEST_TOKEN of source systems, only for POST /api/v1/events"},
            },
            "parameters": {
                "IncidentId": {"name": "incident_id", "in": "path", "required": True, "schema": _ID_SCHEMA},
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": True,
                    "description": "a unique value per intended change (e.g. a UUID), 1–100 printable ASCII "
                                   "characters; repeat it to retry safely",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[\\x21-\\x7e]+$"},
                },
            },
            "headers": {
                "RetryAfter": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}},
            },
            "responses": {
                "BadRequest": _error("control characters in the path or a query parameter, malformed JSON, JSON "
                                     f"nested deeper than {MAX_JSON_DEPTH} levels, or a missing or invalid "
                                     "Idempotency-Key"),
                "Unauthorized": _error("no session and no valid API token (or a revoked one, or a disabled user)"),
                "Forbidden": _error("the caller's role may not do this (audited), or the CSRF check failed"),
                "NotFound": _error("no such incident, unit, case, link or API path"),
                "Conflict": _error("illegal in the current state (e.g. the unit is already dispatched)"),
                "UnsupportedMediaType": _error("the body must be application/json"),
                "Unprocessable": _error("a field or query parameter is invalid; `errors` says which and why",
                                        schema="ValidationFailed"),
                "Unavailable": _error("the database failed: nothing was saved; retry", retry=True),
                "TooManyRequests": _error("more list requests than API_LIST_LIMIT_USER allows this user (code "
                                          "`rate_limited`; the lists share one count per user): retry after "
                                          "Retry-After", retry=True),
            },
            "schemas": _schemas(),
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a copy: callers may change it)."""
    return copy.deepcopy(_document())
