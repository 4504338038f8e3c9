"""Pure aggregation functions on hand-made events and rows (no Redis, no SQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.domain import beijing, geo
from dashboard.domain import rules as c
from dashboard.domain.crowd import crowd_level
from workers.crowd import compute_crowd
from workers.hotline import compute_hotline, query_since
from workers.incidents import compute_incidents
from workers.kpi import compute_kpi
from workers.parking import compute_parking
from workers.sensor_book import compute_sensors
from workers.sensors import fold_reading, value_state
from workers.telemetry import fold, fold_into, new_state
from workers.ticker import compute_ticker
from workers.traffic import band_of, compute_traffic, corridor_index, district_index

# 2026-11-25 10:00 Beijing time (02:00 UTC).
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC).timestamp()
LON, LAT = 116.4103, 39.9122  # Wangfujing
SUB = geo.subdistrict_of(LON, LAT) or ""


def reading(sid: str, stype: str, value: float, ts: float = NOW - 5) -> dict[str, Any]:
    """A normalised sensor_reading."""
    return {
        "event_id": f"{sid}-{ts}",
        "source": "t",
        "kind": c.SENSOR_READING,
        "ts": ts,
        "lon": LON,
        "lat": LAT,
        "subdistrict": SUB,
        "cell": "r00c00",
        "sensor_id": sid,
        "sensor_type": stype,
        "value": value,
    }


def speed(corridor: str, kmh: float, ts: float = NOW - 5) -> dict[str, Any]:
    """A normalised traffic_speed event."""
    return {
        "event_id": f"{corridor}-{ts}",
        "source": "t",
        "kind": c.TRAFFIC_SPEED,
        "ts": ts,
        "lon": LON,
        "lat": LAT,
        "subdistrict": SUB,
        "cell": "r00c00",
        "corridor_id": corridor,
        "speed_kmh": kmh,
    }


def spot(spot_id: str, count: int, capacity: int, ts: float = NOW - 5) -> dict[str, Any]:
    """A normalised crowd event."""
    return {
        "event_id": f"{spot_id}-{ts}",
        "source": "t",
        "kind": c.CROWD,
        "ts": ts,
        "lon": LON,
        "lat": LAT,
        "subdistrict": SUB,
        "cell": "r00c00",
        "spot_id": spot_id,
        "count": count,
        "capacity": capacity,
    }


def lot(lot_id: str, occupied: int, capacity: int, ts: float = NOW - 5) -> dict[str, Any]:
    """A normalised parking event."""
    return {
        "event_id": f"{lot_id}-{ts}",
        "source": "t",
        "kind": c.PARKING,
        "ts": ts,
        "lon": LON,
        "lat": LAT,
        "subdistrict": SUB,
        "cell": "r00c00",
        "lot_id": lot_id,
        "occupied": occupied,
        "capacity": capacity,
    }


def reg(sid: str, stype: str) -> dict[str, Any]:
    """A sensor registry row."""
    return {"id": sid, "type": stype, "lon": LON, "lat": LAT, "subdistrict": SUB}


# --- sensors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stype", "value", "expected"),
    [
        ("pm25", 74.9, c.STATE_NORMAL),
        ("pm25", 75, c.STATE_WARNING),
        ("pm25", 149.9, c.STATE_WARNING),
        ("pm25", 150, c.STATE_ALARM),
        ("noise", 85, c.STATE_ALARM),
        ("water_level", 14.9, c.STATE_NORMAL),
        ("gas", 25, c.STATE_ALARM),
    ],
)
def test_sensor_value_state_follows_warn_and_alarm_thresholds(stype: str, value: float, expected: str) -> None:
    assert value_state(stype, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-25, c.STATE_NORMAL),
        (-12.1, c.STATE_NORMAL),
        (-12, c.STATE_WARNING),
        (-9, c.STATE_WARNING),
        (-8, c.STATE_ALARM),
        (4, c.STATE_ALARM),
    ],
)
def test_cold_chain_is_bad_when_warm_not_when_cold(value: float, expected: str) -> None:
    assert value_state("cold_chain_temp", value) == expected


# 2026-12-02 12:00 and 2026-07-01 12:00 Beijing: in and out of the heating season.
_IN_SEASON = 1_796_184_000.0
_OFF_SEASON = 1_782_878_400.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (58, c.STATE_NORMAL),
        (45.1, c.STATE_NORMAL),
        (45, c.STATE_WARNING),
        (38.1, c.STATE_WARNING),
        (38, c.STATE_ALARM),
        (20, c.STATE_ALARM),
    ],
)
def test_heat_supply_is_bad_when_low_in_the_heating_season(value: float, expected: str) -> None:
    assert c.SENSOR_TYPES["heat_supply_temp"]["direction"] == "low"
    assert value_state("heat_supply_temp", value, ts=_IN_SEASON) == expected
    assert value_state("heat_supply_temp", value) == expected  # an unknown time counts as in season
    # Out of season the loop is off: the station reads about the air temperature, which is no alarm.
    assert value_state("heat_supply_temp", value, ts=_OFF_SEASON) == c.STATE_NORMAL


def test_a_low_is_bad_type_follows_the_administrators_thresholds() -> None:
    th = {**c.SENSOR_TYPES, "heat_supply_temp": {**c.SENSOR_TYPES["heat_supply_temp"], "warn": 50, "alarm": 42}}
    assert value_state("heat_supply_temp", 49, th, _IN_SEASON) == c.STATE_WARNING
    assert value_state("heat_supply_temp", 42, th, _IN_SEASON) == c.STATE_ALARM
    state = new_state()
    fold_reading(state, reading("hs1", "heat_supply_temp", 40.0, _IN_SEASON), th)
    assert state["sensors"]["hs1"]["as"] == _IN_SEASON and state["alarm_log"][-1]["id"] == "hs1"
    off = new_state()
    fold_reading(off, reading("hs1", "heat_supply_temp", 14.0, _OFF_SEASON), th)
    assert "as" not in off["sensors"]["hs1"] and off["alarm_log"] == []


def test_sensor_silent_after_threshold_and_never_seen_registered_sensor_is_silent() -> None:
    state = fold(
        new_state(),
        [
            reading("fresh", "pm25", 40, ts=NOW - c.SENSOR_SILENT_AFTER_S),
            reading("stale", "pm25", 40, ts=NOW - c.SENSOR_SILENT_AFTER_S - 1),
        ],
    )
    data = compute_sensors(state, [reg("fresh", "pm25"), reg("stale", "pm25"), reg("never", "noise")], NOW)
    by_id = {p["id"]: p for p in data["silent"]}
    assert "fresh" not in by_id and data["by_state"][c.STATE_NORMAL] == 1
    assert by_id["stale"]["state"] == c.STATE_SILENT
    assert by_id["stale"]["value"] == 40  # the last known value stays visible
    assert by_id["never"]["state"] == c.STATE_SILENT
    assert by_id["never"]["value"] is None and by_id["never"]["last_seen"] == 0.0
    assert data["total"] == 3 and data["online"] == 1
    assert data["by_state"][c.STATE_SILENT] == 2
    # The never-seen sensor has been silent longest, so it leads the silent list.
    assert [p["id"] for p in data["silent"]] == ["never", "stale"]


def test_sensor_aggregate_counts_means_and_orders_alarms_most_severe_first() -> None:
    state = fold(
        new_state(),
        [
            reading("a", "pm25", 60, ts=NOW - 30),
            reading("b", "pm25", 100, ts=NOW - 20),
            reading("c", "pm25", 200, ts=NOW - 40),
            reading("d", "cold_chain_temp", -5, ts=NOW - 10),
            reading("e", "noise", 50, ts=NOW - 500),  # silent: excluded from the mean
        ],
    )
    data = compute_sensors(state, [reg(s, "pm25") for s in "abc"], NOW)
    assert data["total"] == 5  # two reporting but unregistered sensors are still shown
    assert data["by_state"] == {"normal": 1, "warning": 1, "alarm": 2, "silent": 1}
    assert sum(data["by_state"].values()) == data["total"]
    assert data["by_type"]["pm25"] == {"normal": 1, "warning": 1, "alarm": 1, "silent": 0}
    assert data["means"]["pm25"] == pytest.approx(120.0)
    assert data["means"]["noise"] is None
    assert [p["id"] for p in data["alarms"]] == ["d", "c", "b"]  # alarms newest first, then warnings


def test_older_reading_arriving_late_does_not_replace_newer_one() -> None:
    state = fold(new_state(), [reading("a", "pm25", 30, ts=NOW - 5), reading("a", "pm25", 500, ts=NOW - 50)])
    assert state["sensors"]["a"]["value"] == 30


def test_alarm_log_records_only_transitions_into_alarm() -> None:
    evs = [
        reading("a", "gas", 1, ts=NOW - 50),
        reading("a", "gas", 30, ts=NOW - 40),  # -> alarm
        reading("a", "gas", 40, ts=NOW - 30),  # still alarm
        reading("a", "gas", 2, ts=NOW - 20),
        reading("a", "gas", 26, ts=NOW - 10),  # -> alarm again
        reading("b", "pm25", 151, ts=NOW - 5),  # first reading already in alarm
    ]
    state = fold(new_state(), evs)
    assert [(e["id"], e["ts"]) for e in state["alarm_log"]] == [("a", NOW - 40), ("a", NOW - 10), ("b", NOW - 5)]


# --- traffic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kmh", "free", "band"),
    [
        (60, 60, "smooth"),
        (52, 60, "smooth"),
        (45, 60, "basically_smooth"),
        (34, 60, "light"),
        (25, 60, "moderate"),
        (15, 60, "severe"),
        (38, 40, "smooth"),
        (30, 40, "basically_smooth"),
        (22, 40, "light"),
        (17, 40, "moderate"),
        (10, 40, "severe"),
        (0, 40, "severe"),
    ],
)
def test_corridor_index_bands_follow_speed_share_of_free_flow(kmh: float, free: float, band: str) -> None:
    idx = corridor_index(kmh, free)
    assert 0 <= idx <= 10
    assert band_of(idx) == band


def test_corridor_index_is_zero_at_free_flow_ten_at_standstill_and_monotonic() -> None:
    assert corridor_index(80, 60) == 0.0
    assert corridor_index(0, 60) == 10.0
    values = [corridor_index(v, 40) for v in range(0, 45)]
    assert values == sorted(values, reverse=True)


def test_band_edges_are_lower_inclusive() -> None:
    assert band_of(0) == "smooth" and band_of(1.99) == "smooth"
    assert band_of(2) == "basically_smooth" and band_of(7.99) == "moderate"
    assert band_of(8) == "severe" and band_of(10) == "severe"


def test_district_index_is_length_weighted_and_ignores_stale_corridors() -> None:
    cors = geo.corridor_by_id()
    a, b = "road_2nd_ring_east", "road_changan"
    obs = {a: {"speed": 60.0, "ts": NOW}, b: {"speed": 0.0, "ts": NOW}}
    expected = 10 * cors[b].length_km / (cors[a].length_km + cors[b].length_km)
    assert district_index(obs, NOW) == pytest.approx(expected, abs=0.01)
    obs[b]["ts"] = NOW - 3600
    assert district_index(obs, NOW) == 0.0
    assert district_index({}, NOW) == 0.0


def test_traffic_aggregate_lists_worst_first_and_builds_minute_series() -> None:
    m0 = int(NOW // 60) * 60 - 180
    evs = [
        speed("road_changan", 40, ts=m0 + 10),  # minute 0: smooth
        speed("road_changan", 3, ts=m0 + 70),  # minute 1: standstill
        speed("road_2nd_ring_east", 55, ts=m0 + 130),  # minute 2 (still open)
    ]
    state = fold(new_state(), evs)
    data = compute_traffic(state, m0 + 150)
    assert data["corridors"][0]["id"] == "road_changan" and data["corridors"][0]["band"] == "severe"
    assert data["corridors"][0]["speed_kmh"] == 3
    never = [cs for cs in data["corridors"] if cs["speed_kmh"] is None]
    assert len(never) == len(geo.corridors()) - 2 and data["corridors"][-1]["speed_kmh"] is None
    assert [p[0] for p in data["series"]] == [m0, m0 + 60, m0 + 120]
    assert data["series"][0][1] == 0.0 and data["series"][1][1] == 10.0
    assert data["series"][2][1] == data["district_index"]
    assert data["band"] == band_of(data["district_index"])


def test_traffic_series_keeps_only_three_hours() -> None:
    start = NOW - 5 * 3600
    state = fold(new_state(), [speed("road_changan", 30, ts=start + i * 60) for i in range(5 * 60)])
    series = compute_traffic(state, NOW)["series"]
    assert series[0][0] >= NOW - 3 * 3600
    assert len(series) <= 3 * 60 + 1


# --- parking and crowd -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "level"),
    [
        (0.0, "low"),
        (0.499, "low"),
        (0.5, "medium"),
        (0.749, "medium"),
        (0.75, "high"),
        (0.899, "high"),
        (0.9, "critical"),
        (1.3, "critical"),
    ],
)
def test_crowd_levels_by_share_of_capacity(ratio: float, level: str) -> None:
    assert crowd_level(ratio) == level


def test_crowd_busiest_spot_first_with_names_from_places() -> None:
    scenic = geo.places_of_type("scenic")
    state = fold(new_state(), [spot(scenic[0].id, 100, 1000), spot(scenic[1].id, 950, 1000)])
    data = compute_crowd(state)
    assert [s["id"] for s in data["spots"]] == [scenic[1].id, scenic[0].id]
    assert data["busiest"]["level"] == "critical" and data["busiest"]["name_zh"] == scenic[1].name_zh
    assert "busiest" not in compute_crowd(new_state())


def test_the_busiest_scenic_spot_is_a_scenic_spot_even_when_a_business_district_is_fuller() -> None:
    scenic = geo.places_of_type("scenic")
    market = geo.places_of_type("business_district")[0]
    state = fold(new_state(), [spot(scenic[0].id, 500, 1000), spot(market.id, 990, 1000)])
    data = compute_crowd(state)
    assert data["spots"][0]["id"] == market.id  # the panel still lists the fullest place first
    assert data["busiest"]["id"] == scenic[0].id
    only_market = compute_crowd(fold(new_state(), [spot(market.id, 990, 1000)]))
    assert "busiest" not in only_market and only_market["spots"]


def test_parking_fullest_first_with_totals() -> None:
    hospitals = geo.places_of_type("hospital")
    state = fold(new_state(), [lot(hospitals[0].id, 50, 100), lot(hospitals[1].id, 190, 200)])
    data = compute_parking(state)
    assert [x["id"] for x in data["lots"]] == [hospitals[1].id, hospitals[0].id]
    assert data["lots"][0]["ratio"] == 0.95
    assert (data["total_occupied"], data["total_capacity"]) == (240, 300)


# --- hotline ---------------------------------------------------------------------------------


def dt(epoch: float | None) -> datetime | None:
    """Aware UTC datetime or None."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def ticket(
    received: float,
    category: str = "noise",
    responded: float | None = None,
    resolved: float | None = None,
    satisfied: bool | None = None,
    deadline_h: float = 24,
    cell: str = "r01c01",
) -> tuple[Any, ...]:
    """A store.tickets.tickets_since row."""
    return (category, SUB, cell, dt(received), dt(received + deadline_h * 3600), dt(responded), dt(resolved), satisfied)


