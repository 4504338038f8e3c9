"""The incident service: every action, role, refusal, idempotency, atomicity, reading, suggestions and push."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import Engine, MetaData, Table, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import lifecycle as lc
from dashboard.domain import rules as c
from dashboard.domain.events import validate_event
from dashboard.live import keys, publish
from dashboard.services import incident_reads
from dashboard.services import incidents as svc
from dashboard.services.base import Actor, Refused
from dashboard.services.incidents import ActionRequest
from dashboard.store.engine import make_engine, session_factory, session_scope
from dashboard.store.models import AuditLog, Base, DispatchAction, Incident, Summons, Unit, User
from dashboard.store.schema import init_db
from tests.helpers import incident as incident_event
from tests.helpers import seed_users

SYSTEM = Actor(None, "simulator", "system")
DONGSI = (116.4170, 39.9240)
_codes = itertools.count(1)


# --- helpers ------------------------------------------------------------------------------------------


def actors(sessions: sessionmaker[Session]) -> dict[str, Actor]:
    """The four demo users (created when missing) as actors, by role."""
    with session_scope(sessions) as s:
        if not s.scalar(select(func.count()).select_from(User)):
            s.commit()
            seed_users(sessions)
    with sessions() as s:
        return {u.role: Actor(u.id, u.username, u.role) for u in s.scalars(select(User))}


def add_unit(sessions: sessionmaker[Session], kind: str = "fire", status: str = "available",
             at: tuple[float, float] = (116.4100, 39.9200), code: str | None = None) -> int:
    """A unit at `at`; its id."""
    with session_scope(sessions) as s:
        unit = Unit(code=code or f"T-{next(_codes):04d}", name=f"test {kind}", kind=kind, status=status,
                    home_lon=at[0], home_lat=at[1], lon=at[0], lat=at[1], subdistrict="110101001")
        s.add(unit)
        s.flush()
        return unit.id


def new_incident(sessions: sessionmaker[Session], severity: int = 3, category: str = "fire",
                 at: tuple[float, float] = DONGSI, actor: Actor = SYSTEM) -> int:
    """An incident created through the service; its id."""
    with session_scope(sessions) as s:
        res = svc.create_incident(s, {"category": category, "severity": severity, "title": "测试", "lon": at[0],
                                      "lat": at[1]}, actor, f"create-{uuid.uuid4().hex}")
    return int(res.incident["id"])


def act(sessions: sessionmaker[Session], incident_id: int, actor: Actor, action: str, key: str | None = None,
        **params: Any) -> svc.ActionResult:
    """One action in a transaction of its own (committed on success)."""
    with session_scope(sessions) as s:
        return svc.perform_action(s, incident_id, ActionRequest(action, **params), actor, key or uuid.uuid4().hex)


def refused(sessions: sessionmaker[Session], incident_id: int, actor: Actor, action: str, **params: Any
            ) -> Refused:
    """The refusal of an action (fails the test when it is not refused)."""
    with pytest.raises(Refused) as exc:
        act(sessions, incident_id, actor, action, **params)
    return exc.value


def snapshot(sessions: sessionmaker[Session], incident_id: int) -> dict[str, Any]:
    """Everything an action may change: the incident, all units, its summons and its actions."""
    with sessions() as s:
        inc = incident_reads.get_incident(s, incident_id)
        inc.pop("timeline")
        inc.pop("overdue")
        return {
            "incident": inc,
            "units": incident_reads.list_units(s),
            "actions": s.scalar(select(func.count()).select_from(DispatchAction)),
            "ok_audits": s.scalar(select(func.count()).where(AuditLog.outcome == "ok")),
        }


def audits(sessions: sessionmaker[Session], incident_id: int | None = None, outcome: str | None = None
           ) -> list[AuditLog]:
    """Audit entries (on one incident, with one outcome), oldest first."""
    with sessions() as s:
        q = select(AuditLog).order_by(AuditLog.id)
        if incident_id is not None:
            q = q.where(AuditLog.target_type == "incident", AuditLog.target_id == str(incident_id))
        if outcome is not None:
            q = q.where(AuditLog.outcome == outcome)
        return list(s.scalars(q))


def count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture(scope="module")
def sq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """One SQLite database for the many fast tests of this module (each makes its own incidents and units)."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('svc') / 'svc.db'}")
    init_db(eng)
    sessions = session_factory(eng)
    seed_users(sessions)
    yield sessions
    eng.dispose()


# --- roles --------------------------------------------------------------------------------------------

# How to bring a fresh incident to a state in which each action is legal, and the action's parameters.
SETUP: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "acknowledge": [],
    "dispatch": [],
    "arrive": [("dispatch", {"unit_id": "U"})],
    "resolve": [("dispatch", {"unit_id": "U"}), ("arrive", {"unit_id": "U"})],
    "close": [("acknowledge", {}), ("resolve", {})],
    "cancel": [("acknowledge", {})],
    "reopen": [("acknowledge", {}), ("resolve", {}), ("close", {})],
    "change_severity": [],
    "whistle": [],
    "acknowledge_summons": [("whistle", {"departments": ["police"]})],
    "escalate": [],
}
PARAMS: dict[str, dict[str, Any]] = {
    "dispatch": {"unit_id": "U"},
    "arrive": {"unit_id": "U"},
    "reopen": {"reason": "fire flared up again"},
    "change_severity": {"severity": 1, "reason": "spreading to the next building"},
    "whistle": {"departments": ["police", "fire"]},
    "acknowledge_summons": {"department": "police"},
}


