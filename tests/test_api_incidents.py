"""The REST API of incidents and units: every endpoint, the roles of every action, idempotency, validation,
failures, and the OpenAPI document, through the session (with the CSRF header) and through API tokens."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from dashboard import store
from dashboard.domain import geo, lifecycle
from dashboard.services import incident_reads
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, DispatchAction, Unit, User
from dashboard.web.api import incidents as api_incidents
from dashboard.web.api import openapi
from dashboard.web.extensions import db_sessions
from tests.helpers import csrf_headers, login
from tests.openapi_check import answers_match_the_document, openapi_path  # noqa: F401  (autouse: every answer as documented)

ADMIN = Actor(None, "admin-setup", "admin")
SYSTEM = Actor(None, "system", "system")
DONGSI = (116.4170, 39.9240)
# Who may take which action, from the brief (written out, not read from dashboard.domain.lifecycle).
ROLE_SPEC = {
    "duty": {"acknowledge", "whistle", "acknowledge_summons"},
    "leader": {"escalate", "change_severity"},
    "dispatch": {"acknowledge", "dispatch", "arrive", "resolve", "close", "cancel", "reopen", "change_severity",
                 "whistle", "acknowledge_summons", "escalate"},
    "admin": set(lifecycle.ACTIONS),
}
VIAS = ("session", "token")


# --- set-up ---------------------------------------------------------------------------------------


@dataclass
class Caller:
    """A user of the API, through a logged-in session (sending the CSRF header) or an API token."""

    client: Any
    headers: dict[str, str]
    username: str
    via: str
    sent: list[Any] = field(default_factory=list)

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body: Any, key: str | None = None, headers: dict[str, str] | None = None) -> Any:
        h = dict(self.headers)
        if key is not None:
            h["Idempotency-Key"] = key
        h.update(headers or {})
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", headers=h)

    def act(self, incident_id: int, body: dict[str, Any], key: str | None = None) -> Any:
        return self.post(f"/api/v1/incidents/{incident_id}/actions", body, key or uuid.uuid4().hex)


@pytest.fixture
def caller(app: Any) -> Callable[..., Caller]:
    """caller(username, via) → a Caller logged in (session) or holding a new API token (token)."""

    def make(username: str, via: str = "session") -> Caller:
        client = app.test_client()
        if via == "session":
            assert login(client, username).status_code == 302
            return Caller(client, csrf_headers(client), username, via)
        with app.app_context(), db_sessions().begin() as s:
            user = s.scalars(select(User).where(User.username == username)).one()
            token = store.users.create_api_token(s, user, "tests")[1]
        return Caller(client, {"Authorization": f"Bearer {token}"}, username, via)

    return make


@pytest.fixture
def units(app: Any) -> list[int]:
    """Four units near Dongsi: three fire engines (one off duty) and an ambulance; their ids."""
    rows = [("F1", "fire", "available", 0.004), ("F2", "fire", "available", 0.010),
            ("F3", "fire", "off_duty", 0.001), ("A1", "ambulance", "available", 0.002)]
    with app.app_context(), db_sessions().begin() as s:
        for code, kind, status, d in rows:
            lon, lat = DONGSI[0] + d, DONGSI[1]
            s.add(Unit(code=code, name=code, kind=kind, status=status, home_lon=lon, home_lat=lat, lon=lon, lat=lat,
                       subdistrict=geo.subdistrict_of(lon, lat) or ""))
        s.flush()
        return [u.id for u in s.scalars(select(Unit).order_by(Unit.code))]


def service(app: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a service function in a transaction of its own."""
    with app.app_context(), session_scope(db_sessions()) as s:
        return fn(s, *args)


def new_incident(app: Any, severity: int = 2, category: str = "fire", lon: float = DONGSI[0],
                 lat: float = DONGSI[1]) -> int:
    fields = {"category": category, "severity": severity, "title": "东四 火情", "lon": lon, "lat": lat}
    return int(service(app, svc.create_incident, fields, SYSTEM, uuid.uuid4().hex).incident["id"])