def test_hotline_rates_are_none_without_tickets() -> None:
    data = compute_hotline([], overdue=0, now=NOW)
    assert data["today_total"] == 0
    assert data["response_rate"] is None and data["resolution_rate"] is None and data["satisfaction_rate"] is None
    assert data["hourly"] == [0] * 24 and sum(data["by_category"].values()) == 0
    assert set(data["by_subdistrict"]) == {s.code for s in geo.subdistricts()}


def test_hotline_response_rate_counts_responded_or_past_window() -> None:
    h = 3600
    rows = [
        ticket(NOW - 3 * h, responded=NOW - 2.5 * h),  # responded in 30 min: on time
        ticket(NOW - 3 * h, responded=NOW - 0.5 * h),  # responded after 2.5 h: late
        ticket(NOW - 3 * h),  # not responded, window passed: late
        ticket(NOW - 1 * h),  # not responded, still within the window: not counted yet
        ticket(NOW - 0.5 * h, responded=NOW - 0.4 * h),  # responded quickly
    ]
    data = compute_hotline(rows, overdue=0, now=NOW)
    assert data["today_total"] == 5
    assert data["response_rate"] == pytest.approx(2 / 4)


def test_hotline_resolution_and_satisfaction_rates() -> None:
    h = 3600
    rows = [
        ticket(NOW - 9 * h, resolved=NOW - 8 * h, satisfied=True, deadline_h=24),
        ticket(NOW - 9 * h, resolved=NOW - 7 * h, satisfied=False, deadline_h=24),
        ticket(NOW - 9 * h, deadline_h=2),  # past its deadline, unresolved
        ticket(NOW - 9 * h, deadline_h=24),  # open, not due: not counted
        ticket(NOW - 9 * h, resolved=NOW - 1 * h, satisfied=True, deadline_h=1),  # resolved late still resolved
    ]
    data = compute_hotline(rows, overdue=7, now=NOW)
    assert data["resolution_rate"] == pytest.approx(3 / 4)
    assert data["satisfaction_rate"] == pytest.approx(2 / 3, abs=1e-4)  # rates are rounded to 4 places
    assert data["overdue"] == 7


