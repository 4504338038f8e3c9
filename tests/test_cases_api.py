"""Deciding on links (issue 5, item 1 热线+网格): confirm or split through the service and the REST API, with the
roles checked on the server (dispatch and admin may; duty and leader are refused 403 and audited), idempotency
keys, refusals in both languages, decisions that survive a new app and engine (and a split ticket the job never
links again), and the OpenAPI description of every route."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.services import cases as case_service
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import make_engine, session_factory, session_scope
from dashboard.store.models import AuditLog, CaseDecision, CaseLink, HotlineTicket, User
from dashboard.web.api import cases as api_cases
from dashboard.web.api import openapi
from dashboard.web.extensions import db_sessions
from tests.helpers import csrf_headers, login
from tests.openapi_check import answers_match_the_document, openapi_path  # noqa: F401  (autouse: every answer as documented)
from tests.test_linking import sensor_point as point
from tests.test_linking import sensors_aggregate, store_tickets, ticket_event
from workers.linking import run_linking

DISPATCH = Actor(None, "dispatch", "dispatch")


class Caller:
    """A signed-in user (session + CSRF header) or an API token holder."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def decide(self, case_id: int, link_id: int, body: Any, key: str | None = "auto") -> Any:
        h = dict(self.headers)
        if key is not None:
            h["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
        return self.client.post(f"/api/v1/cases/{case_id}/links/{link_id}", data=json.dumps(body),
                                content_type="application/json", headers=h)


def caller(app: Any, username: str, via: str = "session") -> Caller:
    client = app.test_client()
    if via == "session":
        assert login(client, username).status_code == 302
        return Caller(client, csrf_headers(client))
    with app.app_context(), db_sessions().begin() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        token = store.users.create_api_token(s, user, "tests")[1]
    return Caller(client, {"Authorization": f"Bearer {token}"})


def make_case(r: Any, sessions: sessionmaker[Session], now: float) -> tuple[int, dict[str, int], dict[str, int]]:
    """Three noise tickets by a loud sensor (one case) and a lone market ticket: (case id, link ids, ticket ids)."""
    sensors_aggregate(r, now, [point("pole-9:noise", "noise", 92, "alarm", now - 900, now - 2)])
    ids = store_tickets(sessions, [ticket_event(f"N{i}", "noise", 40 * i, 0, now - 300 + 60 * i) for i in range(3)]
                        + [ticket_event("M1", "market", 0, 0, now - 100)])
    assert run_linking(r, sessions, now)["links"] == 3
    with sessions() as s:
        links = {t: ln for ln, t in s.execute(
            select(CaseLink, HotlineTicket.ticket_id).join(HotlineTicket, HotlineTicket.id == CaseLink.ticket_id))}
    case_ids = {ln.case_id for ln in links.values()}
    assert len(case_ids) == 1
    return case_ids.pop(), {t: ln.id for t, ln in links.items()}, ids


@pytest.fixture
def linked(app: Any) -> tuple[int, dict[str, int], dict[str, int]]:
    """make_case in the app's Redis and database."""
    with app.app_context():
        return make_case(app.extensions["dc_redis"], db_sessions(), time.time())


def audits(app: Any, **where: Any) -> list[AuditLog]:
    with app.app_context(), db_sessions()() as s:
        q = select(AuditLog).where(*(getattr(AuditLog, k) == v for k, v in where.items())).order_by(AuditLog.id)
        return list(s.scalars(q))


# --- reading ------------------------------------------------------------------------------------------------


def test_open_cases_are_listed_with_tickets_links_reasons_and_explanation(app: Any, linked: Any) -> None:
    case_id, links, _ = linked
    assert app.test_client().get("/api/v1/cases").status_code == 401
    duty = caller(app, "duty")
    body = duty.get("/api/v1/cases").get_json()
    assert body["count"] == 1
    case = body["cases"][0]
    assert case["id"] == case_id and case["ticket_count"] == 3 and case["open"] is True
    assert case["sensor_id"] == "pole-9:noise" and case["category"] == "noise"
    assert [t["ticket_id"] for t in case["tickets"]] == ["N0", "N1", "N2"]
    assert {ln["id"] for ln in case["links"]} == set(links.values())
    reason = case["links"][0]["reason"]
    assert reason["rule"] == "sensor" and reason["target_id"] == "pole-9:noise" and "distance_m" in reason
    assert "噪声传感器 pole-9:noise" in case["links"][0]["reason_zh"]
    assert "Noise sensor pole-9:noise" in case["links"][0]["reason_en"]
    assert case["explanation"]["zh"].startswith("3 张工单，均在噪声传感器 pole-9:noise 附近")
    assert case["explanation"]["en"].startswith("3 tickets, all near Noise sensor pole-9:noise")
    detail = duty.get(f"/api/v1/cases/{case_id}").get_json()
    assert detail["decisions"] == [] and detail["ticket_count"] == 3
    assert duty.get("/api/v1/cases/999999").status_code == 404
    assert duty.get("/api/v1/cases?limit=0").status_code == 422
    assert duty.get("/api/v1/cases?state=open").status_code == 422


# --- deciding -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["session", "token"])
def test_a_dispatcher_confirms_and_splits_links_once_per_key(app: Any, linked: Any, via: str) -> None:
    case_id, links, _ = linked
    dispatch = caller(app, "dispatch", via)
    first = dispatch.decide(case_id, links["N1"], {"decision": "confirm", "note": "同一工地"}, key="k-1")
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["replayed"] is False and body["link"]["decision"] == "confirmed"
    assert body["link"]["decided_by"] == "dispatch"
    again = dispatch.decide(case_id, links["N1"], {"decision": "confirm", "note": "同一工地"}, key="k-1")
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["decision_id"] == body["decision_id"]
    # The same decision under a new key: already so (409, audited).
    assert dispatch.decide(case_id, links["N1"], {"decision": "confirm"}).status_code == 409
    # The key names one decision: another with it is refused.
    assert dispatch.decide(case_id, links["N2"], {"decision": "split"}, key="k-1").status_code == 422
    split = dispatch.decide(case_id, links["N2"], {"decision": "split"})
    assert split.status_code == 200
    case = split.get_json()["case"]
    assert case["ticket_count"] == 2
    assert [d["decision"] for d in case["decisions"]] == ["confirm", "split"]
    with app.app_context(), db_sessions()() as s:
        assert s.scalar(select(func.count()).select_from(CaseDecision)) == 2
    done = [a for a in audits(app, target_type="case", outcome="ok") if a.action != "cases_linked"]
    assert [a.action for a in done] == ["case_confirm", "case_split"]
    assert done[0].detail is not None and done[0].detail["note"] == "同一工地" and done[0].detail["role"] == "dispatch"


@pytest.mark.parametrize("role", ["duty", "leader"])
def test_other_roles_are_refused_403_and_audited(app: Any, linked: Any, role: str) -> None:
    case_id, links, _ = linked
    resp = caller(app, role).decide(case_id, links["N0"], {"decision": "split"})
    assert resp.status_code == 403 and resp.get_json()["code"] == "forbidden"
    refused = audits(app, target_type="case", outcome="refused")
    assert len(refused) == 1 and refused[0].action == "case_split" and refused[0].actor == role
    assert refused[0].target_id == str(case_id)
    with app.app_context(), db_sessions()() as s:
        assert s.get(CaseLink, links["N0"]).decision == "auto"  # type: ignore[union-attr]


def test_bad_requests_are_answered_before_anything_changes(app: Any, linked: Any) -> None:
    case_id, links, _ = linked
    admin = caller(app, "admin")
    assert admin.decide(case_id, links["N0"], {"decision": "split"}, key=None).status_code == 400
    assert admin.decide(case_id, links["N0"], {"decision": "merge"}).status_code == 422
    assert admin.decide(case_id, links["N0"], {"decision": "split", "why": "x"}).status_code == 422
    assert admin.decide(case_id, 999999, {"decision": "split"}).get_json()["code"] == "link_not_found"
    assert admin.decide(999999, links["N0"], {"decision": "split"}).get_json()["code"] == "case_not_found"
    # A session POST without the CSRF header is refused by the app.
    client = app.test_client()
    login(client, "dispatch")
    resp = client.post(f"/api/v1/cases/{case_id}/links/{links['N0']}", data=json.dumps({"decision": "split"}),
                       content_type="application/json", headers={"Idempotency-Key": "x"})
    assert resp.status_code == 403
    with app.app_context(), db_sessions()() as s:
        assert {ln.decision for ln in s.scalars(select(CaseLink))} == {"auto"}


def test_refusals_read_in_both_languages() -> None:
    forbidden = Refused(403, "forbidden", "no", params={"role": "duty", "action": "case_split"})
    assert case_service.case_refusal_text(forbidden, "zh") == "值班员无权拆分"
    assert case_service.case_refusal_text(forbidden, "en") == "The Duty officer role may not use “Split”"
    same = Refused(409, "same_decision", "x", params={"decision": "confirmed"})
    assert case_service.case_refusal_text(same, "zh") == "该关联已是「已确认」"
    assert case_service.case_refusal_text(same, "en") == "The link is already “Confirmed”"
    # Codes shared with the incident service read as it says them (dashboard.i18n.refusals).
    key = Refused(422, "idempotency_key_reused", "reused")
    assert case_service.case_refusal_text(key, "zh") == "该请求标识已用于另一项操作，请使用新的标识"


# --- the service directly, and a restart ---------------------------------------------------------------------


def test_confirmed_and_split_links_survive_a_new_engine_and_the_job_never_relinks_a_split_ticket(
    r: Any, sessions: sessionmaker[Session], db_url: str
) -> None:
    now = time.time()
    case_id, links, ids = make_case(r, sessions, now)
    with session_scope(sessions) as s:
        case_service.decide_link(s, case_id, links["N0"], "confirm", DISPATCH, "c-1")
    with session_scope(sessions) as s:
        case_service.decide_link(s, case_id, links["N1"], "split", DISPATCH, "s-1", note="另一处")
    with pytest.raises(Refused) as refused, session_scope(sessions) as s:
        case_service.decide_link(s, case_id, links["N2"], "split", Actor(None, "duty", "duty"), "d-1")
    assert refused.value.status == 403
    # A new engine and sessions, as after a restart of every process.
    engine = make_engine(db_url)
    fresh = session_factory(engine)
    try:
        with fresh() as s:
            case = case_service.get_case(s, case_id)
        assert {t["ticket_id"]: t["decision"] for t in case["tickets"]} == {"N0": "confirmed", "N1": "split",
                                                                            "N2": "auto"}
        assert [(d["decision"], d["note"]) for d in case["decisions"]] == [("confirm", None), ("split", "另一处")]
        # New tickets right by the split one, while the sensor still alarms: they join, the split one stays out.
        sensors_aggregate(r, now + 20, [point("pole-9:noise", "noise", 92, "alarm", now - 900, now + 18)])
        more = store_tickets(fresh, [ticket_event("N3", "noise", 40, 0, now + 10)])
        assert run_linking(r, fresh, now + 20)["links"] == 1
        with fresh() as s:
            rows = {int(t): (int(cid), d) for t, cid, d in s.execute(
                select(CaseLink.ticket_id, CaseLink.case_id, CaseLink.decision))}
        assert rows[ids["N1"]] == (case_id, "split") and rows[more["N3"]] == (case_id, "auto")
        # The same key again replays, on the new engine too.
        with session_scope(fresh) as s:
            replay = case_service.decide_link(s, case_id, links["N1"], "split", DISPATCH, "s-1", note="另一处")
        assert replay.replayed is True
    finally:
        engine.dispose()


def test_a_new_app_shows_the_decisions(app: Any, linked: Any, config: Any) -> None:
    from dashboard.web import create_app

    case_id, links, _ = linked
    dispatch = caller(app, "dispatch")
    assert dispatch.decide(case_id, links["N0"], {"decision": "split"}).status_code == 200
    assert dispatch.decide(case_id, links["N2"], {"decision": "confirm"}).status_code == 200
    other = create_app(config)
    try:
        body = caller(other, "leader").get(f"/api/v1/cases/{case_id}").get_json()
        assert {t["ticket_id"]: t["decision"] for t in body["tickets"]} == {"N0": "split", "N1": "auto",
                                                                            "N2": "confirmed"}
    finally:
        with other.app_context():
            db_sessions().kw["bind"].dispose()
        other.extensions["dc_redis"].close()


# --- the OpenAPI document ------------------------------------------------------------------------------------


def test_every_route_of_the_cases_api_is_documented() -> None:
    app = Flask(__name__)
    app.register_blueprint(api_cases.bp)
    documented = openapi.document()["paths"]
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("api_cases.")]
    assert len(routes) == 3
    for rule in routes:
        path = openapi_path(rule.rule)
        assert path in documented, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            assert method.lower() in documented[path], (method, path)
