"""未诉先办: the early-warning score on hand-made cases, the baseline, and the tick writing the `warnings` aggregate."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import i18n, store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.events import validate_event
from dashboard.i18n.evidence import chance_words, ticket_figures, ticket_reason
from dashboard.live import aggregates, keys
from dashboard.live.schema import AGG_WARNINGS, WarningsData
from simulator.feed import Simulator
from workers import early_warning as ew
from workers import sensor_sync
from workers.telemetry import fold_into, new_state
from workers.tick import run_tick

BJ = ZoneInfo("Asia/Shanghai")
# A working Wednesday in the heating season.
WED = datetime(2026, 12, 2, tzinfo=BJ).timestamp()
SUB = geo.subdistricts()[0]
LON, LAT = SUB.label
CELL = geo.grid_cell(LON, LAT)


def bj(hour: float, day: float = WED) -> float:
    """Epoch seconds of a Beijing time of day."""
    return day + hour * 3600


def reading(sid: str, stype: str, value: float, ts: float, lon: float = LON, lat: float = LAT) -> dict[str, Any]:
    """A sensor reading as the validator hands it to the fold."""
    return {"event_id": f"{sid}-{ts}", "source": "t", "kind": c.SENSOR_READING, "ts": ts, "sensor_id": sid,
            "sensor_type": stype, "value": float(value), "lon": lon, "lat": lat,
            "subdistrict": geo.subdistrict_of(lon, lat), "cell": geo.grid_cell(lon, lat)}  # fmt: skip


def crowd(spot: str, count: int, capacity: int, ts: float) -> dict[str, Any]:
    """A crowd count as the validator hands it to the fold."""
    p = geo.place_by_id()[spot]
    return {"event_id": f"{spot}-{ts}", "source": "t", "kind": c.CROWD, "ts": ts, "spot_id": spot, "count": count,
            "capacity": capacity, "lon": p.lon, "lat": p.lat, "subdistrict": p.subdistrict,
            "cell": geo.grid_cell(p.lon, p.lat)}  # fmt: skip


def play(minutes: int, t0: float, emit: Any, tickets: list[tuple[Any, ...]] | None = None) -> list[WarningsData]:
    """Fold `emit(minute, ts)`'s events every 10 s for `minutes`, tracking and scoring each minute; the
    warnings of every minute."""
    state = new_state()
    base = ew.learn_baseline([], t0)
    out = []
    for m in range(minutes):
        for k in range(6):
            ts = t0 + m * 60 + k * 10
            fold_into(state, emit(m, ts))
        now = t0 + m * 60 + 59
        ew.track(state, now)
        out.append(ew.compute_warnings(state, tickets or [], base, now))
    return out


def points(n: int) -> list[tuple[float, float]]:
    """n points inside the district, spread out (far from one another)."""
    subs = geo.subdistricts()
    return [subs[(k * 5) % len(subs)].label for k in range(n)]


# --- small pieces ------------------------------------------------------------------------------------------------


def test_poisson_tail_is_exact_and_stays_accurate_far_out() -> None:
    def brute(n: int, lam: float) -> float:
        return 1 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(n))

    for n, lam in ((0, 1.0), (1, 0.5), (3, 2.0), (5, 5.0), (12, 3.0)):
        assert math.isclose(ew.poisson_sf(n, lam), brute(n, lam), rel_tol=1e-9, abs_tol=1e-15)
    # Far in the tail 1 - cdf would round to 0; the upward sum does not.
    assert 0 < ew.poisson_sf(8, 0.01) < 1e-20
    assert ew.poisson_sf(3, 0.0) == 0.0


def test_hour_of_week_starts_on_monday_midnight_beijing() -> None:
    monday = datetime(2026, 11, 30, tzinfo=BJ).timestamp()
    assert ew.hour_of_week(monday) == 0 and ew.hour_of_week(monday + 3599) == 0
    assert ew.hour_of_week(WED + 10 * 3600) == 2 * 24 + 10
    assert ew.hour_of_week(monday - 1) == 167


def test_cells_neighbours_and_centres_agree_with_the_grid() -> None:
    assert ew.near_cells("r05c05", "r06c04") and not ew.near_cells("r05c05", "r07c05")
    assert not ew.near_cells("r05c05", "") and ew.near_cells("r05c05", "r05c05")
    for cell in geo.grid_cells()[::17]:
        assert geo.grid_cell(*ew.cell_centre(cell)) == cell


def test_baseline_follows_the_rhythm_the_category_mix_and_the_place() -> None:
    now = bj(12)
    prior = ew.learn_baseline([], now)
    assert prior["tickets"] == 0
    assert math.isclose(sum(prior["hourly"]) / 7, ew.PRIOR_TICKETS_PER_DAY * 5.6 / 6.2, rel_tol=0.2)
    busy, night = prior["hourly"][2 * 24 + 10], prior["hourly"][2 * 24 + 3]
    assert busy > 20 * night
    # Two weeks in which one cell files a heating ticket every hour and the district nothing else.
    rows = [(CELL, SUB.code, "heating", now - k * 3600 - 60) for k in range(14 * 24)]
    base = ew.learn_baseline(rows, now)
    assert base["tickets"] == len(rows) and 13.9 <= base["days"] <= 14.1
    assert base["cat"]["heating"] > 0.8
    here = ew.expected(base, "cell", [CELL], "heating", now - 3600, now)
    elsewhere = ew.expected(base, "cell", [geo.grid_cells()[0]], "heating", now - 3600, now)
    assert 0.5 < here < 1.5 and elsewhere < here / 20
    assert ew.expected(base, "sub", [SUB.code], "heating", now - 3600, now) > here * 0.9


# --- the score on hand-made cases ---------------------------------------------------------------------------------


def test_a_burst_of_tickets_above_the_baseline_warns() -> None:
    now = bj(10.5)
    base = ew.learn_baseline([], now)
    burst = [("heating", SUB.code, CELL, now - 1500 + k * 300) for k in range(5)]
    data = ew.compute_warnings(new_state(), burst, base, now)
    assert data["count"] == 1
    w = data["warnings"][0]
    assert (w["level"], w["cell"], w["subdistrict"], w["kind"], w["category"]) == (
        "cell", CELL, SUB.code, "heating", "heating")
    assert w["id"] == f"heating:{CELL}:{int((now - 1500) // 60)}" and w["since"] == now - 1500
    assert 0 < w["score"] <= 1 and geo.grid_cell(w["lon"], w["lat"]) == CELL
    assert "供暖" in w["reasons_zh"][0] and "heating" in w["reasons_en"][0]
    assert w["evidence"][0]["observed"] == 5 and w["evidence"][0]["p"] < ew.P_WARN
    # Two tickets are no burst; the same five spread over a day are none either.
    assert ew.compute_warnings(new_state(), burst[:2], base, now)["count"] == 0
    spread = [("heating", SUB.code, CELL, now - k * 4 * 3600) for k in range(5)]
    assert ew.compute_warnings(new_state(), spread, base, now)["count"] == 0
    # A burst of another category is a burst of complaints.
    other = [(cat, *rest) for _, *rest in burst for cat in ("market",)]
    assert ew.compute_warnings(new_state(), other, base, now)["warnings"][0]["kind"] == "complaints"


JARGON = ("泊松", "置信", "尾概率", "Poisson", "tail", "confidence", "e-0")


def test_a_burst_is_said_in_plain_words_and_its_exact_figures_are_kept_for_the_tooltip() -> None:
    now = bj(10.5)
    burst = [("heating", SUB.code, CELL, now - 1500 + k * 300) for k in range(5)]
    [w] = ew.compute_warnings(new_state(), burst, ew.learn_baseline([], now), now)["warnings"]
    [ev] = w["evidence"]
    zh, en = w["reasons_zh"][0], w["reasons_en"][0]
    assert not [word for word in JARGON if word in zh + en], (zh, en)
    # How many, in what window, what is usual (in whole tickets) and how unlikely by chance, in words.
    assert zh.startswith(f"近 {ev['window_min']} 分钟本网格供暖") and "诉求 5 件，平时" in zh, zh
    assert zh.endswith(i18n.t("warn.chance_unlikely", "zh")) or zh.endswith(i18n.t("warn.chance_none", "zh")), zh
    assert en.startswith("5 heating tickets in this grid cell in the last ") and " usual — " in en, en
    # The precise figures stay in the evidence, and the tooltip says them.
    assert ev["observed"] == 5 and ev["expected"] > 0 and ev["p"] < ew.P_WARN
    figures = ticket_figures(ev, "zh")
    assert figures is not None and f"{ev['p']:.1e}" in figures and "5 件" in figures and "泊松" in figures
    assert ticket_figures({"type": "sensor"}, "en") is None and ticket_figures({"type": "tickets"}, "en") is None


@pytest.mark.parametrize(("p", "key"), [(1e-9, "warn.chance_none"), (1e-6, "warn.chance_unlikely"),
                                        (0.01, "warn.chance_rare"), (0.3, "warn.chance_usual")])
def test_how_unlikely_a_count_is_by_chance_is_said_in_words(p: float, key: str) -> None:
    for lang in ("zh", "en"):
        assert chance_words(p, lang) == i18n.t(key, lang)


@pytest.mark.parametrize(("observed", "expected", "minutes", "zh", "en"), [
    (12, 2.6, 120, "近 2 小时东四噪声扰民诉求 12 件，平时约 3 件",
     "12 noise tickets in Dongsi in the last 2 hours, where about 3 are usual"),
    (1, 0.2, 30, "近 30 分钟东四噪声扰民诉求 1 件，平时这段时间几乎没有",
     "1 noise ticket in Dongsi in the last 30 min, where almost none are usual"),
    (3, 1.2, 60, "近 1 小时东四噪声扰民诉求 3 件，平时约 1 件",
     "3 noise tickets in Dongsi in the last hour, where about 1 is usual"),
])
def test_a_ticket_count_reads_as_a_sentence_in_both_languages(
    observed: int, expected: float, minutes: int, zh: str, en: str
) -> None:
    ev = {"type": "tickets", "category": "noise", "observed": observed, "expected": expected, "window_min": minutes,
          "p": 0.5}
    assert ticket_reason(ev, "东四", "zh") == f"{zh}——{i18n.t('warn.chance_usual', 'zh')}"
    assert ticket_reason(ev, "in Dongsi", "en") == f"{en} — {i18n.t('warn.chance_usual', 'en')}"


@cache
def simulated_tickets() -> list[tuple[Any, ...]]:
    """Three weeks of the simulator's everyday tickets (no episodes) up to Wednesday 10:40, as SQL rows."""
    sim = Simulator(7, 50, episodes_per_day=0)
    now = bj(10 + 40 / 60)
    out = []
    for raw in sim.durable_events(now - 21 * 86_400, now):
        if raw["kind"] == c.HOTLINE_TICKET:
            ev, _ = validate_event(raw, now)
            assert ev is not None
            out.append((ev["category"], ev["subdistrict"], ev["cell"], ev["ts"]))
    return out


