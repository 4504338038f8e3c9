"""Micro-benchmark of the tick's hotline and early-warning step at a busy day's tickets beside a quiet day's.

    .venv/bin/python bench/warnbook.py [--ticks N]

Two stores side by side in one process, each a SQLite database and a database of one bundled Redis: a busy day
(23,000 tickets today, 10,000 of them in the early warning's 6-hour lookback, about one new ticket every two seconds)
and a quiet one (25 tickets today). Each tick, for each store in turn: the new tickets of that second are inserted,
then the step is timed: workers.tick.query_sql_live (the hotline figures and the recent tickets kept from the changes,
workers/hotline_sync.py), the warnings aggregate (workers/early_warning), and the hotline state's writes in one
MULTI/EXEC. It prints the medians and the busy/quiet ratio. Part H (bench/tickscale.py) measures the whole tick.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import dataset  # noqa: E402

BUSY = (23_000, 10_000)  # tickets today, of them in the last 6 hours
QUIET = (25, 11)
LOOKBACK_S = 6 * 3600


class Day:
    """One store: its tickets, its Redis, the process's kept books."""

    def __init__(self, label: str, db_url: str, redis_url: str, sizes: tuple[int, int], now: float) -> None:
        from dashboard.config import Config
        from dashboard.live import keys
        from dashboard.live.connections import make_redis
        from dashboard.store.engine import make_engine, session_factory
        from ops.bootstrap import bootstrap
        from workers.early_warning import learn_baseline

        config = Config(redis_url=redis_url, database_url=db_url, secret_key=secrets.token_hex(16),
                        ingest_token=secrets.token_urlsafe(16), demo_password=secrets.token_urlsafe(12),
                        simulator=False)  # fmt: skip
        bootstrap(config, installations=False)
        self.label = label
        self.engine = make_engine(db_url)
        self.sessions = session_factory(self.engine)
        self.r = make_redis(redis_url)
        self.r.flushdb()
        self.rng = random.Random(len(label))
        self.rate = sizes[1] / LOOKBACK_S  # new tickets a second
        self.k = 0
        self.count = 0
        self.book: Any = None
        try:
            from workers.early_warning.book import TicketBook

            self.book = TicketBook()
        except ImportError:  # the code before the kept book
            pass
        self.ms: dict[str, list[float]] = {"sql": [], "warnings": [], "write": [], "step": []}
        total, recent = sizes
        # The same day a week long: today's tickets go into SQL, the week's teach the baseline, which is kept in Redis
        # as the RQ job keeps it (learned from a month of SQL, too slow to load here).
        history: list[tuple[str, str, str, float]] = []
        for day in range(7):
            t = now - day * 86_400
            received = [t - self.rng.uniform(0, LOOKBACK_S) for _ in range(recent)]
            received += [t - self.rng.uniform(LOOKBACK_S, 18 * 3600) for _ in range(total - recent)]
            rows = self.insert(sorted(received), now, store=day == 0)
            history += [(row["cell"], row["subdistrict"], row["category"], row["received_at"]) for row in rows]
        base = learn_baseline(history, now)
        self.r.set(keys.WARNINGS_BASELINE, json.dumps(base, separators=(",", ":")))

    def insert(self, received: list[float], now: float, store: bool = True) -> list[dict[str, Any]]:
        """Tickets received at these instants, as stored by `now` (in SQL when `store`)."""
        from sqlalchemy import insert

        rows = []
        for ts in received:
            self.k += 1
            tmpl = TEMPLATES.tickets[self.rng.randrange(len(TEMPLATES.tickets))]
            rows.append(dataset.ticket_row(self.k, tmpl, ts, now))
        if rows and store:
            with self.engine.begin() as conn:
                conn.execute(insert(dataset.TICKETS), rows)
        return rows

    def step(self, now: float, keep: bool) -> None:
        """This second's new tickets, then the timed step."""
        from dashboard.live import aggregates
        from workers import tick
        from workers.early_warning import compute_warnings, load_baseline
        from workers.telemetry import new_state

        n = sum(1 for _ in range(3) if self.rng.random() < self.rate / 3)
        self.insert([now - self.rng.uniform(0, 1) for _ in range(n)], now)
        baseline = load_baseline(self.r)
        state = new_state()
        t0 = time.perf_counter()
        if "book" in inspect.signature(tick.query_sql_live).parameters:
            sql, hotline = tick.query_sql_live(self.r, self.sessions, now, baseline, self.book)
        else:
            sql, hotline = tick.query_sql_live(self.r, self.sessions, now, baseline)
        t1 = time.perf_counter()
        if getattr(sql, "recent", None) is not None:
            from workers.early_warning.detector import compute_warnings_kept

            data = compute_warnings_kept(state, sql.recent, baseline, now)
        else:
            data = compute_warnings(state, sql.tickets, baseline, now)
        t2 = time.perf_counter()
        self.count = data["count"]
        aggregates.write_aggregates(self.r, {"warnings": data}, now, publish=False, extra_writes=hotline.apply)
        if self.book is not None:
            hotline.book.committed()
        t3 = time.perf_counter()
        if keep:
            for key, v in (("sql", t1 - t0), ("warnings", t2 - t1), ("write", t3 - t2), ("step", t3 - t0)):
                self.ms[key].append(v * 1000)

    def medians(self) -> dict[str, float]:
        return {k: round(statistics.median(v), 2) for k, v in self.ms.items()}


TEMPLATES: Any = None


def main() -> None:
    global TEMPLATES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ticks", type=int, default=60)
    args = p.parse_args()
    import workers
    from ops.redis_server import start_bundled_redis

    print(f"code: {Path(workers.__file__).parent.parent}")
    with tempfile.TemporaryDirectory() as tmp:
        proc, redis_url = start_bundled_redis(Path(tmp) / "redis")
        try:
            base = redis_url.rsplit("/", 1)[0]
            now = time.time()
            TEMPLATES = dataset.make_templates(now)
            days = [Day(label, f"sqlite:///{tmp}/{label}.db", f"{base}/{k}", sizes, now)
                    for k, (label, sizes) in enumerate((("quiet", QUIET), ("busy", BUSY)))]  # fmt: skip
            for i in range(args.ticks + 3):
                now += 1.0
                for d in days:
                    d.step(now, keep=i >= 3)
            quiet, busy = (d.medians() for d in days)
            print(f"quiet day ({QUIET[0]} tickets today) median ms: {quiet}")
            print(f"busy day ({BUSY[0]:,} today, {BUSY[1]:,} in 6 h) median ms: {busy}")
            print(f"warnings at the end: quiet {days[0].count}, busy {days[1].count}")
            print(f"busy / quiet step: x{busy['step'] / quiet['step']:.2f} "
                  f"(+{busy['step'] - quiet['step']:.2f} ms)")  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
