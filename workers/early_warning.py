"""未诉先办 early warning: score every grid cell and subdistrict for an emerging problem before the complaints come.

Evidence, each turned into a score in 0–1 with its reasons in Chinese and English:

- **Sensor trends**, kept by `track` in the telemetry fold state (under ``"ew"``) after every fold: one sample a
  minute of every water gauge and crowd counter (the last 30 minutes), the start of each noise pole's loud run at
  night, and the onset of every sensor condition (so that a warning keeps its id while it lasts):
  - *water_main*: a gauge at ≥ 2 cm that rose ≥ 1.5 cm within 15 minutes while the other gauges are dry (three
    or more wet gauges at once is rain, which the waterlogging incident rules already handle); a tilted manhole
    cover within 600 m adds to it.
  - *noise*: a noise pole at ≥ 72 dB(A) for 3 minutes or more during the night-time construction ban
    (22:00–06:00).
  - *heating*: a heat-exchange station's supply water down by ≥ 6 °C within 20 minutes, to at most 50 °C, in the
    heating season (15 Nov – 15 Mar; out of season the loop is off and a low reading means nothing).
  - *crowd*: a scenic spot's or business district's crowd up by ≥ 20 % of its capacity within 20 minutes, to at
    least 45 % (the opening-hour ramps of the busiest spots rise about half as fast).
- **Recent tickets against a seasonal baseline**: the tickets expected in a place, category and hour of the week
  are ``hourly[hour of week] × share of the category (last 3 days) × share of the place within the category
  (last 4 weeks)``, each learned from SQL (`learn_baseline`, every 10 minutes by the RQ job `refresh_baseline`)
  and shrunk towards priors (the district's published daily rhythm, population) where the weeks say little.
  Every grid cell and every 2×2 block of cells (an estate straddles cell borders), and every subdistrict, is
  scanned over the last 30 and 60 minutes per category: the anomaly is the Poisson tail probability P(N ≥ n) of
  the count n observed given the count expected; below `P_WARN` (cells) or `P_WARN_SUBDISTRICT` it warns.
- **Alarm bursts**: two or more sensors going into alarm in the warning's subdistrict within 30 minutes.

A warning's score is ``1 − Π(1 − s)`` over its pieces of evidence; tickets near a sensor warning of the category it
predicts support it instead of warning twice, and a subdistrict warns only where no cell of it already does.

`track`, `learn_baseline` and `compute_warnings` are pure; the tick (workers/tick.py) calls `track` after its fold
and `compute_warnings` among its aggregates, with the baseline that `run_baseline(r, sessions, now)` (the RQ job
`refresh_baseline`, registered in workers/cron.py) keeps in Redis under keys.WARNINGS_BASELINE.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import DAY_S, OFFSET_S, epoch, utc_datetime
from dashboard.i18n import name
from dashboard.live import keys
from dashboard.live.schema import WarningItem, WarningsData
from workers.clients import job_clients
from workers.sensors import in_heating_season

log = logging.getLogger(__name__)

# --- sensor trends -----------------------------------------------------------------------------------------------

# Version of the "ew" part of the fold state: another version is started afresh.
TRACK_VERSION: Final = 2
# Minutes of per-minute samples kept per water gauge and crowd counter.
SERIES_MIN: Final = 30
# Readings older than this say nothing about now (a silent sensor).
FRESH_S: Final = c.SENSOR_SILENT_AFTER_S
# Crowd counters report less often than the poles.
CROWD_FRESH_S: Final = 300
WATER_WET_CM: Final = 2.0
WATER_RISE_CM: Final = 1.5
WATER_RISE_MIN: Final = 15
# A gauge reading this much is wet; this many wet gauges at once is rain, not a burst main.
RAIN_WET_CM: Final = 0.5
RAIN_GAUGES: Final = 3
TILT_NEAR_KM: Final = 0.6
# Beijing's night-time construction ban (《北京市环境噪声污染防治办法》): 22:00–06:00.
NIGHT_FROM_H: Final = 22
NIGHT_TO_H: Final = 6
NOISE_NIGHT_DB: Final = 72.0
# A loud run ends when the pole reads below this (honks and sirens are single loud readings).
NOISE_QUIET_DB: Final = 66.0
NOISE_SUSTAIN_S: Final = 180
CROWD_RISE: Final = 0.2
CROWD_RISE_MIN: Final = 20
CROWD_MIN_RATIO: Final = 0.45
# A crowd warning lasts while the spot stays within this share of capacity of where the surge was detected.
CROWD_KEEP_DROP: Final = 0.1
# A sensor condition that stopped holding keeps its warning this long (no flapping on a noisy reading).
HOLD_S: Final = 600
# A heat-exchange station whose supply water fell by HEAT_FALL_C within HEAT_FALL_MIN, to at most HEAT_LOW_C, in
# the heating season: its exchanger is failing and its estate will be cold within the hour. The warning lasts
# while the supply stays within HEAT_KEEP_RISE_C of where the fall was detected. A healthy station drifts by a
# degree or two over hours (warmer supply at night), a reading's noise is ±0.5 °C.
HEAT_FALL_C: Final = 6.0
HEAT_FALL_MIN: Final = 20
HEAT_LOW_C: Final = 50.0
HEAT_KEEP_RISE_C: Final = 4.0
ALARM_BURST_S: Final = 1800
ALARM_BURST_MIN: Final = 2

# --- tickets -----------------------------------------------------------------------------------------------------

TICKET_WINDOWS_S: Final = (1800, 3600)
MIN_TICKETS: Final = 3
P_WARN: Final = 1e-5
P_WARN_SUBDISTRICT: Final = 1e-6
# Tickets of a burst no further apart than this make one chain: its first ticket is when the warning began.
CHAIN_GAP_S: Final = 2700
# Tickets near a sensor warning count as its support over this window (the warning's 3×3 cells).
SUPPORT_WINDOW_S: Final = 3600
# Tickets further back are never needed (chains, windows).
LOOKBACK_S: Final = 6 * 3600
# No place is so empty that a count there is impossible: the expected count never goes below this.
LAMBDA_FLOOR: Final = 1e-3

# --- baseline ----------------------------------------------------------------------------------------------------

BASELINE_VERSION: Final = 1
BASELINE_DAYS: Final = 28
RECENT_DAYS: Final = 3
BASELINE_REFRESH_S: Final = 600
# Kept in Redis well past its refresh, so that a stopped job degrades to an older baseline, not to none.
BASELINE_TTL_S: Final = 6 * 3600
# The priors: 12345 tickets by local hour (the facts file: peaks 09–11 h and 14–16 h, quiet at night), fewer at
# weekends, and the volume Dongcheng dispatches a day; replaced by what SQL shows as the weeks fill up.
DIURNAL_PRIOR: Final = (
    0.3, 0.2, 0.15, 0.12, 0.12, 0.2, 0.6, 1.6, 3.2, 4.6, 4.8, 3.6,
    2.4, 2.8, 4.2, 4.4, 3.4, 2.6, 2.2, 2.0, 1.8, 1.3, 0.9, 0.5,
)  # fmt: skip
WEEKEND_PRIOR: Final = 0.8
PRIOR_TICKETS_PER_DAY: Final = 1000.0
# Pseudo-counts of the priors: weeks for the hourly rhythm, tickets for the category mix and the places.
HOURLY_PSEUDO_WEEKS: Final = 1.0
CATEGORY_PSEUDO: Final = 50.0
PLACE_PSEUDO_CATEGORY: Final = 30.0
PLACE_PSEUDO_ALL: Final = 100.0
# Samples per side of a grid cell for the population prior.
PRIOR_SAMPLES: Final = 3

# --- what each cause brings --------------------------------------------------------------------------------------

# The hotline category a sensor-seen cause's complaints come under (domain knowledge, not the simulator's labels).
KIND_CATEGORY: Final = {
    "water_main": "public_service", "noise": "noise", "crowd": "parking_traffic", "heating": "heating",
}
# The cause named by a burst of tickets alone; other categories are "complaints".
CATEGORY_KIND: Final = {"heating": "heating", "noise": "noise"}
MAX_WARNINGS: Final = 50

_WEEK_H: Final = 168

Baseline = dict[str, Any]


# --- small helpers -----------------------------------------------------------------------------------------------


def poisson_sf(n: int, lam: float) -> float:
    """P(N ≥ n) for N ~ Poisson(lam), accurate in the far tail (summed upwards, not 1 − cdf)."""
    if n <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if n <= lam:
        term = math.exp(-lam)
        cdf = term
        for k in range(1, n):
            term *= lam / k
            cdf += term
        return max(0.0, 1.0 - cdf)
    term = math.exp(-lam + n * math.log(lam) - math.lgamma(n + 1))
    total, k = term, n
    while term > total * 1e-12 and k < n + 1000:
        k += 1
        term *= lam / k
        total += term
    return min(1.0, total)


def hour_of_week(t: float) -> int:
    """Beijing hour of the week, 0 = Monday 00:00–01:00 (1970-01-01 was a Thursday)."""
    h = int((t + OFFSET_S) // 3600)
    return ((h // 24 + 3) % 7) * 24 + h % 24


def _ts(value: Any) -> float:
    """Epoch seconds of a datetime (SQL rows) or a number (the benchmark's rows)."""
    return epoch(value) if isinstance(value, datetime) else float(value)


def _rc(cell: str | None) -> tuple[int, int] | None:
    """(row, col) of a grid cell id 'rRRcCC', or None."""
    if not cell or len(cell) != 6 or cell[0] != "r" or cell[3] != "c":
        return None
    try:
        return int(cell[1:3]), int(cell[4:6])
    except ValueError:
        return None


def _cell(row: int, col: int) -> str:
    """The id of a grid cell."""
    return f"r{row:02d}c{col:02d}"


def near_cells(a: str, b: str, reach: int = 1) -> bool:
    """True when two grid cells are the same or neighbours (Chebyshev distance ≤ reach)."""
    ra, rb = _rc(a), _rc(b)
    return ra is not None and rb is not None and max(abs(ra[0] - rb[0]), abs(ra[1] - rb[1])) <= reach


def _around(cell: str) -> list[str]:
    """The cell and its eight neighbours."""
    rc = _rc(cell)
    if rc is None:
        return [cell]
    row, col = rc
    return [_cell(row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if row + dr >= 0 and col + dc >= 0]


def cell_centre(cell: str) -> tuple[float, float]:
    """(lon, lat) of a grid cell's centre (as geo.grid_cell lays the cells out)."""
    rc = _rc(cell)
    x0, y0, _, _ = geo.district_bbox()
    row, col = rc if rc is not None else (0, 0)
    return (
        round(x0 - geo.BOUNDARY_MARGIN_DEG + (col + 0.5) * geo.GRID_DLON, 6),
        round(y0 - geo.BOUNDARY_MARGIN_DEG + (row + 0.5) * geo.GRID_DLAT, 6),
    )


def _is_night(t: float) -> bool:
    """Inside the night-time construction ban (Beijing time)."""
    h = (t + OFFSET_S) % DAY_S / 3600
    return h >= NIGHT_FROM_H or h < NIGHT_TO_H


def _rise(series: Sequence[float | None] | None, value: float, minutes: int) -> float:
    """How far `value` is above the lowest of the last `minutes` samples (0 without samples)."""
    past = [v for v in (series or [])[-minutes:] if v is not None]
    return value - min(past) if past else 0.0


def _fall(series: Sequence[float | None] | None, value: float, minutes: int) -> float:
    """How far `value` is below the highest of the last `minutes` samples (0 without samples)."""
    past = [v for v in (series or [])[-minutes:] if v is not None]
    return max(past) - value if past else 0.0


def _combine(scores: Iterable[float]) -> float:
    """1 − Π(1 − s): independent pieces of evidence, each in 0–1."""
    left = 1.0
    for s in scores:
        left *= 1.0 - max(0.0, min(1.0, s))
    return round(1.0 - left, 3)


def _ticket_score(p: float) -> float:
    """Score of a Poisson tail probability: 0 at 1e-3, 0.4 at 1e-5, 1 at 1e-8 and below."""
    return max(0.0, min(1.0, (-math.log10(max(p, 1e-300)) - 3.0) / 5.0))


def _sub_names(code: str) -> tuple[str, str]:
    """Chinese and English name of a subdistrict."""
    sub = geo.subdistrict_by_code().get(code)
    return (sub.name_zh, sub.name_en) if sub is not None else (code, code)


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
            if v >= WATER_WET_CM and (key in on or _rise(ew["wl"].get(sid), v, WATER_RISE_MIN) >= WATER_RISE_CM):
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
        elif v <= HEAT_LOW_C and _fall(ew.get("hs", {}).get(sid), v, HEAT_FALL_MIN) >= HEAT_FALL_C:
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
        elif ratio >= CROWD_MIN_RATIO and _rise(ew["cr"].get(spot), ratio, CROWD_RISE_MIN) >= CROWD_RISE:
            out[key] = round(ratio, 3)
    return out


# --- the seasonal baseline ---------------------------------------------------------------------------------------


@cache
def _place_priors() -> tuple[dict[str, float], dict[str, float]]:
    """Shares of the district's tickets by grid cell and by subdistrict if they followed the population (each
    subdistrict's people spread evenly over its ground)."""
    subs = geo.subdistricts()
    samples: dict[str, list[str]] = {s.code: [] for s in subs}
    x0, y0, _, _ = geo.district_bbox()
    for cell in geo.grid_cells():
        row, col = _rc(cell) or (0, 0)
        for i in range(PRIOR_SAMPLES):
            for j in range(PRIOR_SAMPLES):
                lon = x0 - geo.BOUNDARY_MARGIN_DEG + (col + (i + 0.5) / PRIOR_SAMPLES) * geo.GRID_DLON
                lat = y0 - geo.BOUNDARY_MARGIN_DEG + (row + (j + 0.5) / PRIOR_SAMPLES) * geo.GRID_DLAT
                code = geo.subdistrict_of(lon, lat)
                if code is not None:
                    samples[code].append(cell)
    total = sum(s.population for s in subs)
    cells: dict[str, float] = {}
    for s in subs:
        pts = samples[s.code]
        for cell in pts:
            cells[cell] = cells.get(cell, 0.0) + s.population / total / len(pts)
    return cells, {s.code: s.population / total for s in subs}


def _hourly_prior(per_day: float) -> list[float]:
    """Tickets expected in each hour of the week from the published rhythm and a daily volume."""
    weekday = sum(DIURNAL_PRIOR)
    week_weight = 5 * weekday + 2 * weekday * WEEKEND_PRIOR
    out = []
    for how in range(_WEEK_H):
        factor = WEEKEND_PRIOR if how // 24 >= 5 else 1.0
        out.append(per_day * 7 * DIURNAL_PRIOR[how % 24] * factor / week_weight)
    return out


def _shares(
    counts: Mapping[str, Mapping[str, int]], totals: Mapping[str, int], overall: Mapping[str, float]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per category, each place's share shrunk towards `overall`: (shares of the places seen, factor for the rest)."""
    seen: dict[str, dict[str, float]] = {}
    rest: dict[str, float] = {}
    for cat in c.HOTLINE_CATEGORIES:
        n = totals.get(cat, 0)
        den = n + PLACE_PSEUDO_CATEGORY
        seen[cat] = {
            place: round((k + PLACE_PSEUDO_CATEGORY * overall.get(place, 0.0)) / den, 8)
            for place, k in sorted((counts.get(cat) or {}).items())
        }
        rest[cat] = PLACE_PSEUDO_CATEGORY / den
    return seen, rest


def learn_baseline(rows: Iterable[Sequence[Any]], now: float, days: int = BASELINE_DAYS) -> Baseline:
    """The seasonal baseline from tickets (cell, subdistrict, category, received_at) of the last `days` days.

    hourly[h]: tickets expected in the district in hour-of-week h (learned per hour of the week over the weeks
    covered, shrunk towards the published rhythm by HOURLY_PSEUDO_WEEKS); cat: each category's share over the last
    RECENT_DAYS (so that the heating season is followed within days), shrunk towards its share over `days`;
    cell / sub: within each category, each place's share over `days`, shrunk towards the place's share of all
    tickets, itself shrunk towards its share of the population.
    """
    since = now - days * DAY_S
    recent_since = now - RECENT_DAYS * DAY_S
    how_counts = [0] * _WEEK_H
    cat_all: Counter[str] = Counter()
    cat_recent: Counter[str] = Counter()
    cell_cat: dict[str, Counter[str]] = {}
    sub_cat: dict[str, Counter[str]] = {}
    cell_all: Counter[str] = Counter()
    sub_all: Counter[str] = Counter()
    first = now
    n = 0
    for cell, sub, cat, received in rows:
        ts = _ts(received)
        if not since <= ts < now:
            continue
        n += 1
        first = min(first, ts)
        how_counts[hour_of_week(ts)] += 1
        cat_all[cat] += 1
        if ts >= recent_since:
            cat_recent[cat] += 1
        cell_cat.setdefault(cat, Counter())[cell] += 1
        sub_cat.setdefault(cat, Counter())[sub] += 1
        cell_all[cell] += 1
        sub_all[sub] += 1
    # The span the rows cover: from the first ticket (a young system has fewer days) to now.
    span_h = max(1, math.ceil((now - first) / 3600)) if n else 0
    per_day = n * 24 / span_h if n and span_h >= 24 else PRIOR_TICKETS_PER_DAY
    coverage = [0] * _WEEK_H
    start_h = int(now // 3600) - span_h
    for k in range(span_h):
        coverage[hour_of_week((start_h + k) * 3600.0)] += 1
    prior = _hourly_prior(per_day)
    hourly = [
        round((how_counts[h] + HOURLY_PSEUDO_WEEKS * prior[h]) / (coverage[h] + HOURLY_PSEUDO_WEEKS), 4)
        for h in range(_WEEK_H)
    ]
    cats = c.HOTLINE_CATEGORIES
    long_share = {k: (cat_all[k] + 1) / (n + len(cats)) for k in cats}
    n_recent = sum(cat_recent.values())
    cat = {k: round((cat_recent[k] + CATEGORY_PSEUDO * long_share[k]) / (n_recent + CATEGORY_PSEUDO), 6) for k in cats}
    cell_prior, sub_prior = _place_priors()
    cell_overall = {
        x: (cell_all[x] + PLACE_PSEUDO_ALL * cell_prior.get(x, 0.0)) / (n + PLACE_PSEUDO_ALL)
        for x in set(cell_prior) | set(cell_all)
    }
    sub_overall = {
        x: (sub_all[x] + PLACE_PSEUDO_ALL * sub_prior.get(x, 0.0)) / (n + PLACE_PSEUDO_ALL)
        for x in set(sub_prior) | set(sub_all)
    }
    cell_seen, cell_rest = _shares(cell_cat, cat_all, cell_overall)
    sub_seen, sub_rest = _shares(sub_cat, cat_all, sub_overall)
    return {
        "v": BASELINE_VERSION,
        "at": now,
        "tickets": n,
        "days": round(span_h / 24, 2),
        "hourly": hourly,
        "cat": cat,
        "cell": cell_seen,
        "cell_rest": cell_rest,
        "cell_all": {x: round(v, 8) for x, v in sorted(cell_overall.items())},
        "sub": sub_seen,
        "sub_rest": sub_rest,
        "sub_all": {x: round(v, 8) for x, v in sorted(sub_overall.items())},
    }


def _volume(base: Baseline, t0: float, t1: float) -> float:
    """Tickets of every kind expected in [t0, t1) district-wide, by the hour of the week."""
    hourly: Sequence[float] = base["hourly"]
    volume = 0.0
    t = t0
    while t < t1:
        edge = min(t1, (math.floor(t / 3600) + 1) * 3600)
        volume += hourly[hour_of_week(t)] * (edge - t) / 3600
        t = edge
    return volume


def _place_share(base: Baseline, level: str, category: str) -> Callable[[str], float]:
    """A place's share of a category's tickets (a cell or a subdistrict, by `level`): seen, else the rest shared
    as the place's share of all tickets."""
    seen = base[level].get(category) or {}
    rest = float(base[f"{level}_rest"].get(category, 1.0))
    overall = base[f"{level}_all"]
    return lambda x: float(seen[x]) if x in seen else rest * float(overall.get(x, 0.0))


def expected(base: Baseline, level: str, places: Iterable[str], category: str, t0: float, t1: float) -> float:
    """Tickets of `category` expected in [t0, t1) in these cells (level "cell") or subdistricts ("sub")."""
    share = _place_share(base, level, category)
    return _volume(base, t0, t1) * float(base["cat"].get(category, 0.0)) * sum(share(x) for x in places)


@lru_cache(maxsize=4096)
def _block(row: int, col: int) -> tuple[str, ...]:
    """The 2×2 block of cells whose top-left cell is (row, col)."""
    return tuple(_cell(row + a, col + b) for a in (0, 1) for b in (0, 1))


def _regions(counts: Mapping[str, int]) -> list[tuple[tuple[str, ...], int]]:
    """The cells and 2×2 blocks holding at least MIN_TICKETS of these tickets per cell, with their counts. A
    block's count is summed from its cells' as they are met, so that only blocks that qualify are named."""
    out: list[tuple[tuple[str, ...], int]] = []
    blocks: dict[tuple[int, int], int] = {}
    for cell, k in counts.items():
        if k >= MIN_TICKETS:
            out.append(((cell,), k))
        rc = _rc(cell)
        if rc is None:
            continue
        for r0 in (rc[0] - 1, rc[0]):
            for c0 in (rc[1] - 1, rc[1]):
                if r0 >= 0 and c0 >= 0:
                    blocks[r0, c0] = blocks.get((r0, c0), 0) + k
    out.extend((_block(r0, c0), n) for (r0, c0), n in blocks.items() if n >= MIN_TICKETS)
    return out


# --- the warnings ------------------------------------------------------------------------------------------------


class _Warning:
    """A warning being assembled: where, what, since when, and its pieces of evidence."""

    __slots__ = ("category", "cell", "evidence", "kind", "lat", "level", "lon", "reasons_en", "reasons_zh",
                 "scores", "since", "subdistrict")  # fmt: skip

    def __init__(
        self, level: str, kind: str, category: str, cell: str | None, sub: str, lon: float, lat: float, since: float
    ) -> None:
        self.level, self.kind, self.category, self.cell, self.subdistrict = level, kind, category, cell, sub
        self.lon, self.lat, self.since = lon, lat, since
        self.scores: list[float] = []
        self.reasons_zh: list[str] = []
        self.reasons_en: list[str] = []
        self.evidence: list[dict[str, Any]] = []

    def add(self, score: float, zh: str, en: str, evidence: dict[str, Any]) -> None:
        """One piece of evidence."""
        self.scores.append(score)
        self.reasons_zh.append(zh)
        self.reasons_en.append(en)
        self.evidence.append(evidence)

    def item(self) -> WarningItem:
        """The aggregate's item."""
        where = self.cell if self.level == "cell" else self.subdistrict
        return WarningItem(
            id=f"{self.kind}:{where}:{int(self.since // 60)}",
            level=self.level,
            cell=self.cell,
            subdistrict=self.subdistrict,
            lon=round(self.lon, 6),
            lat=round(self.lat, 6),
            kind=self.kind,
            category=self.category,
            score=_combine(self.scores),
            since=round(self.since, 3),
            reasons_zh=self.reasons_zh,
            reasons_en=self.reasons_en,
            evidence=self.evidence,
        )


def _sensor_warnings(state: Mapping[str, Any], now: float) -> list[_Warning]:
    """The warnings of the sensor conditions holding (or held within HOLD_S)."""
    ew = state.get("ew") or {}
    sensors: Mapping[str, Mapping[str, Any]] = state.get("sensors") or {}
    spots: Mapping[str, Mapping[str, Any]] = state.get("spots") or {}
    out: list[_Warning] = []
    tilts = [(sid, rd) for sid, rd in sensors.items() if rd.get("type") == "manhole_tilt"]
    tilt_warn = float(c.SENSOR_TYPES["manhole_tilt"]["warn"])
    for key, (since, _last, ref) in sorted((ew.get("on") or {}).items()):
        kind, _, ident = key.partition(":")
        rd = (spots if kind == "crowd" else sensors).get(ident)
        if rd is None or kind not in KIND_CATEGORY:
            continue
        place = geo.place_by_id().get(ident) if kind == "crowd" else None
        lon, lat = (place.lon, place.lat) if place else (float(rd["lon"]), float(rd["lat"]))
        sub = geo.subdistrict_of(lon, lat) or str(rd.get("sd") or "")
        w = _Warning("cell", kind, KIND_CATEGORY[kind], geo.grid_cell(lon, lat), sub, lon, lat, since)
        if kind == "water_main":
            v = float(rd["value"])
            rise = _rise(ew.get("wl", {}).get(ident), v, WATER_RISE_MIN)
            up = max(rise, 0.0)
            w.add(1 - math.exp(-v / 12),
                  f"积水监测 {ident} 水位 {v:.1f} 厘米，{WATER_RISE_MIN} 分钟内上涨 {up:.1f} 厘米",
                  f"water gauge {ident} at {v:.1f} cm, up {up:.1f} cm in {WATER_RISE_MIN} min",
                  {"type": "sensor", "sensor_id": ident, "sensor_type": "water_level", "value": v,
                   "rise": round(rise, 1)})  # fmt: skip
            w.add(0.3, "其他积水点无积水（非降雨），疑似供水管线破裂",
                  "the other gauges are dry (not rain): a burst main?", {"type": "dry_elsewhere"})  # fmt: skip
            for tid, trd in tilts:
                dist = geo.distance_km(lon, lat, float(trd["lon"]), float(trd["lat"]))
                tv = float(trd["value"])
                if dist <= TILT_NEAR_KM and tv >= tilt_warn and now - float(trd["ts"]) <= FRESH_S:
                    w.add(0.3, f"附近井盖 {tid} 倾斜 {tv:.0f}°（{dist * 1000:.0f} 米）",
                          f"manhole cover {tid} {dist * 1000:.0f} m away tilted {tv:.0f}°",
                          {"type": "sensor", "sensor_id": tid, "sensor_type": "manhole_tilt", "value": tv})  # fmt: skip
        elif kind == "heating":
            v = float(rd["value"])
            fall = max(_fall(ew.get("hs", {}).get(ident), v, SERIES_MIN), 0.0)
            w.add(min(1.0, 0.5 + fall / 30),
                  f"换热站 {ident} 供水温度降至 {v:.1f} °C，{SERIES_MIN} 分钟内下降 {fall:.1f} °C（供暖季），"
                  "小区可能即将停暖",
                  f"heat-exchange station {ident} supply water down to {v:.1f} °C, {fall:.1f} °C lower within "
                  f"{SERIES_MIN} min (heating season): its estate is about to go cold",
                  {"type": "sensor", "sensor_id": ident, "sensor_type": "heat_supply_temp", "value": v,
                   "fall": round(fall, 1)})  # fmt: skip
        elif kind == "noise":
            v = float(rd["value"])
            minutes = max(0, round((now - float((ew.get("loud") or {}).get(ident, since))) / 60))
            w.add(min(1.0, 0.4 + max(0.0, v - NOISE_NIGHT_DB) / 30 + min(0.3, minutes / 60)),
                  f"噪声监测 {ident} 夜间 {v:.0f} dB(A)，已持续 {minutes} 分钟（22:00–06:00 禁止施工）",
                  f"noise pole {ident} at {v:.0f} dB(A) at night for {minutes} min (no construction 22:00–06:00)",
                  {"type": "sensor", "sensor_id": ident, "sensor_type": "noise", "value": v,
                   "minutes": minutes})  # fmt: skip
        else:
            ratio = rd["count"] / rd["capacity"] if rd.get("capacity") else 0.0
            rise = max(_rise(ew.get("cr", {}).get(ident), ratio, SERIES_MIN), ratio - float(ref) + CROWD_RISE)
            zh_name, en_name = (place.name_zh, place.name_en) if place else (ident, ident)
            w.add(min(1.0, 0.3 + 2 * max(0.0, rise - CROWD_RISE) + max(0.0, ratio - 0.75)),
                  f"{zh_name} 客流达容量的 {ratio:.0%}，{SERIES_MIN} 分钟内上升 {rise * 100:.0f} 个百分点",
                  f"{en_name} at {ratio:.0%} of capacity, up {rise * 100:.0f} points within {SERIES_MIN} min",
                  {"type": "crowd", "spot_id": ident, "ratio": round(ratio, 3), "rise": round(rise, 3)})  # fmt: skip
        out.append(w)
    return _merge_same_cell(out)


def _merge_same_cell(warnings: list[_Warning]) -> list[_Warning]:
    """One warning per kind and cell: two loud poles in one cell are one construction site."""
    by: dict[tuple[str, str | None], _Warning] = {}
    for w in warnings:
        prev = by.get((w.kind, w.cell))
        if prev is None:
            by[(w.kind, w.cell)] = w
            continue
        prev.since = min(prev.since, w.since)
        for s, zh, en, ev in zip(w.scores, w.reasons_zh, w.reasons_en, w.evidence, strict=True):
            prev.add(s, zh, en, ev)
    return list(by.values())


def _chain_since(times: Sequence[float], now: float) -> float:
    """The first ticket of the burst that ends with the latest of `times` (gaps ≤ CHAIN_GAP_S)."""
    ordered = sorted(t for t in times if t <= now)
    if not ordered:
        return now
    since = ordered[-1]
    for t in reversed(ordered[:-1]):
        if since - t > CHAIN_GAP_S:
            break
        since = t
    return since


def _ticket_reason(
    n: int, lam: float, p: float, category: str, window_s: float, where_zh: str, where_en: str
) -> tuple[str, str, dict[str, Any]]:
    """Chinese and English reason of a ticket count, with its fields."""
    zh_cat, en_cat = name("hl_cat", category, "zh"), name("hl_cat", category, "en").lower()
    minutes = round(window_s / 60)
    usual = "< 0.01" if lam < 0.01 else f"{lam:.2f}" if lam < 1 else f"{lam:.1f}"
    return (
        f"近 {minutes} 分钟{where_zh}{zh_cat}诉求 {n} 件，同一时段通常约 {usual} 件（泊松尾概率 {p:.0e}）",
        f"{n} {en_cat} tickets {where_en} in the last {minutes} min; usually about {usual} (Poisson tail {p:.0e})",
        {"type": "tickets", "category": category, "observed": n, "expected": round(lam, 3), "window_min": minutes,
         "p": float(f"{p:.3g}")},
    )  # fmt: skip


def compute_warnings(
    state: Mapping[str, Any],
    tickets: Iterable[Sequence[Any]],
    baseline: Baseline | None,
    now: float,
    max_warnings: int = MAX_WARNINGS,
) -> WarningsData:
    """The `warnings` aggregate from the fold state (with `track`'s memory), the tickets of the last hours as
    store.tickets.tickets_since rows (category, subdistrict, cell, received_at, …) and the baseline (None: learned on
    the spot from those of these tickets older than LOOKBACK_S, and the priors); most severe first."""
    recent: list[tuple[str, str, str, float]] = []
    older: list[tuple[str, str, str, float]] = []
    for row in tickets:
        ts = _ts(row[3])
        if now - LOOKBACK_S <= ts <= now:
            recent.append((str(row[0]), str(row[1]), str(row[2]), ts))
        elif ts < now - LOOKBACK_S:
            older.append((str(row[2]), str(row[1]), str(row[0]), ts))
    if baseline is None or baseline.get("v") != BASELINE_VERSION:
        # Never learned from the tickets being judged: a burst would explain itself away.
        baseline = learn_baseline(older, now - LOOKBACK_S)
    cells_w = _sensor_warnings(state, now)
    by_cat: dict[str, list[tuple[float, str, str]]] = {}
    for cat, sub, cell, ts in recent:
        by_cat.setdefault(cat, []).append((ts, cell, sub))

    # Tickets near each sensor warning, of the category it predicts, support it.
    for w in cells_w:
        items = by_cat.get(w.category) or []
        around = set(_around(w.cell or ""))
        lo = now - SUPPORT_WINDOW_S
        n = sum(1 for ts, cell, _ in items if ts >= lo and cell in around)
        if n:
            lam = max(LAMBDA_FLOOR, expected(baseline, "cell", around, w.category, lo, now))
            p = poisson_sf(n, lam)
            zh, en, ev = _ticket_reason(n, lam, p, w.category, SUPPORT_WINDOW_S, "附近", "nearby")
            w.add(_ticket_score(p), zh, en, ev)

    # Bursts of tickets: every cell and 2×2 block, per category and window; the most anomalous first.
    for cat, items in sorted(by_cat.items()):
        candidates: list[tuple[float, tuple[str, ...], int, int, float]] = []
        share = _place_share(baseline, "cell", cat)
        for window in TICKET_WINDOWS_S:
            lo = now - window
            counts = Counter(cell for ts, cell, _ in items if ts >= lo)
            if sum(counts.values()) < MIN_TICKETS:
                continue
            # The expected count of a region is the same rate times its cells' shares: the rate once a window.
            rate = _volume(baseline, lo, now) * float(baseline["cat"].get(cat, 0.0))
            for region, n in _regions(counts):
                lam = max(LAMBDA_FLOOR, rate * sum(share(x) for x in region))
                p = poisson_sf(n, lam)
                if p < P_WARN:
                    candidates.append((p, region, window, n, lam))
        candidates.sort(key=lambda x: (x[0], len(x[1]), x[1]))
        taken: set[str] = set()
        for p, region, window, n, lam in candidates:
            if taken & set(region):
                continue
            taken |= set(region)
            if any(w.category == cat and any(near_cells(w.cell or "", x) for x in region) for w in cells_w
                   if w.kind in KIND_CATEGORY):  # fmt: skip
                continue  # already the support of a sensor warning
            burst = [(ts, cell, sub) for ts, cell, sub in items if cell in region]
            since = _chain_since([ts for ts, _, _ in burst], now)
            first = min((b for b in burst if b[0] >= since), key=lambda b: b[0])
            lon, lat = cell_centre(first[1])
            w = _Warning("cell", CATEGORY_KIND.get(cat, "complaints"), cat, first[1], first[2], lon, lat, since)
            here = "本网格" if len(region) == 1 else "相邻网格"
            zh, en, ev = _ticket_reason(n, lam, p, cat, window, here, "in this grid cell" if len(region) == 1
                                        else "in these grid cells")  # fmt: skip
            ev["cells"] = list(region)
            w.add(_ticket_score(p), zh, en, ev)
            cells_w.append(w)

    # Subdistricts, where no cell of them already warns of that category.
    subs_w: list[_Warning] = []
    for cat, items in sorted(by_cat.items()):
        best: dict[str, tuple[float, int, int, float]] = {}
        for window in TICKET_WINDOWS_S:
            lo = now - window
            for sub, n in Counter(sub for ts, _, sub in items if ts >= lo).items():
                if n < MIN_TICKETS:
                    continue
                lam = max(LAMBDA_FLOOR, expected(baseline, "sub", [sub], cat, lo, now))
                p = poisson_sf(n, lam)
                if p < P_WARN_SUBDISTRICT and (sub not in best or p < best[sub][0]):
                    best[sub] = (p, window, n, lam)
        for sub, (p, window, n, lam) in sorted(best.items()):
            if any(w.category == cat and w.subdistrict == sub for w in cells_w):
                continue
            since = _chain_since([ts for ts, _, s in items if s == sub], now)
            s_obj = geo.subdistrict_by_code().get(sub)
            lon, lat = s_obj.label if s_obj is not None else cell_centre("")
            w = _Warning("subdistrict", CATEGORY_KIND.get(cat, "complaints"), cat, None, sub, lon, lat, since)
            zh_name, en_name = _sub_names(sub)
            zh, en, ev = _ticket_reason(n, lam, p, cat, window, f"{zh_name}", f"in {en_name}")
            w.add(_ticket_score(p), zh, en, ev)
            subs_w.append(w)

    # Alarm bursts in a warning's subdistrict add to it.
    alarms = [a for a in (state.get("alarm_log") or []) if now - float(a.get("ts", 0)) <= ALARM_BURST_S]
    warnings = cells_w + subs_w
    for w in warnings:
        k = len({a.get("id") for a in alarms if a.get("sd") == w.subdistrict})
        if k >= ALARM_BURST_MIN:
            w.add(min(0.3, 0.1 * (k - 1)), f"本街道 30 分钟内 {k} 个传感器报警",
                  f"{k} sensors alarmed in this subdistrict in 30 min", {"type": "alarms", "count": k})  # fmt: skip
    items_out = [w.item() for w in warnings]
    items_out.sort(key=lambda x: (-x["score"], x["since"], x["id"]))
    return WarningsData(warnings=items_out[:max_warnings], count=len(items_out))


# --- the baseline job --------------------------------------------------------------------------------------------


def load_baseline(r: redis.Redis) -> Baseline | None:
    """The baseline the job keeps in Redis, or None (missing, unreadable, another version, Redis away)."""
    try:
        raw = r.get(keys.WARNINGS_BASELINE)
    except redis.RedisError:
        return None
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        log.warning("the early-warning baseline in Redis is unreadable; the tick learns one from today's tickets")
        return None
    return doc if isinstance(doc, dict) and doc.get("v") == BASELINE_VERSION else None


def run_baseline(r: redis.Redis, sessions: sessionmaker[Session], now: float) -> dict[str, Any]:
    """Learn the baseline from BASELINE_DAYS of tickets in SQL and keep it in Redis. The last LOOKBACK_S are left
    out: they are what the tick judges, and a burst must not become its own norm."""
    until = now - LOOKBACK_S
    with sessions() as s:
        rows = store.tickets.ticket_places_since(s, utc_datetime(until - BASELINE_DAYS * DAY_S))
    base = learn_baseline(rows, until)
    r.set(keys.WARNINGS_BASELINE, json.dumps(base, separators=(",", ":")), ex=BASELINE_TTL_S)
    return {"status": "ok", "tickets": base["tickets"], "days": base["days"]}


def refresh_baseline() -> dict[str, Any]:
    """RQ job: learn the early-warning baseline with the configuration from the environment."""

    clients = job_clients()
    return run_baseline(clients.redis, clients.sessions, time.time())