def test_hotline_counts_the_beijing_day_from_beijing_midnight() -> None:
    midnight = beijing.day_start(NOW)
    assert datetime.fromtimestamp(midnight, beijing.BEIJING).hour == 0
    assert datetime.fromtimestamp(midnight, UTC).hour == 16  # the previous UTC day
    rows = [
        ticket(midnight - 1, category="heating"),  # 23:59:59 yesterday in Beijing
        ticket(midnight, category="noise"),  # 00:00 today
        ticket(midnight + 9.5 * 3600, category="noise", cell="r02c03"),  # 09:30
        ticket(midnight - 86_400 + 15 * 3600, category="market"),  # yesterday 15:00
    ]
    data = compute_hotline(rows, overdue=0, now=NOW)
    assert data["today_total"] == 2
    assert data["by_category"]["noise"] == 2 and data["by_category"]["heating"] == 0
    assert data["hourly"][0] == 1 and data["hourly"][9] == 1
    assert data["hourly_yesterday"][23] == 1 and data["hourly_yesterday"][15] == 1
    assert data["by_cell"] == {"r01c01": 1, "r02c03": 1}
    assert data["by_subdistrict"][SUB] == 2
    assert query_since(NOW) == midnight - 86_400


def test_beijing_day_start_at_the_utc_boundary() -> None:
    # 15:59:59 UTC is 23:59:59 Beijing; one second later the Beijing day changes.
    t = datetime(2026, 11, 24, 15, 59, 59, tzinfo=UTC).timestamp()
    assert beijing.day_start(t) == datetime(2026, 11, 23, 16, 0, tzinfo=UTC).timestamp()
    assert beijing.day_start(t + 1) == t + 1
    assert beijing.hour_of(t) == 23 and beijing.hour_of(t + 1) == 0


