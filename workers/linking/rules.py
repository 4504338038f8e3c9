"""热线+网格 linking: the matcher's rules — what a ticket, a sensor alarm and an incident look like to it, when two
of them link, and why (`Reason`). Pure; the thresholds are dashboard/domain/rules.py's, block "Cases":

- place: the same or a neighbouring ~500 m grid cell (`neighbours`) AND within a distance (per rule);
- time: a window (per rule);
- cause: a ticket links to a sensor or an incident only through rules.CASE_CAUSES (a noise ticket and a loud
  noise sensor; a public-service ticket and a rising water gauge or a waterlogging incident …); two tickets link
  to each other only when of the same category, of a category in rules.CASE_TICKET_RULES, and, for heating,
  only once three of them are close together (workers/linking/linker.py counts them).

Each link carries a `Reason`: what matched, how far, how many minutes apart, as fields and as short Chinese and
English text (dashboard/services/cases.py renders it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NotRequired, TypedDict

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.services.cases import reason_text
from workers.sensors import at_or_beyond, in_heating_season, in_season, is_low


class TicketIn(TypedDict):
    """A hotline ticket as the matcher sees it (ts: epoch seconds it was received)."""

    ticket_id: str
    category: str
    lon: float
    lat: float
    cell: str
    subdistrict: str
    ts: float


class AlarmIn(TypedDict):
    """A sensor seen at or above a level: at `ts` (and, when `since` is given, from `since` to `ts`)."""

    sensor_id: str
    type: str
    lon: float
    lat: float
    cell: str
    value: float
    ts: float
    since: NotRequired[float | None]


class IncidentIn(TypedDict):
    """An open incident as the matcher sees it (ts: epoch seconds it was reported)."""

    id: int | str
    category: str
    lon: float
    lat: float
    cell: str
    ts: float


# --- place ------------------------------------------------------------------------------------------------


def _cell_rc(cell: str) -> tuple[int, int] | None:
    """(row, column) of a grid cell id such as "r07c03", else None."""
    if len(cell) < 4 or cell[0] != "r" or "c" not in cell[1:]:
        return None
    row, _, col = cell[1:].partition("c")
    if not (row.isdigit() and col.isdigit()):
        return None
    return int(row), int(col)


def neighbours(cell: str) -> frozenset[str]:
    """The (up to eight) grid cells around `cell`, not `cell` itself: those that share an edge or a corner."""
    rc = _cell_rc(cell)
    if rc is None:
        return frozenset()
    row, col = rc
    return frozenset(
        f"r{row + dr:02d}c{col + dc:02d}"
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr or dc) and row + dr >= 0 and col + dc >= 0
    )


def near_cells(a: str, b: str) -> bool:
    """True when two cells are the same or neighbours."""
    return a == b or b in neighbours(a)


def _near(a: Mapping[str, Any], b: Mapping[str, Any], max_km: float) -> float | None:
    """Distance in km between two located things in the same or neighbouring cells, when at most `max_km`."""
    if not near_cells(str(a["cell"]), str(b["cell"])):
        return None
    d = geo.distance_km(float(a["lon"]), float(a["lat"]), float(b["lon"]), float(b["lat"]))
    return d if d <= max_km else None


# --- rules and reasons --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """Every threshold of the matcher (defaults: dashboard/domain/rules.py), so that tests can vary one."""

    causes: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=lambda: c.CASE_CAUSES)
    sensor_level: Mapping[str, float] = field(default_factory=lambda: c.CASE_SENSOR_LEVEL)
    tickets: Mapping[str, tuple[float, int, int]] = field(default_factory=lambda: c.CASE_TICKET_RULES)
    alarm_sustain_min: float = c.CASE_ALARM_SUSTAIN_MIN
    alarm_gap_s: float = c.CASE_ALARM_GAP_S
    alarm_km: float = c.CASE_ALARM_KM
    sensor_km: Mapping[str, float] = field(default_factory=lambda: c.CASE_SENSOR_KM)
    sensor_only: frozenset[str] = c.CASE_SENSOR_ONLY
    sensor_before_min: Mapping[str, float] = field(default_factory=lambda: c.CASE_SENSOR_BEFORE_MIN)
    alarm_before_min: float = c.CASE_ALARM_BEFORE_MIN
    alarm_after_min: float = c.CASE_ALARM_AFTER_MIN
    incident_km: float = c.CASE_INCIDENT_KM
    incident_before_min: float = c.CASE_INCIDENT_BEFORE_MIN
    incident_after_min: float = c.CASE_INCIDENT_AFTER_MIN
    spread_km: float = c.CASE_SPREAD_KM
    case_windows: float = c.CASE_TICKET_WINDOWS

    def horizon_s(self) -> float:
        """The longest any window reaches back: older tickets, cases and alarms can no longer match."""
        minutes = [self.alarm_before_min, self.incident_before_min, *(m for _, m, _ in self.tickets.values())]
        return max(minutes) * 60.0

    def level(self, sensor_type: str) -> float | None:
        """The reading from which a sensor of this type explains a complaint (None: it explains none)."""
        level = self.sensor_level.get(sensor_type)
        return None if level is None else float(level)

    def at_level(self, sensor_type: str, value: Any, ts: Any = None) -> bool:
        """True when a reading (taken at epoch `ts`, when known) is at its type's cause level or beyond: at or
        above it, at or below it for a type where lower is worse (heat supply), and only in the type's season."""
        level = self.level(sensor_type)
        spec = c.SENSOR_TYPES.get(sensor_type)
        if level is None or value is None or not in_season(spec, None if ts is None else float(ts)):
            return False
        return at_or_beyond(spec, float(value), level)

    def cause_test(self) -> Callable[[str, Any, Any], bool]:
        """at_level with the levels read once (the same answers, fewer lookups): the tick's sensor book asks it of
        thousands of readings a second."""
        table: dict[str, tuple[float, bool, bool]] = {}
        for stype, level in self.sensor_level.items():
            if level is not None:
                spec = c.SENSOR_TYPES.get(stype)
                table[stype] = (float(level), is_low(spec), spec is not None and spec.get("season") == "heating")

        def test(sensor_type: str, value: Any, ts: Any = None) -> bool:
            """at_level(sensor_type, value, ts)."""
            row = table.get(sensor_type)
            if row is None or value is None:
                return False
            level, low, seasonal = row
            if seasonal and ts is not None and not in_heating_season(float(ts)):
                return False
            return float(value) <= level if low else float(value) >= level

        return test

    def worse(self, sensor_type: str, a: float, b: float) -> float:
        """The worse of two readings of a type (the higher, or the lower for a low type)."""
        return min(a, b) if is_low(c.SENSOR_TYPES.get(sensor_type)) else max(a, b)


