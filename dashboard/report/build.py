"""The daily report: pure building from one Beijing day's SQL rows to its figures, tables and CSV.

Definitions (the page and the CSV state them too):
- A day is a Beijing calendar day (Asia/Shanghai, UTC+8 without DST); storage is UTC.
- Incidents of the day are those *reported* (reported_at) in it; their outcome is their state at `as_of`:
  resolved, closed, cancelled, or still open (any of rules.INCIDENT_OPEN_STATES).
- Response time = acknowledged_at − reported_at over the acknowledged ones; resolution time = resolved_at −
  reported_at over the resolved ones (closed ones keep their resolved_at). Median and p90 use linear
  interpolation between closest ranks (PostgreSQL percentile_cont, numpy's default).
- Hotline tickets of the day are those received in it, with the three 接诉即办 rates defined exactly as in
  workers/hotline.py compute_hotline, evaluated at `as_of`, so that for today the report agrees with the wall.
- Sensor alarms: raw alarms are telemetry (Redis only), so the report counts the incidents linked to a sensor
  (sensor_id set) by sensor type; those created by the centre itself have source SENSOR_ALARM_SOURCE.
- Traffic: district-index points from the history snapshots when there are any, else (Redis lost or flushed) from
  the per-minute telemetry roll-ups in SQL (dashboard/report/telemetry.py, the same figures); never invented.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import DAY_S, date_start, epoch, hour_of, local_date
from dashboard.store.reports import IncidentRow, TicketRow

# China has used UTC+8 all year since 1991, so a fixed offset is exact (as in dashboard/domain/beijing.py).
_RESPONSE_S: Final = c.HOTLINE_RESPONSE_H * 3600
_DAY_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The first day a report covers: Beijing's fixed UTC+8 holds from 1991 on, and a day near year 1 has no UTC time.
FIRST_DAY: Final = date(1991, 1, 1)
# Rush hours (Beijing time, [start, end)) for the traffic peaks: the corridors' weekday peaks.
MORNING_PEAK_H: Final = (7, 10)
EVENING_PEAK_H: Final = (17, 20)
# An unregistered sensor's type is inferred from its incident's category when the rule is unambiguous.
_TYPE_OF_CATEGORY: Final = {cat: st for st, (cat, _bands) in c.SENSOR_INCIDENT_RULES.items()}
UNKNOWN_SENSOR_TYPE: Final = "unknown"


class ReportDayError(ValueError):
    """The `day` parameter is not a day the report can be built for; the message is the reason (English)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


# --- the day ------------------------------------------------------------------------------------------------


def parse_day(text: str | None, now: float) -> date:
    """The Beijing day named by `YYYY-MM-DD`; today when empty; ReportDayError when malformed, in the future or
    before FIRST_DAY."""
    today = local_date(now)
    if text is None or not text.strip():
        return today
    text = text.strip()
    if not _DAY_RE.match(text):
        raise ReportDayError("bad_format", f"day must be YYYY-MM-DD, got {text[:40]!r}")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ReportDayError("bad_date", f"{text} is not a calendar date") from None
    if day > today:
        raise ReportDayError("future", f"{text} is in the future (today in Beijing is {today.isoformat()})")
    if day < FIRST_DAY:
        raise ReportDayError("too_early", f"{text} is before {FIRST_DAY.isoformat()}, the first day a report covers")
    return day




def day_bounds(day: date) -> tuple[float, float]:
    """Epoch seconds of the Beijing midnight starting `day` and of the next one."""
    start = date_start(day)
    return start, start + DAY_S








# --- statistics ---------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile (0–1) by linear interpolation between closest ranks; None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def rate(num: int, den: int) -> float | None:
    """num / den rounded to 4 places as the wall's aggregate does (so both display alike), None while 0 / 0."""
    return round(num / den, 4) if den else None


@dataclass(frozen=True)
class Durations:
    """How many values, and their median and p90, in seconds."""

    n: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Durations:
        """Summarise a list of durations in seconds."""
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9))


# --- sections -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeverityRow:
    """Incidents of one severity (None = all) by outcome, with their response and resolution times."""

    severity: int | None
    total: int
    resolved: int
    closed: int
    cancelled: int
    open: int
    response: Durations
    resolution: Durations