# --- incidents, KPI, ticker ------------------------------------------------------------------


def incident_row(i: int, severity: int, created: float) -> dict[str, Any]:
    """A store.incidents.open_incidents row."""
    return {
        "id": i,
        "title": f"inc {i}",
        "category": "fire",
        "severity": severity,
        "state": "new",
        "subdistrict": SUB,
        "lon": LON,
        "lat": LAT,
        "created_at": dt(created),
        "deadline_at": dt(created + 3600),
    }


def test_incident_summary_totals_from_counts_and_items_most_severe_then_newest() -> None:
    rows = [incident_row(1, 3, NOW - 100), incident_row(2, 1, NOW - 500), incident_row(3, 3, NOW - 10)]
    counts = {
        "open_by_severity": {"1": 1, "3": 2},
        "open_by_state": {"new": 3},
        "overdue": 1,
        "today_by_category": {"fire": 4, "medical": 1},
    }
    data = compute_incidents(rows, counts)
    assert data["open_by_severity"] == {"1": 1, "2": 0, "3": 2, "4": 0}
    assert data["open_total"] == 3 and data["overdue"] == 1 and data["today_total"] == 5
    assert data["open_by_state"]["dispatched"] == 0
    assert [i["id"] for i in data["items"]] == [2, 3, 1]
    assert data["items"][0]["deadline_at"] == pytest.approx(NOW - 500 + 3600)


