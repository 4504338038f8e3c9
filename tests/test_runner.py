"""The real runner as a subprocess (`dongcheng run`): it starts everything, restarts a killed worker, and stops every
process."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.config import ROOT
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.store import schema
from dashboard.store.engine import make_engine
from dashboard.store.models import AuditLog, Sensor, Unit, User
from ops.processes import BACKGROUND_NICE, dying_with_runner, group_niceness, niceness, parse_autogroup
from ops.redis_server import free_port
from tests.servers import MosquittoProcess

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the Linux process table")

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _in_sessions(sids: set[int]) -> list[str]:
    """Live processes of the given sessions, as 'pid cmdline' (a child's session holds all it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[3]) in sids:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name} {cmd}")
    return found


def _port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _status(url: str) -> int | None:
    """HTTP status of GET `url`, or None when nothing answers."""
    try:
        with _NO_PROXY.open(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def _wait(what: str, pred: Callable[[], Any], timeout: float, run: RunnerProc | None = None) -> Any:
    """Poll `pred` until it returns something truthy; fail with the runner's output after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        if run is not None and run.proc.poll() is not None:
            pytest.fail(f"runner exited ({run.proc.returncode}) while waiting for {what}:\n{run.output()}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f":\n{run.output()}" if run else ""))


@dataclass
class RunnerProc:
    """A runner subprocess and where to look at it."""

    proc: subprocess.Popen[bytes]
    instance: Path
    port: int
    out_path: Path

    def output(self) -> str:
        """Everything the runner printed so far."""
        return self.out_path.read_text(errors="replace")

    def pids(self) -> dict[str, Any]:
        """The runner's instance/pids.json, or {} before it is written."""
        try:
            return dict(json.loads((self.instance / "pids.json").read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def children(self) -> dict[str, int]:
        """Child name -> pid."""
        return {name: int(info["pid"]) for name, info in self.pids().get("children", {}).items()}

    def redis_port(self) -> int:
        """Port of the bundled Redis."""
        return int(self.pids()["redis_url"].rsplit(":", 1)[1].split("/")[0])


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., RunnerProc]]:
    """Start `dongcheng run` (as `python -m ops.cli run`) in its own session on free ports under tmp_path."""
    started: list[RunnerProc] = []

    def start(**extra: str) -> RunnerProc:
        instance = tmp_path / "instance"
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "DEMO_PASSWORD", "SECRET_KEY", "INGEST_TOKEN", "DEPLOYMENT")}
        env.update(
            INSTANCE_DIR=str(instance),
            DATABASE_URL=f"sqlite:///{tmp_path / 'runner.db'}",
            PORT=str(port),
            INGEST_PORT=str(free_port()),
            REDIS_PORT=str(free_port()),  # never the 6390 of a `make run` on this machine
            SIMULATOR="off",
            SIM_RATE="5",
            RQ_WORKERS="2",
            WEB_WORKERS="1",
        )
        env.update(extra)
        out_path = tmp_path / "runner.out"
        with out_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", "run"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # like a terminal: Ctrl-C goes to the runner's group
            )
        run = RunnerProc(proc, instance, port, out_path)
        started.append(run)
        _wait("/login", lambda: _status(f"http://127.0.0.1:{port}/login") == 200, START_TIMEOUT_S, run)
        # The banner follows the feeds' server, whose workers import the app after the web server's did.
        _wait("the banner", lambda: "command centre is up" in run.output(), START_TIMEOUT_S, run)
        return run

    yield start
    for run in started:
        if run.proc.poll() is None:
            # A failed test must not leave a system running: SIGTERM, and SIGKILL the runner's children.
            sids = set(run.children().values())
            run.proc.send_signal(signal.SIGTERM)
            try:
                run.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()
                for line in _in_sessions(sids):
                    os.kill(int(line.split()[0]), signal.SIGKILL)


