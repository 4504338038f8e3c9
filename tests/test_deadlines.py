"""Deadlines: overdue summons (吹哨报到) and incidents escalate to the leader, once, audited and pushed."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.cron import CronScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.domain import rules as c
from dashboard.live import keys
from dashboard.live.schema import AGG_INCIDENTS
from dashboard.services import incident_reads
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.services.incidents import ActionRequest
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, Incident, Summons
from workers import deadlines
from workers.deadlines import Overdue, run_deadlines, select_overdue
from workers.schedule import DEADLINE_CHECK_S

ROOT = Path(__file__).resolve().parent.parent
DUTY = Actor(None, "duty", "duty")
ADMIN = Actor(None, "admin", "admin")
T0 = datetime.now(UTC).replace(microsecond=0)


def new_incident(sessions: sessionmaker[Session], severity: int = 3) -> int:
    with session_scope(sessions) as s:
        res = svc.create_incident(s, {"category": "waterlogging", "severity": severity, "title": "积水",
                                      "lon": 116.417, "lat": 39.924, "ts": T0.isoformat()},
                                  Actor(None, "sim", "system"), uuid.uuid4().hex, now=T0)
    return int(res.incident["id"])


def act(sessions: sessionmaker[Session], incident_id: int, actor: Actor, action: str, now: datetime,
        **params: Any) -> svc.ActionResult:
    with session_scope(sessions) as s:
        return svc.perform_action(s, incident_id, ActionRequest(action, **params), actor, uuid.uuid4().hex, now=now)


def escalations(sessions: sessionmaker[Session], action: str) -> list[AuditLog]:
    with sessions() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_select_overdue_picks_passed_deadlines_oldest_first() -> None:
    now = T0
    summons = [
        {"id": 1, "deadline_at": now - timedelta(minutes=1)},
        {"id": 2, "deadline_at": now + timedelta(minutes=1)},
        {"id": 3, "deadline_at": now - timedelta(minutes=5)},
        {"id": 4, "deadline_at": now},  # due exactly now: not late yet
    ]
    incidents = [{"id": 9, "deadline_at": now - timedelta(seconds=1)}, {"id": 8, "deadline_at": now}]
    assert select_overdue(summons, incidents, now) == Overdue(summons=[3, 1], incidents=[9])
    assert not select_overdue([], [], now)


def test_overdue_summons_and_incidents_escalate_once_audited_and_pushed(
    sessions: sessionmaker[Session], r: redis.Redis
) -> None:
    iid = new_incident(sessions, severity=1)  # 30 minutes to resolve
    act(sessions, iid, DUTY, "whistle", T0, departments=["police", "water", "gas"])
    act(sessions, iid, DUTY, "acknowledge_summons", T0 + timedelta(minutes=10), department="water")
    closed = new_incident(sessions)
    act(sessions, closed, DUTY, "whistle", T0, departments=["housing"])
    act(sessions, closed, ADMIN, "cancel", T0 + timedelta(minutes=1))

    # Before the deadline nothing happens.
    assert run_deadlines(r, sessions, T0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN - 1)) == {
        "summons_escalated": 0, "incidents_escalated": 0}

    ps = r.pubsub()
    ps.subscribe(keys.incidents_channel(int(r.connection_pool.connection_kwargs.get("db", 0))))
    ps.get_message(timeout=1)
    later = T0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN + 1)
    started = time.time()
    assert run_deadlines(r, sessions, later) == {"summons_escalated": 2, "incidents_escalated": 1}
    pushed = []
    while (msg := ps.get_message(timeout=0.5)) is not None:
        body = json.loads(msg["data"])
        # The channel is shared by everything on this Redis database: keep the messages of this check.
        if body.get("action", "").endswith("_escalated") and body["ts"] >= started:
            pushed.append(body)
    ps.close()
    assert sorted(m["action"] for m in pushed) == ["incident_escalated", "summons_escalated", "summons_escalated"]
    assert {m["incident_id"] for m in pushed} == {iid}

    entries = escalations(sessions, "summons_escalated")
    assert sorted(e.detail["department"] for e in entries if e.detail) == ["gas", "police"]
    assert {(e.actor, e.target_id) for e in entries} == {(deadlines.ACTOR, str(iid))}
    with sessions() as s:
        detail = incident_reads.get_incident(s, iid, now=later)
        by_dep = {sm["department"]: sm for sm in detail["summons"]}
        assert by_dep["police"]["escalated_at"] == later and by_dep["police"]["overdue"]
        assert by_dep["water"]["escalated_at"] is None and not by_dep["water"]["overdue"]
        assert detail["escalated_at"] == later and detail["overdue"]
        assert [e["action"] for e in detail["timeline"]][-3:] == [
            "summons_escalated", "summons_escalated", "incident_escalated"]
        # The summons of the cancelled incident stays as it was.
        assert s.scalar(select(Summons.escalated_at).where(Summons.incident_id == closed)) is None

    # A second check finds nothing new: each escalation happens once.
    assert run_deadlines(r, sessions, later + timedelta(minutes=5)) == {
        "summons_escalated": 0, "incidents_escalated": 0}
    assert len(escalations(sessions, "summons_escalated")) == 2


def test_a_department_reporting_late_still_reports_and_is_marked_late(sessions: sessionmaker[Session]) -> None:
    iid = new_incident(sessions)
    act(sessions, iid, DUTY, "whistle", T0, departments=["power"])
    run_deadlines(None, sessions, T0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN + 1))
    res = act(sessions, iid, DUTY, "acknowledge_summons", T0 + timedelta(hours=1), department="power")
    [sm] = res.incident["summons"]
    assert sm["acknowledged_at"] is not None and sm["escalated_at"] is not None and not sm["overdue"]
    assert res.incident["timeline"][-1]["detail"]["late"] is True


def test_reopening_restarts_the_clock_and_can_escalate_again(sessions: sessionmaker[Session]) -> None:
    iid = new_incident(sessions, severity=2)
    late = T0 + timedelta(minutes=c.INCIDENT_DEADLINE_MIN[2] + 1)
    assert run_deadlines(None, sessions, late)["incidents_escalated"] == 1
    act(sessions, iid, ADMIN, "acknowledge", late)
    act(sessions, iid, ADMIN, "resolve", late)
    res = act(sessions, iid, ADMIN, "reopen", late, reason="water again")
    assert res.incident["escalated_at"] is None
    assert run_deadlines(None, sessions, late + timedelta(minutes=1))["incidents_escalated"] == 0
    again = late + timedelta(minutes=c.INCIDENT_DEADLINE_MIN[2] + 1)
    assert run_deadlines(None, sessions, again)["incidents_escalated"] == 1


def test_two_checkers_at_once_escalate_each_summons_once(sessions: sessionmaker[Session]) -> None:
    iid = new_incident(sessions)
    act(sessions, iid, DUTY, "whistle", T0, departments=list(c.DEPARTMENTS[:6]))
    later = T0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN + 1)
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def check() -> None:
        barrier.wait()
        results.append(run_deadlines(None, sessions, later))

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(res["summons_escalated"] for res in results) == 6
    assert len(escalations(sessions, "summons_escalated")) == 6


def test_escalation_is_not_an_incident_state(sessions: sessionmaker[Session]) -> None:
    iid = new_incident(sessions, severity=1)
    run_deadlines(None, sessions, T0 + timedelta(hours=2))
    with sessions() as s:
        inc = s.get(Incident, iid)
        assert inc is not None and inc.state == "new" and inc.escalated_at is not None


def test_cron_config_runs_the_deadline_check_on_the_default_queue(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    scheduler = CronScheduler(connection=r)
    scheduler.load_config_from_file("workers/cron.py")
    [job] = [j for j in scheduler.get_jobs() if j.func is deadlines.check_deadlines]
    assert (job.queue_name, job.interval) == (keys.QUEUE_DEFAULT, DEADLINE_CHECK_S)
    assert job.job_options["ttl"] <= DEADLINE_CHECK_S


def test_the_wall_sees_each_departments_clock_and_the_escalation_after_the_next_tick(
    sessions: sessionmaker[Session], r: redis.Redis
) -> None:
    from dashboard.live.aggregates import read_aggregates
    from workers.tick import run_tick

    iid = new_incident(sessions, severity=2)
    act(sessions, iid, DUTY, "whistle", T0, departments=["police", "water"])
    act(sessions, iid, DUTY, "acknowledge_summons", T0 + timedelta(minutes=5), department="police")
    later = T0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN + 1)
    run_deadlines(r, sessions, later)
    run_tick(r, sessions, later.timestamp())
    env = read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS]
    assert env is not None
    [item] = env["data"]["items"]
    clocks = {sm["department"]: sm for sm in item["summons"]}
    assert set(clocks) == {"police", "water"}
    assert clocks["police"]["acknowledged_at"] == (T0 + timedelta(minutes=5)).timestamp()
    assert clocks["water"]["acknowledged_at"] is None and clocks["water"]["escalated"] is True
    assert clocks["water"]["deadline_at"] == (T0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN)).timestamp()
    # The incident itself (60 minutes for severity II) is not overdue yet; it went to the leader with the summons.
    assert (item["overdue"], item["escalated"]) == (False, True)