def test_incident_items_carry_overdue_escalation_sensor_and_their_departments_clocks() -> None:
    rows = [
        {**incident_row(1, 2, NOW - 7200), "escalated_at": dt(NOW - 3500), "sensor_id": None},
        {**incident_row(2, 3, NOW - 60), "sensor_id": "P1:gas"},
    ]
    summons = [
        {"incident_id": 1, "department": "water", "summoned_at": dt(NOW - 7000), "deadline_at": dt(NOW - 5200),
         "acknowledged_at": None, "escalated_at": dt(NOW - 5100)},
        {"incident_id": 1, "department": "police", "summoned_at": dt(NOW - 7000), "deadline_at": dt(NOW - 5300),
         "acknowledged_at": dt(NOW - 6000), "escalated_at": None},
        {"incident_id": 99, "department": "gas", "summoned_at": dt(NOW), "deadline_at": dt(NOW + 60),
         "acknowledged_at": None, "escalated_at": None},
    ]
    counts = {"open_by_severity": {"2": 1, "3": 1}, "open_by_state": {}, "overdue": 1, "today_by_category": {}}
    one, two = compute_incidents(rows, counts, summons, NOW)["items"]
    assert (one["overdue"], one["escalated"], one["sensor_id"]) == (True, True, None)
    assert (two["overdue"], two["escalated"], two["sensor_id"], two["summons"]) == (False, False, "P1:gas", [])
    # Earliest deadline first; reported and escalated departments told apart.
    assert [(sm["department"], sm["acknowledged_at"] is not None, sm["escalated"]) for sm in one["summons"]] == [
        ("police", True, False), ("water", False, True)]
    assert one["summons"][1]["deadline_at"] == pytest.approx(NOW - 5200)
    # Without a time nothing is marked overdue (the caller did not say when "now" is).
    assert not any(i["overdue"] for i in compute_incidents(rows, counts)["items"])


