"""Labelled episodes: deterministic ground truth that reaches the simulator's output, and the benchmark scoring it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench import episodes as bench
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.events import validate_event
from simulator import episodes
from simulator.episodes import Episode, EpisodeTicket, Signal
from simulator.feed import Simulator
from simulator.installations import build_sensors
from simulator.world import day_index

ROOT = Path(__file__).resolve().parent.parent
BJ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, tzinfo=BJ).timestamp()  # a Monday in the heating season
JULY = datetime(2026, 7, 6, tzinfo=BJ).timestamp()
WEEK = 7 * 86_400


@cache
def week() -> tuple[Episode, ...]:
    """A heating-season week of episodes, eight a day."""
    return tuple(episodes.episodes_between(7, T0, T0 + WEEK, 8))


@cache
def sim() -> Simulator:
    """The simulator with the same episodes."""
    return Simulator(7, 50, episodes_per_day=8)


@cache
def tickets_of(per_day: float) -> dict[str, dict[str, Any]]:
    """The week's ticket events by id, with `per_day` episodes a day."""
    events = Simulator(7, 50, episodes_per_day=per_day).durable_events(T0, T0 + WEEK + 86_400)
    return {ev["ticket_id"]: ev for ev in events if ev["kind"] == c.HOTLINE_TICKET}


# --- the ground truth --------------------------------------------------------------------------------------------


def test_episodes_are_deterministic_from_the_seed_and_of_every_kind() -> None:
    eps = week()
    assert list(eps) == episodes.episodes_between(7, T0, T0 + WEEK, 8)
    assert list(eps) != episodes.episodes_between(8, T0, T0 + WEEK, 8)
    assert 30 <= len(eps) <= 90  # eight a day on average
    assert set(Counter(e.kind for e in eps)) == set(episodes.KINDS)
    assert [e.start for e in eps] == sorted(e.start for e in eps)
    assert len({e.id for e in eps}) == len(eps)
    # Cutting the period differently gives the same episodes.
    half = T0 + 3.5 * 86_400
    assert episodes.episodes_between(7, T0, half, 8) + episodes.episodes_between(7, half, T0 + WEEK, 8) == list(eps)
    assert episodes.episodes_between(7, T0, T0 + WEEK, 0) == []
    # No heating failure out of season.
    summer = episodes.episodes_between(7, JULY, JULY + WEEK, 8)
    assert summer and "heating_failure" not in {e.kind for e in summer}


def test_each_episode_has_its_signature_and_a_delayed_wave_of_complaints_nearby() -> None:
    fleet = {s["id"]: s for s in build_sensors(7)}
    spots = {p.id for p in geo.places_of_type("scenic", "business_district")}
    ids: set[str] = set()
    for e in week():
        assert e.ticket_category == episodes.TICKET_CATEGORY[e.kind] in c.HOTLINE_CATEGORIES
        delay = (30, 90) if e.kind == "heating_failure" else (10, 60)  # the flats cool before residents call
        assert delay[0] * 60 <= e.first_complaint_at - e.start <= delay[1] * 60
        assert e.start < e.end and geo.grid_cell(e.lon, e.lat) == e.cell and geo.subdistrict_of(e.lon, e.lat)
        assert e.ticket_ids == tuple(t.ticket_id for t in e.tickets) and len(e.tickets) >= 3
        assert [t.ts for t in e.tickets] == sorted(t.ts for t in e.tickets) and e.tickets[0].ts == e.first_complaint_at
        assert not ids & set(e.ticket_ids)
        ids |= set(e.ticket_ids)
        for t in e.tickets:
            assert geo.in_district(t.lon, t.lat)
            assert max(abs(a - b) for a, b in zip(_rc(geo.grid_cell(t.lon, t.lat)), _rc(e.cell), strict=True)) <= 1
        types = {s.type for s in e.signals}
        if e.kind == "heating_failure":
            # The estate's heat-exchange station: its supply water starts to cool at the failure, before any call.
            assert types == {"heat_supply_temp"} and len(e.sensor_ids) == 1
            station = fleet[e.sensor_ids[0]]
            assert station["type"] == "heat_supply_temp" and (station["lon"], station["lat"]) == (e.lon, e.lat)
            sig = e.signals[0]
            assert sig.start == pytest.approx(e.start, abs=0.001) and 15 <= sig.peak <= 25
            # Before the first call the supply has already fallen by more than the early-warning rule's 6 °C.
            fallen = sig.value(e.first_complaint_at)
            assert sig.start < e.first_complaint_at and fallen is not None and fallen >= 10
        elif e.kind == "crowd_surge":
            assert types == {"crowd"} and set(e.sensor_ids) <= spots
        else:
            assert {"water_main": {"water_level"}, "night_construction": {"noise"}}[e.kind] <= types
            assert all(fleet[s]["type"] == sig.type for s, sig in zip(e.sensor_ids, e.signals, strict=True))
        if e.kind == "night_construction":
            hour = (e.start - T0) % 86_400 / 3600
            assert hour >= 22 or hour <= 1.5


