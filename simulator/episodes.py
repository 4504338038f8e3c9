"""Labelled episodes: the ground truth behind 未诉先办 (early warning) and 热线+网格 (linking), pure and reproducible.

An episode is one physical cause (a burst water main, a noisy construction site at night, a heating failure in one
estate, a crowd surge at a scenic spot) with its sensor signature and, after a realistic delay, its wave of 12345
complaints in the same or neighbouring grid cells. The simulator (feed.py) emits what episodes cause through the
events it already posts: readings that follow each `Signal`, and ordinary `hotline_ticket` events with the
episodes' ticket ids. The labels themselves never travel in an event: this module is the only
place that knows which tickets belong to which cause, and only the benchmark (bench/episodes.py) reads it.

Signatures:
- water_main (爆管): the water-level gauge nearest the burst rises from dry to 8–45 cm within 10–30 min and stays
  until the crew shuts the main (1.5–4 h), then drains; with some chance a manhole cover within 600 m tilts.
  Only bursts a gauge can see are simulated (a burst far from the 18 gauges would be known from tickets only).
- night_construction (夜间施工噪声): a noise pole reads 76–90 dB(A) from a start between 22:00 and 01:30 for 2–5 h.
- heating_failure (小区供暖故障): the supply water temperature at the estate's heat-exchange station (换热站) falls
  by 15–25 °C (from 50–60 °C) within 20–40 min of the failure and stays low until it is repaired (3–8 h); the
  complaints come 30–90 min after the failure. No two failures of one day within 300 m. Heating season only.
- crowd_surge (景区客流激增): the crowd counter of an open scenic spot or business district gains 30–55 % of its
  capacity within 10–25 min and keeps it for 1–2.5 h.
Complaints begin 10–60 min after the cause (kind by kind below) and come as a wave of 3–14 tickets. One sensor
has one cause at a time: an episode is never drawn where another still acts on the same gauge, pole, station or
spot (across midnight too). The world's physics also says which everyday tickets an episode caused (`explains`:
a heating call from inside a failed station's estate while its flats are cold), which the benchmark adds to the
episode's labels.

Ticket ids look like the simulator's own (``DC<seed>-<yyyymmddhh>-<nnnn>``), numbered from 8000 within their hour
so they never collide with the everyday tickets of that hour (at most a few thousand even at 1,000 events/s).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Final

from dashboard.domain import geo, season
from dashboard.domain.beijing import OFFSET_S
from simulator.installations import build_sensors
from simulator.places import jitter_inside, subdistrict_chooser
from simulator.world import CROWD_DEFAULTS, CROWD_PROFILES, CROWD_SPOTS, day_index, interp, iso_ts

KINDS: Final = ("water_main", "night_construction", "heating_failure", "crowd_surge")
# Episodes per simulated day, all kinds together (heating failures only in the heating season, when the day's
# episodes are shared among the kinds possible that day). The simulator's default; the benchmark asks for more.
EPISODES_PER_DAY: Final = 4.0
# The 12345 category each cause's complaints are filed under (rules.HOTLINE_CATEGORIES).
TICKET_CATEGORY: Final = {
    "water_main": "public_service",  # 停水、路面冒水: the water company is a public service
    "night_construction": "noise",  # "夜间施工噪音扰民" is how the hotline files them
    "heating_failure": "heating",
    "crowd_surge": "parking_traffic",  # jams and parking chaos around the spot, crowds blocking the hutong
}
SUMMARIES: Final = {
    "water_main": (
        "路面突然大量冒水，疑似自来水管爆裂",
        "家中突然停水，楼下马路上全是水",
        "小区门口水管破裂，水流到马路上",
        "路口积水越来越深，车辆无法通行",
    ),
    "night_construction": (
        "深夜工地施工，机器轰鸣无法入睡",
        "夜间施工噪音扰民，已经持续几个小时",
        "半夜有人施工打桩，噪音很大",
        "晚上十点以后还在施工，请求制止",
    ),
    "heating_failure": (
        "整栋楼暖气突然不热，室温很低",
        "小区暖气停了，物业说换热站故障",
        "家里暖气片冰凉，老人孩子受冻",
        "供暖突然中断，请尽快抢修",
    ),
    "crowd_surge": (
        "景区门口人员拥挤，秩序混乱",
        "景区周边车辆拥堵，停车困难",
        "游客太多堵住胡同，居民出行困难",
        "景区附近交通瘫痪，请求疏导",
    ),
}
# Episode ticket numbers start here within their hour (see the module docstring).
TICKET_NO_BASE: Final = 8000
TICKETS_PER_EPISODE_MAX: Final = 50
# Spots too small to draw a crowd that jams the streets around them.
CROWD_SURGE_MIN_CAPACITY: Final = 3000
# A manhole cover this close to a burst main may lift.
TILT_NEAR_KM: Final = 0.6
TILT_P: Final = 0.6
# Two heating failures of one day are at least this far apart (one exchanger does not fail twice at once).
HEATING_APART_KM: Final = 0.3
# The estate a heat-exchange station serves: this many degrees of longitude and latitude either side of it (about
# 150 m). A failure's complaints come from inside it, and every flat inside it is cold while the station is.
ESTATE_DLON: Final = 0.0018
ESTATE_DLAT: Final = 0.00135


@dataclass(frozen=True)
class Signal:
    """How one sensor (or a crowd counter) reads during an episode: the simulator's instructions."""

    sensor_id: str  # sensor id, or the place id of a crowd counter
    type: str  # water_level | manhole_tilt | noise | heat_supply_temp | crowd
    start: float  # epoch s: the reading begins to depart from normal
    ramp_s: float  # seconds to reach the peak
    end: float  # the cause is removed (main shut, machines off, crowd dispersing)
    fall_s: float  # time constant of the return to normal (0: at once)
    peak: float  # cm, degrees, dB(A); °C the heat supply falls by; for crowds the share of capacity added

    def value(self, t: float) -> float | None:
        """The episode's reading at epoch t (added share for crowds), or None when the episode does not act."""
        if t < self.start:
            return None
        if t < self.end:
            return self.peak * (min(1.0, (t - self.start) / self.ramp_s) if self.ramp_s > 0 else 1.0)
        if self.fall_s <= 0:
            return None
        left = math.exp(-(t - self.end) / self.fall_s)
        return self.peak * left if left > 0.02 else None


