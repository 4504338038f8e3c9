"""The simulator: a Dongcheng that looks real, reproducible from a seed, valid for the ingest, fed over HTTP."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.events import validate_event
from simulator import cli, live
from simulator.feed import Simulator
from simulator.installations import build_sensors, build_units
from simulator.places import subdistrict_pool
from simulator.world import epoch_of, local_hour
from workers.sensors import value_state

ROOT = Path(__file__).resolve().parent.parent
BJ = ZoneInfo("Asia/Shanghai")


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a Beijing wall-clock time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=BJ).timestamp()


WED_JAN = bj(2025, 1, 15)  # a working day in the heating season
SAT_JUL = bj(2025, 7, 12)  # a summer Saturday
WED_JUL = bj(2025, 7, 16)


@cache
def sim_at(rate: float, start: float) -> Simulator:
    """A shared simulator (it is pure, so tests may share it) whose world begins at `start`."""
    return Simulator(7, rate, start=start)


@cache
def january_week() -> list[dict[str, Any]]:
    """Tickets, updates and incidents of a week in the heating season at the default rate."""
    return sim_at(50, WED_JAN).durable_events(WED_JAN, WED_JAN + 7 * 86400)


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The events of one kind."""
    return [ev for ev in events if ev["kind"] == kind]


def sample(sim: Simulator, day: float, hours: list[float], seconds: float) -> list[dict[str, Any]]:
    """Events of a few short windows starting at the given local hours of a day."""
    out: list[dict[str, Any]] = []
    for h in hours:
        t0 = day + h * 3600
        out += sim.events(t0, t0 + seconds)
    return out


# --- fleet and units --------------------------------------------------------------------------


def test_fleet_has_300_pole_sensors_in_all_17_subdistricts_inside_the_district() -> None:
    fleet = build_sensors(7)
    assert len(fleet) >= 300
    assert {s["subdistrict"] for s in fleet} == {sd.code for sd in geo.subdistricts()}
    assert len({s["id"] for s in fleet}) == len(fleet)
    for s in fleet:
        assert set(s) == {"id", "type", "pole_id", "lon", "lat", "subdistrict"}
        assert s["type"] in c.SENSOR_TYPES
        assert geo.in_district(s["lon"], s["lat"])
        assert geo.subdistrict_of(s["lon"], s["lat"]) == s["subdistrict"]
    per_pole = Counter(s["pole_id"] for s in fleet if s["pole_id"] is not None)
    assert set(per_pole.values()) <= {1, 2, 3}
    types = Counter(s["type"] for s in fleet)
    assert set(types) == set(c.SENSOR_TYPES)
    assert types["water_level"] < types["pm25"] and types["cold_chain_temp"] < types["water_level"]


def test_fleet_and_units_are_deterministic_from_the_seed() -> None:
    assert build_sensors(7) == build_sensors(7)
    assert build_sensors(7) != build_sensors(8)
    assert build_units(7) == build_units(7)


def test_about_40_units_with_unit_columns_some_off_duty() -> None:
    units = build_units()
    assert 35 <= len(units) <= 45
    assert len({u["code"] for u in units}) == len(units)
    assert {u["kind"] for u in units} == set(c.UNIT_KINDS)
    status = Counter(u["status"] for u in units)
    assert set(status) == {"available", "off_duty"} and 0 < status["off_duty"] <= 5
    for u in units:
        assert (u["lon"], u["lat"]) == (u["home_lon"], u["home_lat"])
        assert geo.in_district(u["lon"], u["lat"]) and u["subdistrict"] == geo.subdistrict_of(u["lon"], u["lat"])
    assert any(u["name"].startswith("东城消防救援支队") for u in units)
    assert any("派出所 巡逻" in u["name"] for u in units)


# --- reproducibility and validity ---------------------------------------------------------------


