"""The tables of the simulated Dongcheng (rates, mixes, rhythms, profiles, titles) and the small pure helpers that the
simulator's modules share: seeded random streams, a small cache, interpolation, Poisson draws, weighted choosers and
the Beijing clock in the simulator's own fast form (the zone itself is dashboard.domain.beijing's)."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final, Generic, TypeVar

from dashboard.domain import rules as c
from dashboard.domain.beijing import OFFSET_ISO, OFFSET_S

# --- time -------------------------------------------------------------------------------------

# Beijing has kept UTC+8 without daylight saving since 1991 (dashboard.domain.beijing), so local hours stay aligned
# with UTC hours and hour blocks can be indexed in epoch hours.
DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000

# --- the simulator's defaults -----------------------------------------------------------------

DEFAULT_SEED: Final = 7
DEFAULT_RATE: Final = 50.0
DEFAULT_SOURCE: Final = "sim"

# --- what the installations read --------------------------------------------------------------

# Heat-exchange stations (installations.py) report their supply water temperature: 50–60 °C in the heating season
# (a little warmer at night), about the air temperature out of season, when the loop is off.
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
# A roll-out beyond the installed sensors (SIM_SENSORS): each reports every 10 s, as street-pole gateways do
# (50,000 sensors: about 5,000 readings a second).
SCALED_SENSOR_PERIOD_MS: Final = 10_000
# Dongcheng dispatches roughly 500–1,000 tickets a day; at the default rate we simulate ~1,000 and scale with rate.
TICKETS_PER_DAY_AT_DEFAULT: Final = c.HOTLINE_TICKETS_PER_DAY
TICKETS_PER_DAY_MIN: Final = 500.0
INCIDENTS_PER_DAY_AT_DEFAULT: Final = 60.0
INCIDENTS_PER_DAY_MIN: Final = 40.0
UPDATES_PER_TICKET: Final = 3
# Expected share of sensors silent at any moment; the sensor period is shortened to keep the total rate.
EXPECTED_SILENT_SHARE: Final = 0.01

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
# A crowd surge (episodes.py) can overfill a spot beyond its usual maximum.
CROWD_SURGE_MAX_LOAD: Final = 1.3
PARKING_CAPACITY: Final = {"hospital": (150, 600), "school": (150, 250), "transport_hub": (400, 600)}
FIXED_HOLIDAYS: Final = frozenset([(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5)] + [(10, d) for d in range(1, 8)])

# --- incidents' lives -------------------------------------------------------------------------

# Minutes from report to resolution by severity (field units close the common ones within the hour), and
# minutes from resolution to the source closing the case.
INCIDENT_RESOLVE_MIN: Final = {1: (120, 360), 2: (60, 240), 3: (40, 150), 4: (20, 90)}
INCIDENT_CLOSE_MIN: Final = (10, 30)
INCIDENT_LIFE_H: Final = 7

# --- random streams ---------------------------------------------------------------------------

# Tags that keep the random streams of different purposes apart. TAG_SENSORS shares 9 with TAG_INCIDENT_END, which
# only ever seeds string-keyed streams: the values stay as they are, since every simulated world depends on them.
TAG_SECOND, TAG_DAY, TAG_EPISODE, TAG_OUTAGE, TAG_TICKET, TAG_TICKET_DETAIL, TAG_INCIDENT, TAG_PHASE = range(1, 9)
TAG_INCIDENT_END: Final = 9
TAG_SENSORS, TAG_UNITS, TAG_ENTITY, TAG_POOL = range(9, 13)
TAG_SIGNAL: Final = 20
_M64: Final = (1 << 64) - 1

_K = TypeVar("_K")
_V = TypeVar("_V")


def _mix(seed: int, tag: int, a: int, b: int = 0) -> int:
    """A non-negative integer seed unique to (seed, tag, a, b)."""
    return ((seed & 0xFFFFFFFF) << 192) | (tag << 160) | ((a & _M64) << 64) | (b & _M64)


def seeded_rng(seed: int, tag: int, a: int, b: int = 0) -> random.Random:
    """A random stream of its own for one purpose, seed and time slot."""
    return random.Random(_mix(seed, tag, a, b))


class LRU(OrderedDict[_K, _V]):
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


def interp(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear interpolation through (x, y) keypoints; 0 outside them."""
    if x < points[0][0] or x > points[-1][0]:
        return 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return points[-1][1]


def poisson(rng: random.Random, lam: float) -> int:
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


class Chooser(Generic[_V]):
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


def epoch_of(ts: str) -> float:
    """Epoch seconds of one of the simulator's own ISO timestamps."""
    return datetime.fromisoformat(ts).timestamp()