@dataclass(frozen=True)
class EpisodeTicket:
    """One complaint an episode causes, as the simulator posts it."""

    ticket_id: str
    ts: float
    lon: float
    lat: float
    summary: str


@dataclass(frozen=True)
class Episode:
    """One labelled cause with its sensor signature and its wave of complaints."""

    id: str
    kind: str  # one of KINDS
    subdistrict: str  # code of the subdistrict of the cause
    cell: str  # geo.grid_cell of the cause
    lon: float
    lat: float
    start: float  # epoch s: the physical cause begins
    end: float  # epoch s: the cause is removed
    sensor_ids: tuple[str, ...]  # sensors that see it (crowd: the spot's place id; heating: the heat station)
    ticket_category: str  # rules.HOTLINE_CATEGORIES
    first_complaint_at: float
    ticket_ids: tuple[str, ...]  # every complaint it causes, in time order
    signals: tuple[Signal, ...]
    tickets: tuple[EpisodeTicket, ...]

    @property
    def last_complaint_at(self) -> float:
        """When its last complaint comes."""
        return self.tickets[-1].ts


def explains(ep: Episode, category: str, lon: float, lat: float, ts: float) -> bool:
    """True when the world says episode `ep` caused a complaint it did not draw itself: an everyday heating call
    (the simulator's background tickets know nothing of episodes) from inside a failed station's estate, from the
    failure's first complaint (the flats are cold by then) until the repair. Such a flat is cold because of the
    failure, whatever made its resident call, so the complaint is the failure's; the benchmark adds these to the
    episode's labels and says how many (the linker never sees this)."""
    return (
        ep.kind == "heating_failure"
        and category == TICKET_CATEGORY["heating_failure"]
        and ep.first_complaint_at <= ts <= ep.end
        and abs(lon - ep.lon) <= ESTATE_DLON
        and abs(lat - ep.lat) <= ESTATE_DLAT
    )


