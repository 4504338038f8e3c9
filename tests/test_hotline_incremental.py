"""The hotline aggregate kept from the changes equals the full recomputation from SQL: the counters' arithmetic against
compute_hotline on random tickets (hypothesis), and the tick's state over a simulated day of changes (new tickets,
updates, links into cases, splits, deadlines passing, a new day) checked against SQL after every step and after Redis
is emptied."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import day_start
from dashboard.live import keys
from dashboard.store.models import CaseLink, HotlineTicket
from workers import hotline_counts as hc
from workers import hotline_sync
from workers.early_warning import LOOKBACK_S, compute_warnings, learn_baseline
from workers.early_warning.book import TicketBook
from workers.early_warning.detector import compute_warnings_kept
from workers.hotline import compute_hotline
from workers.telemetry import new_state

# A Beijing day (2026-12-07) at 08:00 local time.
DAY0 = day_start(datetime(2026, 12, 7, 0, 0, tzinfo=UTC).timestamp())
START = DAY0 + 8 * 3600
SUBS = [s.code for s in geo.subdistricts()][:4]
CELLS = ["r01c01", "r01c02", "r02c01", "r03c03", "r05c04"]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- the counters' arithmetic ------------------------------------------------------------------------------------


@st.composite
def ticket_rows(draw: st.DrawFn) -> tuple[Any, ...]:
    received = draw(st.floats(DAY0 - 2 * 86_400, DAY0 + 1.2 * 86_400))
    deadline = received + draw(st.sampled_from([3600.0, 4 * 3600.0, 86_400.0]))
    responded = draw(st.one_of(st.none(), st.floats(received, received + 4 * 3600)))
    resolved = draw(st.one_of(st.none(), st.floats(received, received + 30 * 3600)))
    satisfied = draw(st.one_of(st.none(), st.booleans()))
    case_id = draw(st.one_of(st.none(), st.integers(1, 6)))
    return (
        draw(st.sampled_from(c.HOTLINE_CATEGORIES[:4])), draw(st.sampled_from(SUBS)), draw(st.sampled_from(CELLS)),
        _dt(received), _dt(deadline), None if responded is None else _dt(responded),
        None if resolved is None else _dt(resolved), satisfied, case_id,
    )  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ticket_rows(), max_size=40), st.floats(DAY0, DAY0 + 86_399), st.floats(0, 86_400))
def test_counters_give_compute_hotlines_figures_and_follow_time(rows: list[Any], now: float, later: float) -> None:
    today0 = day_start(now)
    since = today0 - 86_400
    rows = [row for row in rows if row[3].timestamp() >= since]  # what tickets_since(query_since(now)) returns
    records = [hc.record_of(row) for row in rows]
    counts, _ = hc.build(records, today0, now)
    assert hc.figures(counts, {"r01c01": 2}) == compute_hotline(rows, 2, now, overdue_cells={"r01c01": 2})
    # Later the same day: only the tickets whose instant passed change their part.
    t = min(now + later, today0 + 86_399)
    for rec in records:
        wake = hc.next_wake(rec, today0, now)
        if wake is None or wake > t:
            assert sorted(hc.contribution(rec, today0, t)) == sorted(hc.contribution(rec, today0, now))
        else:
            hc.add(counts, hc.contribution(rec, today0, now), -1)
            hc.add(counts, hc.contribution(rec, today0, t), 1)
    assert hc.figures(counts, {}) == compute_hotline(rows, 0, t, overdue_cells={})


# --- a simulated day against SQL ---------------------------------------------------------------------------------


class Day:
    """A seeded day of hotline changes written through the store, as the ingest, the linker and the dispatchers do."""

    def __init__(self, sessions: sessionmaker[Session], seed: int) -> None:
        self.sessions = sessions
        self.rng = random.Random(seed)
        self.tickets: list[str] = []
        self.links: list[int] = []
        self.n = 0

    def ticket(self, ts: float) -> None:
        rng = self.rng
        self.n += 1
        tid = f"T{self.n:05d}"
        ev = {"kind": c.HOTLINE_TICKET, "source": "sim", "ticket_id": tid, "summary": "x", "lon": 116.4, "lat": 39.9,
              "category": rng.choice(c.HOTLINE_CATEGORIES[:5]), "subdistrict": rng.choice(SUBS),
              "cell": rng.choice(CELLS), "ts": ts}  # fmt: skip
        with self.sessions.begin() as s:
            store.tickets.insert_ticket(s, ev)
        self.tickets.append(tid)

    def update(self, ts: float) -> None:
        if not self.tickets:
            return
        status = self.rng.choice(["responded", "resolved", "closed"])
        ev = {"source": "sim", "ticket_id": self.rng.choice(self.tickets), "status": status, "ts": ts,
              "satisfied": self.rng.choice([True, False, None]) if status == "closed" else None}  # fmt: skip
        with self.sessions.begin() as s:
            store.tickets.update_ticket(s, ev)

    def link(self, ts: float) -> None:
        if len(self.tickets) < 2:
            return
        a, b = self.rng.sample(self.tickets, 2)
        with self.sessions.begin() as s:
            ids = _ids(s, [a, b])
            if len(ids) < 2 or _linked(s, ids.values()):
                return
            case = store.cases.add_case(s, f"ticket:{ids[a]}", "noise", SUBS[0], CELLS[0], 116.4, 39.9, _dt(ts),
                                        _dt(ts), _dt(ts))  # fmt: skip
            for tid in (a, b):
                store.cases.add_link(s, case.id, ids[tid], "ticket", str(ids[a]), "near", {"rule": "near"}, _dt(ts))
            s.flush()
            self.links += [ln.id for ln in s.query(CaseLink).filter(CaseLink.case_id == case.id)]

    def split(self, ts: float) -> None:
        if not self.links:
            return
        link_id = self.links.pop(self.rng.randrange(len(self.links)))
        with self.sessions.begin() as s:
            link = s.get(CaseLink, link_id)
            assert link is not None
            s.execute(update(CaseLink).where(CaseLink.id == link_id).values(decision="split", decided_at=_dt(ts)))
            store.cases.touch_ticket(s, link.ticket_id)

    def change(self, now: float) -> None:
        """One random change at simulated time `now`."""
        roll = self.rng.random()
        if roll < 0.45:
            # Mostly received now; a few late arrivals of yesterday's or earlier, a few dated later today.
            self.ticket(now - self.rng.choice([0, 0, 0, 30, 3600, 86_400 + 60, 3 * 86_400]))
        elif roll < 0.8:
            self.update(now)
        elif roll < 0.92:
            self.link(now)
        else:
            self.split(now)


def _ids(s: Session, tids: list[str]) -> dict[str, int]:
    rows = s.execute(select(HotlineTicket.ticket_id, HotlineTicket.id).where(HotlineTicket.ticket_id.in_(tids)))
    return {str(t): int(i) for t, i in rows}


def _linked(s: Session, ids: Any) -> bool:
    return s.query(CaseLink).filter(CaseLink.ticket_id.in_(list(ids))).count() > 0


def tick(r: redis.Redis, sessions: sessionmaker[Session], now: float) -> hotline_sync.Step:
    """The hotline part of one tick, its writes applied as the tick applies them."""
    doc = hotline_sync.load_doc(r)
    with sessions() as s:
        step = hotline_sync.advance(r, s, now, doc)
    with r.pipeline(transaction=True) as pipe:
        step.apply(pipe)
        pipe.execute()
    return step


def full(sessions: sessionmaker[Session], now: float) -> Any:
    with sessions() as s:
        return hotline_sync.full_figures(s, now)


def recent(sessions: sessionmaker[Session], now: float) -> list[tuple[str, str, str, float]]:
    """The early warning's recent tickets as SQL has them."""
    with sessions() as s:
        rows = store.tickets.recent_tickets(s, _dt(now - LOOKBACK_S))
    return [(cat, sub, cell, at.timestamp()) for cat, sub, cell, at in rows if at.timestamp() <= now]


