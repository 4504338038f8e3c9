"""The OpenAPI document from the models: every route of the API blueprints described, every schema a valid JSON
Schema, the request models agreeing with what the services accept, and real answers of every status that can be
reached (200/201, 400, 401, 403, 404, 409, 413, 415, 422, 503) validating against the schema the document gives
for that status. Validation with the `jsonschema` package (Draft 2020-12, the dialect of OpenAPI 3.1).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy.exc import OperationalError

from dashboard.config import Config
from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.services import incidents as svc
from dashboard.web import health
from dashboard.web.api import cases as api_cases
from dashboard.web.api import hub, models, openapi, stream
from dashboard.web.api import incidents as api_incidents
from dashboard.web.api import ingest as api_ingest
from dashboard.web.extensions import db_sessions
from ops.redis_server import free_port
from tests.helpers import csrf_headers, incident, login, reading
from tests.openapi_check import AnswerChecker, checking_answers, openapi_path

DONGSI = {"lon": 116.4170, "lat": 39.9240}
INGEST = {"Authorization": "Bearer test-token"}


def test_every_route_of_the_api_blueprints_is_described() -> None:
    app = Flask(__name__)
    blueprints = (api_incidents.bp, api_cases.bp, api_ingest.bp, stream.bp, health.bp)
    for bp in blueprints:
        app.register_blueprint(bp)
    documented = openapi.document()["paths"]
    names = {f"{bp.name}." for bp in blueprints}
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] + "." in names]
    assert len(routes) == 15
    for rule in routes:
        path = openapi_path(rule.rule)
        assert path in documented, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            assert method.lower() in documented[path], (method, path)


def test_every_documented_schema_is_a_valid_json_schema() -> None:
    schemas = openapi.document()["components"]["schemas"]
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema.get("description"), f"{name} says what it is"
    # The ingest's events are the models of dashboard.domain.events: one schema per kind, chosen by `kind`.
    event = schemas["Event"]
    assert set(event["discriminator"]["mapping"]) == set(c.EVENT_KINDS)
    reading_schema = schemas["SensorReading"]
    assert reading_schema["properties"]["sensor_type"]["enum"] == list(c.SENSOR_TYPES)
    assert {"if": {"properties": {"sensor_type": {"const": "gas"}}},
            "then": {"properties": {"value": {"minimum": 0, "maximum": 100}}}} in reading_schema["allOf"]
    assert schemas["ActionRequest"]["properties"]["action"]["enum"] == list(lifecycle.ACTIONS)
    assert schemas["Incident"]["properties"]["state"]["enum"] == list(lifecycle.STATES)
    assert set(schemas["ValidationFailed"]["required"]) == {"error", "code", "errors"}
    assert schemas["IngestResult"]["properties"]["duplicates"]["type"] == "array"


def test_the_request_models_have_the_fields_the_services_take() -> None:
    assert list(models.NewIncident.model_fields) == list(svc.CREATE_FIELDS)
    assert set(models.ActionRequest.model_fields) == {f.name for f in dataclasses.fields(svc.ActionRequest)}


NEW_INCIDENTS = [
    {"category": "fire", "severity": 2, "title": "东四 火情", **DONGSI},
    {"category": "fire", "severity": 2, "title": "火情", **DONGSI, "description": "二层", "sensor_id": "pole-1:gas"},
    {"category": "fire", "severity": 9, "title": "x", **DONGSI},
    {"category": "fire", "severity": True, "title": "x", **DONGSI},
    {"category": "volcano", "severity": 2, "title": "x", **DONGSI},
    {"category": "fire", "severity": 2, "title": " ", **DONGSI},
    {"category": "fire", "severity": 2, "title": "x" * 201, **DONGSI},
    {"category": "fire", "severity": 2, "title": "x", "lon": "116.4", "lat": 39.92},
    {"category": "fire", "severity": 2, "title": "x", **DONGSI, "colour": "red"},
    {"severity": 2, "title": "x", **DONGSI},
]


def test_the_new_incident_schema_accepts_what_the_service_accepts(app: Any) -> None:
    # The service also checks what a schema cannot (the point in the district, the time window): not varied here.
    schema = openapi.document()["components"]["schemas"]["NewIncident"]
    client = app.test_client()
    assert login(client, "dispatch").status_code == 302
    headers = csrf_headers(client)
    for body in NEW_INCIDENTS:
        by_schema = not list(Draft202012Validator(schema).iter_errors(body))
        resp = _post(client, "/api/v1/incidents", body, {**headers, "Idempotency-Key": uuid.uuid4().hex})
        assert resp.status_code in (201, 422), resp.get_json()
        assert by_schema == (resp.status_code == 201), body


def _post(client: Any, path: str, body: Any, headers: dict[str, str]) -> Any:
    """POST a JSON body (or raw text) with headers."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", headers=headers)