def _rc(cell: str) -> tuple[int, int]:
    """Row and column of a cell id."""
    return int(cell[1:3]), int(cell[4:6])


def test_a_signal_ramps_up_holds_and_falls_away() -> None:
    s = Signal("G", "water_level", 1000.0, 600.0, 4600.0, 1200.0, 30.0)
    assert s.value(999) is None and s.value(1000) == 0 and s.value(1300) == 15 and s.value(2000) == 30
    assert 10 < (s.value(4600 + 1200) or 0) < 12 and s.value(4600 + 6 * 1200) is None
    step = Signal("N", "noise", 0.0, 0.0, 100.0, 0.0, 80.0)
    assert step.value(0) == 80 and step.value(100) is None


# --- what the simulator emits ------------------------------------------------------------------------------------


def test_episode_tickets_reach_the_simulator_as_ordinary_tickets() -> None:
    every = tickets_of(8)
    everyday = tickets_of(0)
    around = episodes.episodes_between(7, T0 - 86_400, T0 + WEEK + 86_400, 8)
    labelled = {t for e in around for t in e.ticket_ids if e.tickets[0].ts >= T0 and e.tickets[-1].ts < T0 + WEEK}
    every = {k: v for k, v in every.items() if k not in {t for e in around for t in e.ticket_ids} or k in labelled}
    assert labelled <= set(every)
    # The everyday tickets are exactly what they were: the episodes' come on top.
    assert set(every) - labelled == set(everyday)
    assert all(every[t] == everyday[t] for t in everyday)
    keys = {frozenset(ev) for ev in every.values()}
    assert len(keys) == 1  # labels never travel in an event
    for e in week():
        for t in e.tickets:
            ev = every[t.ticket_id]
            assert (ev["category"], ev["lon"], ev["lat"]) == (e.ticket_category, t.lon, t.lat)
            assert validate_event(ev, now=t.ts + 1)[1] is None
    # And they run their course like every ticket: responded, resolved, closed.
    events = Simulator(7, 50, episodes_per_day=8).durable_events(T0, T0 + WEEK + 4 * 86_400)
    updated = Counter(ev["ticket_id"] for ev in events
                      if ev["kind"] == c.HOTLINE_UPDATE and ev["ticket_id"] in labelled)  # fmt: skip
    assert len(updated) >= 0.9 * len(labelled) and set(updated.values()) <= {1, 2, 3}


def test_two_heating_failures_of_one_day_are_never_at_one_exchanger() -> None:
    by_day: dict[int, list[Episode]] = {}
    for e in week():
        if e.kind == "heating_failure":
            by_day.setdefault(day_index(e.start), []).append(e)
    assert sum(len(v) for v in by_day.values()) >= 7
    for eps in by_day.values():
        for a, b in itertools.combinations(eps, 2):
            assert geo.distance_km(a.lon, a.lat, b.lon, b.lat) > episodes.HEATING_APART_KM


def test_one_sensor_has_one_cause_at_a_time_across_days() -> None:
    # Dense enough (30 a day over ten days, 18 gauges) that bursts at one gauge would overlap by chance, across
    # midnight too; a day's episodes are the same asked alone or within a period.
    eps = episodes.episodes_between(11, T0, T0 + 10 * 86_400, 30)
    assert len(eps) >= 250
    for a, b in itertools.combinations(sorted(eps, key=lambda e: e.start), 2):
        if set(a.sensor_ids) & set(b.sensor_ids):
            assert b.start >= episodes.busy_until(a) or a.start >= episodes.busy_until(b), (a.id, b.id)
    ids = [t for e in eps for t in e.ticket_ids]
    assert len(ids) == len(set(ids))
    d = day_index(T0) + 3
    alone = episodes.day_episodes(11, d, 30.0)
    assert alone and set(alone) <= set(eps)


