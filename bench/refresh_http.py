"""A signed-in wall's refresh through a real web server: this checkout against another commit's, side by side.

Each round starts the screens' gunicorn as the runner does (gevent, one worker, ops.gunicorn_conf) of one checkout on
the same SQLite database and Redis (the tick run once beforehand, no simulator), signs `duty` in through the form and
sends `--n` up-to-date refreshes (`GET /api/v1/frame` with the token of the last answer) `--gap` seconds apart, as
the wall does; it reads gunicorn's own request time (%(D)s) from its access log and the worker's CPU time (utime +
stime, idle time between the requests included) from /proc. The checkouts take turns `--rounds` times.

    .venv/bin/python bench/refresh_http.py --before main [--redis-url redis://127.0.0.1:6379/6] [--n 300] [--gap 0.1]

Empties the Redis database it is given (use a scratch one).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import HttpClient  # noqa: E402
from ops.redis_server import free_port  # noqa: E402

PASSWORD = "demo-pass"
PREPARE = """
import sys, time
from dashboard.live.connections import make_redis
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.schema import init_db
from tests.helpers import seed_users
from workers.tick import run_tick
r = make_redis(sys.argv[1]); r.flushdb()
engine = make_engine(sys.argv[2]); init_db(engine); seed_users(session_factory(engine))
run_tick(r, session_factory(engine), time.time())
"""


def _cpu_s(pid: int) -> float:
    """A process's CPU time so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(tree: Path, env: dict[str, str], tmp: Path, n: int, gap: float) -> dict[str, Any]:
    """One checkout's server: gunicorn's p50/p99 of the refreshes and the worker's CPU per refresh."""
    port = free_port()
    log = tmp / f"access-{port}.log"
    argv = [sys.executable, "-m", "gunicorn", "ops.wsgi:server", "--worker-class", "gevent", "--workers", "1",
            "--worker-connections", "1000", "--bind", f"127.0.0.1:{port}", "--chdir", str(tree),
            "--config", "python:ops.gunicorn_conf", "--error-logfile", str(tmp / f"error-{port}.log"),
            "--access-logfile", str(log), "--access-logformat", "%(D)s %(s)s %(U)s %(p)s", "--no-control-socket"]
    proc = subprocess.Popen(argv, cwd=tree, env={**env, "PYTHONPATH": str(tree)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = HttpClient("127.0.0.1", port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.request("GET", "/livez")[0] == 200:
                    break
            except OSError:
                client.close()
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer within 60 s")
            time.sleep(0.1)
        client.login("duty", PASSWORD)
        token = json.loads(client.request("GET", "/api/v1/frame?lang=zh")[1])["token"]
        path = f"/api/v1/frame?lang=zh&from={token}"
        for _ in range(30):  # warm-up
            client.request("GET", path)
            time.sleep(gap)
        lines = log.read_text().splitlines()
        worker = int([line.split()[3] for line in lines if "/api/v1/frame" in line][-1].strip("<>"))
        cpu0 = _cpu_s(worker)
        for _ in range(n):
            status = client.request("GET", path)[0]
            if status != 200:
                raise RuntimeError(f"the refresh answered {status}")
            time.sleep(gap)
        cpu1 = _cpu_s(worker)
        time.sleep(0.3)  # the last access line written
        ms = sorted(int(line.split()[0]) / 1000 for line in log.read_text().splitlines()[len(lines):]
                    if line.split()[2] == "/api/v1/frame")
        return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
                "cpu_ms_per_refresh": round((cpu1 - cpu0) * 1000 / n, 3)}
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    """Both checkouts in turn; each round's figures and the medians as one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the commit to compare with (git archive of it)")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--gap", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        before = tmp / "before"
        before.mkdir()
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        database_url = f"sqlite:///{tmp / 'bench.db'}"
        env = {**{k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}, "REDIS_URL": args.redis_url,
               "DATABASE_URL": database_url, "SECRET_KEY": "bench-secret", "INGEST_TOKEN": "bench-token",
               "SIMULATOR": "off", "INSTANCE_DIR": str(tmp), "DEMO_PASSWORD": PASSWORD}
        subprocess.run([sys.executable, "-c", PREPARE, args.redis_url, database_url], cwd=ROOT,
                       env={**env, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)
        trees = {"before": before, "after": ROOT}
        got: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for i in range(args.rounds):
            for label, tree in (list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]):
                got[label].append(_round(tree, env, tmp, args.n, args.gap))
    out: dict[str, Any] = {"rounds": got}
    for label, rows in got.items():
        for key in ("p50_ms", "p99_ms", "cpu_ms_per_refresh"):
            out[f"refresh_server_{key}_{label}"] = round(statistics.median(r[key] for r in rows), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