def in_heating_season(d: int) -> bool:
    """True when Beijing day d (index as day_index) is in the heating season."""
    return season.in_heating_season(date(1970, 1, 1) + timedelta(days=d))


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth; episode counts are small)."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _ticket_no(hour_stamp: str, counts: dict[str, int]) -> int:
    """The next episode ticket number within an hour."""
    n = counts.get(hour_stamp, 0)
    counts[hour_stamp] = n + 1
    return TICKET_NO_BASE + n


def _wave(
    rng: random.Random,
    seed: int,
    kind: str,
    lon: float,
    lat: float,
    first: float,
    n: int,
    spread_s: float,
    dlon: float,
    dlat: float,
    counts: dict[str, int],
) -> tuple[EpisodeTicket, ...]:
    """n complaints from around (lon, lat): the first at `first`, the rest front-loaded over `spread_s`."""
    times = [first, *sorted(first + spread_s * rng.random() ** 1.4 for _ in range(n - 1))]
    out = []
    for ts in times:
        pt = jitter_inside(rng, lon, lat, None, dlon, dlat) or (round(lon, 6), round(lat, 6))
        sub = geo.subdistrict_by_code().get(geo.subdistrict_of(*pt) or "")
        local = iso_ts(int(ts * 1000))
        stamp = local[0:4] + local[5:7] + local[8:10] + local[11:13]
        tid = f"DC{seed}-{stamp}-{_ticket_no(stamp, counts):04d}"
        text = f"{sub.name_zh if sub else '东城区'}居民反映：{rng.choice(SUMMARIES[kind])}"
        out.append(EpisodeTicket(tid, round(ts, 3), pt[0], pt[1], text))
    return tuple(out)


def _place(lon: float, lat: float) -> tuple[str, str]:
    """(subdistrict, cell) of a point."""
    return geo.subdistrict_of(lon, lat) or geo.subdistricts()[0].code, geo.grid_cell(lon, lat)


def _water_main(rng: random.Random, seed: int, day0: float, eid: str, counts: dict[str, int]) -> Episode:
    """A burst main by one of the water gauges."""
    fleet = build_sensors(seed)
    gauge = rng.choice([s for s in fleet if s["type"] == "water_level"])
    start = day0 + rng.uniform(0.0, 86_400.0)
    end = start + rng.uniform(1.5, 4.0) * 3600
    signals = [Signal(gauge["id"], "water_level", start, rng.uniform(10, 30) * 60, end, 1200.0, rng.uniform(8, 45))]
    covers = sorted(
        (geo.distance_km(gauge["lon"], gauge["lat"], s["lon"], s["lat"]), s["id"])
        for s in fleet
        if s["type"] == "manhole_tilt"
    )
    if covers and covers[0][0] <= TILT_NEAR_KM and rng.random() < TILT_P:
        lift = start + rng.uniform(3, 15) * 60
        signals.append(Signal(covers[0][1], "manhole_tilt", lift, 120.0, end, 0.0, rng.uniform(6, 20)))
    first = start + rng.uniform(10, 40) * 60
    tickets = _wave(rng, seed, "water_main", gauge["lon"], gauge["lat"], first, rng.randint(4, 10),
                    rng.uniform(30, 90) * 60, 0.0035, 0.0027, counts)  # fmt: skip
    return _episode(eid, "water_main", gauge["lon"], gauge["lat"], start, end, signals, tickets)


def _night_construction(rng: random.Random, seed: int, day0: float, eid: str, counts: dict[str, int]) -> Episode:
    """Machines at a building site by a noise pole, started in the night-time ban."""
    pole = rng.choice([s for s in build_sensors(seed) if s["type"] == "noise"])
    start = day0 + rng.uniform(22.0, 25.5) * 3600
    end = start + rng.uniform(2.0, 5.0) * 3600
    signals = [Signal(pole["id"], "noise", start, 0.0, end, 0.0, rng.uniform(76, 90))]
    first = start + rng.uniform(10, 45) * 60
    tickets = _wave(rng, seed, "night_construction", pole["lon"], pole["lat"], first, rng.randint(3, 8),
                    rng.uniform(40, 120) * 60, 0.003, 0.0023, counts)  # fmt: skip
    return _episode(eid, "night_construction", pole["lon"], pole["lat"], start, end, signals, tickets)


