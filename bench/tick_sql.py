"""The tick's SQL phase alone (workers.tick.query_sql) at two sizes of the store, timed side by side.

Part B of `make bench` (bench/scale.py) times the whole steady tick and needs a Redis stream and minutes of
loading; this loads only the SQL history (the same rows: bench/dataset.py) into two temporary SQLite databases
and alternates query_sql between them, so that both sizes see the same machine. `--explain` prints each query's plan;
`--before 0003` also times copies of the databases at that revision (its indexes), in turn with the newest.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import dataset
from bench.common import fmt_summary, heading, say, summary

SIZES = (10_000, 1_000_000)
N_CALLS = 40
WARMUP_CALLS = 3


def _load(path: Path, size: int, templates: dataset.Templates, now: float) -> Any:
    """A migrated SQLite database at `path` holding the SQL share of `size` stored events; its session factory."""
    from dashboard.store.engine import make_engine, session_factory
    from dashboard.store.schema import init_db

    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    plan = dataset.Plan.of(size)
    dataset.insert_history(engine, templates, now, (0, plan.tickets), (0, plan.incidents), seed=size)
    return session_factory(engine)


def query_plans(
    sessions: Any, now: float, forbid_seqscan: bool = True, run: Callable[[Any, float], Any] | None = None
) -> list[tuple[str, list[str]]]:
    """Each SELECT that query_sql (or `run(sessions, now)`) runs, with the lines of its plan (SQLite's EXPLAIN QUERY
    PLAN or PostgreSQL's EXPLAIN), planned with the same parameters as it ran them; `forbid_seqscan`: on PostgreSQL,
    with sequential scans disfavoured (to see whether an index fits a small table)."""
    from sqlalchemy import event

    from workers.tick import query_sql

    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", keep)
    try:
        (run or query_sql)(sessions, now)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    out = []
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql" and forbid_seqscan:
            # Tiny test tables are cheapest to scan whole: forbid it, so that the plan shows whether an index fits.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # this transaction only, not the pooled connection
        for statement, params in statements:
            plan = conn.exec_driver_sql(explain + statement, params).all()
            out.append((" ".join(statement.split()), [str(row[-1]) for row in plan]))
    return out


def _time_alternating(factories: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """query_sql N_CALLS times on each database, taking them in turn; the summaries and the tickets read."""
    from workers.tick import query_sql

    times: dict[str, list[float]] = {k: [] for k in factories}
    rows: dict[str, int] = {}
    for i in range(N_CALLS + WARMUP_CALLS):
        for key, sessions in factories.items():
            t = time.perf_counter()
            sql = query_sql(sessions, time.time())
            if i >= WARMUP_CALLS:
                times[key].append((time.perf_counter() - t) * 1000)
            rows[key] = len(sql.tickets)
    return {key: {**summary(v), "ticket_rows": rows[key]} for key, v in times.items()}


def _settle(engine: Any) -> None:
    """Refresh the planner's statistics and fold the write-ahead log into the database file, as a database at
    rest is (a freshly built index read through a large WAL is slower than it will be)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _copy_at(sessions: Any, path: Path, revision: str) -> Any:
    """A copy of the database of `sessions` at `path`, moved down to `revision`; its session factory."""
    import shutil

    from dashboard.store.engine import make_engine, session_factory
    from dashboard.store.schema import downgrade

    src = sessions.kw["bind"]
    shutil.copyfile(src.url.database, path)
    engine = make_engine(f"sqlite:///{path}")
    downgrade(engine, revision)
    _settle(engine)
    return session_factory(engine)


def run(explain: bool, before: str | None) -> dict[str, Any]:
    """Load both sizes at the newest schema (and copies of them at the revision `before`, when given: its indexes),
    then time query_sql on every database in turn, so that all see the same machine; the p50s and their ratios."""
    now = time.time()
    templates = dataset.make_templates(now)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dc-tick-sql-") as d:
        factories: dict[str, Any] = {}
        for size in SIZES:
            t = time.perf_counter()
            sessions = _load(Path(d) / f"{size}.db", size, templates, now)
            _settle(sessions.kw["bind"])
            if before:
                factories[f"{before} {size}"] = _copy_at(sessions, Path(d) / f"{size}-{before}.db", before)
            factories[f"head {size}"] = sessions
            say(f"{size:,} stored events loaded in {time.perf_counter() - t:.1f} s")
        if explain:
            for key, sessions in factories.items():
                heading(f"plans: schema and size {key}")
                for statement, plan in query_plans(sessions, time.time()):
                    say(statement[:160])
                    for line in plan:
                        say(f"    {line}")
        heading("query_sql, every schema and size in turn")
        res = _time_alternating(factories)
        for key, s in res.items():
            say(f"  {key:>14s}: {fmt_summary(s)} ({s['ticket_rows']:,} ticket rows)")
        for revision in (before, "head") if before else ("head",):
            small, big = (res[f"{revision} {size}"]["p50"] for size in SIZES)
            out[revision] = {"tick_sql_p50_ms": [small, big], "ratio": round(big / small, 2) if small else None}
        for f in factories.values():
            f.kw["bind"].dispose()
    return out


if __name__ == "__main__":  # pragma: no cover - a benchmark script
    # --before REV: time with the schema at revision REV first (e.g. 0003, before the tick's indexes).
    rev = sys.argv[sys.argv.index("--before") + 1] if "--before" in sys.argv else None
    print(json.dumps(run("--explain" in sys.argv, rev)))
