"""No double dispatch: real threads racing through the service against SQLite and PostgreSQL.

Each race starts its threads on a threading.Barrier. The dispatch effect is slowed down while it holds its
locks, so that the racing requests really overlap: without the row locks (PostgreSQL) or BEGIN IMMEDIATE
(SQLite), both would read the unit as available and both would dispatch it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.services import incidents as svc
from dashboard.services.base import Actor, Refused
from dashboard.services.incidents import ActionRequest, ActionResult
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, DispatchAction, Incident, Unit

ADMIN = Actor(None, "dispatcher-a", "dispatch")
OTHER = Actor(None, "dispatcher-b", "dispatch")
HOLD_S = 0.2  # how long a dispatch holds its locks in these tests


def add_unit(sessions: sessionmaker[Session], code: str) -> int:
    with session_scope(sessions) as s:
        unit = Unit(code=code, name=code, kind="fire", status="available", home_lon=116.41, home_lat=39.92,
                    lon=116.41, lat=39.92, subdistrict="110101001")
        s.add(unit)
        s.flush()
        return unit.id


def new_incident(sessions: sessionmaker[Session]) -> int:
    with session_scope(sessions) as s:
        res = svc.create_incident(s, {"category": "fire", "severity": 2, "title": "火情", "lon": 116.417,
                                      "lat": 39.924}, Actor(None, "sim", "system"), uuid.uuid4().hex)
    return int(res.incident["id"])


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0) … fn(n-1) in n threads released together; each one's result or exception."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    return results


def dispatch(sessions: sessionmaker[Session], incident_id: int, unit_id: int, actor: Actor, key: str) -> ActionResult:
    with session_scope(sessions) as s:
        return svc.perform_action(s, incident_id, ActionRequest("dispatch", unit_id=unit_id), actor, key)


@pytest.fixture
def slow_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dispatch holds its locks a little longer, so that racing requests overlap for sure: the unit's lock (taken
    after the incident's) is held a moment before the dispatch goes on."""
    real = store.units.lock_unit

    def held(*args: Any) -> Any:
        out = real(*args)
        time.sleep(HOLD_S)
        return out

    monkeypatch.setattr(store.units, "lock_unit", held)


def dispatches_of(sessions: sessionmaker[Session], unit_id: int) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).where(DispatchAction.unit_id == unit_id,
                                                       DispatchAction.action == "dispatch")) or 0)


@pytest.mark.usefixtures("slow_dispatch")
def test_two_dispatchers_sending_one_unit_to_two_incidents_at_once_one_wins(sessions: sessionmaker[Session]) -> None:
    unit = add_unit(sessions, "FR-RACE")
    incidents = [new_incident(sessions), new_incident(sessions)]
    actors = [ADMIN, OTHER]
    t0 = time.perf_counter()
    results = race(2, lambda i: dispatch(sessions, incidents[i], unit, actors[i], uuid.uuid4().hex))
    won = [i for i, r in enumerate(results) if isinstance(r, ActionResult)]
    lost = [i for i, r in enumerate(results) if isinstance(r, Refused)]
    assert len(won) == 1 and len(lost) == 1, results
    refusal = results[lost[0]]
    assert (refusal.status, refusal.code) == (409, "unit_busy")
    assert time.perf_counter() - t0 >= HOLD_S  # the loser really waited for the winner
    with sessions() as s:
        u = s.get(Unit, unit)
        assert u is not None and (u.status, u.incident_id) == ("dispatched", incidents[won[0]])
        loser = s.get(Incident, incidents[lost[0]])
        assert loser is not None and loser.state == "new"
        refused = s.scalars(select(AuditLog).where(AuditLog.outcome == "refused")).all()
        assert [(a.action, a.actor) for a in refused] == [("dispatch", actors[lost[0]].username)]
    assert dispatches_of(sessions, unit) == 1


@pytest.mark.usefixtures("slow_dispatch")
def test_many_dispatchers_racing_for_one_unit_dispatch_it_once(sessions: sessionmaker[Session]) -> None:
    unit = add_unit(sessions, "FR-MANY")
    incidents = [new_incident(sessions) for _ in range(5)]
    results = race(5, lambda i: dispatch(sessions, incidents[i], unit, ADMIN, uuid.uuid4().hex))
    assert sum(isinstance(r, ActionResult) for r in results) == 1, results
    assert all(r.status == 409 for r in results if not isinstance(r, ActionResult))
    assert dispatches_of(sessions, unit) == 1


@pytest.mark.usefixtures("slow_dispatch")
def test_the_same_idempotency_key_sent_at_once_is_one_action(sessions: sessionmaker[Session]) -> None:
    unit = add_unit(sessions, "FR-DBL")
    incident = new_incident(sessions)
    # A double-click, or a retry racing the original: three requests with one key.
    results = race(3, lambda i: dispatch(sessions, incident, unit, ADMIN, "double-click-1"))
    assert all(isinstance(r, ActionResult) for r in results), results
    assert len({r.action_id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False, True, True]
    with sessions() as s:
        assert s.scalar(select(func.count()).where(DispatchAction.idempotency_key == "double-click-1")) == 1
        assert s.scalar(select(func.count()).where(AuditLog.action == "dispatch")) == 1


def test_two_acknowledgements_at_once_one_is_refused(sessions: sessionmaker[Session]) -> None:
    incident = new_incident(sessions)

    def ack(i: int) -> ActionResult:
        with session_scope(sessions) as s:
            return svc.perform_action(s, incident, ActionRequest("acknowledge"), [ADMIN, OTHER][i], f"ack-{i}")

    results = race(2, ack)
    assert sum(isinstance(r, ActionResult) for r in results) == 1, results
    [refusal] = [r for r in results if isinstance(r, Refused)]
    assert (refusal.status, refusal.code) == (409, "illegal_transition")


@pytest.mark.usefixtures("slow_dispatch")
def test_two_units_sent_to_one_incident_at_once_both_go(sessions: sessionmaker[Session]) -> None:
    units = [add_unit(sessions, "FR-A"), add_unit(sessions, "FR-B")]
    incident = new_incident(sessions)
    results = race(2, lambda i: dispatch(sessions, incident, units[i], ADMIN, uuid.uuid4().hex))
    assert all(isinstance(r, ActionResult) for r in results), results
    with sessions() as s:
        assert sorted(s.scalars(select(Unit.id).where(Unit.incident_id == incident))) == sorted(units)
        inc = s.get(Incident, incident)
        assert inc is not None and inc.state == "dispatched"
