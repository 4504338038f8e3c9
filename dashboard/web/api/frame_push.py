"""The wall's frames on the push stream: one render per change and (language, token) group, bytes shared by its streams.

A wall opens its stream as GET /api/v1/stream?frames=<lang>&from=<token> (dashboard/web/api/stream.py). The stream
first carries the frame from the screen's token to the current versions, then this process's FramePusher, a thread
(a greenlet under gevent) woken by the hub whenever it relays an aggregate change, groups the frames streams by
(language, token they were last brought to), takes each group's frame through the shared cache
(dashboard/frames/cache.py `shared_frame`: rendered once per change across every process) and hands the same bytes to
every stream of the group as ``event: frame``; each stream's token then becomes the frame's. Up-to-date screens all
hold the same token, so a change normally costs one frame per language and process however many screens there are.

The aggregates' ages move every tick even when nothing changed (`computed_at` is rewritten, no event is
published), so a stream that got no frame for META_EVERY_S gets ``event: meta`` (META and the database notice, made
once per language) and the freshness badges stay right without a request.

The pusher also tells the tick which tokens its screens hold (keys.frame_held_key: a token its groups moved to is
added, the one they left is taken out, and what they still hold is said again every HELD_EVERY_S): the tick makes
their next frames before it announces the change (dashboard/frames/ahead.py), so that here a change costs a read of
bytes already made, not a render.

The hub never waits for this: it only pokes. A Redis failure means no frame and no meta (the hub itself ends the
streams when Redis goes; the wall's safety poll covers the rest).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import redis

from dashboard.frames.ahead import HeldTokens
from dashboard.frames.cache import FrameCache, known_token, pushed_frame, pushed_meta
from dashboard.live.aggregates import Head, read_heads
from dashboard.live.schema import AGGREGATES
from dashboard.observe.metrics import push_frame_sent

log = logging.getLogger(__name__)

# A frames stream that got nothing carrying META for this long gets META alone.
META_EVERY_S: Final = 1.0


class FrameTarget(Protocol):
    """What the pusher needs of a stream: its language and token (None until its first frame went out)."""

    lang: str | None
    token: str | None
    fed_at: float  # time.monotonic() of the last META it was handed


class StreamSet(Protocol):
    """What the pusher needs of the hub."""

    def frame_targets(self) -> Sequence[FrameTarget]: ...

    def hand(self, target: Any, data: bytes) -> None: ...


def frame_event(data: bytes) -> bytes:
    """`data` (one line of JSON) as an SSE `frame` event."""
    return b"event: frame\ndata: " + data + b"\n\n"


def meta_event(data: bytes) -> bytes:
    """`data` (one line of JSON) as an SSE `meta` event."""
    return b"event: meta\ndata: " + data + b"\n\n"


class FramePusher:
    """The process's frame sender: woken on each change, it sends each (language, token) group its frame once."""

    def __init__(self, streams: StreamSet, r: redis.Redis, cache: FrameCache,
                 meta_every_s: float = META_EVERY_S) -> None:
        self.streams = streams
        self.r = r
        self.cache = cache
        self.meta_every_s = meta_every_s
        self.cond = threading.Condition(threading.Lock())
        self.due = False
        self.running = False
        self.frames_sent = 0  # frame messages made (one per group and change), for tests and the benchmark
        self.failing = False
        self.changed_at: float | None = None  # perf_counter() of the first change not yet sent
        self.held = HeldTokens()  # the tokens said to be held, for the tick's frames ahead

    def poke(self) -> None:
        """Something changed: send the frames soon (never blocks on rendering)."""
        with self.cond:
            self.due = True
            if self.changed_at is None:
                self.changed_at = time.perf_counter()
            if not self.running:
                self.running = True
                threading.Thread(target=self._run, name="dc-push-frames", daemon=True).start()
            self.cond.notify()

    def first_frame(self, target: FrameTarget, lang: str, token: str) -> bytes:
        """The `frame` event from the screen's `token` to now (opening a wall's stream is its first refresh), or
        nothing when Redis fails; from then on this pusher sends `target` a frame on every change."""
        token = known_token(token)
        data = b""
        reached = token
        try:
            heads = read_heads(self.r, AGGREGATES)
        except (redis.RedisError, OSError) as exc:
            log.warning("push: no first frame, Redis failed (%s)", exc)
        else:
            got = pushed_frame(self.r, self.cache, heads, token, lang, time.time(), initial=True)
            if got is not None:
                data, reached = frame_event(got[0]), got[1]
                target.fed_at = time.monotonic()
        # From here the pusher owns the token; a change during the first frame is sent at once (none is missed).
        target.token = reached
        self.poke()
        return data

    def _run(self) -> None:
        while True:
            with self.cond:
                if not self.due:
                    self.cond.wait(self.meta_every_s)
                self.due = False
                changed_at, self.changed_at = self.changed_at, None
                if not self.streams.frame_targets():
                    self.running = False  # the next frames stream's poke starts a new thread
                    return
            try:
                self.send_once(changed_at)
            except Exception:  # a bug must not end the frames of every screen in the process
                log.exception("push: sending frames failed")

    def send_once(self, changed_at: float | None = None) -> None:
        """One pass: each group's frame if the versions moved, then META to the streams that lack it; each frame's
        server time (from `changed_at`, the perf_counter() of the change's arrival) goes to the metrics."""
        began = time.perf_counter()
        start = began if changed_at is None else changed_at
        targets = [t for t in self.streams.frame_targets() if t.token is not None and t.lang is not None]
        if not targets:
            return
        try:
            heads = read_heads(self.r, AGGREGATES)
            read = time.perf_counter()
        except (redis.RedisError, OSError) as exc:
            if not self.failing:
                log.warning("push: cannot read the aggregates for frames (%s); none sent", exc)
            self.failing = True
            return
        self.failing = False
        now = time.time()
        groups: dict[tuple[str, str], list[FrameTarget]] = defaultdict(list)
        for t in targets:
            groups[(t.lang or "", t.token or "")].append(t)
        for (lang, token), members in groups.items():
            asked = time.perf_counter()
            got = pushed_frame(self.r, self.cache, heads, token, lang, now)
            if got is None:
                continue
            made = time.perf_counter()
            data = frame_event(got[0])
            self.frames_sent += 1
            fed = time.monotonic()
            for t in members:
                self.streams.hand(t, data)
                t.token, t.fed_at = got[1], fed
            done = time.perf_counter()
            push_frame_sent(done - start, len(members), {"wait": began - start, "heads": read - began,
                                                         "frame": made - asked, "hand": done - made})
        self._meta(targets, heads, now)
        self._tell_held(targets)

    def _tell_held(self, targets: Iterable[FrameTarget]) -> None:
        """Say which tokens this process's screens hold now and which they left (dashboard/frames/ahead.py)."""
        self.held.tell(self.r, [(t.lang, t.token) for t in targets if t.lang is not None and t.token], left_too=True)

    def _meta(self, targets: Iterable[FrameTarget], heads: Mapping[str, Head | None], now: float) -> None:
        """META to the streams that got none for meta_every_s, made once per language."""
        mono = time.monotonic()
        made: dict[str, bytes] = {}
        for t in targets:
            if mono - t.fed_at < self.meta_every_s * 0.9 or t.lang is None:
                continue
            data = made.get(t.lang)
            if data is None:
                try:
                    data = made[t.lang] = meta_event(pushed_meta(self.r, heads, t.lang, now))
                except (redis.RedisError, OSError):
                    return
            self.streams.hand(t, data)
            t.fed_at = mono
