"""`dongcheng cluster` (`make cluster`): two hosts' topology on one machine, as real processes on free loopback ports.

Each "host" is a `dongcheng run` of its own (ops/runner.py: the screens' and the feeds' gunicorns, RQ workers, a
scheduler, the exporter; its own instance folder), and all of them share what a deployment of several hosts shares:
a Redis master, its replica and three sentinels (ops/redis_sentinels.py; every process reaches Redis through
REDIS_SENTINELS), one PostgreSQL (ops/pg_server.py: initdb into the cluster's folder), and Debian's nginx in front
with the project's site file listing both hosts in its upstreams (ops/nginx.py; TRUSTED_PROXY_HOPS=1). The simulator
posts through nginx; SECRET_KEY, INGEST_TOKEN and the demo password are generated once for the whole cluster.

`Cluster` is the Python side of it, which the command, the test (tests/test_cluster.py) and the failover benchmark
(bench/cluster.py) drive alike: start and stop, supervise (a dead process is started again: a host's runner, nginx,
the simulator, a sentinel; a dead Redis server only once the sentinels name another master, and then as its
replica), and the faults: kill a host's web, a whole host, the scheduler that leads, the Redis master.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

from dashboard.config import ROOT, Config
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.live.lease import current_holder
from ops.bootstrap import generate_password
from ops.instance import load_or_create_secrets
from ops.nginx import check_config, nginx_argv, nginx_missing, write_config
from ops.pg_server import PostgresServer, pg_missing
from ops.processes import session_members, signal_session, wait_until
from ops.redis_sentinels import SentinelSet
from ops.redis_server import free_port
from ops.runner import dongcheng

# What the sentinels monitor the cluster's Redis as (REDIS_SENTINEL_MASTER).
MASTER_NAME = "dongcheng"
# A master is down after one second without an answer: a failover within a few seconds.
DOWN_AFTER_MS = 1000
HOST_NAMES = ("a", "b")
# Written into the cluster's folder: a folder with files but without it is never wiped.
MARKER = ".dongcheng-cluster"
# Bounds of the waits for a start (a host's first start upgrades the schema and seeds).
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 20.0
RESTART_AFTER_S = 1.0
POLL_S = 0.2
# PostgreSQL's connections: each host's processes each hold a small pool.
PG_MAX_CONNECTIONS = 300


class ClusterRefused(RuntimeError):
    """The cluster cannot start here (nginx or PostgreSQL missing, a folder not ours)."""


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `url` (never through an http_proxy); (status, body), status 0 when nothing answered."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except OSError:
        return 0, b""


def _sigkill_session(pid: int) -> None:
    """SIGKILL `pid` first (a crash), then whatever is left of its session."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    signal_session(pid, signal.SIGKILL)


