"""A simulated Dongcheng: smart poles, traffic, parking, crowds, 12345 tickets and incidents, fed through the API."""

from __future__ import annotations

import argparse
import bisect
import http.client
import itertools
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
import urllib.parse
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Final, Generic, TypeVar

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import OFFSET_ISO, OFFSET_S
from dashboard.domain.season import in_heating_season
from simulator import episodes as _episodes

log = logging.getLogger("simulator.feed")

# --- time -------------------------------------------------------------------------------------

# Beijing has kept UTC+8 without daylight saving since 1991 (dashboard.domain.beijing), so local hours stay aligned
# with UTC hours and hour blocks can be indexed in epoch hours.
DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000

# --- fleet ------------------------------------------------------------------------------------

DEFAULT_SEED: Final = 7
DEFAULT_RATE: Final = 50.0
DEFAULT_SOURCE: Final = "sim"
POLES_TOTAL: Final = 190
POLES_MIN_PER_SUBDISTRICT: Final = 6
# Poles stand within ~40 m of the facility they are anchored to (a bus stop, a school gate, a metro exit).
POLE_JITTER_LON: Final = 0.00045
POLE_JITTER_LAT: Final = 0.00035
# Chance that a street pole carries each sensor (一杆多感); at most three per pole.
POLE_SENSOR_P: Final = (("pm25", 0.8), ("noise", 0.75), ("manhole_tilt", 0.35))
# Gas detectors sit over the utility tunnels, which follow the main roads.
GAS_P_NEAR_ROAD: Final = 0.3
GAS_P_ELSEWHERE: Final = 0.04
NEAR_ROAD_DEG: Final = 0.0025
MAX_SENSORS_PER_POLE: Final = 3
WATER_GAUGES: Final = 18
COLD_CHAIN_SENSORS: Final = 8
SENSOR_ABBR: Final = {
    "pm25": "PM25",
    "noise": "NOI",
    "water_level": "WL",
    "manhole_tilt": "MH",
    "gas": "GAS",
    "cold_chain_temp": "CC",
    "heat_supply_temp": "HS",
}
# Heat-exchange stations (换热站) of the district heating company, one in each of a few residential estates per
# subdistrict (at points callers call from), each reporting its supply water temperature: 50–60 °C in the heating
# season (a little warmer at night), about the air temperature out of season, when the loop is off.
HEAT_STATIONS_PER_SUBDISTRICT: Final = 2
HEAT_SUPPLY_C: Final = (50.0, 60.0)
HEAT_NIGHT_BOOST_C: Final = 2.0
HEAT_SUPPLY_SIGMA_C: Final = 0.4
HEAT_OFF_SEASON_C: Final = 14.0
TRAFFIC_DETECTOR_SPACING_KM: Final = 0.4
# The central axis runs through places without cars: no speed detectors inside the Palace Museum or on the square.
CAR_FREE_BOXES: Final = (
    (116.3855, 39.9085, 116.3965, 39.9245),  # 故宫 and the gates south of it
    (116.3885, 39.9000, 116.3945, 39.9050),  # 天安门广场
)
# Callers are placed at one of these points per subdistrict, moved by up to ~40 m.
POOL_POINTS: Final = 64
POOL_JITTER_DEG: Final = 0.0004

# --- event mix and rhythm ---------------------------------------------------------------------

# Share of the target rate taken by each periodic stream; sensor readings take the rest.
SHARE_TRAFFIC: Final = 0.10
SHARE_PARKING: Final = 0.03
SHARE_CROWD: Final = 0.05
# The longest gap between two reports of one reporter, however low the rate.
MAX_PERIOD_MS: Final = {"sensor": 30_000, "traffic": 60_000, "parking": 60_000, "crowd": 60_000}
# Dongcheng dispatches roughly 500–1,000 tickets a day; at the default rate we simulate ~1,000 and scale with rate.
TICKETS_PER_DAY_AT_DEFAULT: Final = 1000.0
TICKETS_PER_DAY_MIN: Final = 500.0
INCIDENTS_PER_DAY_AT_DEFAULT: Final = 60.0
INCIDENTS_PER_DAY_MIN: Final = 40.0
UPDATES_PER_TICKET: Final = 3
# Expected share of sensors silent at any moment; the sensor period is shortened to keep the total rate.
EXPECTED_SILENT_SHARE: Final = 0.01

# 12345 tickets by local hour: peaks 09–11 h and 14–16 h, quiet at night (facts file, 2019 release).
HOTLINE_RHYTHM: Final = (
    0.3, 0.2, 0.15, 0.12, 0.12, 0.2, 0.6, 1.6, 3.2, 4.6, 4.8, 3.6,
    2.4, 2.8, 4.2, 4.4, 3.4, 2.6, 2.2, 2.0, 1.8, 1.3, 0.9, 0.5,
)  # fmt: skip
HOTLINE_WEEKEND_FACTOR: Final = 0.8
# Category mix of dispatched tickets, per cent (facts file "suggested category mix"); heating only in season.
HOTLINE_MIX: Final = {
    "heating": 1.5,
    "property": 10.0,
    "noise": 7.5,
    "parking_traffic": 10.0,
    "sanitation": 6.0,
    "market": 10.0,
    "housing": 6.5,
    "construction": 6.0,
    "public_service": 17.0,
    "other": 25.5,
}
# In the heating season (Nov 15 – Mar 15) heating complaints make up about a fifth of all tickets.
HOTLINE_HEATING_SHARE_IN_SEASON: Final = 0.20
HOTLINE_SATISFIED_P: Final = 0.9
HOTLINE_ON_TIME_P: Final = 0.88
HOTLINE_RESPONSE_MEDIAN_MIN: Final = 35.0
HOTLINE_CLOSE_MEDIAN_H: Final = 3.0
HOTLINE_SUMMARIES: Final = {
    "heating": (
        "家中暖气不热，室温不足16℃",
        "楼内暖气漏水，请求维修",
        "供暖后室温偏低，老人孩子受冻",
        "暖气片不热，物业推诿",
    ),
    "property": (
        "楼道灯损坏多日无人维修",
        "物业费收取不透明",
        "电梯频繁故障，物业维修不及时",
        "单元门禁损坏，物业不处理",
    ),
    "noise": ("夜间施工噪音扰民", "楼下商户音响声音过大", "广场舞音量过大影响休息", "空调外机噪音扰民"),
    "parking_traffic": ("胡同内车辆乱停乱放，堵塞消防通道", "共享单车占用人行道", "路口信号灯故障", "外卖电动车逆行"),
    "sanitation": ("垃圾桶满溢未及时清运", "胡同内有人乱倒建筑垃圾", "公共厕所卫生差", "路面油污未清理"),
    "market": ("商户占道经营", "游商摆摊影响通行", "饭店油烟扰民", "超市售卖过期食品"),
    "housing": ("老旧小区外墙脱落", "平房漏雨请求修缮", "老楼加装电梯进展咨询", "房屋租赁纠纷"),
    "construction": ("疑似违建加层", "施工围挡占用人行道", "装修拆改承重墙", "工地扬尘未覆盖"),
    "public_service": ("公交站牌信息错误", "社区卫生服务站开放时间咨询", "路灯不亮", "井盖松动存在隐患"),
    "other": ("咨询居住证办理", "反映欠薪问题", "入学政策咨询", "建议增设无障碍设施"),
}

# Incidents: the mix of categories, the four levels (IV common … I very rare), and how they are titled.
# Waterlogging and crowding are not in the everyday mix: they come with the rain and with full scenic spots.
INCIDENT_MIX: Final = {
    "traffic_accident": 0.35,
    "medical": 0.19,
    "public_security": 0.14,
    "fire": 0.07,
    "utility": 0.10,
    "structure": 0.04,
    "gas_leak": 0.03,
    "other": 0.08,
}
# Levels by category, per mille (IV, III, II, I): a level-I event is a major fire or explosion, never a manhole.
SEVERITY_MIX: Final = {
    "traffic_accident": (910, 80, 9, 1),
    "medical": (945, 50, 5, 0),
    "public_security": (910, 85, 5, 0),
    "fire": (850, 130, 18, 2),
    "utility": (905, 90, 5, 0),
    "structure": (870, 110, 19, 1),
    "gas_leak": (750, 210, 35, 5),
    "other": (970, 30, 0, 0),
}
# Incidents by local hour relative to the mean: fewer at night, more in the rush hours.
INCIDENT_RHYTHM: Final = (
    0.4, 0.3, 0.3, 0.3, 0.3, 0.4, 0.7, 1.3, 1.6, 1.4, 1.2, 1.2,
    1.2, 1.2, 1.2, 1.2, 1.3, 1.6, 1.6, 1.3, 1.1, 0.9, 0.7, 0.5,
)  # fmt: skip
INCIDENT_TITLES: Final = {
    "traffic_accident": ("交通事故", "两车追尾", "机动车与电动车相撞", "多车剐蹭"),
    "medical": ("突发疾病", "游客晕倒", "老人摔伤"),
    "public_security": ("治安纠纷", "打架斗殴", "可疑人员报警"),
    "fire": ("居民楼火情", "餐馆厨房起火", "电动车充电起火"),
    "utility": ("自来水管爆裂", "供电故障停电", "热力管线泄漏", "井盖移位"),
    "structure": ("平房墙体倒塌", "外墙瓦片坠落", "广告牌松动"),
    "gas_leak": ("燃气泄漏",),
    "waterlogging": ("路面积水",),
    "crowd": ("人员聚集拥挤",),
    "other": ("树木倒伏", "动物伤人", "其他突发事件"),
}
# Titles for level I and II: only the serious kind of each category reaches them.
INCIDENT_TITLES_SEVERE: Final = {
    "traffic_accident": ("多车连环相撞", "公交车与货车相撞"),
    "medical": ("群体性食物中毒",),
    "public_security": ("群体性事件",),
    "fire": ("居民楼火灾", "沿街商铺火灾"),
    "utility": ("大面积停电", "供水主管爆裂"),
    "structure": ("房屋坍塌",),
    "gas_leak": ("燃气爆炸", "燃气管线泄漏"),
    "other": ("重大突发事件",),
}
SEVERITY_ZH: Final = {1: "特别重大", 2: "重大", 3: "较大", 4: "一般"}
ROAD_NAMES: Final = {
    "road_changan": "长安街",
    "road_2nd_ring_north": "北二环",
    "road_2nd_ring_east": "东二环",
    "road_2nd_ring_south": "南二环",
    "road_liangguang": "两广路",
    "road_ping_an": "平安大街",
    "road_qiansanmen": "前三门大街",
}
# Crowd incidents start once a spot is this full.
CROWD_INCIDENT_LOAD: Final = 0.85
# Chance per day of a crowding incident at a spot, per unit of peak load above CROWD_INCIDENT_LOAD.
CROWD_INCIDENT_P_PER_LOAD: Final = 4.0

