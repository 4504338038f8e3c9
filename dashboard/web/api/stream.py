"""Push: changes reach every open screen within a second, over Server-Sent Events fed by Redis pub/sub.

    GET /api/v1/stream      (session or API token like every /api/ path; read-only)

A `text/event-stream` that forwards two pub/sub channels of the app's Redis database:

- keys.updates_channel(db): the tick publishes the name of every aggregate it changed, inside the MULTI that
  writes it, so a screen that reads the key after the event always sees the new version
  → ``event: aggregate`` / ``data: <name>``; bursts are coalesced to at most one event per name per
  SSE_COALESCE_S (the last one of a burst is always sent, a little later, never dropped);
- keys.incidents_channel(db): one JSON message after each incident action → ``event: incident`` / ``data:
  <the JSON, on one line>``, every one forwarded.

The stream starts with ``retry: 2000``, sends a comment every SSE_HEARTBEAT_S (so proxies keep it open and a
client that went away is noticed on the next write, which closes the pub/sub connection) and pings Redis at
the same pace (a Redis that stops answering ends the stream). After SSE_MAX_LIFETIME_S (jittered by up to 10 %
so screens do not reconnect in step) it sends ``event: bye`` and ends, so gunicorn threads recycle; the client
reconnects at once.

Each open stream holds one web-server thread (gunicorn gthread: 2 workers × 8 threads by default), so a process
serves at most SSE_MAX_STREAMS streams (default 4: half its threads stay free for the Dash refreshes); beyond
that, and whenever Redis cannot be reached, the answer is 503 with Retry-After, and the browser keeps polling
once a second (assets/push.js retries the stream with back-off). The limits are Flask config keys, filled from
Config (the environment variables of the same name: SSE_MAX_STREAMS, SSE_HEARTBEAT_S, SSE_MAX_LIFETIME_S).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, cast

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify

from dashboard.config import Config
from dashboard.live import keys
from dashboard.live.connections import make_blocking_redis
from dashboard.web.extensions import current_config

log = logging.getLogger(__name__)
bp = Blueprint("push", __name__)

PUSH: Final = "dc_push"  # app.extensions key of the per-app PushState
STREAM_PATH: Final = "/api/v1/stream"

DEFAULT_COALESCE_S: Final = 0.1
DEFAULT_SUBSCRIBE_TIMEOUT_S: Final = 2.0
RETRY_MS: Final = 2000  # EventSource's own reconnect delay, sent as `retry:`
RETRY_AFTER_S: Final = 5  # Retry-After of a 503
LIFETIME_JITTER: Final = 0.1
# Messages read from Redis before the stream writes what it has (a flood must not starve the heartbeat).
MAX_DRAIN: Final = 500
MAX_INCIDENT_BYTES: Final = 64 * 1024
MAX_NAME_CHARS: Final = 64
PING_MESSAGE: Final = "dc-push"
CLIENT_NAME_PREFIX: Final = "dc-push"  # streams' Redis connections are named dc-push-<pid of the web process>

# Flask config keys (and environment variables) of the limits.
CFG_MAX_STREAMS: Final = "SSE_MAX_STREAMS"
CFG_HEARTBEAT_S: Final = "SSE_HEARTBEAT_S"
CFG_MAX_LIFETIME_S: Final = "SSE_MAX_LIFETIME_S"
CFG_COALESCE_S: Final = "SSE_COALESCE_S"
CFG_SUBSCRIBE_TIMEOUT_S: Final = "SSE_SUBSCRIBE_TIMEOUT_S"


@dataclass(frozen=True)
class Settings:
    """The limits of one stream, read from the app config when it opens."""

    max_streams: int
    heartbeat_s: float
    max_lifetime_s: float
    coalesce_s: float
    subscribe_timeout_s: float

    @classmethod
    def from_app(cls, app: Flask) -> Settings:
        """The settings in `app.config` (filled with defaults by init_push)."""
        cfg = app.config
        return cls(
            max_streams=int(cfg[CFG_MAX_STREAMS]),
            heartbeat_s=float(cfg[CFG_HEARTBEAT_S]),
            max_lifetime_s=float(cfg[CFG_MAX_LIFETIME_S]),
            coalesce_s=float(cfg[CFG_COALESCE_S]),
            subscribe_timeout_s=float(cfg[CFG_SUBSCRIBE_TIMEOUT_S]),
        )


class PushState:
    """Per-app push resources: the count of open streams (under a lock) and the blocking Redis client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._client: redis.Redis | None = None
        self._client_url: str | None = None

    @property
    def open_streams(self) -> int:
        """Streams open in this process right now."""
        with self._lock:
            return self._open

    def try_acquire(self, limit: int) -> bool:
        """Take a stream slot if fewer than `limit` are taken."""
        with self._lock:
            if self._open >= limit:
                return False
            self._open += 1
            return True

    def release(self) -> None:
        """Give a stream slot back."""
        with self._lock:
            self._open = max(0, self._open - 1)

    def client(self, url: str) -> redis.Redis:
        """The app's blocking client (no socket timeout: an idle subscriber is not an error); one pool per app.

        Each stream takes its own connection from this pool for its pub/sub and closes it when it ends.
        """
        with self._lock:
            if self._client is None or self._client_url != url:
                client = make_blocking_redis(url)
                # Named, so that `CLIENT LIST` tells the push subscribers (and their web process) apart.
                client.connection_pool.connection_kwargs["client_name"] = client_name()
                self._client, self._client_url = client, url
            return self._client


