"""The sensors' latest readings as Redis keeps them (keys.SENSOR_READINGS, written by the tick: workers/sensor_sync.py)
and read by the admin page for a page of sensors at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import redis

from dashboard.live import keys


def _text(raw: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode responses)."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def encode(reading: Mapping[str, Any], where: tuple[Any, ...] | None = None) -> bytes:
    """A reading as stored: the JSON array [value, ts, alarm since] (null when not in alarm), and for a sensor that
    reports without being registered its type, lon, lat and subdistrict after them, from `where` (a registered
    one's come from the registry). orjson writes the shortest digits that read back as the same float, a fifth of
    the time of repr (the tick writes some 8,500 a second at 50,000 sensors)."""
    head = [reading["value"], reading["ts"], reading.get("as")]
    return orjson.dumps(head if where is None else head + list(where[:4]))


def decode(raw: bytes | str) -> dict[str, Any]:
    """A stored reading (encode; or "value|ts|alarm since[|type|lon|lat|subdistrict]", as stored before) as {value,
    ts, and "as" while in alarm; type, lon, lat, sd when stored}."""
    parts: list[Any] = orjson.loads(raw) if raw[:1] in (b"[", "[") else _text(raw).split("|")
    out: dict[str, Any] = {"value": float(parts[0]), "ts": float(parts[1])}
    if parts[2] not in (None, ""):
        out["as"] = float(parts[2])
    if len(parts) >= 7:
        out.update(type=parts[3], lon=float(parts[4]), lat=float(parts[5]), sd=parts[6])
    return out


def latest(r: redis.Redis, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest readings of these sensors (those never heard from are missing)."""
    wanted = list(ids)
    if not wanted:
        return {}
    return {sid: decode(raw) for sid, raw in zip(wanted, r.hmget(keys.SENSOR_READINGS, wanted), strict=True)
            if raw is not None}


def load_all(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every sensor's latest reading stored in Redis."""
    return {_text(k): decode(v) for k, v in r.hgetall(keys.SENSOR_READINGS).items()}
