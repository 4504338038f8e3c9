"""Frames made ahead: the tick renders the next frame of the screens that are up to date before it announces a change.

Without this, the first web process to hear of a change renders its frame while every screen waits (and the other
processes wait for that render). The tick knows first: after it has written the aggregates and before it publishes
their names, it renders, for each language that has screens, the frame from each token they hold (the web's push
senders and the frame route of polling screens keep them under keys.frame_held_key; screens in step share one) to
the versions just written, and the whole frame a screen opened now would ask for, through the same shared cache as
everyone else (cache.shared_frame). When the change is announced, the web finds the frame's bytes in Redis and hands
them over: a read, not a render.

A screen at another token, a language nobody watches and a change written by another writer are rendered by the web
on demand as before; so is everything when this fails, which is why a failure here is logged and never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Final

import redis

from dashboard.frames.cache import FrameCache, known_token, shared_frame, versions_of
from dashboard.i18n import LANGS
from dashboard.live import keys
from dashboard.live.aggregates import read_heads
from dashboard.live.schema import AGGREGATES
from dashboard.observe.logs import OncePer

log = logging.getLogger(__name__)
# A failure repeats every tick while its cause lasts: said once a minute, not once a second.
log.addFilter(OncePer(60.0))

# The tick's own cache of the frames one call makes (shared with nothing else: the frames go to Redis).
CACHE_SIZE = 8
# How often a token screens still hold is said again (well within keys.FRAME_HELD_FRESH_S).
HELD_EVERY_S: Final = 3.0


def make_frames_ahead(r: redis.Redis, now: float | None = None) -> int:
    """Render (or find) the next frame of every token screens hold (at most FRAME_AHEAD_MAX a language) and the whole
    frame of each language they are in; how many held tokens."""
    now = time.time() if now is None else now
    try:
        held = held_tokens(r, now)
        if not held:
            return 0
        versions = versions_of(read_heads(r, AGGREGATES))
        cache = FrameCache(CACHE_SIZE, by="tick")
        # And, in each language that has screens, the whole frame a screen opened now asks for (from no token): a
        # few milliseconds a tick, which the first new screen would otherwise wait for.
        opening = [(lang, "") for lang in sorted({lang for lang, _ in held})]
        for lang, token in [*held, *opening]:
            shared_frame(r, cache, token, lang, versions, now)
    except (redis.RedisError, OSError) as exc:
        log.warning("frames ahead: Redis failed (%s); the web renders them on demand", exc)
        return 0
    except Exception:  # a rendering bug must never cost a tick its announcement
        log.exception("frames ahead: rendering failed; the web renders them on demand")
        return 0
    return len(held)


def held_tokens(r: redis.Redis, now: float) -> list[tuple[str, str]]:
    """(language, token) of what screens hold now, the most recently said first, dropping what is no longer held."""
    since = now - keys.FRAME_HELD_FRESH_S
    with r.pipeline(transaction=False) as pipe:
        for lang in LANGS:
            pipe.zremrangebyscore(keys.frame_held_key(lang), "-inf", f"({since}")
            pipe.zrevrangebyscore(keys.frame_held_key(lang), "+inf", since, start=0, num=keys.FRAME_AHEAD_MAX)
        answers = pipe.execute()
    out: list[tuple[str, str]] = []
    for lang, tokens in zip(LANGS, answers[1::2], strict=True):
        for raw in tokens:
            token = known_token(raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw))
            if token:
                out.append((lang, token))
    return out


class HeldTokens:
    """The (language, token) pairs one web process's screens hold, said to Redis for the tick (a new pair at once, a
    pair still held every HELD_EVERY_S): the push sender says which its streams hold and which they left, the frame
    route what each polling screen reached (those are never said to be left: they fade after FRAME_HELD_FRESH_S)."""

    def __init__(self) -> None:
        self._said: dict[tuple[str, str], float] = {}  # pair -> monotonic() when last said
        self._lock = threading.Lock()

    def tell(self, r: redis.Redis, holding: Iterable[tuple[str, str]], left_too: bool = False) -> None:
        """Say the pairs of `holding` that are due; with `left_too`, also that the pairs said before and no longer in
        `holding` are left. A Redis failure only means frames not made ahead (said again at the next call)."""
        mono, now = time.monotonic(), time.time()
        pairs = {(lang, token) for lang, token in holding if token}
        with self._lock:
            add = [p for p in pairs if mono - self._said.get(p, float("-inf")) >= HELD_EVERY_S]
            if left_too:
                left = [p for p in self._said if p not in pairs]
            else:  # pairs nobody said again for longer than the tick would look at them are forgotten here too
                left = []
                for p in [p for p, at in self._said.items() if mono - at > keys.FRAME_HELD_FRESH_S]:
                    del self._said[p]
            if not add and not left:
                return
            for p in add:  # marked first: concurrent requests of one screen state say it once
                self._said[p] = mono
        try:
            with r.pipeline(transaction=False) as pipe:
                for lang, token in left:
                    pipe.zrem(keys.frame_held_key(lang), token)
                for lang, token in add:
                    pipe.zadd(keys.frame_held_key(lang), {token: now})
                    pipe.expire(keys.frame_held_key(lang), keys.FRAME_HELD_TTL_S)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.debug("could not say which frames screens hold (%s)", exc)
            with self._lock:
                for p in add:
                    self._said.pop(p, None)
            return
        with self._lock:
            for p in left:
                self._said.pop(p, None)