def test_same_seed_gives_same_events_and_different_seed_different() -> None:
    t0 = WED_JAN + 10 * 3600
    a = Simulator(7, 50, start=WED_JAN).events(t0, t0 + 20)
    b = Simulator(7, 50, start=WED_JAN).events(t0, t0 + 20)
    other = Simulator(8, 50, start=WED_JAN).events(t0, t0 + 20)
    assert a == b and len(a) > 500
    assert a != other
    assert len({ev["event_id"] for ev in a}) == len(a)


@settings(max_examples=15, deadline=None)
@given(offset=st.floats(0, 3600), cut=st.floats(0.001, 9.999))
def test_output_does_not_depend_on_how_time_is_chunked(offset: float, cut: float) -> None:
    t0 = WED_JAN + 9 * 3600 + offset
    whole = Simulator(7, 50, start=WED_JAN).events(t0, t0 + 10)
    split = Simulator(7, 50, start=WED_JAN)
    assert split.events(t0, t0 + cut) + split.events(t0 + cut, t0 + 10) == whole


def test_every_event_passes_the_validator_across_a_day() -> None:
    sim = Simulator(7, 50, start=WED_JAN)
    events: list[dict[str, Any]] = []
    for h in range(0, 24, 3):
        t0 = WED_JAN + h * 3600 + 1234.5
        batch = sim.events(t0, t0 + 4)
        for ev in batch:
            _, rej = validate_event(ev, now=t0 + 4)
            assert rej is None, (rej.errors, ev)
        events += batch
    durable = sim.durable_events(WED_JAN, WED_JAN + 86400)
    for ev in durable:
        _, rej = validate_event(ev, now=WED_JAN + 86400)
        assert rej is None, (rej.errors, ev)
    fast = Simulator(7, 1000, start=SAT_JUL).events(SAT_JUL + 15 * 3600, SAT_JUL + 15 * 3600 + 1)
    assert all(validate_event(ev, now=SAT_JUL + 15 * 3600 + 1)[1] is None for ev in fast)
    kinds = {ev["kind"] for ev in events + durable}
    assert kinds == set(c.EVENT_KINDS)
    for ev in events:
        assert ev["source"] == "sim" and ev["ts"].endswith("+08:00")
        json.dumps(ev)


@pytest.mark.parametrize(("rate", "seconds"), [(50, 300), (1000, 15)])
def test_event_rate_is_within_10_percent_of_the_target(rate: float, seconds: int) -> None:
    sim = Simulator(7, rate, start=WED_JAN)
    for h in (3, 10, 18):
        t0 = WED_JAN + h * 3600
        n = len(sim.events(t0, t0 + seconds))
        assert abs(n / seconds - rate) <= 0.1 * rate, (h, n / seconds)


def test_telemetry_dominates_and_every_sensor_reports_at_least_every_30_s() -> None:
    slow = Simulator(7, 1)
    assert max(slow.periods().values()) <= 60 and slow.periods()["sensor"] <= 30
    assert Simulator(7, 1000).periods()["sensor"] < 1
    events = Simulator(7, 50, start=WED_JAN).events(WED_JAN + 36000, WED_JAN + 36060)
    kinds = Counter(ev["kind"] for ev in events)
    assert kinds[c.SENSOR_READING] / len(events) > 0.7


# --- what the city looks like ------------------------------------------------------------------


def test_hotline_category_mix_follows_the_heating_season() -> None:
    july = sim_at(50, WED_JUL).durable_events(WED_JUL, WED_JUL + 3 * 86400)
    for events, days, heating in ((january_week(), 7, True), (july, 3, False)):
        tickets = of_kind(events, c.HOTLINE_TICKET)
        assert days * 500 <= len(tickets) <= days * 1200  # Dongcheng dispatches ~500–1,000 a day
        mix = Counter(t["category"] for t in tickets)
        assert set(mix) <= set(c.HOTLINE_CATEGORIES)
        share = {k: v / len(tickets) for k, v in mix.items()}
        if heating:
            assert 0.15 <= share["heating"] <= 0.25
        else:
            assert share.get("heating", 0) < 0.03
        for cat in ("property", "parking_traffic", "market"):
            assert 0.05 <= share[cat] <= 0.15, (cat, share[cat])
        assert all(t["summary"] and t["ticket_id"] for t in tickets)