# --- physics of the sensors -------------------------------------------------------------------

# Monthly mean PM2.5 in µg/m³ (2021–2024 regime, facts file): winter 35–55, summer 15–30.
PM25_MONTHLY: Final = (0, 44, 40, 38, 35, 31, 25, 23, 21, 25, 31, 39, 42)
PM25_DAY_SIGMA: Final = 0.28
PM25_EPISODE_P_HEATING: Final = 0.04
PM25_EPISODE_P_SPRING: Final = 0.03
PM25_EPISODE_FACTOR: Final = 2.6
PM25_SENSOR_SIGMA: Final = 0.08
# A few poles stand by busy junctions or building sites and read well above the district level.
PM25_HOTSPOT_P: Final = 0.06
PM25_HOTSPOT_FACTOR: Final = (1.4, 1.8)
# Rain: chance of a rain episode on a day of each month (Beijing rains mostly in July and August).
RAIN_P: Final = (0, 0.03, 0.04, 0.06, 0.10, 0.15, 0.25, 0.42, 0.38, 0.18, 0.10, 0.05, 0.03)
RAIN_HEAVY_P: Final = 0.2
# Water on the road (cm) per mm/h of rain at a gauge of susceptibility 1.
WATER_CM_PER_MMH: Final = 0.8
WATER_DRAIN_MS: Final = 2_400_000
# Per sensor and day: chance of an episode (dust or a barbecue nearby, night construction, a displaced cover,
# a gas leak, a freezer warming up).
EPISODE_P: Final = {"pm25": 0.02, "noise": 0.012, "manhole_tilt": 0.008, "gas": 0.006, "cold_chain_temp": 0.04}
NOISE_HONK_P: Final = 0.004
# Outages: short ones come back within minutes; a couple of sensors a day stay silent for a day or two.
OUTAGE_SHORT_P: Final = 0.5
OUTAGES_LONG_PER_DAY: Final = 2

# --- traffic, parking and crowds --------------------------------------------------------------

# Free-flow speed and the share of it left at the peak: 2nd Ring 50–65 → 20–35 km/h, arterials 30–45 → 15–25.
RING_FREE_KMH: Final = (52.0, 63.0)
RING_PEAK_RATIO: Final = (0.40, 0.55)
ARTERIAL_FREE_KMH: Final = (33.0, 43.0)
ARTERIAL_PEAK_RATIO: Final = (0.45, 0.58)
# Congestion (0 free … 1 peak) on working days: rush hours 07–09 and 17–19:30.
CONGESTION_WEEKDAY: Final = (
    (0.0, -0.15), (5.0, -0.15), (6.5, 0.1), (7.25, 1.0), (8.75, 1.0), (9.5, 0.2), (16.5, 0.25),
    (17.25, 1.0), (19.25, 1.0), (20.25, 0.3), (22.5, 0.0), (24.0, -0.15),
)  # fmt: skip
CONGESTION_WEEKEND: Final = (
    (0.0, -0.15), (6.0, -0.1), (9.0, 0.1), (10.5, 0.45), (18.0, 0.45), (19.5, 0.15), (22.5, 0.0), (24.0, -0.15),
)  # fmt: skip
# Parking demand as a share of capacity by local hour (hospitals near full 08–16 h).
PARKING_PROFILES: Final = {
    "hospital": (
        (0.0, 0.3),
        (6.0, 0.32),
        (7.0, 0.7),
        (8.0, 0.97),
        (16.0, 0.97),
        (18.0, 0.7),
        (20.0, 0.45),
        (24.0, 0.3),
    ),
    "hospital_weekend": ((0.0, 0.3), (7.0, 0.5), (9.0, 0.8), (15.0, 0.8), (18.0, 0.5), (24.0, 0.3)),
    "school": (
        (0.0, 0.08),
        (7.0, 0.15),
        (7.75, 0.75),
        (8.5, 0.45),
        (16.0, 0.5),
        (16.75, 0.9),
        (17.5, 0.35),
        (19.0, 0.12),
        (24.0, 0.08),
    ),
    "school_off": ((0.0, 0.08), (24.0, 0.08)),
    "transport_hub": ((0.0, 0.45), (6.0, 0.5), (9.0, 0.85), (18.0, 0.9), (22.0, 0.65), (24.0, 0.45)),
}
# Crowd as a share of the day's peak by local hour; zero outside the keypoints (closed).
CROWD_PROFILES: Final = {
    "museum": ((8.5, 0.1), (10.5, 1.0), (14.5, 1.0), (16.0, 0.45), (16.9, 0.05), (17.0, 0.0)),
    "temple": ((9.0, 0.1), (10.5, 1.0), (14.0, 1.0), (16.0, 0.3), (16.5, 0.0)),
    "park": ((6.0, 0.2), (8.0, 0.3), (10.0, 1.0), (15.5, 1.0), (18.0, 0.3), (20.5, 0.1), (21.0, 0.0)),
    "square": ((5.0, 0.15), (8.0, 0.4), (10.0, 1.0), (16.0, 1.0), (19.0, 0.5), (21.5, 0.15), (22.0, 0.0)),
    "street": ((9.0, 0.1), (11.0, 0.5), (14.0, 0.8), (17.0, 0.7), (19.5, 1.0), (21.0, 0.9), (22.5, 0.2), (23.0, 0.0)),
    "business": (
        (10.0, 0.2),
        (12.0, 0.6),
        (15.0, 0.85),
        (17.0, 0.75),
        (19.5, 1.0),
        (21.0, 0.8),
        (22.0, 0.15),
        (22.5, 0.0),
    ),
    # 簋街 eats late: open until about 03:00 (hours past 24 belong to the next morning).
    "food": ((11.0, 0.15), (13.0, 0.35), (15.0, 0.2), (18.0, 0.7), (20.5, 1.0), (23.0, 0.9), (25.0, 0.35), (27.0, 0.0)),
}
# Scenic spots: (profile, instantaneous capacity, peak load on a working day, closed on Mondays).
CROWD_SPOTS: Final = {
    "poi_011": ("museum", 30000, 0.62, True),  # 故宫: 40,000 tickets a day, ~30,000 inside at once
    "poi_012": ("park", 20000, 0.55, False),  # 天坛
    "poi_013": ("temple", 8000, 0.6, False),  # 雍和宫
    "poi_014": ("street", 15000, 0.6, False),  # 南锣鼓巷: busy into the evening
    "poi_015": ("museum", 3000, 0.45, True),
    "poi_016": ("park", 10000, 0.4, False),
    "poi_017": ("square", 60000, 0.5, False),  # 天安门广场
    "poi_018": ("museum", 15000, 0.6, True),  # 国家博物馆
    "poi_019": ("park", 5000, 0.45, False),
    "poi_020": ("park", 8000, 0.4, False),
    "poi_021": ("museum", 3000, 0.5, True),
    "poi_022": ("museum", 5000, 0.5, True),
    "poi_023": ("museum", 2000, 0.35, True),
    "poi_024": ("park", 3000, 0.35, False),
    "poi_025": ("museum", 800, 0.3, True),
    "poi_026": ("park", 8000, 0.35, False),
    "poi_027": ("park", 5000, 0.35, False),
    "poi_028": ("park", 3000, 0.3, False),
    "poi_029": ("park", 2000, 0.3, False),
    "poi_030": ("park", 3000, 0.35, False),
    "poi_031": ("park", 2000, 0.35, False),
    "poi_032": ("street", 3000, 0.4, False),
    "poi_033": ("street", 4000, 0.45, False),
    "poi_034": ("street", 4000, 0.45, False),
    "poi_035": ("street", 3000, 0.4, False),
    "poi_036": ("museum", 500, 0.3, True),
    "poi_037": ("museum", 1500, 0.5, True),
    "poi_038": ("museum", 800, 0.35, True),
    "poi_039": ("museum", 500, 0.3, True),
    "poi_040": ("museum", 500, 0.3, True),
    "poi_041": ("business", 40000, 0.55, False),  # 王府井
    "poi_042": ("business", 35000, 0.55, False),  # 前门大街
    "poi_043": ("business", 8000, 0.5, False),
    "poi_044": ("business", 15000, 0.5, False),
    "poi_045": ("business", 15000, 0.5, False),
    "poi_046": ("food", 8000, 0.55, False),  # 簋街
}
CROWD_DEFAULTS: Final = {"scenic": ("museum", 1000, 0.4, True), "business_district": ("business", 10000, 0.5, False)}
CROWD_WEEKEND_FACTOR: Final = 1.35
CROWD_HOLIDAY_FACTOR: Final = 1.55
CROWD_MAX_LOAD: Final = 1.05
# A crowd surge (dashboard/episodes.py) can overfill a spot beyond its usual maximum.
CROWD_SURGE_MAX_LOAD: Final = 1.3
PARKING_CAPACITY: Final = {"hospital": (150, 600), "school": (150, 250), "transport_hub": (400, 600)}
FIXED_HOLIDAYS: Final = frozenset([(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5)] + [(10, d) for d in range(1, 8)])

