"""REST API for cases (热线+网格): open cases with their tickets, links and reasons, and the dispatcher's decision
on a link. Authenticated like /api/v1/incidents (session + CSRF header on POST, or a per-user API token); roles are
checked by dashboard.services.cases, which audits refusals. Described in dashboard/web/api/openapi.py.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from dashboard.live.publish import request_tick
from dashboard.services.base import Refused
from dashboard.services.cases import DECISION_STATE, LIST_LIMIT_MAX, DecisionResult, decide_link, get_case, list_cases
from dashboard.web.api import incidents as api
from dashboard.web.extensions import redis_client

log = logging.getLogger(__name__)
bp = Blueprint("api_cases", __name__, url_prefix="/api/v1")
# The same error answers as the incidents API: JSON with error and code, 503 with Retry-After.
bp.register_error_handler(api.ApiError, api._api_error)
bp.register_error_handler(Refused, api._refused)
bp.register_error_handler(SQLAlchemyError, api._database_failed)
bp.after_request(api._no_store)

LIST_LIMIT_DEFAULT = 100
DECISION_FIELDS = frozenset({"decision", "note"})


def _decision_body() -> tuple[Any, Any]:
    """(decision, note) from the JSON body; the service checks their meaning (and audits a refusal)."""
    body = api._json_object()
    unknown = sorted(set(body) - DECISION_FIELDS)
    if unknown:
        api._fail(422, f"unknown field(s) {', '.join(unknown)}; allowed: decision, note", "invalid_field")
    decision, note = body.get("decision"), body.get("note")
    if not isinstance(decision, str):
        api._fail(422, f"decision must be one of {', '.join(DECISION_STATE)}", "invalid_field")
    if note is not None and not isinstance(note, str):
        api._fail(422, "note must be a JSON string", "invalid_field")
    return decision, note


def _result_body(result: DecisionResult) -> dict[str, Any]:
    return {"case": result.case, "link": result.link, "decision_id": result.decision_id,
            "replayed": result.replayed}


@bp.get("/cases")
def cases_index() -> Response:
    """Open cases, the latest ticket first, with their tickets, links, reasons and explanation."""
    unknown = sorted(set(request.args) - {"limit"})
    if unknown:
        api._fail(422, f"unknown query parameter(s) {', '.join(unknown)}; allowed: limit", "invalid_parameter")
    raw = request.args.get("limit", "").strip()
    limit = api._int_param("limit", raw, 1, LIST_LIMIT_MAX) if raw else LIST_LIMIT_DEFAULT
    rows = api._in_session(list_cases, limit)
    return api._json({"cases": rows, "count": len(rows)})


@bp.get("/cases/<int:case_id>")
def cases_show(case_id: int) -> Response:
    """One case (open or not) with its tickets, links, reasons and the decisions taken on them."""
    return api._json(api._in_session(get_case, case_id))


@bp.post("/cases/<int:case_id>/links/<int:link_id>")
def cases_decide(case_id: int, link_id: int) -> Response:
    """Confirm or split one link of a case; the same Idempotency-Key again replays the first result."""
    key = api._idempotency_key()
    decision, note = _decision_body()
    result = api._in_session(decide_link, case_id, link_id, decision, api._actor(), key, note)
    if not result.replayed:
        try:
            request_tick(redis_client())  # the wall's counts of cases follow at once
        except redis.RedisError:  # pragma: no cover - request_tick logs and never raises
            log.warning("no immediate tick after a case decision")
    return api._json(_result_body(result))
