"""`dongcheng history rebuild`: the history snapshots of a day rebuilt from the durable telemetry in SQL, after a
lost Redis (workers/rebuild.py), and `dongcheng history rollup`: one telemetry roll-up run now (workers/rollup.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from dashboard.config import Config
from dashboard.live.connections import make_redis
from dashboard.report.build import ReportDayError, parse_day
from dashboard.store.engine import make_engine, session_factory


def rebuild_command(args: argparse.Namespace) -> int:
    """Rebuild the day's minute snapshots and hourly roll-ups where Redis has none; print what was stored (JSON)."""
    from workers.rebuild import rebuild_day

    now = time.time()
    try:
        day = parse_day(args.day, now)
    except ReportDayError as exc:
        print(f"dongcheng history rebuild: {exc}", file=sys.stderr)
        return 2
    config = Config.from_env()
    config.require("DATABASE_URL")
    engine = make_engine(config.database_url)
    try:
        result = rebuild_day(make_redis(config.redis_url), session_factory(engine), day, now)
    finally:
        engine.dispose()
    print(json.dumps(result, indent=1))
    return 0


def rollup_command(_args: argparse.Namespace) -> int:
    """Run one telemetry roll-up now with the environment's settings; print its result (JSON)."""
    from workers.rollup import run_rollup

    config = Config.from_env()
    config.require("DATABASE_URL")
    engine = make_engine(config.database_url)
    try:
        result = run_rollup(make_redis(config.redis_url), session_factory(engine), time.time(),
                            retention_days=config.telemetry_retention_days)
    finally:
        engine.dispose()
    print(json.dumps(result, indent=1))
    return 0
