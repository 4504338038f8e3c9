"""What the simulation knows of each Beijing calendar day, drawn from the seed alone: the calendar (weekday,
holidays, heating season, school holidays), the air (the day's PM2.5 level and its heavy episodes), the rain and the
day's crowd factor. Every part of the simulator reads the same days through one `Days`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from dashboard.domain.beijing import OFFSET_S
from dashboard.domain.season import in_heating_season
from simulator.world import (
    DAY_MS,
    FIXED_HOLIDAYS,
    HOUR_MS,
    LRU,
    PM25_DAY_SIGMA,
    PM25_EPISODE_FACTOR,
    PM25_EPISODE_P_HEATING,
    PM25_EPISODE_P_SPRING,
    PM25_MONTHLY,
    RAIN_HEAVY_P,
    RAIN_P,
    TAG_DAY,
    seeded_rng,
)


@dataclass(frozen=True)
class Day:
    """What the simulation needs to know about one Beijing calendar day."""

    index: int
    start_ms: int
    date: date
    ymd: str
    weekday: int
    holiday: bool
    rest_day: bool
    heating: bool
    school_off: bool
    pm25: float
    pm25_episode: bool
    rain: tuple[int, int, float] | None  # (start ms, end ms, mm/h)
    crowd_factor: float


class Days:
    """The days of one seed's world, drawn on demand and cached."""

    def __init__(self, seed: int) -> None:
        """An empty cache of the days of the world of `seed`."""
        self.seed = seed
        self._days: LRU[int, Day] = LRU(32)

    def day(self, d: int) -> Day:
        """The simulated facts of day d (weather, air, calendar), cached."""
        return self._days.get_or(d, lambda: self._make_day(d))

    def _day_noise(self, d: int) -> tuple[float, float]:
        """Two standard draws of day d: the air-quality anomaly and a uniform for episodes."""
        rng = seeded_rng(self.seed, TAG_DAY, d, 1)
        return rng.gauss(0.0, 1.0), rng.random()

    def _make_day(self, d: int) -> Day:
        """Draw the calendar, air and rain of one day."""
        day = date(1970, 1, 1) + timedelta(days=d)
        md = (day.month, day.day)
        heating = in_heating_season(day)
        holiday = md in FIXED_HOLIDAYS
        # Air quality drifts over days: a moving average of daily anomalies, plus rare heavy episodes.
        z = sum(w * self._day_noise(d - k)[0] for k, w in enumerate((0.6, 0.5, 0.3)))
        episode_p = PM25_EPISODE_P_HEATING if heating else PM25_EPISODE_P_SPRING if day.month in (3, 4, 5) else 0.0
        episode = self._day_noise(d)[1] < episode_p
        pm25 = PM25_MONTHLY[day.month] * math.exp(PM25_DAY_SIGMA * z) * (PM25_EPISODE_FACTOR if episode else 1.0)
        rng = seeded_rng(self.seed, TAG_DAY, d, 2)
        rain = None
        start_ms = d * DAY_MS - OFFSET_S * 1000
        if rng.random() < RAIN_P[day.month]:
            begin = start_ms + rng.randrange(DAY_MS)
            length = rng.randrange(1_800_000, 6 * HOUR_MS)
            heavy = rng.random() < RAIN_HEAVY_P
            mmh = rng.uniform(20.0, 70.0) if heavy else rng.uniform(1.0, 10.0)
            if day.month in (12, 1, 2):
                mmh *= 0.1  # winter precipitation is snow: it does not flood the underpasses
            rain = (begin, begin + length, mmh)
        school_off = (md >= (7, 15) and day.month <= 8) or (1, 20) <= md <= (2, 20)
        return Day(
            index=d,
            start_ms=start_ms,
            date=day,
            ymd=day.strftime("%Y%m%d"),
            weekday=day.weekday(),
            holiday=holiday,
            rest_day=holiday or day.weekday() >= 5,
            heating=heating,
            school_off=school_off,
            pm25=pm25,
            pm25_episode=episode,
            rain=rain,
            crowd_factor=math.exp(0.1 * rng.gauss(0.0, 1.0)),
        )
