"""History job: a snapshot of the aggregates every minute, hourly roll-ups, retention.

Storage, format and sizes are described in dashboard/live/history.py, which also holds the read API for the screens.
In short: ``dc:history:m:<minute>`` one snapshot a minute, kept rules.HISTORY_MINUTE_KEEP_S (25 h);
``dc:history:h:<hour>`` one roll-up an hour, kept HISTORY_HOUR_KEEP_S (30 days); both indexed by sorted sets,
with their figures in two series sorted sets for the trend charts.

Pure functions: `build_snapshot` (aggregate datas in, snapshot out), `figures_of`, `hours_to_roll_up` and
`roll_up` (which minutes make an hour, and how: the hour's last snapshot for every state, plus mean/max/min of
the figures), `expired` (what retention drops at `now`). `run_history(r, now)` is the whole job without RQ
(tests); `record_history()` the RQ entry point, registered in workers/schedule.py every HISTORY_CHECK_S
seconds. The job is idempotent: every write is "set if absent" (SET NX in one Lua script with its index entries),
so two runs in one minute, or two workers at once, store one snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, cast

import redis

from dashboard.domain import rules as c
from dashboard.live import keys
from dashboard.live.aggregates import read_aggregates
from dashboard.live.history import (
    FORMAT_VERSION,
    SNAPSHOT_AGGREGATES,
    Figures,
    Snapshot,
    decode_snapshot,
    encode_hour_figures,
    encode_minute_figures,
    encode_snapshot,
    figure_stats,
    hour_floor,
    minute_floor,
    minute_rows,
)
from dashboard.live.schema import AGG_HOTLINE, AGG_KPI, AGG_PARKING, AGG_SENSORS, AGG_TRAFFIC
from workers.clients import job_clients

log = logging.getLogger(__name__)

# Store a snapshot only if its key is absent, and only then add its index and series entries: one atomic step,
# so a snapshot is never indexed twice nor its figures stored without it.
# KEYS: snapshot, index, series. ARGV: bytes, ttl s, index score, index member, series score, series member.
_STORE_LUA: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
  return 1
end
return 0
"""
# A sensor state stored by id in a snapshot: every other sensor was normal.
_LISTED_STATES: Final = (c.STATE_WARNING, c.STATE_ALARM, c.STATE_SILENT)


# --- pure ------------------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A figure: numbers as they are, anything else None."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def figures_of(datas: Mapping[str, Any]) -> Figures:
    """The figures (dashboard.live.history.FIGURES) of a set of aggregate datas; None for what is missing."""
    kpi = datas.get(AGG_KPI) or {}
    severity = kpi.get("incidents_by_severity") or {}
    by_state = (datas.get(AGG_SENSORS) or {}).get("by_state") or {}
    hotline = datas.get(AGG_HOTLINE) or {}
    parking = datas.get(AGG_PARKING) or {}
    capacity = _num(parking.get("total_capacity"))
    occupied = _num(parking.get("total_occupied"))
    figures: Figures = {
        name: _num(kpi.get(name))
        for name in (
            "incidents_open", "incidents_overdue", "units_available", "units_total", "sensors_online",
            "sensors_total", "sensors_alarming", "traffic_index", "hotline_today", "response_rate",
            "resolution_rate", "satisfaction_rate", "busiest_spot_ratio",
        )
    }
    for sev in c.SEVERITIES:
        figures[f"incidents_sev{sev}"] = _num(severity.get(str(sev))) if kpi else None
    figures["sensors_warning"] = _num(by_state.get(c.STATE_WARNING)) if by_state else None
    figures["sensors_silent"] = _num(by_state.get(c.STATE_SILENT)) if by_state else None
    figures["hotline_overdue"] = _num(hotline.get("overdue"))
    figures["parking_ratio"] = round(occupied / capacity, 4) if capacity and occupied is not None else None
    return figures


def _sensors_part(d: Mapping[str, Any]) -> dict[str, Any]:
    """The sensors aggregate without the linking's `causes` (and `points`, which older aggregates had), with the ids
    of the sensors not normal among those points."""
    states: dict[str, list[str]] = {state: [] for state in _LISTED_STATES}
    for p in d.get("points") or ():
        if p.get("state") in states:
            states[p["state"]].append(p["id"])
    out = {k: v for k, v in d.items() if k not in ("points", "causes")}
    out["states"] = {state: sorted(ids) for state, ids in states.items() if ids}
    return out