def _readings(s: Simulator, t: float, seconds: float = 12.0) -> dict[str, Any]:
    """The latest value of every sensor and crowd counter over the seconds before t."""
    out: dict[str, Any] = {}
    for ev in s.events(t - seconds, t):
        if ev["kind"] == c.SENSOR_READING:
            out[ev["sensor_id"]] = ev["value"]
        elif ev["kind"] == c.CROWD:
            out[ev["spot_id"]] = ev["count"] / ev["capacity"]
    return out


def test_the_simulator_emits_each_episodes_sensor_signature() -> None:
    quiet = Simulator(7, 50, episodes_per_day=0)
    seen = set()
    for e in week():
        if e.kind in seen:
            continue
        seen.add(e.kind)
        sig = e.signals[0]
        at = min(sig.start + sig.ramp_s + 60, sig.end - 60)
        now, before = _readings(sim(), at), _readings(quiet, at)
        value, usual = now[sig.sensor_id], before[sig.sensor_id]
        if e.kind == "water_main":
            assert usual == 0 and value >= 0.8 * sig.peak
        elif e.kind == "night_construction":
            assert value >= sig.peak - 10 and usual < 70
        elif e.kind == "heating_failure":
            assert usual >= 49 and value <= usual - 0.8 * sig.peak  # the supply water fell from its 50–60 °C
        else:
            assert value - usual >= 0.8 * min(sig.peak, 1.3 - usual)
    assert seen == {"water_main", "night_construction", "crowd_surge", "heating_failure"}


# --- the benchmark's evaluation ----------------------------------------------------------------------------------


def _episode(eid: str, cell: str, start: float, complaints: list[float], sub: str = "110101001") -> Episode:
    """A hand-made heating failure with complaints at the given times, all in its cell."""
    tickets = tuple(EpisodeTicket(f"{eid}-{k}", ts, 116.4, 39.9, "") for k, ts in enumerate(complaints))
    return Episode(eid, "heating_failure", sub, cell, 116.4, 39.9, start, start + 7200, (), "heating",
                   complaints[0], tuple(t.ticket_id for t in tickets), (), tickets)  # fmt: skip


def _warning(wid: str, cell: str | None, first_seen: float, category: str = "heating",
             sub: str = "110101001") -> dict[str, Any]:
    """A warning as the replay records it."""
    return {"id": wid, "level": "cell" if cell else "subdistrict", "cell": cell, "subdistrict": sub,
            "category": category, "kind": "heating", "first_seen": first_seen}  # fmt: skip


def test_evaluation_counts_recall_surge_lead_and_false_warnings() -> None:
    a = _episode("A", "r10c10", 0.0, [1800.0, 2400.0, 3000.0, 3600.0])  # surge: its 2nd complaint, at 2400
    b = _episode("B", "r02c02", 0.0, [1200.0, 1500.0, 1800.0])
    c_ = _episode("C", "r05c05", 0.0, [900.0, 1000.0, 1100.0], sub="110101002")
    warnings = [
        _warning("early", "r10c11", 600.0),  # next to A, 20 min before its first complaint
        _warning("late", "r02c02", 1600.0),  # B, after its first complaint and after its surge (2nd, at 1500)
        _warning("wrong-category", "r05c05", 100.0, category="noise"),
        _warning("far", "r20c20", 700.0),  # nothing there: false
        _warning("sub", None, 950.0, sub="110101002"),  # the subdistrict of C
        _warning("outside", "r20c20", 90_000.0),  # after the period: not counted
    ]
    ev = bench.evaluate_warnings(warnings, [a, b, c_], 0.0, 86_400.0)
    rows = {r["id"]: r for r in ev["per_episode"]}
    assert rows["A"] == {"id": "A", "kind": "heating_failure", "warned_at": 600.0, "before_first": True,
                         "before_surge": True, "lead_min": 20.0}  # fmt: skip
    assert rows["B"]["before_first"] is False and rows["B"]["before_surge"] is False and rows["B"]["lead_min"] == -6.7
    assert rows["C"]["warned_at"] == 950.0 and rows["C"]["before_surge"] is True and not rows["C"]["before_first"]
    assert ev["recall"] == round(1 / 3, 3) and ev["recall_before_surge"] == round(2 / 3, 3)
    assert ev["median_lead_min"] == round((20.0 + -50 / 60) / 2, 1)
    assert ev["warnings"] == 5 and ev["false"] == 2 and ev["false_per_day"] == 2.0  # "wrong-category", "far"
    assert ev["by_kind"]["heating_failure"]["episodes"] == 3
    # A warning from long before the cause is not about it.
    assert not bench.matches({**warnings[0], "first_seen": -3600.0}, a)