def test_the_usual_rhythm_at_a_busy_hour_does_not_warn() -> None:
    rows = simulated_tickets()
    base = ew.learn_baseline([(cell, sub, cat, ts) for cat, sub, cell, ts in rows], bj(0))
    for minutes in range(0, 100, 20):
        now = bj(9) + minutes * 60  # 09:00–10:40, the morning peak
        recent = [r for r in rows if now - 6 * 3600 <= r[3] <= now]
        assert sum(1 for r in recent if r[3] >= now - 3600) > 30  # it is busy
        assert ew.compute_warnings(new_state(), recent, base, now)["count"] == 0


def test_a_rising_water_gauge_warns_before_any_ticket_and_keeps_its_id() -> None:
    (gx, gy), (ox, oy), (qx, qy) = points(3)
    t0 = bj(14)

    def emit(m: int, ts: float) -> list[dict[str, Any]]:
        level = max(0.0, (m - 20) * 1.0)
        return [reading("G1", "water_level", level, ts, gx, gy), reading("G2", "water_level", 0.0, ts, ox, oy),
                reading("G3", "water_level", 0.0, ts, qx, qy)]  # fmt: skip

    minutes = play(40, t0, emit)
    assert all(d["count"] == 0 for d in minutes[:22])  # dry, then under 2 cm
    first = minutes[22]["warnings"]
    assert len(first) == 1
    w = first[0]
    assert (w["kind"], w["category"], w["cell"]) == ("water_main", "public_service", geo.grid_cell(gx, gy))
    assert "积水监测 G1" in w["reasons_zh"][0] and "not rain" in w["reasons_en"][1]
    assert all(d["warnings"][0]["id"] == w["id"] for d in minutes[22:])
    assert minutes[-1]["warnings"][0]["score"] > w["score"]  # deeper water, surer