def test_hotline_rhythm_peaks_09_11_and_14_16_and_is_quiet_at_night() -> None:
    tickets = of_kind(january_week(), c.HOTLINE_TICKET)
    by_hour = Counter(int(local_hour(epoch_of(t["ts"]))) for t in tickets)
    peak = statistics.mean(by_hour[h] for h in (9, 10, 14, 15))
    night = statistics.mean(by_hour[h] for h in range(0, 6))
    midday = statistics.mean(by_hour[h] for h in (12, 13))
    assert peak > 8 * night and peak > midday


def test_hotline_tickets_scale_with_rate_and_are_placed_by_population() -> None:
    t0, t1 = WED_JAN + 8 * 3600, WED_JAN + 14 * 3600
    slow = of_kind(Simulator(7, 50, start=t0).durable_events(t0, t1), c.HOTLINE_TICKET)
    fast = of_kind(Simulator(7, 1000, start=t0).durable_events(t0, t1), c.HOTLINE_TICKET)
    assert 10 * len(slow) < len(fast) < 30 * len(slow)
    subs = Counter(geo.subdistrict_of(t["lon"], t["lat"]) for t in fast)
    pop = {s.code: s.population for s in geo.subdistricts()}
    assert subs["110101010"] > subs["110101011"]  # 和平里 (126k people) calls more than 前门 (20k)
    assert max(subs, key=lambda k: subs[k]) == max(pop, key=lambda k: pop[k])


def test_ticket_updates_follow_their_ticket_mostly_in_time() -> None:
    events = january_week()
    received = {t["ticket_id"]: (epoch_of(t["ts"]), t["category"]) for t in of_kind(events, c.HOTLINE_TICKET)}
    # Tickets of the first day due within three days have run their whole course within the week.
    first_day = {tid for tid, (ts, cat) in received.items() if ts < WED_JAN + 86400 and c.HOTLINE_DEADLINE_H[cat] <= 72}
    steps: dict[str, dict[str, Any]] = {}
    for u in of_kind(events, c.HOTLINE_UPDATE):
        assert u["ticket_id"] in received
        steps.setdefault(u["ticket_id"], {})[u["status"]] = u
    responded = resolved = closed = satisfied = 0
    for tid in first_day:
        ts, cat = received[tid]
        s = steps[tid]
        times = [epoch_of(s[k]["ts"]) for k in ("responded", "resolved", "closed")]
        assert ts < times[0] < times[1] < times[2]
        responded += times[0] - ts <= c.HOTLINE_RESPONSE_H * 3600
        resolved += times[1] - ts <= c.HOTLINE_DEADLINE_H[cat] * 3600
        closed += 1
        satisfied += s["closed"]["satisfied"] is True
    assert responded / len(first_day) > 0.8
    assert resolved / len(first_day) > 0.8
    assert 0.82 <= satisfied / closed <= 0.97


def test_incidents_come_at_a_realistic_rate_across_the_four_levels() -> None:
    incidents = of_kind(january_week(), c.INCIDENT)
    assert 7 * 25 <= len(incidents) <= 7 * 120
    sev = Counter(i["severity"] for i in incidents)
    assert sev[4] > 5 * sev[3] > 0 and sev[3] > sev[2] >= sev[1]
    assert {i["category"] for i in incidents} <= set(c.INCIDENT_CATEGORIES)
    for i in incidents:
        place, _, label = i["title"].partition(" ")
        assert place and label


