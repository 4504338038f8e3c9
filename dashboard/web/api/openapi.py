"""The OpenAPI 3.1 document of the HTTP API, served at GET /api/v1/openapi.json.

Built in code so that the enums (actions, states, severities, categories, unit kinds) come from the same
constants the server checks against; tests check that every route of the API blueprint is described here.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.web import csrf

API_VERSION = "1.0.0"

# Who may call what: reads take the session or an API token; session writes also need the CSRF header.
READ_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"apiToken": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": [], "csrfHeader": []}, {"apiToken": []}]
INGEST_SECURITY: list[dict[str, list[str]]] = [{"ingestToken": []}]
PUBLIC: list[dict[str, list[str]]] = []

DESCRIPTION = f"""\
REST API of the Dongcheng city-operations command centre (东城区城市运行指挥中心): the incident actions of the
dispatch console for other systems and scripts, the units, and the event ingest.

**Authentication.** Either the browser session of a logged-in user (cookie `session`), or a per-user API token
sent as `Authorization: Bearer <token>` (create one with `python -m ops.tokens create <username> <name>`;
only its hash is stored; revoking it or disabling the user stops it at once). The event ingest takes the
separate `INGEST_TOKEN` instead. Roles are enforced on the server for every action: a refused action answers 403,
is recorded in the audit log and changes nothing.

**CSRF.** A state-changing request authenticated by the session cookie must send the header
`{csrf.HEADER_NAME}` equal to the cookie `{csrf.COOKIE_NAME}` (set at login, readable by page scripts), else 403.
Requests authenticated by an API token need no such header.

**Idempotency.** Every POST that changes an incident needs an `Idempotency-Key` header (for example a UUID).
Sending the same request with the same key again (a retry after a timeout, a double click) performs nothing new
and answers 200 with the first result and `"replayed": true`. Keys are scoped to the user.

**Errors** are JSON: `{{"error": "<reason>", "code": "<machine-readable code>"}}`. When the database fails the
answer is 503 with `Retry-After`: nothing was saved, retry with the same `Idempotency-Key`.