def test_rain_on_every_gauge_is_no_burst_main() -> None:
    pts = points(3)

    def emit(m: int, ts: float) -> list[dict[str, Any]]:
        # Rain wets every gauge at once, each as deep as its spot is low.
        return [reading(f"G{k}", "water_level", max(0.0, (m - 10) * f), ts, *pt)
                for k, (f, pt) in enumerate(zip((1.5, 1.0, 0.6), pts, strict=True))]  # fmt: skip

    assert all(d["count"] == 0 for d in play(40, bj(14), emit))


def test_night_construction_noise_warns_and_unrelated_noise_does_not() -> None:
    def loud(m: int, ts: float) -> list[dict[str, Any]]:
        return [reading("N1", "noise", 82.0 if m >= 5 else 45.0, ts)]

    night = play(15, bj(23), loud)
    assert all(d["count"] == 0 for d in night[:8])  # loud from minute 5, sustained 3 min
    w = night[8]["warnings"][0]
    assert (w["kind"], w["category"], w["cell"]) == ("noise", "noise", CELL)
    assert "22:00–06:00" in w["reasons_zh"][0]
    # The same machines by day, a horn at night, a pole a little loud all night: nothing.
    assert all(d["count"] == 0 for d in play(15, bj(14), loud))

    def horn(m: int, ts: float) -> list[dict[str, Any]]:
        return [reading("N1", "noise", 85.0 if (m, ts % 60) == (6, 20) else 48.0, ts)]

    assert all(d["count"] == 0 for d in play(15, bj(1), horn))

    def humming(m: int, ts: float) -> list[dict[str, Any]]:
        return [reading("N1", "noise", 68.0, ts)]

    assert all(d["count"] == 0 for d in play(15, bj(1), humming))


