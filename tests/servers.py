"""Servers a test starts, stops and starts again itself: a Redis and a PostgreSQL of its own on free ports, so that
outages are real (the shared servers are never stopped or flushed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.redis_server import free_port, start_bundled_redis


class RedisProcess:
    """A redis-server of our own that a test may stop, flush and start again (empty) on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, empty: bool = False) -> None:
        """Start (or restart) it; `empty`: without the snapshot it saved before."""
        if empty:
            (self.data_dir / "dump.rdb").unlink(missing_ok=True)
        self.proc, _ = start_bundled_redis(self.data_dir, self.port)

    def stop(self) -> None:
        """Stop it, as a crash or an operator would."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def running(self) -> bool:
        """True while its process lives."""
        return self.proc is not None and self.proc.poll() is None


def _pg_binary(name: str) -> str | None:
    """A PostgreSQL server program on PATH or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


class PostgresProcess:
    """A PostgreSQL cluster of our own (initdb, pg_ctl) on a free loopback port, stopped and started by the test.

    PostgreSQL refuses to run as root: as root its programs run as the `postgres` user (runuser), in a directory
    that user owns."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.skip("initdb/pg_ctl not installed: the PostgreSQL outage is not tested here")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="dc-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: PostgreSQL cannot be started")
            shutil.chown(self.root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.port = free_port()
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        """Its URL (the `postgres` database of the new cluster)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_user, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop it at once, as a crash would: open connections are cut, nothing uncommitted survives."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        """True while the server runs."""
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop it if it runs, and delete its files."""
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.25) -> None:
    """Poll `check()` until it is true; fail naming `what` after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)
