"""The daily report's traffic from the durable telemetry (pure): the district index of every minute computed from the
corridors' latest speeds in the per-minute roll-ups (workers/rollup.py), as the tick computed it then (at the
minute's end, a corridor silent for CORRIDOR_STALE_AFTER_S left out), so that the report has its traffic peaks
when Redis lost the history snapshots it reads first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.rollup import MINUTE_S, Cell
from dashboard.domain.traffic import CORRIDOR_STALE_AFTER_S, corridor_index, district_index, free_flow
from dashboard.report.build import CorridorIndex, TrafficPeaks, traffic_peaks

# A minute's state is its last second's, when every reading of the minute is in.
_AT_END_S: Final = MINUTE_S - 1
# How far before the day the roll-ups are read: a corridor's speed counts this long after it was reported.
LOOKBACK_S: Final = CORRIDOR_STALE_AFTER_S


def minute_indexes(cells: Iterable[Cell], start: float, end: float) -> list[tuple[int, float]]:
    """(minute, district index at the minute's end) for the whole minutes in [start, end) from the first corridor
    speed on, as the tick's history would hold them (0 once every corridor is silent); cells of other kinds are
    ignored."""
    ordered = sorted((cell for cell in cells if cell.kind == c.TRAFFIC_SPEED), key=lambda cell: (cell.minute,
                                                                                                 cell.last_at))
    latest: dict[str, dict[str, Any]] = {}
    out: list[tuple[int, float]] = []
    i = 0
    first = int(start // MINUTE_S * MINUTE_S)
    for minute in range(first, int(end // MINUTE_S * MINUTE_S), MINUTE_S):
        while i < len(ordered) and ordered[i].minute <= minute:
            cell = ordered[i]
            prev = latest.get(cell.entity_id)
            if prev is None or cell.last_at >= prev["ts"]:
                latest[cell.entity_id] = {"speed": cell.last_value, "ts": cell.last_at}
            i += 1
        if latest:
            out.append((minute, district_index(latest, minute + _AT_END_S)))
    return out


def corridors_at(cells: Iterable[Cell], at: float, top: int) -> tuple[CorridorIndex, ...]:
    """The `top` worst corridors at the end of the minute holding `at`, ordered as the traffic aggregate orders them
    (those with a current speed first, worst first)."""
    minute_end = int(at // MINUTE_S * MINUTE_S) + _AT_END_S
    latest: dict[str, Cell] = {}
    for cell in cells:
        if cell.kind == c.TRAFFIC_SPEED and cell.last_at <= minute_end:
            prev = latest.get(cell.entity_id)
            if prev is None or cell.last_at >= prev.last_at:
                latest[cell.entity_id] = cell
    rows: list[tuple[bool, float, str, CorridorIndex]] = []
    for cor in geo.corridors():
        found = latest.get(cor.id)
        fresh = found is not None and minute_end - found.last_at <= CORRIDOR_STALE_AFTER_S
        index = corridor_index(found.last_value, free_flow(cor.id)) if found is not None and fresh else 0.0
        rows.append((not fresh, -index, cor.id, CorridorIndex(cor.name_zh, cor.name_en, index)))
    rows.sort(key=lambda row: row[:3])
    return tuple(row[3] for row in rows[:top])


def traffic_from_rollups(cells: Iterable[Cell], start: float, end: float, top: int) -> TrafficPeaks | None:
    """The traffic peaks of [start, end) (a day, or its part until the current minute) and the worst corridors at
    the peak, from the roll-ups (None without any speed then)."""
    cells = list(cells)
    peaks = traffic_peaks(minute_indexes(cells, start, end), (), start, end)
    if peaks is None:
        return None
    return dataclasses.replace(peaks, corridors=corridors_at(cells, peaks.peak.at, top))
