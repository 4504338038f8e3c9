"""Sensor aggregate (一杆多感): latest value and state of every sensor, alarms and silent sensors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain import season
from dashboard.domain.beijing import local_date
from dashboard.domain.events import Event
from dashboard.live.schema import SensorPoint, SensorsData

# Order of urgency used to sort alarms (most severe first).
_RANK: Final = {c.STATE_ALARM: 0, c.STATE_WARNING: 1, c.STATE_NORMAL: 2, c.STATE_SILENT: 3}
STATES: Final = (c.STATE_NORMAL, c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT)
MAX_LISTED: Final = 50
# Sensor-alarm transitions kept in the fold state for the ticker.
ALARM_LOG_LEN: Final = 30

Thresholds = Mapping[str, Mapping[str, float | str]]


def is_low(spec: Mapping[str, float | str] | None) -> bool:
    """True for a type where a LOWER reading is worse (rules.SENSOR_TYPES "direction": "low")."""
    return spec is not None and spec.get("direction") == "low"


def in_heating_season(ts: float) -> bool:
    """True when epoch time `ts` falls in Beijing's heating season (rules.HEATING_SEASON, Beijing dates)."""
    return season.in_heating_season(local_date(ts))


def in_season(spec: Mapping[str, float | str] | None, ts: float | None) -> bool:
    """True when a type's thresholds apply at `ts` (always, unless the type has a season and ts is outside it;
    an unknown time counts as in season)."""
    if spec is None or ts is None or spec.get("season") != "heating":
        return True
    return in_heating_season(ts)


def at_or_beyond(spec: Mapping[str, float | str] | None, value: float, level: float) -> bool:
    """True when `value` is at `level` or worse: >= for ordinary types, <= for a low type."""
    return value <= level if is_low(spec) else value >= level


def value_state(
    sensor_type: str, value: float, thresholds: Thresholds = c.SENSOR_TYPES, ts: float | None = None
) -> str:
    """normal / warning / alarm of one reading (taken at epoch `ts`, when known).

    Thresholds are "greater or equal": for cold-chain temperature that means warm is bad (−12 °C is a warning,
    −8 °C an alarm), which is the direction that spoils frozen food. For a type with "direction": "low" they are
    "less or equal" (warn > alarm): a heat station's supply water at 45 °C warns, at 38 °C alarms. A seasonal type
    (heat supply) is normal outside its season, whatever it reads: the loop is off, not failing.
    """
    spec = thresholds.get(sensor_type)
    if spec is None or not in_season(spec, ts):
        return c.STATE_NORMAL
    if at_or_beyond(spec, value, float(spec["alarm"])):
        return c.STATE_ALARM
    if at_or_beyond(spec, value, float(spec["warn"])):
        return c.STATE_WARNING
    return c.STATE_NORMAL


def fold_reading(state: dict[str, Any], ev: Event, thresholds: Thresholds = c.SENSOR_TYPES) -> None:
    """Fold one sensor_reading into the telemetry state (in place); log a transition into alarm (by the
    thresholds in force: the administrator's, see dashboard.services.tunables)."""
    sensors: dict[str, dict[str, Any]] = state["sensors"]
    sid = ev["sensor_id"]
    prev = sensors.get(sid)
    # Readings can arrive out of order from different gateways: an older one never replaces a newer one.
    if prev is not None and ev["ts"] < prev["ts"]:
        return
    stype, value = ev["sensor_type"], ev["value"]
    reading: dict[str, Any] = {
        "type": stype,
        "value": value,
        "ts": ev["ts"],
        "lon": ev["lon"],
        "lat": ev["lat"],
        "sd": ev.get("subdistrict") or "",
    }
    sensors[sid] = reading
    new = value_state(stype, value, thresholds, ev["ts"])
    was_alarm = prev is not None and value_state(prev["type"], prev["value"], thresholds, prev["ts"]) == c.STATE_ALARM
    if new == c.STATE_ALARM:
        # "as" (alarm since) names the alarm episode: the sensor-alarm check creates one incident per episode.
        reading["as"] = prev.get("as", prev["ts"]) if was_alarm and prev is not None else ev["ts"]
    if new == c.STATE_ALARM and not was_alarm:
        log: list[dict[str, Any]] = state["alarm_log"]
        log.append({"ts": ev["ts"], "id": sid, "type": stype, "value": value, "sd": ev.get("subdistrict") or ""})
        if len(log) > ALARM_LOG_LEN:
            del log[: len(log) - ALARM_LOG_LEN]


