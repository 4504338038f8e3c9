"""The aggregates' names and shapes: what is stored under every ``agg:<name>`` key (dashboard.live.keys.agg_key),
an :class:`Envelope` whose ``data`` is one of the TypedDicts below. Workers compute them (workers/), the screens
only read them (layouts/, callbacks/)."""

from __future__ import annotations

from typing import Any, Final, NotRequired, TypedDict

# Names of the precomputed aggregates, one Redis key each.
AGG_KPI: Final = "kpi"
AGG_SENSORS: Final = "sensors"
AGG_INCIDENTS: Final = "incidents"
AGG_TRAFFIC: Final = "traffic"
AGG_PARKING: Final = "parking"
AGG_CROWD: Final = "crowd"
AGG_HOTLINE: Final = "hotline"
AGG_TICKER: Final = "ticker"
# 未诉先办 early warnings (workers/early_warning/), computed by the tick like the others.
AGG_WARNINGS: Final = "warnings"
AGGREGATES: Final = (
    AGG_KPI, AGG_SENSORS, AGG_INCIDENTS, AGG_TRAFFIC, AGG_PARKING, AGG_CROWD, AGG_HOTLINE, AGG_TICKER, AGG_WARNINGS,
)  # fmt: skip

# An aggregate older than this is shown as stale and makes /healthz degraded.
AGG_STALE_AFTER_S: Final = 5.0


def is_stale(computed_at: float | None, now: float) -> bool:
    """The wall's rule (assets/wall.js turns a panel stale by it): missing, or older than AGG_STALE_AFTER_S."""
    return computed_at is None or now - computed_at > AGG_STALE_AFTER_S


class Envelope(TypedDict):
    """What is stored under every aggregate key."""

    name: str
    version: int  # increases only when `data` changes
    computed_at: float  # epoch seconds (UTC) of the tick that last confirmed `data`
    data: dict[str, Any]  # one of the *Data TypedDicts below


class SensorPoint(TypedDict):
    """One sensor on the map."""

    id: str
    type: str  # key of constants.SENSOR_TYPES
    lon: float
    lat: float
    value: float | None
    state: str  # normal | warning | alarm | silent
    subdistrict: str
    last_seen: float  # epoch seconds
    alarm_since: float | None  # epoch seconds of the reading that began the current alarm episode, else None


class SensorBins(TypedDict):
    """The map's sensor marks (dashboard/domain/clusters.py): the cells of zoom `z` holding sensors, each
    [key, lon, lat, sensors, normal, warning, alarm, silent]."""

    z: int
    cells: list[list[Any]]


class SensorsData(TypedDict):
    """Aggregate `sensors`."""

    total: int
    online: int
    by_state: dict[str, int]  # state -> count
    by_type: dict[str, dict[str, int]]  # sensor type -> state -> count
    means: dict[str, float | None]  # sensor type -> mean of latest values of online sensors
    alarms: list[SensorPoint]  # warning+alarm, most severe first, at most 50
    silent: list[SensorPoint]  # silent sensors, longest silent first, at most 50
    bins: SensorBins  # the map's marks: never one per sensor (there may be 50,000)
    causes: list[SensorPoint]  # sensors reporting at a level that may explain complaints (ticket linking)


class SummonsItem(TypedDict):
    """One department summoned to an incident (吹哨报到) and its clock."""

    department: str  # constants.DEPARTMENTS
    deadline_at: float  # epoch seconds by which it must report
    acknowledged_at: float | None  # when it reported (报到), else None
    escalated: bool  # its deadline passed unreported and it went to the leader


class IncidentItem(TypedDict):
    """One open incident as shown in lists and on the map."""

    id: int
    title: str
    category: str
    severity: int
    state: str
    subdistrict: str
    lon: float
    lat: float
    created_at: float
    deadline_at: float
    overdue: bool  # past its deadline when the aggregate was computed
    escalated: bool  # went to the leader (its or a summoned department's deadline passed, or by hand)
    sensor_id: str | None  # the sensor whose alarm it came from, if any
    summons: list[SummonsItem]  # departments summoned, earliest deadline first


class IncidentsData(TypedDict):
    """Aggregate `incidents`."""

    open_total: int
    open_by_severity: dict[str, int]  # "1".."4" -> count
    open_by_state: dict[str, int]
    overdue: int
    today_total: int
    today_by_category: dict[str, int]
    items: list[IncidentItem]  # open incidents, most severe then newest first, at most 200


