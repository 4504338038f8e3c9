"""The push hub: one Redis subscription per process, fanned out to the mailboxes of every open stream.

One hub per process: a single Redis pub/sub connection (named dc-push-<pid>-<n>) subscribed to the updates,
incidents and access channels, read by one thread (a greenlet under gunicorn's gevent worker), which coalesces,
formats each event once and hands the same bytes to every open stream's mailbox. A stream is a small object with a
bounded mailbox; its own thread (greenlet; the route in stream.py) only waits on the mailbox and writes. So N streams
cost one Redis connection, and a change costs one formatting plus N cheap appends.

A message on the access channel (a user id: dashboard/live/sessions.py `announce`, after a logout, a disable, a
password reset, a new role or a revoked token) asks that user's streams to check their caller again at once.

The hub sends every stream its heartbeat comment (made once), pings Redis at the heartbeat's pace (a Redis that
stops answering, or goes away, ends every stream with ``bye`` / ``redis``) and pokes the process's FramePusher
(frame_push.py) on every aggregate change.

Backpressure: a stream whose client does not read fills its socket buffers, then its mailbox (SSE_QUEUE_MAX
messages); at that point, or when one write has been blocked longer than two heartbeats, the hub drops it and
shuts its socket (which also frees a write blocked on it). The hub never waits for a stream, so a stalled client
cannot slow the others.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import redis
from flask import Flask

from dashboard.config import RedisTarget
from dashboard.live import keys
from dashboard.live.connections import make_blocking_redis
from dashboard.observe.metrics import push_stream_closed, push_stream_opened
from dashboard.web.api.frame_push import FramePusher

log = logging.getLogger(__name__)

DEFAULT_COALESCE_S: Final = 0.1
DEFAULT_SUBSCRIBE_TIMEOUT_S: Final = 2.0
# Messages a stream's mailbox holds before its client counts as stalled (a tick publishes about ten names).
DEFAULT_QUEUE_MAX: Final = 256
# How long the hub keeps its subscription after the last stream went (streams reconnect at their lifetime).
DEFAULT_HUB_LINGER_S: Final = 30.0
# How often a stream checks its caller again (the session's record and user, or the token: ~1.5 ms of CPU each,
# so 1,000 streams cost about 5 % of a core at this pace); the first check comes at a random half to whole
# period, so that screens opened together do not check together.
DEFAULT_RECHECK_S: Final = 30.0
# A write blocked for this many heartbeats marks its client as stalled.
STALLED_BEATS: Final = 2.0
# Messages read from Redis before the hub hands out what it has (a flood must not starve coalescing or pings).
MAX_DRAIN: Final = 500
MAX_INCIDENT_BYTES: Final = 64 * 1024
MAX_NAME_CHARS: Final = 64
PING_MESSAGE: Final = "dc-push"
# The hub's Redis connection is named dc-push-<pid of the web process>-<hub number in the process>.
CLIENT_NAME_PREFIX: Final = "dc-push"

# Flask config keys (and environment variables) of the limits.
CFG_MAX_STREAMS: Final = "SSE_MAX_STREAMS"
CFG_MAX_STREAMS_PER_USER: Final = "SSE_MAX_STREAMS_PER_USER"
CFG_HEARTBEAT_S: Final = "SSE_HEARTBEAT_S"
CFG_MAX_LIFETIME_S: Final = "SSE_MAX_LIFETIME_S"
CFG_COALESCE_S: Final = "SSE_COALESCE_S"
CFG_SUBSCRIBE_TIMEOUT_S: Final = "SSE_SUBSCRIBE_TIMEOUT_S"
CFG_QUEUE_MAX: Final = "SSE_QUEUE_MAX"
CFG_HUB_LINGER_S: Final = "SSE_HUB_LINGER_S"
CFG_RECHECK_S: Final = "SSE_RECHECK_S"

# Why a stream ended (the `bye` event's data; a dropped slow client gets no bye: it does not read).
BYE_LIFETIME: Final = "lifetime"
BYE_REDIS: Final = "redis"
BYE_AUTH: Final = "auth"
DROPPED_SLOW: Final = "slow"


@dataclass(frozen=True)
class Settings:
    """The limits of the push streams, read from the app config."""

    max_streams: int
    max_streams_per_user: int
    heartbeat_s: float
    max_lifetime_s: float
    coalesce_s: float
    subscribe_timeout_s: float
    queue_max: int
    hub_linger_s: float
    recheck_s: float

    @classmethod
    def from_app(cls, app: Flask) -> Settings:
        """The settings in `app.config` (filled with defaults by init_push)."""
        cfg = app.config
        return cls(
            max_streams=int(cfg[CFG_MAX_STREAMS]),
            max_streams_per_user=int(cfg[CFG_MAX_STREAMS_PER_USER]),
            heartbeat_s=float(cfg[CFG_HEARTBEAT_S]),
            max_lifetime_s=float(cfg[CFG_MAX_LIFETIME_S]),
            coalesce_s=float(cfg[CFG_COALESCE_S]),
            subscribe_timeout_s=float(cfg[CFG_SUBSCRIBE_TIMEOUT_S]),
            queue_max=int(cfg[CFG_QUEUE_MAX]),
            hub_linger_s=float(cfg[CFG_HUB_LINGER_S]),
            recheck_s=float(cfg[CFG_RECHECK_S]),
        )


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


class Stream:
    """One open stream: a bounded mailbox the hub fills and the stream's own thread empties onto its socket.

    The mailbox is a deque and an Event rather than a Condition: the hub hands one change to hundreds of streams in a
    row, and an append plus Event.set (gevent's, in C, under the gevent worker) costs a tenth of taking a lock and
    notifying. Appends and pops of a deque are atomic; the reader clears the Event before it drains, so a message
    handed meanwhile sets it again and is read on the next pass, never lost.
    """

    def __init__(self, limit: int, sock: socket.socket | None, lang: str | None = None,
                 uid: int | None = None) -> None:
        self.limit = limit
        self.sock = sock
        self.uid = uid  # the caller's user id, whose access changes make the stream check its caller again
        self.recheck = False  # set by the hub when the caller's access changed: check before writing more
        # A wall's stream (?frames=<lang>) carries frames instead of the aggregate and incident events; `token` is
        # the state its last frame brought the screen to (None until the first frame went out).
        self.lang = lang
        self.token: str | None = None
        self.fed_at = 0.0  # time.monotonic() of the last META handed to it
        self.items: deque[bytes] = deque()
        self.ready = threading.Event()  # set when there is something to read or the stream must end
        self.ended: str | None = None  # why the hub ended it
        self.writing_since: float | None = None  # set while the server writes what the stream yielded

    def offer(self, data: bytes) -> bool:
        """Queue `data`; False (and the stream ended as slow) when its mailbox is full."""
        if self.ended is not None:
            return True
        if len(self.items) >= self.limit:
            self.items.clear()
            self.end(DROPPED_SLOW)
            return False
        self.items.append(data)
        self.ready.set()
        return True

    def check_caller(self) -> None:
        """Ask the stream to check its caller again before it writes anything more."""
        self.recheck = True
        self.ready.set()

    def end(self, reason: str) -> None:
        """Tell the stream to finish (the first reason wins)."""
        if self.ended is None:
            self.ended = reason
        self.ready.set()

    def take(self, timeout: float) -> tuple[list[bytes], str | None]:
        """What is queued, and why the stream must end (or None); waits up to `timeout` for either."""
        if not self.items and self.ended is None and not self.recheck and timeout > 0:
            self.ready.wait(timeout)
        self.ready.clear()
        # Read before draining: whatever was handed before the end is then in the drain.
        ended = self.ended
        items: list[bytes] = []
        with contextlib.suppress(IndexError):
            while True:
                items.append(self.items.popleft())
        return items, ended

    def cut(self) -> None:
        """Shut the client's socket: a write blocked on a client that does not read fails at once."""
        if self.sock is None:
            return
        with contextlib.suppress(OSError):  # already closed by the client or the server
            self.sock.shutdown(socket.SHUT_RDWR)


_HUB_NUMBERS = itertools.count(1)


class _Run:
    """One relaying thread of a hub: whether it subscribed, why it failed, whether it is over."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.finished = False


class Hub:
    """The process's one subscription to the push channels, fanned out to every open stream."""

    def __init__(self, redis_at: RedisTarget | str, settings: Settings) -> None:
        self.redis_at = redis_at
        self.settings = settings
        self.lock = threading.Lock()
        self.streams: set[Stream] = set()
        self.per_user: dict[int, int] = {}  # open streams per user id (under `lock`, with `streams`)
        self.run: _Run | None = None  # the relaying thread of now
        # Through Sentinel when it is set: a failover breaks the subscription like a dead Redis (every stream ends
        # with bye/redis), and the next stream's subscription connects to the new master.
        client = make_blocking_redis(redis_at)
        # Named, so that `CLIENT LIST` tells the push subscriber (and its web process) apart.
        self.name = f"{client_name()}-{next(_HUB_NUMBERS)}"
        client.connection_pool.connection_kwargs["client_name"] = self.name
        self.client = client
        db = int(client.connection_pool.connection_kwargs.get("db", 0))
        self.channels = (keys.updates_channel(db), keys.incidents_channel(db), keys.access_channel(db))
        self.delivered = 0  # events handed to streams (each counted once per stream)
        self.dropped = 0  # streams dropped as slow
        self.frames: FramePusher | None = None  # sends the frames streams their frames (set by the first one)

    @property
    def open_streams(self) -> int:
        """Streams registered with this hub now."""
        with self.lock:
            return len(self.streams)

    def register(self, limit: int, sock: socket.socket | None, lang: str | None = None,
                 uid: int | None = None) -> Stream | str:
        """A new stream of user `uid`, subscribed from now on; or why not ("full", "user_full" or "redis").

        One user (or API token) may hold at most SSE_MAX_STREAMS_PER_USER of the process's streams: without it one
        caller could open all of them and send every other wall back to polling."""
        s = self.settings
        with self.lock:
            if len(self.streams) >= s.max_streams:
                return "full"
            if uid is not None and self.per_user.get(uid, 0) >= s.max_streams_per_user:
                return "user_full"
            run = self.run
            if run is None or run.finished:
                run = self.run = _Run()
                threading.Thread(target=self._run, args=(run,), name="dc-push-hub", daemon=True).start()
            stream = Stream(limit, sock, lang, uid)
            # Registered before the subscription is confirmed: nothing published after this answer is missed.
            self.streams.add(stream)
            if uid is not None:
                self.per_user[uid] = self.per_user.get(uid, 0) + 1
        push_stream_opened()  # the open-streams gauge; unregister closes it once
        if not run.ready.wait(s.subscribe_timeout_s) or run.error is not None:
            self.unregister(stream)
            return "redis"
        return stream

    def unregister(self, stream: Stream) -> None:
        """Forget `stream` (idempotent)."""
        with self.lock:
            was_open = stream in self.streams
            self.streams.discard(stream)
            if was_open and stream.uid is not None:
                left = self.per_user.pop(stream.uid) - 1
                if left:
                    self.per_user[stream.uid] = left
        if was_open:
            push_stream_closed()

    def _snapshot(self) -> list[Stream]:
        with self.lock:
            return list(self.streams)

    def broadcast(self, data: bytes, frames_too: bool = True) -> None:
        """Hand `data` to every stream (to the event streams only unless `frames_too`); a stream whose mailbox
        is full is dropped, never waited for."""
        for stream in self._snapshot():
            if frames_too or stream.lang is None:
                self.hand(stream, data)

    def hand(self, stream: Stream, data: bytes) -> None:
        """Hand `data` to one stream; dropped if its mailbox is full."""
        if stream.offer(data):
            self.delivered += 1
        else:
            self._drop(stream, "its mailbox is full")

    def frame_targets(self) -> list[Stream]:
        """The open streams of walls (those that get frames)."""
        with self.lock:
            return [s for s in self.streams if s.lang is not None and s.ended is None]

    def _changed(self) -> None:
        """An aggregate changed: the frames streams get their frames (the pusher renders, not the hub)."""
        if self.frames is not None:
            self.frames.poke()

    def _drop(self, stream: Stream, why: str) -> None:
        """End a stalled stream and shut its socket."""
        self.dropped += 1
        self.unregister(stream)
        stream.end(DROPPED_SLOW)
        stream.cut()
        log.info("push: dropped a stream whose client does not read (%s)", why)

    def access_changed(self, uid: int) -> None:
        """User `uid`'s access changed: their streams check their caller again before writing more."""
        for stream in self._snapshot():
            if stream.uid == uid:
                stream.check_caller()

    def _end_all(self, reason: str) -> None:
        for stream in self._snapshot():
            stream.end(reason)

    def _run(self, run: _Run) -> None:
        """Subscribe, then relay until Redis fails or no stream was open for the linger time."""
        ps = self.client.pubsub()
        try:
            self._relay(ps, run)
        except (redis.RedisError, OSError) as exc:
            with self.lock:
                run.error, run.finished = exc, True
            if run.ready.is_set():
                log.warning("push: Redis failed under the push hub (%s); ending its streams", exc)
            else:
                log.warning("push: cannot subscribe to Redis (%s); answering 503", exc)
            self._end_all(BYE_REDIS)
        except (SystemExit, KeyboardInterrupt) as exc:
            # The process (or the test server around it) is stopping: end the streams, nothing failed.
            with self.lock:
                run.error, run.finished = exc, True
            self._end_all(BYE_REDIS)
            raise
        except BaseException as exc:  # a bug must not leave streams waiting forever
            with self.lock:
                run.error, run.finished = exc, True
            log.exception("push: the push hub failed")
            self._end_all(BYE_REDIS)
        finally:
            run.ready.set()  # a stream waiting for the subscription finds the error
            with contextlib.suppress(redis.RedisError, OSError):
                ps.close()  # disconnects: Redis drops the subscription with the connection

    def _subscribe(self, ps: redis.client.PubSub) -> list[dict[str, Any]]:
        """Subscribe and wait for Redis to confirm every channel; return messages that arrived meanwhile."""
        ps.subscribe(*self.channels)
        confirmed = 0
        early: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.settings.subscribe_timeout_s
        while confirmed < len(self.channels):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise redis.TimeoutError("Redis did not confirm the subscription in time")
            msg = ps.get_message(timeout=remaining)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                confirmed += 1
            else:
                early.append(msg)
        return early

    def _relay(self, ps: redis.client.PubSub, run: _Run) -> None:
        """The hub's loop: messages to streams, coalescing, pings, stalled writers, the linger."""
        s = self.settings
        updates_ch, incidents_ch, access_ch = (c.encode() for c in self.channels)
        sent_at: dict[str, float] = {}  # aggregate name -> when its last event went out
        due: dict[str, float] = {}  # aggregate name -> when its coalesced event goes out
        ping_sent: float | None = None
        early = self._subscribe(ps)
        run.ready.set()
        now = time.monotonic()
        next_beat = now + s.heartbeat_s
        idle_since: float | None = None
        out: list[str] = []
        changed = False  # an aggregate event is in `out`: the frames streams need their frames

        def on_message(msg: dict[str, Any], now: float) -> None:
            nonlocal ping_sent, changed
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
                    changed = True
                else:
                    due.setdefault(name, sent_at[name] + s.coalesce_s)
            elif channel == incidents_ch:
                line = _incident_data(data)
                if line is not None:
                    out.append(sse_event("incident", line))
            elif channel == access_ch and data.isdigit() and len(data) <= MAX_NAME_CHARS:
                self.access_changed(int(data))

        for msg in early:
            on_message(msg, now)
        while True:
            now = time.monotonic()
            for name in [n for n, t in due.items() if t <= now]:
                del due[name]
                out.append(sse_event("aggregate", name))
                sent_at[name] = now
                changed = True
            if out:
                self.broadcast("".join(out).encode(), frames_too=False)
                out.clear()
            if changed:
                changed = False
                self._changed()
            if now >= next_beat:
                if ping_sent is not None:
                    raise redis.TimeoutError(f"Redis did not answer a ping within {s.heartbeat_s:g} s")
                # One heartbeat for every stream of the process, made once: no timer per stream.
                self.broadcast(f": hb {int(time.time())}\n\n".encode())
                ps.ping(PING_MESSAGE)
                ping_sent = now
                next_beat = now + s.heartbeat_s
                self._drop_stalled(now)
                # Names not sent for a while need no memory (every name is sent at once the next time).
                for name in [n for n, t in sent_at.items() if now - t > s.coalesce_s and n not in due]:
                    del sent_at[name]
            if self.open_streams:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= s.hub_linger_s:
                with self.lock:
                    if not self.streams:
                        run.finished = True  # the next stream starts a new hub thread
                        return
            wait = min([next_beat, *due.values()]) - time.monotonic()
            if idle_since is not None:
                wait = min(wait, idle_since + s.hub_linger_s - time.monotonic())
            msg = ps.get_message(timeout=max(0.0, wait))
            now = time.monotonic()
            drained = 0
            while msg is not None:
                on_message(msg, now)
                drained += 1
                if drained >= MAX_DRAIN:
                    break
                msg = ps.get_message(timeout=0.0)

    def _drop_stalled(self, now: float) -> None:
        """Drop the streams whose current write has been blocked for STALLED_BEATS heartbeats."""
        limit = STALLED_BEATS * self.settings.heartbeat_s
        for stream in self._snapshot():
            since = stream.writing_since
            if since is not None and now - since > limit:
                self._drop(stream, f"a write blocked for more than {limit:g} s")


class PushState:
    """Per-app push resources: the hub of this process (made on the first stream, again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hub: Hub | None = None
        self._pid = 0

    @property
    def open_streams(self) -> int:
        """Streams open in this process right now."""
        hub = self._hub
        return hub.open_streams if hub is not None and self._pid == os.getpid() else 0

    @property
    def hub(self) -> Hub | None:
        """This process's hub, if a stream was opened."""
        return self._hub if self._pid == os.getpid() else None

    def hub_for(self, redis_at: RedisTarget | str, settings: Settings) -> Hub:
        """This process's hub on `redis_at` (a new one when the Redis or the settings changed and it has no
        stream)."""
        with self._lock:
            hub = self._hub
            stale = hub is None or self._pid != os.getpid() or hub.redis_at != redis_at
            if hub is not None and not stale and hub.settings != settings and not hub.open_streams:
                stale = True  # tests change the limits between streams
            if stale:
                hub = Hub(redis_at, settings)
                self._hub, self._pid = hub, os.getpid()
            assert hub is not None
            return hub


def client_name(pid: int | None = None) -> str:
    """The start of the Redis client names of the push hubs of process `pid` (this one by default)."""
    return f"{CLIENT_NAME_PREFIX}-{os.getpid() if pid is None else pid}"