def _stop_and_check(run: RunnerProc, send: Callable[[], None]) -> None:
    """Send the stop signal and assert the runner exits 0 leaving no process and no open port behind."""
    children = run.children()
    redis_port = run.redis_port()
    ingest_port = int(run.pids()["ingest_port"])
    assert _port_open(redis_port) and _port_open(ingest_port)
    send()
    try:
        code = run.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"runner did not stop in {STOP_TIMEOUT_S:.0f} s:\n{run.output()}")
    out = run.output()
    assert code == 0, out
    assert "all processes stopped" in out
    left = _in_sessions(set(children.values()))
    assert not left, f"left running: {left}\n{out}"
    assert not [name for name, pid in children.items() if _alive(pid)]
    assert not _port_open(redis_port), "the bundled redis-server still listens"
    assert not _port_open(run.port), "the web server still listens"
    assert not _port_open(ingest_port), "the feeds' server still listens"
    assert not (run.instance / "pids.json").exists()


def test_runs_everything_and_ctrl_c_stops_every_child(start_runner: Callable[..., RunnerProc]) -> None:
    """SIGINT to the runner's group (a terminal's Ctrl-C) stops web, ingest, workers, cron, simulator and Redis;
    the simulator posts to the feeds' own server, never to the screens' workers."""
    run = start_runner(SIMULATOR="on")
    children = _wait("the simulator to start", lambda: "simulator" in run.children() and run.children(), 20, run)
    assert set(children) == {"redis", "worker-1", "worker-2", "cron", "metrics", "web", "ingest", "simulator"}
    # The screens' server (and Redis) keep the runner's CPU priority; whatever works behind them yields to them.
    base = os.getpriority(os.PRIO_PROCESS, run.proc.pid)
    behind = ("worker-1", "worker-2", "cron", "metrics", "ingest", "simulator")
    # A child lowers its own priority as its first step (ops/processes.py), some milliseconds after it appears.
    nice = _wait("the background children to lower their priority",
                 lambda: (n := {name: niceness(pid) for name, pid in children.items()})
                 and {n[b] for b in behind} == {min(base + BACKGROUND_NICE, 19)} and n, 10, run)
    assert nice["web"] == nice["redis"] == base
    # Each child leads its own session, so its scheduler's group (autogroup) carries its niceness too: across groups
    # the processes' own niceness ranks nothing.
    if group_niceness(run.proc.pid) is not None:
        _wait("the background children's groups to lower their priority",
              lambda: (n := {name: group_niceness(pid) for name, pid in children.items()})
              and {n[b] for b in behind} == {min(base + BACKGROUND_NICE, 19)} and n["web"] == n["redis"] == base,
              10, run)
    ingest_port = int(run.pids()["ingest_port"])
    out = run.output()
    assert f"http://127.0.0.1:{run.port}" in out and f"http://127.0.0.1:{ingest_port}/api/v1/events" in out
    sim_log = run.instance / "logs" / "simulator.log"
    _wait("the simulator's first batches to be accepted", lambda: sim_log.exists() and " accepted" in
          sim_log.read_text(errors="replace"), 30, run)
    assert f":{ingest_port}" in sim_log.read_text(errors="replace")
    # The console keeps the banner in view: routine lines (the simulator's statistics, requests answered without
    # error) are in the children's log files only.
    assert '"POST /api/v1/events' in (run.instance / "logs" / "ingest.log").read_text(errors="replace")
    assert " accepted, " not in run.output() and '"POST /api/v1/events' not in run.output()
    for account in ("duty", "leader", "dispatch", "admin"):
        assert account in out
    assert "password" in out and "generated" in out
    secrets = run.instance / "secrets.json"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert {"SECRET_KEY", "INGEST_TOKEN"} <= set(json.loads(secrets.read_text()))
    # The banner says where the feeds' token is, without printing it.
    assert f"Bearer <INGEST_TOKEN>, kept in {secrets} (INGEST_TOKEN)" in out
    assert json.loads(secrets.read_text())["INGEST_TOKEN"] not in out
    assert (run.instance / "logs" / "web.log").stat().st_size > 0
    _stop_and_check(run, lambda: os.killpg(run.proc.pid, signal.SIGINT))


