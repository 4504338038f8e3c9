"""The hand-written event validator as it was before the typed models: kept only as the benchmark's reference.

bench/validator.py measures dashboard.domain.events against it side by side, and tests/test_events.py checks that
both give the same events and the same reasons. Nothing in the product imports this module.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dashboard.domain import geo
from dashboard.domain import rules as c

_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_SOURCE_RE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

Event = dict[str, Any]


@dataclass
class Rejection:
    """Why one event was refused: field name -> reason."""

    index: int
    event_id: str | None
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form used in API responses."""
        return {"index": self.index, "event_id": self.event_id, "errors": self.errors}


def parse_timestamp(value: Any) -> tuple[float | None, str | None]:
    """Parse an ISO-8601 timestamp with a time zone into epoch seconds, or give a reason."""
    if not isinstance(value, str):
        return None, "must be an ISO-8601 string with a time zone, e.g. 2026-11-25T08:00:00+08:00"
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None, "is not an ISO-8601 timestamp"
    if dt.tzinfo is None or dt.utcoffset() is None:
        return None, "has no time zone; add Z or an offset such as +08:00"
    return dt.timestamp(), None


def _number(ev: Event, key: str, errors: dict[str, str], lo: float, hi: float, integer: bool = False) -> Any:
    """Read a finite number within [lo, hi] from the event, recording a reason when it is not."""
    v = ev.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        errors[key] = "is required and must be " + ("an integer" if integer else "a number")
        return None
    if integer and not isinstance(v, int) and not float(v).is_integer():
        errors[key] = "must be an integer"
        return None
    if not math.isfinite(v) or not lo <= v <= hi:
        errors[key] = f"must be between {lo:g} and {hi:g}"
        return None
    return int(v) if integer else float(v)


def _string(
    ev: Event, key: str, errors: dict[str, str], max_len: int = 128, required: bool = True
) -> str | None:
    """Read a non-empty string of bounded length."""
    v = ev.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        errors[key] = "is required and must be a non-empty string"
        return None
    if len(v) > max_len:
        errors[key] = f"must be at most {max_len} characters"
        return None
    return v.strip()


def _choice(ev: Event, key: str, errors: dict[str, str], choices: tuple[str, ...] | frozenset[str]) -> str | None:
    """Read a string that must be one of `choices`."""
    v = ev.get(key)
    if not isinstance(v, str) or v not in choices:
        errors[key] = "must be one of: " + ", ".join(sorted(choices))
        return None
    return str(v)


def _identifier(ev: Event, key: str, errors: dict[str, str]) -> str | None:
    """Read an identifier made of letters, digits and . _ : -."""
    v = ev.get(key)
    if not isinstance(v, str) or not _ID_RE.match(v):
        errors[key] = "is required: 1-128 characters of letters, digits and . _ : -"
        return None
    return v


