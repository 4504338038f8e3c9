"""The early warning from the kept recent tickets (workers/early_warning/book.py) equals the warning computed afresh
from the ticket rows, over random streams of tickets with time moving forward (late arrivals, tickets dated ahead,
ties, a clock set back a little), and after the book is dropped and read again."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard.domain import geo
from dashboard.domain import rules as c
from workers import early_warning as ew
from workers.early_warning.book import TicketBook
from workers.early_warning.detector import compute_warnings_kept
from workers.early_warning.rules import LOOKBACK_S, cells_around, poisson_sf, poisson_sf_below
from workers.telemetry import fold_into, new_state

BJ = ZoneInfo("Asia/Shanghai")
# 22:30 on a working Wednesday in the heating season: the night-time construction ban holds.
T0 = datetime(2026, 12, 2, 22, 30, tzinfo=BJ).timestamp()
SUB = geo.subdistricts()[0]
LON, LAT = SUB.label
CELL = geo.grid_cell(LON, LAT)
# A block of neighbouring cells (bursts in cells and 2×2 blocks), a cell of another corner, and an id that is no cell.
CELLS = [*cells_around(CELL)[:6], "r00c00", "x"]
SUBS = [s.code for s in geo.subdistricts()[:3]]
CATS = ["noise", "heating", "market"]


@cache
def loud_state() -> dict[str, Any]:
    """A fold state with a loud pole in CELL at night: a sensor warning of noise that nearby tickets support."""
    state = new_state()
    for m in range(8):
        ts = T0 - 480 + m * 60
        fold_into(state, [{"event_id": f"n-{m}", "source": "t", "kind": c.SENSOR_READING, "ts": ts,
                           "sensor_id": "NP1", "sensor_type": "noise", "value": 80.0, "lon": LON, "lat": LAT,
                           "subdistrict": SUB.code, "cell": CELL}])  # fmt: skip
        ew.track(state, ts)
    return state


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[int, list[tuple[int, int, int, int]]]]:
    """Steps of (seconds on, new tickets as (category, cell, subdistrict, how late: seconds before now; < 0 ahead))."""
    steps = []
    for _ in range(draw(st.integers(1, 14))):
        dt = draw(st.one_of(st.integers(0, 1500), st.sampled_from([-20, 1, 1, 300, 600, 1800, 4000, 9000])))
        tickets = draw(st.lists(st.tuples(
            st.integers(0, len(CATS) - 1), st.integers(0, len(CELLS) - 1), st.integers(0, len(SUBS) - 1),
            st.one_of(st.integers(0, 10), st.sampled_from([-30, 0, 0, 0, 900, 1800, 2000, 3600, 4000, 25_000])),
        ), max_size=9))  # fmt: skip
        steps.append((dt, tickets))
    return steps


def _member(n: int, cat: str, sub: str, cell: str) -> str:
    return f"{n}|{cat}|{sub}|{cell}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.booleans(), st.integers(0, 13))
def test_the_kept_book_warns_exactly_as_the_rows_do_as_time_moves_on(
    steps: list[tuple[int, list[tuple[int, int, int, int]]]], sensor: bool, drop_at: int
) -> None:
    state = loud_state() if sensor else new_state()
    base = ew.learn_baseline([], T0)
    book = TicketBook()
    held: dict[str, float] = {}  # what Redis's recent set holds
    now = t = T0
    n = 0
    warned = 0
    for i, (dt, new) in enumerate(steps):
        now += dt
        t = max(t, now)  # the hotline state never goes back in time; the tick's own clock may
        for cat, cell, sub, late in new:
            n += 1
            member, ts = _member(n, CATS[cat], SUBS[sub], CELLS[cell]), float(now - late)
            if ts >= t - LOOKBACK_S:  # as workers/hotline_sync.py adds the changed tickets it reads
                held[member] = ts
                book.add(member, ts)
        held = {m: ts for m, ts in held.items() if ts >= t - LOOKBACK_S}
        book.trim(t - LOOKBACK_S)
        if i == drop_at:  # a new process: the book read again from Redis
            book = TicketBook()
            book.load(held.items())
        rows = sorted((ts, *m.split("|")[1:]) for m, ts in held.items())
        fresh = ew.compute_warnings(state, [(cat, sub, cell, ts) for ts, cat, sub, cell in rows], base, now)
        kept = compute_warnings_kept(state, book, base, now)
        assert kept == fresh, f"step {i} at {now - T0:.0f} s"
        assert book.rows(t) == [(cat, sub, cell, ts) for ts, cat, sub, cell in rows if ts <= t]
        warned += fresh["count"]
    event(f"warnings: {min(warned, 3)}+" if warned else "no warning")


def test_a_burst_in_a_block_of_cells_warns_from_the_book_as_from_the_rows() -> None:
    base = ew.learn_baseline([], T0)
    book = TicketBook()
    rows = []
    for k, cell in enumerate(cells_around(CELL)[:4] * 2):
        ts = T0 - 1500 + k * 120
        rows.append(("market", SUB.code, cell, ts))
        book.add(_member(k, "market", SUB.code, cell), ts)
    fresh = ew.compute_warnings(new_state(), sorted(rows, key=lambda r: (r[3], r[0], r[1], r[2])), base, T0)
    assert fresh["count"] >= 1
    assert compute_warnings_kept(new_state(), book, base, T0) == fresh
    # Hours later every ticket has left the windows: nothing warns, and the counts are empty again.
    later = T0 + 3 * 3600
    assert compute_warnings_kept(new_state(), book, base, later)["count"] == 0
    assert book.categories() == [] and all(not w.heap for w in book.windows.values())


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 80), st.floats(0, 100), st.sampled_from([ew.P_WARN, 1e-6, 1e-3, 0.3]))
def test_the_tail_below_a_limit_is_the_tail_when_below_it_and_none_otherwise(n: int, lam: float, limit: float) -> None:
    p = poisson_sf(n, lam)
    assert poisson_sf_below(n, lam, limit) == (p if p < limit else None)
