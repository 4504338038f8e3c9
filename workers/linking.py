"""热线+网格: link each new hotline ticket to what the sensors, the incidents and the other tickets already say.

The matcher is pure and shared by the live job and the benchmark's replay (`link_replay`), so both apply exactly
the same rules (dashboard/domain/rules.py, block "Cases"):

- place: the same or a neighbouring ~500 m grid cell (`neighbours`) AND within a distance (per rule);
- time: a window (per rule);
- cause: a ticket links to a sensor or an incident only through rules.CASE_CAUSES (a noise ticket and a loud
  noise sensor; a public-service ticket and a rising water gauge or a waterlogging incident …); two tickets link
  to each other only when of the same category, of a category in rules.CASE_TICKET_RULES, and, for heating,
  only once three of them are close together.

Tickets are taken in time order. A ticket joins the case it matches best (its incident, then its sensors, then its
tickets; nearest first), else opens a case with the incident or the sensor alarm it matches, else with the lone
tickets it matches (when there are enough of them), else stays alone. Every ticket of a case lies within
rules.CASE_SPREAD_KM of the case's anchor, so a chain of neighbours never drifts across the district. Each
link carries a `Reason`: what matched, how far, how many minutes apart, as fields and as short Chinese and English
text.

Cases that never link: the same place but an unrelated category (no cause rule, different categories); the same
category but farther apart than the rule's distance or not in neighbouring cells; the same category and place but
outside the window (hours or days apart).

The live job (`run_linking`, RQ entry `link_tickets`, every rules.CASE_LINK_CHECK_S seconds) considers each
ticket once (models.LinkCheck), reads its candidates from SQL (dashboard.store) and the sensors in warning or alarm
from the precomputed `sensors` aggregate (never raw telemetry), which it remembers in Redis for the rules' window
(keys.CASE_ALARMS) so that an alarm that ended a little before a ticket still explains it. Stored links keep their
decision: a split ticket is never linked again.
"""

from __future__ import annotations

import bisect
import json
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NotRequired, TypedDict

import redis
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import utc_datetime
from dashboard.live import keys
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_SENSORS, AGG_STALE_AFTER_S
from dashboard.services.cases import reason_text
from dashboard.store.engine import session_scope
from dashboard.store.models import utcnow
from workers.clients import job_clients
from workers.sensors import at_or_beyond, in_season, is_low

log = logging.getLogger(__name__)


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