def setup_action(app: Any, incident_id: int, action: str, **params: Any) -> None:
    """Take an action as an administrator, directly through the service (test set-up)."""
    service(app, svc.perform_action, incident_id, svc.ActionRequest(action, **params), ADMIN, uuid.uuid4().hex)


def free_unit(app: Any) -> int:
    return next(u["id"] for u in service(app, incident_reads.list_units)
                if u["kind"] == "fire" and u["status"] == "available" and u["incident_id"] is None)


def prepare(app: Any, action: str) -> tuple[int, dict[str, Any]]:
    """A new incident in a state where `action` is legal, and the body of that action."""
    inc = new_incident(app)
    body: dict[str, Any] = {"action": action}
    if action == "dispatch":
        body["unit_id"] = free_unit(app)
    elif action == "arrive":
        unit = free_unit(app)
        setup_action(app, inc, "dispatch", unit_id=unit)
        body["unit_id"] = unit
    elif action == "resolve":
        setup_action(app, inc, "acknowledge")
    elif action in ("close", "reopen"):
        setup_action(app, inc, "acknowledge")
        setup_action(app, inc, "resolve")
        if action == "reopen":
            body["reason"] = "the fire flared up again"
    elif action == "change_severity":
        body.update(severity=1, reason="spreading to the next courtyard")
    elif action == "whistle":
        body["departments"] = ["police", "fire"]
    elif action == "acknowledge_summons":
        setup_action(app, inc, "whistle", departments=["police"])
        body["department"] = "police"
    return inc, body


def snapshot(app: Any, incident_id: int) -> dict[str, Any]:
    """What an action may change: the incident (without its timeline), the units, and the action rows."""
    detail = service(app, incident_reads.get_incident, incident_id)
    detail.pop("timeline")
    with app.app_context(), db_sessions()() as s:
        actions = s.scalar(select(func.count()).select_from(DispatchAction))
    return {"incident": detail, "units": service(app, incident_reads.list_units), "actions": actions}


def refusals(app: Any, username: str, action: str, incident_id: int) -> int:
    with app.app_context(), db_sessions()() as s:
        return int(s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.actor == username, AuditLog.action == action, AuditLog.outcome == "refused",
            AuditLog.target_id == str(incident_id))) or 0)


# --- roles: every action, every role, both ways in ------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("role", sorted(ROLE_SPEC))
def test_every_action_is_done_or_refused_by_role_with_an_audit_entry(
    app: Any, units: list[int], caller: Callable[..., Caller], role: str, via: str
) -> None:
    user = caller(role, via)  # the demo users are named after their roles
    for action in lifecycle.ACTIONS:
        inc, body = prepare(app, action)
        before = snapshot(app, inc)
        resp = user.act(inc, body)
        if action in ROLE_SPEC[role]:
            assert resp.status_code == 200, (action, resp.get_json())
            out = resp.get_json()
            assert out["replayed"] is False and isinstance(out["action_id"], int)
            assert out["incident"]["state"] == lifecycle.transition(before["incident"]["state"], action)
            assert out["incident"]["timeline"][-1]["action"] == action
            assert out["incident"]["timeline"][-1]["actor"] == role
        else:
            assert resp.status_code == 403, (action, resp.get_json())
            assert resp.get_json()["code"] == "forbidden"
            assert snapshot(app, inc) == before, f"a refused {action} changed something"
            assert refusals(app, role, action, inc) == 1, f"a refused {action} was not audited"