def test_overdue_tickets_by_cell_are_kept_for_the_map() -> None:
    data = compute_hotline([], 5, NOW, overdue_cells={"r3c4": 4, "r1c1": 1, "r0c0": 0})
    assert data["overdue"] == 5 and data["overdue_by_cell"] == {"r1c1": 1, "r3c4": 4}
    assert compute_hotline([], 0, NOW)["overdue_by_cell"] == {}


def test_kpi_combines_the_other_aggregates_and_unit_counts() -> None:
    scenic = geo.places_of_type("scenic")[0]
    state = fold(new_state(), [reading("a", "gas", 30), spot(scenic.id, 80, 100), speed("road_changan", 10)])
    sensors = compute_sensors(state, [reg("a", "gas"), reg("b", "gas")], NOW)
    incidents = compute_incidents(
        [], {"open_by_severity": {"2": 3}, "open_by_state": {}, "overdue": 2, "today_by_category": {}}
    )
    hotline = compute_hotline([ticket(NOW - 3 * 3600, responded=NOW - 2.9 * 3600)], 0, NOW)
    kpi = compute_kpi(
        sensors,
        incidents,
        compute_traffic(state, NOW),
        hotline,
        compute_crowd(state),
        {"available": 5, "dispatched": 2},
    )
    assert (kpi["incidents_open"], kpi["incidents_overdue"]) == (3, 2)
    assert (kpi["units_available"], kpi["units_total"]) == (5, 7)
    assert (kpi["sensors_online"], kpi["sensors_total"], kpi["sensors_alarming"]) == (1, 2, 1)
    assert kpi["traffic_band"] == band_of(kpi["traffic_index"]) and kpi["traffic_index"] > 0
    assert kpi["hotline_today"] == 1 and kpi["response_rate"] == 1.0
    assert kpi["busiest_spot"] == scenic.id and kpi["busiest_spot_ratio"] == 0.8


