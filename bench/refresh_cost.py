"""CPU per signed-in GET /api/v1/frame in-process, this checkout against another commit's, side by side.

Each round builds the app of one checkout (create_app, SQLite, a signed-in `duty` user, the tick run once), then
calls its WSGI app as a server would (app.wsgi_app with the environ of the wall's up-to-date refresh: its cookies, its
token), 50 warm-up requests and `--n` measured ones (time.process_time); the checkouts take turns `--rounds` times,
each round in a fresh process. The other commit is taken with `git archive` into a temporary directory.

    .venv/bin/python bench/refresh_cost.py --before main [--redis-url redis://127.0.0.1:6379/6] [--n 1000]
    .venv/bin/python bench/refresh_cost.py --one . --profile      # one checkout, with cProfile's top entries

Empties the Redis database it is given (use a scratch one). For noise-free counts run `--one --callgrind` under
`valgrind --tool=callgrind` (bench/README.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def signed_in_client(redis_url: str, db_path: str, **settings: Any) -> tuple[Any, Any]:
    """The app of the checkout on sys.path (SQLite at `db_path`, its Redis database emptied, Config `settings`),
    its users seeded and the tick run once, and a test client signed in as `duty`."""
    import dataclasses

    import redis

    from dashboard.config import Config
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from tests.helpers import login, seed_users
    from workers.tick import run_tick

    redis.Redis.from_url(redis_url).flushdb()
    config = dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=f"sqlite:///{db_path}"),
                                 **settings)
    app = create_app(config)
    with app.app_context():
        init_db(db_sessions().kw["bind"])
        seed_users(db_sessions())
        run_tick(app.extensions["dc_redis"], db_sessions(), time.time())
    client = app.test_client()
    login(client, "duty")
    return app, client


def _signed_in_app(redis_url: str, db_path: str) -> tuple[Any, dict[str, Any]]:
    """The app of the checkout on sys.path, and the environ of a signed-in up-to-date refresh."""
    app, client = signed_in_client(redis_url, db_path)
    token = json.loads(client.get("/api/v1/frame?lang=zh").data)["token"]
    seen: list[dict[str, Any]] = []
    inner = app.wsgi_app

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(dict(environ))
        return inner(environ, start_response)

    app.wsgi_app = spy
    client.get(f"/api/v1/frame?lang=zh&from={token}")
    app.wsgi_app = inner
    return app, seen[0]


def _call(app: Any, environ: dict[str, Any]) -> str:
    """One request through the WSGI app; its status line."""
    status: list[str] = []

    def start_response(s: str, _headers: Any, _exc_info: Any = None) -> None:
        status.append(s)

    env = dict(environ, **{"wsgi.input": io.BytesIO(b"")})
    body = app.wsgi_app(env, start_response)
    b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return status[0]


def one(redis_url: str, n: int, profile: bool, callgrind: bool = False) -> float:
    """CPU ms per signed-in refresh of the checkout on sys.path (with `callgrind`, the measured requests run inside
    sys.call_tracing, which callgrind's --toggle-collect=sys_call_tracing counts alone)."""
    fd, db_path = tempfile.mkstemp(suffix=".db")
    os.close(fd)
    try:
        app, environ = _signed_in_app(redis_url, db_path)
        for _ in range(50):
            assert _call(app, environ).startswith("200")
        statuses: list[str] = []
        t0 = time.process_time()
        if callgrind:
            sys.call_tracing(lambda: statuses.extend(_call(app, environ) for _ in range(n)), ())
        else:
            statuses = [_call(app, environ) for _ in range(n)]
        cpu_ms = (time.process_time() - t0) * 1000 / n
        assert all(s.startswith("200") for s in statuses), set(statuses)
        if profile:
            import cProfile
            import pstats

            pr = cProfile.Profile()
            pr.enable()
            for _ in range(n):
                _call(app, environ)
            pr.disable()
            pstats.Stats(pr).sort_stats("cumulative").print_stats(30)
        return cpu_ms
    finally:
        os.unlink(db_path)


def _round(tree: Path, redis_url: str, n: int) -> float:
    """One measurement of `tree` in a fresh process."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one", str(tree), "--redis-url", redis_url, "--n", str(n)],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_ms_per_get"])


def main() -> None:
    """Both checkouts in turn (or one with --one); medians as one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="the commit to compare with (git archive of it)")
    ap.add_argument("--one", help="measure only this checkout, in this process")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--callgrind", action="store_true", help="run the measured requests inside sys.call_tracing")
    args = ap.parse_args()
    if args.one:
        sys.path.insert(0, str(Path(args.one).resolve()))
        print(json.dumps({"cpu_ms_per_get": round(one(args.redis_url, args.n, args.profile, args.callgrind), 4)}))
        return
    if not args.before:
        ap.error("--before COMMIT or --one CHECKOUT")
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp)
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        trees = {"before": before, "after": ROOT}
        got: dict[str, list[float]] = {name: [] for name in trees}
        for i in range(args.rounds):
            order = list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]
            for name, tree in order:
                got[name].append(_round(tree, args.redis_url, args.n))
    print(json.dumps({
        "refresh_cpu_ms_before": round(statistics.median(got["before"]), 3),
        "refresh_cpu_ms_after": round(statistics.median(got["after"]), 3),
        "rounds": {name: [round(v, 3) for v in values] for name, values in got.items()},
    }))


if __name__ == "__main__":
    main()
