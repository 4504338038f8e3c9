"""Bad input never reaches a 500, on SQLite and PostgreSQL: text a database refuses (NUL, lone surrogates, control
characters) is refused per event and per REST body with a field-level reason while the rest is stored; ids out of
an INTEGER column's range answer 404; control characters in a path, a query or a form field answer 400 and never
reach the log unescaped; JSON nested deeper than the limit answers 400 with the reason (API, ingest, Dash); odd
methods, odd headers and odd report days answer 4xx. Every API answer here is checked against the OpenAPI document.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import Any

import pytest
from flask import request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dashboard.domain import text
from dashboard.store.models import MAX_ID, Incident
from dashboard.web import limits, logs
from dashboard.web.extensions import db_sessions
from tests.helpers import csrf_headers, incident, login, reading, ticket
from tests.openapi_check import answers_match_the_document  # noqa: F401  (autouse: every answer as documented)

INGEST = {"Authorization": "Bearer test-token"}
DONGSI = {"lon": 116.4170, "lat": 39.9240}
BAD_TEXT = {"\x00": text.NUL_REASON, "\ud800": text.SURROGATE_REASON, "\x07": text.CONTROL_REASON}


def incidents_stored(app: Any) -> list[str]:
    with app.app_context(), db_sessions()() as s:
        return list(s.scalars(select(Incident.external_id).order_by(Incident.external_id)))


def raw_json(value: Any) -> bytes:
    """JSON as the standard library writes it: a lone surrogate as its \\ud800 escape (orjson would refuse it)."""
    return json.dumps(value).encode()


def signed_in(app: Any, username: str = "dispatch") -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client, csrf_headers(client)


# --- text a database refuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", list(BAD_TEXT))
def test_an_event_with_text_a_database_refuses_is_rejected_alone_and_the_batch_is_stored(
        app: Any, client: Any, bad: str) -> None:
    batch = [incident("ok-1"), incident("bad-title", title=f"东四{bad}火情"), ticket("T1", summary=f"噪音{bad}"),
             incident("bad-description", description=f"二层{bad}"), reading("r-1"), incident("ok-2")]
    resp = client.post("/api/v1/events", data=raw_json(batch), content_type="application/json", headers=INGEST)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["accepted"] == 3
    assert body["rejected"] == [
        {"index": 1, "event_id": "bad-title", "errors": {"title": BAD_TEXT[bad]}},
        {"index": 2, "event_id": "tk-T1", "errors": {"summary": BAD_TEXT[bad]}},
        {"index": 3, "event_id": "bad-description", "errors": {"description": BAD_TEXT[bad]}},
    ]
    assert incidents_stored(app) == ["ok-1", "ok-2"]
    # Sent again, the valid ones are duplicates and the invalid ones rejected again: nothing asks for a resend.
    again = client.post("/api/v1/events", data=raw_json(batch), content_type="application/json", headers=INGEST)
    assert again.status_code == 200 and "unavailable" not in again.get_json()


def test_a_lone_surrogate_in_an_identifier_gets_its_own_reason(client: Any) -> None:
    resp = client.post("/api/v1/events", data=raw_json([reading("r\ud800")]), content_type="application/json",
                       headers=INGEST)
    assert resp.status_code == 422
    assert resp.get_json()["rejected"] == [{"index": 0, "event_id": None,
                                           "errors": {"event_id": text.SURROGATE_REASON}}]


def test_tabs_and_line_breaks_are_text(app: Any, client: Any) -> None:
    resp = client.post("/api/v1/events", json=[incident("lines", title="东四\t火情", description="一层\r\n二层")],
                       headers=INGEST)
    assert resp.get_json()["accepted"] == 1


@pytest.mark.parametrize("bad", list(BAD_TEXT))
def test_every_rest_body_refuses_text_a_database_refuses_with_the_field_at_fault(app: Any, bad: str) -> None:
    client, headers = signed_in(app)

    def post(path: str, body: dict[str, Any]) -> Any:
        return client.post(path, data=raw_json(body), content_type="application/json",
                           headers={**headers, "Idempotency-Key": uuid.uuid4().hex})

    cases = [
        ("/api/v1/incidents", {"category": "fire", "severity": 2, "title": f"火情{bad}", **DONGSI}, "title"),
        ("/api/v1/incidents", {"category": "fire", "severity": 2, "title": "火情", f"x{bad}": 1, **DONGSI},
         text.escape_controls(f"x{bad}")),
        ("/api/v1/incidents/1/actions", {"action": f"close{bad}"}, "action"),
        ("/api/v1/incidents/1/actions", {"action": "whistle", "departments": ["police", f"fire{bad}"]},
         "departments"),
        ("/api/v1/incidents/1/actions", {"action": "cancel", "reason": {"nested": [f"a{bad}"]}}, "reason"),
        ("/api/v1/cases/1/links/1", {"decision": "confirm", "note": f"note{bad}"}, "note"),
    ]
    for path, body, field in cases:
        resp = post(path, body)
        assert resp.status_code == 422, (path, body, resp.get_json())
        assert resp.get_json()["errors"] == {field: BAD_TEXT[bad]}, (path, body)
    assert incidents_stored(app) == []


# --- ids out of range ---------------------------------------------------------------------------------------------


BAD_IDS = [str(MAX_ID + 1), str(2**63), str(2**64), "9" * 40, "-1", "0", "01x"]


def test_ids_no_row_can_have_answer_404_on_every_route(app: Any) -> None:
    client, headers = signed_in(app)
    idem = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    routes = [
        ("GET", "/api/v1/incidents/{}", None),
        ("GET", "/api/v1/incidents/{}/suggestions", None),
        ("POST", "/api/v1/incidents/{}/actions", {"action": "acknowledge"}),
        ("GET", "/api/v1/cases/{}", None),
        ("POST", "/api/v1/cases/{}/links/1", {"decision": "confirm"}),
        ("POST", "/api/v1/cases/1/links/{}", {"decision": "confirm"}),
    ]
    for bad_id in BAD_IDS:
        for method, template, body in routes:
            path = template.format(bad_id)
            resp = client.open(path, method=method, json=body, headers=idem)
            assert resp.status_code == 404, (method, path, resp.status_code)
            assert resp.get_json()["code"] == "not_found"


def test_the_largest_id_is_an_ordinary_404_and_ids_in_a_body_are_bounded(app: Any) -> None:
    client, headers = signed_in(app)
    assert client.get(f"/api/v1/incidents/{MAX_ID}").get_json()["code"] == "incident_not_found"
    created = client.post("/api/v1/incidents", json={"category": "fire", "severity": 2, "title": "火情", **DONGSI},
                          headers={**headers, "Idempotency-Key": "create-1"})
    assert created.status_code == 201
    incident_id = created.get_json()["incident"]["id"]
    for field, value in [("unit_id", 2**63), ("unit_id", MAX_ID + 1), ("unit_id", 0), ("expected_version", 2**63),
                         ("expected_version", -1)]:
        resp = client.post(f"/api/v1/incidents/{incident_id}/actions", json={"action": "dispatch", field: value},
                           headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        assert resp.status_code == 422 and field in resp.get_json()["errors"], (field, value)


# --- control characters in paths, parameters, form fields, and the log ----------------------------------------


CONTROL_TARGETS = [
    "/wall%0aFORGED", "/wall%0d%0aSet-Cookie:%20x=1", "/api/v1/incidents/%00", "/lang/en?next=/x%0aFORGED",
    "/lang/en?next=/x%0d%0aLocation:%20//evil", "/login?next=%00", "/report?day=%0a", "/api/v1/incidents?state=%0a",
    "/api/v1/incidents?x%1b[31m=1", "/healthz?%e2%80%a8=1", "/_dash-layout?%7f=1", "/wall%c2%85",
]


def test_control_characters_in_a_path_or_a_parameter_answer_400(app: Any) -> None:
    for client in (app.test_client(), signed_in(app)[0]):
        for target in CONTROL_TARGETS:
            resp = client.get(target)
            assert resp.status_code == 400, (target, resp.status_code)
            assert "control characters are not allowed" in resp.get_data(as_text=True)
            assert "\n" not in resp.headers.get("Location", "")


def test_a_form_field_with_a_nul_answers_400_before_the_login_reads_it(app: Any, client: Any) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/login", data={"username": "admin\x00", "password": "x", "csrf_token": token})
    assert resp.status_code == 400
    assert login(client, "admin").status_code == 302  # tabs and NULs aside, the form works


def test_nothing_a_request_brings_can_start_a_line_of_the_log(app: Any) -> None:
    app.testing = False  # Flask logs the exception instead of raising it into the test
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.post("/boom")
    def boom() -> Any:
        sent = str(request.get_json())
        logging.getLogger("dashboard.test").warning("refused %s", sent)
        raise ValueError(f"cannot use {sent}")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    logs.one_line_records(root)
    forged = "x\n2026-01-01 00:00:00,000 ERROR dashboard: forged\r\u2028\\"
    try:
        user, headers = signed_in(app)
        assert user.post("/boom", json=forged, headers=headers).status_code == 500
    finally:
        root.removeHandler(handler)
    out = stream.getvalue()
    records = [ln for ln in out.split("\n") if ln and not ln.startswith(logs.INDENT)]
    assert len(records) == 2, out  # the warning and Flask's "Exception on /boom", nothing else at column 0
    assert records[0].endswith("refused x\\x0a2026-01-01 00:00:00,000 ERROR dashboard: forged\\x0d\\u2028\\\\")
    assert "Exception on /boom [POST]" in records[1]
    assert "    ValueError: cannot use x" in out


def test_nothing_a_request_brings_can_reorder_a_line_of_the_log(app: Any) -> None:
    """A right-to-left override or isolate in a sent value displayed the rest of its log line reversed."""

    @app.post("/echo")
    def echo() -> Any:
        logging.getLogger("dashboard.test").warning("refused %s for user admin", request.get_json())
        return {}

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    logs.one_line_records(root)
    try:
        user, headers = signed_in(app)
        sent = "x\u202e\u2066\u200f\u061cy"
        assert user.post("/echo", json=sent, headers=headers).status_code == 200
    finally:
        root.removeHandler(handler)
    assert stream.getvalue() == "refused x\\u202e\\u2066\\u200f\\u061cy for user admin\n"


def test_the_log_filter_escapes_messages_and_indents_tracebacks_once() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %r\nFORGED %s", ("a\rb", "\x1b[2J"), None)
    try:
        raise ValueError("line one\nFORGED line two")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    first, second = logs.OneLineRecords(), logs.OneLineRecords()
    assert first.filter(record) and second.filter(record)
    assert record.getMessage() == "got 'a\\\\rb'\\x0aFORGED \\x1b[2J"  # repr's backslash doubled: unambiguous
    assert record.exc_text is not None
    assert all(ln.startswith(logs.INDENT) for ln in record.exc_text.split("\n"))
    assert "    FORGED line two" in record.exc_text


# --- JSON nested too deep -----------------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """An object `depth` levels deep: {"a": [{"a": [ … ]}]}."""
    out = b"1"
    for level in range(depth):
        out = b'{"a":' + out + b"}" if level % 2 else b"[" + out + b"]"
    return out


@pytest.mark.parametrize("depth", [limits.MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_json_nested_deeper_than_the_limit_answers_400_with_the_reason(app: Any, client: Any, depth: int) -> None:
    too_deep = f"JSON nested deeper than {limits.MAX_JSON_DEPTH} levels"
    resp = client.post("/api/v1/events", data=b'{"events":' + nested(depth) + b"}", content_type="application/json",
                       headers=INGEST)
    assert (resp.status_code, resp.get_json()) == (400, {"error": too_deep})
    user, headers = signed_in(app)
    resp = user.post("/api/v1/incidents", data=b'{"title":' + nested(depth) + b"}", content_type="application/json",
                     headers={**headers, "Idempotency-Key": "deep"})
    assert (resp.status_code, resp.get_json()["code"]) == (400, "json_too_deep")
    # Dash's own callback route reads its body through Flask's JSON, which has the same limit.
    resp = user.post("/_dash-update-component", data=b'{"output":' + nested(depth) + b"}",
                     content_type="application/json", headers=headers)
    assert resp.status_code == 400 and too_deep in resp.get_data(as_text=True)


def test_json_at_the_limit_is_read(client: Any) -> None:
    # Fields the event models do not know are ignored: one nested to the limit costs nothing but the parse.
    body = b'{"events":[' + json.dumps(incident("deep-ok")).encode()[:-1] + b',"extra":' + nested(
        limits.MAX_JSON_DEPTH - 3) + b"}]}"
    assert limits.depth_of(json.loads(body)) == limits.MAX_JSON_DEPTH
    assert client.post("/api/v1/events", data=body, content_type="application/json",
                       headers=INGEST).get_json()["accepted"] == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3),
                                                                      children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json, st.integers(min_value=0, max_value=8))
def test_the_quick_depth_check_of_raw_json_agrees_with_the_parsed_value(value: Any, limit: int) -> None:
    raw = json.dumps(value).encode()
    try:
        limits.parse_json(raw, limit)
        deeper = False
    except limits.JsonTooDeep:
        deeper = True
    assert deeper == (limits.depth_of(value, limit) > limit)


# --- the API's routes, odd methods and headers, the report, Dash's envelope ---------------------------------------


def test_api_paths_answer_404_405_and_options_by_the_api_s_own_routes(app: Any) -> None:
    client, headers = signed_in(app)
    resp = client.get("/api/v1/events")
    assert (resp.status_code, resp.headers["Allow"]) == (405, "OPTIONS, POST")
    assert client.get("/api/v1/incidents/1/actions").status_code == 405
    assert client.open("/api/v1/incidents", method="OPTIONS").headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert client.open("/api/v1/incidents/1/actions", method="OPTIONS").headers["Allow"] == "OPTIONS, POST"
    assert client.post("/api/v1/nothing", json={}, headers=headers).status_code == 404
    assert client.get("/api/v1/nothing").get_json()["code"] == "not_found"
    assert client.delete("/api/v1/incidents/1", headers=headers).status_code == 405


PAGES = ["/", "/wall", "/tablet", "/dispatch", "/admin", "/login", "/report", "/report.csv", "/lang/en", "/lang/xx",
         "/api/v1/incidents", "/api/v1/events", "/api/v1/units", "/_dash-layout", "/_dash-dependencies",
         "/_dash-update-component", "/favicon.ico", "/assets/../../etc/passwd"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "FOO"]


@pytest.mark.parametrize("who", ["anonymous", "signed in"])
def test_odd_methods_headers_and_parameters_never_answer_5xx(app: Any, who: str) -> None:
    client, headers = signed_in(app, "admin") if who == "signed in" else (app.test_client(), {})
    for path in PAGES:
        for method in METHODS:
            assert client.open(path, method=method, headers=headers).status_code < 500, (method, path)
    odd = [
        ("GET", "/wall", {"Cookie": "session=" + "A" * 100_000}),
        ("GET", "/api/v1/incidents", {"Authorization": "Bearer " + "A" * 100_000}),
        ("GET", "/api/v1/incidents", {"Authorization": "Bearer ü"}),
        ("POST", "/api/v1/incidents", {**headers, "Idempotency-Key": "ü" * 10_000}),
        ("POST", "/api/v1/events", {"Authorization": "Bearer ü"}),
        ("POST", "/api/v1/events", {**INGEST, "Content-Type": "application/json; charset=utf-99"}),
        ("GET", "/wall", {"Accept-Language": "x" * 10_000, "X-CSRFToken": "ü" * 1000}),
    ]
    for method, path, extra in odd:
        assert client.open(path, method=method, headers=extra, data=b"{}").status_code < 500, (path, extra)
    for target in ["/lang/en?next=//evil.com", "/lang/zh?next=/" + "a" * 10_000, "/lang/en?next=/%ff",
                   "/lang/en?next=%E2%80%AE", "/login?next=/\u3000", "/report?day=" + "9" * 5000,
                   "/report.csv?table=" + "x" * 5000, "/report?lang=xx&day=2026-02-30"]:
        resp = client.get(target)
        assert resp.status_code < 500, target
        assert not resp.headers.get("Location", "/").startswith(("//", "http")), target


def test_a_report_day_before_the_first_covered_day_is_refused_with_the_reason(app: Any) -> None:
    client, _ = signed_in(app, "leader")
    for day in ["0001-01-01", "0001-01-02", "1990-12-31"]:
        page = client.get(f"/report?day={day}")
        assert page.status_code == 400 and "1991-01-01" in page.get_data(as_text=True)
        csv = client.get(f"/report.csv?day={day}")
        assert (csv.status_code, csv.get_json()["code"]) == (400, "too_early")
    assert client.get("/report.csv?day=1991-01-01").status_code == 200


BAD_CALLBACKS = [
    {}, [], "x", 1, None, {"output": 1}, {"output": "no-such.children"}, {"output": "page.children", "inputs": 1},
    {"output": "page.children", "outputs": {"id": "page", "property": "children"}, "inputs": [{"id": 1}]},
    {"output": "page.children", "outputs": {"id": "page", "property": "children"}, "inputs": [], "changedPropIds": []},
    {"output": "page.children", "outputs": [], "inputs": [{"id": "viewport", "property": "data", "value": None}],
     "changedPropIds": []},
    {"output": "page.children", "outputs": {"id": "page", "property": "children"},
     "inputs": [{"id": "viewport", "property": "data", "value": None}], "changedPropIds": 7},
]


def test_a_callback_request_dash_itself_would_fail_on_answers_400(app: Any) -> None:
    client, headers = signed_in(app, "duty")
    for body in BAD_CALLBACKS:
        resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                           headers=headers)
        assert (resp.status_code, resp.get_json()["code"]) == (400, "bad_callback_request"), body


def test_a_well_formed_callback_request_is_served(app: Any) -> None:
    client, headers = signed_in(app, "duty")
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "viewport", "property": "data", "value": {"path": "/wall", "width": 1920}}],
            "changedPropIds": ["viewport.data"]}
    assert client.post("/_dash-update-component", json=body, headers=headers).status_code in (200, 204)


def test_nothing_was_stored_by_refused_requests(app: Any, client: Any) -> None:
    client.post("/api/v1/events", data=b"[" * 100 + b"]" * 100, content_type="application/json", headers=INGEST)
    with app.app_context(), db_sessions()() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0