def _heating_failure(
    rng: random.Random, seed: int, day0: float, eid: str, counts: dict[str, int],
    avoid: Sequence[tuple[float, float]] = (),
) -> Episode | None:
    """A heat exchanger fails: its estate goes cold. The station's supply water cools first (by 15–25 °C over
    20–40 min, from its 50–60 °C); the flats follow and residents call 30–90 min after the failure. One exchanger
    fails once at a time: no station within HEATING_APART_KM of `avoid` (the day's other failures)."""
    stations = [
        s for s in build_sensors(seed)
        if s["type"] == "heat_supply_temp"
        and all(geo.distance_km(s["lon"], s["lat"], x, y) > HEATING_APART_KM for x, y in avoid)
    ]
    if not stations:
        return None
    sub = subdistrict_chooser()(rng)
    station = rng.choice([s for s in stations if s["subdistrict"] == sub.code] or stations)
    lon, lat = station["lon"], station["lat"]
    start = day0 + rng.uniform(5.0, 21.0) * 3600
    end = start + rng.uniform(3.0, 8.0) * 3600
    signals = [Signal(station["id"], "heat_supply_temp", start, rng.uniform(20, 40) * 60, end, 1800.0,
                      rng.uniform(15, 25))]  # fmt: skip
    first = start + rng.uniform(30, 90) * 60
    tickets = _wave(rng, seed, "heating_failure", lon, lat, first, rng.randint(6, 14),
                    rng.uniform(60, 180) * 60, ESTATE_DLON, ESTATE_DLAT, counts)  # fmt: skip
    return _episode(eid, "heating_failure", lon, lat, start, end, signals, tickets)


def _open_start(rng: random.Random, profile: str, day0: float) -> float | None:
    """A time of day when a spot of this profile is well open (at least half its peak) for 2.5 hours more."""
    pts = CROWD_PROFILES[profile]
    hours = [h / 4 for h in range(int(pts[0][0] * 4), int(pts[-1][0] * 4))]
    ok = [h for h in hours if min(interp(pts, h + k / 2) for k in range(6)) >= 0.5]
    return day0 + rng.choice(ok) * 3600 if ok else None


def _crowd_surge(rng: random.Random, seed: int, day0: float, eid: str, counts: dict[str, int]) -> Episode | None:
    """A sudden inflow at an open scenic spot or business district (a tour wave, a viral post, an event letting out)."""
    weekday = (date(1970, 1, 1) + timedelta(days=day_index(day0 + 3600))).weekday()
    spots = []
    for p in geo.places_of_type("scenic", "business_district"):
        profile, cap, _, closed_monday = CROWD_SPOTS.get(p.id, CROWD_DEFAULTS[p.type])
        if cap >= CROWD_SURGE_MIN_CAPACITY and not (closed_monday and weekday == 0):
            spots.append((p, profile))
    if not spots:
        return None
    place, profile = rng.choice(spots)
    start = _open_start(rng, profile, day0)
    if start is None:
        return None
    start += rng.uniform(0, 900)
    end = start + rng.uniform(1.0, 2.5) * 3600
    signals = [Signal(place.id, "crowd", start, rng.uniform(10, 25) * 60, end, 1200.0, rng.uniform(0.30, 0.55))]
    first = start + rng.uniform(15, 50) * 60
    tickets = _wave(rng, seed, "crowd_surge", place.lon, place.lat, first, rng.randint(3, 8),
                    rng.uniform(20, 60) * 60, 0.0035, 0.0027, counts)  # fmt: skip
    return _episode(eid, "crowd_surge", place.lon, place.lat, start, end, signals, tickets)


def _episode(
    eid: str,
    kind: str,
    lon: float,
    lat: float,
    start: float,
    end: float,
    signals: list[Signal],
    tickets: tuple[EpisodeTicket, ...],
) -> Episode:
    """Assemble an episode."""
    sub, cell = _place(lon, lat)
    return Episode(
        id=eid,
        kind=kind,
        subdistrict=sub,
        cell=cell,
        lon=round(lon, 6),
        lat=round(lat, 6),
        start=round(start, 3),
        end=round(end, 3),
        sensor_ids=tuple(s.sensor_id for s in signals),
        ticket_category=TICKET_CATEGORY[kind],
        first_complaint_at=tickets[0].ts,
        ticket_ids=tuple(t.ticket_id for t in tickets),
        signals=tuple(signals),
        tickets=tickets,
    )