def client_name(pid: int | None = None) -> str:
    """The Redis client name of the streams of process `pid` (this one by default)."""
    return f"{CLIENT_NAME_PREFIX}-{os.getpid() if pid is None else pid}"


def init_push(app: Flask, config: Config) -> None:
    """Attach the push state and the limits (from `config`) to the app and register the stream route."""
    app.extensions[PUSH] = PushState()
    app.config.setdefault(CFG_MAX_STREAMS, config.sse_max_streams)
    app.config.setdefault(CFG_HEARTBEAT_S, config.sse_heartbeat_s)
    app.config.setdefault(CFG_MAX_LIFETIME_S, config.sse_max_lifetime_s)
    app.config.setdefault(CFG_COALESCE_S, DEFAULT_COALESCE_S)
    app.config.setdefault(CFG_SUBSCRIBE_TIMEOUT_S, DEFAULT_SUBSCRIBE_TIMEOUT_S)
    app.register_blueprint(bp)


def push_state(app: Flask | None = None) -> PushState:
    """The PushState of `app` (the current app by default)."""
    return cast(PushState, (app or current_app).extensions[PUSH])


def _unavailable(message: str) -> Response:
    """503 with Retry-After: the browser keeps polling and tries the stream again later."""
    resp = jsonify(error=message, retry_after=RETRY_AFTER_S)
    resp.status_code = 503
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _once(func: Callable[[], None]) -> Callable[[], None]:
    """`func` made safe to call from both the generator's finally and the response's close."""
    lock = threading.Lock()
    done = False

    def run() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        func()

    return run


def _subscribe(ps: redis.client.PubSub, channels: tuple[str, ...], timeout_s: float) -> list[dict[str, Any]]:
    """Subscribe and wait for Redis to confirm every channel; return messages that arrived meanwhile.

    Waiting for the confirmations means an event published after the response started is never missed,
    and that a Redis which accepts connections but does not answer is found out here (→ 503).
    """
    ps.subscribe(*channels)
    confirmed = 0
    early: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while confirmed < len(channels):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise redis.TimeoutError(f"Redis did not confirm the subscription within {timeout_s:g} s")
        msg = ps.get_message(timeout=remaining)
        if msg is None:
            continue
        if msg["type"] == "subscribe":
            confirmed += 1
        else:
            early.append(msg)
    return early


@bp.get(STREAM_PATH)
def stream() -> Response:
    """The event stream of aggregate and incident changes (503 when full or when Redis is down)."""
    settings = Settings.from_app(current_app)
    state = push_state()
    if not state.try_acquire(settings.max_streams):
        log.info("push: %d streams open in this process (the limit); answering 503", settings.max_streams)
        return _unavailable("too many open streams in this server process; keep polling and retry later")
    ps: redis.client.PubSub | None = None
    try:
        client = state.client(current_config().redis_url)
        db = int(client.connection_pool.connection_kwargs.get("db", 0))
        channels = (keys.updates_channel(db), keys.incidents_channel(db))
        ps = client.pubsub()
        early = _subscribe(ps, channels, settings.subscribe_timeout_s)
    except (redis.RedisError, OSError) as exc:
        if ps is not None:
            ps.close()
        state.release()
        log.warning("push: cannot subscribe to Redis (%s); answering 503", exc)
        return _unavailable("Redis unavailable; keep polling and retry later")
    except BaseException:
        if ps is not None:
            ps.close()
        state.release()
        raise

    subscriber = ps

    def close_stream() -> None:
        try:
            subscriber.close()  # disconnects: Redis drops the subscription with the connection
        finally:
            state.release()

    cleanup = _once(close_stream)
    resp = Response(_events(subscriber, channels, settings, early, cleanup), mimetype="text/event-stream")
    # The generator's finally runs only if the body was started: a HEAD request or a client gone before the
    # first byte closes the response without iterating it, and this releases the stream then.
    resp.call_on_close(cleanup)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"  # nginx: pass every event through at once
    return resp


