"""Candidate (b) of bench/push.py: a small asyncio push service, measured against the gevent web it lost to.

    .venv/bin/python -m bench.push_async --port P --redis URL --secret KEY [--processes 2] [--heartbeat S]

Only GET /api/v1/stream, with what the product's stream does per connection at the same cost: the Flask session
cookie verified with the app's SECRET_KEY and its server-side record read from Redis at open; one redis.asyncio
pub/sub connection per process fanned out to every stream's bounded queue (a full queue drops its client);
heartbeat comments; coalescing is left out (the bench publishes one change). Processes share the port with
SO_REUSEPORT, as gunicorn's workers share theirs. Not part of the product: a measuring stick.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUEUE_MAX = 256
HEAD_LIMIT = 16 * 1024


def _cookie_session(secret: str) -> Any:
    """A loader of Flask's signed session cookie (the app's serializer, from its SECRET_KEY)."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    app = Flask("push-async")
    app.secret_key = secret
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return serializer


class Service:
    """One process's hub and streams."""

    def __init__(self, redis_url: str, secret: str, heartbeat_s: float) -> None:
        import redis.asyncio as aredis

        from dashboard.live import keys

        self.keys = keys
        self.redis = aredis.Redis.from_url(redis_url, protocol=2)
        db = int(self.redis.connection_pool.connection_kwargs.get("db", 0))
        self.channels = (keys.updates_channel(db), keys.incidents_channel(db))
        self.serializer = _cookie_session(secret)
        self.heartbeat_s = heartbeat_s
        self.queues: set[asyncio.Queue[bytes]] = set()
        self.writers: dict[asyncio.Queue[bytes], asyncio.StreamWriter] = {}

    async def hub(self) -> None:
        """One subscription; each message formatted once and offered to every queue."""
        ps = self.redis.pubsub()
        await ps.subscribe(*self.channels)
        updates = self.channels[0].encode()
        async for msg in ps.listen():
            if msg.get("type") != "message":
                continue
            data = msg["data"].decode("utf-8", "replace")
            event = "aggregate" if msg["channel"] == updates else "incident"
            chunk = f"event: {event}\ndata: {data}\n\n".encode()
            for q in list(self.queues):
                try:
                    q.put_nowait(chunk)
                except asyncio.QueueFull:
                    self.queues.discard(q)
                    writer = self.writers.pop(q, None)
                    if writer is not None:
                        writer.transport.abort()

    async def allowed(self, head: bytes) -> bool:
        """The session cookie's signature and its live record in Redis."""
        cookie = ""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "cookie":
                cookie = value.strip()
        token = next((p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("session=")), None)
        if token is None:
            return False
        try:
            sess = self.serializer.loads(token)
        except Exception:
            return False
        sid = sess.get("sid")
        if not isinstance(sid, str):
            return False
        record = await self.redis.hgetall(self.keys.session_key(sid))
        return record.get(b"state") == b"live"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: a stream or a refusal."""
        q: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_MAX)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"GET /api/v1/stream ") or len(head) > HEAD_LIMIT:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if not await self.allowed(head):
                writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self.queues.add(q)
            self.writers[q] = writer
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         b"Connection: close\r\n\r\nretry: 2000\n\n: connected\n\n")
            while q in self.queues:
                try:
                    chunk = await asyncio.wait_for(q.get(), self.heartbeat_s)
                except TimeoutError:
                    chunk = b": hb\n\n"
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.queues.discard(q)
            self.writers.pop(q, None)
            writer.close()


async def _main(args: argparse.Namespace) -> None:
    service = Service(args.redis, args.secret, args.heartbeat)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    server = await asyncio.start_server(service.serve, sock=sock, backlog=2048)
    hub = asyncio.create_task(service.hub())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    hub.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hub


def main(argv: list[str] | None = None) -> int:
    """Fork the processes, each serving the shared port; the parent waits for them."""
    p = argparse.ArgumentParser(prog="bench.push_async")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis", required=True)
    p.add_argument("--secret", default=os.environ.get("SECRET_KEY", ""))
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--heartbeat", type=float, default=15.0)
    args = p.parse_args(argv)
    from ops.processes import raise_open_files_limit

    raise_open_files_limit()
    children = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            asyncio.run(_main(args))
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: Any) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