RULES: Final = Rules()
# The rules' names, which the reasons and the i18n keys ("case.reason_<rule>") use.
RULE_TICKET: Final = c.CASE_RULE_TICKET
RULE_SENSOR: Final = c.CASE_RULE_SENSOR
RULE_INCIDENT: Final = c.CASE_RULE_INCIDENT
# How strongly each kind of match explains a ticket: an incident first, then a sensor, then another ticket.
_PRIORITY: Final = {RULE_INCIDENT: 0, RULE_SENSOR: 1, RULE_TICKET: 2}


@dataclass(frozen=True)
class Reason:
    """Why a ticket was linked: the rule, what it matched, how far away and how many minutes apart."""

    rule: str  # same_category | sensor | incident
    matched: str  # ticket | sensor | incident
    target_id: str
    distance_m: int
    minutes_apart: int
    category: str  # the ticket's
    target_kind: str  # the other ticket's category, the sensor's type or the incident's category
    value: float | None = None  # the sensor's reading

    def fields(self) -> dict[str, Any]:
        """The structured reason, as stored in CaseLink.reason and returned by the API."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "matched": self.matched,
            "target_id": self.target_id,
            "distance_m": self.distance_m,
            "minutes_apart": self.minutes_apart,
            "category": self.category,
            "target_kind": self.target_kind,
        }
        if self.value is not None:
            out["value"] = self.value
        return out

    def text(self, lang: str) -> str:
        """The reason in a short sentence in `lang` ("zh" or "en")."""
        return reason_text(self.fields(), lang)


def _minutes(seconds: float) -> int:
    """Whole minutes in a span of seconds, whichever its sign."""
    return round(abs(seconds) / 60.0)


def ticket_link(a: TicketIn, b: TicketIn, rules: Rules = RULES) -> Reason | None:
    """Why ticket `a` links to ticket `b` (same category, close, within the window), else None. Symmetric."""
    if a["category"] != b["category"] or a["category"] not in rules.tickets:
        return None
    km, minutes, _ = rules.tickets[a["category"]]
    if abs(float(a["ts"]) - float(b["ts"])) > minutes * 60:
        return None
    d = _near(a, b, km)
    if d is None:
        return None
    return Reason(RULE_TICKET, "ticket", str(b["ticket_id"]), round(d * 1000), _minutes(a["ts"] - b["ts"]),
                  a["category"], b["category"])


def alarm_link(tk: TicketIn, alarm: AlarmIn, rules: Rules = RULES) -> Reason | None:
    """Why a ticket links to a sensor seen at its cause level nearby and about then, else None."""
    sensor_types, _ = rules.causes.get(tk["category"], ((), ()))
    if alarm["type"] not in sensor_types:
        return None
    if not rules.at_level(alarm["type"], alarm.get("value"), alarm.get("ts")):
        return None
    end = float(alarm["ts"])
    start = float(alarm.get("since") or end)
    if end - start < rules.alarm_sustain_min * 60:
        return None  # a horn, a splash: not yet a cause
    at = float(tk["ts"])
    # The sensor was at its level at some moment from alarm_before_min before the ticket to alarm_after_min after.
    before_min = float(rules.sensor_before_min.get(alarm["type"], rules.alarm_before_min))
    if end < at - before_min * 60 or start > at + rules.alarm_after_min * 60:
        return None
    d = _near(tk, alarm, float(rules.sensor_km.get(alarm["type"], rules.alarm_km)))
    if d is None:
        return None
    apart = 0.0 if start <= at <= end else min(abs(at - start), abs(at - end))
    return Reason(RULE_SENSOR, "sensor", str(alarm["sensor_id"]), round(d * 1000), _minutes(apart), tk["category"],
                  alarm["type"], round(float(alarm["value"]), 2))


def incident_link(tk: TicketIn, inc: IncidentIn, rules: Rules = RULES) -> Reason | None:
    """Why a ticket links to an incident of a causing category nearby and about then, else None."""
    _, categories = rules.causes.get(tk["category"], ((), ()))
    if inc["category"] not in categories:
        return None
    dt = float(tk["ts"]) - float(inc["ts"])
    if dt > rules.incident_before_min * 60 or -dt > rules.incident_after_min * 60:
        return None
    d = _near(tk, inc, rules.incident_km)
    if d is None:
        return None
    return Reason(RULE_INCIDENT, "incident", str(inc["id"]), round(d * 1000), _minutes(dt), tk["category"],
                  inc["category"])


def better(a: Reason | None, b: Reason | None) -> Reason | None:
    """The stronger of two reasons: incident before sensor before ticket, then the nearer, then the sooner."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b, key=lambda r: (_PRIORITY[r.rule], r.distance_m, r.minutes_apart, r.target_id))