def test_the_detail_lists_the_actions_the_callers_role_may_take_now(
    app: Any, caller: Callable[..., Caller]
) -> None:
    inc = new_incident(app)
    for role in ROLE_SPEC:
        out = caller(role, "token").get(f"/api/v1/incidents/{inc}").get_json()
        assert set(out["allowed_actions"]) == {a for a in ROLE_SPEC[role] if lifecycle.is_legal("new", a)}
    # Escalating is offered until it is done; then a second one is refused (409), not only left out.
    leader = caller("leader", "token")
    escalated = leader.act(inc, {"action": "escalate"}).get_json()["incident"]
    assert "escalate" not in escalated["allowed_actions"] and "change_severity" in escalated["allowed_actions"]
    assert "escalate" not in leader.get(f"/api/v1/incidents/{inc}").get_json()["allowed_actions"]
    again = leader.act(inc, {"action": "escalate"})
    assert again.status_code == 409 and again.get_json()["code"] == "already_escalated", again.get_json()


# --- the endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
def test_a_dispatcher_runs_an_incident_from_report_to_close(
    app: Any, units: list[int], caller: Callable[..., Caller], via: str
) -> None:
    user = caller("dispatch", via)
    resp = user.post("/api/v1/incidents", {"category": "fire", "severity": 2, "title": "东四北大街 火情",
                                           "lon": DONGSI[0], "lat": DONGSI[1]}, key="create-1")
    assert resp.status_code == 201, resp.get_json()
    inc = resp.get_json()["incident"]
    assert resp.headers["Location"] == f"/api/v1/incidents/{inc['id']}"
    assert inc["state"] == "new" and "acknowledge" in inc["allowed_actions"]

    suggestions = user.get(f"/api/v1/incidents/{inc['id']}/suggestions?limit=2").get_json()["suggestions"]
    # The free suitable units, the best-suited kind first and nearest first within it: the fire engines F1 and F2
    # (F3, nearer, is off duty), before the ambulance A1 though it is nearer than both.
    assert [s["code"] for s in suggestions] == ["F1", "F2"]
    assert suggestions[0]["distance_km"] < suggestions[1]["distance_km"]
    everyone = user.get(f"/api/v1/incidents/{inc['id']}/suggestions").get_json()["suggestions"]
    assert [s["code"] for s in everyone] == ["F1", "F2", "A1"]
    unit = suggestions[0]["id"]

    steps: list[tuple[dict[str, Any], str]] = [
        ({"action": "acknowledge", "note": "on it"}, "acknowledged"),
        ({"action": "whistle", "departments": ["police", "urban_mgmt"]}, "acknowledged"),
        ({"action": "dispatch", "unit_id": unit}, "dispatched"),
        ({"action": "arrive", "unit_id": unit}, "on_scene"),
        ({"action": "acknowledge_summons", "department": "police"}, "on_scene"),
        ({"action": "change_severity", "severity": 3, "reason": "contained"}, "on_scene"),
        ({"action": "resolve"}, "resolved"),
        ({"action": "close"}, "closed"),
    ]
    for body, state in steps:
        resp = user.act(inc["id"], body)
        assert resp.status_code == 200, (body, resp.get_json())
        assert resp.get_json()["incident"]["state"] == state

    detail = user.get(f"/api/v1/incidents/{inc['id']}").get_json()
    assert detail["state"] == "closed" and detail["severity"] == 3
    assert detail["allowed_actions"] == ["reopen"]
    assert [s["department"] for s in detail["summons"]] == ["police", "urban_mgmt"]
    assert [e["action"] for e in detail["timeline"] if e["outcome"] == "ok"] == [
        "create", *(body["action"] for body, _ in steps)]
    assert detail["created_at"].endswith("+00:00")  # ISO 8601, UTC
    listed = user.get("/api/v1/units").get_json()
    assert listed["count"] == 4
    assert next(u for u in listed["units"] if u["id"] == unit)["status"] == "returning"