# --- live loop --------------------------------------------------------------------------------

MAX_EVENTS_PER_POST: Final = 2000
# Drop telemetry this long before the validator would refuse it as no longer live.
STALE_MARGIN_S: Final = 30.0
MAX_PENDING_EVENTS: Final = 300_000
SUMMARY_EVERY_S: Final = 10.0
RETRY_AFTER_DEFAULT_S: Final = 2.0
RETRY_AFTER_MAX_S: Final = 30.0
BACKOFF_MAX_S: Final = 10.0
SERVER_ERROR_RETRIES: Final = 3
HTTP_TIMEOUT_S: Final = 10.0
# At start-up, incidents older than this are not replayed (nobody would act on them any more).
BACKFILL_INCIDENTS_S: Final = 1800.0

# Tags that keep the random streams of different purposes apart.
_T_SECOND, _T_DAY, _T_EPISODE, _T_OUTAGE, _T_TICKET, _T_TICKET_DETAIL, _T_INCIDENT, _T_PHASE, _T_INCIDENT_END = range(
    1, 10
)
# Minutes from report to resolution by severity (field units close the common ones within the hour), and
# minutes from resolution to the source closing the case.
INCIDENT_RESOLVE_MIN: Final = {1: (120, 360), 2: (60, 240), 3: (40, 150), 4: (20, 90)}
INCIDENT_CLOSE_MIN: Final = (10, 30)
INCIDENT_LIFE_H: Final = 7
# Seconds between two POSTs of the live loop: small batches keep each ingest request short, so that a web
# worker shared with a wall answers the wall's refresh without waiting long behind a validation.
BATCH_SECONDS: Final = 0.2
_T_FLEET, _T_UNITS, _T_ENTITY, _T_POOL = range(9, 13)
_T_SIGNAL: Final = 20
_M64: Final = (1 << 64) - 1

_K = TypeVar("_K")
_V = TypeVar("_V")


def _mix(seed: int, tag: int, a: int, b: int = 0) -> int:
    """A non-negative integer seed unique to (seed, tag, a, b)."""
    return ((seed & 0xFFFFFFFF) << 192) | (tag << 160) | ((a & _M64) << 64) | (b & _M64)


def _rng(seed: int, tag: int, a: int, b: int = 0) -> random.Random:
    """A random stream of its own for one purpose, seed and time slot."""
    return random.Random(_mix(seed, tag, a, b))


class _LRU(OrderedDict[_K, _V]):
    """A small least-recently-used cache."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key: _K, make: Callable[[], _V]) -> _V:
        """The cached value for key, computing it once when missing."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