@dataclass
class HotlineRow:
    """Tickets of one subdistrict or category (key "" = the district) and the three rates' counts."""

    key: str
    tickets: int = 0
    response_num: int = 0
    response_den: int = 0
    resolution_num: int = 0
    resolution_den: int = 0
    satisfaction_num: int = 0
    satisfaction_den: int = 0
    unresolved: int = 0
    overdue: int = 0  # unresolved and past the deadline at as_of

    @property
    def response_rate(self) -> float | None:
        """响应率: responded within HOTLINE_RESPONSE_H over those responded or older than that window."""
        return rate(self.response_num, self.response_den)

    @property
    def resolution_rate(self) -> float | None:
        """解决率: resolved over those resolved or past their deadline."""
        return rate(self.resolution_num, self.resolution_den)

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: satisfied over rated."""
        return rate(self.satisfaction_num, self.satisfaction_den)

    def add(self, ticket: TicketRow, as_of: float) -> None:
        """Count one ticket, by the definitions of workers/hotline.py compute_hotline at `as_of`."""
        received = epoch(ticket.received_at)
        self.tickets += 1
        responded = None if ticket.responded_at is None else epoch(ticket.responded_at)
        if responded is not None or as_of - received >= _RESPONSE_S:
            self.response_den += 1
            if responded is not None and responded - received <= _RESPONSE_S:
                self.response_num += 1
        resolved = ticket.resolved_at is not None
        past_deadline = as_of > epoch(ticket.deadline_at)
        if resolved or past_deadline:
            self.resolution_den += 1
            self.resolution_num += resolved
        if ticket.satisfied is not None:
            self.satisfaction_den += 1
            self.satisfaction_num += bool(ticket.satisfied)
        if not resolved:
            self.unresolved += 1
            self.overdue += past_deadline


@dataclass(frozen=True)
class SensorRow:
    """Sensor-linked incidents of one sensor type."""

    sensor_type: str
    incidents: int
    auto_created: int  # source SENSOR_ALARM_SOURCE: opened by the centre's own alarm check
    open: int
    most_severe: int | None


@dataclass(frozen=True)
class Peak:
    """The highest district traffic index in a window and when it was reached."""

    index: float
    at: float
    hourly: bool = False  # from an hourly roll-up (the hour's maximum): `at` is the hour's start


@dataclass(frozen=True)
class CorridorIndex:
    """A road corridor's traffic index at one moment."""

    name_zh: str
    name_en: str
    index: float


@dataclass(frozen=True)
class TrafficPeaks:
    """Traffic peaks of the day from the history snapshots."""

    points: int  # snapshots used (minute snapshots, plus hourly roll-ups for hours with no minute left)
    peak: Peak
    morning: Peak | None
    evening: Peak | None
    hourly_max: tuple[float | None, ...]  # 24 values, None for an hour without snapshots
    corridors: tuple[CorridorIndex, ...] = ()  # the worst corridors at the day's peak, worst first


@dataclass(frozen=True)
class DailyReport:
    """Everything the page and the CSV show for one day."""

    day: date
    start: float
    end: float
    as_of: float
    severities: tuple[SeverityRow, ...]  # I–IV, then the total (severity None)
    incidents_by_category: dict[str, int]
    incidents_hourly: tuple[int, ...]
    hotline: HotlineRow
    hotline_by_subdistrict: tuple[HotlineRow, ...]
    hotline_by_category: tuple[HotlineRow, ...]
    tickets_hourly: tuple[int, ...]
    sensors: tuple[SensorRow, ...]
    traffic: TrafficPeaks | None = None
    traffic_readable: bool = True  # False when the history could not be read (Redis down), not merely empty

    @property
    def incidents_total(self) -> int:
        """Incidents reported on the day."""
        return self.severities[-1].total

    @property
    def sensor_incidents_total(self) -> int:
        """Sensor-linked incidents reported on the day."""
        return sum(s.incidents for s in self.sensors)

    @property
    def empty(self) -> bool:
        """True when the day has no incident, no ticket and no traffic history."""
        return self.incidents_total == 0 and self.hotline.tickets == 0 and self.traffic is None

    @property
    def in_progress(self) -> bool:
        """True while the day is not over (the figures are as of `as_of`)."""
        return self.as_of < self.end


# --- building -----------------------------------------------------------------------------------------------


def _severity_rows(incidents: Sequence[IncidentRow]) -> tuple[SeverityRow, ...]:
    """Outcome counts and times by severity, then for all."""
    rows = []
    for sev in (*c.SEVERITIES, None):
        mine = [i for i in incidents if sev is None or i.severity == sev]
        states = [i.state for i in mine]
        rows.append(
            SeverityRow(
                severity=sev,
                total=len(mine),
                resolved=states.count("resolved"),
                closed=states.count("closed"),
                cancelled=states.count("cancelled"),
                open=sum(s in c.INCIDENT_OPEN_STATES for s in states),
                response=Durations.of(
                    [epoch(i.acknowledged_at) - epoch(i.reported_at) for i in mine if i.acknowledged_at]
                ),
                resolution=Durations.of(
                    [epoch(i.resolved_at) - epoch(i.reported_at) for i in mine if i.resolved_at]
                ),
            )
        )
    return tuple(rows)


def sensor_type_of(row: IncidentRow) -> str:
    """The sensor type of a sensor-linked incident: registered type, else from the rule of its category."""
    if row.sensor_type:
        return row.sensor_type
    return _TYPE_OF_CATEGORY.get(row.category, UNKNOWN_SENSOR_TYPE)


