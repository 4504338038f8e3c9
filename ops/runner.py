"""`dongcheng run`: the whole command centre on one machine, supervised: Redis, RQ workers, the scheduler, the
web, the feeds' server and the simulator.

Every child runs in its own session, is restarted with backoff when it dies, and is stopped with its whole
session on Ctrl-C or SIGTERM; Redis goes last. Child output goes to stdout with a name prefix and to
instance/logs/<child>.log. The workers, the scheduler and the simulator are started through the same
`dongcheng worker|scheduler|simulate` commands a deployment uses (ops/jobs.py, ops/simulate.py); the operating
system's side (sessions, signals, logs) is ops/processes.py, the bundled Redis ops/redis_server.py. What a start
does in each mode (the demo seeds, production only checks: DEPLOYMENT) is ops/modes.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.client import HTTPException
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from dashboard.config import ROOT, Config, ConfigError, RunConfig
from ops.exporter import fresh_metrics_dirs, metrics_env
from ops.processes import (
    HAVE_PROC,
    Console,
    LogSink,
    describe_exit,
    dying_with_runner,
    json_lines,
    proc_start_time,
    raise_open_files_limit,
    session_members,
    signal_session,
)
from ops.servers import feeds_argv, web_argv

# How long a child may take to stop after SIGTERM before its whole session gets SIGKILL.
STOP_GRACE_S = 10.0
# Restart delays double from 1 s up to this while a child keeps dying young.
BACKOFF_MAX_S = 30.0
# A child that ran this long before dying is restarted after the shortest delay again.
STABLE_AFTER_S = 60.0
# How long to wait for the web server before saying so (the simulator waits for it regardless).
WEB_READY_WARN_S = 60.0
POLL_S = 0.2


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    stage: int  # shutdown order: lower stages stop first
    gate: Callable[[], bool] = lambda: True  # start only once this holds (the simulator waits for the web)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    quick_deaths: int = 0
    restarts: int = 0
    pump: threading.Thread | None = None
    sink: LogSink | None = None


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (SO_REUSEADDR so a TIME_WAIT leftover does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def mask_url(url: str) -> str:
    """`url` with any password replaced by ***, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def dongcheng(*args: str) -> list[str]:
    """The argv of a `dongcheng` subcommand run by this interpreter (the console script may not be on PATH)."""
    return [sys.executable, "-m", "ops.cli", *args]


