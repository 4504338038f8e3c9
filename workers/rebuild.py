"""Rebuilding the history snapshots of a day from the durable telemetry, after Redis lost them.

The minute snapshots (dashboard/live/history.py) live in Redis only. Their telemetry part (sensors, traffic, parking,
crowds) can be made again from the per-minute roll-ups in SQL (workers/rollup.py): for each minute, every entity's
latest reading up to the end of that minute is folded into a fresh fold state (workers/telemetry.py, as the tick
folds the stream) and the tick's own functions compute the sensors, traffic, parking and crowd aggregates from it
(the sensors against the registry and the thresholds in force, read from SQL), then workers/history.py shapes the
snapshot. A minute's figures are those of these aggregates (traffic index, sensors online and alarming, parking,
the busiest spot); those of incidents and hotline tickets stay empty.

What a rebuilt snapshot does not hold: the incidents, hotline, KPI and early-warning aggregates, whose state at a
past minute SQL does not keep (an incident's or a ticket's history of states is not replayed here); the replay
shows those panels without data for the rebuilt minutes, and the daily report takes them from SQL as always.

Snapshots are stored only where none is (SET NX, as the history job does): a minute the live job recorded is
never replaced. Minutes within the minute retention (25 h) are stored as minute snapshots; every hour of the day
that has ended is also rolled up (workers/history.py roll_up), which is what the slider and the report read
beyond 25 h. `rebuild_day(r, sessions, day, now)` is the whole job; `dongcheng history rebuild` runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.beijing import DAY_S, date_start
from dashboard.domain.rollup import Cell, event_of
from dashboard.live import keys
from dashboard.live.history import Figures, Snapshot, minute_floor
from dashboard.live.schema import AGG_CROWD, AGG_KPI, AGG_PARKING, AGG_SENSORS, AGG_TRAFFIC
from workers.crowd import compute_crowd
from workers.history import build_snapshot, figures_of, roll_up, store_snapshot
from workers.parking import compute_parking
from workers.sensor_book import compute_sensors
from workers.sensors import Thresholds
from workers.telemetry import fold_into, new_state
from workers.traffic import compute_traffic

log = logging.getLogger(__name__)

# Readings this long before the day still make its first minutes' state (a car park that reported at 23:40 is still
# shown at midnight; a sensor or a corridor goes silent or stale within minutes).
LOOKBACK_S: Final = 3600
# A minute's state is taken at its last second, when every reading of the minute has arrived.
_AT_END_S: Final = keys.HISTORY_MINUTE_S - 1
# The KPI names a rebuilt minute has a value for (the others come from incidents and tickets).
_TELEMETRY_KPI: Final = ("sensors_online", "sensors_total", "sensors_alarming", "traffic_index",
                         "busiest_spot_ratio")


def telemetry_datas(state: Mapping[str, Any], registry: Sequence[Mapping[str, Any]], now: float,
                    thresholds: Thresholds) -> dict[str, Any]:
    """The telemetry aggregates of a fold state at `now`, computed as the tick computes them."""
    return {
        AGG_SENSORS: compute_sensors(state, registry, now, thresholds),
        AGG_TRAFFIC: compute_traffic(state, now),
        AGG_PARKING: compute_parking(state),
        AGG_CROWD: compute_crowd(state),
    }


def telemetry_figures(datas: Mapping[str, Any]) -> Figures:
    """The figures of the telemetry aggregates alone: the KPI's telemetry figures, None for the others."""
    sensors, traffic, crowd = datas[AGG_SENSORS], datas[AGG_TRAFFIC], datas[AGG_CROWD]
    busiest = crowd.get("busiest")
    kpi = {
        "sensors_online": sensors["online"], "sensors_total": sensors["total"],
        "sensors_alarming": sensors["by_state"].get(c.STATE_ALARM, 0), "traffic_index": traffic["district_index"],
        "busiest_spot_ratio": busiest["ratio"] if busiest else None,
    }
    assert set(kpi) == set(_TELEMETRY_KPI)
    return figures_of({**datas, AGG_KPI: kpi})


def rebuild_snapshots(cells: Sequence[Cell], registry: Sequence[Mapping[str, Any]], thresholds: Thresholds,
                      start: int, end: int, state: dict[str, Any] | None = None) -> list[Snapshot]:
    """The minute snapshots of the minutes in [start, end) (epoch seconds, whole minutes) from the roll-up cells of
    those minutes and of the time before them (folded into `state`, a fresh one by default, which the caller may
    carry on to the next span). A minute before any reading has none."""
    ordered = sorted(cells, key=lambda cell: (cell.minute, cell.last_at))
    state = new_state() if state is None else state
    out: list[Snapshot] = []
    i = 0
    for minute in range(start, end, keys.HISTORY_MINUTE_S):
        batch = []
        while i < len(ordered) and ordered[i].minute <= minute:
            batch.append(event_of(ordered[i]))
            i += 1
        fold_into(state, batch, thresholds)
        if not (state["sensors"] or state["corridors"] or state["lots"] or state["spots"]):
            continue
        at = minute + _AT_END_S
        datas = telemetry_datas(state, registry, at, thresholds)
        snap = build_snapshot(datas, dict.fromkeys(datas, float(at)), at)
        if snap is not None:
            snap["figures"] = telemetry_figures(datas)
            out.append(snap)
    return out


def rebuild_day(r: redis.Redis, sessions: sessionmaker[Session], day: date, now: float) -> dict[str, Any]:
    """Store the history snapshots of Beijing day `day` rebuilt from the roll-ups where Redis has none (see the
    module docstring); what was stored. An hour at a time, so that a day of 500 entities (720,000 rows) is never
    held at once."""
    start = int(date_start(day))
    end = min(start + DAY_S, minute_floor(now))  # the current minute is the live job's
    result: dict[str, Any] = {"day": day.isoformat(), "minutes": 0, "hours": 0, "rebuilt": 0}
    if end <= start:
        return result
    with sessions() as s:
        registry = store.sensors.sensor_registry(s)
        thresholds = store.settings.load_thresholds(s)
    state = new_state()
    keep_from = now - keys.HISTORY_MINUTE_KEEP_S
    for hour in range(start, end, keys.HISTORY_HOUR_S):
        until = min(hour + keys.HISTORY_HOUR_S, end)
        with sessions() as s:
            cells = store.telemetry.cells_between(s, hour - LOOKBACK_S if hour == start else hour, until)
        inside = rebuild_snapshots(cells, registry, thresholds, hour, until, state)
        result["rebuilt"] += len(inside)
        for snap in inside:
            if snap["ts"] >= keep_from and store_snapshot(r, snap):
                result["minutes"] += 1
        ended = hour + keys.HISTORY_HOUR_S + keys.HISTORY_ROLLUP_DELAY_S <= now
        if inside and ended and store_snapshot(r, roll_up(hour, inside)):
            result["hours"] += 1
    log.info("history of %s rebuilt from the telemetry roll-ups: %d minute snapshots and %d hours stored",
             result["day"], result["minutes"], result["hours"])
    return result