def sse_event(event: str, data: str) -> str:
    """One SSE event; every line of `data` gets its own `data:` field."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


def _incident_data(raw: bytes) -> str | None:
    """The incident message as one line of JSON, or None (logged) when it is not JSON."""
    if len(raw) > MAX_INCIDENT_BYTES:
        log.warning("push: incident message of %d bytes dropped (limit %d)", len(raw), MAX_INCIDENT_BYTES)
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        log.warning("push: incident message is not JSON; dropped: %r", raw[:200])
        return None
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _events(
    ps: redis.client.PubSub,
    channels: tuple[str, str],
    s: Settings,
    early: list[dict[str, Any]],
    cleanup: Callable[[], None],
) -> Iterator[bytes]:
    """The body of one stream: pub/sub messages as SSE events, heartbeats, and the end after the lifetime."""
    updates_ch, incidents_ch = (c.encode() for c in channels)
    start = time.monotonic()
    end = start + s.max_lifetime_s * (1.0 - LIFETIME_JITTER * random.random())
    next_beat = start + s.heartbeat_s
    ping_sent: float | None = None  # when the unanswered ping went out
    sent_at: dict[str, float] = {}  # aggregate name -> when its last event went out
    due: dict[str, float] = {}  # aggregate name -> when its coalesced event goes out
    out: list[str] = []

    def on_message(msg: dict[str, Any], now: float) -> None:
        nonlocal ping_sent
        kind = msg.get("type")
        if kind == "pong":
            ping_sent = None
            return
        if kind != "message":
            return
        channel, data = msg.get("channel"), msg.get("data")
        if not isinstance(data, bytes):
            return
        if channel == updates_ch:
            name = data.decode("utf-8", "replace").strip()
            if not name or len(name) > MAX_NAME_CHARS or "\n" in name:
                return
            if now - sent_at.get(name, float("-inf")) >= s.coalesce_s:
                out.append(sse_event("aggregate", name))
                sent_at[name] = now
            else:
                due.setdefault(name, sent_at[name] + s.coalesce_s)
        elif channel == incidents_ch:
            line = _incident_data(data)
            if line is not None:
                out.append(sse_event("incident", line))

    try:
        yield f"retry: {RETRY_MS}\n\n: connected\n\n".encode()
        now = start
        for msg in early:
            on_message(msg, now)
        while True:
            now = time.monotonic()
            for name in [n for n, t in due.items() if t <= now]:
                del due[name]
                out.append(sse_event("aggregate", name))
                sent_at[name] = now
            if now >= next_beat:
                if ping_sent is not None:
                    log.warning("push: Redis did not answer a ping within %g s; ending the stream", s.heartbeat_s)
                    out.append(sse_event("bye", "redis"))
                    yield "".join(out).encode()
                    return
                out.append(f": hb {int(time.time())}\n\n")
                ps.ping(PING_MESSAGE)
                ping_sent = now
                next_beat = now + s.heartbeat_s
            if now >= end:
                out.append(sse_event("bye", "lifetime"))
                yield "".join(out).encode()
                return
            if out:
                yield "".join(out).encode()
                out.clear()
            wait = min(next_beat, end, *due.values()) - time.monotonic()
            msg = ps.get_message(timeout=max(0.0, wait))
            now = time.monotonic()
            drained = 0
            while msg is not None:
                on_message(msg, now)
                drained += 1
                if drained >= MAX_DRAIN:
                    break
                msg = ps.get_message(timeout=0.0)
    except (redis.RedisError, OSError) as exc:
        # Redis went away mid-stream (a write to a vanished client surfaces as GeneratorExit, not here).
        log.warning("push: Redis failed during a stream (%s); ending it", exc)
        yield ("".join(out) + sse_event("bye", "redis")).encode()
    finally:
        cleanup()