def sensor_state(sensor_type: str, reading: Mapping[str, Any] | None, now: float, thresholds: Thresholds) -> str:
    """State of one sensor at `now`: silent when never seen or quiet too long, else by its latest value."""
    if reading is None or now - float(reading["ts"]) > c.SENSOR_SILENT_AFTER_S:
        return c.STATE_SILENT
    return value_state(sensor_type, float(reading["value"]), thresholds, float(reading["ts"]))


def compute_sensors(
    state: Mapping[str, Any],
    registry: Iterable[Mapping[str, Any]],
    now: float,
    thresholds: Thresholds = c.SENSOR_TYPES,
) -> SensorsData:
    """The `sensors` aggregate from the fold state and the sensor registry.

    Registered sensors that never reported are silent (last_seen 0.0 means "never"); sensors that report
    without being registered are still shown, at the position of their latest reading.
    """
    readings: Mapping[str, Mapping[str, Any]] = state["sensors"]
    points: list[SensorPoint] = []
    seen: set[str] = set()
    for row in registry:
        sid = row["id"]
        seen.add(sid)
        rd = readings.get(sid)
        points.append(_point(sid, row["type"], row["lon"], row["lat"], row["subdistrict"], rd, now, thresholds))
    for sid, rd in readings.items():
        if sid not in seen:
            points.append(_point(sid, rd["type"], rd["lon"], rd["lat"], rd["sd"], rd, now, thresholds))
    points.sort(key=lambda p: p["id"])

    by_state = dict.fromkeys(STATES, 0)
    by_type = {t: dict.fromkeys(STATES, 0) for t in c.SENSOR_TYPES}
    sums: dict[str, float] = dict.fromkeys(c.SENSOR_TYPES, 0.0)
    counts: dict[str, int] = dict.fromkeys(c.SENSOR_TYPES, 0)
    for p in points:
        by_state[p["state"]] += 1
        by_type.setdefault(p["type"], dict.fromkeys(STATES, 0))[p["state"]] += 1
        if p["state"] != c.STATE_SILENT and p["value"] is not None:
            sums[p["type"]] = sums.get(p["type"], 0.0) + p["value"]
            counts[p["type"]] = counts.get(p["type"], 0) + 1
    means = {t: (round(sums[t] / counts[t], 2) if counts[t] else None) for t in sums}

    alarms = [p for p in points if p["state"] in (c.STATE_ALARM, c.STATE_WARNING)]
    alarms.sort(key=lambda p: (_RANK[p["state"]], -p["last_seen"], p["id"]))
    silent = [p for p in points if p["state"] == c.STATE_SILENT]
    silent.sort(key=lambda p: (p["last_seen"], p["id"]))
    return SensorsData(
        total=len(points),
        online=len(points) - by_state[c.STATE_SILENT],
        by_state=by_state,
        by_type=by_type,
        means=means,
        alarms=alarms[:MAX_LISTED],
        silent=silent[:MAX_LISTED],
        points=points,
    )


def _point(
    sid: str,
    stype: str,
    lon: float,
    lat: float,
    subdistrict: str,
    reading: Mapping[str, Any] | None,
    now: float,
    thresholds: Thresholds,
) -> SensorPoint:
    """One map point."""
    return SensorPoint(
        id=sid,
        type=stype,
        lon=lon,
        lat=lat,
        value=None if reading is None else reading["value"],
        state=sensor_state(stype, reading, now, thresholds),
        subdistrict=subdistrict,
        last_seen=0.0 if reading is None else reading["ts"],
        alarm_since=None if reading is None else reading.get("as"),
    )