def test_a_simulated_day_of_changes_matches_sql_at_every_step_and_after_a_flush(
    r: redis.Redis, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No overlap: every change must be found through the cursor alone (an overlap only reads changes again).
    monkeypatch.setattr(hotline_sync, "CURSOR_LAG_S", 0.0)
    day = Day(sessions, seed=14)
    for k in range(30):  # yesterday's and older tickets, some never resolved (overdue)
        day.ticket(START - 86_400 * (1 + k % 3) + 600 * k)
    now = START
    step = tick(r, sessions, now)
    assert step.rebuilt == "missing"
    rebuilt: list[str | None] = []
    checks: list[str | None] = []
    for i in range(90):
        # Seconds to minutes between ticks, and the evening's quiet hours at the end: past midnight into a new day.
        now += day.rng.choice([1, 1, 5, 30, 120, 600]) if i < 78 else 5400
        for _ in range(day.rng.choice([0, 1, 2, 3, 5])):
            day.change(now)
        if i == 60:
            r.flushdb()  # Redis emptied: the next tick rebuilds from SQL
        step = tick(r, sessions, now)
        rebuilt.append(step.rebuilt)
        checks.append(step.check)
        if i % 2 or step.rebuilt or step.check:  # every other tick, and every rebuild and check
            assert step.hotline == full(sessions, now), f"step {i} at {now - DAY0:.0f} s into the day"
            # (SQL gives no order among tickets received at the same time, and the early warning needs none)
            assert sorted(step.recent) == sorted(recent(sessions, now)), f"step {i}: the recent tickets"
    assert rebuilt.count("missing") == 1 and rebuilt[60] == "missing"
    assert "new day" in rebuilt and now > DAY0 + 86_400
    assert "equal" in checks and "differed" not in checks
    assert sum(1 for x in rebuilt if x is None) > 80  # almost every tick was incremental
    assert day.n > 60


def test_a_missed_change_is_found_by_the_check_logged_and_adopted(
    r: redis.Redis, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    day = Day(sessions, seed=3)
    day.ticket(START - 60)
    tick(r, sessions, START)
    # A ticket written behind the tick's back (its updated_at before the cursor): only the check can see it.
    day.ticket(START)
    with sessions.begin() as s:
        s.execute(update(HotlineTicket).values(updated_at=_dt(START - 86_400)))
    step = tick(r, sessions, START + 1)
    assert step.hotline["today_total"] == 1 and step.check is None
    step = tick(r, sessions, START + hotline_sync.CHECK_EVERY_S + 1)
    assert step.check == "differed" and step.rebuilt == "check"
    assert step.hotline["today_total"] == 2 == full(sessions, START + hotline_sync.CHECK_EVERY_S + 1)["today_total"]
    assert "differ from SQL's in by_category" in caplog.text
    assert r.exists(keys.HOTLINE_STATE)


def test_tickets_read_within_the_cursors_lag_are_loaded_again_only_when_they_change_again(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    # Every ticket here is stamped within the last seconds (real time), so all of them are inside the lag's window.
    day = Day(sessions, seed=5)
    for k in range(20):
        day.ticket(START - 60 * k)
    assert tick(r, sessions, START).rebuilt == "missing"
    assert tick(r, sessions, START + 1).changes == 0  # the rebuild read them all: none is loaded again
    day.update(START + 2)
    step = tick(r, sessions, START + 2)
    assert step.changes == 1 and step.hotline == full(sessions, START + 2)
    assert tick(r, sessions, START + 3).changes == 0
    # Without the seen set every ticket in the window is loaded again, and the figures do not move.
    r.delete(keys.HOTLINE_SEEN)
    step = tick(r, sessions, START + 4)
    assert step.changes == 20 and step.hotline == full(sessions, START + 4)
    assert tick(r, sessions, START + 5).changes == 0


def test_the_kept_recent_tickets_follow_sql_and_are_read_again_only_when_they_cannot_be_vouched_for(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    day = Day(sessions, seed=21)
    base = learn_baseline([], START)
    book = TicketBook()

    def kept_tick(now: float) -> bool:
        """One tick of this process with its book, committed as the tick commits it; True when the book was read
        again (it did not mirror the state in Redis)."""
        doc = hotline_sync.load_doc(r)
        vouched = doc is not None and book.mirrors == (doc.get("gen"), doc["at"])
        with sessions() as s:
            step = hotline_sync.advance(r, s, now, doc, book)
        with r.pipeline(transaction=True) as pipe:
            step.apply(pipe)
            pipe.execute()
        book.committed()
        rows = sorted(recent(sessions, now), key=lambda x: (x[3], x[0], x[1], x[2]))
        assert step.recent == rows
        assert compute_warnings_kept(new_state(), book, base, now) == compute_warnings(new_state(), rows, base, now)
        return not vouched

    now = START
    kept_tick(now)
    read_again: list[int] = []
    for i in range(60):
        now += day.rng.choice([1, 5, 30, 120, 600])
        for _ in range(day.rng.choice([1, 2, 3, 5])):
            day.ticket(now - day.rng.choice([0, 0, 0, 5, 900]))
            day.change(now)
        if i == 20:
            book = TicketBook()  # a new process takes the ticks
        if i == 30:
            tick(r, sessions, now - 0.5)  # another process ticked in between
        if i == 45:
            r.flushdb()  # Redis emptied: rebuilt from SQL, in a new generation
        if kept_tick(now):
            read_again.append(i)
    assert read_again == [20, 30, 45]
    assert day.n > 60