def test_ticker_newest_first_capped_and_bilingual_without_ticket_updates() -> None:
    durable = [
        {"kind": c.INCIDENT, "ts": NOW - i, "severity": 1, "category": "fire", "title": f"t{i}", "subdistrict": SUB}
        for i in range(20)
    ]
    durable += [
        {"kind": c.HOTLINE_TICKET, "ts": NOW - 100 - i, "category": "noise", "subdistrict": SUB} for i in range(20)
    ]
    durable.append({"kind": c.HOTLINE_UPDATE, "ts": NOW + 1, "status": "responded"})
    alarms = [{"ts": NOW + 2, "id": "S1", "type": "cold_chain_temp", "value": -5.0, "sd": SUB}]
    items = compute_ticker(durable, alarms)["items"]
    assert len(items) == 30
    assert [i["ts"] for i in items] == sorted((i["ts"] for i in items), reverse=True)
    assert items[0]["kind"] == "sensor_alarm" and "冷链温度" in items[0]["text_zh"] and "°C" in items[0]["text_en"]
    assert items[1]["kind"] == c.INCIDENT and items[1]["severity"] == 1
    assert items[1]["text_zh"].startswith("【I级】") and items[1]["text_en"].startswith("[I] ")
    assert all(i["kind"] != c.HOTLINE_UPDATE for i in items)


# --- properties --------------------------------------------------------------------------------

_SIDS = [f"S{i}" for i in range(6)]
_CORRIDORS = [cor.id for cor in geo.corridors()][:4]
_SPOTS = [p.id for p in geo.places_of_type("scenic")][:3]


@st.composite
def telemetry_event(draw: st.DrawFn) -> dict[str, Any]:
    """Any telemetry event within a few hours before NOW."""
    ts = NOW - draw(st.integers(0, 4 * 3600))
    kind = draw(st.sampled_from([c.SENSOR_READING, c.TRAFFIC_SPEED, c.CROWD, c.PARKING]))
    if kind == c.SENSOR_READING:
        stype = draw(st.sampled_from(list(c.SENSOR_TYPES)))
        spec = c.SENSOR_TYPES[stype]
        value = draw(st.floats(float(spec["min"]), float(spec["max"]), allow_nan=False))
        return reading(draw(st.sampled_from(_SIDS)), stype, value, ts=ts)
    if kind == c.TRAFFIC_SPEED:
        return speed(draw(st.sampled_from(_CORRIDORS)), draw(st.floats(0, 120, allow_nan=False)), ts=ts)
    cap = draw(st.integers(1, 5000))
    if kind == c.CROWD:
        return spot(draw(st.sampled_from(_SPOTS)), draw(st.integers(0, 6000)), cap, ts=ts)
    return lot(draw(st.sampled_from(_SPOTS)), draw(st.integers(0, cap)), cap, ts=ts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(telemetry_event(), max_size=60), st.data())