def validate_event(raw: Any, now: float, index: int = 0) -> tuple[Event | None, Rejection | None]:
    """Validate one raw event; return the normalised event or a field-level rejection."""
    if not isinstance(raw, dict):
        return None, Rejection(index, None, {"event": "must be a JSON object"})
    errors: dict[str, str] = {}
    event_id = _identifier(raw, "event_id", errors)
    source = raw.get("source")
    if not isinstance(source, str) or not _SOURCE_RE.match(source):
        errors["source"] = "is required: 1-64 characters of letters, digits and . _ -"
    kind = _choice(raw, "kind", errors, c.EVENT_KINDS)
    ts, ts_err = parse_timestamp(raw.get("ts"))
    if ts_err:
        errors["ts"] = ts_err
    elif ts is not None:
        if ts > now + c.MAX_FUTURE_SKEW_S:
            errors["ts"] = f"is more than {c.MAX_FUTURE_SKEW_S} s in the future"
        elif kind in c.TELEMETRY_KINDS and ts < now - c.TELEMETRY_MAX_AGE_S:
            errors["ts"] = f"telemetry older than {c.TELEMETRY_MAX_AGE_S} s is no longer live"
    out: Event = {"event_id": event_id, "source": source, "kind": kind, "ts": ts}

    if kind is not None and kind not in (c.HOTLINE_UPDATE, c.INCIDENT_UPDATE):
        lon = _number(raw, "lon", errors, -180, 180)
        lat = _number(raw, "lat", errors, -90, 90)
        if lon is not None and lat is not None:
            if not geo.in_district(lon, lat):
                errors["lon"] = errors["lat"] = "point is outside Dongcheng District"
            else:
                out.update(lon=round(lon, 6), lat=round(lat, 6))
                out["subdistrict"] = geo.subdistrict_of(lon, lat)
                out["cell"] = geo.grid_cell(lon, lat)

    if kind == c.SENSOR_READING:
        out["sensor_id"] = _identifier(raw, "sensor_id", errors)
        stype = _choice(raw, "sensor_type", errors, tuple(c.SENSOR_TYPES))
        out["sensor_type"] = stype
        if stype is not None:
            spec = c.SENSOR_TYPES[stype]
            out["value"] = _number(raw, "value", errors, float(spec["min"]), float(spec["max"]))
        if raw.get("pole_id") is not None:
            out["pole_id"] = _identifier(raw, "pole_id", errors)
    elif kind == c.TRAFFIC_SPEED:
        out["corridor_id"] = _choice(raw, "corridor_id", errors, tuple(geo.corridor_by_id()))
        out["speed_kmh"] = _number(raw, "speed_kmh", errors, 0, 150)
    elif kind in (c.PARKING, c.CROWD):
        id_key, count_key = ("lot_id", "occupied") if kind == c.PARKING else ("spot_id", "count")
        out[id_key] = _choice(raw, id_key, errors, tuple(geo.place_by_id()))
        capacity = _number(raw, "capacity", errors, 1, 1_000_000, integer=True)
        count = _number(raw, count_key, errors, 0, 3_000_000, integer=True)
        if capacity is not None and count is not None and kind == c.PARKING and count > capacity:
            errors[count_key] = "must not exceed capacity"
        out["capacity"], out[count_key] = capacity, count
    elif kind == c.INCIDENT:
        out["category"] = _choice(raw, "category", errors, c.INCIDENT_CATEGORIES)
        sev = raw.get("severity")
        if type(sev) is not int or sev not in c.SEVERITIES:
            errors["severity"] = "must be 1 (I), 2 (II), 3 (III) or 4 (IV)"
        out["severity"] = sev
        out["title"] = _string(raw, "title", errors, max_len=200)
        out["description"] = _string(raw, "description", errors, max_len=2000, required=False)
        if raw.get("sensor_id") is not None:
            out["sensor_id"] = _identifier(raw, "sensor_id", errors)
    elif kind == c.INCIDENT_UPDATE:
        out["incident_id"] = _identifier(raw, "incident_id", errors)
        out["status"] = _choice(raw, "status", errors, c.INCIDENT_SOURCE_END_STATES)
    elif kind == c.HOTLINE_TICKET:
        out["ticket_id"] = _identifier(raw, "ticket_id", errors)
        out["category"] = _choice(raw, "category", errors, c.HOTLINE_CATEGORIES)
        out["summary"] = _string(raw, "summary", errors, max_len=500, required=False)
    elif kind == c.HOTLINE_UPDATE:
        out["ticket_id"] = _identifier(raw, "ticket_id", errors)
        out["status"] = _choice(raw, "status", errors, c.HOTLINE_STATUSES[1:])
        sat = raw.get("satisfied")
        if sat is not None and not isinstance(sat, bool):
            errors["satisfied"] = "must be true, false or absent"
        out["satisfied"] = sat

    if errors:
        return None, Rejection(index, event_id, errors)
    return out, None


def validate_batch(
    payload: Any, now: float, max_events: int
) -> tuple[list[tuple[int, Event]], list[Rejection], str | None]:
    """Validate one event or a batch ({"events": [...]} or a list): (position, event) pairs, rejections, body error."""
    if isinstance(payload, dict) and "events" in payload:
        items = payload["events"]
        if not isinstance(items, list):
            return [], [], "'events' must be a list of event objects"
    elif isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict):
        items = [payload]
    else:
        return [], [], "body must be an event object, a list of events, or {\"events\": [...]}"
    if not items:
        return [], [], "no events in the body"
    if len(items) > max_events:
        return [], [], f"at most {max_events} events per request"
    valid: list[tuple[int, Event]] = []
    rejected: list[Rejection] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(items):
        ev, rej = validate_event(raw, now, i)
        if rej is not None:
            rejected.append(rej)
            continue
        assert ev is not None
        key = (ev["source"], ev["event_id"])
        if key in seen:
            rejected.append(Rejection(i, ev["event_id"], {"event_id": "duplicate within this batch"}))
            continue
        seen.add(key)
        valid.append((i, ev))
    return valid, rejected, None
