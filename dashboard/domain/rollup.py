"""Telemetry rolled up per reporting entity and minute (pure, no I/O): what the durable roll-up tables hold.

A cell is one minute of one entity (a sensor, a traffic corridor, a car park, a scenic spot): how many readings,
their min, max and sum (so that averages compose over any span), and the latest reading by its own time with the
few fields needed to draw that entity again (a sensor's type and position, a car park's or a spot's capacity).
Cells merge associatively and commutatively, so rolling up the events in any split and merging the parts gives the
cell of all of them: the roll-up job (workers/rollup.py) relies on it to add each batch to the stored rows.

Each cell also carries the stream ids of the first and the last of its entries (`first_id`, `through_id`): the
job skips an entry at or before the stored row's `through_id`, which makes rolling the same entries up twice
harmless (see workers/rollup.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain import text
from dashboard.domain.events import IDENTIFIER_PATTERN

StreamId = tuple[int, int]
# (minute epoch seconds, kind, entity id)
CellKey = tuple[int, str, str]

# The id field and the value field of each telemetry kind.
ENTITY_FIELD: Final[Mapping[str, str]] = {
    c.SENSOR_READING: "sensor_id",
    c.TRAFFIC_SPEED: "corridor_id",
    c.PARKING: "lot_id",
    c.CROWD: "spot_id",
}
VALUE_FIELD: Final[Mapping[str, str]] = {
    c.SENSOR_READING: "value",
    c.TRAFFIC_SPEED: "speed_kmh",
    c.PARKING: "occupied",
    c.CROWD: "count",
}
MINUTE_S: Final = 60
# The longest texts the roll-up table holds (models.TelemetryMinute): a sensor type, a subdistrict code.
LABEL_MAX: Final = 32
SUBDISTRICT_MAX: Final = 16
_IDENTIFIER_RE: Final = re.compile(IDENTIFIER_PATTERN)


def parse_stream_id(raw: bytes | str) -> StreamId:
    """A Redis stream id ("1700000000000-3") as a comparable pair of integers."""
    value = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def format_stream_id(sid: StreamId) -> str:
    """The Redis form of a stream id."""
    return f"{sid[0]}-{sid[1]}"


@dataclass(frozen=True)
class Cell:
    """One entity's telemetry over one minute (see the module docstring)."""

    minute: int
    kind: str
    entity_id: str
    n: int
    v_min: float
    v_max: float
    v_sum: float
    last_value: float
    last_at: float
    first_id: StreamId
    through_id: StreamId
    label: str | None = None  # a sensor's type
    capacity: int | None = None  # a car park's or a scenic spot's capacity
    lon: float | None = None
    lat: float | None = None
    subdistrict: str | None = None

    @property
    def key(self) -> CellKey:
        """The cell's identity: minute, kind, entity."""
        return self.minute, self.kind, self.entity_id

    @property
    def last_order(self) -> tuple[float, float]:
        """What "latest" means: the reading's own time, then (two readings of one time) the larger value, an
        order that does not depend on how the readings were split, so that merging stays associative."""
        return self.last_at, self.last_value