def test_with_mqtt_url_the_subscriber_runs_and_the_simulator_feeds_through_the_broker(
    start_runner: Callable[..., RunnerProc], tmp_path: Path
) -> None:
    """MQTT_URL starts `dongcheng mqtt`; SIM_TRANSPORT=mqtt makes the simulator publish, and what it publishes
    reaches the bundled Redis through the broker and the subscriber."""
    broker = MosquittoProcess(tmp_path)
    broker.start()
    try:
        run = start_runner(SIMULATOR="on", SIM_TRANSPORT="mqtt", MQTT_URL=broker.url, MQTT_TOPIC_PREFIX="runner")
        _wait("the subscriber and the simulator", lambda: {"mqtt", "simulator"} <= set(run.children()), 20, run)
        assert f"mqtt      {broker.url}" in run.output()
        r = make_redis(f"redis://127.0.0.1:{run.redis_port()}/0")
        _wait("simulated telemetry stored through MQTT", lambda: r.xlen(keys.TELEMETRY_STREAM) > 0, 60, run)
        r.close()
        _stop_and_check(run, lambda: run.proc.send_signal(signal.SIGTERM))
    finally:
        broker.stop()


def test_a_killed_worker_is_restarted_the_workers_tick_and_sigterm_stops_every_child(
    start_runner: Callable[..., RunnerProc]
) -> None:
    """A worker killed with SIGKILL is noticed, cleaned up after and replaced; the workers and the one cron process
    really tick; SIGTERM to the runner alone stops everything (one runner started for the three)."""
    run = start_runner(DEMO_PASSWORD="chosen-password")
    assert "simulator" not in run.children()
    assert "chosen-password" in run.output()
    old = run.children()["worker-1"]
    os.kill(old, signal.SIGKILL)

    def replaced() -> int | None:
        new = run.children().get("worker-1")
        return new if new is not None and new != old and _alive(new) else None

    new = _wait("worker-1 to be restarted", replaced, 15, run)
    assert f"worker-1 (pid {old}) was killed by SIGKILL" in run.output()
    assert not _in_sessions({old})
    assert run.children()["worker-2"] != new

    def workers_ticking() -> bool:
        try:
            with _NO_PROXY.open(f"http://127.0.0.1:{run.port}/healthz", timeout=2) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return bool(body.get("workers", {}).get("ok"))

    _wait("/healthz to report ticking workers", workers_ticking, 20, run)

    # The workers' ticks and the aggregates' ages through the host's exporter (the demo trusts this machine), and
    # the web's access log with each request's time in milliseconds.
    metrics_port = int(run.pids()["metrics_port"])

    def exported() -> str:
        try:
            with _NO_PROXY.open(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
                text: str = resp.read().decode()
        except OSError:
            return ""
        return text if 'dongcheng_ticks_total{outcome="ok"}' in text else ""

    text = _wait("the exporter to report the workers' ticks", exported, 20, run)
    assert 'dongcheng_aggregate_age_seconds{aggregate="kpi"}' in text and "dongcheng_redis_up 1.0" in text
    assert sorted(p.name for p in (run.instance / "metrics").iterdir()) == ["ingest", "jobs", "web"]
    web_log = (run.instance / "logs" / "web.log").read_text(errors="replace")
    assert re.search(r'"GET /healthz HTTP/1\.1" (200|503) \d+ \d+ms "Python-urllib', web_log), web_log[-2000:]
    _stop_and_check(run, lambda: run.proc.send_signal(signal.SIGTERM))
    assert not _port_open(metrics_port), "the metrics exporter still listens"


# --- the two modes -------------------------------------------------------------------------------


def test_a_demo_restart_keeps_every_account_as_an_administrator_left_it(
    start_runner: Callable[..., RunnerProc], tmp_path: Path
) -> None:
    """A disabled `admin` stays disabled and a changed password stays; the banner says which accounts existed."""
    run = start_runner(DEMO_PASSWORD="first-demo-pass")
    assert "created now: duty (值班员), leader (领导), dispatch (调度员), admin (管理员), password first-demo-pass" \
        in run.output()
    _stop_and_check(run, lambda: run.proc.send_signal(signal.SIGTERM))
    db = f"sqlite:///{tmp_path / 'runner.db'}"
    for args, password in ((("create", "chief", "--role", "admin"), "chief-pass-123"),
                           (("disable", "admin"), None), (("set-password", "duty"), "duty-own-pass")):
        done = subprocess.run([sys.executable, "-m", "ops.cli", "users", *args, "--password-stdin"][
                              : None if password else -1], cwd=ROOT, input=f"{password}\n" if password else "",
                              env={**os.environ, "DATABASE_URL": db}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    run = start_runner(DEMO_PASSWORD="second-demo-pass")
    out = run.output()
    # The banner's accounts: none created, so no password; every one left as it was.
    banner = ("  accounts  existed already, left unchanged: "
              "duty (值班员), leader (领导), dispatch (调度员), admin (管理员)")
    assert banner in out
    assert "second-demo-pass" not in out and "accounts created now: none" in out
    _stop_and_check(run, lambda: run.proc.send_signal(signal.SIGTERM))
    engine = make_engine(db)
    try:
        with Session(engine) as s:
            the_admin = store.users.user_by_name(s, "admin")
            assert the_admin is not None and the_admin.active is False
            assert store.users.authenticate(s, "duty", "duty-own-pass") is not None
            assert store.users.authenticate(s, "leader", "first-demo-pass") is not None
            assert store.users.authenticate(s, "leader", "second-demo-pass") is None
    finally:
        engine.dispose()


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production `dongcheng run` on free ports under tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DEMO_PASSWORD", "SIMULATOR")}
    env.update(DEPLOYMENT="production", SECRET_KEY="k" * 32, INGEST_TOKEN="t" * 32,
               DATABASE_URL=f"sqlite:///{tmp_path / 'production.db'}", INSTANCE_DIR=str(tmp_path / "instance"),
               PORT=str(free_port()), INGEST_PORT=str(free_port()), REDIS_PORT=str(free_port()))
    env.update(extra)
    return env


@pytest.mark.parametrize("missing", ["SECRET_KEY", "INGEST_TOKEN", "DATABASE_URL", "SIMULATOR=on", "upgrade"])
def test_production_refuses_to_start_saying_why_and_starts_nothing(missing: str, tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    if missing == "SIMULATOR=on":
        env["SIMULATOR"] = "on"
    elif missing != "upgrade":
        del env[missing]
    done = subprocess.run([sys.executable, "-m", "ops.cli", "run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stdout.split("refused to start: ", 1)[1]
    if missing == "upgrade":
        assert "not migrated" in said and "run `dongcheng db upgrade` first" in said
    else:
        assert missing in said
        assert not [name for name in ("SECRET_KEY", "INGEST_TOKEN", "DATABASE_URL") if name != missing and name in said]
    assert "started" not in done.stdout  # not even the bundled Redis
    assert not (tmp_path / "instance" / "secrets.json").exists()


def test_production_starts_creating_changing_and_simulating_nothing(
    start_runner: Callable[..., RunnerProc], db_url: str
) -> None:
    """On a database brought to the newest revision by command, with no user at all."""
    engine = make_engine(db_url)
    try:
        schema.upgrade(engine)
        run = start_runner(DEPLOYMENT="production", DATABASE_URL=db_url, SECRET_KEY="k" * 32, INGEST_TOKEN="t" * 32,
                           DEMO_PASSWORD="never-used-pass")
        out = run.output()
        assert "mode      production" in out
        assert "no active administrator yet: dongcheng users create NAME --role admin" in out
        assert "simulator off (production)" in out and "never-used-pass" not in out
        assert "simulator" not in run.children()
        assert not (run.instance / "secrets.json").exists()
        _stop_and_check(run, lambda: run.proc.send_signal(signal.SIGTERM))
        with Session(engine) as s:
            counts = [s.scalar(select(func.count()).select_from(model)) for model in (User, Unit, Sensor, AuditLog)]
        assert counts == [0, 0, 0, 0]
        assert schema.current(engine) == schema.head()
    finally:
        engine.dispose()


# --- the supervisor's parts, without starting the system -------------------------------------------


def test_restart_delay_doubles_and_resets_after_a_stable_run() -> None:
    """1, 2, 4 … 30 s while a child keeps dying young; 1 s again after it ran a while."""
    from dashboard.config import RunConfig
    from ops.runner import BACKOFF_MAX_S, STABLE_AFTER_S, Child, Runner

    runner = Runner(RunConfig.from_env({}))
    child = Child("worker-1", spawn=lambda: pytest.fail("not started here"), stage=2)
    delays = [runner.schedule_restart(child, uptime=1.0) for _ in range(7)]
    assert delays == [1, 2, 4, 8, 16, BACKOFF_MAX_S, BACKOFF_MAX_S]
    assert runner.schedule_restart(child, uptime=STABLE_AFTER_S + 1) == 1
    assert child.restarts == 8


@pytest.mark.parametrize(("text", "nice"), [("/autogroup-85 nice 0\n", 0), ("/autogroup-7 nice 10", 10),
                                            ("/autogroup-1 nice -5\n", -5), ("", None), ("\n", None),
                                            ("garbage", None)])
def test_an_autogroup_file_gives_its_niceness_and_an_empty_one_none(text: str, nice: int | None) -> None:
    """A process in a container's (or a service's) control group has no autogroup: the kernel writes nothing."""
    assert parse_autogroup(text) == nice


@pytest.mark.skipif(group_niceness(os.getpid()) is None, reason="the kernel has no scheduler autogroups here")
def test_a_child_in_its_own_session_yields_the_cpu_as_a_group_not_only_within_it() -> None:
    report = "import os; print(os.nice(0), open('/proc/self/autogroup').read())"
    argv = dying_with_runner([sys.executable, "-c", report], 7)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, start_new_session=True, check=True).stdout
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert out.split()[0] == str(min(base + 7, 19)) and out.rstrip().endswith(f"nice {min(base + 7, 19)}"), out


def test_signal_session_reaches_processes_in_groups_of_their_own() -> None:
    """Like an RQ work horse (setpgrp), a grandchild in its own group is still stopped with its session."""
    from ops.processes import session_members, signal_session

    script = (
        "import os, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import os, time; os.setpgrp(); time.sleep(60)'])\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        _wait("the grandchild", lambda: len(session_members(proc.pid)) == 2, 10)
        assert signal_session(proc.pid, signal.SIGKILL) == 2
        proc.wait(timeout=5)
        _wait("the session to empty", lambda: not session_members(proc.pid), 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_urls_are_printed_without_passwords() -> None:
    """Database and Redis URLs in the banner and pids.json never show a password."""
    from ops.runner import mask_url

    assert mask_url("postgresql://ops:s3cret@db:5432/dc") == "postgresql://ops:***@db:5432/dc"
    assert mask_url("redis://:s3cret@127.0.0.1:6390/0") == "redis://:***@127.0.0.1:6390/0"
    assert mask_url("sqlite:////srv/instance/dongcheng.db") == "sqlite:////srv/instance/dongcheng.db"


def test_exit_descriptions() -> None:
    """Exit codes and signals are told apart in the log."""
    from ops.processes import describe_exit

    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"


def test_the_feeds_server_takes_the_port_after_port_or_a_free_one_and_refuses_a_taken_ingest_port(
    tmp_path: Path,
) -> None:
    from dashboard.config import RunConfig
    from ops.runner import Runner

    port = free_port()
    out = io.StringIO()

    def runner(**env: str) -> Runner:
        settings = dataclasses.replace(RunConfig.from_env({"PORT": str(port), **env}), instance_dir=tmp_path)
        return Runner(settings, stdout=out)

    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            other.bind(("127.0.0.1", port + 1))
        except OSError:
            pytest.skip("the port after a free port is taken already")
        other.listen()
        chosen = runner().choose_ingest_port()
        assert chosen is not None and chosen not in (port, port + 1)
        assert f"port {port + 1} is in use: the feeds' server takes port {chosen}" in out.getvalue()
        # Chosen explicitly and taken: the runner refuses to start and says what to do.
        assert runner(INGEST_PORT=str(port + 1)).choose_ingest_port() is None
        assert "set INGEST_PORT" in out.getvalue()
        assert runner(INGEST_PORT=str(port)).choose_ingest_port() is None  # never the screens' own port
    assert runner().choose_ingest_port() == port + 1