def _better(a: Reason | None, b: Reason | None) -> Reason | None:
    """The stronger of two reasons: incident before sensor before ticket, then the nearer, then the sooner."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b, key=lambda r: (_PRIORITY[r.rule], r.distance_m, r.minutes_apart, r.target_id))


# --- the linker ---------------------------------------------------------------------------------------------


@dataclass
class CaseState:
    """A case as the linker keeps it: its anchor (where it is), its tickets, its incident and its sensors."""

    key: str
    lon: float
    lat: float
    tickets: list[TicketIn]
    last_ts: float
    incident: IncidentIn | None = None
    sensors: list[AlarmIn] = field(default_factory=list)
    db_id: int | None = None  # the Case row (live job only)


@dataclass(frozen=True)
class Link:
    """One ticket put into a case, and why."""

    ticket: TicketIn
    reason: Reason


@dataclass
class Decision:
    """What the linker did with one ticket: nothing (lone), joined a case, or opened one."""

    ticket: TicketIn
    case: CaseState | None = None
    new_case: bool = False
    links: list[Link] = field(default_factory=list)  # the ticket's own link first, then lone tickets pulled in


def _index(rows: Iterable[Any]) -> dict[str, list[Any]]:
    """Rows by grid cell."""
    out: dict[str, list[Any]] = {}
    for row in rows:
        out.setdefault(str(row["cell"]), []).append(row)
    return out


def _around(index: Mapping[str, list[Any]], cell: str) -> list[Any]:
    """Rows of an index in a cell and its neighbours."""
    out = list(index.get(cell, ()))
    for n in neighbours(cell):
        out.extend(index.get(n, ()))
    return out


class Linker:
    """The matcher's state: recent cases and lone tickets. Feed tickets in time order with `link`."""

    def __init__(self, rules: Rules = RULES, cases: Iterable[CaseState] = (), lone: Iterable[TicketIn] = ()) -> None:
        """Start from existing cases and lone tickets (neither split tickets, which are never linked again)."""
        self.rules = rules
        self.cases: list[CaseState] = list(cases)
        self.lone: list[TicketIn] = list(lone)

    def _prune(self, now: float) -> None:
        """Forget what can no longer match a ticket received at `now` (tickets come in time order)."""
        horizon = now - self.rules.horizon_s()
        self.cases = [cs for cs in self.cases if cs.last_ts >= horizon or any(
            float(a["ts"]) >= horizon for a in cs.sensors)]
        self.lone = [tk for tk in self.lone if float(tk["ts"]) >= horizon]

    def _case_reason(self, tk: TicketIn, cs: CaseState, alarms: Mapping[str, list[AlarmIn]]) -> Reason | None:
        """The best reason for a ticket to join a case: its incident, its sensors (as last seen), its tickets."""
        rules = self.rules
        best = incident_link(tk, cs.incident, rules) if cs.incident is not None else None
        seen = {a["sensor_id"] for a in cs.sensors}
        for a in [*cs.sensors, *(a for sid in seen for a in alarms.get(sid, ()))]:
            best = _better(best, alarm_link(tk, a, rules))
        near_anchor = geo.distance_km(float(tk["lon"]), float(tk["lat"]), cs.lon, cs.lat) <= rules.spread_km
        rule = rules.tickets.get(tk["category"])
        # Through its tickets alone a case lasts a few windows from its first ticket, so that a steady trickle of
        # everyday calls in a busy estate never grows into one endless case.
        first = min((float(m["ts"]) for m in cs.tickets), default=float(tk["ts"]))
        young = rule is not None and float(tk["ts"]) - first <= rule[1] * 60 * rules.case_windows
        if best is None and near_anchor and young and not any(a["type"] in rules.sensor_only for a in cs.sensors):
            for m in cs.tickets:
                best = _better(best, ticket_link(tk, m, rules))
        return best

    def link(self, tk: TicketIn, alarms: Sequence[AlarmIn] = (), incidents: Sequence[IncidentIn] = ()) -> Decision:
        """Link one ticket (received after every ticket before it) and remember the outcome."""
        now = float(tk["ts"])
        self._prune(now)
        rules = self.rules
        by_sensor: dict[str, list[AlarmIn]] = {}
        for a in alarms:
            by_sensor.setdefault(a["sensor_id"], []).append(a)
        # 1. A case it matches: the strongest reason, then the nearest.
        joined: tuple[Reason, CaseState] | None = None
        for cs in self.cases:
            r = self._case_reason(tk, cs, by_sensor)
            if r is not None and (joined is None or _better(joined[0], r) is r):
                joined = (r, cs)
        if joined is not None:
            reason, cs = joined
            cs.tickets.append(tk)
            cs.last_ts = max(cs.last_ts, now)
            self._note_anchor(cs, reason, alarms, incidents)
            return Decision(tk, cs, False, [Link(tk, reason)])
        # 2. An incident, then a sensor: a new case anchored there.
        best: Reason | None = None
        for inc in _around(_index(incidents), tk["cell"]):
            best = _better(best, incident_link(tk, inc, rules))
        for a in _around(_index(alarms), tk["cell"]):
            best = _better(best, alarm_link(tk, a, rules))
        if best is not None:
            cs = CaseState(str(tk["ticket_id"]), float(tk["lon"]), float(tk["lat"]), [tk], now)
            self._note_anchor(cs, best, alarms, incidents, move=True)
            # Lone tickets the same sensor or incident explains (people may call a little before a gauge crosses
            # its level, or before the police log the accident) join too.
            pulled = [Link(o, r) for o in self.lone if (r := self._anchor_reason(o, cs)) is not None]
            if pulled:
                taken = {id(ln.ticket) for ln in pulled}
                self.lone = [o for o in self.lone if id(o) not in taken]
                cs.tickets = [ln.ticket for ln in pulled] + cs.tickets
                first = min(cs.tickets, key=lambda x: (float(x["ts"]), str(x["ticket_id"])))
                cs.key = str(first["ticket_id"])
            self.cases.append(cs)
            return Decision(tk, cs, True, [Link(tk, best), *pulled])
        # 3. Enough lone tickets of its kind close by: a new case of them all.
        rule = rules.tickets.get(tk["category"])
        if rule is not None:
            pairs = [(r, o) for o in self.lone if (r := ticket_link(tk, o, rules)) is not None]
            if pairs and len(pairs) + 1 >= rule[2]:
                pairs.sort(key=lambda p: (float(p[1]["ts"]), str(p[1]["ticket_id"])))
                first = pairs[0][1]
                cs = CaseState(str(first["ticket_id"]), float(first["lon"]), float(first["lat"]),
                               [o for _, o in pairs] + [tk], now)
                taken = {id(o) for _, o in pairs}
                self.lone = [o for o in self.lone if id(o) not in taken]
                self.cases.append(cs)
                own = min((r for r, _ in pairs), key=lambda r: (r.distance_m, r.minutes_apart, r.target_id))
                partner_links = [Link(o, ticket_link(o, tk, rules) or r) for r, o in pairs]
                return Decision(tk, cs, True, [Link(tk, own), *partner_links])
        self.lone.append(tk)
        return Decision(tk)

    def _anchor_reason(self, tk: TicketIn, cs: CaseState) -> Reason | None:
        """Why a ticket belongs to a case through the case's incident or sensors alone, else None."""
        best = incident_link(tk, cs.incident, self.rules) if cs.incident is not None else None
        for a in cs.sensors:
            best = _better(best, alarm_link(tk, a, self.rules))
        return best

    @staticmethod
    def _note_anchor(cs: CaseState, reason: Reason, alarms: Sequence[AlarmIn], incidents: Sequence[IncidentIn],
                     move: bool = False) -> None:
        """Remember the incident or sensor a reason names on its case (and, for a new case, anchor it there)."""
        if reason.matched == "incident" and cs.incident is None:
            inc = next((i for i in incidents if str(i["id"]) == reason.target_id), None)
            if inc is not None:
                cs.incident = inc
                if move:
                    cs.lon, cs.lat = float(inc["lon"]), float(inc["lat"])
        elif reason.matched == "sensor":
            seen = [a for a in alarms if a["sensor_id"] == reason.target_id]
            if seen:
                latest = max(seen, key=lambda a: float(a["ts"]))
                cs.sensors = [a for a in cs.sensors if a["sensor_id"] != reason.target_id] + [latest]
                if move:
                    cs.lon, cs.lat = float(latest["lon"]), float(latest["lat"])


