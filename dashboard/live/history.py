"""History of the aggregates for the time slider and the trend charts: the format and the read API.

Where it lives: in Redis, like the aggregates it keeps (rebuildable: lost with Redis, while SQL keeps every
incident and ticket, so the daily report never depends on it; its telemetry part is made again from the per-minute
roll-ups in SQL by workers/rebuild.py, `dongcheng history rebuild`). workers/history.py writes it every
rules.HISTORY_CHECK_S seconds; the screens read it through the functions below, never raw data.

Keys (dashboard/live/keys.py):

- ``dc:history:m:<minute>``: one snapshot a minute (epoch seconds of the minute), zlib-compressed canonical JSON,
  with a TTL of rules.HISTORY_MINUTE_KEEP_S (25 h: the slider's 24 h plus an hour, so that "the same minute
  yesterday" is still at minute resolution) + HISTORY_TTL_SLACK_S. About 8 KB in Redis with 400 sensors and
  60 open incidents (34 KB of JSON), so the 1,500 of 25 h hold about 12 MB.
- ``dc:history:h:<hour>``: the hourly roll-up of each completed hour, same format, kept 30 days
  (HISTORY_HOUR_KEEP_S): 720 of them, about 6 MB.
- ``dc:history:minutes`` / ``dc:history:hours``: sorted sets indexing them by the time of their state.
- ``dc:history:series:minute`` / ``dc:history:series:hour``: the small figures (FIGURES, about 120 bytes a minute)
  per snapshot and per hour (about 0.3 MB and 0.4 MB), so that trend charts never open a snapshot.

A snapshot (:class:`Snapshot`) holds every aggregate but the ticker (a log of events, not a state) in the
aggregates' own shapes, so the wall's renderers replay it unchanged, less what is large and rebuildable: the
sensors' ``points`` are stored as ``states`` (ids of the sensors not normal, by state; positions never move)
and are rebuilt on read from the live sensors aggregate; the traffic ``series`` is rebuilt from the history's
own per-minute traffic index. An hourly roll-up is its hour's *last* minute snapshot (so every layer and list is
one consistent picture, the state the hour ended in, continuous with the next hour) plus, in ``hour``, the mean,
max and min of every figure over the hour's minutes (peaks matter to a command centre: the worst traffic, the
most incidents open at once; the mean is the typical level for a trend line).

Read API (every function takes the Redis client and epoch seconds; times returned are epoch seconds):

- ``snapshot_at(r, ts, *, tolerance_s=None) -> dict | None``: the latest snapshot (a :class:`Snapshot`) whose
  state is at or before ``ts`` (minute resolution within 25 h, hourly beyond); None when there is none, or none
  within ``tolerance_s``.
- ``snapshot_times(r, since, until) -> list[int]``: the times of every snapshot in [since, until] (slider marks).
- ``figures_at(r, ts, *, tolerance_s=None) -> Figures | None``: only the figures at ``ts``, cheaply.
- ``kpi_series(r, since, until) -> list[tuple[int, Figures]]``: the figures at the finest resolution kept.
- ``series(r, field, since, until, *, resolution="hour", stat="mean") -> list[tuple[int, float | None]]``: one
  figure per minute, or per hour with a statistic (the current hour computed from its minutes so far).
- ``day_by_hour(r, field, day0, stat="mean") -> list[float | None]``: 24 hourly values of a Beijing day.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NotRequired, TypedDict

import redis

from dashboard.domain import rules as c
from dashboard.live import keys
from dashboard.live.aggregates import canonical_json
from dashboard.live.aggregates import loads as _loads
from dashboard.live.schema import (
    AGG_CROWD,
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_KPI,
    AGG_PARKING,
    AGG_SENSORS,
    AGG_TRAFFIC,
    AGG_WARNINGS,
)

# Version of the stored snapshot format; a snapshot of another version is ignored.
FORMAT_VERSION: Final = 1
# The aggregates a snapshot keeps (the ticker is a log of recent events, not a state to replay); the early
# warnings too, so that the slider shows what was being warned of then.
SNAPSHOT_AGGREGATES: Final = (
    AGG_KPI, AGG_SENSORS, AGG_INCIDENTS, AGG_TRAFFIC, AGG_PARKING, AGG_CROWD, AGG_HOTLINE,
    AGG_WARNINGS,
)
# The figures of every snapshot, for trend charts and KPI comparisons. Stored as lists in this order, so the
# tuple is append-only: a name added at the end reads as None in older entries.
FIGURES: Final = (
    "incidents_open", "incidents_overdue", "incidents_sev1", "incidents_sev2", "incidents_sev3", "incidents_sev4",
    "units_available", "units_total",
    "sensors_online", "sensors_total", "sensors_alarming", "sensors_warning", "sensors_silent",
    "traffic_index", "hotline_today", "hotline_overdue", "response_rate", "resolution_rate", "satisfaction_rate",
    "busiest_spot_ratio", "parking_ratio",
)
# Statistics of an hourly roll-up; "last" is the figure at the hour's last snapshot.
STATS: Final = ("mean", "max", "min", "last")
RESOLUTIONS: Final = ("minute", "hour")
# Tolerances for snapshot_at / figures_at: a snapshot this much older than the asked time still counts as "then".
MINUTE_TOLERANCE_S: Final = 2 * keys.HISTORY_MINUTE_S
HOUR_TOLERANCE_S: Final = keys.HISTORY_HOUR_S + 2 * keys.HISTORY_MINUTE_S
# Length of the traffic series rebuilt into a replayed traffic aggregate (as workers/traffic.py keeps it live).
TRAFFIC_SERIES_S: Final = 3 * 3600

Figures = dict[str, float | None]


class HourStats(TypedDict):
    """What an hourly roll-up adds: its hour and the statistics of every figure over its minute snapshots."""

    start: int  # epoch seconds of the hour
    n: int  # minute snapshots rolled up
    mean: Figures
    max: Figures
    min: Figures


class Snapshot(TypedDict):
    """One snapshot of the aggregates, as stored (sensors with `states`) or as read (sensors with `points`)."""

    v: int  # FORMAT_VERSION
    ts: int  # epoch seconds of the minute whose state it holds (a multiple of 60)
    res: str  # "minute" | "hour"
    taken_at: float  # when the job took it (within the minute `ts`)
    computed_at: dict[str, float]  # aggregate -> its computed_at then (the replay can show what was stale)
    figures: Figures  # FIGURES at `ts`
    aggregates: dict[str, Any]  # aggregate name -> data in keys.*Data shape (see the module docstring)
    hour: NotRequired[HourStats]  # hourly roll-ups only


# --- pure helpers shared by the writer (workers/history.py) and the readers -------------------------------------


def minute_floor(ts: float) -> int:
    """Epoch seconds of the minute containing `ts`."""
    return int(ts // keys.HISTORY_MINUTE_S * keys.HISTORY_MINUTE_S)


def hour_floor(ts: float) -> int:
    """Epoch seconds of the hour containing `ts` (Beijing hours: UTC+8 is a whole number of hours)."""
    return int(ts // keys.HISTORY_HOUR_S * keys.HISTORY_HOUR_S)


def encode_snapshot(snap: Mapping[str, Any]) -> bytes:
    """The stored bytes of a snapshot: zlib-compressed canonical JSON (equal snapshots give equal bytes)."""
    return zlib.compress(canonical_json(snap).encode("utf-8"), 6)


def decode_snapshot(raw: Any) -> dict[str, Any] | None:
    """A stored snapshot, or None when missing, unreadable or of another format version.

    The bytes are compressed: read them with a client that does not decode responses (dashboard.live.connections's).
    """
    if not isinstance(raw, bytes):
        return None
    try:
        doc = _loads(zlib.decompress(raw))
    except (zlib.error, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("v") == FORMAT_VERSION else None


def figures_list(figures: Mapping[str, float | None]) -> list[float | None]:
    """Figures as a list in FIGURES order (the compact stored form)."""
    return [figures.get(name) for name in FIGURES]


def figures_dict(values: Sequence[Any]) -> Figures:
    """Figures from their stored list (missing trailing names read as None)."""
    return {name: (values[i] if i < len(values) else None) for i, name in enumerate(FIGURES)}


def encode_minute_figures(ts: int, figures: Mapping[str, float | None]) -> str:
    """The member of the per-minute series: ``[ts, figure, …]`` (unique per minute, as `ts` leads it)."""
    return json.dumps([ts, *figures_list(figures)], separators=(",", ":"), allow_nan=False)


def encode_hour_figures(snap: Mapping[str, Any]) -> str:
    """The member of the hourly series for a roll-up: its hour, state time, count and statistics."""
    hour = snap["hour"]
    doc = {
        "h": hour["start"], "ts": snap["ts"], "n": hour["n"], "last": figures_list(snap["figures"]),
        **{stat: figures_list(hour[stat]) for stat in ("mean", "max", "min")},
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


def figure_stats(rows: Iterable[Mapping[str, float | None]]) -> dict[str, Figures]:
    """Mean, max and min of every figure over `rows` (None values skipped; None where a figure has no value)."""
    values: dict[str, list[float]] = {name: [] for name in FIGURES}
    for row in rows:
        for name in FIGURES:
            v = row.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                values[name].append(v)
    return {
        "mean": {k: (round(sum(v) / len(v), 4) if v else None) for k, v in values.items()},
        "max": {k: (max(v) if v else None) for k, v in values.items()},
        "min": {k: (min(v) if v else None) for k, v in values.items()},
    }


def expand_snapshot(
    stored: Mapping[str, Any],
    live_points: Sequence[Mapping[str, Any]],
    traffic_series: Sequence[tuple[int, float]] = (),
) -> dict[str, Any]:
    """A stored snapshot with its sensors' `points` and traffic `series` rebuilt, ready for the renderers.

    Points: every sensor of `live_points` (the live sensors aggregate: positions never move) with its state at
    the snapshot (normal unless listed in `states`); value, last_seen and alarm_since are those of the snapshot's
    alarm and silent lists for the sensors listed there, else value and alarm_since None and the live last_seen.
    """
    snap: dict[str, Any] = dict(stored)
    aggs = dict(stored.get("aggregates") or {})
    sensors = aggs.get(AGG_SENSORS)
    if isinstance(sensors, Mapping):
        state_of = {sid: state for state, ids in (sensors.get("states") or {}).items() for sid in ids}
        listed = {p["id"]: p for p in [*(sensors.get("silent") or []), *(sensors.get("alarms") or [])]}
        points: list[dict[str, Any]] = []
        for p in live_points:
            if p["id"] in listed:
                points.append({**p, **listed.pop(p["id"])})
            else:
                points.append({**p, "state": state_of.get(p["id"], c.STATE_NORMAL), "value": None,
                               "alarm_since": None})
        points.extend(listed.values())  # listed then, gone from the registry since: still drawn where they were
        points.sort(key=lambda p: str(p["id"]))
        aggs[AGG_SENSORS] = {**sensors, "points": points}
    traffic = aggs.get(AGG_TRAFFIC)
    if isinstance(traffic, Mapping):
        aggs[AGG_TRAFFIC] = {**traffic, "series": [[float(t), float(v)] for t, v in traffic_series]}
    snap["aggregates"] = aggs
    return snap


# --- reading ----------------------------------------------------------------------------------------------------


def _text(raw: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode responses)."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _check(field: str | None = None, stat: str | None = None, resolution: str | None = None) -> None:
    """Refuse an unknown figure, statistic or resolution with a clear message."""
    if field is not None and field not in FIGURES:
        raise ValueError(f"unknown history figure {field!r}; one of {', '.join(FIGURES)}")
    if stat is not None and stat not in STATS:
        raise ValueError(f"unknown statistic {stat!r}; one of {', '.join(STATS)}")
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; one of {', '.join(RESOLUTIONS)}")


def _candidates(r: redis.Redis, ts: float, count: int = 2) -> list[tuple[float, int, str]]:
    """(state time, preference, key) of the latest minute and hourly snapshots at or before `ts`, latest first.

    At equal times the minute snapshot comes first: it is the same state, without waiting for a roll-up.
    """
    pipe = r.pipeline(transaction=False)
    pipe.zrevrangebyscore(keys.HISTORY_MINUTES, ts, "-inf", start=0, num=count, withscores=True)
    pipe.zrevrangebyscore(keys.HISTORY_HOURS, ts, "-inf", start=0, num=count, withscores=True)
    minutes, hours = pipe.execute()
    out = [(float(score), 1, keys.history_minute_key(int(float(score)))) for _, score in minutes]
    out += [(float(score), 0, keys.history_hour_key(int(float(_text(member))))) for member, score in hours]
    out.sort(reverse=True)
    return out


def _live_points(raw: bytes | str | None) -> list[dict[str, Any]]:
    """The points of a stored sensors aggregate envelope (empty when missing or unreadable)."""
    if raw is None:
        return []
    try:
        env = _loads(raw)
    except ValueError:
        return []
    points = (env.get("data") or {}).get("points") if isinstance(env, dict) else None
    return list(points) if isinstance(points, list) else []


def snapshot_at(r: redis.Redis, ts: float, *, tolerance_s: float | None = None) -> dict[str, Any] | None:
    """The latest snapshot (shaped as :class:`Snapshot`) whose state is at or before `ts`, expanded for the
    renderers (see expand_snapshot).

    Minute resolution within rules.HISTORY_MINUTE_KEEP_S, hourly (the hour's last state) beyond. None when
    history holds nothing at or before `ts`, or (with `tolerance_s`) nothing from `ts - tolerance_s` on: the
    caller then says "no snapshot" instead of showing a much older picture. Two round trips, about a millisecond.
    """
    for found, _, key in _candidates(r, ts):
        if tolerance_s is not None and ts - found > tolerance_s:
            return None
        start = found - TRAFFIC_SERIES_S
        pipe = r.pipeline(transaction=False)
        pipe.get(key)
        pipe.get(keys.agg_key(AGG_SENSORS))
        pipe.zrangebyscore(keys.HISTORY_SERIES_MINUTE, start, found)
        pipe.zrangebyscore(keys.HISTORY_SERIES_HOUR, hour_floor(start), found)
        raw, sensors_raw, minute_raw, hour_raw = pipe.execute()
        stored = decode_snapshot(raw)
        if stored is None:
            continue  # expired between the index and the read (or unreadable): the next older one
        traffic = [(t, float(v)) for t, f in _merge_series(minute_raw, hour_raw, start, found)
                   if (v := f["traffic_index"]) is not None]
        return expand_snapshot(stored, _live_points(sensors_raw), traffic)
    return None


def snapshot_times(r: redis.Redis, since: float, until: float) -> list[int]:
    """Times (epoch seconds, ascending) of every snapshot whose state lies in [since, until]: the slider's marks.

    Within the minute retention these are minutes; older ones are the hourly roll-ups (each at its hour's last
    snapshot, e.g. 09:59 for the 09:00 hour).
    """
    pipe = r.pipeline(transaction=False)
    pipe.zrangebyscore(keys.HISTORY_MINUTES, since, until, withscores=True)
    pipe.zrangebyscore(keys.HISTORY_HOURS, since, until, withscores=True)
    minutes, hours = pipe.execute()
    return sorted({int(float(score)) for _, score in (*minutes, *hours)})


def minute_rows(raws: Iterable[Any]) -> list[tuple[int, Figures]]:
    """Decoded per-minute series members, ascending."""
    out = []
    for raw in raws:
        values = _loads(raw)
        out.append((int(values[0]), figures_dict(values[1:])))
    out.sort(key=lambda row: row[0])
    return out


def hour_rows(raws: Iterable[Any]) -> list[dict[str, Any]]:
    """Decoded hourly series members ({"h", "ts", "n", "last", "mean", "max", "min"}), ascending by hour."""
    out: list[dict[str, Any]] = []
    for raw in raws:
        doc = _loads(raw)
        out.append({"h": int(doc["h"]), "ts": int(doc["ts"]), "n": int(doc["n"]),
                    **{stat: figures_dict(doc[stat]) for stat in STATS}})
    out.sort(key=lambda row: row["h"])
    return out


def figures_at(r: redis.Redis, ts: float, *, tolerance_s: float | None = None) -> Figures | None:
    """The figures of the latest snapshot at or before `ts` (from the series: no snapshot is opened).

    For a KPI card's "against the same time yesterday": ``figures_at(r, now - 86400, tolerance_s=
    MINUTE_TOLERANCE_S)``. None as for snapshot_at.
    """
    pipe = r.pipeline(transaction=False)
    pipe.zrevrangebyscore(keys.HISTORY_SERIES_MINUTE, ts, "-inf", start=0, num=1)
    # Hourly entries are scored by their hour: the hour containing `ts` may end after it, so look at two.
    pipe.zrevrangebyscore(keys.HISTORY_SERIES_HOUR, ts, "-inf", start=0, num=2)
    minute_raw, hour_raw = pipe.execute()
    found: list[tuple[int, Figures]] = minute_rows(minute_raw)
    found += [(row["ts"], row["last"]) for row in hour_rows(hour_raw) if row["ts"] <= ts]
    if not found:
        return None
    when, figures = max(found, key=lambda row: row[0])
    if tolerance_s is not None and ts - when > tolerance_s:
        return None
    return figures


def _merge_series(
    minute_raw: Iterable[Any], hour_raw: Iterable[Any], since: float, until: float
) -> list[tuple[int, Figures]]:
    """Minute rows, preceded by the hourly rows ("last" figures at their state time) older than the first minute."""
    minutes = minute_rows(minute_raw)
    first = minutes[0][0] if minutes else math.inf
    hours = [(row["ts"], row["last"]) for row in hour_rows(hour_raw) if since <= row["ts"] <= until]
    return [row for row in hours if row[0] < first] + minutes


def kpi_series(r: redis.Redis, since: float, until: float) -> list[tuple[int, Figures]]:
    """(time, figures) of every snapshot in [since, until], ascending, at the finest resolution kept.

    Minutes where the minute series reaches; before its first entry, one point per hour at the hour's last
    snapshot (its "last" figures). Fields are FIGURES (the KPI names, e.g. "incidents_open", plus a few).
    """
    pipe = r.pipeline(transaction=False)
    pipe.zrangebyscore(keys.HISTORY_SERIES_MINUTE, since, until)
    pipe.zrangebyscore(keys.HISTORY_SERIES_HOUR, hour_floor(since), until)
    minute_raw, hour_raw = pipe.execute()
    return _merge_series(minute_raw, hour_raw, since, until)


def series(
    r: redis.Redis, field: str, since: float, until: float, *, resolution: str = "hour", stat: str = "mean"
) -> list[tuple[int, float | None]]:
    """One figure over [since, until], ascending: per minute (stat ignored), or per hour with `stat`.

    resolution "minute": (minute, value) from the minute series (kept rules.HISTORY_MINUTE_KEEP_S).
    resolution "hour": (hour start, stat of the figure over that hour), stat one of STATS, for every hour starting
    in [hour_floor(since), until] that has data; an hour not rolled up yet (the current one) is computed from
    its minute snapshots so far, so "today" reaches the current hour.
    """
    _check(field, stat, resolution)
    if resolution == "minute":
        raws = r.zrangebyscore(keys.HISTORY_SERIES_MINUTE, since, until)
        return [(t, f[field]) for t, f in minute_rows(raws)]
    hours = hour_rows(r.zrangebyscore(keys.HISTORY_SERIES_HOUR, hour_floor(since), until))
    out: dict[int, float | None] = {row["h"]: row[stat][field] for row in hours}
    # Every hour with minute snapshots is rolled up a minute after it ends, so only the hours after the last
    # rolled one can be pending: read the minutes from there (not the whole range).
    start = max(hour_floor(since), hours[-1]["h"] + keys.HISTORY_HOUR_S) if hours else hour_floor(since)
    pending: dict[int, list[Figures]] = {}
    if start <= until:
        for t, f in minute_rows(r.zrangebyscore(keys.HISTORY_SERIES_MINUTE, start, until)):
            pending.setdefault(hour_floor(t), []).append(f)
    for hour, rows in pending.items():
        out[hour] = rows[-1][field] if stat == "last" else figure_stats(rows)[stat][field]
    return sorted(out.items())


def day_by_hour(r: redis.Redis, field: str, day0: float, stat: str = "mean") -> list[float | None]:
    """24 values of `field` for the day starting at `day0` (dashboard.domain.beijing.day_start), None where none.

    Today against yesterday: ``day_by_hour(r, f, day_start(now))`` and ``day_by_hour(r, f, day_start(now) - 86400)``.
    """
    values: list[float | None] = [None] * 24
    for hour, v in series(r, field, day0, day0 + 86_400 - 1, resolution="hour", stat=stat):
        i = int((hour - day0) // keys.HISTORY_HOUR_S)
        if 0 <= i < 24:
            values[i] = v
    return values
