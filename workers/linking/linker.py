"""热线+网格 linking: the `Linker`, which takes tickets in time order and puts each into a case or leaves it alone,
and the replay (`link_replay`, `replay`) that feeds it recorded tickets, alarms and incidents. Pure.

A ticket joins the case it matches best (its incident, then its sensors, then its tickets; nearest first), else
opens a case with the incident or the sensor alarm it matches, else with the lone tickets it matches (when there
are enough of them), else stays alone. Every ticket of a case lies within rules.CASE_SPREAD_KM of the case's
anchor, so a chain of neighbours never drifts across the district. The live job (workers/linking/job.py) and the
benchmark's replay (bench/episodes.py, through `link_replay`) use the same `Linker`, so both apply exactly the same
rules (workers/linking/rules.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.domain import geo
from workers.linking.rules import (
    RULES,
    AlarmIn,
    IncidentIn,
    Reason,
    Rules,
    TicketIn,
    alarm_link,
    better,
    incident_link,
    neighbours,
    ticket_link,
)


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
            best = better(best, alarm_link(tk, a, rules))
        near_anchor = geo.distance_km(float(tk["lon"]), float(tk["lat"]), cs.lon, cs.lat) <= rules.spread_km
        rule = rules.tickets.get(tk["category"])
        # Through its tickets alone a case lasts a few windows from its first ticket, so that a steady trickle of
        # everyday calls in a busy estate never grows into one endless case.
        first = min((float(m["ts"]) for m in cs.tickets), default=float(tk["ts"]))
        young = rule is not None and float(tk["ts"]) - first <= rule[1] * 60 * rules.case_windows
        if best is None and near_anchor and young and not any(a["type"] in rules.sensor_only for a in cs.sensors):
            for m in cs.tickets:
                best = better(best, ticket_link(tk, m, rules))
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
            if r is not None and (joined is None or better(joined[0], r) is r):
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
            best = better(best, incident_link(tk, inc, rules))
        for a in _around(_index(alarms), tk["cell"]):
            best = better(best, alarm_link(tk, a, rules))
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
            best = better(best, alarm_link(tk, a, self.rules))
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
    """Tickets in the order they were received (ties by id)."""
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