_MAKERS: Final[dict[str, Callable[[random.Random, int, float, str, dict[str, int]], Episode | None]]] = {
    "water_main": _water_main,
    "night_construction": _night_construction,
    "heating_failure": _heating_failure,
    "crowd_surge": _crowd_surge,
}


def busy_until(ep: Episode) -> float:
    """Until when an episode acts on its sensors: its last complaint, or its signals' return to normal."""
    return max(ep.last_complaint_at, *(s.end + 4 * s.fall_s for s in ep.signals))


def _draw_day(
    seed: int, day: int, per_day: float, counts: dict[str, int], busy: Sequence[tuple[str, float, float]] = ()
) -> list[Episode]:
    """The episodes drawn for Beijing day `day` (ticket numbers from `counts`, which it advances), without any that
    would act on a sensor while another episode does: one of `busy` (sensor id, from, until) or one of the day's
    own drawn before it. One cause at a time at one gauge, pole, station or spot: a second burst at a gauge already
    under water, or a second failure of a cold exchanger, is the same trouble to anyone watching, so the world has
    none."""
    out: list[Episode] = []
    taken = list(busy)
    kinds = [k for k in KINDS if k != "heating_failure" or in_heating_season(day)]
    ymd = (date(1970, 1, 1) + timedelta(days=day)).strftime("%Y%m%d")
    for kind in kinds:
        rng = random.Random(f"dc-episodes:{seed}:{day}:{kind}")
        for j in range(_poisson(rng, per_day / len(kinds)) if per_day > 0 else 0):
            day0, eid = day * 86_400.0 - OFFSET_S, f"EP{ymd}-{kind}-{j + 1}"
            trial = dict(counts)  # a dropped episode gives its ticket numbers back
            if kind == "heating_failure":
                heated = [(e.lon, e.lat) for e in out if e.kind == kind]  # the day's failures so far
                ep = _heating_failure(rng, seed, day0, eid, trial, heated)
            else:
                ep = _MAKERS[kind](rng, seed, day0, eid, trial)
            if ep is None:
                continue
            until = busy_until(ep)
            if any(sid in ep.sensor_ids and ep.start < t1 and t0 < until for sid, t0, t1 in taken):
                continue
            counts.update(trial)
            taken.extend((sid, ep.start, until) for sid in ep.sensor_ids)
            out.append(ep)
    return out


@lru_cache(maxsize=64)
def _drawn_busy(seed: int, day: int, per_day: float) -> tuple[tuple[str, float, float], ...]:
    """(sensor id, from, until) of the episodes drawn for a day before looking at the day before: what the next
    day's episodes keep clear of. (Looking further back would chain every day to the first; an episode of this
    list that its own day then drops only keeps the next day a little clearer.)"""
    return tuple((sid, ep.start, busy_until(ep)) for ep in _draw_day(seed, day, per_day, {}) for sid in ep.sensor_ids)


@lru_cache(maxsize=64)
def day_episodes(seed: int, d: int, per_day: float = EPISODES_PER_DAY) -> tuple[Episode, ...]:
    """The episodes that start on Beijing day d (index as day_index), by start time."""
    out: list[Episode] = []
    # Ticket numbers are handed out per hour across the episodes of this day and the day before, whose night
    # construction complaints can fall into this day's first hours.
    counts: dict[str, int] = {}
    for day in (d - 1, d):
        drawn = _draw_day(seed, day, per_day, counts, _drawn_busy(seed, day - 1, per_day))
        if day == d:
            out.extend(drawn)
    out.sort(key=lambda e: (e.start, e.id))
    return tuple(out)


def episodes_between(seed: int, t0: float, t1: float, per_day: float = EPISODES_PER_DAY) -> list[Episode]:
    """Every episode whose cause begins in [t0, t1), by start time; deterministic from the seed."""
    if t1 <= t0:
        return []
    out = [
        ep
        for d in range(day_index(t0), day_index(t1) + 1)
        for ep in day_episodes(seed, d, float(per_day))
        if t0 <= ep.start < t1
    ]
    return out
