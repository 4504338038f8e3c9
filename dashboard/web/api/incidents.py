"""REST API for incidents, their actions and the units: the console's service functions over HTTP.

Authenticated by the browser session (state changes then need the CSRF header, see dashboard.web.csrf) or by a
per-user API token (`Authorization: Bearer`, made with `dongcheng tokens create`). Roles are checked by the service,
which refuses with a status, a reason and an audit entry; this module only parses, validates the shape of requests
and maps results and failures to JSON. Described by the OpenAPI document at /api/v1/openapi.json.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.live.publish import notify_change
from dashboard.services.incident_reads import get_incident, list_incidents, list_units, suggest_units
from dashboard.services.incidents import ActionRequest, ActionResult, create_incident, perform_action
from dashboard.web.api import common as api
from dashboard.web.api import models, openapi
from dashboard.web.api.common import ID, PREFIX
from dashboard.web.extensions import redis_client

log = logging.getLogger(__name__)
bp = Blueprint("api_incidents", __name__, url_prefix=PREFIX)
api.install_error_handlers(bp)
# JSON instead of HTML for unknown routes, wrong methods, oversized bodies … anywhere under /api/, and the API's
# paths routed by the API's own routes rather than the pages' catch-all.
bp.app_errorhandler(HTTPException)(api.http_error)
bp.app_errorhandler(api.ApiError)(api.api_error)
bp.before_app_request(api.route_api)

LIST_LIMIT_MAX = 500
LIST_LIMIT_DEFAULT = 200
SUGGEST_LIMIT_MAX = 20
LIST_PARAMS = frozenset({"state", "severity", "subdistrict", "limit"})


# --- request parsing ----------------------------------------------------------------------------


def _subdistrict_code(raw: str) -> str:
    """A subdistrict given by its code, Chinese or English name, as its code."""
    for s in geo.subdistricts():
        if raw in (s.code, s.name_zh) or raw.lower() == s.name_en.lower():
            return s.code
    api.fail(422, f"unknown subdistrict {raw!r}: give its 9-digit code or its name", "invalid_parameter",
             {"subdistrict": "is neither the 9-digit code nor the name of a subdistrict"})


def _list_filters() -> dict[str, Any]:
    """The list's filters from the query string; 422 for an unknown parameter or value."""
    api.only_params(LIST_PARAMS)
    states = api.split(request.args.getlist("state"))
    for s in states:
        if s not in lifecycle.STATES:
            api.fail(422, f"unknown state {s!r}; one of {', '.join(lifecycle.STATES)}", "invalid_parameter",
                     {"state": f"must be one of {', '.join(lifecycle.STATES)}"})
    severities = [api.int_param("severity", v, min(c.SEVERITIES), max(c.SEVERITIES))
                  for v in api.split(request.args.getlist("severity"))]
    raw_sub = request.args.get("subdistrict", "").strip()
    raw_limit = request.args.get("limit", "").strip()
    return {
        "states": states or None,
        "severities": severities or None,
        "subdistrict": _subdistrict_code(raw_sub) if raw_sub else None,
        "limit": api.int_param("limit", raw_limit, 1, LIST_LIMIT_MAX) if raw_limit else LIST_LIMIT_DEFAULT,
    }


def _action_request(body: dict[str, Any]) -> ActionRequest:
    """The service's ActionRequest from a JSON body parsed by its model (field names and JSON types).

    An unknown action, a missing unit or reason …: the service refuses those, with an audit entry."""
    req = api.parse_body(models.ActionRequest, body)
    return ActionRequest(**req.model_dump(exclude_none=True))


def _with_allowed_actions(incident: dict[str, Any], role: str) -> dict[str, Any]:
    """The incident with the actions the caller's role may take in its state."""
    state = incident.get("state")
    if isinstance(state, str):
        escalated = bool(incident.get("escalated_at"))
        return {**incident, "allowed_actions": lifecycle.allowed_actions(state, role, escalated=escalated)}
    return incident


def _notify(incident_id: int, action: str) -> None:
    """Tell open screens after the commit; a Redis failure loses only the push (screens also poll)."""
    try:
        notify_change(redis_client(), incident_id, action)
    except redis.RedisError as exc:
        log.warning("push for incident %s failed: %s", incident_id, exc)


def _result_body(result: ActionResult, role: str) -> dict[str, Any]:
    """The answer to an action or a creation."""
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
    rows = api.in_session(list_incidents, **filters)
    return api.json_response({"incidents": rows, "count": len(rows)})


@bp.post("/incidents")
def incidents_create() -> Response:
    """Create an incident by hand (as the console does)."""
    key = api.idempotency_key()
    body = api.json_object()
    actor = api.actor()
    result = api.in_session(create_incident, body, actor, key)
    if not result.replayed:
        _notify(int(result.incident["id"]), lifecycle.CREATE)
    incident_id = result.incident["id"]
    return api.json_response(_result_body(result, actor.role), 200 if result.replayed else 201,
                             Location=f"{PREFIX}/incidents/{incident_id}")


@bp.get(f"/incidents/<{ID}:incident_id>")
def incidents_show(incident_id: int) -> Response:
    """One incident with its timeline, summons and units, and the actions the caller may take now."""
    incident = api.in_session(get_incident, incident_id)  # Refused(404) when there is none
    return api.json_response(_with_allowed_actions(incident, api.actor().role))


@bp.post(f"/incidents/<{ID}:incident_id>/actions")
def incidents_action(incident_id: int) -> Response:
    """Take one action on an incident; the same Idempotency-Key again replays the first result."""
    key = api.idempotency_key()
    req = _action_request(api.json_object())
    actor = api.actor()
    result = api.in_session(perform_action, incident_id, req, actor, key)
    if not result.replayed:
        _notify(incident_id, req.action)
    return api.json_response(_result_body(result, actor.role))


@bp.get(f"/incidents/<{ID}:incident_id>/suggestions")
def incidents_suggestions(incident_id: int) -> Response:
    """The nearest available suitable units (straight-line distance)."""
    api.only_params({"limit"})
    raw = request.args.get("limit", "").strip()
    limit = api.int_param("limit", raw, 1, SUGGEST_LIMIT_MAX) if raw else 5
    rows = api.in_session(suggest_units, incident_id, limit)
    return api.json_response({"incident_id": incident_id, "suggestions": rows})


@bp.get("/units")
def units_index() -> Response:
    """Every unit with its status and position."""
    rows = api.in_session(list_units)
    return api.json_response({"units": rows, "count": len(rows)})


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 description of this API (public: it describes the interface and holds no data)."""
    resp = api.json_response(openapi.document())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