@dataclass
class Host:
    """One host: a `dongcheng run` with its own instance folder and ports."""

    name: str
    folder: Path
    port: int = field(default_factory=free_port)
    ingest_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    died_at: float | None = None

    def children(self) -> dict[str, int]:
        """The PIDs of the runner's children by name (web, ingest, cron, worker-N …), from its pids.json."""
        try:
            data = json.loads((self.folder / "pids.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {name: int(info["pid"]) for name, info in data.get("children", {}).items()}

    def serving(self) -> bool:
        """True when both of its gunicorns answer /livez."""
        return all(_get(f"http://127.0.0.1:{p}/livez")[0] == 200 for p in (self.port, self.ingest_port))


class Cluster:
    """The processes of two hosts and what they share, started, supervised and stopped together."""

    def __init__(self, folder: Path, web_workers: int = 1, rq_workers: int = 1, sim_rate: float = 50.0,
                 nginx_connections: int = 768, simulator: bool = True, out: IO[str] | None = None,
                 host_env: Callable[[Host], dict[str, str]] | None = None) -> None:
        """Prepare in `folder` (wiped when it holds an earlier cluster); nothing starts before start(). `host_env`:
        settings of a host's own besides the cluster's (a benchmark's access log)."""
        self.folder = folder.resolve()
        self.web_workers, self.rq_workers, self.sim_rate = web_workers, rq_workers, sim_rate
        self.nginx_connections, self.with_simulator = nginx_connections, simulator
        self.out = out or sys.stdout
        self.host_env = host_env
        self.hosts = [Host(name, self.folder / f"host-{name}") for name in HOST_NAMES]
        self.nginx_port = free_port()
        self.redis: SentinelSet | None = None
        self.postgres: PostgresServer | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self.simulator: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.accounts: list[str] = []
        self._redis_died: dict[str, float] = {}
        self._client: redis.Redis | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    # --- set-up ----------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """One line of the cluster's own."""
        self.out.write(f"{time.strftime('%H:%M:%S')} cluster  | {text}\n")
        self.out.flush()

    def _prepare_folder(self) -> None:
        """A clean folder of ours (an earlier cluster's is wiped; someone else's non-empty folder is refused)."""
        if self.folder.exists() and any(self.folder.iterdir()):
            if not (self.folder / MARKER).exists():
                raise ClusterRefused(f"{self.folder} holds files of something else: choose another --dir")
            shutil.rmtree(self.folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.folder / MARKER).write_text("made by `dongcheng cluster`; wiped by its next start\n")

    def _base_env(self) -> dict[str, str]:
        """What every process of the cluster gets: the sentinels, the database, the shared secrets, one proxy."""
        assert self.redis is not None and self.postgres is not None
        secrets = load_or_create_secrets(self.folder)
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_PORT", "PROMETHEUS_MULTIPROC_DIR")}
        # Generated once for the cluster (its folder is new at each start), shown in the banner.
        demo_password = generate_password()
        env.update(self.redis.env_for(0), DATABASE_URL=self.postgres.url, **secrets, DEMO_PASSWORD=demo_password,
                   TRUSTED_PROXY_HOPS="1", SIMULATOR="off", DEPLOYMENT="demo", PYTHONUNBUFFERED="1",
                   WEB_WORKERS=str(self.web_workers), RQ_WORKERS=str(self.rq_workers), HOST="127.0.0.1")
        return env

    def start(self) -> None:
        """Start everything and return once nginx serves both hosts; ClusterRefused when it cannot run here."""
        missing = nginx_missing() or pg_missing()
        if missing:
            raise ClusterRefused(f"{missing}: the cluster needs both nginx and PostgreSQL's server programs "
                                 "(`make cluster` installs nginx; apt-get install postgresql)")
        self._prepare_folder()
        self.say(f"starting in {self.folder}: Redis master, replica and three sentinels")
        self.redis = SentinelSet(self.folder / "redis", master_name=MASTER_NAME, down_after_ms=DOWN_AFTER_MS)
        self.redis.start()
        self.postgres = PostgresServer(root=self.folder / "postgres")
        self.say(f"PostgreSQL on port {self.postgres.port} (data in {self.postgres.data})")
        self.postgres.start(max_connections=PG_MAX_CONNECTIONS)
        self.env = self._base_env()
        self._seed()
        for host in self.hosts:
            self._start_host(host)
        for host in self.hosts:
            wait_until(f"host {host.name} serving (see {host.folder}/logs/)", host.serving, START_TIMEOUT_S, 0.5)
        self._start_nginx()
        if self.with_simulator:
            self._start_simulator()

    def _seed(self) -> None:
        """Upgrade the schema and create the demo's accounts, units and sensors once, before the hosts start (whose
        own start then finds everything there)."""
        from ops.modes import prepare_start

        # With the simulator the demo also needs its units and sensors (the hosts themselves run none).
        simulated = {**self.env, "SIMULATOR": "on" if self.with_simulator else "off"}
        self.accounts = prepare_start(Config.from_env(simulated), self.say)

    def _popen(self, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A process of the cluster in a session of its own, its output appended to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as fh:
            return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def _start_host(self, host: Host) -> None:
        """Start host `host`'s `dongcheng run`."""
        host.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = {**self.env, "INSTANCE_DIR": str(host.folder), "PORT": str(host.port),
               "INGEST_PORT": str(host.ingest_port), "METRICS_PORT": str(host.metrics_port),
               **(self.host_env(host) if self.host_env else {})}
        host.proc = self._popen(dongcheng("run"), host.folder / "runner.out", env)
        host.died_at = None

    def _start_nginx(self) -> None:
        """nginx with the site file listing both hosts' screens' and feeds' servers."""
        conf = write_config(self.folder / "nginx", [f"127.0.0.1:{h.port}" for h in self.hosts],
                            [f"127.0.0.1:{h.ingest_port}" for h in self.hosts], self.nginx_port,
                            self.nginx_connections)
        refused = check_config(conf)
        if refused:
            raise ClusterRefused(f"nginx -t refused the configuration:\n{refused}")
        self.nginx = self._popen(nginx_argv(conf), self.folder / "nginx" / "nginx.out", self.env)
        wait_until("nginx serving", lambda: _get(f"{self.url}/livez")[0] == 200, START_TIMEOUT_S, 0.2)

    def _start_simulator(self) -> None:
        """The simulator, posting its events through nginx (INGEST_TOKEN in its environment)."""
        argv = dongcheng("simulate", "--url", self.url, "--rate", f"{self.sim_rate:g}")
        self.simulator = self._popen(argv, self.folder / "simulator.log", self.env)

    @property
    def url(self) -> str:
        """The cluster's address: nginx."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def banner(self) -> list[str]:
        """Where everything is, for the console."""
        assert self.redis is not None and self.postgres is not None
        lines = ["=" * 72, "东城区城市运行指挥中心 · Dongcheng command centre: two hosts behind nginx",
                 f"  open      {self.url}/login   (wall: /wall; feeds POST {self.url}/api/v1/events)"]
        for h in self.hosts:
            lines.append(f"  host {h.name}    screens :{h.port}  feeds :{h.ingest_port}  metrics :{h.metrics_port}  "
                         f"logs {h.folder}/logs/")
        ports = self.redis.ports()
        lines += [f"  redis     master :{ports['master']}  replica :{ports['replica']}  sentinels "
                  f"{self.redis.sentinels_setting} (master name {MASTER_NAME})",
                  f"  database  {self.postgres.url}",
                  f"  simulator {f'{self.sim_rate:g} events/s through nginx' if self.with_simulator else 'off'}",
                  *self.accounts, f"  folder    {self.folder}", "  stop      Ctrl-C (stops every process)", "=" * 72]
        return lines

    # --- supervision -----------------------------------------------------------------------------

    def supervise_once(self) -> None:
        """Start again what died: a host's runner, nginx, the simulator and a sentinel after RESTART_AFTER_S; a Redis
        server only once the sentinels name another master, as that one's replica (back as a master with no data,
        it would otherwise be taken for the master again)."""
        now = time.monotonic()
        for host in self.hosts:
            if host.proc is not None and host.proc.poll() is not None:
                if host.died_at is None:
                    host.died_at = now
                    self.say(f"host {host.name}'s runner exited ({host.proc.returncode}): starting it again")
                elif now - host.died_at >= RESTART_AFTER_S:
                    self._start_host(host)
        if self.nginx is not None and self.nginx.poll() is not None:
            self.say("nginx exited: starting it again")
            self._start_nginx()
        if self.simulator is not None and self.simulator.poll() is not None:
            self.say(f"the simulator exited ({self.simulator.returncode}): starting it again")
            self._start_simulator()
        self._supervise_redis(now)

    def _supervise_redis(self, now: float) -> None:
        """Restart a dead sentinel at once, a dead Redis server as the current master's replica."""
        if self.redis is None:
            return
        for name, proc in list(self.redis.procs.items()):
            if proc.poll() is None:
                self._redis_died.pop(name, None)
                continue
            died = self._redis_died.setdefault(name, now)
            if now - died < RESTART_AFTER_S:
                continue
            if name.startswith("sentinel-"):
                self.redis.start_sentinel(int(name.removeprefix("sentinel-")))
                continue
            master = self.redis.master()
            if master is None or master == name:
                continue  # not failed over yet: wait
            self.say(f"Redis {name} (port {self.redis.ports()[name]}) starts again as a replica of {master}")
            self.redis.start_server(name, replica_of=self.redis.ports()[master])

    def supervise_in_background(self) -> None:
        """Supervise in a thread of this process until stop() (for the test and the benchmark)."""

        def loop() -> None:
            while not self._stopping.wait(POLL_S):
                self.supervise_once()

        self._supervisor = threading.Thread(target=loop, name="cluster-supervisor", daemon=True)
        self._supervisor.start()

    def run_until_signal(self) -> int:
        """Supervise until SIGINT or SIGTERM; then stop everything."""
        stopping: list[int] = []

        def on_signal(signum: int, _frame: Any) -> None:
            stopping.append(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        try:
            while not stopping:
                self.supervise_once()
                time.sleep(POLL_S)
            self.say(f"stopping on {signal.Signals(stopping[0]).name}")
        finally:
            self.stop()
        return 0

    # --- faults ----------------------------------------------------------------------------------

    def kill_web(self, host: Host) -> float:
        """SIGKILL `host`'s screens' gunicorn, its master and its workers at once, as a host lost would lose them
        (its runner then starts it again); the monotonic time of the kill.

        The master alone would leave its workers serving for up to a second more, until the runner kills those
        orphans: a request one of them was answering is then cut after nginx has sent its headers, too late for
        nginx to pass it to the other host."""
        pid = host.children().get("web")
        if pid is None:
            raise RuntimeError(f"host {host.name} has no web running")
        at = time.monotonic()
        _sigkill_session(pid)
        return at

    def kill_host(self, host: Host) -> float:
        """SIGKILL every process of `host`, its runner first (as a machine lost would); the supervision starts it
        again. The monotonic time of the kill."""
        children = host.children()
        at = time.monotonic()
        if host.proc is not None:
            _sigkill_session(host.proc.pid)
        for pid in children.values():
            _sigkill_session(pid)
        return at

    def client(self) -> redis.Redis:
        """A client of the cluster's Redis (database 0) through the sentinels."""
        if self._client is None:
            self._client = make_redis(Config.from_env(self.env).redis)
        return self._client

    def leader(self) -> tuple[Host, int] | None:
        """The host whose scheduler holds the lease now and that scheduler's PID, None when none does."""
        try:
            holder = current_holder(self.client(), keys.SCHEDULER_LEASE)
        except redis.RedisError:
            return None
        if holder is None:
            return None
        for host in self.hosts:
            if host.children().get("cron") == holder.pid:
                return host, holder.pid
        return None

    def kill_leader(self) -> tuple[Host, int, float]:
        """SIGKILL the scheduler that leads; its host, its PID and the monotonic time of the kill."""
        wait_until("a scheduler leading", lambda: self.leader() is not None, START_TIMEOUT_S, 0.1)
        found = self.leader()
        assert found is not None
        at = time.monotonic()
        _sigkill_session(found[1])
        return found[0], found[1], at

    def kill_redis_master(self) -> tuple[str, float]:
        """SIGKILL the Redis server the sentinels name the master; its name and the monotonic time of the kill."""
        assert self.redis is not None
        wait_until("the sentinels agreeing on a master", lambda: self.redis is not None and self.redis.master()
                   is not None, START_TIMEOUT_S, 0.1)
        name = self.redis.master()
        assert name is not None
        at = time.monotonic()
        self.redis.kill(name)
        self._redis_died[name] = time.monotonic()
        return name, at

    def health(self) -> dict[str, Any]:
        """/healthz through nginx ({} when it did not answer with JSON)."""
        _, body = _get(f"{self.url}/healthz", timeout=5.0)
        try:
            found = json.loads(body)
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def aggregates_fresh(self) -> bool:
        """True when /healthz through nginx calls every aggregate fresh."""
        aggregates = self.health().get("aggregates") or {}
        return bool(aggregates) and all(a.get("ok") for a in aggregates.values())

    # --- stop ------------------------------------------------------------------------------------

    def processes(self) -> list[int]:
        """Every live process the cluster started (and their sessions' members): for a check that none is left."""
        roots = [p.pid for p in (self.nginx, self.simulator) if p is not None]
        roots += [h.proc.pid for h in self.hosts if h.proc is not None]
        # Each of a runner's children runs in a session of its own.
        roots += [pid for h in self.hosts for pid in h.children().values()]
        if self.redis is not None:
            roots += [p.pid for p in self.redis.procs.values()]
        if self.postgres is not None and self.postgres.running():
            # pg_ctl started the postmaster as a daemon: its PID is the first line of its pid file.
            roots.append(int((self.postgres.data / "postmaster.pid").read_text().split()[0]))
        return sorted({pid for root in roots for pid in session_members(root)})

    def stop(self) -> None:
        """Stop everything: the simulator, the hosts (each runner stops its children), nginx, Redis, PostgreSQL."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=STOP_GRACE_S)
        procs = [p for p in (self.simulator, *(h.proc for h in self.hosts), self.nginx) if p is not None]
        # The runners' children, in sessions of their own: whatever a runner could not stop is killed below.
        children = [pid for h in self.hosts for pid in h.children().values()]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.say(f"pid {proc.pid} did not stop in {STOP_GRACE_S:.0f} s: SIGKILL")
            signal_session(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for pid in children:
            if signal_session(pid, signal.SIGKILL):
                self.say(f"killed what was left of a host's child (session {pid})")
        if self._client is not None:
            self._client.close()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            if self.folder not in self.postgres.root.parents:
                self.postgres.remove()  # a temporary folder (as root): nothing to keep
            elif self.postgres.running():
                self.postgres.stop()
        self.say("all processes stopped")


def cluster_command(args: argparse.Namespace) -> int:
    """`dongcheng cluster`: start the two hosts' cluster, print where it is, supervise until Ctrl-C or SIGTERM."""
    cluster = Cluster(Path(args.dir), web_workers=args.web_workers, rq_workers=args.rq_workers,
                      sim_rate=args.rate)
    try:
        cluster.start()
    except ClusterRefused as exc:
        cluster.say(f"refused to start: {exc}")
        cluster.stop()
        return 1
    except BaseException:
        cluster.stop()
        raise
    for line in cluster.banner():
        cluster.say(line)
    return cluster.run_until_signal()
