"""Incidents from sensor alarms: a reading that crosses an incident band opens an incident linked to its sensor.

Every rules.SENSOR_INCIDENT_CHECK_S seconds the job reads the precomputed `sensors` aggregate (never raw
telemetry), and for every sensor in alarm whose reading reaches a band of rules.SENSOR_INCIDENT_RULES:
- with no open incident linked to the sensor, creates one (source rules.SENSOR_ALARM_SOURCE, severity of
  the band, linked by sensor_id) through the incident service, as the "system" actor;
- with one whose severity is milder than the band, raises its severity (with the reading as the reason).
A band of severity I or II is a critical alarm: its incident is new and severe, so it takes over the wall.

One alarm episode (the sensor's `alarm_since`, see workers/sensors.py) gives one incident: the idempotency key
names the sensor and the episode, so a second run, a second checker, or a dispatcher resolving the incident
while the sensor still alarms never creates another; the next episode (after the reading went back below the
alarm level) does. Severity is only ever raised by the job, never lowered: people decide that.

`plan` is the pure decision; `run_sensor_incidents(r, sessions, now)` the whole job without RQ (tests);
`check_sensor_alarms()` the RQ entry point registered in workers/schedule.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.i18n import name
from dashboard.live import publish
from dashboard.live.aggregates import read_aggregates
from dashboard.live.health import database_down_since
from dashboard.live.schema import AGG_SENSORS, AGG_STALE_AFTER_S, SensorPoint
from dashboard.services import incidents as svc
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import session_scope
from dashboard.store.models import utcnow
from dashboard.store.outage import absorb, unavailable_result
from workers.clients import job_clients

log = logging.getLogger(__name__)

ACTOR: Final = Actor(None, "system:sensor-alarms", lifecycle.SYSTEM_ROLE)
# A named place within this distance of the sensor names the incident ("王府井 附近 …"), else its subdistrict.
PLACE_NEAR_KM: Final = 0.6

Rules = Mapping[str, tuple[str, tuple[tuple[float, int], ...]]]


@dataclass(frozen=True)
class Create:
    """Open an incident for a sensor's alarm episode."""

    sensor: SensorPoint
    category: str
    severity: int
    threshold: float

    @property
    def key(self) -> str:
        """One incident per sensor and alarm episode."""
        return f"sensor-alarm:{self.sensor['id']}:{episode_ms(self.sensor)}"


@dataclass(frozen=True)
class Raise:
    """Raise the severity of the open incident linked to a sensor whose reading kept rising."""

    sensor: SensorPoint
    incident_id: int
    severity: int
    threshold: float

    @property
    def key(self) -> str:
        """One raise per incident and band."""
        return f"sensor-alarm:{self.sensor['id']}:{episode_ms(self.sensor)}:raise:{self.incident_id}:{self.severity}"


def episode_ms(p: SensorPoint) -> int:
    """The alarm episode of a sensor point as whole milliseconds (its start)."""
    return round(float(p["alarm_since"] or 0.0) * 1000)


def band(
    sensor_type: str, value: float, rules: Rules = c.SENSOR_INCIDENT_RULES, alarm_at: float | None = None
) -> tuple[str, int, float] | None:
    """(category, severity, threshold) of the highest band `value` reaches, or None below every band.

    `alarm_at` is the alarm threshold in force (the administrator's, dashboard/domain/tunables.py): the mildest band
    starts there when it is lower, so that every alarm of an incident type opens an incident.
    """
    rule = rules.get(sensor_type)
    if rule is None:
        return None
    category, bands = rule
    hit: tuple[str, int, float] | None = None
    for i, (threshold, severity) in enumerate(bands):
        start = min(float(threshold), float(alarm_at)) if i == 0 and alarm_at is not None else float(threshold)
        if value >= start:
            hit = (category, severity, start)
    return hit


def plan(
    alarms: Iterable[SensorPoint],
    open_by_sensor: Mapping[str, Mapping[str, Any]],
    rules: Rules = c.SENSOR_INCIDENT_RULES,
    thresholds: Mapping[str, Mapping[str, Any]] = c.SENSOR_TYPES,
) -> list[Create | Raise]:
    """What to do for these sensor points given the open incidents linked to sensors and the thresholds in force;
    most severe first."""
    out: list[Create | Raise] = []
    for p in alarms:
        if p.get("state") != c.STATE_ALARM or p.get("alarm_since") is None or p.get("value") is None:
            continue
        alarm_at = (thresholds.get(p["type"]) or {}).get("alarm")
        hit = band(p["type"], float(p["value"] or 0.0), rules, None if alarm_at is None else float(alarm_at))
        if hit is None:
            continue
        category, severity, threshold = hit
        linked = open_by_sensor.get(p["id"])
        if linked is None:
            out.append(Create(p, category, severity, threshold))
        elif severity < int(linked["severity"]):
            out.append(Raise(p, int(linked["id"]), severity, threshold))
    out.sort(key=lambda a: (a.severity, a.sensor["id"]))
    return out