def _by_time(tickets: Iterable[TicketIn]) -> list[TicketIn]:
    return sorted(tickets, key=lambda tk: (float(tk["ts"]), str(tk["ticket_id"])))


def link_replay(tickets: list[dict[str, Any]], alarms: list[dict[str, Any]], incidents: list[dict[str, Any]]
                ) -> dict[str, str]:
    """Replay tickets in time order through the live matcher: ticket_id -> case key (same key = linked; a lone
    ticket's key is its own id, a case's the id of its first ticket).

    tickets: ticket_id, category, lon, lat, cell, subdistrict, ts (epoch s); alarms: sensor_id, type, lon, lat,
    cell, value, ts (each a moment the sensor read `value`; readings below the cause level are ignored; an optional
    `since` makes it a span); incidents: id, category, lon, lat, cell, ts. Each ticket sees the alarms and the
    incidents up to CASE_*_AFTER_MIN after it, as the live job sees what the aggregate holds when it runs.
    """
    return replay(tickets, alarms, incidents, RULES)


def replay(tickets: Iterable[Mapping[str, Any]], alarms: Iterable[Mapping[str, Any]],
           incidents: Iterable[Mapping[str, Any]], rules: Rules) -> dict[str, str]:
    """link_replay with other rules (tests, calibration)."""
    linker = Linker(rules)
    runs = sensor_runs((AlarmIn(**a) for a in alarms), rules)  # type: ignore[typeddict-item]
    runs_by_cell: dict[str, list[tuple[AlarmIn, list[float]]]] = {}
    runs_by_sensor: dict[str, list[tuple[AlarmIn, list[float]]]] = {}
    for run in runs:
        runs_by_cell.setdefault(run[0]["cell"], []).append(run)
        runs_by_sensor.setdefault(run[0]["sensor_id"], []).append(run)
    incident_rows = [IncidentIn(**i) for i in incidents]  # type: ignore[typeddict-item]
    out: dict[str, str] = {}
    for tk in _by_time(TicketIn(**x) for x in tickets):  # type: ignore[typeddict-item]
        at = float(tk["ts"])
        cells = [tk["cell"], *neighbours(tk["cell"])]
        near = [run for cell in cells for run in runs_by_cell.get(cell, ())]
        # The sensors of the cases it may join, wherever they are (the rules check the distance).
        near += [run for sid in {a["sensor_id"] for cs in linker.cases for a in cs.sensors}
                 for run in runs_by_sensor.get(sid, ()) if run[0]["cell"] not in cells]
        # What the live job would know when the ticket arrives: each span up to its last reading before then.
        seen = [v for run in near if (v := _visible(run, at, rules)) is not None]
        decision = linker.link(tk, seen, [i for i in incident_rows if float(i["ts"]) <= at])
        out[str(tk["ticket_id"])] = str(tk["ticket_id"])
        if decision.case is not None:
            for m in decision.case.tickets:
                out[str(m["ticket_id"])] = decision.case.key
    return out


