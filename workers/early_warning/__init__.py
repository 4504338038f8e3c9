"""未诉先办 early warning: score every grid cell and subdistrict for an emerging problem before the complaints come.

Evidence, each turned into a score in 0–1 with its reasons in Chinese and English:

- **Sensor trends** (workers/early_warning/trends.py), kept by `track` in the telemetry fold state after every fold:
  - *water_main*: a gauge at ≥ 2 cm that rose ≥ 1.5 cm within 15 minutes while the other gauges are dry (three
    or more wet gauges at once is rain, which the waterlogging incident rules already handle); a tilted manhole
    cover within 600 m adds to it.
  - *noise*: a noise pole at ≥ 72 dB(A) for 3 minutes or more during the night-time construction ban
    (22:00–06:00).
  - *heating*: a heat-exchange station's supply water down by ≥ 6 °C within 20 minutes, to at most 50 °C, in the
    heating season (15 Nov – 15 Mar; out of season the loop is off and a low reading means nothing).
  - *crowd*: a scenic spot's or business district's crowd up by ≥ 20 % of its capacity within 20 minutes, to at
    least 45 % (the opening-hour ramps of the busiest spots rise about half as fast).
- **Recent tickets against a seasonal baseline** (workers/early_warning/baseline.py, learned from SQL every 10
  minutes by the RQ job `refresh_baseline` in workers/early_warning/job.py): every grid cell, 2×2 block of cells
  and subdistrict is scanned over the last 30 and 60 minutes per category for a count the baseline makes
  improbable.
- **Alarm bursts**: two or more sensors going into alarm in the warning's subdistrict within 30 minutes.

The detector (workers/early_warning/detector.py, `compute_warnings` from ticket rows, `compute_warnings_kept` from
the recent tickets the tick's process keeps with their window counts, workers/early_warning/book.py) combines them;
the thresholds and the small helpers the parts share are in workers/early_warning/rules.py. `track`,
`learn_baseline` and `compute_warnings` are pure; the tick (workers/tick.py) calls `track` after its fold and
`compute_warnings_kept` among its aggregates (`compute_warnings` while it has no baseline), with the
baseline that `run_baseline(r, sessions, now)` (the RQ job `refresh_baseline`, registered in workers/schedule.py)
keeps in Redis under keys.WARNINGS_BASELINE.

This package re-exports the API that the tick, the schedule, the tests and bench/episodes.py use.
"""

from __future__ import annotations

from workers.early_warning.baseline import (
    BASELINE_DAYS,
    PRIOR_TICKETS_PER_DAY,
    Baseline,
    expected,
    learn_baseline,
)
from workers.early_warning.detector import compute_warnings
from workers.early_warning.job import BASELINE_REFRESH_S, load_baseline, refresh_baseline, run_baseline
from workers.early_warning.rules import (
    LOOKBACK_S,
    P_WARN,
    TRACK_VERSION,
    cell_centre,
    hour_of_week,
    near_cells,
    poisson_sf,
)
from workers.early_warning.trends import new_track, track

__all__ = [
    "BASELINE_DAYS",
    "BASELINE_REFRESH_S",
    "LOOKBACK_S",
    "PRIOR_TICKETS_PER_DAY",
    "P_WARN",
    "TRACK_VERSION",
    "Baseline",
    "cell_centre",
    "compute_warnings",
    "expected",
    "hour_of_week",
    "learn_baseline",
    "load_baseline",
    "near_cells",
    "new_track",
    "poisson_sf",
    "refresh_baseline",
    "run_baseline",
    "track",
]