def test_the_list_is_filtered_by_state_severity_and_subdistrict(app: Any, caller: Callable[..., Caller]) -> None:
    user = caller("duty", "token")
    a = new_incident(app, severity=1)
    b = new_incident(app, severity=3)
    c = new_incident(app, severity=4, lon=116.4170, lat=39.9580)  # Hepingli, in another subdistrict
    setup_action(app, b, "acknowledge")

    def ids(query: str) -> list[int]:
        resp = user.get(f"/api/v1/incidents{query}")
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["count"] == len(body["incidents"])
        return [i["id"] for i in body["incidents"]]

    assert ids("") == [a, b, c]  # most severe first
    assert ids("?state=new") == [a, c]
    assert ids("?state=new,acknowledged") == ids("?state=new&state=acknowledged") == [a, b, c]
    assert ids("?severity=1&severity=4") == ids("?severity=1,4") == [a, c]
    dongsi = geo.subdistrict_of(*DONGSI)
    assert dongsi is not None
    name = geo.subdistrict_by_code()[dongsi].name_zh
    assert ids(f"?subdistrict={dongsi}") == ids(f"?subdistrict={name}") == [a, b]
    assert ids("?limit=1") == [a]


@pytest.mark.parametrize("query", [
    "?state=burning", "?state=new,", "?severity=5", "?severity=II", "?severity=0", "?limit=0", "?limit=501",
    "?limit=ten", "?subdistrict=Atlantis", "?sort=severity",
])
def test_a_bad_filter_is_refused_with_a_reason(app: Any, caller: Callable[..., Caller], query: str) -> None:
    resp = caller("duty", "token").get(f"/api/v1/incidents{query}")
    if query == "?state=new,":  # an empty item of a comma list is ignored
        assert resp.status_code == 200
        return
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "invalid_parameter" and body["error"]


def test_unknown_incidents_and_paths_are_json_404s(app: Any, caller: Callable[..., Caller]) -> None:
    user = caller("dispatch", "token")
    for path in ("/api/v1/incidents/999", "/api/v1/incidents/999/suggestions", "/api/v1/incidents/abc",
                 "/api/v1/nothing/here"):
        resp = user.get(path)
        assert resp.status_code == 404, path
        assert resp.get_json()["error"], path
    resp = user.act(999, {"action": "acknowledge"})
    assert resp.status_code == 404 and resp.get_json()["code"] == "incident_not_found"
    resp = user.client.put("/api/v1/incidents", headers=user.headers)
    assert resp.status_code == 405 and "error" in resp.get_json()


def test_suggestions_validate_their_limit(app: Any, units: list[int], caller: Callable[..., Caller]) -> None:
    user = caller("dispatch", "token")
    inc = new_incident(app)
    assert len(user.get(f"/api/v1/incidents/{inc}/suggestions").get_json()["suggestions"]) == 3  # not F3
    for query in ("?limit=0", "?limit=x", "?limit=21", "?near=1"):
        assert user.get(f"/api/v1/incidents/{inc}/suggestions{query}").status_code == 422, query


def test_a_wrong_incident_field_is_refused_with_field_level_reasons(app: Any, caller: Callable[..., Caller]) -> None:
    user = caller("dispatch", "token")
    resp = user.post("/api/v1/incidents", {"category": "fire", "severity": 9, "title": "x", "lon": 0, "lat": 0},
                     key="k1")
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "invalid_incident" and {"severity", "lon"} <= set(body["errors"])
    resp = user.post("/api/v1/incidents", {"category": "fire", "severity": 2, "title": "x", "lon": DONGSI[0],
                                           "lat": DONGSI[1], "colour": "red"}, key="k2")
    assert resp.status_code == 422 and "colour" in resp.get_json()["errors"]
    assert caller("leader", "token").post("/api/v1/incidents", {"category": "fire"}, key="k3").status_code == 403


def test_an_illegal_transition_is_a_409_with_the_reason(app: Any, caller: Callable[..., Caller]) -> None:
    inc = new_incident(app)
    resp = caller("dispatch", "token").act(inc, {"action": "close"})
    assert resp.status_code == 409
    assert resp.get_json() == {"error": "cannot close a new incident: resolve it first", "code": "illegal_transition"}


