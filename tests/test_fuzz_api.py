"""Schemathesis fuzzes the REST and ingest APIs from their own OpenAPI document (/api/v1/openapi.json), on SQLite
and PostgreSQL, authenticated (a dispatcher's API token; the ingest token): no answer is a 5xx, every answer has a
documented status and matches its documented schema, a schema-invalid request is refused, an operation that
declares authentication enforces it, and a method the document does not list answers 405 with `Allow`.

Bounded: FUZZ_EXAMPLES generated requests per operation and phase (a few seconds an operation), seeded, so that a
run is repeatable; `FUZZ_EXAMPLES=500` fuzzes harder on demand (and adds the ingest's coverage phase). The events'
points are bounded by the district's box in the document and given an example inside it, so generated incidents,
tickets and readings get through to Redis and the database with whatever text the fuzzer makes up.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import select

from dashboard import store
from dashboard.store.models import ApiToken, User
from dashboard.web.api import openapi
from dashboard.web.extensions import db_sessions
from simulator.installations import build_units
from tests.helpers import incident
from tests.test_cases_api import make_case

DEFAULT_EXAMPLES = 25
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
# The dispatcher's API token (its hash is stored by the fixture) and the app's ingest token (Config.for_tests).
API_TOKEN = "dc_fuzz-" + "0123456789abcdef" * 3
INGEST_TOKEN = "test-token"

CONFIG = schemathesis.Config.from_dict({
    "seed": 20261206,
    "generation": {"max-examples": FUZZ_EXAMPLES, "database": "none"},
    "auth": {"openapi": {"apiToken": {"bearer": API_TOKEN}, "ingestToken": {"bearer": INGEST_TOKEN}}},
    "checks": {
        # A schema-valid request may still be refused with 422 and a reason: rules that join fields or ask the
        # record (a point inside the district's polygon, the unit an action needs, an incident in the right
        # state) are beyond what JSON Schema can state. Everything else is checked, schema-invalid requests
        # refused included.
        "positive_data_acceptance": {"enabled": False},
    },
    "operations": [
        # Health is 503 while no worker runs (there is none in this test): documented, and not a failure.
        # The coverage phase of the ingest (every boundary of each of the eight event kinds) takes about a minute:
        # run on demand only, with more examples than the default.
        {"include-path": "/api/v1/events", "phases": {"coverage": {"enabled": FUZZ_EXAMPLES > DEFAULT_EXAMPLES}}},
        {"include-path": "/healthz", "checks": {"not_a_server_error": {"expected-statuses": ["2XX", "3XX", "4XX",
                                                                                               "503"]}}},
    ],
})


class CurrentApp:
    """The WSGI app of the running test (each test builds its own, on its database)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Hand the request to the running test's app."""
        return self.app(environ, start_response)


CURRENT = CurrentApp()
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG).exclude(
    path="/api/v1/stream")  # an endless text/event-stream: tests/test_push.py proves its answers
schema.app = CURRENT


@pytest.fixture
def fuzzed(app: Any) -> Any:
    """The app with data to find (units, incidents, a case) and the dispatcher's API token."""
    now = time.time()
    with app.app_context():
        with db_sessions().begin() as s:
            user = s.scalars(select(User).where(User.username == "dispatch")).one()
            s.add(ApiToken(user_id=user.id, name="fuzz", token_hash=hashlib.sha256(API_TOKEN.encode()).hexdigest()))
            store.units.seed_units(s, build_units())
        make_case(app.extensions["dc_redis"], db_sessions(), now)
    client = app.test_client()
    events = [incident(f"fz-{i}", severity=1 + i % 4) for i in range(3)]
    assert client.post("/api/v1/events", json=events, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}).json[
        "accepted"] == 3
    CURRENT.app = app
    yield app
    CURRENT.app = None


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any, fuzzed: Any) -> None:
    case.call_and_validate()