def minute_of(ts: float) -> int:
    """Epoch seconds of the minute holding `ts`."""
    return int(ts // MINUTE_S) * MINUTE_S


def _number(value: Any) -> bool:
    """True for a finite JSON number (true and false are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short_text(value: Any, max_len: int) -> bool:
    """True for absent text, or a string of at most `max_len` characters that can be stored as text."""
    return value is None or (isinstance(value, str) and len(value) <= max_len and text.text_problem(value) is None)


def problem(ev: Any) -> str | None:
    """Why a stream entry cannot be rolled up, or None when it can.

    The ingest validates every event before it reaches the stream, so this is the roll-up's own guard against a
    foreign writer: an id with a NUL or a control character, a value that is not a finite number, a text longer than
    its column would otherwise fail the whole batch in SQL (and again at every retry); here it is one entry skipped.
    """
    if not isinstance(ev, Mapping):
        return "not an object"
    field = ENTITY_FIELD.get(ev.get("kind", ""))
    if field is None:
        return "not telemetry"
    entity = ev.get(field)
    if not isinstance(entity, str) or _IDENTIFIER_RE.fullmatch(entity) is None:
        return f"{field} is not an identifier"
    if not _number(ev.get("ts")):
        return "ts is not a number"
    if not _number(ev.get(VALUE_FIELD[ev["kind"]])):
        return f"{VALUE_FIELD[ev['kind']]} is not a number"
    for name in ("capacity", "lon", "lat"):
        if ev.get(name) is not None and not _number(ev[name]):
            return f"{name} is not a number"
    if not _short_text(ev.get("sensor_type"), LABEL_MAX):
        return "sensor_type is not a short text"
    if not _short_text(ev.get("subdistrict"), SUBDISTRICT_MAX):
        return "subdistrict is not a short text"
    return None


def key_of(ev: Mapping[str, Any]) -> CellKey | None:
    """The cell an event belongs to, None for an event that is not telemetry."""
    field = ENTITY_FIELD.get(ev.get("kind", ""))
    if field is None:
        return None
    return minute_of(float(ev["ts"])), ev["kind"], str(ev[field])


def cell_of(ev: Mapping[str, Any], sid: StreamId) -> Cell:
    """The cell of one telemetry event, stored under stream id `sid`."""
    kind = ev["kind"]
    value = float(ev[VALUE_FIELD[kind]])
    capacity = ev.get("capacity")
    return Cell(
        minute=minute_of(float(ev["ts"])), kind=kind, entity_id=str(ev[ENTITY_FIELD[kind]]), n=1,
        v_min=value, v_max=value, v_sum=value, last_value=value, last_at=float(ev["ts"]),
        first_id=sid, through_id=sid,
        label=ev.get("sensor_type"), capacity=None if capacity is None else int(capacity),
        lon=ev.get("lon"), lat=ev.get("lat"), subdistrict=ev.get("subdistrict"),
    )


def merge(a: Cell, b: Cell) -> Cell:
    """The cell of both cells' readings (same key): counts and sums add, min and max combine, the latest wins."""
    if a.key != b.key:
        raise ValueError(f"cells of different keys merged: {a.key} and {b.key}")
    latest = b if b.last_order > a.last_order else a
    return replace(
        latest,
        n=a.n + b.n,
        v_min=min(a.v_min, b.v_min),
        v_max=max(a.v_max, b.v_max),
        v_sum=a.v_sum + b.v_sum,
        first_id=min(a.first_id, b.first_id),
        through_id=max(a.through_id, b.through_id),
    )


def roll_up(entries: Iterable[tuple[StreamId, Mapping[str, Any]]]) -> dict[CellKey, Cell]:
    """The cells of (stream id, event) entries; events that are not telemetry are left out."""
    out: dict[CellKey, Cell] = {}
    for sid, ev in entries:
        if key_of(ev) is None:
            continue
        cell = cell_of(ev, sid)
        prev = out.get(cell.key)
        out[cell.key] = cell if prev is None else merge(prev, cell)
    return out


def merge_all(parts: Iterable[Mapping[CellKey, Cell]]) -> dict[CellKey, Cell]:
    """The cells of several roll-ups merged by key."""
    out: dict[CellKey, Cell] = {}
    for part in parts:
        for key, cell in part.items():
            prev = out.get(key)
            out[key] = cell if prev is None else merge(prev, cell)
    return out


def unapplied(
    entries: Iterable[tuple[StreamId, Mapping[str, Any]]], through: Mapping[CellKey, StreamId]
) -> list[tuple[StreamId, Mapping[str, Any]]]:
    """The entries not yet rolled into the stored cells whose latest applied entries are `through`."""
    out = []
    for sid, ev in entries:
        key = key_of(ev)
        if key is None:
            continue
        done = through.get(key)
        if done is None or sid > done:
            out.append((sid, ev))
    return out


def event_of(cell: Cell) -> dict[str, Any]:
    """The cell's latest reading as the telemetry event the tick's fold takes (to draw the entity again)."""
    ev: dict[str, Any] = {"kind": cell.kind, "ts": cell.last_at, ENTITY_FIELD[cell.kind]: cell.entity_id,
                          "lon": cell.lon, "lat": cell.lat, "subdistrict": cell.subdistrict}
    if cell.kind == c.SENSOR_READING:
        ev.update(sensor_type=cell.label, value=cell.last_value)
    elif cell.kind == c.TRAFFIC_SPEED:
        ev["speed_kmh"] = cell.last_value
    else:
        ev.update({VALUE_FIELD[cell.kind]: int(cell.last_value), "capacity": cell.capacity})
    return ev