def place_name(lon: float, lat: float, subdistrict: str) -> str:
    """The nearest named place within PLACE_NEAR_KM, else the subdistrict's name (Chinese: titles are data)."""
    best = min(geo.places(), key=lambda pl: geo.distance_km(lon, lat, pl.lon, pl.lat), default=None)
    if best is not None and geo.distance_km(lon, lat, best.lon, best.lat) <= PLACE_NEAR_KM:
        return f"{best.name_zh}附近"
    sub = geo.subdistrict_by_code().get(subdistrict)
    return sub.name_zh if sub is not None else "东城区"


def incident_fields(a: Create) -> dict[str, Any]:
    """The new incident's fields: a title a duty officer reads at a glance, the reading in the description."""
    p = a.sensor
    label = name("sensor", p["type"], "zh")
    unit = str(c.SENSOR_TYPES.get(p["type"], {}).get("unit", ""))
    roman = c.SEVERITY_ROMAN[a.severity]
    value = float(p["value"] or 0.0)
    return {
        "category": a.category,
        "severity": a.severity,
        "title": f"{place_name(p['lon'], p['lat'], p['subdistrict'])} {label}告警",
        "description": (
            f"传感器 {p['id']} 读数 {value:g} {unit}，达到 {roman} 级阈值 {a.threshold:g} {unit}；"
            f"系统根据传感器告警自动生成。"
        ),
        "lon": p["lon"],
        "lat": p["lat"],
        "sensor_id": p["id"],
        "ts": datetime.fromtimestamp(float(p["alarm_since"] or 0.0), UTC).isoformat(),
    }


def raise_reason(a: Raise) -> str:
    """Why the job raised the severity (kept in the timeline and the audit log)."""
    unit = str(c.SENSOR_TYPES.get(a.sensor["type"], {}).get("unit", ""))
    return (f"传感器 {a.sensor['id']} 读数 {float(a.sensor['value'] or 0.0):g} {unit} 达到 "
            f"{c.SEVERITY_ROMAN[a.severity]} 级阈值 {a.threshold:g} {unit} / sensor reading reached the "
            f"level-{c.SEVERITY_ROMAN[a.severity]} threshold")


def run_sensor_incidents(r: redis.Redis, sessions: sessionmaker[Session], now: float) -> dict[str, Any]:
    """One check: read the sensors aggregate, create or raise incidents, then push the changes."""
    env = read_aggregates(r, [AGG_SENSORS]).get(AGG_SENSORS)
    if env is None:
        return {"status": "no_aggregate"}
    age = now - float(env["computed_at"])
    if age > AGG_STALE_AFTER_S:
        # A stale picture may show an alarm that has ended: act only on what the sensors say now. While the tick
        # cannot read the database (which the sensors aggregate needs) that is the outage, already said once.
        if database_down_since(r) is not None:
            return unavailable_result()
        log.warning("sensor-alarm check skipped: the sensors aggregate is %.1f s old", age)
        return {"status": "stale", "age_s": round(age, 1)}
    alarms: list[SensorPoint] = env["data"].get("alarms") or []
    if not any(p.get("state") == c.STATE_ALARM for p in alarms):
        return {"status": "ok", "created": 0, "raised": 0}
    with sessions() as s:
        todo = plan(alarms, store.incidents.open_sensor_incidents(s), thresholds=store.settings.load_thresholds(s))
    changes: list[tuple[int, str]] = []
    when = datetime.fromtimestamp(now, UTC)
    for a in todo:
        # One transaction per incident: a refusal (say, a dispatcher raised it meanwhile) leaves the others.
        try:
            with session_scope(sessions) as s:
                if isinstance(a, Create):
                    res = svc.create_incident(s, incident_fields(a), ACTOR, a.key, when,
                                              source=c.SENSOR_ALARM_SOURCE, external_id=a.key)
                    kind = "create"
                else:
                    req = svc.ActionRequest(lifecycle.CHANGE_SEVERITY, severity=a.severity, reason=raise_reason(a))
                    res = svc.perform_action(s, a.incident_id, req, ACTOR, a.key, when)
                    kind = lifecycle.CHANGE_SEVERITY
        except Refused as exc:
            log.info("sensor alarm %s: %s refused (%s)", a.sensor["id"], type(a).__name__, exc.reason)
            continue
        if not res.replayed:
            changes.append((int(res.incident["id"]), kind))
            log.info("sensor alarm %s: %s incident %s at severity %s", a.sensor["id"], kind, res.incident["id"],
                     c.SEVERITY_ROMAN[a.severity])
    if changes:
        try:
            publish.notify_many(r, changes)
        except redis.RedisError:
            log.warning("sensor incidents saved but not pushed (Redis unavailable); screens see them on refresh")
    return {
        "status": "ok",
        "created": sum(1 for _, k in changes if k == "create"),
        "raised": sum(1 for _, k in changes if k != "create"),
    }


@absorb("sensor-alarm check", unavailable_result)
def check_sensor_alarms() -> dict[str, Any]:
    """RQ job: one sensor-alarm check with the configuration from the environment."""
    clients = job_clients()
    return run_sensor_incidents(clients.redis, clients.sessions, utcnow().timestamp())