def _traffic_part(d: Mapping[str, Any]) -> dict[str, Any]:
    """The traffic aggregate without its 3-hour series (history itself keeps the index a minute)."""
    return {k: v for k, v in d.items() if k != "series"}


def build_snapshot(datas: Mapping[str, Any], computed_at: Mapping[str, float], now: float) -> Snapshot | None:
    """The minute snapshot of the aggregate datas at `now` (None when there is no aggregate at all yet).

    `datas` is aggregate name -> data (as in the aggregate keys), `computed_at` name -> its computed_at.
    """
    present = {name: datas[name] for name in SNAPSHOT_AGGREGATES if datas.get(name) is not None}
    if not present:
        return None
    parts: dict[str, Any] = {}
    for name, data in present.items():
        if name == AGG_SENSORS:
            parts[name] = _sensors_part(data)
        elif name == AGG_TRAFFIC:
            parts[name] = _traffic_part(data)
        else:
            parts[name] = data
    return Snapshot(
        v=FORMAT_VERSION,
        ts=minute_floor(now),
        res="minute",
        taken_at=round(float(now), 3),
        computed_at={name: round(float(computed_at[name]), 3) for name in present if name in computed_at},
        figures=figures_of(present),
        aggregates=parts,
    )


def hours_to_roll_up(
    minute_times: Iterable[float], rolled: Iterable[int], now: float, delay_s: float = keys.HISTORY_ROLLUP_DELAY_S
) -> list[int]:
    """Hours (start, ascending) that have minute snapshots, have ended at least `delay_s` ago, and have no roll-up.

    The delay lets the snapshot of an hour's last minute land first (a run for 10:59 may still be writing at
    11:00:00); after it, no snapshot can join the hour, so rolling it once is final.
    """
    done = set(rolled)
    hours = {hour_floor(t) for t in minute_times}
    return sorted(h for h in hours - done if h + keys.HISTORY_HOUR_S + delay_s <= now)


def roll_up(hour: int, snapshots: Sequence[Mapping[str, Any]]) -> Snapshot:
    """The hourly roll-up of the minute snapshots of the hour starting at `hour` (others are ignored).

    Every state (aggregates, figures, computed_at) is the hour's last snapshot's: mixing minutes would draw an
    incident that was closed beside the KPI that no longer counts it. `hour` adds the mean, max and min of each
    figure over the hour's snapshots: peaks are what a command centre asks about, the mean is the trend line.
    Only the last snapshot needs its aggregates; the others may carry just `ts` and `figures`.
    """
    inside = sorted((s for s in snapshots if hour <= s["ts"] < hour + keys.HISTORY_HOUR_S), key=lambda s: s["ts"])
    if not inside:
        raise ValueError(f"no minute snapshot in the hour starting at {hour}")
    out: dict[str, Any] = dict(inside[-1])
    stats = figure_stats(s["figures"] for s in inside)
    out["res"] = "hour"
    out["hour"] = {"start": int(hour), "n": len(inside), **stats}
    return cast(Snapshot, out)


def expired(times: Iterable[float], now: float, keep_s: float) -> list[float]:
    """The times retention drops at `now`: older than `keep_s` (a time exactly `keep_s` old is kept)."""
    cutoff = now - keep_s
    return sorted(t for t in times if t < cutoff)


# --- Redis -----------------------------------------------------------------------------------------------------


def store_snapshot(r: redis.Redis, snap: Snapshot) -> bool:
    """Store a minute snapshot or an hourly roll-up unless one is there already; True when stored."""
    if snap["res"] == "hour":
        hour = snap["hour"]["start"]
        args = (keys.history_hour_key(hour), keys.HISTORY_HOURS, keys.HISTORY_SERIES_HOUR)
        ttl = keys.HISTORY_HOUR_KEEP_S + keys.HISTORY_TTL_SLACK_S
        index = (snap["ts"], str(hour))
        member = (hour, encode_hour_figures(snap))
    else:
        args = (keys.history_minute_key(snap["ts"]), keys.HISTORY_MINUTES, keys.HISTORY_SERIES_MINUTE)
        ttl = keys.HISTORY_MINUTE_KEEP_S + keys.HISTORY_TTL_SLACK_S
        index = (snap["ts"], str(snap["ts"]))
        member = (snap["ts"], encode_minute_figures(snap["ts"], snap["figures"]))
    stored = r.eval(_STORE_LUA, 3, *args, encode_snapshot(snap), ttl, *index, *member)
    return bool(stored)