def test_pairwise_linking_scores() -> None:
    groups = [("a1", "a2", "a3"), ("b1", "b2")]
    tickets = ["a1", "a2", "a3", "b1", "b2", "x", "y"]
    perfect = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "x": "x", "y": "y"}
    assert bench.pairwise_link_scores(perfect, groups, tickets) | {} == {
        "tickets": 7, "linked_pairs": 4, "true_pairs": 4, "precision": 1.0, "recall": 1.0}  # fmt: skip
    # Splitting a3 off loses two pairs; linking x into B adds two wrong ones.
    rough = {**perfect, "a3": "a3", "x": "B"}
    s = bench.pairwise_link_scores(rough, groups, tickets)
    assert (s["linked_pairs"], s["true_pairs"]) == (1 + 3, 4)
    assert (s["precision"], s["recall"]) == (round(2 / 4, 3), round(2 / 4, 3))
    # Nothing linked: recall 0, precision undefined; a missing key is a case of its own.
    assert bench.pairwise_link_scores({}, groups, tickets)["precision"] is None
    assert bench.pairwise_link_scores({}, groups, tickets)["recall"] == 0.0


def test_an_everyday_heating_call_from_a_failed_estate_while_it_is_cold_is_the_failures() -> None:
    ep = next(e for e in week() if e.kind == "heating_failure")
    during = (ep.first_complaint_at + ep.end) / 2
    assert episodes.explains(ep, "heating", ep.lon + 0.001, ep.lat - 0.001, during)
    # Not before the flats are cold, not after the repair, not outside the estate, not another category, and never
    # for another kind of episode.
    assert not episodes.explains(ep, "heating", ep.lon, ep.lat, ep.first_complaint_at - 60)
    assert not episodes.explains(ep, "heating", ep.lon, ep.lat, ep.end + 60)
    assert not episodes.explains(ep, "heating", ep.lon + 2 * episodes.ESTATE_DLON, ep.lat, during)
    assert not episodes.explains(ep, "noise", ep.lon, ep.lat, during)
    other = next(e for e in week() if e.kind != "heating_failure")
    assert not episodes.explains(other, "heating", other.lon, other.lat, (other.start + other.end) / 2)
    # The bench adds such calls to the episode's group, and only them.
    call = {"ticket_id": "bg1", "category": "heating", "lon": ep.lon, "lat": ep.lat, "ts": during}
    far = {**call, "ticket_id": "bg2", "lon": ep.lon + 0.01}
    groups, caused = bench.link_groups([ep], [call, far, {**call, "ticket_id": ep.ticket_ids[0]}])
    assert caused == 1 and groups == [(*ep.ticket_ids, "bg1")]


def test_the_episodes_bench_runs_on_a_short_period() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/episodes.py", "--days", "0.25", "--per-day", "16", "--start", "2026-12-02T12:00"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["episodes_n"] >= 3 and line["episodes_days"] == 0.25
    assert 0 <= line["ew_recall"] <= 1 and set(line["ew_by_kind"]) >= {"water_main", "heating_failure"}
    for key in ("ew_recall", "ew_recall_before_surge", "ew_false_per_day", "ew_median_lead_min"):
        assert key in line
    assert isinstance(line["ew_false_per_day"], float)
    assert "link_precision" in line and "link_recall" in line and "link_strict_precision" in line
