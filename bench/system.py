"""The live system of part A: `dongcheng run` started as a subprocess exactly as `make run` starts it, on its own
ports and instance folder, with the watchers the measurement reads (CPU time per process, the tick jobs' results)."""


from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import HttpClient, say, summary

ROOT = Path(__file__).resolve().parent.parent
SIM_RATE = 1000
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0
# The simulator's queue below this many events: the replayed day is sent, what is left is live (a second's worth).
REPLAY_DONE_BELOW = 1000
ACCESS_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s %(B)s %(U)s %(p)s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) process from /proc, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def _proc_cpu() -> dict[int, tuple[int, int]]:
    """pid -> (session id, CPU ticks used so far) of every live process."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        f = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (int(f[3]), int(f[11]) + int(f[12]))
    return out


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU used by each child of the runner (its whole session), by this process and by the machine."""

    def __init__(self, children: dict[str, dict[str, Any]]) -> None:
        self.names = {int(info["pid"]): name for name, info in children.items()}
        self.me = os.getpid()
        self.hz = os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> dict[str, Any]:
        """Ticks per child name, for this process, and for the machine."""
        per: dict[str, int] = dict.fromkeys(self.names.values(), 0)
        procs = _proc_cpu()
        for sid, ticks in procs.values():
            if sid in self.names:
                per[self.names[sid]] += ticks
        per["bench (this process)"] = procs.get(self.me, (0, 0))[1]
        busy, total = _machine_cpu()
        return {"per": per, "busy": busy, "total": total, "t": time.monotonic()}

    def report(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """CPU % (100 = one core) per child between two snapshots, and the machine's busy %."""
        span = b["t"] - a["t"]
        per = {k: round(100 * (b["per"].get(k, 0) - v) / self.hz / span, 1) for k, v in a["per"].items()}
        ncpu = os.cpu_count() or 1
        machine = 100 * ncpu * (b["busy"] - a["busy"]) / max(1, b["total"] - a["total"])
        ours = sum(per.values())
        return {
            "percent_of_one_core": dict(sorted(per.items(), key=lambda kv: -kv[1])),
            "ours_percent": round(ours, 1),
            "machine_busy_percent": round(machine, 1),
            "cores": ncpu,
        }


class LiveSystem:
    """The runner subprocess and how to reach it."""

    def __init__(
        self, tmp: Path, rate: float = SIM_RATE, web_workers: int | None = None, root: Path = ROOT,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        # The code to run: this tree, or another release unpacked elsewhere (bench/screens.py's baseline).
        self.root = root
        self.rate = rate
        self.web_workers = web_workers
        # More settings for the runner (INGEST_WORKERS, MQTT_URL …), over the benchmark's own.
        self.extra_env = dict(env or {})
        self.instance = tmp / "live-instance"
        self.port = _free_port()
        self.ingest_port = _free_port()
        self.redis_port = _free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.db_url = f"sqlite:///{tmp / 'live.db'}"
        self.password = secrets.token_urlsafe(12)
        self.token = secrets.token_urlsafe(24)
        self.access_log = tmp / "access.log"
        self.out_path = tmp / "runner.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.children: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        """Start `dongcheng run` (`python -m ops.cli run`) in its own session."""
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "GUNICORN_CMD_ARGS")}
        env.update(
            INSTANCE_DIR=str(self.instance),
            DATABASE_URL=self.db_url,
            PORT=str(self.port),
            INGEST_PORT=str(self.ingest_port),
            REDIS_PORT=str(self.redis_port),
            SIM_RATE=f"{self.rate:g}" if self.rate > 0 else "1",
            SIMULATOR="on" if self.rate > 0 else "off",
            DEMO_PASSWORD=self.password,
            INGEST_TOKEN=self.token,
            GUNICORN_CMD_ARGS=shlex.join(
                ["--access-logfile", str(self.access_log), "--access-logformat", ACCESS_FORMAT]
            ),
        )
        if self.web_workers:
            env["WEB_WORKERS"] = str(self.web_workers)
        env.update(self.extra_env)
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root)  # ahead of this tree's editable install, in every child too
        with self.out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", "run"],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        say(f"started the runner (pid {self.proc.pid}): web :{self.port}, bundled Redis :{self.redis_port}, "
            f"SIM_RATE={self.rate:g}{' (simulator off)' if self.rate <= 0 else ''}, instance {self.instance}")

    def output_tail(self, lines: int = 30) -> str:
        """The last lines the runner printed."""
        try:
            return "\n".join(self.out_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_healthy(self) -> float:
        """Wait for /healthz 200; return the seconds it took."""
        assert self.proc is not None
        t0 = time.monotonic()
        last = "no answer"
        while time.monotonic() - t0 < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the runner exited with {self.proc.returncode}:\n{self.output_tail()}")
            try:
                client = HttpClient("127.0.0.1", self.port, timeout=2)
                status, body, _, _ = client.request("GET", "/healthz")
                client.close()
                if status == 200:
                    self._read_pids()
                    return time.monotonic() - t0
                last = f"{status} {body[:200]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"/healthz not 200 after {START_TIMEOUT_S:.0f} s (last: {last}):\n{self.output_tail()}")

    def replay_left(self) -> int | None:
        """Events the simulator still has to send (its last "sim:" log line's "N waiting": the day's replayed tickets
        at start, then what is queued), None before it has said."""
        try:
            text = (self.instance / "logs" / "simulator.log").read_text(errors="replace")
        except FileNotFoundError:
            return None
        found = re.findall(r" (\d+) waiting", text)
        return int(found[-1]) if found else None

    def wait_replayed(self, limit_s: float) -> float | None:
        """Wait (at most `limit_s`) for the simulator to have sent today's replayed tickets: the system's steady state
        begins after them. The seconds waited, None when it had not finished by then."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            left = self.replay_left()
            if left is not None and left < REPLAY_DONE_BELOW:
                return time.monotonic() - t0
            time.sleep(1.0)
        return None

    def _read_pids(self) -> None:
        try:
            data = json.loads((self.instance / "pids.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        self.children = dict(data.get("children", {}))

    def stop(self) -> dict[str, Any]:
        """SIGINT to the runner; wait; report whether it and everything it started are gone."""
        assert self.proc is not None
        self._read_pids()
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - t0
        left = [
            f"{name} (pid {info['pid']})"
            for name, info in self.children.items()
            if _start_time(int(info["pid"])) is not None
            and (info.get("start") is None or _start_time(int(info["pid"])) == int(info["start"]))
        ]
        report = {
            "exit_code": code,
            "stop_s": round(took, 1),
            "leftover_processes": left,
            "web_port_open": _port_open(self.port),
            "redis_port_open": _port_open(self.redis_port),
            "pids_json_left": (self.instance / "pids.json").exists(),
        }
        report["clean"] = (
            code == 0
            and not left
            and not report["web_port_open"]
            and not report["redis_port_open"]
            and not report["pids_json_left"]
        )
        return report

    def kill_leftovers(self) -> None:
        """After a failure: make sure the runner and the children it recorded are gone (by pid only)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for info in self.children.values():
            pid = int(info["pid"])
            if _start_time(pid) is not None and (info.get("start") is None or _start_time(pid) == int(info["start"])):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)  # each child leads its own session/group


class TickWatcher:
    """Tick job results from RQ's finished-job registry (kept 10 s by the cron's result_ttl)."""

    def __init__(self, r: Any) -> None:
        from rq import Queue
        from rq.registry import FailedJobRegistry, FinishedJobRegistry

        from dashboard.live import keys

        queue = Queue(keys.QUEUE_TICK, connection=r)
        self.r = r
        self.finished = FinishedJobRegistry(queue=queue)
        self.failed = FailedJobRegistry(queue=queue)
        self.seen: set[str] = set()
        self.ticks: list[dict[str, Any]] = []
        self.skipped = 0
        self.failed_at_start = self._failed_count()

    def _failed_count(self) -> int:
        try:
            return int(self.failed.count)
        except Exception:
            return 0

    def poll(self, since: float) -> None:
        """Record the tick jobs that finished since the last poll (and started after `since`)."""
        from rq.job import Job

        ids = [i for i in self.finished.get_job_ids() if i not in self.seen]
        if not ids:
            return
        self.seen.update(ids)
        for job in Job.fetch_many(ids, connection=self.r):
            if job is None or job.started_at is None or job.started_at.timestamp() < since:
                continue
            res = job.latest_result()
            value = getattr(res, "return_value", None) if res is not None else None
            if not isinstance(value, dict):
                continue
            if value.get("status") != "ok":
                self.skipped += 1
                continue
            self.ticks.append(
                {
                    "started": job.started_at.timestamp(),
                    "enqueued": job.enqueued_at.timestamp() if job.enqueued_at else None,
                    "ms": value["ms"],
                    "events": value["events"],
                }
            )

    def report(self) -> dict[str, Any]:
        """Tick duration, events per tick, queue wait and start-to-start gaps."""
        ticks = sorted(self.ticks, key=lambda t: t["started"])
        totals = [t["ms"]["total"] for t in ticks]
        waits = [(t["started"] - t["enqueued"]) * 1000 for t in ticks if t["enqueued"]]
        gaps = [(b["started"] - a["started"]) * 1000 for a, b in itertools.pairwise(ticks)]
        phases = {}
        for k in ("read", "fold", "sql", "compute", "write"):
            vals = [t["ms"].get(k, 0.0) for t in ticks]
            phases[k] = summary(vals, 1)
        return {
            "tick_ms": summary(totals, 1),
            "tick_events": summary([float(t["events"]) for t in ticks], 0),
            "queue_wait_ms": summary(waits, 1),
            "start_gap_ms": summary(gaps, 1),
            "phases_ms": phases,
            "skipped": self.skipped,
            "failed": self._failed_count() - self.failed_at_start,
        }