def test_heavy_rain_floods_gauges_and_leaves_the_incidents_to_the_command_centre() -> None:
    sim = Simulator(7, 50, start=bj(2025, 7, 1))
    hours = [bj(2025, 7, 1) + k * 3600 for k in range(31 * 24)]
    storm = next(t for t in hours if sim.rain_at(t) >= 30)
    water = of_kind(sim.events(storm + 5400, storm + 5430), c.SENSOR_READING)
    levels = [ev["value"] for ev in water if ev["sensor_type"] == "water_level"]
    assert max(levels) >= c.SENSOR_TYPES["water_level"]["alarm"]
    incidents = of_kind(sim.durable_events(storm, storm + 12 * 3600), c.INCIDENT)
    # The centre opens waterlogging incidents from the gauges itself (workers/sensor_incidents.py): a source
    # posting them too would only make duplicates.
    assert not [i for i in incidents if i.get("sensor_id")]
    dry = of_kind(sim.events(bj(2025, 4, 10, 12), bj(2025, 4, 10, 12, 0, 30)), c.SENSOR_READING)
    assert all(ev["value"] == 0 for ev in dry if ev["sensor_type"] == "water_level")


def test_crowds_only_within_opening_hours_and_higher_at_weekends() -> None:
    weekday, saturday = sim_at(300, WED_JUL), sim_at(300, SAT_JUL)
    night = of_kind(sample(saturday, SAT_JUL, [4.0], 3), c.CROWD)
    assert night and all(ev["count"] <= 0.02 * ev["capacity"] for ev in night)
    evening = of_kind(sample(weekday, WED_JUL, [18.5], 3), c.CROWD)
    gugong = [ev for ev in evening if ev["spot_id"] == "poi_011"]
    assert gugong and all(ev["count"] == 0 for ev in gugong)  # the Palace Museum closes at 17:00
    nanluo = [ev for ev in sample(weekday, WED_JUL, [20.0], 3) if ev.get("spot_id") == "poi_014"]
    assert nanluo and min(ev["count"] for ev in nanluo) > 0.2 * nanluo[0]["capacity"]  # 南锣鼓巷 in the evening

    def gugong_at(day: float) -> float:
        sim = sim_at(300, day)
        return statistics.mean(ev["count"] for ev in sample(sim, day, [11.0], 3) if ev.get("spot_id") == "poi_011")

    assert 0.3 * 30000 < gugong_at(WED_JUL) < gugong_at(SAT_JUL) <= 1.05 * 30000


def test_traffic_is_slower_at_rush_hour_on_working_days() -> None:
    def speeds(day: float, hour: float, ring: bool) -> float:
        evs = of_kind(sample(sim_at(300, day), day, [hour], 4), c.TRAFFIC_SPEED)
        return statistics.mean(ev["speed_kmh"] for ev in evs if ("ring" in ev["corridor_id"]) == ring)

    assert 20 <= speeds(WED_JAN, 8, True) <= 35 and 15 <= speeds(WED_JAN, 8, False) <= 25
    assert 20 <= speeds(WED_JAN, 18.5, True) <= 35
    assert 50 <= speeds(WED_JAN, 11, True) <= 65 and 30 <= speeds(WED_JAN, 11, False) <= 45
    assert speeds(SAT_JUL, 8, True) > speeds(WED_JAN, 8, True) + 10


def test_parking_never_exceeds_capacity_and_hospitals_fill_up_by_day() -> None:
    sim = sim_at(300, WED_JAN)
    lots = of_kind(sample(sim, WED_JAN, [h + 0.5 for h in range(0, 24, 4)], 2), c.PARKING)
    assert lots and all(0 <= ev["occupied"] <= ev["capacity"] for ev in lots)
    hospitals = {p.id for p in geo.places_of_type("hospital")}
    assert hospitals <= {ev["lot_id"] for ev in lots}
    caps = {ev["lot_id"]: ev["capacity"] for ev in lots}
    assert all(150 <= caps[h] <= 600 for h in hospitals)
    day = [ev["occupied"] / ev["capacity"] for ev in of_kind(sample(sim, WED_JAN, [10.0], 5), c.PARKING)
           if ev["lot_id"] in hospitals]  # fmt: skip
    night = [ev["occupied"] / ev["capacity"] for ev in of_kind(sample(sim, WED_JAN, [3.0], 5), c.PARKING)
             if ev["lot_id"] in hospitals]  # fmt: skip
    assert statistics.mean(day) > 0.9 > 0.5 > statistics.mean(night)