def prepared(sessions: sessionmaker[Session], action: str) -> tuple[int, ActionRequest]:
    """A fresh incident in which `action` is legal, and the request for it."""
    admin = actors(sessions)["admin"]
    iid = new_incident(sessions)
    unit = add_unit(sessions)

    def fill(params: dict[str, Any]) -> dict[str, Any]:
        return {k: unit if v == "U" else v for k, v in params.items()}

    for step, params in SETUP[action]:
        act(sessions, iid, admin, step, **fill(params))
    return iid, ActionRequest(action, **fill(PARAMS.get(action, {})))


@pytest.mark.parametrize("role", [*c.ROLES, "system"])
@pytest.mark.parametrize("action", lc.ACTIONS)
def test_every_action_is_taken_only_by_the_roles_allowed_to(
    sq: sessionmaker[Session], role: str, action: str
) -> None:
    iid, req = prepared(sq, action)
    actor = actors(sq).get(role) or SYSTEM
    before = snapshot(sq, iid)
    if lc.may(role, action):
        with session_scope(sq) as s:
            result = svc.perform_action(s, iid, req, actor, uuid.uuid4().hex)
        after = snapshot(sq, iid)
        assert after["actions"] == before["actions"] + 1
        assert after["ok_audits"] == before["ok_audits"] + 1
        assert result.incident["state"] == lc.transition(before["incident"]["state"], action)
        last = audits(sq, iid)[-1]
        assert (last.actor, last.action, last.outcome) == (actor.username, action, "ok")
        assert last.detail and last.detail["action_id"] == result.action_id
    else:
        with pytest.raises(Refused) as exc, session_scope(sq) as s:
            svc.perform_action(s, iid, req, actor, uuid.uuid4().hex)
        assert (exc.value.status, exc.value.code) == (403, "forbidden")
        assert snapshot(sq, iid) == before  # nothing changed
        last = audits(sq, iid)[-1]
        assert (last.actor, last.action, last.outcome) == (actor.username, action, "refused")
        assert last.detail and last.detail["status"] == 403 and last.detail["role"] == role


@pytest.mark.parametrize("role", [*c.ROLES, "system", "visitor"])
def test_creating_an_incident_by_hand_is_for_duty_dispatch_admin_and_system(
    sq: sessionmaker[Session], role: str
) -> None:
    actor = actors(sq).get(role) or Actor(None, "someone", role)
    fields = {"category": "medical", "severity": 3, "title": "老人摔倒", "lon": DONGSI[0], "lat": DONGSI[1]}
    n = count(sq, Incident)
    if role in ("duty", "dispatch", "admin", "system"):
        with session_scope(sq) as s:
            res = svc.create_incident(s, fields, actor, uuid.uuid4().hex)
        assert res.incident["source"] == "console" and res.incident["state"] == "new"
        assert count(sq, Incident) == n + 1
    else:
        with pytest.raises(Refused) as exc, session_scope(sq) as s:
            svc.create_incident(s, fields, actor, uuid.uuid4().hex)
        assert exc.value.status == 403
        assert count(sq, Incident) == n
        last = audits(sq)[-1]
        assert (last.action, last.outcome, last.actor) == ("create", "refused", actor.username)


def test_unknown_role_may_do_nothing(sq: sessionmaker[Session]) -> None:
    iid = new_incident(sq)
    for action in lc.ACTIONS:
        assert refused(sq, iid, Actor(None, "ghost", "visitor"), action).status == 403


# --- the lifecycle through the service --------------------------------------------------------------


def test_full_cycle_moves_incident_and_units_together(sq: sessionmaker[Session]) -> None:
    who = actors(sq)
    iid = new_incident(sq, severity=2)
    u1, u2 = add_unit(sq), add_unit(sq, kind="ambulance")
    assert act(sq, iid, who["duty"], "acknowledge").incident["acknowledged_at"] is not None
    res = act(sq, iid, who["dispatch"], "dispatch", unit_id=u1)
    assert res.incident["state"] == "dispatched"
    assert [(u["id"], u["status"]) for u in res.incident["units"]] == [(u1, "dispatched")]
    assert act(sq, iid, SYSTEM, "arrive", unit_id=u1).incident["state"] == "on_scene"
    # A second unit may be sent while the first is on scene; the incident stays on scene.
    res = act(sq, iid, who["dispatch"], "dispatch", unit_id=u2)
    assert res.incident["state"] == "on_scene"
    assert {u["id"]: u["status"] for u in res.incident["units"]} == {u1: "on_scene", u2: "dispatched"}
    res = act(sq, iid, who["dispatch"], "resolve")
    assert res.incident["state"] == "resolved" and res.incident["resolved_at"] is not None
    assert res.incident["units"] == []
    with sq() as s:
        # The unit on scene heads home; the one still on its way is free at once.
        assert (s.get(Unit, u1).status, s.get(Unit, u1).incident_id) == ("returning", None)  # type: ignore[union-attr]
        assert (s.get(Unit, u2).status, s.get(Unit, u2).incident_id) == ("available", None)  # type: ignore[union-attr]
    res = act(sq, iid, who["dispatch"], "close")
    assert res.incident["state"] == "closed" and res.incident["closed_at"] is not None
    versions = [e.detail["action_id"] for e in audits(sq, iid, "ok") if e.detail]
    assert versions == sorted(versions) and len(versions) == 7  # create + 6 actions


