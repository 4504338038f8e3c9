"""CPU per signed-in GET /api/v1/frame in-process (Flask test client, SQLite, a signed-in `duty` user), with the
user reloaded at every request (SESSION_USER_RECHECK_S=0, the old behaviour) and at most every 10 s, side by side.

    .venv/bin/python bench/guard_cost.py [--redis-url redis://127.0.0.1:6379/6] [--n 500] [--profile]

Empties the Redis database it is given (use a scratch one).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())

import redis

from bench.refresh_cost import signed_in_client


def measure(redis_url: str, recheck_s: float, n: int, profile: bool) -> float:
    """CPU ms per signed-in GET of the frame with the given recheck interval."""
    db = tempfile.mktemp(suffix=".db")
    _app, c = signed_in_client(redis_url, db, session_user_recheck_s=recheck_s)
    resp = c.get("/api/v1/frame?lang=zh")
    tok = json.loads(resp.data).get("token") if resp.is_json else None
    path = f"/api/v1/frame?lang=zh&from={tok}" if tok else "/api/v1/frame?lang=zh"
    for _ in range(50):
        assert c.get(path).status_code == 200
    t0 = time.process_time()
    for _ in range(n):
        c.get(path)
    cpu = (time.process_time() - t0) * 1000 / n
    if profile:
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(n):
            c.get(path)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(40)
    redis.Redis.from_url(redis_url).flushdb()
    os.unlink(db)
    return cpu


def main() -> None:
    """Both variants, alternated three times; the median of each."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    old, new = [], []
    for _ in range(3):
        old.append(measure(args.redis_url, 0.0, args.n, False))
        new.append(measure(args.redis_url, 10.0, args.n, False))
    if args.profile:
        measure(args.redis_url, 10.0, args.n, True)
    print(json.dumps({"cpu_ms_per_get_recheck_0": round(sorted(old)[1], 3),
                      "cpu_ms_per_get_recheck_10": round(sorted(new)[1], 3)}))


if __name__ == "__main__":
    main()