def test_air_and_noise_follow_season_and_time_of_day() -> None:
    def mean_of(day: float, hour: float, stype: str) -> float:
        evs = of_kind(sample(sim_at(300, day), day, [hour], 2), c.SENSOR_READING)
        return statistics.median(ev["value"] for ev in evs if ev["sensor_type"] == stype)

    assert 25 <= mean_of(WED_JAN, 10, "pm25") <= 75
    assert mean_of(WED_JUL, 10, "pm25") < mean_of(WED_JAN, 10, "pm25")
    assert 55 <= mean_of(WED_JAN, 11, "noise") <= 68 and 40 <= mean_of(WED_JAN, 2, "noise") <= 50
    assert -20 <= mean_of(WED_JAN, 11, "cold_chain_temp") <= -16


def test_some_readings_breach_thresholds_but_fewer_than_10_percent() -> None:
    readings = of_kind(sample(sim_at(50, WED_JAN), WED_JAN, [h + 0.25 for h in range(24)], 10), c.SENSOR_READING)
    breaches = [ev for ev in readings
                if value_state(ev["sensor_type"], ev["value"], ts=epoch_of(ev["ts"])) != c.STATE_NORMAL]
    assert 0 < len(breaches) < 0.1 * len(readings)


def test_heat_stations_one_per_estate_point_warm_in_season_and_off_but_normal_in_summer() -> None:
    stations = [s for s in build_sensors(7) if s["type"] == "heat_supply_temp"]
    assert 20 <= len(stations) <= 40 and stations == [s for s in build_sensors(7) if s["type"] == "heat_supply_temp"]
    pools = {sd.code: set(subdistrict_pool(sd.code)) for sd in geo.subdistricts()}
    assert all((s["lon"], s["lat"]) in pools[s["subdistrict"]] and s["pole_id"] is None for s in stations)
    assert {s["subdistrict"] for s in stations} == set(pools)

    def readings(day: float) -> list[dict[str, Any]]:
        quiet = Simulator(7, 300, start=day, episodes_per_day=0)  # no heating failure under way
        evs = of_kind(sample(quiet, day, [3, 11, 20], 30), c.SENSOR_READING)
        return [ev for ev in evs if ev["sensor_type"] == "heat_supply_temp"]

    winter, summer = readings(WED_JAN), readings(WED_JUL)
    assert winter and summer
    assert all(49 <= ev["value"] <= 63 for ev in winter)  # 50–60 °C supply, a little warmer at night
    assert all(value_state("heat_supply_temp", ev["value"], ts=epoch_of(ev["ts"])) == c.STATE_NORMAL
               for ev in winter + summer)
    # Out of season the loop is off: the station reads about the air temperature, far below the alarm level,
    # and that is no alarm.
    assert all(ev["value"] < float(c.SENSOR_TYPES["heat_supply_temp"]["alarm"]) for ev in summer)


def test_sensors_go_silent_and_a_silent_one_stays_silent_for_a_long_window() -> None:
    sim = Simulator(7, 5, start=WED_JAN)
    t0 = WED_JAN + 12 * 3600
    heard = {ev["sensor_id"] for ev in of_kind(sim.events(t0, t0 + 1800), c.SENSOR_READING)}
    silent = [s["id"] for s in sim.fleet if s["id"] not in heard]
    assert 1 <= len(silent) <= 0.05 * len(sim.fleet)
    assert all(sim.is_silent(sid, t0 + 900) for sid in silent)


