"""The tick's SQL reads what it needs through indexes, never a whole table of tickets or incidents (which grow
without bound: a year of history is a million rows): the plans of every statement query_sql runs, on SQLite with
the planner's statistics of a store where almost every incident is closed, and on PostgreSQL with sequential
scans disfavoured (its planner scans tiny tables whole, which says nothing about the large ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from bench.dataset import INCIDENTS, TICKETS
from bench.tick_sql import query_plans
from dashboard.store.models import Base
from workers.early_warning import load_baseline

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
HISTORY = 3000


def _history(engine: Engine) -> None:
    """A year of closed incidents and resolved tickets, a few open ones, and the planner's statistics."""
    incidents: list[dict[str, Any]] = []
    tickets: list[dict[str, Any]] = []
    for k in range(HISTORY):
        at = NOW - timedelta(hours=3 * k)
        done = k >= 5
        incidents.append({
            "source": "t", "external_id": f"i{k}", "category": "fire", "severity": 1 + k % 4, "title": "x",
            "state": "closed" if done else "new", "lon": 116.4, "lat": 39.9, "subdistrict": "dhm", "cell": "r01c01",
            "reported_at": at, "created_at": at, "updated_at": at, "deadline_at": at + timedelta(minutes=30),
            "resolved_at": at + timedelta(minutes=20) if done else None, "version": 0,
        })
        tickets.append({
            "source": "t", "ticket_id": f"t{k}", "category": "noise", "lon": 116.4, "lat": 39.9, "subdistrict": "dhm",
            "cell": "r01c01", "status": "resolved" if done else "received", "received_at": at,
            "deadline_at": at + timedelta(hours=24), "resolved_at": at + timedelta(hours=2) if done else None,
        })
    with engine.begin() as conn:
        conn.execute(insert(INCIDENTS), incidents)
        conn.execute(insert(TICKETS), tickets)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def _partial_indexes() -> set[str]:
    """The names of the models' partial indexes (they hold only the rows of their predicate)."""
    return {str(ix.name) for table in Base.metadata.tables.values() for ix in table.indexes
            if ix.dialect_options["sqlite"]["where"] is not None}


def _whole_table_reads(plans: list[tuple[str, list[str]]]) -> list[str]:
    """The plan lines that read all of hotline_tickets or incidents (reading all of a partial index is reading only
    the rows of its predicate: the open incidents)."""
    tables = ("hotline_tickets", "incidents")
    partial = _partial_indexes()
    return [f"{line}  ← {statement[:120]}" for statement, lines in plans for line in lines
            if any(f"SCAN {t}" in line or f"Seq Scan on {t}" in line for t in tables)
            and not any(line.endswith(f"INDEX {name}") for name in partial)]


def test_the_tick_reads_no_whole_table_of_tickets_or_incidents(engine: Engine, sessions: sessionmaker[Session]) -> None:
    _history(engine)
    plans = query_plans(sessions, NOW.timestamp())
    assert any("incidents" in statement for statement, _ in plans)
    assert "ix_incident_open" in _partial_indexes()
    assert _whole_table_reads(plans) == []


def test_the_tick_reads_its_two_days_of_tickets_from_the_index_alone(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _history(engine)
    plans = query_plans(sessions, NOW.timestamp())
    [ticket_plan] = [lines for statement, lines in plans if "FROM hotline_tickets LEFT OUTER JOIN" in statement]
    reads = [line for line in ticket_plan if ("SEARCH" in line or "Scan" in line) and "hotline_tickets" in line]
    assert reads and all("ix_ticket_received_rows" in line for line in reads)
    assert all("COVERING INDEX" in line or "Index Only Scan" in line for line in reads)


def test_the_steady_tick_reads_only_the_changed_tickets_through_indexes(
    engine: Engine, sessions: sessionmaker[Session], r: redis.Redis
) -> None:
    from workers.early_warning import run_baseline
    from workers.tick import query_sql_live

    _history(engine)
    run_baseline(r, sessions, NOW.timestamp())
    baseline = load_baseline(r)
    _, step = query_sql_live(r, sessions, NOW.timestamp(), baseline)  # the first: the hotline state is built
    with r.pipeline(transaction=True) as pipe:
        step.apply(pipe)
        pipe.execute()
    plans = query_plans(sessions, NOW.timestamp() + 1, run=lambda s, now: query_sql_live(r, s, now, baseline))
    assert _whole_table_reads(plans) == []
    ticket_reads = [(statement, lines) for statement, lines in plans if "FROM hotline_tickets" in statement]
    # One read of tickets a steady tick: those changed since the cursor, through their index of last change.
    assert len(ticket_reads) == 1, [statement for statement, _ in ticket_reads]
    [(_, lines)] = ticket_reads
    assert any("ix_ticket_updated" in line for line in lines)