def sensor_runs(readings: Iterable[AlarmIn], rules: Rules = RULES) -> list[tuple[AlarmIn, list[float]]]:
    """Readings at a sensor's cause level grouped into spans (readings at most rules.alarm_gap_s apart), each with
    the times of its readings: (span from its first to its last reading with its worst value, times)."""
    by_sensor: dict[str, list[AlarmIn]] = {}
    for a in readings:
        if rules.at_level(a["type"], a.get("value"), a.get("ts")):
            by_sensor.setdefault(a["sensor_id"], []).append(a)
    out: list[tuple[AlarmIn, list[float]]] = []
    for rows in by_sensor.values():
        rows.sort(key=lambda a: float(a.get("since") or a["ts"]))
        span: dict[str, Any] | None = None
        times: list[float] = []
        for a in rows:
            start, end = float(a.get("since") or a["ts"]), float(a["ts"])
            if span is not None and start <= float(span["ts"]) + rules.alarm_gap_s:
                span.update(ts=max(float(span["ts"]), end),
                            value=rules.worse(a["type"], float(span["value"]), float(a["value"])))
            else:
                if span is not None:
                    out.append((AlarmIn(**span), times))  # type: ignore[typeddict-item]
                span, times = {**a, "since": start}, []
            times.append(end)
        if span is not None:
            out.append((AlarmIn(**span), times))  # type: ignore[typeddict-item]
    return out


def _visible(run: tuple[AlarmIn, list[float]], at: float, rules: Rules) -> AlarmIn | None:
    """A span as known at time `at`: up to its last reading then, or None when it had not begun."""
    span, times = run
    i = bisect.bisect_right(times, at)
    if i == 0 or times[i - 1] < at - rules.horizon_s():
        return None
    return AlarmIn(**{**span, "ts": times[i - 1]}) if i < len(times) else span


# --- the live job ---------------------------------------------------------------------------------------------

# The actor of the links the job makes, in the audit log.
ACTOR: Final = "system:linking"


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def ticket_in(row: Mapping[str, Any]) -> TicketIn:
    """A ticket row of store.cases.unchecked_tickets / checked_tickets_since as the matcher sees it (key: its id)."""
    return TicketIn(ticket_id=str(row["id"]), category=row["category"], lon=float(row["lon"]), lat=float(row["lat"]),
                    cell=row["cell"], subdistrict=row["subdistrict"], ts=_epoch(row["received_at"]))


def incident_in(row: Mapping[str, Any]) -> IncidentIn:
    """An incident row of store.cases.link_incidents as the matcher sees it."""
    return IncidentIn(id=int(row["id"]), category=row["category"], lon=float(row["lon"]), lat=float(row["lat"]),
                      cell=row["cell"], ts=_epoch(row["reported_at"]))


def alarms_from_points(points: Iterable[Mapping[str, Any]], rules: Rules = RULES) -> list[AlarmIn]:
    """The sensors of the `sensors` aggregate reading at their cause level now (not silent), each as a span from
    its alarm's start (or this reading) to its latest reading."""
    out: list[AlarmIn] = []
    for p in points:
        if p.get("state") == c.STATE_SILENT or not rules.at_level(str(p.get("type")), p.get("value"),
                                                                  p.get("last_seen")):
            continue
        ts = float(p["last_seen"])
        out.append(AlarmIn(sensor_id=str(p["id"]), type=str(p["type"]), lon=float(p["lon"]), lat=float(p["lat"]),
                           cell=geo.grid_cell(float(p["lon"]), float(p["lat"])), value=float(p["value"]), ts=ts,
                           since=min(ts, float(p.get("alarm_since") or ts))))
    return out


