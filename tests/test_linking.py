"""Linking tickets into cases (issue 5, item 1 热线+网格): the pure matcher on hand-made cases, including the ones
that must not link (same place but unrelated category; same category but far apart; same category and place but
days apart), properties of the replay (a partition, one category per case without a cause, independent of input
order), the replay on a small labelled set, and the job against real Redis and SQL: a burst of noise tickets near
a noise alarm becomes one case, an unrelated ticket stays alone, a second run changes nothing, split tickets are
never linked again, and the wall's hotline aggregate counts cases."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import day_start
from dashboard.domain.events import validate_event
from dashboard.live import keys
from dashboard.live.aggregates import read_aggregates, write_aggregates
from dashboard.live.schema import AGG_HOTLINE, AGG_SENSORS
from dashboard.services.cases import reason_text
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, Case, CaseLink, LinkCheck
from workers import linking as lk
from workers.tick import run_tick

LON, LAT = 116.4103, 39.9122  # Wangfujing
T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC (00:00 in Beijing)
M_LON = 1 / 85_300  # degrees of longitude per metre here
M_LAT = 1 / 111_000


def tk(tid: str, category: str = "noise", east_m: float = 0.0, north_m: float = 0.0, minute: float = 0.0
       ) -> dict[str, Any]:
    """A ticket `east_m`/`north_m` metres from Wangfujing, `minute` minutes after T0."""
    lon, lat = LON + east_m * M_LON, LAT + north_m * M_LAT
    return {"ticket_id": tid, "category": category, "lon": lon, "lat": lat, "cell": geo.grid_cell(lon, lat),
            "subdistrict": geo.subdistrict_of(lon, lat) or "", "ts": T0 + minute * 60}


def alarm(sid: str = "P1:noise", stype: str = "noise", value: float = 90.0, east_m: float = 0.0,
          north_m: float = 0.0, minute: float = 0.0) -> dict[str, Any]:
    """A sensor reading `east_m`/`north_m` metres from Wangfujing at `minute`."""
    lon, lat = LON + east_m * M_LON, LAT + north_m * M_LAT
    return {"sensor_id": sid, "type": stype, "lon": lon, "lat": lat, "cell": geo.grid_cell(lon, lat),
            "value": value, "ts": T0 + minute * 60}


def loud(sid: str = "P1:noise", stype: str = "noise", value: float = 90.0, first: int = -20, last: int = 40,
         east_m: float = 0.0) -> list[dict[str, Any]]:
    """A sensor at `value` every two minutes from minute `first` to `last` (a sustained reading)."""
    return [alarm(sid, stype, value, east_m, 0.0, m) for m in range(first, last + 1, 2)]


def incident(iid: int = 1, category: str = "traffic_accident", east_m: float = 0.0, minute: float = 0.0
             ) -> dict[str, Any]:
    """An incident `east_m` metres east of Wangfujing, reported at `minute`."""
    lon = LON + east_m * M_LON
    return {"id": iid, "category": category, "lon": lon, "lat": LAT, "cell": geo.grid_cell(lon, LAT),
            "ts": T0 + minute * 60}


def together(out: dict[str, str], *ids: str) -> bool:
    """True when all these tickets have one case key."""
    return len({out[i] for i in ids}) == 1


# --- place -------------------------------------------------------------------------------------------------


def test_neighbours_are_the_eight_cells_around_and_never_the_cell_itself() -> None:
    assert lk.neighbours("r07c03") == {"r06c02", "r06c03", "r06c04", "r07c02", "r07c04", "r08c02", "r08c03",
                                       "r08c04"}
    assert lk.neighbours("r00c00") == {"r00c01", "r01c00", "r01c01"}
    assert lk.neighbours("nonsense") == frozenset()
    assert lk.near_cells("r07c03", "r07c03") and lk.near_cells("r07c03", "r08c04")
    assert not lk.near_cells("r07c03", "r09c03")
    # Every grid cell of the district has its neighbours among the district's cells or just outside it.
    cells = set(geo.grid_cells())
    assert all(lk.neighbours(cell) & cells for cell in cells)


# --- hand-made cases that link -----------------------------------------------------------------------------


def test_a_burst_of_noise_tickets_near_a_loud_noise_sensor_is_one_case_with_reasons() -> None:
    tickets = [tk("a", east_m=100, minute=5), tk("b", north_m=150, minute=12), tk("c", east_m=-120, minute=30)]
    out = lk.link_replay(tickets, loud(first=0), [])
    assert together(out, "a", "b", "c") and out["a"] == "a"
    span = lk.AlarmIn(**alarm(minute=4), since=T0 - 600)  # type: ignore[typeddict-item]
    reason = lk.alarm_link(lk.TicketIn(**tickets[0]), span)  # type: ignore[typeddict-item]
    assert reason is not None and reason.fields() == {
        "rule": "sensor", "matched": "sensor", "target_id": "P1:noise", "distance_m": 100, "minutes_apart": 1,
        "category": "noise", "target_kind": "noise", "value": 90.0}
    assert reason.text("zh") == "噪声传感器 P1:noise 读数 90 dB(A)，相距 100 米、1 分钟"
    assert reason.text("en") == "Noise sensor P1:noise read 90 dB(A), 100 m and 1 min away"
    # A single loud reading (a horn, a truck braking) explains nothing: the level must hold for a while.
    assert lk.alarm_link(lk.TicketIn(**tickets[0]), lk.AlarmIn(**alarm(minute=4))) is None  # type: ignore[typeddict-item]
    assert len(set(lk.link_replay(tickets[:2], [alarm(minute=4)], []).values())) == 2


def test_a_ticket_that_came_just_before_the_sensor_reached_its_level_joins_the_case() -> None:
    tickets = [tk("early", east_m=50, minute=0), tk("late", north_m=80, minute=30)]
    assert together(lk.link_replay(tickets, loud(first=5, last=40), []), "early", "late")


def test_tickets_of_one_kind_close_together_make_a_case_once_there_are_enough_of_them() -> None:
    two = [tk("a", "public_service", minute=0), tk("b", "public_service", east_m=80, minute=10)]
    out = lk.link_replay(two, [], [])
    assert out == {"a": "a", "b": "b"}  # two of a kind happen by chance every day
    three = [*two, tk("c", "public_service", north_m=60, minute=20)]
    out = lk.link_replay(three, [], [])
    assert together(out, "a", "b", "c") and out["a"] == "a"
    # One more, within the window of the last, joins with a single match.
    out = lk.link_replay([*three, tk("d", "public_service", east_m=150, minute=60)], [], [])
    assert together(out, "a", "d")


def test_many_heating_tickets_in_one_estate_are_one_case_but_three_are_not() -> None:
    heating = [tk(f"h{i}", "heating", east_m=30 * i, north_m=20 * i, minute=10 * i) for i in range(4)]
    assert len(set(lk.link_replay(heating[:3], [], []).values())) == 3
    assert together(lk.link_replay(heating, [], []), "h0", "h1", "h2", "h3")


def test_a_parking_ticket_next_to_a_traffic_accident_links_to_the_incident() -> None:
    tickets = [tk("p1", "parking_traffic", east_m=50, minute=10), tk("p2", "parking_traffic", east_m=-80, minute=25)]
    out = lk.link_replay(tickets, [], [incident(7, east_m=0, minute=0)])
    assert together(out, "p1", "p2")
    reason = lk.incident_link(lk.TicketIn(**tickets[0]), lk.IncidentIn(**incident(7)))  # type: ignore[typeddict-item]
    assert reason is not None and (reason.rule, reason.target_id, reason.distance_m, reason.minutes_apart) == (
        "incident", "7", 50, 10)
    assert reason.text("zh") == "事件 #7（交通事故），相距 50 米、10 分钟"


def test_a_rising_water_gauge_explains_public_service_tickets_from_its_cause_level() -> None:
    level = c.CASE_SENSOR_LEVEL["water_level"]
    tickets = [tk("w1", "public_service", east_m=200, minute=5), tk("w2", "public_service", north_m=-150, minute=9)]
    assert together(lk.link_replay(tickets, loud("G1", "water_level", level), []), "w1", "w2")
    # Below that level the gauge explains nothing (and two tickets alone are not enough).
    assert lk.link_replay(tickets, loud("G1", "water_level", level - 1), []) == {"w1": "w1", "w2": "w2"}


def test_a_construction_ticket_joins_the_noise_case_through_the_sensor() -> None:
    tickets = [tk("n1", "noise", east_m=60, minute=1), tk("k1", "construction", north_m=90, minute=8)]
    assert together(lk.link_replay(tickets, loud(), []), "n1", "k1")


# --- hand-made cases that must not link --------------------------------------------------------------------


def test_same_place_same_time_but_an_unrelated_category_never_links() -> None:
    tickets = [tk("n1", "noise"), tk("n2", "noise", east_m=20, minute=2), tk("n3", "noise", north_m=30, minute=4),
               tk("m1", "market", east_m=10, minute=3), tk("s1", "sanitation", minute=3)]
    out = lk.link_replay(tickets, loud(), [incident(3, "traffic_accident")])
    assert together(out, "n1", "n2", "n3")
    assert out["m1"] == "m1" and out["s1"] == "s1"
    # A noise sensor explains no heating ticket, a traffic accident no noise ticket, PM2.5 nothing at all.
    t = lk.TicketIn(**tk("x", "heating"))  # type: ignore[typeddict-item]
    assert lk.alarm_link(t, lk.AlarmIn(**alarm(), since=T0 - 1200)) is None  # type: ignore[typeddict-item]
    noise = lk.TicketIn(**tk("y", "noise"))  # type: ignore[typeddict-item]
    assert lk.incident_link(noise, lk.IncidentIn(**incident())) is None  # type: ignore[typeddict-item]
    for cat in c.HOTLINE_CATEGORIES:
        ticket = lk.TicketIn(**tk("z", cat))  # type: ignore[typeddict-item]
        haze = lk.AlarmIn(**alarm("Q", "pm25", 900), since=T0 - 1200)  # type: ignore[typeddict-item]
        assert lk.alarm_link(ticket, haze) is None


def test_same_category_but_far_apart_never_links() -> None:
    # Three noise tickets within minutes, each 1.5 km from the others, and a loud sensor by the first only.
    tickets = [tk("a", minute=1), tk("b", east_m=1500, minute=2), tk("c", north_m=1500, minute=3)]
    out = lk.link_replay(tickets, loud(), [])
    assert len(set(out.values())) == 3
    # Close enough in metres but in cells that are not neighbours: not linked either.
    a, b = lk.TicketIn(**tk("a")), lk.TicketIn(**tk("b"))  # type: ignore[typeddict-item]
    b["cell"] = "r00c00"
    assert lk.ticket_link(a, b) is None


def test_same_category_and_place_but_days_apart_never_links() -> None:
    day = 24 * 60
    tickets = [tk("a"), tk("b", east_m=20, minute=day), tk("c", north_m=20, minute=2 * day),
               tk("d", east_m=-20, minute=3 * day)]
    alarms = [a for m in range(4) for a in loud(first=m * day - 20, last=m * day + 40)]
    assert len(set(lk.link_replay(tickets, alarms, []).values())) == 4
    # Nor a day-old alarm: the sensor explains tickets of the two hours after it, not of the next day.
    assert lk.link_replay([tk("x", minute=day), tk("y", minute=day + 1)], loud(), []) == {"x": "x", "y": "y"}


def test_a_case_never_drifts_along_a_chain_of_neighbours() -> None:
    # Noise tickets 200 m apart in a row, one every ten minutes: each is near the last, the row is 1.6 km long.
    row = [tk(f"r{i}", east_m=200 * i, minute=10 * i) for i in range(9)]
    out = lk.link_replay(row, [], [])
    far = [t["ticket_id"] for t in row if geo.distance_km(LON, LAT, t["lon"], t["lat"]) > c.CASE_SPREAD_KM]
    assert far and all(out[f] != out["r0"] for f in far)


# --- properties ----------------------------------------------------------------------------------------------

_tickets = st.lists(
    st.tuples(st.sampled_from(c.HOTLINE_CATEGORIES), st.integers(-600, 600), st.integers(-600, 600),
              st.integers(0, 600)),
    min_size=0, max_size=25,
)


@given(_tickets)
@settings(max_examples=60, deadline=None)
def test_replay_is_a_partition_with_one_category_per_case_without_a_cause(rows: list[tuple[str, int, int, int]]
                                                                          ) -> None:
    tickets = [tk(f"t{i:02d}", cat, e, n, m) for i, (cat, e, n, m) in enumerate(rows)]
    out = lk.link_replay(tickets, [], [])
    assert set(out) == {t["ticket_id"] for t in tickets}
    # Transitive and symmetric: a case is named by one of its own tickets, which is in it.
    assert all(out[key] == key for key in out.values())
    category = {t["ticket_id"]: t["category"] for t in tickets}
    for key in set(out.values()):
        members = [i for i, k in out.items() if k == key]
        assert len({category[i] for i in members}) == 1  # no cause rule links two categories without a cause
        if len(members) > 1:
            assert category[key] in c.CASE_TICKET_RULES
    # The same tickets in another order give the same cases.
    assert lk.link_replay(list(reversed(tickets)), [], []) == out


@given(_tickets, st.lists(st.tuples(st.sampled_from(tuple(c.SENSOR_TYPES)), st.integers(-600, 600),
                                    st.integers(0, 600)), max_size=5))
@settings(max_examples=60, deadline=None)
def test_tickets_of_two_categories_share_a_case_only_through_a_cause(rows: list[tuple[str, int, int, int]],
                                                                     sensors: list[tuple[str, int, int]]) -> None:
    tickets = [tk(f"t{i:02d}", cat, e, n, m) for i, (cat, e, n, m) in enumerate(rows)]
    alarms = [alarm(f"S{i}:{stype}", stype, 1000.0 if stype != "cold_chain_temp" else 30, e, 0, m)
              for i, (stype, e, m) in enumerate(sensors)]
    out = lk.link_replay(tickets, alarms, [])
    category = {t["ticket_id"]: t["category"] for t in tickets}
    for key in set(out.values()):
        cats = {category[i] for i, k in out.items() if k == key}
        if len(cats) > 1:
            # Every category in the case is explained by one of the sensor types present.
            causes = [set(c.CASE_CAUSES[cat][0]) & {a["type"] for a in alarms} for cat in cats]
            assert all(causes) and set.intersection(*causes)


@given(st.sampled_from(tuple(c.CASE_TICKET_RULES)), st.integers(-500, 500), st.integers(-500, 500),
       st.integers(-120, 120))
def test_the_ticket_rule_is_symmetric(category: str, east: int, north: int, minute: int) -> None:
    a = lk.TicketIn(**tk("a", category))  # type: ignore[typeddict-item]
    b = lk.TicketIn(**tk("b", category, east, north, minute))  # type: ignore[typeddict-item]
    ab, ba = lk.ticket_link(a, b), lk.ticket_link(b, a)
    assert (ab is None) == (ba is None)
    if ab is not None and ba is not None:
        assert (ab.distance_m, ab.minutes_apart, ab.rule) == (ba.distance_m, ba.minutes_apart, ba.rule)
        km, minutes, _ = c.CASE_TICKET_RULES[category]
        assert ab.distance_m <= km * 1000 and ab.minutes_apart <= minutes


# --- a small labelled set ------------------------------------------------------------------------------------


def test_replay_on_a_small_labelled_set_links_episodes_and_leaves_the_background() -> None:
    # Episode A: a noisy site at night (a loud sensor, then calls). Episode B: a heating failure in one estate.
    # Background: tickets of the same categories in the same cells, but hours away or of unrelated kinds.
    ep_a = [tk(f"A{i}", "noise", 40 * math.cos(i), 40 * math.sin(i), 5 + 7 * i) for i in range(5)]
    ep_b = [tk(f"B{i}", "heating", 1200 + 25 * i, 900 - 20 * i, 300 + 9 * i) for i in range(6)]
    background = [
        tk("x1", "noise", 60, -30, 400),  # same cell as A, five hours later
        tk("x2", "market", 10, 10, 10),  # A's place and time, unrelated
        tk("x3", "heating", 1210, 880, 30),  # B's estate, hours before
        tk("x4", "heating", 2500, 900, 310),  # B's time, 1.3 km away
        tk("x5", "public_service", 1200, 900, 305),  # B's place and time, unrelated
    ]
    labels = {t["ticket_id"]: "A" for t in ep_a} | {t["ticket_id"]: "B" for t in ep_b}
    out = lk.link_replay([*background, *ep_b, *ep_a], [alarm(minute=m) for m in range(0, 50, 5)], [])
    pairs = [(a, b) for a, b in itertools.combinations(sorted(out), 2) if out[a] == out[b]]
    true = [(a, b) for a, b in pairs if labels.get(a) is not None and labels.get(a) == labels.get(b)]
    positives = sum(n * (n - 1) // 2 for n in (len(ep_a), len(ep_b)))
    assert len(true) == len(pairs) == positives  # precision 1 and recall 1 here


# --- the alarm memory (pure) ---------------------------------------------------------------------------------


def sensor_point(sid: str, stype: str, value: float, state: str, since: float | None, seen: float) -> dict[str, Any]:
    return {"id": sid, "type": stype, "lon": LON, "lat": LAT, "value": value, "state": state, "subdistrict": "x",
            "last_seen": seen, "alarm_since": since}


def test_alarms_from_points_keeps_causes_at_their_level_only() -> None:
    points = [
        sensor_point("n1", "noise", 90, c.STATE_ALARM, T0 - 60, T0),
        sensor_point("n2", "noise", 72, c.STATE_WARNING, None, T0),  # a loud street, below the cause level
        sensor_point("w1", "water_level", 8, c.STATE_NORMAL, None, T0),  # water on the road: a cause already
        sensor_point("p1", "pm25", 400, c.STATE_ALARM, T0, T0),  # no cause of any ticket
        sensor_point("g1", "water_level", 50, c.STATE_SILENT, None, T0),
    ]
    got = {a["sensor_id"]: a for a in lk.alarms_from_points(points)}
    assert set(got) == {"n1", "w1"}
    assert got["n1"]["since"] == T0 - 60 and got["n1"]["ts"] == T0 and got["w1"]["since"] == T0


def test_the_alarm_memory_extends_a_span_and_forgets_it_after_the_window() -> None:
    first = lk.alarms_from_points([sensor_point("n1", "noise", 88, c.STATE_ALARM, T0, T0)])
    spans = lk.remember_alarms({}, first, T0)
    later = lk.alarms_from_points([sensor_point("n1", "noise", 95, c.STATE_ALARM, T0, T0 + 60)])
    spans = lk.remember_alarms(spans, later, T0 + 60)
    assert [(s["since"], s["ts"], s["value"]) for s in spans["n1"]] == [(T0, T0 + 60, 95)]
    # Seen again after a long gap: a new span.
    again = lk.alarms_from_points([sensor_point("n1", "noise", 80, c.STATE_WARNING, None, T0 + 1200)])
    spans = lk.remember_alarms(spans, again, T0 + 1200)
    assert [(s["since"], s["ts"]) for s in spans["n1"]] == [(T0, T0 + 60), (T0 + 1200, T0 + 1200)]
    assert lk.remember_alarms(spans, [], T0 + 1200 + lk.RULES.horizon_s() + 1) == {}


# --- the job against real Redis and SQL ----------------------------------------------------------------------


def ticket_event(tid: str, category: str, east_m: float, north_m: float, at: float) -> dict[str, Any]:
    """A validated hotline ticket event, as the ingest stores it."""
    from datetime import UTC, datetime

    raw = {"event_id": f"tk-{tid}", "source": "test", "kind": c.HOTLINE_TICKET, "ticket_id": tid,
           "category": category, "summary": "test", "lon": LON + east_m * M_LON, "lat": LAT + north_m * M_LAT,
           "ts": datetime.fromtimestamp(at, UTC).isoformat()}
    ev, rej = validate_event(raw, at + 1)
    assert ev is not None, rej
    return ev


def store_tickets(sessions: sessionmaker[Session], events: list[dict[str, Any]]) -> dict[str, int]:
    """Store ticket events; their database ids by ticket id."""
    with session_scope(sessions) as s:
        store.durable.store_durable(s, events)
    with sessions() as s:
        from dashboard.store.models import HotlineTicket

        return {t.ticket_id: t.id for t in s.scalars(select(HotlineTicket))}


def sensors_aggregate(r: redis.Redis, now: float, points: list[dict[str, Any]]) -> None:
    """Write a `sensors` aggregate holding these points (as the tick would)."""
    data = {"total": len(points), "online": len(points), "by_state": {}, "by_type": {}, "means": {},
            "alarms": points, "silent": [], "bins": {"z": 15, "cells": []}, "causes": points}
    write_aggregates(r, {AGG_SENSORS: data}, now)


def case_of(sessions: sessionmaker[Session]) -> dict[int, int | None]:
    """Ticket id -> case id for every linked ticket not split off."""
    with sessions() as s:
        return {int(t): int(cid) for t, cid in s.execute(
            select(CaseLink.ticket_id, CaseLink.case_id).where(CaseLink.decision != "split"))}


def test_the_job_links_a_burst_of_noise_tickets_near_a_noise_alarm_and_leaves_the_rest(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    sensors_aggregate(r, now, [sensor_point("pole-9:noise", "noise", 92, c.STATE_ALARM, now - 900, now - 2)])
    ids = store_tickets(sessions, [
        ticket_event("N1", "noise", 80, 0, now - 300),
        ticket_event("N2", "noise", -60, 50, now - 200),
        ticket_event("N3", "noise", 0, -120, now - 100),
        ticket_event("M1", "market", 10, 0, now - 150),  # same place and time, unrelated
        ticket_event("F1", "noise", 0, 2500, now - 150),  # same kind, far away
    ])
    res = lk.run_linking(r, sessions, now)
    assert res == {"status": "ok", "checked": 5, "cases_new": 1, "links": 3}
    cases = case_of(sessions)
    assert set(cases) == {ids["N1"], ids["N2"], ids["N3"]} and len(set(cases.values())) == 1
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert case.sensor_id == "pole-9:noise" and case.key == f"ticket:{ids['N1']}"
        links = s.scalars(select(CaseLink).order_by(CaseLink.ticket_id)).all()
        assert {ln.target_type for ln in links} == {"sensor"}
        assert all("pole-9:noise" in reason_text(ln.reason, "zh") for ln in links)
        assert s.scalar(select(func.count()).select_from(LinkCheck)) == 5
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "cases_linked")) == 1
    # Idempotent: a second run considers nothing and changes nothing.
    assert lk.run_linking(r, sessions, now + 5)["checked"] == 0
    assert case_of(sessions) == cases
    # The alarm ended, but a later ticket within the window still joins through the remembered span.
    sensors_aggregate(r, now + 60, [sensor_point("pole-9:noise", "noise", 50, c.STATE_NORMAL, None, now + 55)])
    late = store_tickets(sessions, [ticket_event("N4", "noise", 30, 30, now + 30)])
    assert lk.run_linking(r, sessions, now + 60)["links"] == 1
    assert case_of(sessions)[late["N4"]] == next(iter(cases.values()))


def test_a_split_ticket_is_never_linked_again_and_the_wall_counts_cases(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    from dashboard.services import cases as case_service
    from dashboard.services.base import Actor

    now = day_start(time.time()) + 12 * 3600  # noon in Beijing: every ticket is today's
    ids = store_tickets(sessions, [ticket_event(f"P{i}", "public_service", 30 * i, 0, now - 600 + 60 * i)
                                   for i in range(3)] + [ticket_event("L1", "other", 0, 0, now - 100)])
    assert lk.run_linking(r, sessions, now)["links"] == 3
    with sessions() as s:
        link = s.scalars(select(CaseLink).where(CaseLink.ticket_id == ids["P1"])).one()
    with session_scope(sessions) as s:
        case_service.decide_link(s, link.case_id, link.id, "split", Actor(None, "d", "dispatch"), "split-1")
    # A new ticket right next to the split one joins the case through the others, never the split one.
    more = store_tickets(sessions, [ticket_event("P3", "public_service", 35, 0, now - 30)])
    lk.run_linking(r, sessions, now + 5)
    cases = case_of(sessions)
    assert ids["P1"] not in cases and cases[more["P3"]] == cases[ids["P0"]]
    with sessions() as s:
        assert s.scalars(select(CaseLink).where(CaseLink.ticket_id == ids["P1"])).one().decision == "split"
    # The wall: 5 tickets today in 3 cases (P0+P2+P3, the split P1 alone, L1 alone); 3 linked.
    run_tick(r, sessions, now + 6)
    hot = read_aggregates(r, [AGG_HOTLINE])[AGG_HOTLINE]
    assert hot is not None
    data = hot["data"]
    assert (data["today_total"], data["cases_today"], data["linked_today"]) == (5, 3, 3)
    assert keys.CASE_ALARMS  # the job's memory key is named in keys.py


def test_heating_tickets_link_to_a_cold_heat_station_nearby_in_season_only() -> None:
    # Two heating tickets are too few to make a case by themselves (constants.CASE_TICKET_RULES), but a heat
    # station whose supply water sits at 35 °C (lower is worse: at or below its level of 45 °C) explains both.
    tickets = [tk("h1", "heating", east_m=80, minute=10), tk("h2", "heating", north_m=-120, minute=25)]
    cold = loud("HS1", "heat_supply_temp", 35.0, first=-30, last=40, east_m=150)
    out = lk.link_replay(tickets, cold, [])
    assert together(out, "h1", "h2")
    span = lk.AlarmIn(**alarm("HS1", "heat_supply_temp", 35.0, east_m=150, minute=8), since=T0 - 1800)  # type: ignore[typeddict-item]
    reason = lk.alarm_link(lk.TicketIn(**tickets[0]), span)  # type: ignore[typeddict-item]
    assert reason is not None and reason.rule == "sensor" and reason.target_kind == "heat_supply_temp"
    assert reason.text("zh") == "换热站水温传感器 HS1 读数 35 °C，相距 70 米、2 分钟"
    assert reason.text("en") == "Heat supply sensor HS1 read 35 °C, 70 m and 2 min away"
    # Radiators are warm again soon after the supply comes back: a call 50 min after the station's last cold
    # reading is about something else (constants.CASE_SENSOR_BEFORE_MIN), one 20 min after still joins.
    late = lk.link_replay([*tickets, tk("h3", "heating", east_m=100, minute=90)], cold, [])
    assert together(late, "h1", "h2") and late["h3"] != late["h1"]
    assert together(lk.link_replay([*tickets, tk("h3", "heating", east_m=100, minute=60)], cold, []), "h1", "h3")
    # A station at its usual 58 °C explains nothing; nor does a noise ticket next to the cold station.
    warm = loud("HS1", "heat_supply_temp", 58.0, first=-30, last=40, east_m=150)
    assert len(set(lk.link_replay(tickets, warm, []).values())) == 2
    assert len(set(lk.link_replay([tk("n1", minute=10), tk("n2", minute=25)], cold, []).values())) == 2
    # Out of season the loop is off: a station reading 14 °C in July is no cause of anything.
    july = 1_782_878_400.0 - T0
    summer_tickets = [{**t, "ts": t["ts"] + july} for t in tickets]
    summer = [{**a, "ts": a["ts"] + july, "value": 14.0} for a in cold]
    assert len(set(lk.link_replay(summer_tickets, summer, []).values())) == 2
    # The worst reading of a span of a low type is its lowest.
    runs = lk.sensor_runs([lk.AlarmIn(**a) for a in loud("HS1", "heat_supply_temp", 40.0, 0, 10)]  # type: ignore[typeddict-item]
                          + [lk.AlarmIn(**alarm("HS1", "heat_supply_temp", 33.0, minute=12))])  # type: ignore[typeddict-item]
    assert len(runs) == 1 and runs[0][0]["value"] == 33.0


def test_a_heating_call_beyond_a_cold_stations_reach_never_joins_its_case_through_a_neighbour() -> None:
    # The station stands for its estate (constants.CASE_SENSOR_ONLY): h1 and h2 are its callers; h3 is 330 m from
    # the station (beyond its 250 m) but only 150 m from h2, and would join through h2 if the case took tickets
    # through its tickets. Four such calls of another estate still make their own case (the ticket rule).
    cold = loud("HS1", "heat_supply_temp", 35.0, first=-30, last=120)
    inside = [tk("h1", "heating", east_m=60, minute=10), tk("h2", "heating", east_m=180, minute=20)]
    outside = tk("h3", "heating", east_m=330, minute=30)
    out = lk.link_replay([*inside, outside], cold, [])
    assert together(out, "h1", "h2") and out["h3"] != out["h1"]
    without = lk.replay([*inside, outside], cold, [], lk.Rules(sensor_only=frozenset()))
    assert together(without, "h1", "h2", "h3")
    estate = [tk(f"e{i}", "heating", east_m=600 + 30 * i, minute=30 + 5 * i) for i in range(4)]
    out = lk.link_replay([*inside, *estate], cold, [])
    assert together(out, "e0", "e1", "e2", "e3") and out["e0"] != out["h1"]