class CorridorStatus(TypedDict):
    """Congestion on one road corridor."""

    id: str
    name_zh: str
    name_en: str
    speed_kmh: float | None
    free_flow_kmh: float
    index: float  # Beijing traffic index 0–10
    band: str  # constants.TRAFFIC_BANDS label


class TrafficData(TypedDict):
    """Aggregate `traffic`."""

    district_index: float
    band: str
    corridors: list[CorridorStatus]  # worst first
    series: list[list[float]]  # [[epoch seconds at the start of the minute, district index], …] last 3 hours


class LotStatus(TypedDict):
    """Occupancy of one car park (near hospitals, schools, stations)."""

    id: str
    name_zh: str
    name_en: str
    lon: float
    lat: float
    occupied: int
    capacity: int
    ratio: float
    updated_at: float


class ParkingData(TypedDict):
    """Aggregate `parking`."""

    lots: list[LotStatus]  # fullest first
    total_occupied: int
    total_capacity: int


class SpotStatus(TypedDict):
    """Crowd at one scenic spot."""

    id: str
    name_zh: str
    name_en: str
    lon: float
    lat: float
    count: int
    capacity: int
    ratio: float
    level: str  # low | medium | high | critical
    updated_at: float


class CrowdData(TypedDict):
    """Aggregate `crowd`."""

    spots: list[SpotStatus]  # busiest (by ratio) first
    busiest: NotRequired[SpotStatus]


class HotlineData(TypedDict):
    """Aggregate `hotline` (接诉即办), counted over the current Beijing day."""

    today_total: int
    by_category: dict[str, int]
    by_subdistrict: dict[str, int]  # subdistrict code -> count
    by_subdistrict_category: dict[str, dict[str, int]]  # subdistrict code -> category -> count (drill-down)
    by_cell: dict[str, int]  # grid cell id -> count (heatmap)
    response_rate: float | None  # 响应率: share responded within constants.HOTLINE_RESPONSE_H
    resolution_rate: float | None  # 解决率: share of due-or-finished tickets resolved
    satisfaction_rate: float | None  # 满意率: share of rated tickets satisfied
    overdue: int  # open tickets past their deadline
    overdue_by_cell: dict[str, int]  # grid cell id -> open tickets past their deadline there (any day)
    hourly: list[int]  # tickets per Beijing hour today, 24 values
    hourly_yesterday: list[int]
    cases_today: int  # distinct cases among today's tickets (热线+网格): a lone or split-off ticket is its own case
    linked_today: int  # today's tickets that belong to a case of two tickets or more (duplicates of one problem)


class KpiData(TypedDict):
    """Aggregate `kpi`: the header strip."""

    incidents_open: int
    incidents_by_severity: dict[str, int]
    incidents_overdue: int
    units_available: int
    units_total: int
    sensors_online: int
    sensors_total: int
    sensors_alarming: int
    traffic_index: float
    traffic_band: str
    hotline_today: int
    hotline_cases: NotRequired[int | None]  # today's tickets as distinct cases (linked duplicates count once)
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    busiest_spot: str | None  # place id
    busiest_spot_name_zh: str | None
    busiest_spot_name_en: str | None
    busiest_spot_ratio: float | None


class TickerItem(TypedDict):
    """One line in the bottom ticker."""

    ts: float
    kind: str  # incident | hotline_ticket | sensor_alarm
    severity: NotRequired[int]
    text_zh: str
    text_en: str


class TickerData(TypedDict):
    """Aggregate `ticker`: the latest events, newest first, at most 30."""

    items: list[TickerItem]


class WarningItem(TypedDict):
    """One 未诉先办 early warning: an emerging problem where complaints are expected (workers/early_warning/)."""

    id: str  # stable while the warning lasts: "<kind>:<cell or subdistrict>:<epoch minute it began>"
    level: str  # cell | subdistrict
    cell: str | None  # grid cell id at level "cell", else None
    subdistrict: str  # subdistrict code
    lon: float
    lat: float
    kind: str  # the cause: water_main | noise | crowd | heating | complaints (a burst of another category)
    category: str  # the hotline category of the complaints expected (constants.HOTLINE_CATEGORIES)
    score: float  # 0–1, how sure (sensor evidence and the tickets' Poisson tail combined)
    since: float  # epoch seconds the evidence began
    reasons_zh: list[str]
    reasons_en: list[str]
    evidence: NotRequired[list[dict[str, Any]]]  # the same reasons as fields: {"type": "sensor"|"tickets", …}


class WarningsData(TypedDict):
    """Aggregate `warnings`: the current early warnings, most severe first (at most 50)."""

    warnings: list[WarningItem]
    count: int  # all current warnings (the list may be cut)