def test_noise_tickets_near_a_loud_pole_support_it_instead_of_warning_twice() -> None:
    t0 = bj(23)
    calls = [("noise", SUB.code, CELL, t0 + 600 + k * 60) for k in range(4)]

    def loud(m: int, ts: float) -> list[dict[str, Any]]:
        return [reading("N1", "noise", 84.0, ts)]

    last = play(16, t0, loud, calls)[-1]
    assert last["count"] == 1
    w = last["warnings"][0]
    assert w["kind"] == "noise" and [e["type"] for e in w["evidence"]] == ["sensor", "tickets"]
    assert w["evidence"][1]["observed"] == 4


def test_a_crowd_surge_warns_and_the_opening_ramp_does_not() -> None:
    spot = "poi_011"

    def surge(m: int, ts: float) -> list[dict[str, Any]]:
        ratio = 0.4 + (min(1.0, max(0.0, (m - 25) / 10)) * 0.35)
        return [crowd(spot, round(30000 * ratio), 30000, ts)]

    minutes = play(45, bj(11), surge)
    warned = [k for k, d in enumerate(minutes) if d["count"]]
    assert warned and 28 <= warned[0] <= 34
    w = minutes[warned[0]]["warnings"][0]
    assert (w["kind"], w["category"]) == ("crowd", "parking_traffic") and "故宫" in w["reasons_zh"][0]

    def ramp(m: int, ts: float) -> list[dict[str, Any]]:
        return [crowd(spot, round(30000 * (0.1 + 0.45 * m / 90)), 30000, ts)]  # 09:00–10:30 opening

    assert all(d["count"] == 0 for d in play(90, bj(9), ramp))


def test_a_subdistrict_warns_only_where_no_cell_of_it_does() -> None:
    now = bj(10.5)
    base = ew.learn_baseline([], now)
    code, cells = _apart_cells()
    # Two tickets in each of several cells of one subdistrict, no two cells in one 2×2 block: no cell stands out,
    # the subdistrict does.
    spread = [("sanitation", code, cells[k % len(cells)], now - 1700 + k * 60) for k in range(2 * len(cells))]
    data = ew.compute_warnings(new_state(), spread, base, now)
    assert [w["level"] for w in data["warnings"]] == ["subdistrict"]
    w = data["warnings"][0]
    assert w["cell"] is None and w["subdistrict"] == code and w["id"].startswith(f"complaints:{code}:")
    assert (w["lon"], w["lat"]) == geo.subdistrict_by_code()[code].label
    # Once one cell has a burst of its own, that cell warns and the subdistrict does not.
    hot = spread + [("sanitation", code, cells[0], now - 100 + k) for k in range(3)]
    assert [w["level"] for w in ew.compute_warnings(new_state(), hot, base, now)["warnings"]] == ["cell"]


