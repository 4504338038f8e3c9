"""The simulated telemetry: the sensors on the poles, the speed detectors along the corridors, the car parks and
the crowd counters, each reporting on its own period and phase (exact rates, no state), with the day's weather and
air, the sensors' own episodes and outages, and the readings the labelled episodes (episodes.py) make them give.

Every second is drawn from its own random stream, so the output does not depend on how time is cut into calls."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import OFFSET_ISO
from simulator.days import Days
from simulator.episodes import Signal, day_episodes
from simulator.installations import build_sensors
from simulator.places import points_along, short_name, strictly_inside
from simulator.world import (
    ARTERIAL_FREE_KMH,
    ARTERIAL_PEAK_RATIO,
    CAR_FREE_BOXES,
    CONGESTION_WEEKDAY,
    CONGESTION_WEEKEND,
    CROWD_DEFAULTS,
    CROWD_HOLIDAY_FACTOR,
    CROWD_MAX_LOAD,
    CROWD_PROFILES,
    CROWD_SPOTS,
    CROWD_SURGE_MAX_LOAD,
    CROWD_WEEKEND_FACTOR,
    DAY_MS,
    EPISODE_P,
    EXPECTED_SILENT_SHARE,
    HEAT_NIGHT_BOOST_C,
    HEAT_OFF_SEASON_C,
    HEAT_SUPPLY_C,
    HEAT_SUPPLY_SIGMA_C,
    HOUR_MS,
    LRU,
    MAX_PERIOD_MS,
    NOISE_HONK_P,
    OUTAGE_SHORT_P,
    OUTAGES_LONG_PER_DAY,
    PARKING_CAPACITY,
    PARKING_PROFILES,
    PM25_HOTSPOT_FACTOR,
    PM25_HOTSPOT_P,
    PM25_SENSOR_SIGMA,
    RING_FREE_KMH,
    RING_PEAK_RATIO,
    SCALED_SENSOR_PERIOD_MS,
    SHARE_CROWD,
    SHARE_PARKING,
    SHARE_TRAFFIC,
    TAG_ENTITY,
    TAG_EPISODE,
    TAG_OUTAGE,
    TAG_PHASE,
    TAG_SECOND,
    TAG_SIGNAL,
    TRAFFIC_DETECTOR_SPACING_KM,
    WATER_CM_PER_MMH,
    WATER_DRAIN_MS,
    day_index,
    interp,
    iso_ts,
    local_hour,
    seeded_rng,
)


class _Stream:
    """Reporters that each report every `period` ms at their own phase: exact rates, no state."""

    __slots__ = ("n", "order", "period", "phases", "sorted_phases")

    def __init__(self, n: int, period_ms: int, rng: random.Random) -> None:
        self.n = n
        self.period = max(1, period_ms)
        self.phases = [rng.randrange(self.period) for _ in range(n)]
        self.order = sorted(range(n), key=lambda i: self.phases[i])
        self.sorted_phases = [self.phases[i] for i in self.order]

    def due(self, start_ms: int) -> list[tuple[int, int]]:
        """(time ms, reporter) of every report in the second starting at start_ms."""
        p = self.period
        a = start_ms % p
        if p >= 1000:
            ph, order = self.sorted_phases, self.order
            lo = bisect.bisect_left(ph, a)
            if a + 1000 <= p:
                hi = bisect.bisect_left(ph, a + 1000)
                return [(start_ms + ph[j] - a, order[j]) for j in range(lo, hi)]
            out = [(start_ms + ph[j] - a, order[j]) for j in range(lo, len(ph))]
            hi = bisect.bisect_left(ph, a + 1000 - p)
            out += [(start_ms + ph[j] - a + p, order[j]) for j in range(hi)]
            return out
        out = []
        end = start_ms + 1000
        for i, phase in enumerate(self.phases):
            m = start_ms + (phase - a) % p
            while m < end:
                out.append((m, i))
                m += p
        return out


@dataclass(frozen=True)
class _Active:
    """Episodes and outages that can touch one day (started that day or shortly before)."""

    episodes: dict[int, list[tuple[int, int, float]]]
    outages: dict[int, list[tuple[int, int]]]
    rains: list[tuple[int, int, float]]


_SENSOR_CODES: Final = {t: k for k, t in enumerate(c.SENSOR_TYPES)}
_PM, _NOISE, _WATER, _TILT, _GAS, _COLD, _HEAT = (
    _SENSOR_CODES[t]
    for t in ("pm25", "noise", "water_level", "manhole_tilt", "gas", "cold_chain_temp", "heat_supply_temp")
)


class Telemetry:
    """The reporters of the simulated district and what they read: pure and reproducible from the seed."""

    def __init__(
        self,
        seed: int,
        rate: float,
        source: str,
        days: Days,
        episodes_per_day: float,
        durable_per_s: float,
        sensors: int | None = None,
    ) -> None:
        """The sensors, detectors, car parks and crowd counters of the world of `seed`, reporting together at
        `rate` events/s less the `durable_per_s` tickets, updates and incidents (which make the rest of the rate).

        `sensors` (SIM_SENSORS): that many sensors (build_sensors); more than the installed ones each report every
        SCALED_SENSOR_PERIOD_MS whatever the rate, as a large roll-out does."""
        self.seed = seed
        self.rate = float(rate)
        self.source = source
        self.days = days
        self.episodes_per_day = episodes_per_day
        self.fleet = build_sensors(seed, sensors)
        self._build_sensors()
        self._build_traffic()
        self._build_parking()
        self._build_crowds()
        sensor_share = max(0.05, 1 - SHARE_TRAFFIC - SHARE_PARKING - SHARE_CROWD - durable_per_s / self.rate)
        prng = seeded_rng(seed, TAG_PHASE, 0)
        if sensors is not None and sensors > len(build_sensors(seed)):
            self._s_sensors = _Stream(len(self._sensors), SCALED_SENSOR_PERIOD_MS, prng)
        else:
            self._s_sensors = self._stream(len(self._sensors), sensor_share / (1 - EXPECTED_SILENT_SHARE), "sensor",
                                           prng)
        self._s_traffic = self._stream(len(self.detectors), SHARE_TRAFFIC, "traffic", prng)
        self._s_parking = self._stream(len(self._lots), SHARE_PARKING, "parking", prng)
        self._s_crowd = self._stream(len(self.spot_rows), SHARE_CROWD, "crowd", prng)
        self._active: LRU[int, _Active] = LRU(8)
        self._prefix: LRU[int, str] = LRU(4)
        self._signals: LRU[int, tuple[dict[int, list[Signal]], dict[int, list[Signal]]]] = LRU(4)

    # --- set-up ------------------------------------------------------------------------------

    def _stream(self, n: int, share: float, kind: str, rng: random.Random) -> _Stream:
        """A periodic stream whose reporters together make `share` of the target rate."""
        period = min(MAX_PERIOD_MS[kind], round(1000 * n / (share * self.rate))) if n else 1000
        return _Stream(n, period, rng)

    def _build_sensors(self) -> None:
        """Per-sensor parameters (how dusty, loud or low-lying the spot is), drawn once from the seed."""
        rng = seeded_rng(self.seed, TAG_ENTITY, 1)
        self._sensors: list[tuple[str, int, str, float, float, str | None, float, float]] = []
        self._sensor_index = {row["id"]: i for i, row in enumerate(self.fleet)}
        for row in self.fleet:
            code = _SENSOR_CODES[row["type"]]
            if code == _PM:
                hot = rng.random() < PM25_HOTSPOT_P
                p1, p2 = rng.uniform(*PM25_HOTSPOT_FACTOR) if hot else rng.uniform(0.85, 1.2), 0.0
            elif code == _NOISE:
                p1 = rng.uniform(55.0, 68.0)
                p2 = p1 - rng.uniform(12.0, 17.0)
            elif code == _WATER:
                p1, p2 = rng.uniform(0.3, 1.5), 0.0
            elif code == _TILT:
                p1, p2 = rng.uniform(0.2, 1.5), 0.0
            elif code == _GAS:
                p1, p2 = rng.uniform(0.3, 2.0), 0.0
            elif code == _HEAT:
                p1, p2 = rng.uniform(*HEAT_SUPPLY_C), 0.0
            else:
                p1, p2 = rng.uniform(-1.5, 1.5), 0.0
            self._sensors.append((row["id"], code, row["type"], row["lon"], row["lat"], row["pole_id"], p1, p2))

    def _build_traffic(self) -> None:
        """Speed detectors every ~400 m along each corridor."""
        rng = seeded_rng(self.seed, TAG_ENTITY, 2)
        self.detectors: list[tuple[str, float, float, float, float]] = []
        for cor in geo.corridors():
            ring = "ring" in cor.id
            free_lo, free_hi = RING_FREE_KMH if ring else ARTERIAL_FREE_KMH
            ratio_lo, ratio_hi = RING_PEAK_RATIO if ring else ARTERIAL_PEAK_RATIO
            for lon, lat in points_along(cor.coords, TRAFFIC_DETECTOR_SPACING_KM):
                car_free = any(x0 <= lon <= x1 and y0 <= lat <= y1 for x0, y0, x1, y1 in CAR_FREE_BOXES)
                if strictly_inside(lon, lat) and not car_free:
                    self.detectors.append(
                        (cor.id, lon, lat, rng.uniform(free_lo, free_hi), rng.uniform(ratio_lo, ratio_hi))
                    )

    def _build_parking(self) -> None:
        """Car parks at the hospitals, the schools and the stations, each with a fixed capacity."""
        rng = seeded_rng(self.seed, TAG_ENTITY, 3)
        self._lots: list[tuple[str, float, float, int, str]] = []
        for p in geo.places_of_type("hospital", "school", "transport_hub"):
            lo, hi = PARKING_CAPACITY[p.type]
            cap = rng.randrange(lo, hi + 1, 10)
            self._lots.append((p.id, round(p.lon, 6), round(p.lat, 6), cap, p.type))
        self.lots = {lot[0]: lot[3] for lot in self._lots}

    def _build_crowds(self) -> None:
        """Crowd counters at the scenic spots and business districts."""
        self.spot_rows: list[tuple[str, float, float, int, str, float, bool, str]] = []
        for p in geo.places_of_type("scenic", "business_district"):
            profile, cap, load, closed_monday = CROWD_SPOTS.get(p.id, CROWD_DEFAULTS[p.type])
            self.spot_rows.append(
                (p.id, round(p.lon, 6), round(p.lat, 6), cap, profile, load, closed_monday, short_name(p.name_zh))
            )
        self.spots = {s[0]: s[3] for s in self.spot_rows}

    # --- the day ---------------------------------------------------------------------------

    def _episodes_of(self, d: int) -> tuple[dict[int, list[tuple[int, int, float]]], dict[int, list[tuple[int, int]]]]:
        """Sensor episodes and outages that start on day d."""
        day = self.days.day(d)
        rng = seeded_rng(self.seed, TAG_EPISODE, d)
        episodes: dict[int, list[tuple[int, int, float]]] = {}
        for i, s in enumerate(self._sensors):
            p = EPISODE_P.get(s[2])
            if p is None or rng.random() >= p:
                continue
            code = s[1]
            if code == _PM:  # dust from a building site or smoke from a barbecue, 0.5–3 h
                begin = day.start_ms + rng.randrange(DAY_MS)
                ep = (begin, begin + int(rng.uniform(0.5, 3.0) * HOUR_MS), rng.uniform(40.0, 120.0))
            elif code == _NOISE:  # night construction, 22:30–00:30 start, 1.5–4 h, 80–92 dB
                begin = day.start_ms + int(rng.uniform(22.5, 24.5) * HOUR_MS)
                ep = (begin, begin + int(rng.uniform(1.5, 4.0) * HOUR_MS), rng.uniform(80.0, 92.0))
                # Night construction is now a labelled episode with its complaints (episodes.py); the
                # draws stay so that every other sensor's episodes are unchanged.
                continue
            elif code == _TILT:  # a displaced cover stays tilted until the crew comes
                begin = day.start_ms + rng.randrange(DAY_MS)
                ep = (begin, begin + int(rng.uniform(1.0, 8.0) * HOUR_MS), rng.uniform(6.0, 25.0))
            elif code == _GAS:  # a leak rises and falls within two hours
                begin = day.start_ms + rng.randrange(DAY_MS)
                ep = (begin, begin + int(rng.uniform(0.3, 2.0) * HOUR_MS), rng.uniform(8.0, 45.0))
            else:  # a freezer warming up (door left open, compressor fault)
                begin = day.start_ms + rng.randrange(DAY_MS)
                ep = (begin, begin + int(rng.uniform(0.5, 3.0) * HOUR_MS), rng.uniform(-12.0, -4.0))
            episodes.setdefault(i, []).append(ep)
        rng = seeded_rng(self.seed, TAG_OUTAGE, d)
        outages: dict[int, list[tuple[int, int]]] = {}
        for i in range(len(self._sensors)):
            if rng.random() < OUTAGE_SHORT_P:
                begin = day.start_ms + rng.randrange(DAY_MS)
                outages.setdefault(i, []).append((begin, begin + rng.randrange(120_000, 1_500_000)))
        for _ in range(OUTAGES_LONG_PER_DAY):
            i = rng.randrange(len(self._sensors))
            begin = day.start_ms + rng.randrange(DAY_MS)
            outages.setdefault(i, []).append((begin, begin + int(rng.uniform(10.0, 40.0) * HOUR_MS)))
        return episodes, outages

    def _active_for(self, d: int) -> _Active:
        """Everything that can be going on during day d."""

        def make() -> _Active:
            episodes: dict[int, list[tuple[int, int, float]]] = {}
            outages: dict[int, list[tuple[int, int]]] = {}
            # Episodes last at most a few hours past midnight; long outages up to 40 h (two days back).
            for k in (2, 1, 0):
                eps, outs = self._episodes_of(d - k)
                if k < 2:
                    for i, lst in eps.items():
                        episodes.setdefault(i, []).extend(lst)
                for i, lst2 in outs.items():
                    outages.setdefault(i, []).extend(lst2)
            rains = [r for r in (self.days.day(d - 1).rain, self.days.day(d).rain) if r is not None]
            return _Active(episodes, outages, rains)

        return self._active.get_or(d, make)

    def pm25_level(self, t: float) -> float:
        """District PM2.5 at epoch t (µg/m³): day means interpolated through noon, with a diurnal cycle."""
        d = day_index(t)
        h = local_hour(t)
        if h >= 12:
            w, a, b = (h - 12) / 24, self.days.day(d).pm25, self.days.day(d + 1).pm25
        else:
            w, a, b = (h + 12) / 24, self.days.day(d - 1).pm25, self.days.day(d).pm25
        level = a + (b - a) * w
        amp = 0.22 if self.days.day(d).heating else 0.12
        # Winter maxima at night and early morning, minimum in the afternoon.
        return level * (1 + amp * math.cos(2 * math.pi * (h - 2) / 24))

    def rain_at(self, t: float) -> float:
        """Rain intensity (mm/h) at epoch t."""
        ms = int(t * 1000)
        return sum(r[2] for r in self._active_for(day_index(t)).rains if r[0] <= ms < r[1])

    def _water_shape(self, ms: int, rains: list[tuple[int, int, float]]) -> float:
        """Water on the road per unit susceptibility (cm): rises while it rains, drains after."""
        level = 0.0
        for begin, end, mmh in rains:
            if ms < begin or ms > end + 4 * WATER_DRAIN_MS:
                continue
            rise = min(1.0, (ms - begin) / max(1, (end - begin) * 0.5))
            fall = math.exp(-(ms - end) / WATER_DRAIN_MS) if ms > end else 1.0
            level += WATER_CM_PER_MMH * mmh * rise * fall
        return level

    def congestion(self, t: float) -> float:
        """Congestion from -0.15 (free night roads) to 1 (rush hour) at epoch t."""
        day = self.days.day(day_index(t))
        h = local_hour(t)
        if day.rest_day:
            return interp(CONGESTION_WEEKEND, h)
        base = interp(CONGESTION_WEEKDAY, h)
        # Friday evening is the worst of the week.
        return base * 1.1 if day.weekday == 4 and h >= 16 else base

    def crowd_fraction(self, spot: int, t: float) -> float:
        """Expected share of capacity present at a spot at epoch t (0 when closed)."""
        _, _, _, _, profile, load, closed_monday, _ = self.spot_rows[spot]
        d = day_index(t)
        h = local_hour(t)
        pts = CROWD_PROFILES[profile]
        shape = self._spot_shape(pts, d, h, closed_monday)
        if shape <= 0:
            return 0.0
        day = self.days.day(d) if h >= pts[0][0] else self.days.day(d - 1)
        factor = CROWD_HOLIDAY_FACTOR if day.holiday else CROWD_WEEKEND_FACTOR if day.rest_day else 1.0
        if day.date.month in (7, 8):
            factor *= 1.15  # summer holidays bring the school trips
        elif day.date.month in (1, 2, 12):
            factor *= 0.75
        return min(CROWD_MAX_LOAD, load * factor * day.crowd_factor * shape)

    def _spot_shape(self, pts: Sequence[tuple[float, float]], d: int, h: float, closed_monday: bool) -> float:
        """Opening-hours shape of a spot at local hour h of day d (late hours count for the day before)."""
        today = interp(pts, h)
        if today > 0 and closed_monday and self.days.day(d).weekday == 0 and not self.days.day(d).holiday:
            today = 0.0
        late = interp(pts, h + 24) if pts[-1][0] > 24 else 0.0
        return max(today, late)

    def is_silent(self, sensor_id: str, t: float) -> bool:
        """True when the sensor is in an outage at epoch t (it sends nothing then)."""
        i = self._sensor_index[sensor_id]
        ms = int(t * 1000)
        return any(a <= ms < b for a, b in self._active_for(day_index(t)).outages.get(i, ()))

    # --- per second --------------------------------------------------------------------------

    def _ts_prefix(self, s: int) -> str:
        """'YYYY-MM-DDTHH:MM:SS' of second s in Beijing time."""
        return self._prefix.get_or(s, lambda: iso_ts(s * 1000)[:19])

    def second(self, s: int) -> list[tuple[int, int, dict[str, Any]]]:
        """The telemetry of the second [s, s+1) as (ms, n, event), n counting from 0 in the order drawn (not yet
        sorted by time); everything random is drawn from this second's own stream."""
        start = s * 1000
        t = float(s)
        rng = seeded_rng(self.seed, TAG_SECOND, s)
        gauss, rand = rng.gauss, rng.random
        d = day_index(t)
        day = self.days.day(d)
        act = self._active_for(d)
        h = local_hour(t)
        prefix = self._ts_prefix(s)
        idp = f"{self.seed}.{s}."
        src = self.source
        out: list[tuple[int, int, dict[str, Any]]] = []
        n = 0

        due = self._s_sensors.due(start)
        if due:
            pm = self.pm25_level(t)
            # Noise: share of the daytime level (0 at night 23:30–05:30, 1 at day 07:30–21:30).
            dayness = interp(((0.0, 0.0), (5.5, 0.0), (7.5, 1.0), (21.5, 1.0), (23.5, 0.0), (24.0, 0.0)), h)
            water = self._water_shape(start, act.rains) if act.rains else 0.0
            episodes, outages = act.episodes, act.outages
            signals = self._signals_of(d)[0]
            sensors = self._sensors
            for m, i in due:
                if i in outages and any(a <= m < b for a, b in outages[i]):
                    continue
                sid, code, stype, lon, lat, pole, p1, p2 = sensors[i]
                ep = None
                if i in episodes:
                    for e in episodes[i]:
                        if e[0] <= m < e[1]:
                            ep = e
                            break
                if code == _PM:
                    v = pm * p1 * (1 + PM25_SENSOR_SIGMA * gauss(0.0, 1.0))
                    if ep is not None:
                        v += ep[2] * (1 - abs(2 * (m - ep[0]) / (ep[1] - ep[0]) - 1))
                    v = 1.0 if v < 1 else v
                elif code == _NOISE:
                    if ep is not None:
                        v = ep[2] + gauss(0.0, 3.0)
                    else:
                        v = p2 + (p1 - p2) * dayness + gauss(0.0, 2.0)
                        if rand() < NOISE_HONK_P:
                            v += 8 + 12 * rand()  # a horn, a siren, a truck braking
                    v = 30.0 if v < 30 else 130.0 if v > 130 else v
                elif code == _WATER:
                    level = water * p1
                    v = level + gauss(0.0, 0.3) if level > 0.3 else 0.0
                    v = 0.0 if v < 0 else v
                elif code == _TILT:
                    v = ep[2] + gauss(0.0, 0.5) if ep is not None else p1 + abs(gauss(0.0, 0.3))
                    v = 0.0 if v < 0 else 89.0 if v > 89 else v
                elif code == _GAS:
                    v = p1 + abs(gauss(0.0, 0.3))
                    if ep is not None:
                        frac = (m - ep[0]) / (ep[1] - ep[0])
                        v += ep[2] * (1 - abs(2 * frac - 1))
                    v = 0.0 if v < 0 else 99.0 if v > 99 else v
                elif code == _HEAT:
                    if day.heating:
                        v = p1 + HEAT_NIGHT_BOOST_C * (1 - dayness) + HEAT_SUPPLY_SIGMA_C * gauss(0.0, 1.0)
                    else:
                        v = HEAT_OFF_SEASON_C + p1 - sum(HEAT_SUPPLY_C) / 2 + gauss(0.0, 0.5)
                else:
                    v = -18.0 + p1 + gauss(0.0, 0.8)
                    if ep is not None:
                        frac = (m - ep[0]) / (ep[1] - ep[0])
                        v += (ep[2] - v) * min(1.0, 1.6 * (1 - abs(2 * frac - 1)))
                if i in signals:
                    v = self._episode_reading(code, v, m, i, signals[i])
                ev = {
                    "event_id": idp + str(n),
                    "source": src,
                    "kind": "sensor_reading",
                    "ts": f"{prefix}.{m - start:03d}{OFFSET_ISO}",
                    "sensor_id": sid,
                    "sensor_type": stype,
                    "value": round(v, 1),
                    "lon": lon,
                    "lat": lat,
                }
                if pole is not None:
                    ev["pole_id"] = pole
                out.append((m, n, ev))
                n += 1

        due = self._s_traffic.due(start)
        if due:
            cong = self.congestion(t)
            mmh = sum(r[2] for r in act.rains if r[0] <= start < r[1])
            wet = 1 - min(0.25, mmh / 120)  # rain slows everybody down
            for m, i in due:
                cid, lon, lat, free, ratio = self.detectors[i]
                v = free * (1 - cong * (1 - ratio)) * wet * (1 + 0.05 * gauss(0.0, 1.0))
                v = 3.0 if v < 3 else 120.0 if v > 120 else v
                ev = {
                    "event_id": idp + str(n),
                    "source": src,
                    "kind": "traffic_speed",
                    "ts": f"{prefix}.{m - start:03d}{OFFSET_ISO}",
                    "corridor_id": cid,
                    "speed_kmh": round(v, 1),
                    "lon": lon,
                    "lat": lat,
                }
                out.append((m, n, ev))
                n += 1

        due = self._s_parking.due(start)
        if due:
            for m, i in due:
                lot_id, lon, lat, cap, ltype = self._lots[i]
                if ltype == "hospital":
                    prof = PARKING_PROFILES["hospital_weekend" if day.rest_day else "hospital"]
                elif ltype == "school":
                    prof = PARKING_PROFILES["school_off" if day.rest_day or day.school_off else "school"]
                else:
                    prof = PARKING_PROFILES["transport_hub"]
                f = interp(prof, h) + 0.02 * gauss(0.0, 1.0)
                occupied = round(cap * (0.0 if f < 0 else 1.0 if f > 1 else f))
                ev = {
                    "event_id": idp + str(n),
                    "source": src,
                    "kind": "parking",
                    "ts": f"{prefix}.{m - start:03d}{OFFSET_ISO}",
                    "lot_id": lot_id,
                    "capacity": cap,
                    "occupied": occupied,
                    "lon": lon,
                    "lat": lat,
                }
                out.append((m, n, ev))
                n += 1

        due = self._s_crowd.due(start)
        if due:
            surges = self._signals_of(d)[1]
            for m, i in due:
                spot_id, lon, lat, cap, *_ = self.spot_rows[i]
                f = self.crowd_fraction(i, t)
                if f > 0 and i in surges:
                    f = self._surged(f, m, surges[i])
                count = max(0, round(cap * f * (1 + 0.03 * gauss(0.0, 1.0)))) if f > 0 else 0
                ev = {
                    "event_id": idp + str(n),
                    "source": src,
                    "kind": "crowd",
                    "ts": f"{prefix}.{m - start:03d}{OFFSET_ISO}",
                    "spot_id": spot_id,
                    "capacity": cap,
                    "count": count,
                    "lon": lon,
                    "lat": lat,
                }
                out.append((m, n, ev))
                n += 1
        return out


    # --- labelled episodes (episodes.py) ------------------------------------------------------

    def _signals_of(self, d: int) -> tuple[dict[int, list[Signal]], dict[int, list[Signal]]]:
        """Signals of the episodes that can act during day d (begun that day or the day before), by sensor index
        and by crowd-spot index."""

        def make() -> tuple[dict[int, list[Signal]], dict[int, list[Signal]]]:
            by_sensor: dict[int, list[Signal]] = {}
            by_spot: dict[int, list[Signal]] = {}
            spot_index = {s[0]: k for k, s in enumerate(self.spot_rows)}
            for day in (d - 1, d):
                for ep in day_episodes(self.seed, day, self.episodes_per_day):
                    for sg in ep.signals:
                        index, into = (spot_index, by_spot) if sg.type == "crowd" else (self._sensor_index, by_sensor)
                        k = index.get(sg.sensor_id)
                        if k is not None:
                            into.setdefault(k, []).append(sg)
            return by_sensor, by_spot

        return self._signals.get_or(d, make)

    def _episode_reading(self, code: int, v: float, m: int, i: int, signals: list[Signal]) -> float:
        """Reading v of sensor i at ms m as the episodes acting on it make it (noise of its own stream)."""
        for sg in signals:
            x = sg.value(m / 1000)
            if x is None:
                continue
            g = seeded_rng(self.seed, TAG_SIGNAL, m, i).gauss(0.0, 1.0)
            if code == _NOISE:
                v = min(130.0, max(v, x + 3.0 * g))
            elif code == _WATER:
                v = max(v, x + 0.3 * g, 0.0)
            elif code == _TILT:
                v = min(89.0, max(v, x + 0.5 * g))
            elif code == _HEAT:
                v = max(-20.0, v - x)  # the exchanger fails: the supply water cools by x °C
        return round(v, 1)

    def _surged(self, f: float, m: int, signals: list[Signal]) -> float:
        """Share of capacity present at a spot at ms m with the crowd surges acting on it."""
        extra = sum(x for x in (sg.value(m / 1000) for sg in signals) if x is not None)
        return min(CROWD_SURGE_MAX_LOAD, f + extra) if extra else f

    def periods(self) -> dict[str, float]:
        """Seconds between two reports of one reporter, per stream."""
        return {
            "sensor": self._s_sensors.period / 1000,
            "traffic": self._s_traffic.period / 1000,
            "parking": self._s_parking.period / 1000,
            "crowd": self._s_crowd.period / 1000,
        }
