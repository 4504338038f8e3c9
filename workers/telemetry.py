"""The incremental fold of raw telemetry into a small JSON-serialisable state (pure, no I/O)."""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain.events import Event
from workers.crowd import fold_spot
from workers.parking import fold_lot
from workers.sensors import Thresholds, fold_reading
from workers.traffic import fold_speed

log = logging.getLogger(__name__)

# Bumped when the state layout changes: a state of another version is rebuilt instead of misread.
STATE_VERSION: Final = 3

_FOLDERS: Final[dict[str, Callable[[dict[str, Any], Event], None]]] = {
    c.SENSOR_READING: fold_reading,
    c.TRAFFIC_SPEED: fold_speed,
    c.PARKING: fold_lot,
    c.CROWD: fold_spot,
}


def new_state() -> dict[str, Any]:
    """The empty fold state.

    sensors: id -> latest reading {type, value, ts, lon, lat, sd, and "as": when its alarm began, while in
    alarm} (empty in the tick's state, whose readings are in Redis apart: workers/sensor_sync.py); sseq: the
    sequence number of the last tick that changed a reading there; alarm_log: latest transitions into
    alarm (for the ticker); corridors: id -> {speed, ts}; series: closed [minute, district index] pairs
    of the last 3 h and minute: the minute still open; lots / spots: id -> latest report.
    """
    return {
        "v": STATE_VERSION,
        "sensors": {},
        "sseq": 0,
        "alarm_log": [],
        "corridors": {},
        "series": [],
        "minute": None,
        "lots": {},
        "spots": {},
    }


def fold_into(
    state: dict[str, Any],
    events: Iterable[Event],
    thresholds: Thresholds | None = None,
    sensors: Callable[[Event], Any] | None = None,
) -> int:
    """Fold events into `state` in place (the fast path of the tick); return how many were skipped.

    `thresholds`: the sensor thresholds in force (dashboard.services.tunables), default the constants';
    `sensors`: where sensor readings go instead of state["sensors"] (the tick's sensor book, workers/sensor_book.py).
    """
    skipped = 0
    folders = _FOLDERS
    if sensors is None and thresholds is not None:
        folders = {**_FOLDERS, c.SENSOR_READING: functools.partial(fold_reading, thresholds=thresholds)}
    reading = c.SENSOR_READING
    for ev in events:
        kind = ev.get("kind", "")
        try:
            if sensors is not None and kind == reading:  # most events, at 50,000 sensors: no lookup, no wrapper
                sensors(ev)
                continue
            folder = folders.get(kind)
            if folder is None:
                skipped += 1
                continue
            folder(state, ev)
        except (KeyError, TypeError, ValueError):
            # The ingest validates every event, so this is a bug or a foreign writer: count it, keep folding.
            log.exception("telemetry event %r could not be folded", ev.get("event_id"))
            skipped += 1
    return skipped


def fold(state: dict[str, Any], events: Iterable[Event]) -> dict[str, Any]:
    """A new state: `state` with `events` folded in, in order (the input state is not modified)."""
    out = copy.deepcopy(state)
    fold_into(out, events)
    return out
