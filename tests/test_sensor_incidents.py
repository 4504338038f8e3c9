"""Incidents from sensor alarms (issue 3, item 1): the pure bands and plan, the alarm episode in the fold, and the
job against real Redis and SQL — one incident per episode, linked to its sensor, raised as the reading rises,
never re-created after a dispatcher resolved it, a new one for the next episode, nothing on a stale picture —
and a critical reading that takes over the wall."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.frames.cache import alarm_part
from dashboard.live import keys
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_INCIDENTS, AGG_STALE_AFTER_S, SensorPoint
from dashboard.services import incidents as svc
from dashboard.services.base import IDEMPOTENCY_KEY_MAX, Actor
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, Incident
from ops.tick_bench import xadd_telemetry
from tests.test_tick import event
from workers import sensor_incidents as si
from workers.sensors import fold_reading
from workers.telemetry import new_state
from workers.tick import run_tick

LON, LAT = 116.4103, 39.9122  # Wangfujing
DISPATCHER = Actor(None, "dispatcher", "dispatch")


def point(sid: str = "P1:gas", stype: str = "gas", value: float = 30.0, state: str = c.STATE_ALARM,
          since: float | None = 1000.0) -> SensorPoint:
    return SensorPoint(id=sid, type=stype, lon=LON, lat=LAT, value=value, state=state, subdistrict="110101001",
                       last_seen=since or 0.0, alarm_since=since)


# --- pure: bands and the plan ------------------------------------------------------------------------


def test_a_reading_takes_the_severity_of_the_highest_band_it_reaches() -> None:
    assert si.band("gas", 24.9) is None
    assert si.band("gas", 25) == ("gas_leak", 3, 25.0)
    assert si.band("gas", 55) == ("gas_leak", 2, 50.0)
    assert si.band("gas", 99) == ("gas_leak", 1, 75.0)
    assert si.band("water_level", 31) == ("waterlogging", 4, 30.0)
    assert si.band("manhole_tilt", 50) == ("utility", 3, 45.0)
    # Environmental alarms stay sensor alarms: no incident for PM2.5, noise or the cold chain.
    assert si.band("pm25", 900) is None and si.band("noise", 130) is None and si.band("cold_chain_temp", 30) is None


def test_the_mildest_band_follows_a_lowered_alarm_threshold_but_never_a_raised_one() -> None:
    assert si.band("gas", 21, alarm_at=20) == ("gas_leak", 3, 20.0)
    assert si.band("gas", 27, alarm_at=30) == ("gas_leak", 3, 25.0)  # state is not alarm then: plan skips it
    assert si.band("gas", 55, alarm_at=20) == ("gas_leak", 2, 50.0)
    lowered = {**c.SENSOR_TYPES, "gas": {**c.SENSOR_TYPES["gas"], "alarm": 20}}
    [todo] = si.plan([point(value=21)], {}, thresholds=lowered)
    assert isinstance(todo, si.Create) and todo.severity == 3 and todo.threshold == 20
    assert si.plan([point(value=21)], {}) == []


def test_every_rule_starts_at_its_sensor_types_alarm_threshold_and_climbs() -> None:
    for stype, (category, bands) in c.SENSOR_INCIDENT_RULES.items():
        assert category in c.INCIDENT_CATEGORIES
        assert bands[0][0] == c.SENSOR_TYPES[stype]["alarm"]
        assert [b[0] for b in bands] == sorted(b[0] for b in bands)
        assert [b[1] for b in bands] == sorted((b[1] for b in bands), reverse=True)


def test_plan_creates_for_an_unlinked_alarm_and_ignores_warnings_silence_and_other_types() -> None:
    alarms = [
        point("A:gas", value=30),
        point("B:gas", value=20, state=c.STATE_WARNING, since=None),
        point("C:gas", value=80, state=c.STATE_SILENT),
        point("D:pm25", "pm25", value=400),
        point("E:water", "water_level", value=130),
    ]
    todo = si.plan(alarms, {})
    assert [(type(a).__name__, a.sensor["id"], a.severity) for a in todo] == [("Create", "E:water", 2),
                                                                              ("Create", "A:gas", 3)]


def test_plan_raises_a_linked_incident_only_when_the_band_is_more_severe() -> None:
    linked = {"A:gas": {"id": 7, "severity": 3}, "B:gas": {"id": 8, "severity": 2}}
    todo = si.plan([point("A:gas", value=60), point("B:gas", value=30)], linked)
    assert len(todo) == 1 and isinstance(todo[0], si.Raise)
    assert (todo[0].incident_id, todo[0].severity) == (7, 2)
    # The same reading against the same incident: nothing (never lowered, never raised twice).
    assert si.plan([point("A:gas", value=30)], linked) == []


def test_the_idempotency_key_names_the_sensor_and_the_episode() -> None:
    a, b = si.Create(point(since=1000.0), "gas_leak", 3, 25), si.Create(point(since=2000.5), "gas_leak", 3, 25)
    assert a.key == "sensor-alarm:P1:gas:1000000" and b.key == "sensor-alarm:P1:gas:2000500"
    assert len(si.Raise(point(sid="x" * 60), 123456, 1, 75).key) <= IDEMPOTENCY_KEY_MAX


def test_incident_fields_name_the_place_the_sensor_and_the_reading() -> None:
    fields = si.incident_fields(si.Create(point(value=31.5), "gas_leak", 3, 25))
    place = si.place_name(LON, LAT, "110101001")
    assert place.endswith("附近") and fields["title"] == f"{place} 管廊燃气告警"
    # Far from every named place (the test point is off the map): the subdistrict names it.
    assert si.place_name(0.0, 0.0, "110101001") == geo.subdistrict_by_code()["110101001"].name_zh
    assert "P1:gas" in fields["description"] and "31.5" in fields["description"]
    assert fields["sensor_id"] == "P1:gas" and fields["severity"] == 3
    assert datetime.fromisoformat(fields["ts"]).timestamp() == 1000.0


# --- the alarm episode in the fold -------------------------------------------------------------------


def gas(ts: float, value: float, sid: str = "P1:gas") -> dict[str, Any]:
    return {"kind": c.SENSOR_READING, "sensor_id": sid, "sensor_type": "gas", "value": value, "ts": ts,
            "lon": LON, "lat": LAT, "subdistrict": "110101001"}


def test_an_alarm_episode_keeps_its_start_until_the_reading_falls_below_the_alarm_level() -> None:
    state = new_state()
    fold_reading(state, gas(10, 5))
    assert "as" not in state["sensors"]["P1:gas"]
    fold_reading(state, gas(20, 30))
    fold_reading(state, gas(30, 60))
    assert state["sensors"]["P1:gas"]["as"] == 20
    fold_reading(state, gas(40, 12))  # a warning ends the alarm episode
    assert "as" not in state["sensors"]["P1:gas"]
    fold_reading(state, gas(50, 26))
    assert state["sensors"]["P1:gas"]["as"] == 50


# --- the job against Redis and SQL -------------------------------------------------------------------


def seed_gas_sensor(sessions: sessionmaker[Session], sid: str = "P1:gas") -> None:
    with sessions.begin() as s:
        store.sensors.seed_sensors(s, [{"id": sid, "type": "gas", "pole_id": "P1", "lon": LON, "lat": LAT,
                                   "subdistrict": "110101001"}])


def send(r: redis.Redis, sessions: sessionmaker[Session], now: float, value: float, sid: str = "P1:gas") -> None:
    """One gas reading through the stream, then a tick (the aggregate the job reads)."""
    ev = event({"event_id": f"{sid}-{now}-{value}", "kind": c.SENSOR_READING, "sensor_id": sid,
                "sensor_type": "gas", "value": value, "ts": datetime.fromtimestamp(now - 0.5, UTC).isoformat()}, now)
    xadd_telemetry(r, [ev])
    assert run_tick(r, sessions, now)["status"] == "ok"


def sensor_incidents(sessions: sessionmaker[Session]) -> list[Incident]:
    with sessions() as s:
        return list(s.scalars(select(Incident).where(Incident.sensor_id.is_not(None)).order_by(Incident.id)))


def test_an_alarm_opens_one_incident_linked_to_its_sensor_however_often_the_job_runs(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    seed_gas_sensor(sessions)
    send(r, sessions, now, 30)
    assert si.run_sensor_incidents(r, sessions, now) == {"status": "ok", "created": 1, "raised": 0}
    assert si.run_sensor_incidents(r, sessions, now + 1)["created"] == 0
    [inc] = sensor_incidents(sessions)
    assert (inc.sensor_id, inc.source, inc.category, inc.severity, inc.state) == (
        "P1:gas", c.SENSOR_ALARM_SOURCE, "gas_leak", 3, "new")
    with sessions() as s:
        [audit] = s.scalars(select(AuditLog).where(AuditLog.action == lifecycle.CREATE,
                                                   AuditLog.target_id == str(inc.id))).all()
        assert audit.actor == si.ACTOR.username and audit.outcome == "ok"
    # The next tick shows it on the wall, tagged as made from a sensor.
    run_tick(r, sessions, now + 1)
    items = read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS]["data"]["items"]  # type: ignore[index]
    assert [(i["id"], i["sensor_id"]) for i in items] == [(inc.id, "P1:gas")]


def test_a_rising_reading_raises_the_severity_with_the_reading_as_the_reason(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    seed_gas_sensor(sessions)
    send(r, sessions, now, 30)
    si.run_sensor_incidents(r, sessions, now)
    send(r, sessions, now + 1, 55)
    assert si.run_sensor_incidents(r, sessions, now + 1) == {"status": "ok", "created": 0, "raised": 1}
    send(r, sessions, now + 2, 40)  # falling back is not lowering: people decide that
    assert si.run_sensor_incidents(r, sessions, now + 2) == {"status": "ok", "created": 0, "raised": 0}
    [inc] = sensor_incidents(sessions)
    assert inc.severity == 2
    with sessions() as s:
        [audit] = s.scalars(select(AuditLog).where(AuditLog.action == lifecycle.CHANGE_SEVERITY)).all()
        assert "55" in audit.detail["reason"]  # type: ignore[index]


def test_a_resolved_incident_is_not_reopened_by_the_same_episode_but_the_next_episode_opens_one(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    seed_gas_sensor(sessions)
    send(r, sessions, now, 30)
    si.run_sensor_incidents(r, sessions, now)
    [inc] = sensor_incidents(sessions)
    for action in (lifecycle.ACKNOWLEDGE, lifecycle.RESOLVE):
        with session_scope(sessions) as s:
            svc.perform_action(s, inc.id, svc.ActionRequest(action), DISPATCHER, f"{action}-{inc.id}")
    send(r, sessions, now + 1, 31)  # still the same alarm episode
    assert si.run_sensor_incidents(r, sessions, now + 1)["created"] == 0
    send(r, sessions, now + 2, 3)  # back to normal
    send(r, sessions, now + 3, 27)  # a new episode
    assert si.run_sensor_incidents(r, sessions, now + 3)["created"] == 1
    assert [i.state for i in sensor_incidents(sessions)] == ["resolved", "new"]


def test_nothing_is_done_on_a_stale_or_missing_sensors_aggregate(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    assert si.run_sensor_incidents(r, sessions, now) == {"status": "no_aggregate"}
    seed_gas_sensor(sessions)
    send(r, sessions, now, 30)
    assert si.run_sensor_incidents(r, sessions, now + AGG_STALE_AFTER_S + 1)["status"] == "stale"
    assert sensor_incidents(sessions) == []


def test_an_open_incident_from_another_source_for_the_sensor_is_not_duplicated(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    seed_gas_sensor(sessions)
    with session_scope(sessions) as s:
        svc.create_incident(s, {"category": "gas_leak", "severity": 3, "title": "燃气公司报警", "lon": LON,
                                "lat": LAT, "sensor_id": "P1:gas"}, Actor(None, "gas-co", "system"),
                            "gas-co-1")
    send(r, sessions, now, 30)
    assert si.run_sensor_incidents(r, sessions, now)["created"] == 0
    assert len(sensor_incidents(sessions)) == 1


def test_a_critical_reading_takes_over_the_wall_and_is_pushed(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    seed_gas_sensor(sessions)
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    sub = r.pubsub()
    sub.subscribe(keys.incidents_channel(db))
    sub.get_message(timeout=1)
    send(r, sessions, now, 80)  # 80 %LEL: severity I
    assert si.run_sensor_incidents(r, sessions, now)["created"] == 1
    msg = sub.get_message(timeout=2)
    assert msg is not None and json.loads(msg["data"])["action"] == "create"
    sub.close()
    run_tick(r, sessions, now + 0.5)
    banner, _ = alarm_part(read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS], None, "zh")  # as the wall's frame
    assert banner is not None
    store, content, cls, _ = banner
    [alarm] = store["alarms"]
    assert alarm["severity"] == 1 and alarm["sensor_id"] == "P1:gas"
    assert "alarm-on alarm-sev-1" in cls and "传感器告警" in json.dumps(content, default=str, ensure_ascii=False)