def remember_alarms(spans: Mapping[str, list[AlarmIn]], seen: Iterable[AlarmIn], now: float, rules: Rules = RULES
                    ) -> dict[str, list[AlarmIn]]:
    """The alarm memory after this run (pure): each sensor seen now at its level extends its latest span when it
    was seen at most rules.alarm_gap_s before (else starts one), keeping the span's highest reading; spans that
    ended more than the rules' horizon ago are forgotten."""
    out: dict[str, list[dict[str, Any]]] = {sid: [dict(x) for x in lst] for sid, lst in spans.items()}
    for a in seen:
        lst = out.setdefault(a["sensor_id"], [])
        last = lst[-1] if lst else None
        if last is not None and float(a.get("since") or a["ts"]) <= float(last["ts"]) + rules.alarm_gap_s:
            last.update(ts=max(float(last["ts"]), float(a["ts"])), value=max(float(last["value"]), float(a["value"])),
                        lon=a["lon"], lat=a["lat"], cell=a["cell"])
        elif last is None or float(a["ts"]) > float(last["ts"]):
            lst.append(dict(a))
    kept: dict[str, list[AlarmIn]] = {}
    for sid, lst in out.items():
        live = [AlarmIn(**x) for x in lst if float(x["ts"]) >= now - rules.horizon_s()]  # type: ignore[typeddict-item]
        if live:
            kept[sid] = live
    return kept


def _load_spans(r: redis.Redis) -> dict[str, list[AlarmIn]]:
    out: dict[str, list[AlarmIn]] = {}
    for sid, raw in (r.hgetall(keys.CASE_ALARMS) or {}).items():
        try:
            out[sid.decode() if isinstance(sid, bytes) else str(sid)] = json.loads(raw)
        except (TypeError, ValueError):
            log.warning("unreadable alarm memory of %r dropped", sid)
    return out


def _save_spans(r: redis.Redis, spans: Mapping[str, list[AlarmIn]]) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.CASE_ALARMS)
    if spans:
        pipe.hset(keys.CASE_ALARMS, mapping={sid: json.dumps(lst, separators=(",", ":")) for sid, lst in spans.items()})
    pipe.execute()


def _case_state(case: Any, members: list[TicketIn], incidents: Mapping[int, IncidentIn]) -> CaseState:
    """A Case row as the linker keeps it."""
    return CaseState(
        key=case.key.removeprefix("ticket:"), lon=float(case.lon), lat=float(case.lat), tickets=members,
        last_ts=_epoch(case.last_at), incident=incidents.get(int(case.incident_id)) if case.incident_id else None,
        sensors=[AlarmIn(**a) for a in (case.sensors or [])],  # type: ignore[typeddict-item]
        db_id=int(case.id),
    )


def _store(s: Session, decisions: Sequence[Decision], checked: Sequence[int], now: datetime) -> dict[str, int]:
    """Write the run's cases, links and checks in the caller's transaction, with one audit entry."""
    cases_new = links_new = 0
    by_db: dict[int, Any] = {}
    for d in decisions:
        cs = d.case
        if cs is None:
            continue
        first = min(cs.tickets, key=lambda tk: (float(tk["ts"]), int(tk["ticket_id"])))
        if cs.db_id is None:
            row = store.cases.add_case(s, f"ticket:{cs.key}", first["category"], first["subdistrict"], first["cell"],
                                       cs.lon, cs.lat, utc_datetime(first["ts"]), utc_datetime(cs.last_ts), now)
            cs.db_id = int(row.id)
            cases_new += 1
        else:
            found = by_db.get(cs.db_id) or store.cases.get_case(s, cs.db_id)
            if found is None:
                continue  # deleted meanwhile: nothing to join
            row = found
        by_db[cs.db_id] = row
        row.last_at = datetime.fromtimestamp(cs.last_ts, UTC)
        row.updated_at = now
        if cs.incident is not None and row.incident_id is None:
            row.incident_id = int(cs.incident["id"])
        if cs.sensors:
            row.sensors = [dict(a) for a in cs.sensors]
            row.sensor_id = row.sensor_id or cs.sensors[0]["sensor_id"]
        for ln in d.links:
            store.cases.add_link(s, cs.db_id, int(ln.ticket["ticket_id"]), ln.reason.matched, ln.reason.target_id,
                                 ln.reason.rule, ln.reason.fields(), now)
            links_new += 1
    store.cases.mark_checked(s, checked, now)
    if links_new:
        touched = sorted({int(d.case.db_id) for d in decisions if d.case is not None and d.case.db_id})
        detail = {"cases": touched, "links": links_new, "new_cases": cases_new, "checked": len(checked)}
        store.audit_log.record(s, ACTOR, "cases_linked", "case", None, detail=detail, at=now)
    s.flush()
    return {"cases_new": cases_new, "links": links_new}


