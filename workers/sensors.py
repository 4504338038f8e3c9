"""Sensor aggregate (一杆多感): latest value and state of every sensor, alarms and silent sensors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain import season
from dashboard.domain.beijing import local_date
from dashboard.domain.events import Event

# Order of urgency used to sort alarms (most severe first).
_RANK: Final = {c.STATE_ALARM: 0, c.STATE_WARNING: 1, c.STATE_NORMAL: 2, c.STATE_SILENT: 3}
STATES: Final = (c.STATE_NORMAL, c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT)
MAX_LISTED: Final = 50
# Sensor-alarm transitions kept in the fold state for the ticker.
ALARM_LOG_LEN: Final = 30
# state_judge's mark of a type without thresholds.
_NO_SPEC: Final = (False, 0.0, 0.0, False)

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


def state_judge(thresholds: Thresholds = c.SENSOR_TYPES) -> Callable[[str, float, float | None], str]:
    """value_state with `thresholds` read once: (type, value, ts) -> the same state, with a few comparisons a reading
    instead of a dozen lookups (the tick judges 10,000 readings a second at 50,000 sensors)."""
    table: dict[str, tuple[bool, float, float, bool] | None] = {}
    for stype, spec in thresholds.items():
        try:
            table[stype] = (is_low(spec), float(spec["alarm"]), float(spec["warn"]), spec.get("season") == "heating")
        except (KeyError, TypeError, ValueError):
            table[stype] = None  # not a plain pair of levels: value_state says (and raises) what it makes of it

    def judge(sensor_type: str, value: float, ts: float | None) -> str:
        """The state of one reading (value_state's answer)."""
        row = table.get(sensor_type, _NO_SPEC)
        if row is _NO_SPEC:
            return c.STATE_NORMAL
        if row is None:
            return value_state(sensor_type, value, thresholds, ts)
        low, alarm, warn, seasonal = row
        if seasonal and ts is not None and not in_heating_season(ts):
            return c.STATE_NORMAL
        if low:
            return c.STATE_ALARM if value <= alarm else c.STATE_WARNING if value <= warn else c.STATE_NORMAL
        return c.STATE_ALARM if value >= alarm else c.STATE_WARNING if value >= warn else c.STATE_NORMAL

    return judge


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
