"""Command line for the workers.

The processes a supervisor runs (from the project root, with REDIS_URL and DATABASE_URL set):

    rq worker --worker-class rq.worker.SimpleWorker dc-tick dc-default --url "$REDIS_URL"
    rq cron workers/cron.py --url "$REDIS_URL"          # exactly one per deployment

SimpleWorker runs the tick inside the long-lived worker process, so the Redis client, the SQL engine and
the imported modules are reused every second (about 10–30 ms a tick); RQ's default forking Worker
re-imports and reconnects in a fresh child for every job (about 300 ms a tick here).

Helpers:

    python -m workers tick                      # one tick now with the environment's config; prints JSON
    python -m workers bench [--events 1000]     # time run_tick on an empty Redis db and a temp SQLite
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from dashboard.config import Config
from dashboard.live.connections import make_redis
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.schema import init_db
from workers.benchmark import bench_ticks
from workers.tick import run_tick

# A spare logical database for the benchmark, away from the app's 0 and the tests' 13.
BENCH_REDIS_DB = 14


def _tick(_: argparse.Namespace) -> int:
    """Run one tick with the environment's configuration."""
    cfg = Config.from_env()
    engine = make_engine(cfg.database_url)
    try:
        print(json.dumps(run_tick(make_redis(cfg.redis_url), session_factory(engine), time.time()), indent=1))
    finally:
        engine.dispose()
    return 0


def _bench(args: argparse.Namespace) -> int:
    """Time ticks on an empty Redis database and a throw-away SQLite database."""
    base = Config.from_env().redis_url.rsplit("/", 1)[0]
    r = make_redis(args.redis_url or f"{base}/{BENCH_REDIS_DB}")
    if r.dbsize():
        print("refusing to benchmark on a non-empty Redis database; pass --redis-url of an empty one", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        init_db(engine)
        try:
            print(json.dumps(bench_ticks(r, session_factory(engine), args.events, args.ticks, args.sensors)))
        finally:
            engine.dispose()
            r.flushdb()  # it was empty when we started
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a subcommand."""
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__.split("\n\n")[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("tick", help="run one tick now").set_defaults(func=_tick)
    bench = sub.add_parser("bench", help="time the tick")
    bench.add_argument("--events", type=int, default=1000, help="new telemetry events per tick")
    bench.add_argument("--ticks", type=int, default=20)
    bench.add_argument("--sensors", type=int, default=400, help="registered sensors")
    bench.add_argument("--redis-url", help=f"an empty Redis database (default: db {BENCH_REDIS_DB} of REDIS_URL)")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
