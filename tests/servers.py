"""Servers a test starts, stops and starts again itself: a Redis and a PostgreSQL of its own on free ports, so that
outages are real (the shared servers are never stopped or flushed), and a TCP proxy a test cuts to take a server away
from one client only."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from ops.pg_server import PostgresServer, pg_missing
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


class PostgresProcess(PostgresServer):
    """ops/pg_server.py's PostgreSQL of our own, skipping the test (saying why) where it cannot run."""

    def __init__(self, standby_of: PostgresProcess | None = None) -> None:
        """A new cluster, or with `standby_of` a streaming standby of that running one."""
        missing = pg_missing(standby_of is not None)
        if missing:
            pytest.skip(f"{missing}: the PostgreSQL outage is not tested here")
        super().__init__(standby_of)


MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


class MosquittoProcess:
    """A Mosquitto broker of our own on a free local port (anonymous, in memory): started, stopped, never shared."""

    def __init__(self, data_dir: Path) -> None:
        if MOSQUITTO is None:
            pytest.skip("mosquitto is not installed (`make test` installs Debian's): the MQTT tests are skipped")
        self.data_dir = data_dir
        self.port = free_port()
        self.conf = data_dir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             f"log_dest stderr\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its MQTT_URL."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        assert MOSQUITTO is not None
        with (self.data_dir / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)

        def accepts() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"mosquitto exited: {(self.data_dir / 'mosquitto.log').read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
            return False

        wait_for("mosquitto accepting connections", accepts, 20)

    def stop(self) -> None:
        """Stop it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.25) -> None:
    """Poll `check()` until it is true; fail naming `what` after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)


class TcpProxy:
    """A TCP forwarder to a server (a Redis) that a test can cut, as a lost network would: while cut, what clients
    send through it reaches nobody and nothing comes back (their commands time out), and new connections are
    refused. Threads: one accepting, two per connection."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db: int) -> str:
        """The URL of database `db` through this proxy."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _accept(self) -> None:
        """Forward each new connection, or close it at once while cut."""
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            if self.cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        """Copy src to dst until either closes; while cut, what arrives is dropped."""
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not self.cut.is_set():
                    dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        """Stop forwarding and close every connection."""
        self.closed.set()
        self.cut.set()
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()


def stop_processes(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """Stop processes a test started: SIGTERM (after a SIGCONT, for one the test stopped), then SIGKILL for any still
    running 20 s later."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def serve_app(app: Any) -> Iterator[int]:
    """Serve `app` on a free loopback port in a thread (a real threaded HTTP server); yield the port."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv.server_port
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
