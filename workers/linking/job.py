"""热线+网格 linking: the live job (`run_linking`, RQ entry `link_tickets`, every schedule.CASE_LINK_CHECK_S seconds
as workers/schedule.py registers it).

It considers each ticket once (models.LinkCheck), reads its candidates from SQL (dashboard.store.cases) and the
sensors in warning or alarm from the precomputed `sensors` aggregate (never raw telemetry), which it remembers in
Redis for the rules' window (keys.CASE_ALARMS) so that an alarm that ended a little before a ticket still explains
it. It feeds them to the `Linker` (workers/linking/linker.py) and writes the cases, links and checks in one
transaction. Stored links keep their decision: a split ticket is never linked again.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import utc_datetime
from dashboard.live import keys
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_SENSORS, AGG_STALE_AFTER_S
from dashboard.store.engine import session_scope
from dashboard.store.models import utcnow
from dashboard.store.outage import absorb, unavailable_result
from workers.clients import job_clients
from workers.linking.linker import CaseState, Decision, Linker
from workers.linking.rules import RULES, AlarmIn, IncidentIn, Rules, TicketIn

log = logging.getLogger(__name__)

# The actor of the links the job makes, in the audit log.
ACTOR: Final = "system:linking"


def _epoch(value: datetime) -> float:
    """Epoch seconds of a datetime from SQL (a naive one is UTC)."""
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
    """The alarm memory kept in Redis, sensor by sensor (an unreadable entry is dropped)."""
    out: dict[str, list[AlarmIn]] = {}
    for sid, raw in (r.hgetall(keys.CASE_ALARMS) or {}).items():
        try:
            out[sid.decode() if isinstance(sid, bytes) else str(sid)] = json.loads(raw)
        except (TypeError, ValueError):
            log.warning("unreadable alarm memory of %r dropped", sid)
    return out


def _save_spans(r: redis.Redis, spans: Mapping[str, list[AlarmIn]]) -> None:
    """Replace the alarm memory in Redis with these spans, in one transaction."""
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
    """One linking run, with the lock held."""
    env = read_aggregates(r, [AGG_SENSORS]).get(AGG_SENSORS)
    seen: list[AlarmIn] = []
    if env is not None and now - float(env["computed_at"]) <= AGG_STALE_AFTER_S:
        # The sensors at a cause level (the aggregate lists them; it has no point per sensor).
        seen = alarms_from_points(env["data"].get("causes") or [], rules)
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


@absorb("linking", unavailable_result)
def link_tickets() -> dict[str, Any]:
    """RQ job: one linking run with the configuration from the environment."""

    clients = job_clients()
    return run_linking(clients.redis, clients.sessions, utcnow().timestamp())
