"""Stored events for the scale benchmark (part B): real simulator telemetry in the Redis stream and a year of
hotline tickets and incidents bulk-inserted into SQL.

- Telemetry: `Simulator.events()` of the last seconds at 1,000 events/s, normalised by the real validator and
  stored with `dashboard.services.ingest.store_telemetry` (the ingest's own Lua: dedupe key + XADD, capped stream).
- Tickets and incidents: the simulator's own tickets/incidents (three weeks of them, with their updates) are
  templates; each stored row copies a template's place, category, time of day and the delays of its
  response, resolution and closing onto a random day of the last 365 days, and keeps only what has happened
  by now (a ticket received an hour ago may not be resolved yet). Rows go in with SQLAlchemy Core
  executemany in chunks, with PRAGMA synchronous=OFF on the loading connection (bench database only).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from sqlalchemy import Engine, Table, func, insert, select

from dashboard.domain import rules as c
from dashboard.domain.beijing import day_start
from dashboard.domain.events import validate_event
from dashboard.live import keys
from dashboard.services.ingest import store_telemetry
from dashboard.store.models import HotlineTicket, Incident
from simulator.feed import Simulator

DAY_S = 86_400
HISTORY_DAYS = 365
# One year of Dongcheng at the simulator's incident rate (60 a day) per 800,000 SQL rows; the rest are tickets
# (~2,130 a day at 1M stored events: about twice the district's published 500–1,000, so today's share is on
# the heavy side).
INCIDENT_SHARE = 60 * HISTORY_DAYS / 800_000
# Share of stored events that are telemetry in the Redis stream (capped at keys.TELEMETRY_STREAM_MAXLEN).
TELEMETRY_SHARE = 0.2
TELEMETRY_RATE = 1000.0
SEED = 7
CHUNK = 20_000
TICKETS = cast(Table, HotlineTicket.__table__)
INCIDENTS = cast(Table, Incident.__table__)


@dataclass(frozen=True)
class Plan:
    """How `total` stored events are split between the Redis stream and SQL."""

    total: int
    telemetry: int
    tickets: int
    incidents: int

    @classmethod
    def of(cls, total: int) -> Plan:
        """Telemetry is TELEMETRY_SHARE of the events up to the stream's cap; SQL holds the rest."""
        telemetry = min(keys.TELEMETRY_STREAM_MAXLEN, int(total * TELEMETRY_SHARE))
        sql = total - telemetry
        incidents = round(sql * INCIDENT_SHARE)
        return cls(total, telemetry, sql - incidents, incidents)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# --- templates from the simulator ---------------------------------------------------------------


@dataclass
class Templates:
    """Tickets and incidents as the simulator makes them, reduced to what a row needs."""

    tickets: list[dict[str, Any]]
    incidents: list[dict[str, Any]]


def _tod(ts: float) -> float:
    """Seconds since the Beijing midnight before `ts`."""
    return ts - day_start(ts)


def make_templates(now: float, seed: int = SEED) -> Templates:
    """Three weeks of the simulator's durable events at its default rate, normalised by the validator.

    Only tickets received at least 14 days before `now` are kept, so that every one of them has all its
    updates (the simulator's longest ticket life is under 14 days).
    """
    start = now - 21 * DAY_S
    sim = Simulator(seed, rate=50, start=start)
    tickets: dict[str, dict[str, Any]] = {}
    t_updates: dict[str, dict[str, tuple[float, bool | None]]] = defaultdict(dict)
    incidents: dict[str, dict[str, Any]] = {}
    i_updates: dict[str, dict[str, float]] = defaultdict(dict)
    for raw in sim.durable_events(start, now):
        ev, _ = validate_event(raw, now)
        if ev is None:
            continue
        kind = ev["kind"]
        if kind == c.HOTLINE_TICKET:
            tickets[ev["ticket_id"]] = ev
        elif kind == c.HOTLINE_UPDATE:
            t_updates[ev["ticket_id"]].setdefault(ev["status"], (ev["ts"], ev.get("satisfied")))
        elif kind == c.INCIDENT:
            incidents[ev["event_id"]] = ev
        elif kind == c.INCIDENT_UPDATE:
            i_updates[ev["incident_id"]].setdefault(ev["status"], ev["ts"])
    cutoff = now - 14 * DAY_S
    t_out = []
    for tid, ev in tickets.items():
        if ev["ts"] > cutoff:
            continue
        ups = t_updates.get(tid, {})
        t_out.append(
            {
                "category": ev["category"],
                "summary": ev.get("summary"),
                "lon": ev["lon"],
                "lat": ev["lat"],
                "subdistrict": ev["subdistrict"],
                "cell": ev["cell"],
                "tod": _tod(ev["ts"]),
                "updates": sorted((ts - ev["ts"], status, sat) for status, (ts, sat) in ups.items()),
            }
        )
    i_out = []
    for eid, ev in incidents.items():
        if ev["ts"] > now - DAY_S:
            continue
        i_ups = i_updates.get(eid, {})
        i_out.append(
            {
                "category": ev["category"],
                "severity": ev["severity"],
                "title": ev["title"],
                "description": ev.get("description"),
                "lon": ev["lon"],
                "lat": ev["lat"],
                "subdistrict": ev["subdistrict"],
                "cell": ev["cell"],
                "sensor_id": ev.get("sensor_id"),
                "tod": _tod(ev["ts"]),
                "updates": sorted((ts - ev["ts"], status) for status, ts in i_ups.items()),
            }
        )
    if not t_out or not i_out:
        raise RuntimeError("the simulator produced no ticket or incident templates")
    return Templates(t_out, i_out)


