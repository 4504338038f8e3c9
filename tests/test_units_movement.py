"""Simulated units (simulator/units.py): the pure movement and the job that moves them and reports arrivals
through the incident service, on SQLite and PostgreSQL; the demo's cron file registers the job, the product's never."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.cron import CronScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.domain import geo, lifecycle
from dashboard.services import incident_reads
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.services.incidents import ActionRequest
from dashboard.store import units as store_units
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, DispatchAction, Unit, User
from simulator import units as fleet
from tests.helpers import seed_users

ROOT = Path(__file__).resolve().parent.parent
DONGSI = (116.4170, 39.9240)
WANGFUJING = (116.4103, 39.9122)  # about 1.4 km from Dongsi
_codes = itertools.count(1)


# --- pure movement ------------------------------------------------------------------------------------


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return geo.distance_km(a[0], a[1], b[0], b[1])


def test_a_step_covers_speed_times_time_along_the_straight_line() -> None:
    lon, lat, arrived = fleet.step_towards(*WANGFUJING, *DONGSI, speed=36.0, dt_s=10.0)  # 10 m/s for 10 s
    assert not arrived
    assert km(WANGFUJING, (lon, lat)) * 1000 == pytest.approx(100.0, rel=0.01)
    # On the straight line: the two legs add up to the whole.
    assert km(WANGFUJING, (lon, lat)) + km((lon, lat), DONGSI) == pytest.approx(km(WANGFUJING, DONGSI), abs=1e-4)


def test_within_fifty_metres_a_unit_arrives_on_the_target() -> None:
    near = (DONGSI[0], DONGSI[1] - 0.0004)  # ~44 m south
    assert fleet.has_arrived(*near, *DONGSI)
    assert fleet.step_towards(*near, *DONGSI, speed=30.0, dt_s=0.0) == (*DONGSI, True)
    far = (DONGSI[0], DONGSI[1] - 0.001)  # ~111 m
    assert not fleet.has_arrived(*far, *DONGSI)
    # 61 m to go at 30 km/h (8.3 m/s) for 2 s (16.7 m) leaves > 50 m; for 2 s more it arrives.
    lon, lat, arrived = fleet.step_towards(*far, *DONGSI, speed=30.0, dt_s=2.0)
    assert not arrived
    assert fleet.step_towards(lon, lat, *DONGSI, speed=30.0, dt_s=6.0) == (*DONGSI, True)


def test_no_time_no_move_and_a_long_gap_is_capped() -> None:
    assert fleet.step_towards(*WANGFUJING, *DONGSI, speed=30.0, dt_s=0.0)[:2] == WANGFUJING
    assert fleet.step_towards(*WANGFUJING, *DONGSI, speed=30.0, dt_s=-5.0)[:2] == WANGFUJING
    assert fleet.step_seconds(3600.0) == fleet.MAX_STEP_S
    m = fleet.plan_move("police", "en_route", *WANGFUJING, *DONGSI, elapsed_s=3600.0)
    assert km(WANGFUJING, (m.lon, m.lat)) * 1000 == pytest.approx(30 / 3.6 * fleet.MAX_STEP_S, rel=0.01)


def test_speeds_by_kind_grid_workers_are_slower_than_vehicles() -> None:
    assert fleet.speed_kmh("police") == fleet.speed_kmh("ambulance") == fleet.speed_kmh("fire") == 30.0
    assert fleet.speed_kmh("grid") == 15.0
    assert fleet.speed_kmh("unknown") == fleet.DEFAULT_SPEED_KMH
    police = fleet.plan_move("police", "dispatched", *WANGFUJING, *DONGSI, 2.0)
    grid = fleet.plan_move("grid", "dispatched", *WANGFUJING, *DONGSI, 2.0)
    assert km(WANGFUJING, (police.lon, police.lat)) == pytest.approx(2 * km(WANGFUJING, (grid.lon, grid.lat)), rel=0.01)
    # 1.4 km at 30 km/h: under three minutes; on foot / by bike twice that.
    assert 120 < fleet.eta_seconds("police", *WANGFUJING, *DONGSI) < 180
    assert fleet.eta_seconds("grid", *WANGFUJING, *DONGSI) == pytest.approx(
        2 * fleet.eta_seconds("police", *WANGFUJING, *DONGSI))


def test_plan_move_statuses() -> None:
    m = fleet.plan_move("fire", "dispatched", *WANGFUJING, *DONGSI, 2.0)
    assert (m.status, m.arrived) == ("en_route", False) and m.remaining_m > 1000
    assert fleet.plan_move("fire", "en_route", *DONGSI, *DONGSI, 2.0) == fleet.Move(*DONGSI, "en_route", True, 0.0)
    back = fleet.plan_move("fire", "returning", *DONGSI, *WANGFUJING, 2.0)
    assert (back.status, back.arrived) == ("returning", False)
    assert fleet.plan_move("fire", "returning", *WANGFUJING, *WANGFUJING, 2.0).arrived
    for status in ("available", "on_scene", "off_duty"):
        with pytest.raises(ValueError):
            fleet.plan_move("fire", status, *WANGFUJING, *DONGSI, 2.0)


# --- the job against the database ---------------------------------------------------------------------


def dispatcher(sessions: sessionmaker[Session]) -> Actor:
    seed_users(sessions)
    with sessions() as s:
        u = s.scalars(select(User).where(User.role == "dispatch")).one()
        return Actor(u.id, u.username, u.role)


def add_unit(sessions: sessionmaker[Session], kind: str = "fire", at: tuple[float, float] = WANGFUJING) -> int:
    with session_scope(sessions) as s:
        unit = Unit(code=f"MV-{next(_codes):04d}", name=f"test {kind}", kind=kind, status="available",
                    home_lon=at[0], home_lat=at[1], lon=at[0], lat=at[1], subdistrict="110101001")
        s.add(unit)
        s.flush()
        return unit.id


def new_incident(sessions: sessionmaker[Session], actor: Actor) -> int:
    with session_scope(sessions) as s:
        res = svc.create_incident(s, {"category": "fire", "severity": 2, "title": "东四 火情", "lon": DONGSI[0],
                                      "lat": DONGSI[1]}, actor, f"create-{uuid.uuid4().hex}")
    return int(res.incident["id"])


def act(sessions: sessionmaker[Session], incident_id: int, actor: Actor, action: str, **params: Any) -> None:
    with session_scope(sessions) as s:
        svc.perform_action(s, incident_id, ActionRequest(action, **params), actor, uuid.uuid4().hex)


def unit_row(sessions: sessionmaker[Session], unit_id: int) -> Unit:
    with sessions() as s:
        unit = s.get(Unit, unit_id)
        assert unit is not None
        s.expunge(unit)
        return unit


def dispatched_at(sessions: sessionmaker[Session], unit_id: int) -> datetime:
    return unit_row(sessions, unit_id).updated_at


def test_the_job_moves_a_dispatched_unit_and_reports_its_arrival_through_the_service(
    sessions: sessionmaker[Session], r: redis.Redis
) -> None:
    actor = dispatcher(sessions)
    unit_id = add_unit(sessions, "fire")
    idle_id = add_unit(sessions, "police")
    incident_id = new_incident(sessions, actor)
    act(sessions, incident_id, actor, "dispatch", unit_id=unit_id)
    t0 = dispatched_at(sessions, unit_id)
    start_m = km(WANGFUJING, DONGSI) * 1000

    # One step 2 s after the dispatch: en route, 16.7 m nearer (30 km/h), on the straight line.
    first = fleet.run_units(r, sessions, t0 + timedelta(seconds=2))
    assert first == {"moving": 1, "moved": 1, "arrived": 0, "home": 0, "changed_meanwhile": 0}
    u = unit_row(sessions, unit_id)
    assert u.status == "en_route" and u.incident_id == incident_id
    assert start_m - km((u.lon, u.lat), DONGSI) * 1000 == pytest.approx(30 / 3.6 * 2, rel=0.02)
    assert unit_row(sessions, idle_id).lon == WANGFUJING[0]  # available units stay put

    # The same moment again (a second run, or two at once): no second step.
    fleet.run_units(r, sessions, t0 + timedelta(seconds=2))
    again = unit_row(sessions, unit_id)
    assert (again.lon, again.lat) == (u.lon, u.lat)

    # Drive on in 2 s steps until it arrives (1.4 km at 30 km/h: under 3 minutes of simulated time).
    pubsub = r.pubsub()
    pubsub.subscribe(f"dc:incidents:{r.connection_pool.connection_kwargs.get('db', 0)}")
    t = t0 + timedelta(seconds=2)
    arrived = 0
    for _ in range(200):
        t += timedelta(seconds=2)
        arrived += fleet.run_units(r, sessions, t)["arrived"]
        if unit_row(sessions, unit_id).status == "on_scene":
            break
    assert arrived == 1
    assert (t - t0).total_seconds() == pytest.approx(fleet.eta_seconds("fire", *WANGFUJING, *DONGSI), abs=4)
    u = unit_row(sessions, unit_id)
    assert (u.status, u.lon, u.lat, u.incident_id) == ("on_scene", *DONGSI, incident_id)
    with sessions() as s:
        inc = incident_reads.get_incident(s, incident_id)
        assert inc["state"] == "on_scene"
        arrive = s.scalars(select(DispatchAction).where(DispatchAction.action == "arrive")).one()
        assert (arrive.unit_id, arrive.actor_id) == (unit_id, None)
        assert arrive.idempotency_key.startswith(f"arrive:{unit_id}:{incident_id}:")
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "arrive")).one()
        assert (audit.actor, audit.outcome, audit.detail["role"]) == ("simulator", "ok", lifecycle.SYSTEM_ROLE)
    assert any(m["type"] == "message" and b'"arrive"' in m["data"] for m in iter(lambda: pubsub.get_message(
        timeout=0.2), None))
    pubsub.close()

    # On scene it stays; nothing more is recorded however often the job runs.
    assert fleet.run_units(r, sessions, t + timedelta(seconds=2))["moving"] == 0

    # Resolved: the unit heads home and becomes available there.
    act(sessions, incident_id, actor, "resolve")
    assert unit_row(sessions, unit_id).status == "returning"
    t = dispatched_at(sessions, unit_id)
    for _ in range(200):
        t += timedelta(seconds=2)
        fleet.run_units(r, sessions, t)
        if unit_row(sessions, unit_id).status != "returning":
            break
    u = unit_row(sessions, unit_id)
    assert (u.status, u.lon, u.lat, u.incident_id) == ("available", *WANGFUJING, None)
    with sessions() as s:
        assert len(s.scalars(select(DispatchAction).where(DispatchAction.action == "arrive")).all()) == 1


def test_a_unit_dispatched_meanwhile_is_not_moved_by_a_stale_step(sessions: sessionmaker[Session]) -> None:
    """A returning unit redispatched between the job's read and its write keeps the dispatcher's state."""
    actor = dispatcher(sessions)
    unit_id = add_unit(sessions, "fire")
    first = new_incident(sessions, actor)
    act(sessions, first, actor, "dispatch", unit_id=unit_id)
    act(sessions, first, actor, "arrive", unit_id=unit_id)
    act(sessions, first, actor, "resolve")
    with sessions() as s:
        stale = store_units.units_in_status(s, fleet.MOVING_STATUSES)
    assert [m.status for m in stale] == ["returning"]
    second = new_incident(sessions, actor)
    act(sessions, second, actor, "dispatch", unit_id=unit_id)
    with session_scope(sessions) as s:
        assert not store_units.update_unit_if_unchanged(s, stale[0], "available")
    u = unit_row(sessions, unit_id)
    assert (u.status, u.incident_id) == ("dispatched", second)


def test_a_unit_sent_again_after_a_reopen_arrives_again(sessions: sessionmaker[Session], r: redis.Redis) -> None:
    actor = dispatcher(sessions)
    unit_id = add_unit(sessions, "fire", at=(DONGSI[0], DONGSI[1] - 0.002))  # ~220 m away
    incident_id = new_incident(sessions, actor)
    for round_ in range(2):
        act(sessions, incident_id, actor, "dispatch", unit_id=unit_id)
        t = dispatched_at(sessions, unit_id)
        for _ in range(30):
            t += timedelta(seconds=2)
            fleet.run_units(r, sessions, t)
        assert unit_row(sessions, unit_id).status == "on_scene", round_
        act(sessions, incident_id, actor, "resolve")
        if round_ == 0:
            act(sessions, incident_id, actor, "reopen", reason="复燃")
    with sessions() as s:
        assert len(s.scalars(select(DispatchAction).where(DispatchAction.action == "arrive")).all()) == 2


def test_the_job_is_off_without_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATOR", "off")
    assert fleet.move_units() == {"status": "off"}


@pytest.mark.parametrize(("config_file", "registered"), [("simulator/cron.py", True), ("workers/cron.py", False)])
def test_only_the_demos_cron_file_registers_the_units_job(
    config_file: str, registered: bool, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner loads simulator/cron.py when the simulator is on, workers/cron.py otherwise: both register the
    product's jobs, only the demo's the units' movement (whatever SIMULATOR says: the product never imports it)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SIMULATOR", "on")
    scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
    scheduler.load_config_from_file(config_file)
    names = {job.name for job in scheduler.get_jobs()}
    assert {"dongcheng-tick", "dongcheng-deadlines", "dongcheng-history"} <= names
    jobs = [job for job in scheduler.get_jobs() if job.func is fleet.move_units]
    if not registered:
        assert jobs == [] and "dongcheng-units" not in names
        return
    [job] = jobs
    assert job.interval == fleet.UNITS_INTERVAL_S
    assert job.job_options["ttl"] <= fleet.UNITS_INTERVAL_S and job.job_options["failure_ttl"] <= 3600