def run_linking(r: redis.Redis, sessions: sessionmaker[Session], now: float, rules: Rules | None = None
                ) -> dict[str, Any]:
    """One linking run: remember the sensors at a cause level, link the tickets not considered yet, store it all in
    one transaction. {"status": "skipped"} when another run holds the lock."""
    token = secrets.token_hex(8)
    if not r.set(keys.CASE_LINK_LOCK, token, nx=True, px=keys.CASE_LINK_LOCK_TTL_MS):
        return {"status": "skipped"}
    try:
        return _run_locked(r, sessions, now, rules or RULES)
    finally:
        try:
            if r.get(keys.CASE_LINK_LOCK) in (token, token.encode()):
                r.delete(keys.CASE_LINK_LOCK)
        except redis.RedisError:
            log.warning("could not release the linking lock (it expires by itself)")


def _run_locked(r: redis.Redis, sessions: sessionmaker[Session], now: float, rules: Rules) -> dict[str, Any]:
    env = read_aggregates(r, [AGG_SENSORS]).get(AGG_SENSORS)
    seen: list[AlarmIn] = []
    if env is not None and now - float(env["computed_at"]) <= AGG_STALE_AFTER_S:
        seen = alarms_from_points(env["data"].get("points") or [], rules)
    spans = remember_alarms(_load_spans(r), seen, now, rules)
    _save_spans(r, spans)
    alarms = [a for lst in spans.values() for a in lst]
    when = datetime.fromtimestamp(now, UTC)
    with sessions() as s:
        fresh = store.cases.unchecked_tickets(s, when - timedelta(hours=c.CASE_LINK_LOOKBACK_H))
        if not fresh:
            return {"status": "ok", "checked": 0, "links": 0, "cases_new": 0}
        since = datetime.fromtimestamp(_epoch(fresh[0]["received_at"]) - rules.horizon_s(), UTC)
        known = store.cases.checked_tickets_since(s, since)
        cases = store.cases.cases_active_since(s, since)
        incidents = {int(i["id"]): incident_in(i) for i in store.cases.link_incidents(s, (x.incident_id for x in cases
                                                                                      if x.incident_id))}
    members: dict[int, list[TicketIn]] = {}
    lone: list[TicketIn] = []
    for row in known:
        if row["decision"] == "split":
            continue  # out of its case for good: counts alone, never linked again
        if row["case_id"] is None:
            lone.append(ticket_in(row))
        else:
            members.setdefault(int(row["case_id"]), []).append(ticket_in(row))
    linker = Linker(rules, [_case_state(x, members.get(int(x.id), []), incidents) for x in cases], lone)
    open_incidents = list(incidents.values())
    decisions = [linker.link(ticket_in(row), alarms, open_incidents) for row in fresh]
    try:
        with session_scope(sessions) as s:
            stored = _store(s, decisions, [int(row["id"]) for row in fresh], when)
    except IntegrityError:
        # Another run considered some of these tickets meanwhile (LinkCheck's key): it wins, the next run goes on.
        log.warning("linking run lost a race with another run; nothing stored, the next run continues")
        return {"status": "conflict"}
    return {"status": "ok", "checked": len(fresh), **stored}


def link_tickets() -> dict[str, Any]:
    """RQ job: one linking run with the configuration from the environment."""

    clients = job_clients()
    try:
        return run_linking(clients.redis, clients.sessions, utcnow().timestamp())
    except SQLAlchemyError:
        log.exception("linking run failed in the database; the next run retries")
        return {"status": "database_unavailable"}
