"""A simulated Dongcheng: smart poles, traffic, parking, crowds, 12345 tickets and incidents, as raw events.

`Simulator` is pure and reproducible: the same seed gives the same events, however time is cut into calls. It
composes the parts of the world: the days (days.py), the telemetry (telemetry.py), the hotline (hotline.py) and
the incidents (incidents.py), with the labelled episodes (episodes.py) acting through them. The live loop that
posts its events to the ingest API is live.py; the command line is cli.py (`python -m simulator`).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from simulator.days import Days
from simulator.episodes import EPISODES_PER_DAY
from simulator.hotline import Hotline
from simulator.incidents import Incidents
from simulator.telemetry import Telemetry
from simulator.world import (
    DEFAULT_RATE,
    DEFAULT_SEED,
    DEFAULT_SOURCE,
    HOUR_MS,
    INCIDENTS_PER_DAY_AT_DEFAULT,
    INCIDENTS_PER_DAY_MIN,
    LRU,
    TICKETS_PER_DAY_AT_DEFAULT,
    TICKETS_PER_DAY_MIN,
    UPDATES_PER_TICKET,
)


class Simulator:
    """Pure, reproducible generator of the raw events Dongcheng's sources would POST."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        rate: float = DEFAULT_RATE,
        source: str = DEFAULT_SOURCE,
        start: float | None = None,
        episodes_per_day: float | None = None,
        sensors: int | None = None,
    ) -> None:
        """Set up the fleet and the reporters; `start` is when the world begins (no ticket or incident before it);
        `episodes_per_day`: labelled episodes (episodes.py) a day, default episodes.EPISODES_PER_DAY;
        `sensors`: how many sensors (SIM_SENSORS; None: the installed ones)."""
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.seed = seed
        self.rate = float(rate)
        self.source = source
        self.start = start
        self.episodes_per_day = EPISODES_PER_DAY if episodes_per_day is None else float(episodes_per_day)
        self._start_ms = None if start is None else math.ceil(start * 1000)
        tickets_per_s = max(TICKETS_PER_DAY_MIN, TICKETS_PER_DAY_AT_DEFAULT * rate / DEFAULT_RATE) / 86400
        incidents_per_s = max(INCIDENTS_PER_DAY_MIN, INCIDENTS_PER_DAY_AT_DEFAULT * rate / DEFAULT_RATE) / 86400
        durable_per_s = tickets_per_s * (1 + UPDATES_PER_TICKET) + incidents_per_s
        days = Days(seed)
        self.telemetry = Telemetry(seed, self.rate, source, days, self.episodes_per_day, durable_per_s, sensors)
        self.hotline = Hotline(seed, source, days, tickets_per_s, self.episodes_per_day)
        self.incidents = Incidents(seed, source, days, self.telemetry, incidents_per_s)
        # The sensors (rows with the Sensor columns), and the capacity of each car park and crowd spot by id.
        self.fleet = self.telemetry.fleet
        self.lots = self.telemetry.lots
        self.spots = self.telemetry.spots
        self._seconds: LRU[int, list[tuple[int, int, dict[str, Any]]]] = LRU(4)
        self._durable: LRU[int, tuple[list[int], list[dict[str, Any]]]] = LRU(6)

    # --- what the world is like at a moment -------------------------------------------------

    def pm25_level(self, t: float) -> float:
        """District PM2.5 at epoch t (µg/m³)."""
        return self.telemetry.pm25_level(t)

    def rain_at(self, t: float) -> float:
        """Rain intensity (mm/h) at epoch t."""
        return self.telemetry.rain_at(t)

    def congestion(self, t: float) -> float:
        """Congestion from -0.15 (free night roads) to 1 (rush hour) at epoch t."""
        return self.telemetry.congestion(t)

    def crowd_fraction(self, spot: int, t: float) -> float:
        """Expected share of capacity present at a spot (index) at epoch t (0 when closed)."""
        return self.telemetry.crowd_fraction(spot, t)

    def is_silent(self, sensor_id: str, t: float) -> bool:
        """True when the sensor is in an outage at epoch t (it sends nothing then)."""
        return self.telemetry.is_silent(sensor_id, t)

    def periods(self) -> dict[str, float]:
        """Seconds between two reports of one reporter, per stream (for tests and the log)."""
        return self.telemetry.periods()

    # --- events ------------------------------------------------------------------------------

    def _second(self, s: int) -> list[tuple[int, int, dict[str, Any]]]:
        """All events of the second [s, s+1), as (ms, n, event) sorted by time."""
        return self._seconds.get_or(s, lambda: self._make_second(s))

    def _make_second(self, s: int) -> list[tuple[int, int, dict[str, Any]]]:
        """The second's telemetry and the durable events that fall in it, in time order."""
        start = s * 1000
        out = self.telemetry.second(s)
        n = len(out)
        times, durable = self._durable_hour(s // 3600)
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_left(times, start + 1000)
        for j in range(lo, hi):
            out.append((times[j], n, durable[j]))
            n += 1
        out.sort(key=lambda x: (x[0], x[1]))
        return out

    def _durable_hour(self, hour: int) -> tuple[list[int], list[dict[str, Any]]]:
        """Tickets, ticket updates and incidents of an epoch hour, sorted by time, after the world's start."""

        def make() -> tuple[list[int], list[dict[str, Any]]]:
            first = self._start_ms
            items: list[tuple[int, int, dict[str, Any]]] = []
            if first is None or (hour + 1) * HOUR_MS > first:
                items += [(ms, 0, ev) for ms, ev in self.hotline.tickets(hour)]
                items += [(ms, 1, ev) for ms, ev in self.incidents.of_hour(hour)]
            items += [(at, 3, ev) for at, ev in self.incidents.ends(hour, first)]
            items += [(at, 2, ev) for at, ev in self.hotline.updates(hour, first)]
            if first is not None:
                items = [it for it in items if it[0] >= first]
            items.sort(key=lambda it: (it[0], it[1], it[2]["event_id"]))
            return [it[0] for it in items], [it[2] for it in items]

        return self._durable.get_or(hour, make)

    def events(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """Raw events (JSON-ready, as a source would POST them) with timestamps in [t0, t1), in time order."""
        # Each second is drawn from its own random stream, so the output does not depend on how time is cut
        # into calls. The dicts of the last few seconds are cached and shared: callers must not modify them.
        lo, hi = math.ceil(t0 * 1000), math.ceil(t1 * 1000)
        if hi <= lo:
            return []
        out: list[dict[str, Any]] = []
        for s in range(lo // 1000, (hi - 1) // 1000 + 1):
            items = self._second(s)
            if lo <= s * 1000 and (s + 1) * 1000 <= hi:
                out.extend(ev for _, _, ev in items)
            else:
                out.extend(ev for m, _, ev in items if lo <= m < hi)
        return out

    def durable_events(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """Only the tickets, ticket updates and incidents in [t0, t1): cheap over long spans (backfill, tests)."""
        lo, hi = math.ceil(t0 * 1000), math.ceil(t1 * 1000)
        out: list[dict[str, Any]] = []
        for hour in range(lo // HOUR_MS, (hi - 1) // HOUR_MS + 1) if hi > lo else ():
            times, evs = self._durable_hour(hour)
            out.extend(evs[bisect.bisect_left(times, lo) : bisect.bisect_left(times, hi)])
        return out