def test_a_stale_expected_version_is_refused(app: Any, caller: Callable[..., Caller]) -> None:
    user = caller("dispatch", "token")
    inc = new_incident(app)
    version = user.get(f"/api/v1/incidents/{inc}").get_json()["version"]
    setup_action(app, inc, "acknowledge")
    resp = user.act(inc, {"action": "whistle", "departments": ["police"], "expected_version": version})
    assert resp.status_code == 409 and resp.get_json()["code"] == "stale"


# --- idempotency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
def test_a_retried_action_with_the_same_key_is_replayed_not_repeated(
    app: Any, units: list[int], caller: Callable[..., Caller], via: str
) -> None:
    user = caller("dispatch", via)
    inc = new_incident(app)
    body = {"action": "dispatch", "unit_id": units[1]}
    first = user.act(inc, body, key="dbl-click-1")
    again = user.act(inc, body, key="dbl-click-1")
    assert first.status_code == again.status_code == 200
    assert first.get_json()["replayed"] is False and again.get_json()["replayed"] is True
    assert again.get_json()["action_id"] == first.get_json()["action_id"]
    with app.app_context(), db_sessions()() as s:
        assert s.scalar(select(func.count()).select_from(DispatchAction).where(
            DispatchAction.action == "dispatch")) == 1
    # The same key for another action is a client bug, not a replay.
    resp = user.act(inc, {"action": "resolve"}, key="dbl-click-1")
    assert resp.status_code == 422 and resp.get_json()["code"] == "idempotency_key_reused"


def test_a_created_incident_is_replayed_for_the_same_key(app: Any, caller: Callable[..., Caller]) -> None:
    user = caller("duty", "token")
    fields = {"category": "medical", "severity": 3, "title": "老人摔倒", "lon": DONGSI[0], "lat": DONGSI[1]}
    first = user.post("/api/v1/incidents", fields, key="call-0815")
    again = user.post("/api/v1/incidents", fields, key="call-0815")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["replayed"] is True
    assert again.get_json()["incident"]["id"] == first.get_json()["incident"]["id"]
    assert user.get("/api/v1/incidents").get_json()["count"] == 1


def test_idempotency_keys_are_scoped_to_the_user(app: Any, caller: Callable[..., Caller]) -> None:
    inc = new_incident(app)
    assert caller("duty", "token").act(inc, {"action": "acknowledge"}, key="k").status_code == 200
    # Another user's identical key is not a replay of the duty officer's action: it is a new, illegal one.
    resp = caller("dispatch", "token").act(inc, {"action": "acknowledge"}, key="k")
    assert resp.status_code == 409 and resp.get_json()["code"] == "illegal_transition"


@pytest.mark.parametrize("key", [None, "", "   ", "has space", "x" * 101, "ключ"])
def test_an_action_without_a_valid_idempotency_key_is_refused(
    app: Any, caller: Callable[..., Caller], key: str | None
) -> None:
    user = caller("dispatch", "token")
    inc = new_incident(app)
    before = snapshot(app, inc)
    headers = {} if key is None else {"Idempotency-Key": key}
    resp = user.client.post(f"/api/v1/incidents/{inc}/actions", data=json.dumps({"action": "acknowledge"}),
                            content_type="application/json", headers={**user.headers, **headers})
    assert resp.status_code == 400
    assert resp.get_json()["code"] in ("idempotency_key_required", "idempotency_key_invalid")
    assert "Idempotency-Key" in resp.get_json()["error"]
    assert user.post("/api/v1/incidents", {"category": "fire"}, headers=headers).status_code == 400
    assert snapshot(app, inc) == before