def test_real_answers_of_every_status_validate_against_the_document(
    app: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: set[tuple[str, int]] = set()
    anonymous = app.test_client()
    dispatch, leader = app.test_client(), app.test_client()
    assert login(dispatch, "dispatch").status_code == 302 and login(leader, "leader").status_code == 302
    as_dispatch, as_leader = csrf_headers(dispatch), csrf_headers(leader)

    def key() -> dict[str, str]:
        """A fresh Idempotency-Key header."""
        return {"Idempotency-Key": uuid.uuid4().hex}

    with checking_answers(app) as problems:
        def saw(resp: Any, label: str) -> Any:
            """Note which request answered which status."""
            seen.add((label, resp.status_code))
            return resp

        created = saw(_post(dispatch, "/api/v1/incidents", {"category": "fire", "severity": 2, "title": "火情",
                                                            **DONGSI}, {**as_dispatch, **key()}), "create")
        inc = created.get_json()["incident"]["id"]
        saw(dispatch.get("/api/v1/incidents?state=new", headers=as_dispatch), "list")
        saw(dispatch.get(f"/api/v1/incidents/{inc}", headers=as_dispatch), "detail")
        saw(dispatch.get(f"/api/v1/incidents/{inc}/suggestions", headers=as_dispatch), "suggestions")
        saw(dispatch.get("/api/v1/units", headers=as_dispatch), "units")
        saw(dispatch.get("/api/v1/cases", headers=as_dispatch), "cases")
        saw(_post(dispatch, f"/api/v1/incidents/{inc}/actions", {"action": "acknowledge"}, {**as_dispatch, **key()}),
            "action")
        saw(_post(dispatch, f"/api/v1/incidents/{inc}/actions", {"action": "close"}, {**as_dispatch, **key()}),
            "action")  # 409: resolve it first
        saw(_post(leader, f"/api/v1/incidents/{inc}/actions", {"action": "resolve"}, {**as_leader, **key()}),
            "action")  # 403: not the leader's
        saw(_post(dispatch, f"/api/v1/incidents/{inc}/actions", {"action": "dispatch", "unit_id": "7"},
                  {**as_dispatch, **key()}), "action")  # 422
        saw(_post(dispatch, f"/api/v1/incidents/{inc}/actions", {"action": "levitate"}, {**as_dispatch, **key()}),
            "action")  # 422 from the service
        saw(_post(dispatch, f"/api/v1/incidents/{inc}/actions", "{nope", {**as_dispatch, **key()}), "action")  # 400
        saw(dispatch.post(f"/api/v1/incidents/{inc}/actions", data="action=x", headers={**as_dispatch, **key()},
                          content_type="text/plain"), "action")  # 415
        saw(_post(dispatch, "/api/v1/incidents", {"category": "fire", "severity": 9, "title": "x", **DONGSI},
                  {**as_dispatch, **key()}), "create")  # 422 with errors
        saw(dispatch.get("/api/v1/incidents?limit=0", headers=as_dispatch), "list")  # 422
        saw(dispatch.get("/api/v1/incidents/999999", headers=as_dispatch), "detail")  # 404
        saw(dispatch.get("/api/v1/cases/999999", headers=as_dispatch), "case")  # 404
        saw(_post(dispatch, "/api/v1/cases/999999/links/1", {"decision": "confirm"}, {**as_dispatch, **key()}),
            "decide")  # 404
        saw(_post(dispatch, "/api/v1/cases/1/links/1", {"decision": "confirm", "colour": 1}, {**as_dispatch, **key()}),
            "decide")  # 422
        saw(anonymous.get("/api/v1/incidents"), "list")  # 401
        saw(dispatch.get("/api/v1/nothing/here", headers=as_dispatch), "unknown")  # 404, no route
        saw(_post(anonymous, "/api/v1/events", [reading("r1"), incident("i1")], INGEST), "events")
        saw(_post(anonymous, "/api/v1/events", [reading("r1", value=-5)], INGEST), "events")  # 422
        saw(_post(anonymous, "/api/v1/events", [], INGEST), "events")  # 400
        saw(_post(anonymous, "/api/v1/events", [reading("r2")], {}), "events")  # 401
        saw(_post(anonymous, "/api/v1/events", "x" * (config.max_body_bytes + 1), INGEST), "events")  # 413
        saw(anonymous.get("/healthz"), "health")  # 503 here: no workers run in the tests
        saw(anonymous.get("/livez"), "liveness")
        saw(anonymous.get("/readyz"), "readiness")
        app.config[hub.CFG_MAX_STREAMS] = 0
        saw(dispatch.get("/api/v1/stream", headers=as_dispatch), "stream")  # 503: no stream may open
        saw(anonymous.get("/api/v1/openapi.json"), "openapi")

        def database_away(*args: Any, **kwargs: Any) -> Any:
            """The database goes away."""
            raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

        monkeypatch.setattr(api_incidents, "list_units", database_away)
        saw(dispatch.get("/api/v1/units", headers=as_dispatch), "units")  # 503
    assert not problems, "\n".join(problems)
    statuses = {status for _, status in seen}
    assert {200, 201, 400, 401, 403, 404, 409, 413, 415, 422, 503} <= statuses, sorted(seen)
    assert ("stream", 503) in seen and ("health", 503) in seen and ("units", 503) in seen


def test_an_ingest_that_cannot_store_answers_503_as_documented(db_url: str) -> None:
    from dashboard.store.schema import init_db
    from dashboard.web import create_app

    dead = create_app(Config.for_tests(redis_url=f"redis://127.0.0.1:{free_port()}/0", database_url=db_url))
    with dead.app_context():
        init_db(db_sessions().kw["bind"])
    try:
        resp = _post(dead.test_client(), "/api/v1/events", [reading("r1")], INGEST)
        assert resp.status_code == 503
        assert AnswerChecker().problems("/api/v1/events", "POST", 503, resp.get_json()) == []
    finally:
        with dead.app_context():
            db_sessions().kw["bind"].dispose()


def test_an_undocumented_field_in_an_answer_is_caught() -> None:
    checker = AnswerChecker()
    body = {"units": [], "count": 0}
    assert checker.problems("/api/v1/units", "GET", 200, body) == []
    assert checker.problems("/api/v1/units", "GET", 200, {**body, "colour": "red"})
    assert checker.problems("/api/v1/units", "GET", 418, body) == ["GET /api/v1/units -> 418: this status is not "
                                                                   "documented"]