# --- rows ----------------------------------------------------------------------------------------


def _received(rng: random.Random, tod: float, now: float) -> float:
    """A random day of the last HISTORY_DAYS at the template's time of day, never in the future."""
    t = day_start(now) - rng.randrange(HISTORY_DAYS) * DAY_S + tod
    if t > now:  # later today: that has not happened yet, take the same time a year ago
        t -= HISTORY_DAYS * DAY_S
    return t


def ticket_row(k: int, tmpl: dict[str, Any], received: float, now: float) -> dict[str, Any]:
    """One hotline_tickets row as dal._insert_ticket and dal._update_ticket would leave it at `now`."""
    row: dict[str, Any] = {
        "source": "sim",
        "ticket_id": f"H{k:08d}",
        "category": tmpl["category"],
        "summary": tmpl["summary"],
        "lon": tmpl["lon"],
        "lat": tmpl["lat"],
        "subdistrict": tmpl["subdistrict"],
        "cell": tmpl["cell"],
        "status": "received",
        "received_at": _dt(received),
        "deadline_at": _dt(received + c.HOTLINE_DEADLINE_H[tmpl["category"]] * 3600),
        "responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "satisfied": None,
        "updated_at": _dt(received),
    }
    for delay, status, sat in tmpl["updates"]:
        at = received + delay
        if at > now:
            break
        row["status"] = status
        at_dt = _dt(at)
        row["updated_at"] = at_dt
        row[{"responded": "responded_at", "resolved": "resolved_at", "closed": "closed_at"}[status]] = at_dt
        if status in ("resolved", "closed") and row["responded_at"] is None:
            row["responded_at"] = at_dt
        if status == "closed" and sat is not None:
            row["satisfied"] = sat
    return row


def incident_row(k: int, tmpl: dict[str, Any], reported: float, now: float) -> dict[str, Any]:
    """One incidents row as dal._insert_incident and dal._end_incident would leave it at `now`."""
    rep = _dt(reported)
    row: dict[str, Any] = {
        "source": "sim",
        "external_id": f"hist-inc-{k:07d}",
        "category": tmpl["category"],
        "severity": tmpl["severity"],
        "title": tmpl["title"],
        "description": tmpl["description"],
        "state": "new",
        "lon": tmpl["lon"],
        "lat": tmpl["lat"],
        "subdistrict": tmpl["subdistrict"],
        "cell": tmpl["cell"],
        "sensor_id": tmpl["sensor_id"],
        "reported_at": rep,
        "created_at": rep,  # ingested when reported, as the live system does
        "updated_at": rep,
        "deadline_at": _dt(reported + c.INCIDENT_DEADLINE_MIN[tmpl["severity"]] * 60),
        "resolved_at": None,
        "closed_at": None,
    }
    for delay, status in tmpl["updates"]:
        at = reported + delay
        if at > now:
            break
        at_dt = _dt(at)
        row["state"] = status
        row["updated_at"] = at_dt
        if status in ("resolved", "closed") and row["resolved_at"] is None:
            row["resolved_at"] = at_dt
        if status in ("closed", "cancelled") and row["closed_at"] is None:
            row["closed_at"] = at_dt
    return row


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# A row maker: (row number, template, when it was received or reported, now) -> the row as stored at `now`.
RowMaker = Callable[[int, dict[str, Any], float, float], dict[str, Any]]