# --- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "content_type", "status"), [
    ("{not json", "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ('"acknowledge"', "application/json", 400),
    ('{"action": NaN}', "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    ("action=acknowledge", "application/x-www-form-urlencoded", 415),
    ('{"action": "acknowledge"}', "text/plain", 415),
    ('{"action": "acknowledge", "unit": 1}', "application/json", 422),
    ('{"action": null}', "application/json", 422),
    ("{}", "application/json", 422),
    ('{"action": 3}', "application/json", 422),
    ('{"action": "dispatch", "unit_id": true}', "application/json", 422),
    ('{"action": "dispatch", "unit_id": "7"}', "application/json", 422),
    ('{"action": "whistle", "departments": "police"}', "application/json", 422),
    ('{"action": "whistle", "departments": [1]}', "application/json", 422),
    ('{"action": "levitate"}', "application/json", 422),
])
def test_a_malformed_action_is_a_clear_4xx_never_a_500(
    app: Any, caller: Callable[..., Caller], data: Any, content_type: str, status: int
) -> None:
    user = caller("dispatch", "token")
    inc = new_incident(app)
    resp = user.client.post(f"/api/v1/incidents/{inc}/actions", data=data, content_type=content_type,
                            headers={**user.headers, "Idempotency-Key": "k"})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["error"]


# --- authentication and failures --------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/incidents"), ("POST", "/api/v1/incidents"), ("GET", "/api/v1/incidents/1"),
    ("POST", "/api/v1/incidents/1/actions"), ("GET", "/api/v1/incidents/1/suggestions"), ("GET", "/api/v1/units"),
])
def test_an_anonymous_caller_gets_401(client: Any, method: str, path: str) -> None:
    resp = client.open(path, method=method, json={"action": "acknowledge"} if method == "POST" else None,
                       headers={"Idempotency-Key": "k"})
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "authentication required"


def test_a_revoked_token_gets_401_and_changes_nothing(app: Any, caller: Callable[..., Caller]) -> None:
    user = caller("dispatch", "token")
    inc = new_incident(app)
    with app.app_context(), db_sessions().begin() as s:
        assert store.users.revoke_api_token(s, store.users.list_api_tokens(s)[0].id, "admin")
    resp = user.act(inc, {"action": "acknowledge"})
    assert resp.status_code == 401
    assert service(app, incident_reads.get_incident, inc)["state"] == "new"


def test_a_database_failure_saves_nothing_and_says_retry(
    app: Any, caller: Callable[..., Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = caller("dispatch", "token")
    inc = new_incident(app)
    real = svc.perform_action

    def fails_before_commit(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the action is done in the transaction … then the database goes away
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(api_incidents, "perform_action", fails_before_commit)
    resp = user.act(inc, {"action": "acknowledge"}, key="retry-me")
    assert resp.status_code == 503
    assert resp.get_json()["error"] == "nothing was saved; retry"
    assert int(resp.headers["Retry-After"]) > 0
    assert service(app, incident_reads.get_incident, inc)["state"] == "new"
    with app.app_context(), db_sessions()() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "acknowledge")) == 0
    monkeypatch.setattr(api_incidents, "perform_action", real)
    retry = user.act(inc, {"action": "acknowledge"}, key="retry-me")
    assert retry.status_code == 200 and retry.get_json()["replayed"] is False


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, str | None, str]]]:
    """Calls of notify_change, each with the incident's state as committed when it was called."""
    calls: list[tuple[int, str | None, str]] = []

    def record(r: redis.Redis, incident_id: int, action: str | None = None) -> None:
        with session_scope(db_sessions()) as s:  # a new transaction: sees only what was committed
            calls.append((incident_id, action, incident_reads.get_incident(s, incident_id)["state"]))

    monkeypatch.setattr(api_incidents, "notify_change", record)
    yield calls