def test_arrival_moves_the_unit_to_the_scene(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    iid, unit = new_incident(sq), add_unit(sq, at=(116.40, 39.90))
    act(sq, iid, admin, "dispatch", unit_id=unit)
    act(sq, iid, admin, "arrive", unit_id=unit)
    with sq() as s:
        u = s.get(Unit, unit)
        assert u is not None and (u.lon, u.lat, u.status) == (*DONGSI, "on_scene")


def test_cancel_releases_units_and_reopen_needs_a_reason_and_restarts_the_clock(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    iid, unit = new_incident(sq, severity=1), add_unit(sq)
    act(sq, iid, admin, "dispatch", unit_id=unit)
    assert act(sq, iid, admin, "cancel", reason="false alarm").incident["units"] == []
    with sq() as s:
        assert s.get(Unit, unit).status == "available"  # type: ignore[union-attr]
    r = refused(sq, iid, admin, "reopen")
    assert (r.status, r.code) == (422, "reason_required")
    now = datetime.now(UTC)
    with session_scope(sq) as s:
        res = svc.perform_action(s, iid, ActionRequest("reopen", reason="caller rang again"), admin, "re-1", now=now)
    inc = res.incident
    assert inc["state"] == "acknowledged" and inc["closed_at"] is None and inc["resolved_at"] is None
    assert inc["deadline_at"] == now + timedelta(minutes=c.INCIDENT_DEADLINE_MIN[1])


def test_change_of_severity_needs_a_reason_moves_the_deadline_and_refuses_the_same_level(
    sq: sessionmaker[Session],
) -> None:
    leader = actors(sq)["leader"]
    iid = new_incident(sq, severity=4)
    with sq() as s:
        before = incident_reads.get_incident(s, iid)
    assert refused(sq, iid, leader, "change_severity", severity=1).code == "reason_required"
    assert refused(sq, iid, leader, "change_severity", severity=7, reason="x").code == "invalid_severity"
    assert refused(sq, iid, leader, "change_severity", severity=4, reason="x").code == "same_severity"
    res = act(sq, iid, leader, "change_severity", severity=1, reason="casualties reported")
    assert res.incident["severity"] == 1 and res.incident["severity_roman"] == "I"
    assert res.incident["deadline_at"] == before["deadline_at"] - timedelta(
        minutes=c.INCIDENT_DEADLINE_MIN[4] - c.INCIDENT_DEADLINE_MIN[1]
    )
    entry = res.incident["timeline"][-1]
    assert entry["detail"]["from_severity"] == 4 and entry["detail"]["reason"] == "casualties reported"


def test_illegal_transition_is_refused_with_409_and_its_reason(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    iid = new_incident(sq)
    act(sq, iid, admin, "cancel")
    r = refused(sq, iid, admin, "dispatch", unit_id=add_unit(sq))
    assert (r.status, r.code, r.reason) == (409, "illegal_transition", "cannot dispatch a cancelled incident")


@pytest.mark.parametrize(
    ("status", "assigned", "code"),
    [("available", True, "unit_busy"), ("off_duty", False, "unit_busy"), ("on_scene", True, "unit_busy")],
)
def test_a_unit_that_is_not_free_cannot_be_dispatched(
    sq: sessionmaker[Session], status: str, assigned: bool, code: str
) -> None:
    admin = actors(sq)["admin"]
    first, second = new_incident(sq), new_incident(sq)
    unit = add_unit(sq, status="available" if assigned else status)
    if assigned:
        act(sq, first, admin, "dispatch", unit_id=unit)
        if status == "on_scene":
            act(sq, first, admin, "arrive", unit_id=unit)
    before = snapshot(sq, second)
    r = refused(sq, second, admin, "dispatch", unit_id=unit)
    assert (r.status, r.code) == (409, code)
    assert snapshot(sq, second) == before


def test_dispatch_checks_the_unit(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    iid, unit = new_incident(sq), add_unit(sq)
    assert refused(sq, iid, admin, "dispatch").code == "unit_required"
    assert refused(sq, iid, admin, "dispatch", unit_id=999_999).status == 404
    act(sq, iid, admin, "dispatch", unit_id=unit)
    assert refused(sq, iid, admin, "dispatch", unit_id=unit).code == "unit_already_assigned"
    assert refused(sq, iid, admin, "arrive", unit_id=add_unit(sq)).code == "unit_not_assigned"
    act(sq, iid, admin, "arrive", unit_id=unit)
    assert refused(sq, iid, admin, "arrive", unit_id=unit).code == "unit_already_on_scene"
    assert refused(sq, 999_999, admin, "acknowledge").status == 404


def test_a_returning_unit_may_be_sent_again(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    first, second, unit = new_incident(sq), new_incident(sq), add_unit(sq)
    act(sq, first, admin, "dispatch", unit_id=unit)
    act(sq, first, admin, "arrive", unit_id=unit)
    act(sq, first, admin, "resolve")
    assert act(sq, second, admin, "dispatch", unit_id=unit).incident["units"][0]["id"] == unit


def test_stale_expected_version_is_refused(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    iid = new_incident(sq)
    with sq() as s:
        seen = incident_reads.get_incident(s, iid)["version"]
    act(sq, iid, admin, "escalate")
    r = refused(sq, iid, admin, "acknowledge", expected_version=seen)
    assert (r.status, r.code) == (409, "stale")
    assert act(sq, iid, admin, "acknowledge", expected_version=seen + 1).incident["version"] == seen + 2


def test_escalation_by_the_leader_is_recorded(sq: sessionmaker[Session]) -> None:
    leader = actors(sq)["leader"]
    iid = new_incident(sq)
    res = act(sq, iid, leader, "escalate", reason="needs the district command")
    assert res.incident["escalated_at"] is not None and res.incident["state"] == "new"


def test_an_incident_already_escalated_is_not_escalated_again(sq: sessionmaker[Session]) -> None:
    leader, dispatcher = actors(sq)["leader"], actors(sq)["dispatch"]
    iid = new_incident(sq)
    first = act(sq, iid, dispatcher, "escalate").incident["escalated_at"]
    r = refused(sq, iid, leader, "escalate")
    assert (r.status, r.code) == (409, "already_escalated")
    with sq() as s:
        assert incident_reads.get_incident(s, iid)["escalated_at"] == first
    assert [a.outcome for a in audits(sq, iid) if a.action == "escalate"] == ["ok", "refused"]
    # What the console and the API offer says the same: escalating is offered only until it is done.
    assert "escalate" in lc.allowed_actions("new", "leader")
    assert "escalate" not in lc.allowed_actions("new", "leader", escalated=True)


# --- 吹哨报到 ------------------------------------------------------------------------------------------


def test_whistle_summons_each_department_with_its_own_clock(sq: sessionmaker[Session]) -> None:
    duty = actors(sq)["duty"]
    iid = new_incident(sq)
    now = datetime.now(UTC)
    with session_scope(sq) as s:
        res = svc.perform_action(s, iid, ActionRequest("whistle", departments=["police", "water", "gas"]), duty,
                                 "wh-1", now=now)
    summons = {sm["department"]: sm for sm in res.incident["summons"]}
    assert set(summons) == {"police", "water", "gas"}
    assert all(sm["deadline_at"] == now + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN) for sm in summons.values())
    assert summons["water"]["department_zh"] == "水务" and not summons["water"]["overdue"]
    assert refused(sq, iid, duty, "whistle", departments=["fire", "police"]).code == "already_summoned"
    assert refused(sq, iid, duty, "whistle", departments=["army"]).code == "invalid_department"
    assert refused(sq, iid, duty, "whistle", departments=[]).code == "departments_required"
    assert refused(sq, iid, duty, "whistle", departments=["fire", "fire"]).code == "invalid_department"
    assert count(sq, Summons, Summons.incident_id == iid) == 3

    res = act(sq, iid, duty, "acknowledge_summons", department="water")
    water = next(sm for sm in res.incident["summons"] if sm["department"] == "water")
    assert water["acknowledged_at"] is not None and water["acknowledged_by"] == "duty"
    assert refused(sq, iid, duty, "acknowledge_summons", department="water").code == "summons_already_acknowledged"
    assert refused(sq, iid, duty, "acknowledge_summons", department="power").code == "not_summoned"
    assert refused(sq, iid, duty, "acknowledge_summons").code == "invalid_department"


# --- idempotency ---------------------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_is_one_action(sessions: sessionmaker[Session]) -> None:
    dispatch = actors(sessions)["dispatch"]
    iid, unit = new_incident(sessions), add_unit(sessions)
    first = act(sessions, iid, dispatch, "dispatch", key="click-1", unit_id=unit)
    before = snapshot(sessions, iid)
    again = act(sessions, iid, dispatch, "dispatch", key="click-1", unit_id=unit)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.action_id == first.action_id
    assert snapshot(sessions, iid) == before  # nothing done twice, not even an audit entry
    assert count(sessions, DispatchAction, DispatchAction.idempotency_key == "click-1") == 1


def test_an_idempotency_key_reused_for_another_action_is_refused(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    iid, other = new_incident(sq), new_incident(sq)
    act(sq, iid, admin, "acknowledge", key="k-reused")
    assert refused(sq, iid, admin, "escalate", key="k-reused").code == "idempotency_key_reused"
    with pytest.raises(Refused, match="different action"):
        act(sq, other, admin, "acknowledge", key="k-reused")
    with pytest.raises(Refused) as exc, session_scope(sq) as s:
        svc.perform_action(s, iid, ActionRequest("escalate"), admin, "")
    assert exc.value.code == "invalid_idempotency_key"


def test_a_replayed_create_returns_the_first_incident(sq: sessionmaker[Session]) -> None:
    duty = actors(sq)["duty"]
    fields = {"category": "gas_leak", "severity": 2, "title": "燃气泄漏", "lon": DONGSI[0], "lat": DONGSI[1]}
    n = count(sq, Incident)
    with session_scope(sq) as s:
        a = svc.create_incident(s, fields, duty, "new-gas")
    with session_scope(sq) as s:
        b = svc.create_incident(s, fields, duty, "new-gas")
    assert (a.replayed, b.replayed, a.incident["id"]) == (False, True, b.incident["id"])
    assert count(sq, Incident) == n + 1


# --- refusals and failures write the right things ---------------------------------------------------


def test_a_refusal_is_audited_even_though_the_callers_transaction_rolls_back(sessions: sessionmaker[Session]
                                                                           ) -> None:
    duty = actors(sessions)["duty"]
    iid = new_incident(sessions)
    with pytest.raises(Refused), session_scope(sessions) as s:
        store.audit_log.record(s, "duty", "something_unrelated")  # the caller's own pending work is rolled back with it
        svc.perform_action(s, iid, ActionRequest("close"), duty, "try-close")
    entries = audits(sessions)
    assert [(e.action, e.outcome) for e in entries[-1:]] == [("close", "refused")]
    assert "something_unrelated" not in [e.action for e in entries]
    assert entries[-1].detail and entries[-1].detail["request"] == {"action": "close"}
    assert count(sessions, DispatchAction, DispatchAction.idempotency_key == "try-close") == 0


def test_database_constraint_failing_mid_action_writes_nothing(sessions: sessionmaker[Session]) -> None:
    dispatch = actors(sessions)["dispatch"]
    iid, unit = new_incident(sessions), add_unit(sessions)
    before = snapshot(sessions, iid)
    ghost = Actor(987_654, "deleted-user", "dispatch")  # its user row does not exist: the FK fails at flush
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        svc.perform_action(s, iid, ActionRequest("dispatch", unit_id=unit), ghost, "k-ghost")
    assert snapshot(sessions, iid) == before
    # Nothing was saved, so a retry with the same key really acts.
    assert not act(sessions, iid, dispatch, "dispatch", key="k-ghost", unit_id=unit).replayed


def test_audit_failing_after_the_effects_writes_nothing(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = actors(sessions)["admin"]
    iid, unit = new_incident(sessions), add_unit(sessions)
    act(sessions, iid, admin, "dispatch", unit_id=unit)
    before = snapshot(sessions, iid)

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.audit_log, "record", broken)
    with pytest.raises(RuntimeError), session_scope(sessions) as s:
        svc.perform_action(s, iid, ActionRequest("resolve"), admin, "k-res")
    monkeypatch.undo()
    assert snapshot(sessions, iid) == before  # the incident is not resolved and its unit not released


def _kill_connection(session: Session, engine: Engine) -> None:
    """Make the session's database connection die, as when the server goes away mid-transaction."""
    if engine.dialect.name == "postgresql":
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
        time.sleep(0.05)
    else:
        session.connection().connection.dbapi_connection.close()  # type: ignore[union-attr]


def test_connection_lost_mid_action_saves_nothing_and_a_retry_works(
    engine: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = actors(sessions)["admin"]
    iid, unit = new_incident(sessions), add_unit(sessions)
    before = snapshot(sessions, iid)
    real_audit = store.audit_log.record

    def dying_audit(session: Session, *a: Any, **k: Any) -> None:
        _kill_connection(session, engine)
        real_audit(session, *a, **k)

    monkeypatch.setattr(store.audit_log, "record", dying_audit)
    with pytest.raises(DBAPIError), session_scope(sessions) as s:
        svc.perform_action(s, iid, ActionRequest("dispatch", unit_id=unit), admin, "k-lost")
    monkeypatch.undo()
    assert snapshot(sessions, iid) == before
    res = act(sessions, iid, admin, "dispatch", key="k-lost", unit_id=unit)
    assert not res.replayed and res.incident["state"] == "dispatched"


# --- creating by hand ----------------------------------------------------------------------------------


def test_create_validates_like_ingest_with_field_level_reasons(sq: sessionmaker[Session]) -> None:
    duty = actors(sq)["duty"]
    bad = {"category": "alien", "severity": 9, "title": "", "lon": 116.0, "lat": 39.0}
    with pytest.raises(Refused) as exc, session_scope(sq) as s:
        svc.create_incident(s, bad, duty, uuid.uuid4().hex)
    assert exc.value.status == 422
    assert {"category", "severity", "title", "lon", "lat"} <= set(exc.value.errors)
    with pytest.raises(Refused) as exc, session_scope(sq) as s:
        svc.create_incident(s, {"source": "evil", "category": "fire"}, duty, uuid.uuid4().hex)
    assert exc.value.errors == {"source": "is not a field of an incident"}
    assert audits(sq)[-1].outcome == "refused"


def test_create_sets_deadline_by_severity_and_links_the_sensor(sq: sessionmaker[Session]) -> None:
    duty = actors(sq)["duty"]
    fields = {"category": "waterlogging", "severity": 2, "title": "积水", "lon": DONGSI[0], "lat": DONGSI[1],
              "sensor_id": "pole-7:water_level", "description": "路面积水 35 cm"}
    with session_scope(sq) as s:
        inc = svc.create_incident(s, fields, duty, uuid.uuid4().hex).incident
    assert inc["deadline_at"] - inc["reported_at"] == timedelta(minutes=c.INCIDENT_DEADLINE_MIN[2])
    assert inc["sensor_id"] == "pole-7:water_level" and inc["subdistrict"] and inc["cell"]
    assert [e["action"] for e in inc["timeline"]] == ["create"]


# --- reading -------------------------------------------------------------------------------------------


def test_timeline_has_every_action_and_the_conflicts_with_who_and_when(sessions: sessionmaker[Session]) -> None:
    who = actors(sessions)
    now = time.time()
    ev, _ = validate_event(incident_event("tl-1"), now)
    assert ev is not None
    with session_scope(sessions) as s:
        store.durable.store_durable(s, [ev])
        iid = s.scalar(select(Incident.id).where(Incident.external_id == "tl-1"))
    assert iid is not None
    unit = add_unit(sessions)
    act(sessions, iid, who["duty"], "acknowledge")
    refused(sessions, iid, who["leader"], "dispatch", unit_id=unit)  # the role: 403
    refused(sessions, iid, who["dispatch"], "change_severity", severity=1)  # no reason: 422
    refused(sessions, iid, who["dispatch"], "whistle", departments=[])  # no department: 422
    act(sessions, iid, who["dispatch"], "dispatch", unit_id=unit)
    refused(sessions, iid, who["dispatch"], "acknowledge", expected_version=1)  # a screen behind: 409 stale
    with sessions() as s:
        timeline = incident_reads.get_incident(s, iid)["timeline"]
        audited = [(e.action, e.actor, e.outcome, (e.detail or {}).get("status"))
                   for e in store.audit_log.entries_for(s, "incident", str(iid))]
    # The incident's history: what was done to it, and the attempt its own state refused (someone else had acted).
    assert [(e["action"], e["actor"], e["outcome"]) for e in timeline] == [
        ("reported", f"{c.SOURCE_ACTOR}test", "ok"),
        ("acknowledge", "duty", "ok"),
        ("dispatch", "dispatch", "ok"),
        ("acknowledge", "dispatch", "refused"),
    ]
    assert timeline[-1]["detail"]["code"] == "stale"
    assert timeline[-2]["unit_id"] == unit and timeline[-2]["action_id"] is not None
    assert all(isinstance(e["at"], datetime) for e in timeline)
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    # Every refusal is still audited: the role's, and the form's missing fields, which the timeline leaves out.
    assert audited == [
        ("acknowledge", "duty", "ok", None),
        ("dispatch", "leader", "refused", 403),
        ("change_severity", "dispatch", "refused", 422),
        ("whistle", "dispatch", "refused", 422),
        ("dispatch", "dispatch", "ok", None),
        ("acknowledge", "dispatch", "refused", 409),
    ]


def test_only_refusals_by_the_incidents_own_state_are_part_of_its_history() -> None:
    assert lc.in_timeline("ok", {})
    assert lc.in_timeline("ok", None)
    assert lc.in_timeline("refused", {"status": 409, "code": "stale"})
    assert lc.in_timeline("refused", {"status": 409, "code": "unit_busy"})
    for status in (403, 404, 422, None):
        assert not lc.in_timeline("refused", {"status": status})
    assert not lc.in_timeline("refused", None)


def test_unknown_incident_is_404(sq: sessionmaker[Session]) -> None:
    with sq() as s, pytest.raises(Refused) as exc:
        incident_reads.get_incident(s, 999_999)
    assert exc.value.status == 404


def test_list_is_most_severe_then_newest_first_and_filters(sessions: sessionmaker[Session]) -> None:
    admin = actors(sessions)["admin"]
    a = new_incident(sessions, severity=3)
    b = new_incident(sessions, severity=1)
    cc = new_incident(sessions, severity=3)
    d = new_incident(sessions, severity=2)
    act(sessions, d, admin, "cancel")
    with sessions() as s:
        assert [i["id"] for i in incident_reads.list_incidents(s)] == [b, d, cc, a]
        assert [i["id"] for i in incident_reads.list_incidents(s, states=list(c.INCIDENT_OPEN_STATES))] == [b, cc, a]
        assert [i["id"] for i in incident_reads.list_incidents(s, severities=[3], limit=1)] == [cc]
        assert incident_reads.list_incidents(s, subdistrict="nowhere") == []
        assert "timeline" not in incident_reads.list_incidents(s)[0]
        with pytest.raises(Refused):
            incident_reads.list_incidents(s, states=["lost"])


def test_suggestions_are_the_nearest_free_suitable_units(sq: sessionmaker[Session]) -> None:
    admin = actors(sq)["admin"]
    far = (116.4300, 39.9000)
    iid = new_incident(sq, category="medical", at=(116.4300, 39.9300))
    near_amb = add_unit(sq, "ambulance", at=(116.4310, 39.9310))
    far_amb = add_unit(sq, "ambulance", at=far)
    add_unit(sq, "ambulance", status="off_duty", at=(116.4300, 39.9300))
    add_unit(sq, "police", at=(116.4300, 39.9300))  # nearest of all, but not suitable for a medical case
    busy = add_unit(sq, "ambulance", at=(116.4301, 39.9301))
    act(sq, new_incident(sq), admin, "dispatch", unit_id=busy)
    with sq() as s:
        got = incident_reads.suggest_units(s, iid, limit=50)
    ids = [u["id"] for u in got]
    assert ids.index(near_amb) < ids.index(far_amb)
    assert {u["kind"] for u in got} == {"ambulance"}
    assert busy not in ids and all(u["status"] in c.UNIT_DISPATCHABLE_STATUSES for u in got)
    dists = [u["distance_km"] for u in got]
    assert dists == sorted(dists) and got[0]["distance_km"] < 0.2
    act(sq, iid, admin, "cancel")
    with sq() as s:
        assert incident_reads.suggest_units(s, iid) == []


def test_category_table_names_known_kinds_for_every_category() -> None:
    assert set(c.CATEGORY_UNIT_KINDS) == set(c.INCIDENT_CATEGORIES)
    assert all(set(kinds) <= set(c.UNIT_KINDS) for kinds in c.CATEGORY_UNIT_KINDS.values())


def test_a_source_ending_its_incident_releases_its_units(sessions: sessionmaker[Session]) -> None:
    admin = actors(sessions)["admin"]
    ev, _ = validate_event(incident_event("end-1"), time.time())
    assert ev is not None
    with session_scope(sessions) as s:
        store.durable.store_durable(s, [ev])
        iid = s.scalar(select(Incident.id).where(Incident.external_id == "end-1"))
    assert iid is not None
    u1, u2 = add_unit(sessions), add_unit(sessions)
    act(sessions, iid, admin, "dispatch", unit_id=u1)
    act(sessions, iid, admin, "arrive", unit_id=u1)
    act(sessions, iid, admin, "dispatch", unit_id=u2)
    end = {"event_id": "end-1-x", "source": "test", "kind": c.INCIDENT_UPDATE, "ts": ev_ts(), "incident_id": "end-1",
           "status": "resolved"}
    upd, _ = validate_event(end, time.time())
    assert upd is not None
    with session_scope(sessions) as s:
        store.durable.store_durable(s, [upd])
    with sessions() as s:
        assert [(u.status, u.incident_id) for u in (s.get(Unit, u1), s.get(Unit, u2)) if u] == [
            ("returning", None), ("available", None)]
        assert s.get(Incident, iid).state == "resolved"  # type: ignore[union-attr]


def ev_ts() -> str:
    return datetime.now(UTC).isoformat()


# --- push ----------------------------------------------------------------------------------------------


def test_notify_change_publishes_json_on_the_incidents_channel_of_the_db(r: redis.Redis) -> None:
    ps = r.pubsub()
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    ps.subscribe(keys.incidents_channel(db))
    assert ps.get_message(timeout=1)["type"] == "subscribe"
    marker = int(time.time() * 1000) % 1_000_000_000  # the channel is shared: find our own message
    publish.notify_change(r, marker, "dispatch")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        msg = ps.get_message(timeout=0.5)
        if msg is not None and json.loads(msg["data"]).get("incident_id") == marker:
            break
    else:
        pytest.fail("the change was not published")
    assert msg["channel"] == f"dc:incidents:{db}".encode()
    body = json.loads(msg["data"])
    assert body["action"] == "dispatch" and body["ts"] > 0
    ps.close()


# --- schema upgrade ------------------------------------------------------------------------------------

NEW_COLUMNS = {("units", "incident_id"), ("incidents", "acknowledged_at"), ("incidents", "escalated_at"),
               ("incidents", "version")}


def _old_metadata() -> MetaData:
    """The tables of an older release than the baseline of the migrations (no summons, none of the new columns)."""
    from alembic.script import ScriptDirectory

    baseline = ScriptDirectory.from_config(store.schema.alembic_config()).get_revision(store.schema.BASELINE)
    assert baseline is not None
    md = MetaData()
    for t in baseline.module.META.sorted_tables:
        if t.name != "summons":
            Table(t.name, md, *[col._copy() for col in t.columns if (t.name, col.name) not in NEW_COLUMNS])
    return md


def test_the_migrations_add_the_new_columns_and_tables_to_an_old_database(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        old = _old_metadata()
        old.create_all(eng)
        with eng.begin() as conn:
            conn.execute(old.tables["units"].insert().values(
                code="OLD-1", name="old", kind="fire", status="available", home_lon=116.41, home_lat=39.92,
                lon=116.41, lat=39.92, subdistrict="110101001", updated_at=datetime.now(UTC)))
            t0 = datetime.now(UTC)
            conn.execute(old.tables["incidents"].insert().values(
                source="test", external_id="old-1", category="fire", severity=2, title="old", state="new",
                lon=DONGSI[0], lat=DONGSI[1], subdistrict="110101001", cell="r1c1", reported_at=t0, created_at=t0,
                updated_at=t0, deadline_at=t0 + timedelta(hours=1)))
        assert store.schema.upgrade(eng) == store.schema.head()  # a database from before migrations
        have = {(t, col["name"]) for t in ("incidents", "units") for col in inspect(eng).get_columns(t)}
        assert have >= NEW_COLUMNS and "summons" in inspect(eng).get_table_names()
        assert store.schema.upgrade(eng) == store.schema.head()  # a second start changes nothing
        sessions = session_factory(eng)
        with sessions() as s:
            iid = s.scalar(select(Incident.id))
            unit = s.scalar(select(Unit.id))
            assert iid is not None and unit is not None
            assert s.get(Incident, iid).version == 0  # type: ignore[union-attr]
        res = act(sessions, iid, Actor(None, "admin", "admin"), "dispatch", unit_id=unit)
        assert res.incident["version"] == 1 and res.incident["units"][0]["id"] == unit
        act(sessions, iid, Actor(None, "admin", "admin"), "whistle", departments=["fire"])
    finally:
        Base.metadata.drop_all(eng)
        eng.dispose()


# --- random sequences (hypothesis, stateful) ----------------------------------------------------------

ROLES_AND_SYSTEM = [*c.ROLES, "system"]
DEPS = ["police", "fire", "water"]


class IncidentMachine(RuleBasedStateMachine):
    """Random actions by random roles on one incident with three units, checked against the database."""

    sessions: sessionmaker[Session]

    def __init__(self) -> None:
        super().__init__()
        self.who = actors(self.sessions)
        self.iid = new_incident(self.sessions)
        self.units = [add_unit(self.sessions, kind) for kind in ("fire", "police", "ambulance")]
        self.ok = 1  # the create
        self.refused = 0
        self.last: tuple[str, ActionRequest, Actor] | None = None
        self.version = self._rows()["incident"]["version"]

    def _rows(self) -> dict[str, Any]:
        """What an action may change: the incident row, its units, its summons and its action count."""
        with self.sessions() as s:
            inc = s.get(Incident, self.iid)
            assert inc is not None
            units = s.scalars(select(Unit).where(Unit.id.in_(self.units)).order_by(Unit.id))
            summons = s.scalars(select(Summons).where(Summons.incident_id == self.iid).order_by(Summons.id))
            return {
                "incident": incident_reads.incident_view(inc, datetime.now(UTC)) | {"overdue": None},
                "units": [incident_reads.unit_view(u) for u in units],
                "summons": [(sm.department, sm.acknowledged_at) for sm in summons],
                "actions": s.scalar(select(func.count()).where(DispatchAction.incident_id == self.iid)),
            }

    @rule(
        action=st.sampled_from(lc.ACTIONS),
        role=st.sampled_from(ROLES_AND_SYSTEM),
        unit=st.sampled_from([0, 1, 2]),
        severity=st.sampled_from(c.SEVERITIES),
        reason=st.sampled_from([None, "because"]),
        deps=st.lists(st.sampled_from(DEPS), min_size=1, max_size=2, unique=True),
        dep=st.sampled_from(DEPS),
        repeat_last=st.booleans(),
    )
    def take(self, action: str, role: str, unit: int, severity: int, reason: str | None, deps: list[str],
             dep: str, repeat_last: bool) -> None:
        before = self._rows()
        if repeat_last and self.last is not None:
            key, req, actor = self.last
            with session_scope(self.sessions) as s:
                res = svc.perform_action(s, self.iid, req, actor, key)
            assert res.replayed and self._rows() == before, "a replay changed something"
            return
        actor = self.who.get(role) or SYSTEM
        req = ActionRequest(action, unit_id=self.units[unit], severity=severity, reason=reason, departments=deps,
                            department=dep)
        key = uuid.uuid4().hex
        try:
            with session_scope(self.sessions) as s:
                res = svc.perform_action(s, self.iid, req, actor, key)
        except Refused as exc:
            self.refused += 1
            assert self._rows() == before, "a refused action changed something"
            if not lc.may(role, action):
                assert exc.status == 403
            elif not lc.is_legal(before["incident"]["state"], action):
                assert (exc.status, exc.code) in ((409, "illegal_transition"), (422, "reason_required"))
            else:
                assert exc.status in (404, 409, 422) and exc.code != "illegal_transition"
            return
        assert lc.may(role, action), "an action was taken by a role that may not take it"
        assert res.incident["state"] == lc.transition(before["incident"]["state"], action)
        assert res.incident["version"] > self.version
        self.version = res.incident["version"]
        self.ok += 1
        self.last = (key, req, actor)

    @invariant()
    def states_units_and_records_agree(self) -> None:
        with self.sessions() as s:
            inc = incident_reads.get_incident(s, self.iid)
            units = list(s.scalars(select(Unit).where(Unit.id.in_(self.units))))
            action_ids = list(s.scalars(select(DispatchAction.id).where(DispatchAction.incident_id == self.iid)))
        state = inc["state"]
        assert state in lc.STATES
        assert (inc["resolved_at"] is not None) == (state in ("resolved", "closed"))
        assert (inc["closed_at"] is not None) == (state in ("closed", "cancelled"))
        if state in ("acknowledged", "dispatched", "on_scene"):
            assert inc["acknowledged_at"] is not None
        for u in units:
            # A unit is assigned exactly while its status says so, only to this incident, only while it is open.
            assert (u.incident_id is not None) == (u.status in c.UNIT_ASSIGNED_STATUSES)
            assert u.incident_id in (None, self.iid)
            if u.incident_id is not None:
                assert state in ("dispatched", "on_scene")
        if state == "on_scene":
            assert any(u["status"] == "on_scene" for u in inc["units"])
        ok = [e for e in inc["timeline"] if e["outcome"] == "ok"]
        assert len(action_ids) == self.ok == len(ok), "an action without its audit entry, or the reverse"
        assert sorted(e["action_id"] for e in ok) == sorted(action_ids)
        with self.sessions() as s:
            entries = store.audit_log.entries_for(s, "incident", str(self.iid))
        refusals = [(e.detail or {}).get("status") for e in entries if e.outcome == "refused"]
        assert len(refusals) == self.refused, "a refusal without its audit entry"
        assert sum(e["outcome"] == "refused" for e in inc["timeline"]) == refusals.count(409)


def test_random_action_sequences_never_reach_an_illegal_state_nor_lose_an_audit_entry(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'machine.db'}")
    init_db(eng)
    sessions = session_factory(eng)
    seed_users(sessions)

    class Machine(IncidentMachine):
        pass

    Machine.sessions = sessions
    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(max_examples=15, stateful_step_count=20, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow]),
        )
    finally:
        eng.dispose()
