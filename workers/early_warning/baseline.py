"""未诉先办 early warning: the seasonal ticket baseline, learned from SQL's tickets and shrunk towards priors.

The tickets expected in a place, category and hour of the week are ``hourly[hour of week] × share of the category
(last 3 days) × share of the place within the category (last 4 weeks)`` (`learn_baseline`, `expected`), shrunk
towards priors (the district's published daily rhythm, population) where the weeks say little. `regions` names the
grid cells and 2×2 blocks of cells (an estate straddles cell borders) that the detector scans. All pure: the RQ job
in workers/early_warning/job.py learns it every 10 minutes and keeps it in Redis.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import DAY_S
from workers.early_warning.rules import MIN_TICKETS, as_epoch, cell_id, cell_rc, hour_of_week

# Version of the baseline kept in Redis: another version is learned afresh.
BASELINE_VERSION: Final = 1
BASELINE_DAYS: Final = 28
RECENT_DAYS: Final = 3
# The priors are the district's published 12345 figures (rules.HOTLINE_HOURLY_RHYTHM, HOTLINE_WEEKEND_FACTOR,
# HOTLINE_TICKETS_PER_DAY), replaced by what SQL shows as the weeks fill up.
DIURNAL_PRIOR: Final = c.HOTLINE_HOURLY_RHYTHM
WEEKEND_PRIOR: Final = c.HOTLINE_WEEKEND_FACTOR
PRIOR_TICKETS_PER_DAY: Final = c.HOTLINE_TICKETS_PER_DAY
# Pseudo-counts of the priors: weeks for the hourly rhythm, tickets for the category mix and the places.
HOURLY_PSEUDO_WEEKS: Final = 1.0
CATEGORY_PSEUDO: Final = 50.0
PLACE_PSEUDO_CATEGORY: Final = 30.0
PLACE_PSEUDO_ALL: Final = 100.0
# Samples per side of a grid cell for the population prior.
PRIOR_SAMPLES: Final = 3

_WEEK_H: Final = 168

Baseline = dict[str, Any]


@cache
def _place_priors() -> tuple[dict[str, float], dict[str, float]]:
    """Shares of the district's tickets by grid cell and by subdistrict if they followed the population (each
    subdistrict's people spread evenly over its ground)."""
    subs = geo.subdistricts()
    samples: dict[str, list[str]] = {s.code: [] for s in subs}
    x0, y0, _, _ = geo.district_bbox()
    for cell in geo.grid_cells():
        row, col = cell_rc(cell) or (0, 0)
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
        ts = as_epoch(received)
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


def district_volume(base: Baseline, t0: float, t1: float) -> float:
    """Tickets of every kind expected in [t0, t1) district-wide, by the hour of the week."""
    hourly: Sequence[float] = base["hourly"]
    volume = 0.0
    t = t0
    while t < t1:
        edge = min(t1, (math.floor(t / 3600) + 1) * 3600)
        volume += hourly[hour_of_week(t)] * (edge - t) / 3600
        t = edge
    return volume


def place_share(base: Baseline, level: str, category: str) -> Callable[[str], float]:
    """A place's share of a category's tickets (a cell or a subdistrict, by `level`): seen, else the rest shared
    as the place's share of all tickets."""
    seen = base[level].get(category) or {}
    rest = float(base[f"{level}_rest"].get(category, 1.0))
    overall = base[f"{level}_all"]
    return lambda x: float(seen[x]) if x in seen else rest * float(overall.get(x, 0.0))


def expected(base: Baseline, level: str, places: Iterable[str], category: str, t0: float, t1: float) -> float:
    """Tickets of `category` expected in [t0, t1) in these cells (level "cell") or subdistricts ("sub")."""
    share = place_share(base, level, category)
    return district_volume(base, t0, t1) * float(base["cat"].get(category, 0.0)) * sum(share(x) for x in places)


@lru_cache(maxsize=4096)
def _block(row: int, col: int) -> tuple[str, ...]:
    """The 2×2 block of cells whose top-left cell is (row, col)."""
    return tuple(cell_id(row + a, col + b) for a in (0, 1) for b in (0, 1))


@lru_cache(maxsize=4096)
def cell_blocks(cell: str) -> tuple[tuple[str, ...], ...]:
    """The 2×2 blocks of cells that hold `cell` (none for an id that is no grid cell), as `regions` names them."""
    rc = cell_rc(cell)
    if rc is None:
        return ()
    return tuple(_block(r0, c0) for r0 in (rc[0] - 1, rc[0]) for c0 in (rc[1] - 1, rc[1]) if r0 >= 0 and c0 >= 0)


def regions(counts: Mapping[str, int]) -> list[tuple[tuple[str, ...], int]]:
    """The cells and 2×2 blocks holding at least MIN_TICKETS of these tickets per cell, with their counts. A
    block's count is summed from its cells' as they are met, so that only blocks that qualify are named."""
    out: list[tuple[tuple[str, ...], int]] = []
    blocks: dict[tuple[int, int], int] = {}
    for cell, k in counts.items():
        if k >= MIN_TICKETS:
            out.append(((cell,), k))
        rc = cell_rc(cell)
        if rc is None:
            continue
        for r0 in (rc[0] - 1, rc[0]):
            for c0 in (rc[1] - 1, rc[1]):
                if r0 >= 0 and c0 >= 0:
                    blocks[r0, c0] = blocks.get((r0, c0), 0) + k
    out.extend((_block(r0, c0), n) for (r0, c0), n in blocks.items() if n >= MIN_TICKETS)
    return out