Times are ISO 8601 in UTC. Distances for unit suggestions are straight-line distances.
"""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": _json_content(_ref("Error"))}
    if retry:
        out["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return out


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    errors = {
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/Forbidden"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "409": {"$ref": "#/components/responses/Conflict"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
        "422": {"$ref": "#/components/responses/Unprocessable"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }
    out = dict(ok)
    for code in codes:
        out[code] = errors[code]
    return out


def _actions() -> list[str]:
    return list(lifecycle.ACTIONS)


def _role_actions() -> str:
    roles = [r for r in c.ROLES if r in lifecycle.ROLE_ACTIONS]
    return "; ".join(
        f"{r}: {', '.join(a for a in lifecycle.ACTIONS if a in lifecycle.ROLE_ACTIONS[r]) or 'none'}" for r in roles
    )


def _states() -> list[str]:
    return list(lifecycle.STATES)


def _schemas() -> dict[str, Any]:
    severity = {"type": "integer", "enum": list(c.SEVERITIES),
                "description": "1 = I 特别重大, 2 = II 重大, 3 = III 较大, 4 = IV 一般"}
    timestamp = {"type": "string", "format": "date-time"}
    nullable_ts = {"type": ["string", "null"], "format": "date-time"}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "human-readable reason"},
                "code": {"type": "string", "description": "machine-readable code, e.g. forbidden, illegal_transition"},
                "errors": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "for 422: field -> reason"},
            },
        },
        "Incident": {
            "type": "object",
            "description": "An incident as listed; the detail adds its timeline, summons and units.",
            "required": ["id", "state", "severity"],
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "category": {"type": "string", "enum": list(c.INCIDENT_CATEGORIES)},
                "severity": severity,
                "state": {"type": "string", "enum": _states()},
                "subdistrict": {"type": "string", "description": "9-digit code of the 街道"},
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "created_at": timestamp,
                "updated_at": timestamp,
                "deadline_at": nullable_ts,
                "version": {"type": "integer", "description": "bumped by every change (see expected_version)"},
                "overdue": {"type": "boolean"},
            },
            "additionalProperties": True,
        },
        "IncidentDetail": {
            "allOf": [
                _ref("Incident"),
                {
                    "type": "object",
                    "properties": {
                        "timeline": {"type": "array", "items": {"type": "object"},
                                     "description": "every action on the incident: who, what, when"},
                        "summons": {"type": "array", "items": {"type": "object"},
                                    "description": "吹哨报到: each summoned department, its report and deadline"},
                        "units": {"type": "array", "items": {"type": "object"},
                                  "description": "units dispatched to the incident"},
                        "allowed_actions": {"type": "array", "items": {"type": "string", "enum": _actions()},
                                            "description": "actions the caller's role may take in the current state"},
                    },
                },
            ],
        },
        "IncidentList": {
            "type": "object",
            "required": ["incidents", "count"],
            "properties": {"incidents": {"type": "array", "items": _ref("Incident")}, "count": {"type": "integer"}},
        },
        "NewIncident": {
            "type": "object",
            "description": "An incident reported by hand (source `console`), validated like an ingested one: a "
                           "wrong field answers 422 with `errors` (field -> reason). The point must lie in the "
                           "district; its subdistrict and grid cell are derived from it.",
            "required": ["category", "severity", "title", "lon", "lat"],
            "properties": {
                "category": {"type": "string", "enum": list(c.INCIDENT_CATEGORIES)},
                "severity": severity,
                "title": {"type": "string", "maxLength": 200},
                "description": {"type": "string"},
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "sensor_id": {"type": "string", "description": "the sensor whose alarm this incident is about"},
                "ts": {"type": "string", "format": "date-time",
                       "description": "when it was reported (ISO 8601 with a time zone); default now"},
            },
            "additionalProperties": False,
        },
        "ActionRequest": {
            "type": "object",
            "required": ["action"],
            "additionalProperties": False,
            "properties": {
                "action": {"type": "string", "enum": _actions()},
                "unit_id": {"type": "integer", "description": "the unit to dispatch (dispatch)"},
                "severity": {**severity, "description": "the new severity (raising or lowering it)"},
                "reason": {"type": "string", "maxLength": 2000,
                           "description": "why (required to change severity, cancel or reopen)"},
                "departments": {"type": "array", "items": {"type": "string"},
                                "description": "departments to summon (whistle, 吹哨)"},
                "department": {"type": "string", "description": "the department acknowledging a summons"},
                "note": {"type": "string", "maxLength": 2000},
                "expected_version": {"type": "integer",
                                     "description": "optional: refuse (409 `stale`) unless the incident still has "
                                                    "this `version`, i.e. nobody changed it since the caller read it"},
            },
        },
        "ActionResult": {
            "type": "object",
            "required": ["incident", "action_id", "replayed"],
            "properties": {
                "incident": _ref("IncidentDetail"),
                "action_id": {"type": "integer"},
                "replayed": {"type": "boolean",
                             "description": "true when this Idempotency-Key was seen before: nothing new was done"},
            },
        },
        "Unit": {
            "type": "object",
            "required": ["id", "status"],
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string"},
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": list(c.UNIT_KINDS)},
                "status": {"type": "string", "enum": list(c.UNIT_STATUSES)},
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "subdistrict": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "UnitList": {
            "type": "object",
            "required": ["units", "count"],
            "properties": {"units": {"type": "array", "items": _ref("Unit")}, "count": {"type": "integer"}},
        },
        "Suggestions": {
            "type": "object",
            "required": ["incident_id", "suggestions"],
            "properties": {
                "incident_id": {"type": "integer"},
                "suggestions": {
                    "type": "array",
                    "items": {"allOf": [_ref("Unit"), {"type": "object", "properties": {
                        "distance_km": {"type": "number", "description": "straight-line distance to the incident"},
                    }}]},
                },
            },
        },
        # cases (热线+网格)
        "CaseLink": {
            "type": "object",
            "description": "Why one ticket is in its case, and the dispatcher's decision on it.",
            "required": ["id", "ticket_id", "rule", "reason", "decision"],
            "properties": {
                "id": {"type": "integer"},
                "ticket_id": {"type": "integer", "description": "the ticket's id (`tickets[].id`)"},
                "target_type": {"type": "string", "enum": ["ticket", "sensor", "incident"],
                                "description": "what the ticket matched"},
                "target_id": {"type": "string"},
                "rule": {"type": "string", "enum": ["same_category", "sensor", "incident"]},
                "reason": {"type": "object", "description": "rule, matched, target_id, distance_m, minutes_apart, "
                                                            "category, target_kind and, for a sensor, value"},
                "reason_zh": {"type": "string"},
                "reason_en": {"type": "string"},
                "decision": {"type": "string", "enum": list(c.CASE_LINK_STATES)},
                "decided_by": {"type": ["string", "null"]},
                "decided_at": nullable_ts,
                "created_at": timestamp,
            },
        },
        "Case": {
            "type": "object",
            "required": ["id", "ticket_count", "tickets", "links", "explanation"],
            "properties": {
                "id": {"type": "integer"},
                "key": {"type": "string"},
                "category": {"type": "string", "enum": list(c.HOTLINE_CATEGORIES)},
                "subdistrict": {"type": "string"},
                "cell": {"type": "string"},
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "incident_id": {"type": ["integer", "null"], "description": "the incident that explains it"},
                "sensor_id": {"type": ["string", "null"], "description": "the sensor whose reading explains it"},
                "first_at": timestamp,
                "last_at": timestamp,
                "ticket_count": {"type": "integer", "description": "tickets in the case (split ones not counted)"},
                "open": {"type": "boolean"},
                "explanation": {"type": "object", "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}},
                "tickets": {"type": "array", "items": {"type": "object"},
                            "description": "its tickets in arrival order, each with link_id and decision"},
                "links": {"type": "array", "items": _ref("CaseLink")},
            },
            "additionalProperties": True,
        },
        "CaseDetail": {
            "allOf": [_ref("Case"), {"type": "object", "properties": {
                "decisions": {"type": "array", "items": {"type": "object"},
                              "description": "who confirmed or split which link, oldest first"}}}],
        },
        "CaseList": {
            "type": "object",
            "required": ["cases", "count"],
            "properties": {"cases": {"type": "array", "items": _ref("Case")}, "count": {"type": "integer"}},
        },
        "LinkDecision": {
            "type": "object",
            "required": ["decision"],
            "additionalProperties": False,
            "properties": {
                "decision": {"type": "string", "enum": list(c.CASE_DECISIONS)},
                "note": {"type": "string", "maxLength": 2000},
            },
        },
        "LinkDecisionResult": {
            "type": "object",
            "required": ["case", "link", "decision_id", "replayed"],
            "properties": {
                "case": _ref("CaseDetail"),
                "link": _ref("CaseLink"),
                "decision_id": {"type": "integer"},
                "replayed": {"type": "boolean"},
            },
        },
        "IngestResult": {
            "type": "object",
            "properties": {
                "accepted": {"type": "integer"},
                "duplicates": {"type": "integer"},
                "rejected": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "event_id": {"type": ["string", "null"]},
                                   "errors": {"type": "object", "additionalProperties": {"type": "string"},
                                              "description": "field name -> reason"}},
                }},
                "unavailable": {"type": "array", "items": {"type": "object"}},
                "retry_after_s": {"type": "number"},
            },
        },
        "Event": {
            "type": "object",
            "description": "One event; `kind` decides the other fields (sensor readings, traffic, parking, crowds, "
                           "incidents and their end, hotline tickets and their updates).",
            "required": ["event_id", "source", "kind", "ts"],
            "properties": {
                "event_id": {"type": "string", "maxLength": 128},
                "source": {"type": "string", "maxLength": 64},
                "kind": {"type": "string", "enum": sorted(c.EVENT_KINDS)},
                "ts": {"type": "string", "format": "date-time", "description": "ISO 8601 with a time zone"},
            },
            "additionalProperties": True,
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "redis": {"type": "object"},
                "database": {"type": "object"},
                "workers": {"type": "object"},
                "aggregates": {"type": "object"},
            },
        },
    }


def _paths() -> dict[str, Any]:
    incident_id = {"$ref": "#/components/parameters/IncidentId"}
    idem = {"$ref": "#/components/parameters/IdempotencyKey"}
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    link_id = {"name": "link_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
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
                    "401", "422", "503",
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
                    "401", "422", "503",
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
                    {"oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event")}]})},
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
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "State of Redis, the database, the workers and the age of every aggregate",
                "tags": ["operations"],
                "security": PUBLIC,
                "responses": {
                    "200": {"description": "all is well", "content": _json_content(_ref("Health"))},
                    "503": {"description": "degraded", "content": _json_content(_ref("Health"))},
                },
            },
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["operations"],
                "security": PUBLIC,
                "responses": {"200": {"description": "the OpenAPI document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            },
        },
    }


@cache
def _document() -> dict[str, Any]:
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
                             "description": "a per-user API token (python -m ops.tokens create)"},
                "ingestToken": {"type": "http", "scheme": "bearer",
                                "description": "the INGEST_TOKEN of source systems, only for POST /api/v1/events"},
            },
            "parameters": {
                "IncidentId": {"name": "incident_id", "in": "path", "required": True,
                               "schema": {"type": "integer", "minimum": 1}},
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
                "BadRequest": _error("malformed JSON, or a missing or invalid Idempotency-Key"),
                "Unauthorized": _error("no session and no valid API token (or a revoked one, or a disabled user)"),
                "Forbidden": _error("the caller's role may not do this (audited), or the CSRF check failed"),
                "NotFound": _error("no such incident"),
                "Conflict": _error("illegal in the current state (e.g. the unit is already dispatched)"),
                "UnsupportedMediaType": _error("the body must be application/json"),
                "Unprocessable": _error("a field or query parameter is invalid; the reason says which"),
                "Unavailable": _error("the database failed: nothing was saved; retry", retry=True),
            },
            "schemas": _schemas(),
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a copy: callers may change it)."""
    return copy.deepcopy(_document())
