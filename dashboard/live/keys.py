"""Every Redis key the system uses, and the schema of the values stored under them.

Aggregates are JSON strings under ``agg:<name>`` shaped as :class:`Envelope`; the ``data`` of each
aggregate is described by the TypedDicts below. Workers write them, callbacks only read them.
"""

from __future__ import annotations

from typing import Any, Final, NotRequired, TypedDict

PREFIX: Final = "dc:"

# Raw telemetry (sensor readings, traffic speeds, parking, crowds): one bounded stream.
TELEMETRY_STREAM: Final = PREFIX + "stream:telemetry"
TELEMETRY_STREAM_MAXLEN: Final = 200_000
# Durable events (incidents, hotline tickets) are in SQL; this stream only tells the ticker they arrived.
DURABLE_STREAM: Final = PREFIX + "stream:durable"
DURABLE_STREAM_MAXLEN: Final = 10_000
# Fold state of the telemetry aggregator: JSON with the stream cursor and per-entity latest values.
TELEMETRY_STATE: Final = PREFIX + "state:telemetry"
# Held while a tick runs, so that two workers never fold the same events twice.
TICK_LOCK: Final = PREFIX + "lock:tick"
TICK_LOCK_TTL_MS: Final = 3_000
# Pub/sub channel announcing "aggregate <name> has a new version". Channels are shared by every logical
# database of a server, so the name carries the database number: two deployments (or a deployment and the
# test-suite) on one server never hear each other.
UPDATES_CHANNEL: Final = PREFIX + "updates"
# Set while an immediate tick (dashboard.live.publish.request_tick) is queued and not yet started: changes committed
# meanwhile need no tick of their own (the job clears it before it reads anything, so it sees them). Expires with
# the job's ttl.
PROMPT_TICK_PENDING: Final = PREFIX + "tick:prompt"
# Heartbeat of the tick: epoch seconds of the last completed tick.
LAST_TICK: Final = PREFIX + "tick:last"
# 未诉先办: the seasonal ticket baseline learned from the last weeks of SQL (workers/early_warning.py), JSON.
WARNINGS_BASELINE: Final = PREFIX + "state:warnings-baseline"
# Ingest counters per source, for the health page.
INGEST_STATS: Final = PREFIX + "ingest:stats"
# RQ queue names.
QUEUE_TICK: Final = "dc-tick"
QUEUE_DEFAULT: Final = "dc-default"


def updates_channel(db: int) -> str:
    """The pub/sub channel of aggregate updates for Redis database `db`."""
    return f"{UPDATES_CHANNEL}:{db}"


# Pub/sub channel of incident changes: one JSON message after each incident action (push to open screens).
INCIDENTS_CHANNEL: Final = PREFIX + "incidents"


def incidents_channel(db: int) -> str:
    """The pub/sub channel of incident changes for Redis database `db` (`dc:incidents:<db>`)."""
    return f"{INCIDENTS_CHANNEL}:{db}"


def agg_key(name: str) -> str:
    """Redis key of the precomputed aggregate `name`."""
    return f"{PREFIX}agg:{name}"


def dedupe_key(source: str, event_id: str) -> str:
    """Key remembering that (source, event_id) was accepted (telemetry only; SQL dedupes the rest)."""
    return f"{PREFIX}seen:{source}:{event_id}"


# History of the aggregates (issue 4): workers/history.py writes, dashboard/history.py reads (format and sizes in
# its docstring). Snapshots are zlib-compressed JSON, one key each with a TTL; a sorted set per resolution indexes
# them by the time of their state, and a second one holds each snapshot's small figures, so that trend charts
# never open a snapshot.
HISTORY_MINUTES: Final = PREFIX + "history:minutes"  # zset: member = score = minute (epoch s)
HISTORY_HOURS: Final = PREFIX + "history:hours"  # zset: member = hour start, score = time of its state
HISTORY_SERIES_MINUTE: Final = PREFIX + "history:series:minute"  # zset: JSON [minute, figures…], score = minute
HISTORY_SERIES_HOUR: Final = PREFIX + "history:series:hour"  # zset: JSON {"h", "ts", "n", stats}, score = hour


def history_minute_key(minute: int) -> str:
    """Key of the snapshot of `minute` (epoch seconds, a multiple of 60)."""
    return f"{PREFIX}history:m:{int(minute)}"


def history_hour_key(hour: int) -> str:
    """Key of the hourly roll-up of the hour starting at `hour` (epoch seconds, a multiple of 3600)."""
    return f"{PREFIX}history:h:{int(hour)}"


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


class SensorsData(TypedDict):
    """Aggregate `sensors`."""

    total: int
    online: int
    by_state: dict[str, int]  # state -> count
    by_type: dict[str, dict[str, int]]  # sensor type -> state -> count
    means: dict[str, float | None]  # sensor type -> mean of latest values of online sensors
    alarms: list[SensorPoint]  # warning+alarm, most severe first, at most 50
    silent: list[SensorPoint]  # silent sensors, longest silent first, at most 50
    points: list[SensorPoint]  # every sensor, for the map


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
    """One 未诉先办 early warning: an emerging problem where complaints are expected (workers/early_warning.py)."""

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


# --- health of data sources (written by dashboard/ingest.py, read by dashboard/health.py) ----------------
# Epoch seconds of the latest request that brought an accepted event, per source (hash: source -> epoch).
# Apart from INGEST_STATS, whose fields are all integer counters.
INGEST_LAST: Final = PREFIX + "ingest:last"
# Events accepted per source in one UTC minute (hash: source -> count), kept a few minutes: events per minute.
INGEST_MINUTE_TTL_S: Final = 180
# The latest rejected events of a source with their reasons (list of JSON, newest first, bounded).
INGEST_REJECTS_KEEP: Final = 20


def ingest_minute_key(minute: int) -> str:
    """Key of the per-source accepted counts of minute `minute` (epoch seconds // 60)."""
    return f"{PREFIX}ingest:minute:{minute}"


def ingest_rejects_key(source: str) -> str:
    """Key of the latest rejected events of `source` (unnamed or invalid sources: "unknown")."""
    return f"{PREFIX}ingest:rejects:{source}"


# --- cases (热线+网格, issue 5: workers/linking.py) -----------------------------------------------------------
# Held while a linking run works, so that two runs never consider the same ticket at once.
CASE_LINK_LOCK: Final = PREFIX + "lock:linking"
CASE_LINK_LOCK_TTL_MS: Final = 30_000
# Sensors seen at a cause level by recent linking runs (hash: sensor id -> JSON list of spans), kept for the
# rules' window so that an alarm that ended shortly before a ticket still explains it. Rebuildable: it only
# remembers what the `sensors` aggregate showed.
CASE_ALARMS: Final = PREFIX + "cases:alarms"