def _placed_rows(
    pool: list[dict[str, Any]], make: RowMaker, now: float, span: tuple[int, int], rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Rows number span[0]..span[1]-1 made by `make`, each from a template of `pool` placed on a random day of the
    history (the template first, then its day, from `rng`)."""
    for k in range(*span):
        tmpl = pool[rng.randrange(len(pool))]
        yield make(k, tmpl, _received(rng, tmpl["tod"], now), now)


def ticket_rows(
    templates: Templates, now: float, span: tuple[int, int], rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Tickets number span[0]..span[1]-1, each a template placed on a random day of the history."""
    return _placed_rows(templates.tickets, ticket_row, now, span, rng)


def incident_rows(
    templates: Templates, now: float, span: tuple[int, int], rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Incidents number span[0]..span[1]-1, each a template placed on a random day of the history."""
    return _placed_rows(templates.incidents, incident_row, now, span, rng)


def insert_history(
    engine: Engine, templates: Templates, now: float, tickets: tuple[int, int], incidents: tuple[int, int], seed: int
) -> None:
    """Insert tickets number tickets[0]..tickets[1]-1 and incidents incidents[0]..incidents[1]-1."""
    rng = random.Random(seed)

    with engine.connect() as conn:
        # The pysqlite driver opens its transaction at the first INSERT, so the PRAGMA applies to this load.
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        for chunk in _chunks(ticket_rows(templates, now, tickets, rng)):
            conn.execute(insert(TICKETS), chunk)
        for chunk in _chunks(incident_rows(templates, now, incidents, rng)):
            conn.execute(insert(INCIDENTS), chunk)
        conn.commit()
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")  # the pooled connection goes back as it came
        conn.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")


def sql_counts(engine: Engine, now: float) -> dict[str, int]:
    """Rows in SQL, and how many tickets were received today (Beijing day) and incidents are open."""
    with engine.connect() as conn:
        tickets = conn.scalar(select(func.count()).select_from(HotlineTicket)) or 0
        incidents = conn.scalar(select(func.count()).select_from(Incident)) or 0
        today = conn.scalar(
            select(func.count()).where(HotlineTicket.received_at >= _dt(day_start(now)))
        ) or 0
        open_inc = conn.scalar(select(func.count()).where(Incident.state.in_(c.INCIDENT_OPEN_STATES))) or 0
    return {
        "tickets": int(tickets),
        "incidents": int(incidents),
        "tickets_today": int(today),
        "incidents_open": int(open_inc),
    }


# --- telemetry -----------------------------------------------------------------------------------


class TelemetrySource:
    """The simulator's telemetry at 1,000 events/s, validated, stored the way the ingest stores it."""

    def __init__(self, seed: int = SEED, rate: float = TELEMETRY_RATE) -> None:
        self.sim = Simulator(seed, rate)

    def normalised(self, t0: float, t1: float, now: float) -> list[dict[str, Any]]:
        """Validated telemetry events with timestamps in [t0, t1)."""
        out = []
        for raw in self.sim.events(t0, t1):
            if raw["kind"] not in c.TELEMETRY_KINDS:
                continue
            ev, _ = validate_event(raw, now)
            if ev is not None:
                out.append(ev)
        return out

    def store(self, r: redis.Redis, events: list[dict[str, Any]], batch: int = 1000) -> int:
        """Store through dashboard.services.ingest.store_telemetry in batches; return how many were new."""
        stored = 0
        for i in range(0, len(events), batch):
            stored += sum(store_telemetry(r, events[i : i + batch]))
        return stored

    def last(self, r: redis.Redis, n: int, now: float) -> tuple[int, float]:
        """Store the latest `n` telemetry events before `now`; return (stored, seconds of telemetry)."""
        span = max(1.0, n / self.sim.rate * 1.25)
        events = self.normalised(now - span, now, now)
        events = events[-n:]
        stored = self.store(r, events)
        return stored, (now - events[0]["ts"]) if events else 0.0
