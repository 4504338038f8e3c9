"""未诉先办 early warning: its thresholds and the small pure helpers its parts share (the Poisson tail, the hour of
the week, grid-cell ids and neighbours, how far a per-minute series rose or fell).

The thresholds of the sensor trends are read by workers/early_warning/trends.py (when a condition holds) and
workers/early_warning/detector.py (how strongly it warns); those of the tickets by the detector; the baseline's own
constants live with it in workers/early_warning/baseline.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import OFFSET_S, epoch

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
# P(N ≥ n) for N ~ Poisson(λ) and 1 ≤ n ≤ λ is above this for every λ (about 1/2 for a large λ, 0.58 at λ = n = 3).
TAIL_FROM_MEAN: Final = 0.3
# No place is so empty that a count there is impossible: the expected count never goes below this.
LAMBDA_FLOOR: Final = 1e-3

# --- what each cause brings --------------------------------------------------------------------------------------

# The hotline category a sensor-seen cause's complaints come under (domain knowledge, not the simulator's labels).
KIND_CATEGORY: Final = {
    "water_main": "public_service", "noise": "noise", "crowd": "parking_traffic", "heating": "heating",
}
# The cause named by a burst of tickets alone; other categories are "complaints".
CATEGORY_KIND: Final = {"heating": "heating", "noise": "noise"}
MAX_WARNINGS: Final = 50

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


def poisson_sf_below(n: int, lam: float, limit: float) -> float | None:
    """poisson_sf(n, lam) when it is below `limit` (at most 1), else None. Most places the detector scans are far
    from it, and the probability of exactly n, the tail's first term (as poisson_sf computes it), tells them apart
    without summing the tail: the tail is at least that term. A count at or below the mean is never improbable:
    its tail is above TAIL_FROM_MEAN whatever the mean."""
    if 0 < n <= lam and limit <= TAIL_FROM_MEAN:
        return None
    if n > lam > 0 and math.exp(-lam + n * math.log(lam) - math.lgamma(n + 1)) >= limit:
        return None
    p = poisson_sf(n, lam)
    return p if p < limit else None


def hour_of_week(t: float) -> int:
    """Beijing hour of the week, 0 = Monday 00:00–01:00 (1970-01-01 was a Thursday)."""
    h = int((t + OFFSET_S) // 3600)
    return ((h // 24 + 3) % 7) * 24 + h % 24


def as_epoch(value: Any) -> float:
    """Epoch seconds of a datetime (SQL rows) or a number (the benchmark's rows)."""
    return epoch(value) if isinstance(value, datetime) else float(value)


def cell_rc(cell: str | None) -> tuple[int, int] | None:
    """(row, col) of a grid cell id 'rRRcCC', or None."""
    if not cell or len(cell) != 6 or cell[0] != "r" or cell[3] != "c":
        return None
    try:
        return int(cell[1:3]), int(cell[4:6])
    except ValueError:
        return None


def cell_id(row: int, col: int) -> str:
    """The id of a grid cell."""
    return f"r{row:02d}c{col:02d}"


def near_cells(a: str, b: str, reach: int = 1) -> bool:
    """True when two grid cells are the same or neighbours (Chebyshev distance ≤ reach)."""
    ra, rb = cell_rc(a), cell_rc(b)
    return ra is not None and rb is not None and max(abs(ra[0] - rb[0]), abs(ra[1] - rb[1])) <= reach


def cells_around(cell: str) -> list[str]:
    """The cell and its eight neighbours."""
    rc = cell_rc(cell)
    if rc is None:
        return [cell]
    row, col = rc
    return [cell_id(row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if row + dr >= 0 and col + dc >= 0]


def cell_centre(cell: str) -> tuple[float, float]:
    """(lon, lat) of a grid cell's centre (as geo.grid_cell lays the cells out)."""
    rc = cell_rc(cell)
    x0, y0, _, _ = geo.district_bbox()
    row, col = rc if rc is not None else (0, 0)
    return (
        round(x0 - geo.BOUNDARY_MARGIN_DEG + (col + 0.5) * geo.GRID_DLON, 6),
        round(y0 - geo.BOUNDARY_MARGIN_DEG + (row + 0.5) * geo.GRID_DLAT, 6),
    )


def series_rise(series: Sequence[float | None] | None, value: float, minutes: int) -> float:
    """How far `value` is above the lowest of the last `minutes` samples (0 without samples)."""
    past = [v for v in (series or [])[-minutes:] if v is not None]
    return value - min(past) if past else 0.0


def series_fall(series: Sequence[float | None] | None, value: float, minutes: int) -> float:
    """How far `value` is below the highest of the last `minutes` samples (0 without samples)."""
    past = [v for v in (series or [])[-minutes:] if v is not None]
    return max(past) - value if past else 0.0