def _interp(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear interpolation through (x, y) keypoints; 0 outside them."""
    if x < points[0][0] or x > points[-1][0]:
        return 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return points[-1][1]


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Chooser(Generic[_V]):
    """Weighted choice from a fixed (item, weight) list by bisection on cumulative weights."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, mix: Sequence[tuple[_V, float]]) -> None:
        self.items = [item for item, _ in mix]
        self.cum = list(itertools.accumulate(w for _, w in mix))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> _V:
        """One item, drawn with one uniform from rng."""
        return self.items[min(len(self.items) - 1, bisect.bisect_right(self.cum, rng.random() * self.total))]


def iso_ts(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 in Beijing time, e.g. 2026-11-25T08:00:00.123+08:00."""
    tm = time.gmtime(ms // 1000 + OFFSET_S)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s" % (*tm[:6], ms % 1000, OFFSET_ISO)  # noqa: UP031 - fast


def local_hour(t: float) -> float:
    """Beijing local hour of the day (0–24) of an epoch time in seconds."""
    return ((t + OFFSET_S) % 86400) / 3600.0


def day_index(t: float) -> int:
    """Index of the Beijing calendar day containing epoch time t (seconds)."""
    return int((t + OFFSET_S) // 86400)


def day_start(t: float) -> float:
    """Epoch seconds of the Beijing midnight that starts the day of t."""
    return day_index(t) * 86400.0 - OFFSET_S


# --- geography helpers ------------------------------------------------------------------------


def _strictly_inside(lon: float, lat: float) -> bool:
    """Inside the district outline itself (no margin)."""
    return geo.in_district(lon, lat, margin=0)


@dataclass(frozen=True)
class _Facility:
    """A facility point with the subdistrict it lies in."""

    lon: float
    lat: float
    layer: str
    name: str
    subdistrict: str


@cache
def _facilities() -> tuple[_Facility, ...]:
    """Facility points strictly inside the district, with their subdistrict."""
    with (geo.DATA_DIR / "dongcheng_facilities.geojson").open(encoding="utf-8") as fh:
        data = json.load(fh)
    out = []
    for f in data["features"]:
        lon, lat = (float(v) for v in f["geometry"]["coordinates"])
        sub = geo.subdistrict_of(lon, lat)
        if sub and _strictly_inside(lon, lat):
            p = f["properties"]
            out.append(_Facility(lon, lat, p.get("layer", ""), p.get("name_zh") or "", sub))
    return tuple(out)


@cache
def _named_points() -> tuple[tuple[float, float, str], ...]:
    """Names to tell where something is: metro stations and the named places."""
    # Not the bus stops: many of their names in the source file belong to other cities.
    pts = [(f.lon, f.lat, f.name) for f in _facilities() if f.layer == "metro_station" and f.name]
    pts += [(p.lon, p.lat, _short(p.name_zh)) for p in geo.places()]
    return tuple(pts)


def _segment_distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Planar distance in degrees from a point to a segment."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    f = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - a[0]) * dx + (py - a[1]) * dy) / length2))
    return math.hypot(px - (a[0] + f * dx), py - (a[1] + f * dy))


def _near_road(lon: float, lat: float) -> bool:
    """True when the point is within NEAR_ROAD_DEG of one of the corridors."""
    return any(
        _segment_distance(lon, lat, a, b) <= NEAR_ROAD_DEG
        for cor in geo.corridors()
        for a, b in zip(cor.coords, cor.coords[1:], strict=False)
    )


def _nearest_name(lon: float, lat: float) -> str:
    """Name of the nearest metro station or bus stop."""
    k = math.cos(math.radians(lat)) ** 2
    best = min(_named_points(), key=lambda p: (p[0] - lon) ** 2 * k + (p[1] - lat) ** 2)
    return best[2]


def _road_name(corridor_id: str, lat: float) -> str:
    """The everyday name of the stretch of a corridor at a latitude."""
    if corridor_id == "road_ns_line5":
        return (
            "雍和宫大街"
            if lat > 39.941
            else "东四北大街"
            if lat > 39.924
            else "东单北大街"
            if lat > 39.9
            else "崇文门外大街"
        )
    if corridor_id == "road_central_axis":
        return "地安门外大街" if lat > 39.93 else "长安街" if lat > 39.903 else "前门大街"
    return ROAD_NAMES.get(corridor_id) or _short(geo.corridor_by_id()[corridor_id].name_zh)


def _short(name: str) -> str:
    """A place name without its parenthesised qualifier."""
    return name.split("（")[0].split("(")[0].strip()


def _ring_area(ring: Sequence[tuple[float, float]]) -> float:
    """Planar area of a ring in km² (shoelace on an equirectangular projection)."""
    k = 111.32 * math.cos(math.radians(ring[0][1]))
    s = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    return abs(s) / 2 * k * 110.57


@cache
def _subdistrict_pool(code: str) -> tuple[tuple[float, float], ...]:
    """Random points inside a subdistrict (and the outline): where its citizens call from."""
    sub = geo.subdistrict_by_code()[code]
    rng = _rng(0, _T_POOL, int(code))
    x0, y0, x1, y1 = sub.bbox
    out: list[tuple[float, float]] = []
    while len(out) < POOL_POINTS:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if geo.point_in_ring(x, y, sub.ring) and _strictly_inside(x, y):
            out.append((round(x, 6), round(y, 6)))
    return tuple(out)


def _jitter_inside(
    rng: random.Random, lon: float, lat: float, code: str | None, dlon: float, dlat: float
) -> tuple[float, float] | None:
    """A point near (lon, lat) strictly inside the district (and subdistrict `code` when given)."""
    for _ in range(12):
        x = round(lon + rng.uniform(-dlon, dlon), 6)
        y = round(lat + rng.uniform(-dlat, dlat), 6)
        if _strictly_inside(x, y) and (code is None or geo.subdistrict_of(x, y) == code):
            return x, y
    x, y = round(lon, 6), round(lat, 6)
    if _strictly_inside(x, y) and (code is None or geo.subdistrict_of(x, y) == code):
        return x, y
    return None


# --- fleet ------------------------------------------------------------------------------------


@cache
def _fleet(seed: int) -> tuple[tuple[dict[str, Any], str], ...]:
    """The sensors with the name of the nearest stop (for incident titles); deterministic from the seed."""
    rng = _rng(seed, _T_FLEET, 0)
    subs = geo.subdistricts()
    pops = [s.population for s in subs]
    areas = [_ring_area(s.ring) for s in subs]
    # Weight by people and by ground covered: dense old quarters and large residential areas both need poles.
    weights = [0.5 * p / sum(pops) + 0.5 * a / sum(areas) for p, a in zip(pops, areas, strict=True)]
    by_sub: dict[str, list[_Facility]] = {s.code: [] for s in subs}
    for f in _facilities():
        by_sub[f.subdistrict].append(f)
    sensors: list[tuple[dict[str, Any], str]] = []
    pole_no = 0

    def add_pole(lon: float, lat: float, code: str, types: list[str], name: str) -> None:
        nonlocal pole_no
        pole_no += 1
        pole = f"DC-P{pole_no:04d}"
        for t in types:
            row = {"id": f"{pole}-{SENSOR_ABBR[t]}", "type": t, "pole_id": pole, "lon": lon, "lat": lat}
            sensors.append(({**row, "subdistrict": code}, name))

    for sub, w in zip(subs, weights, strict=True):
        n = max(POLES_MIN_PER_SUBDISTRICT, round(POLES_TOTAL * w))
        anchors = sorted(by_sub[sub.code], key=lambda f: (f.lon, f.lat))
        rng.shuffle(anchors)
        placed = 0
        for k in range(n * 4):
            if placed == n:
                break
            if anchors:
                a = anchors[k % len(anchors)]
                spread = 1 + k // len(anchors)  # reuse an anchor only further away from it
                pt = _jitter_inside(rng, a.lon, a.lat, sub.code, POLE_JITTER_LON * spread, POLE_JITTER_LAT * spread)
            else:
                pool = _subdistrict_pool(sub.code)
                pt = pool[rng.randrange(len(pool))]
            if pt is None:
                continue
            types = [t for t, p in POLE_SENSOR_P if rng.random() < p]
            if rng.random() < (GAS_P_NEAR_ROAD if _near_road(*pt) else GAS_P_ELSEWHERE):
                types.append("gas")
            if not types:
                types = ["pm25"]
            if len(types) > MAX_SENSORS_PER_POLE:
                types.remove("manhole_tilt")
            add_pole(pt[0], pt[1], sub.code, types, _nearest_name(*pt))
            placed += 1

    # Water gauges at the low spots: the underpasses and bridges of the ring road and the arterials.
    # Two thirds go under the ring road's bridges, where Beijing's underpasses flood first.
    spots = {(x, y): "ring" in cor.id for cor in geo.corridors() for x, y in cor.coords}
    lows = sorted(p for p in spots if _strictly_inside(*p) and geo.subdistrict_of(*p))
    ring_lows = [p for p in lows if spots[p]]
    other_lows = [p for p in lows if not spots[p]]
    rng.shuffle(ring_lows)
    rng.shuffle(other_lows)
    n_ring = min(len(ring_lows), WATER_GAUGES * 2 // 3)
    for x, y in (ring_lows[:n_ring] + other_lows + ring_lows[n_ring:])[:WATER_GAUGES]:
        pt = _jitter_inside(rng, x, y, None, 0.0002, 0.0002)
        if pt is not None:
            code = geo.subdistrict_of(*pt)
            assert code is not None
            add_pole(pt[0], pt[1], code, ["water_level"], _nearest_name(*pt))

    # Cold-chain probes in the freezers of hospitals and markets: not on poles.
    sites = list(geo.places_of_type("hospital", "business_district"))
    rng.shuffle(sites)
    for k, site in enumerate(sites[:COLD_CHAIN_SENSORS], start=1):
        pt = _jitter_inside(rng, site.lon, site.lat, None, 0.0002, 0.0002)
        if pt is None:
            continue
        code = geo.subdistrict_of(*pt)
        assert code is not None
        row = {"id": f"DC-CC{k:02d}", "type": "cold_chain_temp", "pole_id": None, "lon": pt[0], "lat": pt[1]}
        sensors.append(({**row, "subdistrict": code}, _short(site.name_zh)))

    # Heat-exchange stations in residential estates: distinct estate points of each subdistrict, from their own
    # stream so that the other sensors stay where they were.
    hrng = _rng(seed, _T_FLEET, 1)
    k = 0
    for sub in subs:
        pool = _subdistrict_pool(sub.code)
        for j in sorted(hrng.sample(range(len(pool)), HEAT_STATIONS_PER_SUBDISTRICT)):
            k += 1
            lon, lat = pool[j]
            row = {"id": f"DC-HS{k:02d}", "type": "heat_supply_temp", "pole_id": None, "lon": lon, "lat": lat}
            sensors.append(({**row, "subdistrict": sub.code}, _nearest_name(lon, lat)))
    return tuple(sensors)


def build_fleet(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The smart-pole sensors of the simulated district: rows with the Sensor columns (no installed_at)."""
    return [dict(row) for row, _ in _fleet(seed)]


# Fire stations and utility crews of the district (names in the style of their real counterparts).
_FIRE_STATIONS: Final = ("东直门", "东四", "前门", "天坛", "和平里")
_UTILITY_CREWS: Final = (
    "北京燃气 东城抢修队",
    "北京排水集团 东城抢险队",
    "北京自来水 东城维修队",
    "国网东城供电 抢修队",
)
UNITS_OFF_DUTY: Final = 3


def build_units(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """About 40 response units with the Unit columns (police, fire, ambulance, 城管, grid, utility)."""
    rng = _rng(seed, _T_UNITS, 0)
    subs = geo.subdistricts()
    by_pop = sorted(subs, key=lambda s: (-s.population, s.code))
    by_name = geo.subdistrict_by_name()
    plan: list[tuple[str, str, float, float]] = []  # (kind, name, lon, lat)
    # Police: a patrol group from the station of each of the 12 most populous subdistricts, two in the core.
    for s in by_pop[:12]:
        plan.append(("police", f"{s.name_zh.removesuffix('街道')}派出所 巡逻1组", *s.label))
    core = geo.subdistrict_by_code()["110101001"]
    plan.append(("police", f"{core.name_zh.removesuffix('街道')}派出所 巡逻2组", *core.label))
    for k, st in enumerate(_FIRE_STATIONS, start=1):
        s = by_name.get(f"{st}街道") or subs[(k * 3) % len(subs)]
        plan.append(("fire", f"东城消防救援支队 {st}消防救援站 {(k - 1) % 2 + 1}号车", *s.label))
    for k, h in enumerate(geo.places_of_type("hospital")[:6], start=1):
        plan.append(("ambulance", f"北京120 {_short(h.name_zh)} 急救车{k}", h.lon, h.lat))
    for s in by_pop[:6]:
        plan.append(("chengguan", f"东城城管执法局 {s.name_zh.removesuffix('街道')}执法队", *s.label))
    for s in sorted(by_pop[:8], key=lambda s: s.code):
        plan.append(("grid", f"{s.name_zh} 网格巡查组", *s.label))
    for k, crew in enumerate(_UTILITY_CREWS):
        s = subs[(k * 5 + 2) % len(subs)]
        plan.append(("utility", crew, *s.label))
    prefix = {"police": "PS", "fire": "FR", "ambulance": "AM", "chengguan": "CG", "grid": "GR", "utility": "UT"}
    counts: dict[str, int] = {}
    units = []
    for kind, name, lon, lat in plan:
        counts[kind] = counts.get(kind, 0) + 1
        pt = _jitter_inside(rng, lon, lat, None, 0.0008, 0.0006) or (round(lon, 6), round(lat, 6))
        sub = geo.subdistrict_of(*pt) or geo.subdistricts()[0].code
        units.append(
            {
                "code": f"{prefix[kind]}-{counts[kind]:02d}",
                "name": name,
                "kind": kind,
                "status": "available",
                "home_lon": pt[0],
                "home_lat": pt[1],
                "lon": pt[0],
                "lat": pt[1],
                "subdistrict": sub,
            }
        )
    # A few units are off duty (rest shifts), never the fire engines.
    candidates = [u for u in units if u["kind"] != "fire"]
    for u in rng.sample(candidates, UNITS_OFF_DUTY):
        u["status"] = "off_duty"
    return units


# --- the simulator ----------------------------------------------------------------------------


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
class _Day:
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


@dataclass(frozen=True)
class _Active:
    """Episodes and outages that can touch one day (started that day or shortly before)."""

    episodes: dict[int, list[tuple[int, int, float]]]
    outages: dict[int, list[tuple[int, int]]]
    rains: list[tuple[int, int, float]]


def _heating_mix() -> list[tuple[str, float]]:
    """The category mix in the heating season: heating takes its share, the rest keep their proportions."""
    rest = sum(v for cat, v in HOTLINE_MIX.items() if cat != "heating")
    heating = rest * HOTLINE_HEATING_SHARE_IN_SEASON / (1 - HOTLINE_HEATING_SHARE_IN_SEASON)
    return [(cat, heating if cat == "heating" else v) for cat, v in HOTLINE_MIX.items()]


_HOTLINE_OFF_SEASON: Final = _Chooser(list(HOTLINE_MIX.items()))
_HOTLINE_IN_SEASON: Final = _Chooser(_heating_mix())
_INCIDENT_CATEGORY: Final = _Chooser(list(INCIDENT_MIX.items()))
_INCIDENT_SEVERITY: Final = {
    cat: _Chooser([(sev, float(w)) for sev, w in zip((4, 3, 2, 1), mix, strict=True) if w])
    for cat, mix in SEVERITY_MIX.items()
}


@cache
def _subdistrict_chooser() -> _Chooser[geo.Subdistrict]:
    """Subdistricts weighted by their population (where the 12345 calls come from)."""
    return _Chooser([(s, float(s.population)) for s in geo.subdistricts()])


_SENSOR_CODES: Final = {t: k for k, t in enumerate(c.SENSOR_TYPES)}
_PM, _NOISE, _WATER, _TILT, _GAS, _COLD, _HEAT = (
    _SENSOR_CODES[t]
    for t in ("pm25", "noise", "water_level", "manhole_tilt", "gas", "cold_chain_temp", "heat_supply_temp")
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
    ) -> None:
        """Set up the fleet and the reporters; `start` is when the world begins (no ticket or incident before it);
        `episodes_per_day`: labelled episodes (dashboard/episodes.py) a day, default episodes.EPISODES_PER_DAY."""
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.seed = seed
        self.rate = float(rate)
        self.source = source
        self.start = start
        self.episodes_per_day = _episodes.EPISODES_PER_DAY if episodes_per_day is None else float(episodes_per_day)
        self._start_ms = None if start is None else math.ceil(start * 1000)
        self.fleet = build_fleet(seed)
        self._build_sensors()
        self._build_traffic()
        self._build_parking()
        self._build_crowds()
        self.tickets_per_s = max(TICKETS_PER_DAY_MIN, TICKETS_PER_DAY_AT_DEFAULT * rate / DEFAULT_RATE) / 86400
        self.incidents_per_s = max(INCIDENTS_PER_DAY_MIN, INCIDENTS_PER_DAY_AT_DEFAULT * rate / DEFAULT_RATE) / 86400
        durable = self.tickets_per_s * (1 + UPDATES_PER_TICKET) + self.incidents_per_s
        sensor_share = max(0.05, 1 - SHARE_TRAFFIC - SHARE_PARKING - SHARE_CROWD - durable / self.rate)
        prng = _rng(seed, _T_PHASE, 0)
        self._s_sensors = self._stream(len(self._sensors), sensor_share / (1 - EXPECTED_SILENT_SHARE), "sensor", prng)
        self._s_traffic = self._stream(len(self._detectors), SHARE_TRAFFIC, "traffic", prng)
        self._s_parking = self._stream(len(self._lots), SHARE_PARKING, "parking", prng)
        self._s_crowd = self._stream(len(self._spots), SHARE_CROWD, "crowd", prng)
        ticket_life_h = max(c.HOTLINE_DEADLINE_H.values()) * 1.5 + 24 + 48  # resolve late, respond and close caps
        self._ticket_life_h = int(ticket_life_h) + 2
        self._days: _LRU[int, _Day] = _LRU(32)
        self._active: _LRU[int, _Active] = _LRU(8)
        self._seconds: _LRU[int, list[tuple[int, int, dict[str, Any]]]] = _LRU(4)
        self._buckets: _LRU[int, dict[int, list[tuple[int, int, str, str, bool | None]]]] = _LRU(
            self._ticket_life_h + 48
        )
        self._durable: _LRU[int, tuple[list[int], list[dict[str, Any]]]] = _LRU(6)
        self._incidents: _LRU[int, list[tuple[int, dict[str, Any]]]] = _LRU(INCIDENT_LIFE_H + 4)
        self._prefix: _LRU[int, str] = _LRU(4)
        self._cores: _LRU[int, list[tuple[int, str, str, int, int, int, bool]]] = _LRU(4)
        self._signals: _LRU[int, tuple[dict[int, list[_episodes.Signal]], dict[int, list[_episodes.Signal]]]] = _LRU(4)
        self._ep_tickets: _LRU[int, dict[str, tuple[str, _episodes.EpisodeTicket]]] = _LRU(8)

    # --- set-up ------------------------------------------------------------------------------

    def _stream(self, n: int, share: float, kind: str, rng: random.Random) -> _Stream:
        """A periodic stream whose reporters together make `share` of the target rate."""
        period = min(MAX_PERIOD_MS[kind], round(1000 * n / (share * self.rate))) if n else 1000
        return _Stream(n, period, rng)

    def _build_sensors(self) -> None:
        """Per-sensor parameters (how dusty, loud or low-lying the spot is), drawn once from the seed."""
        rng = _rng(self.seed, _T_ENTITY, 1)
        names = [name for _, name in _fleet(self.seed)]
        self._sensors: list[tuple[str, int, str, float, float, str | None, float, float]] = []
        self._sensor_names = names
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
        rng = _rng(self.seed, _T_ENTITY, 2)
        self._detectors: list[tuple[str, float, float, float, float]] = []
        for cor in geo.corridors():
            ring = "ring" in cor.id
            free_lo, free_hi = RING_FREE_KMH if ring else ARTERIAL_FREE_KMH
            ratio_lo, ratio_hi = RING_PEAK_RATIO if ring else ARTERIAL_PEAK_RATIO
            for lon, lat in _points_along(cor.coords, TRAFFIC_DETECTOR_SPACING_KM):
                car_free = any(x0 <= lon <= x1 and y0 <= lat <= y1 for x0, y0, x1, y1 in CAR_FREE_BOXES)
                if _strictly_inside(lon, lat) and not car_free:
                    self._detectors.append(
                        (cor.id, lon, lat, rng.uniform(free_lo, free_hi), rng.uniform(ratio_lo, ratio_hi))
                    )

    def _build_parking(self) -> None:
        """Car parks at the hospitals, the schools and the stations, each with a fixed capacity."""
        rng = _rng(self.seed, _T_ENTITY, 3)
        self._lots: list[tuple[str, float, float, int, str]] = []
        for p in geo.places_of_type("hospital", "school", "transport_hub"):
            lo, hi = PARKING_CAPACITY[p.type]
            cap = rng.randrange(lo, hi + 1, 10)
            self._lots.append((p.id, round(p.lon, 6), round(p.lat, 6), cap, p.type))
        self.lots = {lot[0]: lot[3] for lot in self._lots}

    def _build_crowds(self) -> None:
        """Crowd counters at the scenic spots and business districts."""
        self._spots: list[tuple[str, float, float, int, str, float, bool, str]] = []
        for p in geo.places_of_type("scenic", "business_district"):
            profile, cap, load, closed_monday = CROWD_SPOTS.get(p.id, CROWD_DEFAULTS[p.type])
            self._spots.append(
                (p.id, round(p.lon, 6), round(p.lat, 6), cap, profile, load, closed_monday, _short(p.name_zh))
            )
        self.spots = {s[0]: s[3] for s in self._spots}

    # --- days --------------------------------------------------------------------------------

    def _day(self, d: int) -> _Day:
        """The simulated facts of day d (weather, air, calendar), cached."""
        return self._days.get_or(d, lambda: self._make_day(d))

    def _day_noise(self, d: int) -> tuple[float, float]:
        """Two standard draws of day d: the air-quality anomaly and a uniform for episodes."""
        rng = _rng(self.seed, _T_DAY, d, 1)
        return rng.gauss(0.0, 1.0), rng.random()

    def _make_day(self, d: int) -> _Day:
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
        rng = _rng(self.seed, _T_DAY, d, 2)
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
        return _Day(
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

    def _episodes_of(self, d: int) -> tuple[dict[int, list[tuple[int, int, float]]], dict[int, list[tuple[int, int]]]]:
        """Sensor episodes and outages that start on day d."""
        day = self._day(d)
        rng = _rng(self.seed, _T_EPISODE, d)
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
                # Night construction is now a labelled episode with its complaints (dashboard/episodes.py); the
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
        rng = _rng(self.seed, _T_OUTAGE, d)
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
            rains = [r for r in (self._day(d - 1).rain, self._day(d).rain) if r is not None]
            return _Active(episodes, outages, rains)

        return self._active.get_or(d, make)

    def pm25_level(self, t: float) -> float:
        """District PM2.5 at epoch t (µg/m³): day means interpolated through noon, with a diurnal cycle."""
        d = day_index(t)
        h = local_hour(t)
        if h >= 12:
            w, a, b = (h - 12) / 24, self._day(d).pm25, self._day(d + 1).pm25
        else:
            w, a, b = (h + 12) / 24, self._day(d - 1).pm25, self._day(d).pm25
        level = a + (b - a) * w
        amp = 0.22 if self._day(d).heating else 0.12
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
        day = self._day(day_index(t))
        h = local_hour(t)
        if day.rest_day:
            return _interp(CONGESTION_WEEKEND, h)
        base = _interp(CONGESTION_WEEKDAY, h)
        # Friday evening is the worst of the week.
        return base * 1.1 if day.weekday == 4 and h >= 16 else base

    def crowd_fraction(self, spot: int, t: float) -> float:
        """Expected share of capacity present at a spot at epoch t (0 when closed)."""
        _, _, _, _, profile, load, closed_monday, _ = self._spots[spot]
        d = day_index(t)
        h = local_hour(t)
        pts = CROWD_PROFILES[profile]
        shape = self._spot_shape(pts, d, h, closed_monday)
        if shape <= 0:
            return 0.0
        day = self._day(d) if h >= pts[0][0] else self._day(d - 1)
        factor = CROWD_HOLIDAY_FACTOR if day.holiday else CROWD_WEEKEND_FACTOR if day.rest_day else 1.0
        if day.date.month in (7, 8):
            factor *= 1.15  # summer holidays bring the school trips
        elif day.date.month in (1, 2, 12):
            factor *= 0.75
        return min(CROWD_MAX_LOAD, load * factor * day.crowd_factor * shape)

    def _spot_shape(self, pts: Sequence[tuple[float, float]], d: int, h: float, closed_monday: bool) -> float:
        """Opening-hours shape of a spot at local hour h of day d (late hours count for the day before)."""
        today = _interp(pts, h)
        if today > 0 and closed_monday and self._day(d).weekday == 0 and not self._day(d).holiday:
            today = 0.0
        late = _interp(pts, h + 24) if pts[-1][0] > 24 else 0.0
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

    def _second(self, s: int) -> list[tuple[int, int, dict[str, Any]]]:
        """All events of the second [s, s+1), as (ms, n, event) sorted by time."""
        return self._seconds.get_or(s, lambda: self._make_second(s))

    def _make_second(self, s: int) -> list[tuple[int, int, dict[str, Any]]]:
        """Generate one second of events; everything random is drawn from this second's own stream."""
        start = s * 1000
        t = float(s)
        rng = _rng(self.seed, _T_SECOND, s)
        gauss, rand = rng.gauss, rng.random
        d = day_index(t)
        day = self._day(d)
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
            dayness = _interp(((0.0, 0.0), (5.5, 0.0), (7.5, 1.0), (21.5, 1.0), (23.5, 0.0), (24.0, 0.0)), h)
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
                cid, lon, lat, free, ratio = self._detectors[i]
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
                f = _interp(prof, h) + 0.02 * gauss(0.0, 1.0)
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
                spot_id, lon, lat, cap, *_ = self._spots[i]
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

        times, durable = self._durable_hour(s // 3600)
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_left(times, start + 1000)
        for j in range(lo, hi):
            out.append((times[j], n, durable[j]))
            n += 1
        out.sort(key=lambda x: (x[0], x[1]))
        return out

    # --- durable events (tickets, updates, incidents), by hour ------------------------------

    def _ticket_core(self, hour: int) -> list[tuple[int, str, str, int, int, int, bool]]:
        """Tickets received in an epoch hour: (ms, ticket_id, category, responded, resolved, closed, satisfied)."""
        return self._cores.get_or(hour, lambda: self._make_ticket_core(hour))

    def _make_ticket_core(self, hour: int) -> list[tuple[int, str, str, int, int, int, bool]]:
        """Draw the tickets of one hour and their whole life (response, resolution, closure)."""
        rng = _rng(self.seed, _T_TICKET, hour)
        t = hour * 3600.0
        day = self._day(day_index(t))
        h = int(local_hour(t))
        mean = sum(HOTLINE_RHYTHM) / 24
        lam = self.tickets_per_s * 3600 * HOTLINE_RHYTHM[h] / mean
        if day.rest_day:
            lam *= HOTLINE_WEEKEND_FACTOR
        k = _poisson(rng, lam)
        times = sorted(hour * HOUR_MS + rng.randrange(HOUR_MS) for _ in range(k))
        pick = _HOTLINE_IN_SEASON if day.heating else _HOTLINE_OFF_SEASON
        stamp = f"{day.ymd}{h:02d}"
        out = []
        # Lognormal delays drawn as exp(gauss): the same distribution as lognormvariate, at a third of the cost
        # (a few weeks of history are drawn at start-up when the world has no start).
        gauss, rand, exp = rng.gauss, rng.random, math.exp
        deadlines = c.HOTLINE_DEADLINE_H
        resp_mu, close_mu = math.log(HOTLINE_RESPONSE_MEDIAN_MIN), math.log(HOTLINE_CLOSE_MEDIAN_H)
        for j, ms in enumerate(times):
            cat = pick(rng)
            resp = ms + int(60_000 * min(1440.0, max(2.0, exp(resp_mu + 0.9 * gauss(0.0, 1.0)))))
            u = rand()
            frac = 0.08 + 0.87 * rand() if u < HOTLINE_ON_TIME_P else 1.02 + 0.48 * rand()
            res = max(ms + int(deadlines[cat] * HOUR_MS * frac), resp + 600_000)
            close = res + int(HOUR_MS * min(48.0, exp(close_mu + 0.7 * gauss(0.0, 1.0))))
            out.append((ms, f"DC{self.seed}-{stamp}-{j:04d}", cat, resp, res, close, rand() < HOTLINE_SATISFIED_P))
        # The labelled episodes' complaints (dashboard/episodes.py) run the same course, each from its own stream
        # and after the everyday tickets, so that those stay exactly as they were.
        for tid, (cat, tk) in self._episode_tickets(hour).items():
            er = random.Random(f"{self.seed}:{tid}")
            ms = round(tk.ts * 1000)
            resp = ms + int(60_000 * min(1440.0, max(2.0, exp(resp_mu + 0.9 * er.gauss(0.0, 1.0)))))
            u = er.random()
            frac = 0.08 + 0.87 * er.random() if u < HOTLINE_ON_TIME_P else 1.02 + 0.48 * er.random()
            res = max(ms + int(deadlines[cat] * HOUR_MS * frac), resp + 600_000)
            close = res + int(HOUR_MS * min(48.0, exp(close_mu + 0.7 * er.gauss(0.0, 1.0))))
            out.append((ms, tid, cat, resp, res, close, er.random() < HOTLINE_SATISFIED_P))
        return out

    def _ticket_buckets(self, hour: int) -> dict[int, list[tuple[int, int, str, str, bool | None]]]:
        """Updates of the tickets received in `hour`, bucketed by the hour they happen in."""

        def make() -> dict[int, list[tuple[int, int, str, str, bool | None]]]:
            buckets: dict[int, list[tuple[int, int, str, str, bool | None]]] = {}
            put = buckets.setdefault
            for ms, tid, _, resp, res, close, sat in self._ticket_core(hour):
                put(resp // HOUR_MS, []).append((resp, ms, tid, "responded", None))
                put(res // HOUR_MS, []).append((res, ms, tid, "resolved", None))
                put(close // HOUR_MS, []).append((close, ms, tid, "closed", sat))
            return buckets

        return self._buckets.get_or(hour, make)

    def _ticket_events(self, hour: int) -> list[tuple[int, dict[str, Any]]]:
        """The hotline_ticket events received in `hour`, placed by subdistrict population."""
        rng = _rng(self.seed, _T_TICKET_DETAIL, hour)
        pick = _subdistrict_chooser()
        labelled = self._episode_tickets(hour)
        out = []
        for ms, tid, cat, *_ in self._ticket_core(hour):
            if tid in labelled:
                out.append((ms, self._episode_ticket_event(tid, cat, labelled[tid][1])))
                continue
            sub = pick(rng)
            pool = _subdistrict_pool(sub.code)
            lon, lat = pool[rng.randrange(len(pool))]
            lon = round(lon + rng.uniform(-POOL_JITTER_DEG, POOL_JITTER_DEG), 6)
            lat = round(lat + rng.uniform(-POOL_JITTER_DEG, POOL_JITTER_DEG), 6)
            summary = f"{sub.name_zh}居民反映：{rng.choice(HOTLINE_SUMMARIES[cat])}"
            ev = {
                "event_id": f"tk-{tid}",
                "source": self.source,
                "kind": "hotline_ticket",
                "ts": iso_ts(ms),
                "ticket_id": tid,
                "category": cat,
                "summary": summary,
                "lon": lon,
                "lat": lat,
            }
            out.append((ms, ev))
        return out

    # --- labelled episodes (dashboard/episodes.py) ------------------------------------------

    def _signals_of(
        self, d: int
    ) -> tuple[dict[int, list[_episodes.Signal]], dict[int, list[_episodes.Signal]]]:
        """Signals of the episodes that can act during day d (begun that day or the day before), by sensor index
        and by crowd-spot index."""

        def make() -> tuple[dict[int, list[_episodes.Signal]], dict[int, list[_episodes.Signal]]]:
            by_sensor: dict[int, list[_episodes.Signal]] = {}
            by_spot: dict[int, list[_episodes.Signal]] = {}
            spot_index = {s[0]: k for k, s in enumerate(self._spots)}
            for day in (d - 1, d):
                for ep in _episodes.day_episodes(self.seed, day, self.episodes_per_day):
                    for sg in ep.signals:
                        index, into = (spot_index, by_spot) if sg.type == "crowd" else (self._sensor_index, by_sensor)
                        k = index.get(sg.sensor_id)
                        if k is not None:
                            into.setdefault(k, []).append(sg)
            return by_sensor, by_spot

        return self._signals.get_or(d, make)

    def _episode_reading(self, code: int, v: float, m: int, i: int, signals: list[_episodes.Signal]) -> float:
        """Reading v of sensor i at ms m as the episodes acting on it make it (noise of its own stream)."""
        for sg in signals:
            x = sg.value(m / 1000)
            if x is None:
                continue
            g = _rng(self.seed, _T_SIGNAL, m, i).gauss(0.0, 1.0)
            if code == _NOISE:
                v = min(130.0, max(v, x + 3.0 * g))
            elif code == _WATER:
                v = max(v, x + 0.3 * g, 0.0)
            elif code == _TILT:
                v = min(89.0, max(v, x + 0.5 * g))
            elif code == _HEAT:
                v = max(-20.0, v - x)  # the exchanger fails: the supply water cools by x °C
        return round(v, 1)

    def _surged(self, f: float, m: int, signals: list[_episodes.Signal]) -> float:
        """Share of capacity present at a spot at ms m with the crowd surges acting on it."""
        extra = sum(x for x in (sg.value(m / 1000) for sg in signals) if x is not None)
        return min(CROWD_SURGE_MAX_LOAD, f + extra) if extra else f

    def _episode_tickets(self, hour: int) -> dict[str, tuple[str, _episodes.EpisodeTicket]]:
        """The episodes' complaints received in an epoch hour: ticket id -> (category, ticket)."""

        def make() -> dict[str, tuple[str, _episodes.EpisodeTicket]]:
            lo, hi = hour * 3600.0, (hour + 1) * 3600.0
            d = day_index(lo)
            return {
                tk.ticket_id: (ep.ticket_category, tk)
                for day in (d - 1, d)
                for ep in _episodes.day_episodes(self.seed, day, self.episodes_per_day)
                for tk in ep.tickets
                if lo <= tk.ts < hi
            }

        return self._ep_tickets.get_or(hour, make)

    def _episode_ticket_event(self, tid: str, category: str, tk: _episodes.EpisodeTicket) -> dict[str, Any]:
        """The hotline_ticket event of an episode's complaint: an ordinary ticket (labels never travel)."""
        return {
            "event_id": f"tk-{tid}",
            "source": self.source,
            "kind": "hotline_ticket",
            "ts": iso_ts(round(tk.ts * 1000)),
            "ticket_id": tid,
            "category": category,
            "summary": tk.summary,
            "lon": tk.lon,
            "lat": tk.lat,
        }

    def _place_for(self, rng: random.Random, category: str) -> tuple[float, float, str]:
        """A plausible spot and its name for an incident of `category`."""
        if category == "traffic_accident" and self._detectors:
            # On one of the corridors, named like the traffic police do: road and the nearest landmark.
            cid, lon, lat, *_ = rng.choice(self._detectors)
            pt = _jitter_inside(rng, lon, lat, None, 0.0002, 0.0002) or (lon, lat)
            return pt[0], pt[1], f"{_road_name(cid, pt[1])}{_nearest_name(*pt)}段"
        if category in ("medical", "public_security") and rng.random() < 0.5:
            p = rng.choice(geo.places_of_type("scenic", "business_district", "transport_hub", "hospital"))
            near = _jitter_inside(rng, p.lon, p.lat, None, 0.0004, 0.0003)
            if near is not None:
                return near[0], near[1], _short(p.name_zh)
        f = rng.choice(_facilities())
        spot = _jitter_inside(rng, f.lon, f.lat, None, 0.0004, 0.0003) or (f.lon, f.lat)
        return spot[0], spot[1], _nearest_name(*spot)

    def _incident(
        self,
        ms: int,
        key: str,
        category: str,
        severity: int,
        lon: float,
        lat: float,
        place: str,
        label: str,
        sensor_id: str | None = None,
    ) -> dict[str, Any]:
        """One incident event."""
        roman = c.SEVERITY_ROMAN[severity]
        ev: dict[str, Any] = {
            "event_id": f"inc-{key}",
            "source": self.source,
            "kind": "incident",
            "ts": iso_ts(ms),
            "category": category,
            "severity": severity,
            "title": f"{place} {label}",
            "description": f"{SEVERITY_ZH[severity]}（{roman}级）{label}，地点：{place}附近，请相关单位尽快处置。",
            "lon": round(lon, 6),
            "lat": round(lat, 6),
        }
        if sensor_id is not None:
            ev["sensor_id"] = sensor_id
            ev["description"] = f"传感器 {sensor_id} 报警：{ev['description']}"
        return ev

    def _incident_events(self, hour: int) -> list[tuple[int, dict[str, Any]]]:
        """Incidents of an epoch hour: everyday ones, plus crowding at the scenic spots."""
        rng = _rng(self.seed, _T_INCIDENT, hour)
        t = hour * 3600.0
        d = day_index(t)
        day = self._day(d)
        h = int(local_hour(t))
        stamp = f"{self.seed}-{day.ymd}{h:02d}"
        lo_ms = hour * HOUR_MS
        out: list[tuple[int, dict[str, Any]]] = []
        mean = sum(INCIDENT_RHYTHM) / 24
        for j in range(_poisson(rng, self.incidents_per_s * 3600 * INCIDENT_RHYTHM[h] / mean)):
            ms = lo_ms + rng.randrange(HOUR_MS)
            cat = _INCIDENT_CATEGORY(rng)
            sev = _INCIDENT_SEVERITY[cat](rng)
            lon, lat, place = self._place_for(rng, cat)
            label = rng.choice(INCIDENT_TITLES_SEVERE[cat] if sev <= 2 else INCIDENT_TITLES[cat])
            out.append((ms, self._incident(ms, f"{stamp}-{j:03d}", cat, sev, lon, lat, place, label)))

        # Sensor alarms (gas leaks, displaced manhole covers, waterlogging at the gauges) are not posted as
        # incidents: the command centre opens those itself from the readings (workers/sensor_incidents.py).

        # Crowding at a scenic spot: at most once a day, in the first hour it gets nearly full.
        day_begin = day.start_ms / 1000
        for k, spot in enumerate(self._spots):
            load = self.crowd_fraction(k, t + 1800)
            if load <= CROWD_INCIDENT_LOAD:
                continue
            if any(self.crowd_fraction(k, x + 1800) > CROWD_INCIDENT_LOAD for x in range(int(day_begin), int(t), 3600)):
                continue
            peak = max(self.crowd_fraction(k, day_begin + x * 3600 + 1800) for x in range(24))
            spot_rng = _rng(self.seed, _T_INCIDENT, d, k + 1)
            if spot_rng.random() < (peak - CROWD_INCIDENT_LOAD) * CROWD_INCIDENT_P_PER_LOAD:
                ms = lo_ms + spot_rng.randrange(HOUR_MS)
                sev = 3 if peak > 0.97 else 4
                key = f"{stamp}-{spot[0]}"
                out.append((ms, self._incident(ms, key, "crowd", sev, spot[1], spot[2], spot[7], "人员聚集拥挤")))
        return out

    def _hour_incidents(self, hour: int) -> list[tuple[int, dict[str, Any]]]:
        """The incidents of an epoch hour, cached: their ends are looked up for several hours after."""
        return self._incidents.get_or(hour, lambda: self._incident_events(hour))

    def _incident_ends(self, hour: int, first: int | None) -> list[tuple[int, dict[str, Any]]]:
        """The source's reports, falling in `hour`, that its earlier incidents were resolved and then closed."""
        lo_ms, hi_ms = hour * HOUR_MS, (hour + 1) * HOUR_MS
        out: list[tuple[int, dict[str, Any]]] = []
        for src_hour in range(hour - INCIDENT_LIFE_H, hour + 1):
            for ms, inc in self._hour_incidents(src_hour):
                if first is not None and ms < first:
                    continue  # never posted, so never ended
                rng = random.Random(f"{self.seed}:{_T_INCIDENT_END}:{inc['event_id']}")
                lo, hi = INCIDENT_RESOLVE_MIN[inc["severity"]]
                resolved = ms + int(rng.uniform(lo, hi) * 60_000)
                closed = resolved + int(rng.uniform(*INCIDENT_CLOSE_MIN) * 60_000)
                for at, status in ((resolved, "resolved"), (closed, "closed")):
                    if lo_ms <= at < hi_ms:
                        out.append(
                            (
                                at,
                                {
                                    "event_id": f"ie-{inc['event_id']}-{status}",
                                    "source": self.source,
                                    "kind": "incident_update",
                                    "ts": iso_ts(at),
                                    "incident_id": inc["event_id"],
                                    "status": status,
                                },
                            )
                        )
        return out

    def _durable_hour(self, hour: int) -> tuple[list[int], list[dict[str, Any]]]:
        """Tickets, ticket updates and incidents of an epoch hour, sorted by time, after the world's start."""

        def make() -> tuple[list[int], list[dict[str, Any]]]:
            first = self._start_ms
            items: list[tuple[int, int, dict[str, Any]]] = []
            if first is None or (hour + 1) * HOUR_MS > first:
                items += [(ms, 0, ev) for ms, ev in self._ticket_events(hour)]
                items += [(ms, 1, ev) for ms, ev in self._hour_incidents(hour)]
            items += [(at, 3, ev) for at, ev in self._incident_ends(hour, first)]
            lowest = hour - self._ticket_life_h
            if first is not None:
                lowest = max(lowest, first // HOUR_MS)
            for src_hour in range(lowest, hour + 1):
                for at, received, tid, status, sat in self._ticket_buckets(src_hour).get(hour, ()):
                    if first is not None and received < first:
                        continue
                    ev: dict[str, Any] = {
                        "event_id": f"tu-{tid}-{status}",
                        "source": self.source,
                        "kind": "hotline_update",
                        "ts": iso_ts(at),
                        "ticket_id": tid,
                        "status": status,
                    }
                    if sat is not None:
                        ev["satisfied"] = sat
                    items.append((at, 2, ev))
            if first is not None:
                items = [it for it in items if it[0] >= first]
            items.sort(key=lambda it: (it[0], it[1], it[2]["event_id"]))
            return [it[0] for it in items], [it[2] for it in items]

        return self._durable.get_or(hour, make)

    # --- public ------------------------------------------------------------------------------

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

    def periods(self) -> dict[str, float]:
        """Seconds between two reports of one reporter, per stream (for tests and the log)."""
        return {
            "sensor": self._s_sensors.period / 1000,
            "traffic": self._s_traffic.period / 1000,
            "parking": self._s_parking.period / 1000,
            "crowd": self._s_crowd.period / 1000,
        }


def _points_along(coords: Sequence[tuple[float, float]], spacing_km: float) -> list[tuple[float, float]]:
    """Points every `spacing_km` along a polyline, starting half a spacing in."""
    out = []
    carry = spacing_km / 2
    for (x0, y0), (x1, y1) in itertools.pairwise(coords):
        seg = geo.distance_km(x0, y0, x1, y1)
        pos = carry
        while pos <= seg:
            f = pos / seg
            out.append((round(x0 + (x1 - x0) * f, 6), round(y0 + (y1 - y0) * f, 6)))
            pos += spacing_km
        carry = pos - seg
    return out


# --- the live loop ----------------------------------------------------------------------------


class _Poster:
    """POSTs batches over one persistent HTTP connection (standard library only)."""

    def __init__(self, url: str, token: str, timeout: float = HTTP_TIMEOUT_S) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.path = parts.path.rstrip("/") + "/api/v1/events"
        self.timeout = timeout
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], str | None]:
        """Send one batch; return (status, JSON body or {}, Retry-After); raises OSError when unreachable."""
        body = json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in (0, 1):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self._conn = cls(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", self.path, body=body, headers=self.headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                retry_after = resp.getheader("Retry-After")
                if resp.will_close:
                    self.close()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server has closed meanwhile: reconnect once.
                self.close()
                if attempt:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {}
            return resp.status, data if isinstance(data, dict) else {}, retry_after
        raise ConnectionError("unreachable")  # pragma: no cover - the loop returns or raises


@dataclass
class _Stats:
    """Counters for the periodic summary line."""

    generated: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    retries: int = 0
    sample: str = ""
    errors_logged: int = 0

    def reset(self) -> None:
        """Start a new summary window."""
        self.generated = self.accepted = self.duplicates = self.rejected = self.dropped = self.retries = 0
        self.errors_logged = 0
        self.sample = ""


def _count(value: Any) -> int:
    """A count from a response field that is an int or a list."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, list) else 0


def _retry_after(value: str | None, default: float = RETRY_AFTER_DEFAULT_S) -> float:
    """Seconds to wait from a Retry-After header (seconds form), capped."""
    try:
        wait = float(value) if value is not None else default
    except ValueError:
        wait = default
    return min(RETRY_AFTER_MAX_S, max(0.1, wait))


@dataclass
class _Batch:
    """Events waiting to be sent, with the start of the interval they cover."""

    t0: float
    events: list[dict[str, Any]]
    failures: int = 0


def _drop_stale(queue: deque[_Batch], now: float, stats: _Stats) -> None:
    """Drop telemetry the validator would refuse as too old (durable events never age out) and cap the queue."""
    limit = now - (c.TELEMETRY_MAX_AGE_S - STALE_MARGIN_S)
    total = sum(len(b.events) for b in queue)
    dropped = 0
    for b in queue:
        if b.t0 < limit or total > MAX_PENDING_EVENTS:
            keep = [ev for ev in b.events if ev["kind"] in c.DURABLE_KINDS]
            total -= len(b.events) - len(keep)
            dropped += len(b.events) - len(keep)
            b.events = keep
    if dropped:
        stats.dropped += dropped
        log.warning("dropped %d telemetry events that waited too long to be sent", dropped)
        kept = [b for b in queue if b.events]
        queue.clear()
        queue.extend(kept)


def _enqueue(queue: deque[_Batch], t0: float, events: list[dict[str, Any]], size: int = MAX_EVENTS_PER_POST) -> None:
    """Queue events in batches of at most `size`."""
    for k in range(0, len(events), size):
        queue.append(_Batch(t0, events[k : k + size]))


def _send(
    poster: _Poster, queue: deque[_Batch], stats: _Stats, stop: threading.Event, limit: int | None = None
) -> float:
    """Send queued batches in order (at most `limit`); return how long to wait before trying again (0 = go on)."""
    sent = 0
    while queue and not stop.is_set() and (limit is None or sent < limit):
        batch = queue[0]
        try:
            status, body, retry_after = poster.post(batch.events)
        except (OSError, http.client.HTTPException) as exc:
            batch.failures += 1
            wait = min(BACKOFF_MAX_S, 0.5 * 2 ** min(batch.failures, 5))
            log.warning("ingest unreachable (%s); retrying in %.1f s", exc, wait)
            return wait
        sent += 1
        stats.accepted += _count(body.get("accepted"))
        stats.duplicates += _count(body.get("duplicates"))
        if 200 <= status < 300 or status == 422:
            rejected = body.get("rejected") or []
            stats.rejected += _count(rejected)
            if isinstance(rejected, list) and rejected and not stats.sample:
                stats.sample = json.dumps(rejected[0], ensure_ascii=False)[:300]
            queue.popleft()
            continue
        if status in (429, 503):
            # Valid but not storable right now: resend what the server listed as unavailable (or the whole batch).
            stats.rejected += _count(body.get("rejected"))
            refs = body.get("unavailable")
            if isinstance(refs, list) and refs:
                wanted = {r.get("index") for r in refs if isinstance(r, dict)}
                keep = [ev for k, ev in enumerate(batch.events) if k in wanted]
                if keep:
                    batch.events = keep
            stats.retries += 1
            wait = _retry_after(retry_after)
            log.warning("ingest busy (%d): resending %d events in %.1f s", status, len(batch.events), wait)
            return wait
        if status >= 500:
            batch.failures += 1
            if batch.failures <= SERVER_ERROR_RETRIES:
                stats.retries += 1
                return min(BACKOFF_MAX_S, float(batch.failures))
            log.error("ingest failed %d times (%d): dropping %d events", batch.failures, status, len(batch.events))
        elif stats.errors_logged < 3:
            # Other 4xx will not get better by resending (wrong token, body refused): drop and say why.
            reason = str(body.get("error") or body)[:300]
            log.error("ingest refused %d events with %d: %s", len(batch.events), status, reason)
            stats.errors_logged += 1
        stats.dropped += len(batch.events)
        queue.popleft()
    return 0.0


class _Feeder:
    """The live loop's state: the simulator, the connection, what is waiting and the counters."""

    def __init__(self, sim: Simulator, poster: _Poster, stop: threading.Event) -> None:
        self.sim = sim
        self.poster = poster
        self.stop = stop
        self.live: deque[_Batch] = deque()
        # Replayed tickets go out between live batches so that the wall gets live data at once; while any are
        # left, new tickets and updates queue behind them so that no update overtakes its ticket.
        self.backlog: deque[_Batch] = deque()
        self.stats = _Stats()
        self.t_prev = time.time()
        # Incidents of the replayed period that were not replayed (older than its incidents): their ends are never
        # posted either, now or later, since the ingest would refuse them as updates of unknown incidents.
        self.unposted: frozenset[str] = frozenset()

    def _posted(self, ev: dict[str, Any]) -> bool:
        """False for the end of an incident that was never posted."""
        return ev["kind"] != c.INCIDENT_UPDATE or ev["incident_id"] not in self.unposted

    def replay(self, begin: float, incidents_from: float) -> None:
        """Queue the tickets and updates since `begin` (and the incidents since `incidents_from`, with their ends)."""
        old = self.sim.durable_events(begin, self.t_prev)
        self.unposted = frozenset(
            ev["event_id"] for ev in old if ev["kind"] == c.INCIDENT and _epoch(ev["ts"]) < incidents_from
        )
        old = [ev for ev in old if ev["event_id"] not in self.unposted and self._posted(ev)]
        log.info("replaying %d hotline tickets, updates and recent incidents of today", len(old))
        _enqueue(self.backlog, self.t_prev, old, MAX_EVENTS_PER_POST // 4)
        self.stats.generated += len(old)

    def generate(self, now: float) -> None:
        """Generate the events of the wall-clock time elapsed since the last call."""
        if now <= self.t_prev:
            return
        # After a long stall only the still-live telemetry is worth generating.
        live_from = now - (c.TELEMETRY_MAX_AGE_S - STALE_MARGIN_S)
        events: list[dict[str, Any]] = []
        if self.t_prev < live_from:
            log.warning("fell %.0f s behind: skipping telemetry that would no longer be live", live_from - self.t_prev)
            events += self.sim.durable_events(self.t_prev, live_from)
            self.t_prev = live_from
        events += self.sim.events(self.t_prev, now)
        if self.unposted:
            events = [ev for ev in events if self._posted(ev)]
        self.stats.generated += len(events)
        if self.backlog:
            _enqueue(self.backlog, self.t_prev, [ev for ev in events if ev["kind"] in c.DURABLE_KINDS])
            events = [ev for ev in events if ev["kind"] not in c.DURABLE_KINDS]
        _enqueue(self.live, self.t_prev, events)
        self.t_prev = now

    def send(self, now: float) -> float:
        """Send what is due: live batches first, then one replayed batch; return the wait before the next try."""
        _drop_stale(self.live, now, self.stats)
        wait = _send(self.poster, self.live, self.stats, self.stop)
        if not wait and self.backlog:
            wait = _send(self.poster, self.backlog, self.stats, self.stop, limit=1)
        return wait

    def summary(self, span: float) -> None:
        """Log one line of counters and start a new window."""
        st = self.stats
        waiting = sum(len(b.events) for b in self.live) + sum(len(b.events) for b in self.backlog)
        log.info(
            "sim: %d generated (%.0f/s), %d accepted, %d duplicates, %d rejected, %d dropped, %d retries, %d waiting%s",
            st.generated,
            st.generated / max(span, 1e-9),
            st.accepted,
            st.duplicates,
            st.rejected,
            st.dropped,
            st.retries,
            waiting,
            f"; e.g. {st.sample}" if st.sample else "",
        )
        st.reset()


def run(
    url: str,
    token: str,
    rate: float,
    seed: int,
    batch_seconds: float = BATCH_SECONDS,
    stop: threading.Event | None = None,
    backfill: bool = True,
    source: str = DEFAULT_SOURCE,
    episodes_per_day: float | None = None,
) -> None:
    """Feed the ingest API live: every batch_seconds, POST the events of the elapsed wall-clock interval."""
    stop = stop or threading.Event()
    now = time.time()
    # With backfill the world begins at Beijing midnight: today's tickets are replayed, so the hotline panel
    # shows a realistic day at once and later updates always find their ticket.
    begin = day_start(now) if backfill else now
    sim = Simulator(seed, rate, source=source, start=begin, episodes_per_day=episodes_per_day)
    feeder = _Feeder(sim, _Poster(url, token), stop)
    periods = ", ".join(f"{k} {v:g} s" for k, v in sim.periods().items())
    log.info("simulating Dongcheng at %g events/s (seed %d) into %s; report periods: %s", rate, seed, url, periods)
    if backfill:
        feeder.replay(begin, now - BACKFILL_INCIDENTS_S)
    last_summary = time.monotonic()
    try:
        while not stop.is_set():
            t_now = time.time()
            feeder.generate(t_now)
            wait = feeder.send(t_now)
            if time.monotonic() - last_summary >= SUMMARY_EVERY_S:
                feeder.summary(time.monotonic() - last_summary)
                last_summary = time.monotonic()
            stop.wait(max(wait, batch_seconds - (time.time() - t_now)))
    finally:
        feeder.poster.close()
        log.info("simulator stopped")


def _epoch(ts: str) -> float:
    """Epoch seconds of one of our own ISO timestamps."""
    return datetime.fromisoformat(ts).timestamp()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: python -m simulator.feed [--url URL] [--token T] [--rate R] [--seed S]."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.feed",
        description="Feed simulated Dongcheng events into the command centre's ingest API.",
    )
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT') or 8050}", help="base URL")
    parser.add_argument("--token", default=os.environ.get("INGEST_TOKEN"), help="ingest token (env INGEST_TOKEN)")
    parser.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("SIM_RATE") or DEFAULT_RATE),
        help="events per second (env SIM_RATE, default 50)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 7)")
    parser.add_argument("--batch-seconds", type=float, default=BATCH_SECONDS, help="seconds between two POSTs")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="source name on every event")
    parser.add_argument("--no-backfill", action="store_true", help="do not replay today's tickets at start")
    parser.add_argument(
        "--episodes-per-day",
        type=float,
        default=float(os.environ.get("SIM_EPISODES_PER_DAY") or _episodes.EPISODES_PER_DAY),
        help="labelled episodes (burst main, night construction, …) a day (env SIM_EPISODES_PER_DAY, default 4)",
    )
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no ingest token: pass --token or set INGEST_TOKEN")
    if not args.rate > 0:
        parser.error("--rate must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    run(args.url, args.token, args.rate, args.seed, args.batch_seconds, stop, not args.no_backfill, args.source,
        args.episodes_per_day)
    return 0


if __name__ == "__main__":
    sys.exit(main())