class Runner:
    """Starts, supervises and stops every process of the command centre."""

    def __init__(self, settings: RunConfig, stdout: IO[str] | None = None) -> None:
        """Prepare; nothing starts before run()."""
        self.s = settings
        self.console = Console(stdout or sys.stdout, json_lines())
        self.logs_dir = settings.instance_dir / "logs"
        self.pids_path = settings.instance_dir / "pids.json"
        self.children: list[Child] = []
        self.stop_signal: int | None = None
        self.force = False
        self.web_ready = False
        self.ingest_ready = False
        self.env: dict[str, str] = {}
        self.redis_url = ""
        self.redis_port: int | None = None  # set when we run the bundled Redis
        self.redis_sentinels = ""  # REDIS_SENTINELS, when Redis is reached through Sentinel
        self.mode_lines: list[str] = []  # the banner's lines about the mode and the accounts
        self._sinks: dict[str, LogSink] = {}
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an http_proxy

    # --- logging -----------------------------------------------------------------------------

    def log(self, text: str) -> None:
        """A line from the runner itself (stdout and instance/logs/runner.log)."""
        self._sink("runner").write(text)

    def _sink(self, name: str) -> LogSink:
        """The log sink of `name`, opened on first use and kept across restarts."""
        if name not in self._sinks:
            self._sinks[name] = LogSink(name, self.logs_dir / f"{name}.log", self.console)
        return self._sinks[name]

    # --- signals -----------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """First signal: stop cleanly. A second one: do not wait for stragglers."""
        if self.stop_signal is None:
            self.stop_signal = signum
        else:
            self.force = True

    def _install_signals(self) -> None:
        """Ctrl-C, SIGTERM and a closed terminal all stop everything."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        # Under nohup SIGHUP is ignored on purpose: keep running when the terminal goes away.
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, self._on_signal)

    # --- set-up ------------------------------------------------------------------------------

    def _lock_instance(self) -> IO[str] | None:
        """Hold instance/runner.lock for our lifetime: two runners on one instance would fight over it."""
        path = self.s.instance_dir / "runner.lock"
        fh = path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            self.log(f"another runner (pid {holder}) is using {self.s.instance_dir}; stop it first")
            return None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        return fh

    def _reap_leftovers(self) -> None:
        """Stop what a previous runner that was SIGKILLed left running (found in its pids.json)."""
        if not self.pids_path.exists():
            return
        try:
            old = json.loads(self.pids_path.read_text())
        except json.JSONDecodeError as exc:
            self.log(f"ignoring unreadable {self.pids_path}: {exc}")
            return
        for name, info in old.get("children", {}).items():
            pid, start = int(info["pid"]), info.get("start")
            if start is None or proc_start_time(pid) != start:
                continue  # gone, or its PID now belongs to another process
            self.log(f"stopping {name} (pid {pid}) left running by a previous runner")
            signal_session(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while session_members(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            signal_session(pid, signal.SIGKILL)
        self.pids_path.unlink()

    def _resolve_env(self, production: bool) -> dict[str, str]:
        """The environment every child gets: same Redis, database and secrets everywhere."""
        from ops.instance import apply_instance_secrets

        # The children read their settings from the environment like any deployment: pass ours on, completed.
        env = dict(os.environ)
        if not production:
            # The demo's secrets, generated once into the instance; production's come from its environment only.
            apply_instance_secrets(env, self.s.instance_dir)
        env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=Config.from_env(env).database_url,
            PORT=str(self.s.port),
            INSTANCE_DIR=str(self.s.instance_dir),
            # Children's prints must reach the log as they happen, not when a buffer fills.
            PYTHONUNBUFFERED="1",
        )
        # Each child that has metrics gets its kind's own directory (_popen); the others none.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    # --- children ----------------------------------------------------------------------------

    def _popen(
        self, argv: list[str], metrics: str | None = None, nice: int | None = None
    ) -> Callable[[], subprocess.Popen[bytes]]:
        """A spawner for a child with its own session, output piped to its log; `metrics`: the kind of process whose
        shared metrics directory (METRICS_DIRS) it writes into; `nice`: how far below the runner's CPU priority it
        runs (default BACKGROUND_NICE; the screens' web server alone runs at 0)."""
        steps = self.s.background_nice if nice is None else nice

        def spawn() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                dying_with_runner(argv, steps),
                cwd=ROOT,
                env={**self.env, **metrics_env(self.s.instance_dir, metrics)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Own session and group: a terminal's Ctrl-C reaches it only through our orderly shutdown,
                # and the whole session can be stopped at once.
                start_new_session=True,
            )

        return spawn

    def _build_children(self, config: Config) -> None:
        """Define the children in start order."""
        if self.redis_port is not None:
            from ops.redis_server import start_bundled_redis

            redis_dir, redis_port = self.s.instance_dir / "redis", self.redis_port

            def spawn_redis() -> subprocess.Popen[bytes]:
                return start_bundled_redis(redis_dir, redis_port)[0]

            self.children.append(Child("redis", spawn_redis, stage=3))
        # Workers and scheduler as a deployment starts them (ops/jobs.py); REDIS_URL is in their environment.
        for i in range(1, self.s.rq_workers + 1):
            self.children.append(Child(f"worker-{i}", self._popen(dongcheng("worker"), "jobs"), stage=2))
        self.children.append(Child("cron", self._popen(dongcheng("scheduler"), "jobs"), stage=2))
        # The workers' and the scheduler's metrics, and the gauges read from Redis (dashboard/observe/).
        exporter = dongcheng("exporter", "--host", self.s.host, "--port", str(self.s.metrics_port))
        self.children.append(Child("metrics", self._popen(exporter, "jobs"), stage=2))
        # The screens' server alone keeps the runner's priority: the others work behind it (BACKGROUND_NICE).
        web = web_argv(self.s.host, self.s.port, self.s.web_workers)
        self.children.append(Child("web", self._popen(web, "web", nice=0), stage=2))
        # The same application on its own port and processes for the sensor and 12345 feeds (POST /api/v1/events,
        # on its fast path): at 1,000 events a second its requests would otherwise share the screens' workers and
        # their interpreter lock, and every refresh would wait behind them. The screens' port still takes feeds too.
        self.children.append(Child("ingest", self._popen(
            feeds_argv(self.s.host, self.s.ingest_port, self.s.ingest_workers), "ingest"), stage=2))
        if config.mqtt_url:
            # The MQTT feeds' subscriber (ops/mqtt.py); its metrics join the workers' for the exporter.
            self.children.append(Child("mqtt", self._popen(dongcheng("mqtt"), "jobs"), stage=2))
        if config.simulator:
            # The token reaches the simulator through INGEST_TOKEN in its environment, not argv (visible in ps).
            sim = dongcheng("simulate", "--url", self.ingest_base, "--rate", f"{self.s.sim_rate:g}",
                            "--seed", str(self.s.sim_seed))
            self.children.append(Child("simulator", self._popen(sim), stage=1,
                                       gate=lambda: self.web_ready and self.ingest_ready))

    def _base(self, port: int) -> str:
        """Base URL of one of our own servers, as reached from this machine."""
        host = "127.0.0.1" if self.s.host in ("0.0.0.0", "") else self.s.host
        return f"http://{host}:{port}"

    @property
    def web_base(self) -> str:
        """Base URL of our own web server (the screens)."""
        return self._base(self.s.port)

    @property
    def ingest_base(self) -> str:
        """Base URL of our own ingest server (the feeds)."""
        return self._base(self.s.ingest_port)

    def _start(self, child: Child) -> None:
        """Start `child` now; a failure to start counts as a quick death."""
        try:
            proc = child.spawn()
        except (OSError, RuntimeError) as exc:
            self.log(f"{child.name} failed to start: {exc}")
            self.schedule_restart(child, uptime=0.0)
            return
        child.proc, child.started_at = proc, time.monotonic()
        if proc.stdout is not None:
            child.sink = self._sink(child.name)
            child.pump = threading.Thread(target=child.sink.pump, args=(proc.stdout,), name=f"log-{child.name}")
            child.pump.daemon = True  # a grandchild holding the pipe must not keep the runner from exiting
            child.pump.start()
        what = "restarted" if child.restarts else "started"
        self.log(f"{what} {child.name} (pid {proc.pid})")
        self._write_pids()

    def schedule_restart(self, child: Child, uptime: float) -> float:
        """Set when `child` starts again: 1 s, doubling while it keeps dying young, at most BACKOFF_MAX_S."""
        child.quick_deaths = 0 if uptime >= STABLE_AFTER_S else child.quick_deaths + 1
        delay = min(2.0 ** max(child.quick_deaths - 1, 0), BACKOFF_MAX_S)
        child.next_start = time.monotonic() + delay
        child.restarts += 1
        return delay

    def _check(self, child: Child) -> None:
        """Notice a dead child, clean up after it and restart it when its time has come."""
        if child.proc is not None:
            code = child.proc.poll()
            if code is None:
                return
            pid, uptime = child.proc.pid, time.monotonic() - child.started_at
            # A worker killed mid-job leaves its work horse (own group, same session): stop it too.
            leftovers = signal_session(pid, signal.SIGKILL)
            child.proc = None
            delay = self.schedule_restart(child, uptime)
            extra = f"; killed {leftovers} leftover process(es)" if leftovers else ""
            self.log(
                f"{child.name} (pid {pid}) {describe_exit(code)} after {uptime:.0f} s{extra}; "
                f"restarting in {delay:.0f} s (restart #{child.restarts})"
            )
            self._write_pids()
        if time.monotonic() >= child.next_start and child.gate():
            self._start(child)

    def _answers(self, base: str) -> bool:
        """True once base/healthz answers at all (200 or 503 both mean the server serves requests)."""
        try:
            with self._opener.open(f"{base}/healthz", timeout=1.0):
                pass
        except urllib.error.HTTPError:
            pass  # an HTTP status, even 503 or 404, means the server is up
        except (urllib.error.URLError, OSError, HTTPException):
            return False  # not listening or not answering yet: try again on the next poll
        return True

    def _poll_web(self) -> None:
        """Mark the web and the ingest servers ready once they answer; the banner once both do."""
        if not self.ingest_ready:
            self.ingest_ready = self._answers(self.ingest_base)
        if not self.web_ready and self._answers(self.web_base):
            self.web_ready = True
        if self.web_ready and self.ingest_ready:
            self._banner()

    def _write_pids(self) -> None:
        """Record the runner and its children in instance/pids.json (for tests and for leftover clean-up)."""
        children = {
            c.name: {"pid": c.proc.pid, "start": proc_start_time(c.proc.pid) if HAVE_PROC else None}
            for c in self.children
            if c.proc is not None
        }
        data = {
            "runner": os.getpid(),
            "port": self.s.port,
            "ingest_port": self.s.ingest_port,
            "metrics_port": self.s.metrics_port,
            "redis_url": mask_url(self.redis_url),
            "children": children,
        }
        tmp = self.pids_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.pids_path)

    # --- the banner --------------------------------------------------------------------------

    def _mqtt_lines(self) -> list[str]:
        """The banner's line of the MQTT feeds, when MQTT_URL is set."""
        cfg = Config.from_env(self.env)
        if not cfg.mqtt_url:
            return []
        return [f"  mqtt      {mask_url(cfg.mqtt_url)}   ({cfg.mqtt_prefix}/<source>/<kind>; errors on "
                f"{cfg.mqtt_prefix}/errors/<source>)"]

    def _banner(self) -> None:
        """Tell the duty engineer where to go, how to log in and where the logs are."""
        redis_note = ("bundled, data in instance/redis/" if self.redis_port is not None
                      else f"master through the sentinels {self.redis_sentinels}" if self.redis_sentinels
                      else "from REDIS_URL")
        sim = [c for c in self.children if c.name == "simulator"]
        sim_off = "production" if Config.from_env(self.env).production else "SIMULATOR=off"
        lines = [
            "=" * 72,
            "东城区城市运行指挥中心 · Dongcheng city-operations command centre is up",
            f"  open      http://127.0.0.1:{self.s.port}/login   (wall: /wall)",
            f"  feeds     POST http://127.0.0.1:{self.s.ingest_port}/api/v1/events   (sensors, 12345; INGEST_PORT)",
            f"  token     Authorization: Bearer <INGEST_TOKEN>, {self._token_source()}",
            *self._mqtt_lines(),
            f"  metrics   GET /metrics on ports {self.s.port} (web), {self.s.ingest_port} (feeds) and "
            f"{self.s.metrics_port} (workers, scheduler, Redis: METRICS_PORT); METRICS_TOKEN or METRICS_ALLOW",
            *self.mode_lines,
            f"  redis     {mask_url(self.redis_url)}   ({redis_note})",
            f"  database  {mask_url(self.env['DATABASE_URL'])}",
            f"  simulator {f'{self.s.sim_rate:g} events/s' if sim else f'off ({sim_off})'}",
            f"  logs      {self.logs_dir}/<name>.log (runner, web, ingest, worker-N, cron, metrics, mqtt, simulator)",
            "  stop      Ctrl-C (stops every process, Redis last)",
            "=" * 72,
        ]
        if self.s.host == "0.0.0.0":
            lines.insert(3, f"            also on every interface of this machine, port {self.s.port}")
        for line in lines:
            self.console.line("runner", line)

    def _token_source(self) -> str:
        """Where the feeds' bearer token is (never the token itself: the console may be shared or recorded)."""
        if "INGEST_TOKEN" in os.environ or Config.from_env(self.env).production:
            return "as set in INGEST_TOKEN"
        return f"kept in {self.s.instance_dir / 'secrets.json'} (INGEST_TOKEN)"

    # --- shutdown ----------------------------------------------------------------------------

    def _stop_stage(self, children: list[Child], grace: float) -> None:
        """SIGTERM each child's group, wait up to `grace`, then SIGKILL whatever is left of their sessions."""
        running = [c for c in children if c.proc is not None]
        for c in running:
            assert c.proc is not None
            try:
                os.killpg(c.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue  # already gone; reaped below
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not self.force:
            if all(c.proc is None or c.proc.poll() is not None for c in running):
                break
            time.sleep(0.05)
        for c in running:
            assert c.proc is not None
            if c.proc.poll() is None:
                why = "second stop signal" if self.force else f"did not stop in {grace:.0f} s"
                self.log(f"{c.name} (pid {c.proc.pid}): {why}: SIGKILL")
            # Also reaches grandchildren that outlived their parent (an RQ horse, a stuck gunicorn worker).
            signal_session(c.proc.pid, signal.SIGKILL)
            code = c.proc.wait()
            self.log(f"stopped {c.name} (pid {c.proc.pid}, {describe_exit(code)})")
        for c in running:
            assert c.proc is not None
            deadline = time.monotonic() + 2
            while session_members(c.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if c.pump is not None:
                c.pump.join(timeout=2)
            c.proc = None

    def shutdown(self) -> None:
        """Stop every child: the simulator first, then web, cron and workers, Redis last."""
        for stage, grace in ((1, 5.0), (2, STOP_GRACE_S), (3, STOP_GRACE_S)):
            self._stop_stage([c for c in self.children if c.stage == stage], grace)
        if self.pids_path.exists():
            self.pids_path.unlink()

    # --- main --------------------------------------------------------------------------------

    def run(self) -> int:
        """Set up, start and supervise until a signal; return the exit status."""
        # 0700 when we create it: it holds the database (password hashes) and secrets.json.
        self.s.instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._install_signals()
        # The children inherit it: each open push stream is a socket of the web's workers.
        raise_open_files_limit()
        lock = self._lock_instance()
        if lock is None:
            return 1
        try:
            return self._run()
        finally:
            lock.close()
            for sink in self._sinks.values():
                sink.close()

    def choose_ingest_port(self) -> int | None:
        """The feeds' server's port: INGEST_PORT, else the port after PORT, else any free one; None (said why)
        when INGEST_PORT is set but taken."""
        return self._choose_port(self.s.ingest_port, self.s.port + 1, (self.s.port,), "the feeds' server",
                                 "INGEST_PORT")

    def _choose_port(self, setting: int, preferred: int, taken: tuple[int, ...], what: str, var: str) -> int | None:
        """The port of `what`: `setting` (the variable `var`), or when 0 `preferred`, else any free one; None (said
        why) when `setting` is taken (`taken`: our other servers' ports)."""
        if setting == 0:
            if preferred not in taken and port_is_free(self.s.host, preferred):
                return preferred
            from ops.redis_server import free_port

            port = free_port()
            self.log(f"port {preferred} is in use: {what} takes port {port}")
            return port
        if setting in taken or not port_is_free(self.s.host, setting):
            self.log(f"port {setting} on {self.s.host} ({what}) is in use: stop what uses it or set {var}")
            return None
        return setting

    def _run(self) -> int:
        """The body of run(), holding the instance lock."""
        from dashboard.store import schema
        from ops.modes import prepare_start

        try:
            # Production's settings and schema are checked before anything starts; a bad DEPLOYMENT too.
            base = Config.from_env()
            schema.check_start(base)
        except ConfigError as exc:
            self.log(f"refused to start: {exc}")
            return 1
        self._reap_leftovers()
        if not port_is_free(self.s.host, self.s.port):
            self.log(f"port {self.s.port} on {self.s.host} is in use: stop what uses it or set PORT")
            return 1
        ingest_port = self.choose_ingest_port()
        if ingest_port is None:
            return 1
        metrics_port = self._choose_port(self.s.metrics_port, self.s.port + 2, (self.s.port, ingest_port),
                                         "the metrics exporter", "METRICS_PORT")
        if metrics_port is None:
            return 1
        self.s = replace(self.s, ingest_port=ingest_port, metrics_port=metrics_port)
        fresh_metrics_dirs(self.s.instance_dir)
        if self.s.redis_url or base.redis_sentinels:
            # Through Sentinel REDIS_URL gives only the database number and password (its default: database 0).
            self.redis_url = self.s.redis_url or base.redis_url
            self.redis_sentinels = ",".join(f"{h}:{p}" for h, p in base.redis_sentinels)
        else:
            port = self.s.redis_port
            if not port_is_free("127.0.0.1", port):
                from ops.redis_server import free_port

                port = free_port()
                self.log(f"port {self.s.redis_port} is in use: the bundled Redis takes port {port}")
            self.redis_port = port
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.env = self._resolve_env(base.production)
        config = Config.from_env(self.env)
        self._build_children(config)
        try:
            redis = next((c for c in self.children if c.name == "redis"), None)
            if redis is not None:
                self._start(redis)
                if redis.proc is None:
                    self.log("the bundled Redis did not start: see instance/redis/redis.log")
                    return 1
            self.mode_lines = prepare_start(config, self.log)
            if self.stop_signal is None:
                self.log(f"waiting for the web server on {self.web_base}")
            started = time.monotonic()
            warned = False
            while self.stop_signal is None:
                for child in self.children:
                    self._check(child)
                if not (self.web_ready and self.ingest_ready):
                    self._poll_web()
                    if not warned and time.monotonic() - started > WEB_READY_WARN_S:
                        warned = True
                        self.log(f"the web server has not answered for {WEB_READY_WARN_S:.0f} s: see logs/web.log")
                time.sleep(POLL_S)
            self.log(f"stopping on {signal.Signals(self.stop_signal).name} (a second Ctrl-C skips the waiting)")
            return 0
        except Exception as exc:
            self.log(f"fatal: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.shutdown()
            self.log("all processes stopped")


def run() -> int:
    """`dongcheng run`: supervise the whole system with the environment's settings until a signal."""
    import io

    if isinstance(sys.stdout, io.TextIOWrapper):
        # The banner is Chinese: never die of a terminal that cannot show it.
        sys.stdout.reconfigure(errors="replace")
    return Runner(RunConfig.from_env()).run()


def run_command(_args: Any) -> int:
    """`dongcheng run` (ops/cli.py)."""
    return run()