def test_folding_in_two_chunks_equals_folding_all_at_once(events: list[dict[str, Any]], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(events)))
    once = fold(new_state(), events)
    twice = fold(fold(new_state(), events[:cut]), events[cut:])
    assert once == twice
    # Folding never mutates its input state.
    base = fold(new_state(), events[:cut])
    snapshot = repr(base)
    fold(base, events[cut:])
    assert repr(base) == snapshot


@settings(max_examples=100, deadline=None)
@given(st.lists(telemetry_event(), max_size=60), st.lists(st.sampled_from([*_SIDS, "X1", "X2"]), unique=True))
def test_sensor_state_counts_sum_to_total(events: list[dict[str, Any]], registered: list[str]) -> None:
    state = new_state()
    fold_into(state, events)
    data = compute_sensors(state, [reg(s, "pm25") for s in registered], NOW)
    assert sum(data["by_state"].values()) == data["total"] == sum(cell[3] for cell in data["bins"]["cells"])
    assert sum(sum(v.values()) for v in data["by_type"].values()) == data["total"]
    assert data["online"] == data["total"] - data["by_state"][c.STATE_SILENT]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-2 * 86_400, 0),
            st.sampled_from(c.HOTLINE_CATEGORIES),
            st.none() | st.integers(0, 6 * 3600),
            st.none() | st.booleans(),
        ),
        max_size=60,
    )
)
def test_hotline_breakdowns_sum_to_today_total(rows_spec: list[tuple[int, str, int | None, bool | None]]) -> None:
    rows = [
        ticket(NOW + off, category=cat, responded=None if r is None else min(NOW, NOW + off + r), satisfied=sat)
        for off, cat, r, sat in rows_spec
    ]
    data = compute_hotline(rows, 0, NOW)
    total = data["today_total"]
    assert sum(data["by_category"].values()) == total
    assert sum(data["by_subdistrict"].values()) == total
    assert sum(data["by_cell"].values()) == total
    assert sum(data["hourly"]) == total
    for rate in (data["response_rate"], data["resolution_rate"], data["satisfaction_rate"]):
        assert rate is None or 0.0 <= rate <= 1.0


def test_the_ticker_says_the_severity_reported_and_where_it_went_since() -> None:
    raised = {**incident_row(7, 1, NOW - 30), "reported_severity": 2, "title": "人群拥挤"}
    same = {**incident_row(8, 3, NOW - 20), "reported_severity": 3}
    before_the_column = incident_row(9, 4, NOW - 10)  # stored before incidents knew their reported severity
    items = compute_ticker([], [], [raised, same, before_the_column])["items"]
    line = next(i for i in items if "人群拥挤" in i["text_zh"])
    assert line["text_zh"].startswith("【II级→I级】") and line["text_en"].startswith("[II→I] ")
    assert line["severity"] == 1  # the mark shows the severity now
    texts = [i["text_zh"] for i in items]
    assert any(t.startswith("【III级】") for t in texts) and any(t.startswith("【IV级】") for t in texts)


def test_the_ticker_takes_incidents_from_sql_so_that_console_and_sensor_incidents_appear() -> None:
    rows = [{**incident_row(7, 2, NOW - 30), "title": "燃气告警", "source": "sensor-alarm"}]
    streamed = [{"kind": c.INCIDENT, "ts": NOW - 60, "severity": 3, "category": "fire", "title": "流中事件"},
                {"kind": c.HOTLINE_TICKET, "ts": NOW - 20, "category": "noise"}]
    items = compute_ticker(streamed, [], rows)["items"]
    assert [i["kind"] for i in items] == [c.HOTLINE_TICKET, c.INCIDENT]
    assert "燃气告警" in items[1]["text_zh"] and items[1]["ts"] == pytest.approx(NOW - 30)
    # Without SQL (the database away) the stream's incidents are shown instead.
    assert [i["text_zh"].endswith("流中事件") for i in compute_ticker(streamed, [], None)["items"]] == [False, True]
