"""The sensors aggregate kept up to date from what changed (pure; no I/O).

A `SensorBook` holds, for every sensor, its latest reading and state, and the figures derived from them: counts by
state and type, sums for the means, the sensors in warning or alarm, the silent ones, and the map's bins
(dashboard/domain/clusters.py, whose positions are fixed by the registry). A reading moves one sensor from one
state to another and adjusts those figures; the silence sweep moves the sensors whose latest reading has just
grown too old. So a tick's cost follows the readings it folds, not how many sensors are registered (50,000 in a
city-wide roll-out); `compute_sensors` (workers/sensors.py) builds a book from scratch, which the tests compare.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from dashboard.domain import clusters as cl
from dashboard.domain import rules as c
from dashboard.domain.events import Event
from dashboard.live.schema import SensorPoint, SensorsData
from workers.sensors import ALARM_LOG_LEN, MAX_LISTED, STATES, Thresholds, state_judge

CODE: Final = cl.STATE_CODE
STATE_OF: Final = {v: k for k, v in CODE.items()}
# Sensors at a cause level listed for the linking of tickets (workers/linking/job.py), at most.
MAX_CAUSES: Final = 2_000
Cause = Callable[[str, Any, Any], bool]
# Urgency of the listed states (alarms first), as in workers/sensors.py.
_RANK: Final = {cl.ALARM: 0, cl.WARNING: 1}


class SensorBook:
    """Every sensor's latest reading and state, and the aggregate's figures, updated one reading at a time."""

    def __init__(self, registry: Iterable[Mapping[str, Any]], thresholds: Thresholds, now: float,
                 readings: Mapping[str, Mapping[str, Any]] | None = None, cause: Cause | None = None,
                 cause_types: Iterable[str] | None = None) -> None:
        """A book of the registered sensors (rows with id, type, lon, lat, subdistrict) and `readings` (id ->
        {type, value, ts, lon, lat, sd, and "as" while in alarm}, as the fold state keeps them) at `now`.

        `cause`: (type, value, ts) -> whether a reading may explain complaints (workers/linking: Rules.at_level);
        the sensors reporting such a reading are listed in `causes`; `cause_types`: the only types it can be true of
        (None: any), so that the others are not asked."""
        self.thresholds = thresholds
        self.judge = state_judge(thresholds)
        self.cause = cause
        self.cause_types = None if cause_types is None else frozenset(cause_types)
        # Sensors whose latest reading a fold changed since the caller last emptied this (the tick writes them).
        self.changed: set[str] = set()
        self.causing: set[str] = set()
        # id -> (type, lon, lat, subdistrict, cell): fixed by the registry (or by the first reading of a sensor
        # that reports without being registered).
        self.meta: dict[str, tuple[str, float, float, str, cl.Cell]] = {}
        self.readings: dict[str, dict[str, Any]] = {}
        self.code: dict[str, int] = {}
        self.by_type: dict[str, list[int]] = {t: [0, 0, 0, 0] for t in c.SENSOR_TYPES}
        self.sums: dict[str, float] = dict.fromkeys(c.SENSOR_TYPES, 0.0)
        self.nvals: dict[str, int] = dict.fromkeys(c.SENSOR_TYPES, 0)
        self.bins: dict[cl.Cell, cl.Bin] = {}
        self.flagged: set[str] = set()
        self.silent: set[str] = set()
        # Second of each reporting sensor's latest reading -> those sensors: the silence sweep's agenda.
        self.by_second: dict[int, set[str]] = {}
        self.swept: int | None = None  # every second up to this one has been swept
        self.alarm_log: list[dict[str, Any]] = []
        self._silent_list: list[SensorPoint] | None = None
        for row in registry:
            self._register(str(row["id"]), str(row["type"]), float(row["lon"]), float(row["lat"]),
                           str(row.get("subdistrict") or ""))
        self.registered = frozenset(self.meta)
        for sid, rd in (readings or {}).items():
            self.put(sid, rd, now)
        self.sweep(now)

    # --- changes ---------------------------------------------------------------------------------------------

    def _register(self, sid: str, stype: str, lon: float, lat: float, sd: str) -> None:
        """A sensor never heard from: silent, in its bin."""
        cell = cl.cell_of(lon, lat)
        self.meta[sid] = (stype, lon, lat, sd, cell)
        self.code[sid] = cl.SILENT
        self.by_type.setdefault(stype, [0, 0, 0, 0])[cl.SILENT] += 1
        b = self.bins.get(cell)
        if b is None:
            b = self.bins[cell] = cl.Bin()
        b.add(lon, lat, cl.SILENT)
        self.silent.add(sid)
        self._silent_list = None

    def _move(self, sid: str, old: int, new: int, old_value: float | None, new_value: float | None) -> None:
        """Move one sensor from state `old` (reading `old_value`) to `new` (`new_value`) in every figure."""
        stype, _, _, _, cell = self.meta[sid]
        if old == new:  # the common case, a new reading in the same state: only the sums for the means move
            if old != cl.SILENT and old_value is not None and new_value is not None:
                self.sums[stype] += new_value - old_value
            elif old != cl.SILENT:
                self._sum(stype, old_value, -1)
                self._sum(stype, new_value, 1)
            return
        counts = self.by_type[stype]
        counts[old] -= 1
        counts[new] += 1
        bc = self.bins[cell].counts
        bc[old] -= 1
        bc[new] += 1
        if old != cl.SILENT:
            self._sum(stype, old_value, -1)
        if new != cl.SILENT:
            self._sum(stype, new_value, 1)
        if old in _RANK:
            self.flagged.discard(sid)
        if new in _RANK:
            self.flagged.add(sid)
        if new == cl.SILENT:
            self.causing.discard(sid)
            self.silent.add(sid)
            self._silent_list = None
        elif old == cl.SILENT:
            self.silent.discard(sid)
            self._silent_list = None
        self.code[sid] = new

    def _sum(self, stype: str, value: float | None, sign: int) -> None:
        """Add (sign 1) or take away (-1) a reading from its type's sum and count for the mean."""
        if value is not None:
            self.sums[stype] = self.sums.get(stype, 0.0) + sign * value
            self.nvals[stype] = self.nvals.get(stype, 0) + sign

    def _place(self, sid: str, reading: dict[str, Any], now: float, state: str | None = None) -> None:
        """Make `reading` the sensor's latest (no ordering check: the caller's) and move it to its state (`state`:
        its value's, when the caller knows it)."""
        meta = self.meta.get(sid)
        if meta is None:
            self._register(sid, str(reading["type"]), float(reading["lon"]), float(reading["lat"]),
                           str(reading.get("sd") or ""))
            meta = self.meta[sid]
        readings, by_second = self.readings, self.by_second
        prev = readings.get(sid)
        ts = float(reading["ts"])
        second = int(ts)
        if prev is not None:
            was = int(prev["ts"])
            if was != second:
                sec = by_second.get(was)
                if sec is not None:
                    sec.discard(sid)
        readings[sid] = reading
        sec = by_second.get(second)
        if sec is None:
            sec = by_second[second] = set()
        sec.add(sid)
        stype = meta[0]
        value = float(reading["value"])
        if now - ts > c.SENSOR_SILENT_AFTER_S:
            new = cl.SILENT
        else:
            new = CODE[state if state is not None else self.judge(stype, value, ts)]
        old = self.code[sid]
        self._move(sid, old, new, None if prev is None else float(prev["value"]), value)
        if new == cl.SILENT:
            self._silent_list = None  # a late reading of a silent sensor changes what the list says of it
        if self.cause is not None and (self.cause_types is None or stype in self.cause_types):
            if new != cl.SILENT and self.cause(stype, value, ts):
                self.causing.add(sid)
            else:
                self.causing.discard(sid)

    def fold(self, ev: Event, now: float) -> bool:
        """Fold one sensor_reading (an older one than the sensor's latest is ignored); log a transition into
        alarm; True when it became the sensor's latest."""
        sid = ev["sensor_id"]
        prev = self.readings.get(sid)
        ts = ev["ts"]
        if prev is not None and ts < prev["ts"]:
            return False
        stype, value = ev["sensor_type"], ev["value"]
        reading: dict[str, Any] = {"value": value, "ts": ts}
        meta = self.meta.get(sid)
        if meta is None:  # reporting without being registered: it is drawn where it reports
            reading.update(type=stype, lon=ev["lon"], lat=ev["lat"], sd=ev.get("subdistrict") or "")
        state = self.judge(stype if meta is None else meta[0], value, ts)
        if state == c.STATE_ALARM:
            was_alarm = prev is not None and "as" in prev
            # "as" (alarm since) names the alarm episode: the sensor-alarm check opens one incident per episode.
            reading["as"] = prev["as"] if was_alarm and prev is not None else ts
            if not was_alarm:
                self.alarm_log.append({"ts": ts, "id": sid, "type": stype, "value": value,
                                       "sd": ev.get("subdistrict") or ""})
                if len(self.alarm_log) > ALARM_LOG_LEN:
                    del self.alarm_log[: len(self.alarm_log) - ALARM_LOG_LEN]
        self._place(sid, reading, now, state)
        self.changed.add(sid)
        return True

    def put(self, sid: str, reading: Mapping[str, Any], now: float) -> None:
        """Take a sensor's latest reading as stored (building the book; no alarm is logged). A reading of a sensor
        neither registered nor described by it is left out."""
        if sid in self.meta or "type" in reading:
            self._place(sid, dict(reading), now)

    def sweep(self, now: float) -> int:
        """Silence the sensors whose latest reading is now older than rules.SENSOR_SILENT_AFTER_S; how many."""
        limit = now - c.SENSOR_SILENT_AFTER_S
        last_whole = math.floor(limit) - 1  # every reading of these seconds is older than the limit
        seconds: Iterable[int]
        if self.swept is None or last_whole - self.swept > len(self.by_second):
            seconds = sorted(s for s in self.by_second if s <= last_whole)
        else:
            seconds = range(self.swept + 1, last_whole + 1)
        moved = 0
        for s in seconds:
            for sid in self.by_second.pop(s, ()):
                if self.code[sid] != cl.SILENT:
                    self._move(sid, self.code[sid], cl.SILENT, float(self.readings[sid]["value"]), None)
                    moved += 1
        self.swept = last_whole if self.swept is None else max(self.swept, last_whole)
        # The second the limit falls in: each of its readings on its own.
        for sid in self.by_second.get(last_whole + 1, ()):
            if self.code[sid] != cl.SILENT and float(self.readings[sid]["ts"]) < limit:
                self._move(sid, self.code[sid], cl.SILENT, float(self.readings[sid]["value"]), None)
                moved += 1
        return moved

    # --- the aggregate ---------------------------------------------------------------------------------------

    def point(self, sid: str) -> SensorPoint:
        """One sensor as the aggregate lists it."""
        stype, lon, lat, sd, _ = self.meta[sid]
        rd = self.readings.get(sid)
        return SensorPoint(
            id=sid, type=stype, lon=lon, lat=lat,
            value=None if rd is None else rd["value"],
            state=STATE_OF[self.code[sid]],
            subdistrict=sd,
            last_seen=0.0 if rd is None else rd["ts"],
            alarm_since=None if rd is None else rd.get("as"),
        )

    def _last_seen(self, sid: str) -> float:
        rd = self.readings.get(sid)
        return 0.0 if rd is None else float(rd["ts"])

    def data(self) -> SensorsData:
        """The `sensors` aggregate: counts, means, the alarm and silent lists and the map's bins."""
        by_state = dict.fromkeys(STATES, 0)
        by_type: dict[str, dict[str, int]] = {}
        for stype, counts in self.by_type.items():
            by_type[stype] = {STATE_OF[k]: n for k, n in enumerate(counts)}
            for k, n in enumerate(counts):
                by_state[STATE_OF[k]] += n
        means = {t: (round(self.sums[t] / self.nvals[t], 2) if self.nvals.get(t) else None) for t in self.sums}
        code, readings = self.code, self.readings
        alarms = heapq.nsmallest(MAX_LISTED, self.flagged,
                                 key=lambda s: (_RANK[code[s]], -float(readings[s]["ts"]), s))
        if self._silent_list is None:
            self._silent_list = [self.point(s) for s in
                                 heapq.nsmallest(MAX_LISTED, self.silent, key=lambda s: (self._last_seen(s), s))]
        total = len(self.meta)
        return SensorsData(
            total=total,
            online=total - by_state[c.STATE_SILENT],
            by_state=by_state,
            by_type=by_type,
            means=means,
            alarms=[self.point(s) for s in alarms],
            silent=list(self._silent_list),
            bins={"z": cl.MAP_ZOOM, "cells": cl.compact(self.bins)},
            causes=[self.point(s) for s in sorted(self.causing)[:MAX_CAUSES]],
        )


def compute_sensors(
    state: Mapping[str, Any],
    registry: Iterable[Mapping[str, Any]],
    now: float,
    thresholds: Thresholds = c.SENSOR_TYPES,
    cause: Cause | None = None,
) -> SensorsData:
    """The `sensors` aggregate from the fold state and the sensor registry, from scratch (the tick keeps a book up
    to date instead, and the tests compare the two).

    Registered sensors that never reported are silent (last_seen 0.0 means "never"); sensors that report
    without being registered are still shown, at the position of their latest reading.
    """
    return SensorBook(registry, thresholds, now, state["sensors"], cause).data()