# --- the live loop ----------------------------------------------------------------------------


class _Ingest(BaseHTTPRequestHandler):
    """A stand-in for POST /api/v1/events: refuses the first batch with 503, then accepts."""

    received: list[tuple[dict[str, str], list[dict[str, Any]]]]
    busy_once: bool

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((dict(self.headers), body["events"]))  # type: ignore[attr-defined]
        if self.server.busy_once:  # type: ignore[attr-defined]
            self.server.busy_once = False  # type: ignore[attr-defined]
            self._reply(503, {"accepted": 0, "rejected": []}, {"Retry-After": "0.2"})
            return
        self._reply(200, {"accepted": len(body["events"]), "duplicates": [], "rejected": []}, {})

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(raw)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def ingest_server() -> Iterator[ThreadingHTTPServer]:
    """A local HTTP server that records every batch."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    server.received = []  # type: ignore[attr-defined]
    server.busy_once = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_run_posts_batches_with_the_token_and_resends_after_503(ingest_server: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{ingest_server.server_address[1]}"
    stop = threading.Event()
    thread = threading.Thread(target=live.run, args=(url, "tok", 200, 7, 0.1, stop, False), daemon=True)
    thread.start()
    time.sleep(0.8)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    received = ingest_server.received  # type: ignore[attr-defined]
    assert len(received) >= 3
    headers, first = received[0]
    assert headers["Authorization"] == "Bearer tok" and headers["Content-Type"] == "application/json"
    assert received[1][1] == first  # the refused batch came again
    ids = [ev["event_id"] for _, batch in received[1:] for ev in batch]
    assert len(ids) == len(set(ids)) > 100
    now = time.time()
    assert all(validate_event(ev, now)[1] is None for _, batch in received for ev in batch)


def test_run_replays_todays_tickets_before_their_updates(
    ingest_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_server.busy_once = False  # type: ignore[attr-defined]
    monkeypatch.setattr(live, "day_start", lambda t: t - 6 * 3600)  # "today" = the last six hours
    url = f"http://127.0.0.1:{ingest_server.server_address[1]}"
    stop = threading.Event()
    thread = threading.Thread(target=live.run, args=(url, "tok", 50, 7, 0.05, stop, True), daemon=True)
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join(timeout=5)
    events = [ev for _, batch in ingest_server.received for ev in batch]  # type: ignore[attr-defined]
    tickets: set[str] = set()
    incidents: set[str] = set()
    for ev in events:
        if ev["kind"] == c.HOTLINE_TICKET:
            tickets.add(ev["ticket_id"])
        elif ev["kind"] == c.HOTLINE_UPDATE:
            assert ev["ticket_id"] in tickets
        elif ev["kind"] == c.INCIDENT:
            incidents.add(ev["event_id"])
        elif ev["kind"] == c.INCIDENT_UPDATE:
            # Only the last half hour's incidents are replayed: the ends of the older ones are never posted (the
            # ingest would refuse them as updates of unknown incidents).
            assert ev["incident_id"] in incidents, ev
    assert tickets and any(ev["kind"] == c.SENSOR_READING for ev in events)
    assert min(epoch_of(ev["ts"]) for ev in events) < time.time() - 3600


def test_run_keeps_going_when_the_server_is_unreachable() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Ingest) as probe:
        port = probe.server_address[1]  # a port with nobody listening once closed
    stop = threading.Event()
    thread = threading.Thread(
        target=live.run, args=(f"http://127.0.0.1:{port}", "tok", 50, 7, 0.1, stop, False), daemon=True
    )
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_main_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["--rate", "10"])
    assert exc.value.code == 2


def test_python_m_simulator_is_the_command_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "simulator", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "python -m simulator" in proc.stdout
    assert all(opt in proc.stdout for opt in ("--url", "--token", "--rate", "--seed", "--episodes-per-day"))