def test_open_screens_are_notified_after_the_commit_and_not_on_a_replay(
    app: Any, caller: Callable[..., Caller], notified: list[tuple[int, str | None, str]]
) -> None:
    user = caller("duty", "token")
    inc = new_incident(app)
    user.act(inc, {"action": "acknowledge"}, key="a")
    user.act(inc, {"action": "acknowledge"}, key="a")
    created = user.post("/api/v1/incidents", {"category": "fire", "severity": 4, "title": "烟", "lon": DONGSI[0],
                                              "lat": DONGSI[1]}, key="c").get_json()["incident"]["id"]
    assert notified == [(inc, "acknowledge", "acknowledged"), (created, "create", "new")]


def test_a_real_notification_reaches_the_incidents_channel(app: Any, caller: Callable[..., Caller]) -> None:
    from dashboard.live import keys

    r = app.extensions["dc_redis"]
    pubsub = r.pubsub()
    pubsub.subscribe(keys.incidents_channel(int(r.connection_pool.connection_kwargs.get("db", 0))))
    pubsub.get_message(timeout=1)  # the subscription confirmation
    inc = new_incident(app)
    caller("duty", "token").act(inc, {"action": "acknowledge"})
    msg = pubsub.get_message(timeout=2)
    pubsub.close()
    assert msg is not None and json.loads(msg["data"])["incident_id"] == inc


def test_a_redis_failure_after_the_commit_still_answers_200(
    app: Any, caller: Callable[..., Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("redis is down")

    monkeypatch.setattr(api_incidents, "notify_change", down)
    inc = new_incident(app)
    resp = caller("duty", "token").act(inc, {"action": "acknowledge"})
    assert resp.status_code == 200 and resp.get_json()["incident"]["state"] == "acknowledged"


def test_api_answers_are_not_cached(app: Any, caller: Callable[..., Caller]) -> None:
    assert caller("duty", "token").get("/api/v1/units").headers["Cache-Control"] == "no-store"


# --- the OpenAPI document -------------------------------------------------------------------------


def test_the_openapi_document_is_served_to_anyone(client: Any) -> None:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.get_json()["openapi"] == "3.1.0"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_the_openapi_document_is_well_formed() -> None:
    doc = openapi.document()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["info"]["version"]
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"sessionCookie", "csrfHeader", "apiToken", "ingestToken"}
    assert schemes["csrfHeader"]["name"] == "X-CSRFToken"
    for ref in set(_refs(doc)):  # every reference resolves
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["operationId"] and op["responses"], (path, method)
            assert "security" in op, (path, method)
            for requirement in op["security"]:
                assert set(requirement) <= set(schemes)
            names = {p.get("name") for p in op.get("parameters", []) if "name" in p}
            refs = {p["$ref"].rsplit("/", 1)[1] for p in op.get("parameters", []) if "$ref" in p}
            for placeholder in (seg[1:-1] for seg in path.split("/") if seg.startswith("{")):
                assert placeholder in names or (placeholder == "incident_id" and "IncidentId" in refs), path
    actions = doc["components"]["schemas"]["ActionRequest"]["properties"]["action"]["enum"]
    assert actions == list(lifecycle.ACTIONS)
    action_op = doc["paths"]["/api/v1/incidents/{incident_id}/actions"]["post"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in action_op["parameters"]
    assert doc["components"]["parameters"]["IdempotencyKey"]["required"] is True
    assert doc["paths"]["/api/v1/events"]["post"]["security"] == [{"ingestToken": []}]
    assert "/healthz" in doc["paths"]


def test_every_route_of_the_api_is_documented() -> None:
    app = Flask(__name__)
    app.register_blueprint(api_incidents.bp)
    documented = openapi.document()["paths"]
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("api_incidents.")]
    assert len(routes) == 7
    for rule in routes:
        path = openapi_path(rule.rule)
        assert path in documented, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            assert method.lower() in documented[path], (method, path)


@pytest.mark.skipif(shutil.which("openapi-spec-validator") is None, reason="openapi-spec-validator not installed")
def test_the_openapi_document_passes_the_openapi_spec_validator(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi.document()))
    done = subprocess.run(["openapi-spec-validator", "--schema", "3.1", str(spec)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