def _apart_cells() -> tuple[str, list[str]]:
    """The subdistrict with most grid cells and six of its cells, no two of them neighbours."""
    by_sub: dict[str, list[str]] = {}
    for cell in geo.grid_cells():
        code = geo.subdistrict_of(*ew.cell_centre(cell))
        if code is not None:
            by_sub.setdefault(code, []).append(cell)
    code = max(by_sub, key=lambda k: len(by_sub[k]))
    chosen: list[str] = []
    for cell in by_sub[code]:
        if all(not ew.near_cells(cell, x) for x in chosen):
            chosen.append(cell)
    assert len(chosen) >= 6
    return code, chosen[:6]


# --- the tick writes the aggregate, the job the baseline -------------------------------------------------------------


def test_the_tick_writes_the_warnings_aggregate_and_the_job_the_baseline(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    events = []
    # Three tickets of the day before (the baseline's), six heating tickets in one cell within 20 minutes.
    for k in range(9):
        ts, cat = (now - 86_400 - k * 600, "market") if k >= 6 else (now - 1200 + k * 120, "heating")
        raw = {"event_id": f"ew-{k}", "source": "t", "kind": c.HOTLINE_TICKET, "ts": _iso(ts), "ticket_id": f"EW{k}",
               "category": cat, "lon": LON + 0.0003 * (k % 2), "lat": LAT}  # fmt: skip
        ev, rej = validate_event(raw, now)
        assert rej is None and ev is not None
        events.append(ev)
    with sessions.begin() as s:
        store.durable.store_durable(s, events)

    assert run_tick(r, sessions, now)["status"] == "ok"
    env = aggregates.read_aggregates(r, [AGG_WARNINGS])[AGG_WARNINGS]
    assert env is not None and env["computed_at"] == now
    data = env["data"]
    assert data["count"] >= 1
    w = data["warnings"][0]
    assert (w["kind"], w["category"], w["cell"]) == ("heating", "heating", CELL)
    assert set(w) >= {"id", "level", "cell", "subdistrict", "lon", "lat", "kind", "category", "score", "since",
                      "reasons_zh", "reasons_en"}  # fmt: skip
    state = json.loads(r.get(keys.TELEMETRY_STATE) or "{}")["state"]
    assert state["ew"]["v"] == ew.TRACK_VERSION  # the trends ride in the fold state

    result = ew.run_baseline(r, sessions, now)
    # Learned from what came before the last hours only: the burst is not its own norm.
    assert result == {"status": "ok", "tickets": 3, "days": result["days"]}
    base = ew.load_baseline(r)
    assert base is not None and base["tickets"] == 3 and (r.ttl(keys.WARNINGS_BASELINE) or 0) > 0
    assert run_tick(r, sessions, now + 1)["status"] == "ok"  # and the tick reads it back
    env = aggregates.read_aggregates(r, [AGG_WARNINGS])[AGG_WARNINGS]
    assert env is not None and env["data"]["warnings"][0]["id"] == w["id"]


def test_the_ticks_warnings_are_the_same_from_the_kept_tickets_after_a_new_process_and_after_redis_lost_the_state(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    now = time.time()
    events = []
    for k in range(8):  # a burst of heating tickets in one cell, and market tickets spread over the district
        ts, cat, (lon, lat) = (now - 1500 + k * 150, "heating", (LON, LAT)) if k < 5 else (
            now - 3000 * k, "market", points(8)[k])
        raw = {"event_id": f"kb-{k}", "source": "t", "kind": c.HOTLINE_TICKET, "ts": _iso(ts), "ticket_id": f"KB{k}",
               "category": cat, "lon": lon, "lat": lat}  # fmt: skip
        ev, rej = validate_event(raw, now)
        assert rej is None and ev is not None
        events.append(ev)
    with sessions.begin() as s:
        store.durable.store_durable(s, events)
    ew.run_baseline(r, sessions, now)

    def warnings_at(t: float) -> list[Any]:
        assert run_tick(r, sessions, t)["status"] == "ok"
        env = aggregates.read_aggregates(r, [AGG_WARNINGS])[AGG_WARNINGS]
        assert env is not None and env["computed_at"] == t
        return [{k: v for k, v in w.items() if k != "reasons_zh"} for w in env["data"]["warnings"]]

    first = warnings_at(now)
    assert [w["category"] for w in first] == ["heating"]
    assert _same_warnings(warnings_at(now + 1), first)  # kept in this process
    book = sensor_sync.ticket_book()
    assert len(book) == 8 and book.mirrors is not None and book.mirrors[1] == now + 1
    before = sensor_sync.swap(sensor_sync.Kept())  # a new process takes the ticks: read again from Redis
    try:
        assert _same_warnings(warnings_at(now + 2), first)
        assert sensor_sync.ticket_book() is not book and len(sensor_sync.ticket_book()) == 8
        r.delete(keys.HOTLINE_STATE)  # the hotline state lost: rebuilt from SQL
        assert _same_warnings(warnings_at(now + 3), first)
        assert _same_warnings(warnings_at(now + 4), first)
    finally:
        sensor_sync.swap(before)


def _same_warnings(got: list[Any], want: list[Any]) -> bool:
    """The same warnings, their tail probabilities within 2 %: a second later the window holds a second more."""

    def without_p(ws: list[Any]) -> list[Any]:
        return [{**w, "evidence": [{k: v for k, v in e.items() if k != "p"} for e in w["evidence"]]} for w in ws]

    def ps(ws: list[Any]) -> list[float]:
        return [e["p"] for w in ws for e in w["evidence"]]

    return without_p(got) == without_p(want) and ps(got) == pytest.approx(ps(want), rel=0.02)


def _iso(ts: float) -> str:
    """ISO-8601 with a zone."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_a_heat_station_whose_supply_water_falls_warns_of_heating_before_any_ticket() -> None:
    (hx, hy), (ox, oy) = points(2)
    t0 = bj(7)

    def emit(m: int, ts: float) -> list[dict[str, Any]]:
        # A failing exchanger from minute 20: its supply water cools by 0.7 °C a minute from 56 °C to 36 °C;
        # the other station stays at its usual 54 °C with a little noise.
        supply = 56.0 - max(0.0, min(20.0, (m - 20) * 0.7))
        return [reading("HS1", "heat_supply_temp", supply, ts, hx, hy),
                reading("HS2", "heat_supply_temp", 54.0 + (0.4 if m % 2 else -0.4), ts, ox, oy)]  # fmt: skip

    minutes = play(70, t0, emit)
    assert all(d["count"] == 0 for d in minutes[:25])  # steady, then only 3.5 °C lower
    first_at = next(m for m, d in enumerate(minutes) if d["count"])
    assert first_at <= 32  # 6 °C within 20 min: about 9 minutes into the fall
    w = minutes[first_at]["warnings"][0]
    assert (w["kind"], w["category"], w["cell"]) == ("heating", "heating", geo.grid_cell(hx, hy))
    assert "换热站 HS1 供水温度降至" in w["reasons_zh"][0] and "heat-exchange station HS1" in w["reasons_en"][0]
    assert w["evidence"][0]["sensor_type"] == "heat_supply_temp"
    # The warning keeps its id while the supply stays low; the healthy station never warns.
    assert all([x["id"] for x in d["warnings"]] == [w["id"]] for d in minutes[first_at:])


def test_steady_low_supply_out_of_the_heating_season_does_not_warn() -> None:
    (hx, hy), = points(1)
    july = datetime(2026, 7, 1, tzinfo=BJ).timestamp()

    def off_season(m: int, ts: float) -> list[dict[str, Any]]:
        # The loop is off: the station reads about the air temperature, even a sudden drop (a cold shower).
        return [reading("HS1", "heat_supply_temp", 24.0 if m < 20 else 14.0, ts, hx, hy)]

    assert all(d["count"] == 0 for d in play(60, bj(10, july), off_season))

    def steady_low(m: int, ts: float) -> list[dict[str, Any]]:
        # In season, a station that has run low for hours is known already: no new fall, no warning.
        return [reading("HS1", "heat_supply_temp", 40.0 + (0.3 if m % 3 else 0.0), ts, hx, hy)]

    assert all(d["count"] == 0 for d in play(60, bj(10), steady_low))
