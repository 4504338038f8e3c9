"""REST API for cases (热线+网格): open cases with their tickets, links and reasons, and the dispatcher's decision
on a link. Authenticated like /api/v1/incidents (session + CSRF header on POST, or a per-user API token); roles are
checked by dashboard.services.cases, which audits refusals. Described in dashboard/web/api/openapi.py.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, request

from dashboard.live.publish import request_tick
from dashboard.services.cases import LIST_LIMIT_MAX, DecisionResult, decide_link, get_case, list_cases
from dashboard.web.api import common as api
from dashboard.web.api import models
from dashboard.web.api.common import ID, PREFIX
from dashboard.web.extensions import redis_client

log = logging.getLogger(__name__)
bp = Blueprint("api_cases", __name__, url_prefix=PREFIX)
# The same error answers as the incidents API: JSON with error and code, 503 with Retry-After.
api.install_error_handlers(bp)

LIST_LIMIT_DEFAULT = 100


def _result_body(result: DecisionResult) -> dict[str, Any]:
    """The answer to a decision."""
    return {"case": result.case, "link": result.link, "decision_id": result.decision_id,
            "replayed": result.replayed}


@bp.get("/cases")
def cases_index() -> Response:
    """Open cases, the latest ticket first, with their tickets, links, reasons and explanation."""
    api.only_params({"limit"})
    raw = request.args.get("limit", "").strip()
    limit = api.int_param("limit", raw, 1, LIST_LIMIT_MAX) if raw else LIST_LIMIT_DEFAULT
    rows = api.in_session(list_cases, limit)
    return api.json_response({"cases": rows, "count": len(rows)})


@bp.get(f"/cases/<{ID}:case_id>")
def cases_show(case_id: int) -> Response:
    """One case (open or not) with its tickets, links, reasons and the decisions taken on them."""
    return api.json_response(api.in_session(get_case, case_id))


@bp.post(f"/cases/<{ID}:case_id>/links/<{ID}:link_id>")
def cases_decide(case_id: int, link_id: int) -> Response:
    """Confirm or split one link of a case; the same Idempotency-Key again replays the first result.

    The body's shape is parsed here; what the decision and the note may be the service checks (and audits)."""
    key = api.idempotency_key()
    body = api.parse_body(models.LinkDecision, api.json_object())
    result = api.in_session(decide_link, case_id, link_id, body.decision, api.actor(), key, body.note)
    if not result.replayed:
        try:
            request_tick(redis_client())  # the wall's counts of cases follow at once
        except redis.RedisError:  # pragma: no cover - request_tick logs and never raises
            log.warning("no immediate tick after a case decision")
    return api.json_response(_result_body(result))