def _sensor_rows(incidents: Sequence[IncidentRow]) -> tuple[SensorRow, ...]:
    """Sensor-linked incidents by sensor type: every known type (zeros included), then any unknown."""
    linked = [i for i in incidents if i.sensor_id]
    types = list(c.SENSOR_TYPES)
    types += sorted({sensor_type_of(i) for i in linked} - set(types))
    out = []
    for st in types:
        mine = [i for i in linked if sensor_type_of(i) == st]
        out.append(
            SensorRow(
                sensor_type=st,
                incidents=len(mine),
                auto_created=sum(i.source == c.SENSOR_ALARM_SOURCE for i in mine),
                open=sum(i.state in c.INCIDENT_OPEN_STATES for i in mine),
                most_severe=min((i.severity for i in mine), default=None),
            )
        )
    return tuple(out)


def _hotline_rows(
    tickets: Sequence[TicketRow], keys: Sequence[str], key_of: str, as_of: float
) -> tuple[HotlineRow, ...]:
    """One HotlineRow per key (zeros included, in `keys` order), then any key the rows add."""
    rows = {k: HotlineRow(k) for k in keys}
    for tk in tickets:
        k = getattr(tk, key_of)
        rows.setdefault(k, HotlineRow(k)).add(tk, as_of)
    return tuple(rows.values())


def traffic_peaks(
    minutes: Iterable[tuple[float, float | None]],
    hours: Iterable[tuple[float, float | None]],
    start: float,
    end: float,
) -> TrafficPeaks | None:
    """Peaks of the district traffic index in [start, end) from the history; None when it holds nothing then.

    `minutes` are (minute, index) snapshots; `hours` are (hour start, the hour's maximum) roll-ups, used only for
    the hours without any minute snapshot (older than the minute retention). Missing values (None) are skipped.
    """
    pts = sorted((float(ts), float(ix), False) for ts, ix in minutes if ix is not None and start <= ts < end)
    covered = {_hour_start(ts) for ts, _, _ in pts}
    pts += [(float(ts), float(ix), True) for ts, ix in hours
            if ix is not None and start <= ts < end and _hour_start(float(ts)) not in covered]
    if not pts:
        return None
    pts.sort()

    def top(window: Iterable[tuple[float, float, bool]]) -> Peak | None:
        # The earliest time the maximum was reached.
        best = max(window, key=lambda p: (p[1], -p[0]), default=None)
        return None if best is None else Peak(best[1], best[0], best[2])

    def in_hours(h0: int, h1: int) -> list[tuple[float, float, bool]]:
        return [p for p in pts if h0 <= hour_of(p[0]) < h1]

    hourly: list[float | None] = [None] * 24
    for ts, ix, _ in pts:
        h = hour_of(ts)
        prev = hourly[h]
        hourly[h] = ix if prev is None else max(prev, ix)
    overall = top(pts)
    assert overall is not None  # pts is not empty
    return TrafficPeaks(
        points=len(pts),
        peak=overall,
        morning=top(in_hours(*MORNING_PEAK_H)),
        evening=top(in_hours(*EVENING_PEAK_H)),
        hourly_max=tuple(hourly),
    )


def _hour_start(ts: float) -> float:
    """Epoch seconds of the hour containing `ts` (Beijing hours are whole UTC hours)."""
    return ts // 3600 * 3600


def build_report(
    day: date,
    incidents: Iterable[IncidentRow],
    tickets: Iterable[TicketRow],
    as_of: float,
    traffic: TrafficPeaks | None = None,
    traffic_readable: bool = True,
) -> DailyReport:
    """The report of `day` from its incidents (IncidentRow order) and tickets (TicketRow order) at `as_of`.

    Rows outside the day are ignored, so a caller may pass a wider query.
    """
    start, end = day_bounds(day)
    incs = [i for i in incidents if start <= epoch(i.reported_at) < end]
    tks = [tk for tk in tickets if start <= epoch(tk.received_at) < end]

    inc_hourly = [0] * 24
    by_category = dict.fromkeys(c.INCIDENT_CATEGORIES, 0)
    for i in incs:
        inc_hourly[hour_of(epoch(i.reported_at))] += 1
        by_category[i.category] = by_category.get(i.category, 0) + 1
    tk_hourly = [0] * 24
    district = HotlineRow("")
    for tk in tks:
        tk_hourly[hour_of(epoch(tk.received_at))] += 1
        district.add(tk, as_of)
    return DailyReport(
        day=day,
        start=start,
        end=end,
        as_of=as_of,
        severities=_severity_rows(incs),
        incidents_by_category=by_category,
        incidents_hourly=tuple(inc_hourly),
        hotline=district,
        hotline_by_subdistrict=_hotline_rows(tks, [s.code for s in geo.subdistricts()], "subdistrict", as_of),
        hotline_by_category=_hotline_rows(tks, c.HOTLINE_CATEGORIES, "category", as_of),
        tickets_hourly=tuple(tk_hourly),
        sensors=_sensor_rows(incs),
        traffic=traffic,
        traffic_readable=traffic_readable,
    )
