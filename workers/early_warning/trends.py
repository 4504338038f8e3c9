"""未诉先办 early warning: the sensor trends kept in the telemetry fold state (under "ew") after every fold.

One sample a minute of every water gauge, crowd counter and (in the heating season) heat-exchange station, the
start of each noise pole's loud run at night, and the onset of every sensor condition, so that a warning keeps its
id while it lasts. `track` is pure; the tick (workers/tick.py) calls it after its fold, and the detector
(workers/early_warning/detector.py) turns the conditions it keeps into warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.domain.beijing import DAY_S, OFFSET_S
from workers.early_warning.rules import (
    CROWD_FRESH_S,
    CROWD_KEEP_DROP,
    CROWD_MIN_RATIO,
    CROWD_RISE,
    CROWD_RISE_MIN,
    FRESH_S,
    HEAT_FALL_C,
    HEAT_FALL_MIN,
    HEAT_KEEP_RISE_C,
    HEAT_LOW_C,
    HOLD_S,
    NIGHT_FROM_H,
    NIGHT_TO_H,
    NOISE_NIGHT_DB,
    NOISE_QUIET_DB,
    NOISE_SUSTAIN_S,
    RAIN_GAUGES,
    RAIN_WET_CM,
    SERIES_MIN,
    TRACK_VERSION,
    WATER_RISE_CM,
    WATER_RISE_MIN,
    WATER_WET_CM,
    series_fall,
    series_rise,
)
from workers.sensors import in_heating_season


def _is_night(t: float) -> bool:
    """Inside the night-time construction ban (Beijing time)."""
    h = (t + OFFSET_S) % DAY_S / 3600
    return h >= NIGHT_FROM_H or h < NIGHT_TO_H


# --- tracking trends in the fold state ---------------------------------------------------------------------------


def new_track() -> dict[str, Any]:
    """The empty trend memory: per-minute series (wl: water gauges, cr: crowd ratios, hs: heat-station supply
    temperatures in season) ending at minute m, loud runs (noise pole -> since), and on: condition key ->
    [since, last time it held, reference value]."""
    return {"v": TRACK_VERSION, "m": None, "wl": {}, "cr": {}, "hs": {}, "loud": {}, "on": {}}


def _push(table: dict[str, list[float | None]], key: str, value: float | None, steps: int) -> None:
    """Append `value` for `steps` minutes (a gap repeats it) and keep the last SERIES_MIN samples."""
    series = table.setdefault(key, [])
    series.extend([value] * steps)
    del series[: max(0, len(series) - SERIES_MIN)]


def track(state: dict[str, Any], now: float) -> None:
    """Keep in the fold state, under "ew", what the trends need; call after every fold at the tick's clock."""
    ew = state.get("ew")
    if not isinstance(ew, dict) or ew.get("v") != TRACK_VERSION:
        ew = state["ew"] = new_track()
    sensors: Mapping[str, Mapping[str, Any]] = state.get("sensors") or {}
    spots: Mapping[str, Mapping[str, Any]] = state.get("spots") or {}
    minute = int(now // 60)
    last = ew["m"]
    steps = 1 if last is None else min(SERIES_MIN, minute - int(last))
    if steps > 0:
        for sid, rd in sensors.items():
            if rd.get("type") == "water_level":
                fresh = now - float(rd["ts"]) <= FRESH_S
                _push(ew["wl"], sid, round(float(rd["value"]), 1) if fresh else None, steps)
            elif rd.get("type") == "heat_supply_temp":
                ok = now - float(rd["ts"]) <= FRESH_S and in_heating_season(float(rd["ts"]))
                _push(ew["hs"], sid, round(float(rd["value"]), 1) if ok else None, steps)
        for spot, o in spots.items():
            fresh = now - float(o["ts"]) <= CROWD_FRESH_S and bool(o.get("capacity"))
            _push(ew["cr"], spot, round(o["count"] / o["capacity"], 3) if fresh else None, steps)
        ew["m"] = minute
    loud: dict[str, float] = ew["loud"]
    for sid, rd in sensors.items():
        if rd.get("type") != "noise":
            continue
        ts, value = float(rd["ts"]), float(rd["value"])
        if now - ts > FRESH_S or not _is_night(ts) or value < NOISE_QUIET_DB:
            loud.pop(sid, None)
        elif value >= NOISE_NIGHT_DB:
            loud.setdefault(sid, ts)
    on: dict[str, list[float]] = ew["on"]
    for key, ref in _conditions(ew, sensors, spots, now).items():
        entry = on.get(key)
        if entry is None:
            on[key] = [now, now, ref]
        else:
            entry[1] = now
    for key in [k for k, e in on.items() if now - e[1] > HOLD_S]:
        del on[key]


def _wet_gauges(sensors: Mapping[str, Mapping[str, Any]], now: float) -> tuple[dict[str, Mapping[str, Any]], int]:
    """The fresh water gauges, and how many of them are wet."""
    gauges = {
        sid: rd for sid, rd in sensors.items() if rd.get("type") == "water_level" and now - float(rd["ts"]) <= FRESH_S
    }
    return gauges, sum(1 for rd in gauges.values() if float(rd["value"]) >= RAIN_WET_CM)


def _conditions(
    ew: Mapping[str, Any], sensors: Mapping[str, Mapping[str, Any]], spots: Mapping[str, Mapping[str, Any]], now: float
) -> dict[str, float]:
    """The sensor conditions holding now: key "<kind>:<sensor or spot>" -> its reference value."""
    out: dict[str, float] = {}
    on: Mapping[str, list[float]] = ew["on"]
    gauges, wet = _wet_gauges(sensors, now)
    if wet < RAIN_GAUGES:
        for sid, rd in gauges.items():
            v = float(rd["value"])
            key = f"water_main:{sid}"
            if v >= WATER_WET_CM and (key in on or series_rise(ew["wl"].get(sid), v, WATER_RISE_MIN) >= WATER_RISE_CM):
                out[key] = v
    for sid, since in ew["loud"].items():
        pole = sensors.get(sid)
        if pole is None:
            continue
        key = f"noise:{sid}"
        if key in on or float(pole["ts"]) - since >= NOISE_SUSTAIN_S:
            out[key] = float(pole["value"])
    for sid, rd in sensors.items():
        if rd.get("type") != "heat_supply_temp":
            continue
        ts, v = float(rd["ts"]), float(rd["value"])
        if now - ts > FRESH_S or not in_heating_season(ts):
            continue  # out of season the loop is off: a low supply temperature is no failure
        key = f"heating:{sid}"
        entry = on.get(key)
        if entry is not None:
            if v <= entry[2] + HEAT_KEEP_RISE_C:
                out[key] = entry[2]
        elif v <= HEAT_LOW_C and series_fall(ew.get("hs", {}).get(sid), v, HEAT_FALL_MIN) >= HEAT_FALL_C:
            out[key] = v
    for spot, o in spots.items():
        if now - float(o["ts"]) > CROWD_FRESH_S or not o.get("capacity"):
            continue
        ratio = o["count"] / o["capacity"]
        key = f"crowd:{spot}"
        entry = on.get(key)
        if entry is not None:
            if ratio >= entry[2] - CROWD_KEEP_DROP:
                out[key] = entry[2]
        elif ratio >= CROWD_MIN_RATIO and series_rise(ew["cr"].get(spot), ratio, CROWD_RISE_MIN) >= CROWD_RISE:
            out[key] = round(ratio, 3)
    return out