def _light_rows(raws: Iterable[Any]) -> list[dict[str, Any]]:
    """Per-minute series members as light snapshots ({"ts", "figures"}) for roll_up."""
    return [{"ts": t, "figures": f} for t, f in minute_rows(raws)]


def _roll_up_stored(r: redis.Redis, hour: int) -> Snapshot | None:
    """The roll-up of a stored hour: figures from the minute series, states from its last stored snapshot."""
    lights = _light_rows(r.zrangebyscore(keys.HISTORY_SERIES_MINUTE, hour, hour + keys.HISTORY_HOUR_S - 1))
    for light in reversed(lights):
        last = decode_snapshot(r.get(keys.history_minute_key(light["ts"])))
        if last is not None:
            # Minutes after the last readable snapshot have lost theirs (deleted by hand): leave them out.
            return roll_up(hour, [row for row in lights if row["ts"] < last["ts"]] + [last])
    return None


def _prune(r: redis.Redis, minutes: list[float], hours: list[tuple[int, float]], now: float) -> tuple[int, int]:
    """Drop what retention says is past (keys, index and series entries); (minutes, hours) dropped."""
    old_minutes = [int(t) for t in expired(minutes, now, keys.HISTORY_MINUTE_KEEP_S)]
    state_time = {ts: hour for hour, ts in hours}
    old_hours = [state_time[ts] for ts in expired(state_time, now, keys.HISTORY_HOUR_KEEP_S)]
    if old_minutes or old_hours:
        pipe = r.pipeline(transaction=True)
        for m in old_minutes:
            pipe.delete(keys.history_minute_key(m))
            pipe.zrem(keys.HISTORY_MINUTES, str(m))
            pipe.zremrangebyscore(keys.HISTORY_SERIES_MINUTE, m, m)
        for h in old_hours:
            pipe.delete(keys.history_hour_key(h))
            pipe.zrem(keys.HISTORY_HOURS, str(h))
            pipe.zremrangebyscore(keys.HISTORY_SERIES_HOUR, h, h)
        pipe.execute()
    return len(old_minutes), len(old_hours)


def run_history(r: redis.Redis, now: float) -> dict[str, Any]:
    """One run: this minute's snapshot if missing, roll-ups of the hours that ended, then retention."""
    result: dict[str, Any] = {"status": "ok", "stored": None, "rolled_up": [], "pruned": {"minute": 0, "hour": 0}}
    minute = minute_floor(now)
    # Cheap check first: most runs (several a minute) find the minute done and read no aggregate.
    if not r.exists(keys.history_minute_key(minute)):
        envs = read_aggregates(r, SNAPSHOT_AGGREGATES)
        datas = {name: env["data"] for name, env in envs.items() if env is not None}
        computed = {name: float(env["computed_at"]) for name, env in envs.items() if env is not None}
        snap = build_snapshot(datas, computed, now)
        if snap is None:
            result["status"] = "no_aggregates"
        elif store_snapshot(r, snap):
            result["stored"] = minute
    pipe = r.pipeline(transaction=False)
    pipe.zrange(keys.HISTORY_MINUTES, 0, -1, withscores=True)
    pipe.zrange(keys.HISTORY_HOURS, 0, -1, withscores=True)
    minute_rows, hour_rows = pipe.execute()
    minutes = [float(score) for _, score in minute_rows]
    hours = [(int(float(member)), float(score)) for member, score in hour_rows]
    for hour in hours_to_roll_up(minutes, (h for h, _ in hours), now):
        rolled = _roll_up_stored(r, hour)
        if rolled is None:
            log.warning("hour %d has minute entries but no readable snapshot: not rolled up", hour)
        elif store_snapshot(r, rolled):
            result["rolled_up"].append(hour)
            hours.append((hour, float(rolled["ts"])))
    result["pruned"]["minute"], result["pruned"]["hour"] = _prune(r, minutes, hours, now)
    return result


def record_history() -> dict[str, Any]:
    """RQ job: one history run with the configuration from the environment (REDIS_URL)."""
    return run_history(job_clients().redis, time.time())
