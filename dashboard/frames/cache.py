"""The wall's frames: its panels rendered once per change and language, and read by every open screen.

A screen's state is what it shows: the version of every aggregate and the small state of every section (the
signatures that spare unchanged outputs, the KPI cards' flash parity), and the alarms it shows. It is summarised by
a short token. A *frame* takes a screen from its state A to the aggregates' current versions B in one language:
the outputs that differ (layouts/wall_frame.py's `refresh`) and the token of the state reached. Frames
are kept in Redis under (language, A, B) for a few seconds, so every web process on every host shares them:

- screens at the same state ask for the same frame. They usually are: every screen that refreshed after the last
  tick holds the same token (and push makes them all ask right after the next one), so 200 screens cost one
  render and one serialisation per change, not 200;
- the first asker renders under a SET NX lock; the others wait for its bytes instead of rendering too (a process
  that waits longer than a render should take renders itself rather than leave its screen behind);
- each process keeps the frames it served in a small LRU in front of Redis, so most answers are one read of the
  aggregates' heads (version, hash and age: a few hundred bytes) and bytes already made;
- the state behind a token is kept in Redis (FRAME_STATE_TTL_S) for the next frame from it; a token nobody knows
  any more (expired, Redis rebuilt) is answered with everything, as a freshly opened screen is.

The answer wraps the cached bytes in what is per request without parsing them again: META (the ages that the
freshness badges tick from, and the server's clock), the replay badge and the database notice. Renderers are
given the aggregate's own `computed_at` as their clock, never the request's, so a frame is the same whoever
renders it and whenever (the wall's script ticks ages, deadline clocks and the "new" highlight every second).

Replay (the slider on a past minute) is rare and per screen: those frames are rendered for the asking screen
from the history snapshot, as before, and not shared. The alarm banner travels in the frame, following the live
incidents aggregate (alarms stay live during a replay), so a screen makes one request a second, not two.

Why not keep Dash's callback with a cached core: a Dash callback request costs the dispatch itself (parsing the
inputs, the per-output response, the JSON walk) on every screen every second; a plain GET of bytes already made is
several times cheaper, and its caching does not depend on Dash's request format.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import orjson
import redis
from dash import no_update

from dashboard.live import history, keys
from dashboard.live.aggregates import Head, heads_commands, heads_from, read_aggregates, read_heads_and
from dashboard.live.health import database_down_since, down_since
from dashboard.live.schema import AGG_INCIDENTS, AGG_KPI, AGGREGATES, Envelope
from dashboard.observe.logs import OncePer
from dashboard.observe.metrics import frame_rendered
from dashboard.store.outage import DATABASE
from layouts.alarm import banner_class, banner_content, select_alarms, signature
from layouts.db_notice import database_notice
from layouts.section import unchanged
from layouts.wall_frame import (
    ALARM_OUTPUTS,
    N_SECTION_OUTPUTS,
    SECTION_OUTPUTS,
    failed_meta,
    refresh,
    replay_envelopes,
    replay_mode,
)

log = logging.getLogger(__name__)

# Frames this process keeps in memory (most screens share a handful at any moment).
LRU_SIZE: Final = 512
# How long a screen waits for another process's render before rendering itself, and how often it looks.
WAIT_S: Final = 2.0
POLL_S: Final = 0.01
OUTPUT_KEYS: Final = tuple(f"{cid}.{prop}" for cid, prop in (*SECTION_OUTPUTS, *ALARM_OUTPUTS))
# The state key of the alarm banner: {"v": live incidents version, "sig": alarms shown}.
ALARM_STATE: Final = "alarm"


def _default(obj: Any) -> Any:
    """Dash components (a few renderers build them) as their JSON form."""
    if hasattr(obj, "to_plotly_json"):
        return obj.to_plotly_json()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """Compact JSON as orjson writes it (components through their to_plotly_json)."""
    return orjson.dumps(obj, default=_default)


# A token is hex of a fixed short length: anything else is not one of ours and is answered as a new screen.
TOKEN_MAX: Final = 64


def known_token(token: str) -> str:
    """`token` when it can be one of ours, else "" (a screen that shows nothing yet: it is sent everything)."""
    return token if len(token) <= TOKEN_MAX and all(ch in "0123456789abcdef" for ch in token) else ""


def token_of(lang: str, state: Mapping[str, Any]) -> str:
    """The short token of a screen's state in a language."""
    raw = lang.encode() + b"|" + orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=9).hexdigest()


def versions_of(heads: Mapping[str, Head | None]) -> str:
    """The aggregates' current versions (and data hashes, which a rebuilt Redis does not repeat) as one string."""
    return ",".join(f"{h.version}:{h.hash[:8]}" if h else "-" for h in (heads.get(n) for n in AGGREGATES))


def frame_digest(lang: str, token: str, versions: str) -> str:
    """Names the frame from state `token` to `versions` in `lang`."""
    return hashlib.blake2b(f"{lang}|{token}|{versions}".encode(), digest_size=12).hexdigest()


def alarm_part(live: Envelope | None, state: Any, lang: str) -> tuple[list[Any] | None, Any]:
    """The alarm banner's outputs (None when the alarms did not change) and its new state, from the live
    incidents aggregate: read only when its version moved, re-sent only when the set of alarms did."""
    old = state if isinstance(state, Mapping) else {}
    if live is None or live.get("version") == old.get("v"):
        return None, old or None
    alarms = select_alarms((live.get("data") or {}).get("items"))
    sig = signature(alarms)
    new = {"v": live.get("version"), "sig": sig}
    if "sig" in old and old["sig"] == sig:
        return None, new
    return [{"sig": sig, "alarms": alarms}, banner_content(alarms, lang), banner_class(alarms), ""], new


def render_frame(
    shown: Mapping[str, Envelope | None], live: Mapping[str, Envelope | None], state: Mapping[str, Any],
    lang: str, now: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """{output key: value} of what changed from `state` and the state reached (the renderers run here)."""
    values, new_client, _ = refresh(shown, state, lang, now)
    reached: dict[str, Any] = dict(new_client) if isinstance(new_client, Mapping) else {
        "v": dict(state.get("v") or {}), "s": dict(state.get("s") or {})}
    out = {key: v for key, v in zip(OUTPUT_KEYS, values, strict=False) if not _is_no_update(v)}
    try:
        alarm, alarm_state = alarm_part(live.get(AGG_INCIDENTS), state.get(ALARM_STATE), lang)
        if alarm is not None:
            out.update(zip(OUTPUT_KEYS[len(SECTION_OUTPUTS):], alarm, strict=True))
    except Exception:
        # A malformed incidents aggregate must not take the panels down with the banner.
        log.exception("rendering the alarm banner failed")
        alarm_state = state.get(ALARM_STATE)
    if alarm_state is not None:
        reached[ALARM_STATE] = alarm_state
    return out, reached


def _is_no_update(v: Any) -> bool:
    return type(v).__name__ == "NoUpdate"


class FrameCache:
    """This process's frames (an LRU of bytes) in front of the shared ones in Redis."""

    def __init__(self, size: int = LRU_SIZE, by: str = "web") -> None:
        self.size = size
        self.by = by  # who renders through this cache, for the metrics ("web" or "tick")
        self.items: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()
        self.renders = 0  # frames this process rendered (for tests and the benchmark)

    def rendered(self) -> None:
        """Count a frame rendered through this cache (here and in the metrics)."""
        self.renders += 1
        frame_rendered(self.by)

    def get(self, digest: str) -> bytes | None:
        """A frame this process already holds."""
        with self.lock:
            body = self.items.get(digest)
            if body is not None:
                self.items.move_to_end(digest)
            return body

    def put(self, digest: str, body: bytes) -> None:
        """Keep a frame, forgetting the least recently used beyond `size`."""
        with self.lock:
            self.items[digest] = body
            self.items.move_to_end(digest)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class Answer(NamedTuple):
    """A frame answer: the bytes to send, whether this call rendered it (rather than read it), and the token the
    screen reaches with it (answer's only; "" when unknown)."""

    body: bytes
    rendered: bool
    token: str = ""


def _state_of(r: redis.Redis, token: str) -> dict[str, Any]:
    """The state behind a screen's token; empty (the screen gets everything) when none is known."""
    if not token:
        return {}
    raw = r.get(keys.frame_state_key(token))
    if raw is None:
        return {}
    try:
        state = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return state if isinstance(state, dict) else {}


def _make(r: redis.Redis, token: str, lang: str, now: float, at: float | None) -> tuple[bytes, Any]:
    """Render a frame from `token`'s state: its cached bytes ('"token":…,"out":{…}') and the KPI version shown
    (negative while a history snapshot is replayed)."""
    state = _state_of(r, token)
    live = read_aggregates(r, AGGREGATES)
    shown = live
    if at is not None:
        shown = replay_envelopes(live, history.snapshot_at(r, at, tolerance_s=history.HOUR_TOLERANCE_S))
    out, reached = render_frame(shown, live, state, lang, now)
    new_token = token_of(lang, reached)
    if new_token != token:
        r.set(keys.frame_state_key(new_token), orjson.dumps(reached), ex=keys.FRAME_STATE_TTL_S)
    body = b'"token":' + orjson.dumps(new_token) + b',"out":' + dumps(out)
    return body, (reached.get("v") or {}).get(AGG_KPI)


def shared_frame(
    r: redis.Redis, cache: FrameCache, token: str, lang: str, versions: str, now: float
) -> Answer:
    """The live frame from `token` to `versions`: from this process, else from Redis, else rendered once."""
    digest = frame_digest(lang, token, versions)
    body = cache.get(digest)
    if body is not None:
        return Answer(body, False)
    key = keys.frame_key(digest)
    body = _as_bytes(r.get(key))
    if body is None:
        lock = keys.frame_lock_key(digest)
        if r.set(lock, b"1", nx=True, px=keys.FRAME_LOCK_TTL_MS):
            try:
                # Another asker may have stored it and let go of the lock between our read and our lock.
                body = _as_bytes(r.get(key))
                if body is None:
                    body, _ = _make(r, token, lang, now, None)
                    cache.rendered()
                    r.set(key, body, ex=keys.FRAME_TTL_S)
                    rendered = True
                else:
                    rendered = False
            finally:
                r.delete(lock)
            cache.put(digest, body)
            return Answer(body, rendered)
        body = _wait_for(r, key)
        if body is None:
            # The renderer is slow or gone: render for this screen rather than leave it behind (not stored).
            body, _ = _make(r, token, lang, now, None)
            cache.rendered()
            cache.put(digest, body)
            return Answer(body, True)
    cache.put(digest, body)
    return Answer(body, False)


def _wait_for(r: redis.Redis, key: str) -> bytes | None:
    """The frame another process is rendering, once it is stored (None after WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        time.sleep(POLL_S)
        body = _as_bytes(r.get(key))
        if body is not None:
            return body
    return None


def _as_bytes(raw: Any) -> bytes | None:
    """A stored frame as bytes (a client that decodes answers gives str)."""
    if raw is None:
        return None
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def meta_of(heads: Mapping[str, Head | None], now: float) -> dict[str, Any]:
    """META: each aggregate's computed_at, the server's clock, and that Redis answered."""
    out: dict[str, Any] = {name: (h.computed_at if h else None) for name, h in heads.items()}
    out["now"] = now
    out["ok"] = True
    return out


def db_part(r: redis.Redis | None, lang: str) -> Any:
    """The database notice: null while the database answers, else [since, children] (rare, so built per request)."""
    since: float | None = None
    if r is not None:
        try:
            since = database_down_since(r)
        except (redis.RedisError, OSError):
            since = None
    return notice_part(since, lang)


def notice_part(since: float | None, lang: str) -> Any:
    """db_part from the time the tick says the database went away (None: it answers), and this process's own."""
    if DATABASE.failing_now():
        mine = DATABASE.since
        since = mine if since is None or (mine is not None and mine < since) else since
    if since is None:
        return None
    return [since, database_notice(since, lang)[0]]


# A refresh's every read, the same commands each time (made once: the route asks for them on every refresh).
_ANSWER_READS: Final = tuple(heads_commands(AGGREGATES, (keys.DB_DOWN_SINCE,)))


def answer_reads() -> tuple[tuple[Any, ...], ...]:
    """The commands of a refresh's every read: the heads and the database's state (replies: `answer`'s `read`)."""
    return _ANSWER_READS


def answer(
    r: redis.Redis, cache: FrameCache, token: str, lang: str, now: float, at: float | None = None,
    read: list[Any] | None = None,
) -> Answer:
    """The whole answer to a screen at state `token`: META, the replay badge, the database notice and the frame.
    `read`: the replies to answer_reads() when they were read already (with the session's record), else None.

    A Redis failure answers META marked failed and no outputs (every panel keeps its values and turns stale);
    nothing raises.
    """
    try:
        # The heads and the database's state in one round trip: a refresh's every read.
        heads, (down_raw,) = (read_heads_and(r, AGGREGATES, (keys.DB_DOWN_SINCE,)) if read is None
                              else heads_from(r, AGGREGATES, read))
        kpi_v = None
        if at is None:
            got = shared_frame(r, cache, token, lang, versions_of(heads), now)
            body, rendered = got.body, got.rendered
        else:
            body, kpi_v = _make(r, token, lang, now, at)
            rendered = True
        meta = meta_of(heads, now)
        db = notice_part(down_since(down_raw), lang)
    except (redis.RedisError, OSError) as exc:
        log.warning("wall frame: cannot read from Redis (%s); panels marked stale", exc)
        head = dumps({"meta": failed_meta(now), "db": db_part(None, lang)})
        return Answer(head[:-1] + b',"token":' + orjson.dumps(token) + b',"out":{}}', False)
    head = dumps({"meta": meta, "db": db, "mode": replay_badge(at, kpi_v, lang, now)})
    return Answer(head[:-1] + b"," + body + b"}", rendered, token_in(body))


def replay_badge(at: float | None, kpi_version: Any, lang: str, now: float | None = None) -> list[str]:
    """The replay badge (text, class, wall class) for the KPI version a frame reached ("昨日 07:03" for a time before
    today, `now` given)."""
    replayed = kpi_version if isinstance(kpi_version, int) and kpi_version < 0 else None
    return list(replay_mode(at, replayed, lang, now))


def token_in(body: bytes) -> str:
    """The token a frame's cached bytes reach (they start '"token":"<hex>",')."""
    start = len(b'"token":"')
    return body[start:body.index(b'"', start)].decode()


def pushed_frame(
    r: redis.Redis, cache: FrameCache, heads: Mapping[str, Head | None], token: str, lang: str, now: float,
    initial: bool = False,
) -> tuple[bytes, str] | None:
    """A push stream's frame from `token` to the versions in `heads`: the GET's answer plus `"from"`, and the token
    reached; None when nothing changed (unless `initial`: opening a stream is a refresh too) or Redis failed."""
    try:
        got = shared_frame(r, cache, token, lang, versions_of(heads), now)
        reached = token_in(got.body)
        if reached == token and not initial:
            return None
        head = dumps({"from": token, "meta": meta_of(heads, now), "db": db_part(r, lang),
                      "mode": replay_badge(None, None, lang)})
    except (redis.RedisError, OSError) as exc:
        log.warning("pushed frame: cannot read from Redis (%s); none sent", exc)
        return None
    return head[:-1] + b"," + got.body + b"}", reached


def pushed_meta(r: redis.Redis, heads: Mapping[str, Head | None], lang: str, now: float) -> bytes:
    """META and the database notice alone, for screens that got no frame lately (ages move every tick)."""
    return dumps({"meta": meta_of(heads, now), "db": db_part(r, lang)})


# While Redis is down the refresh fails every second; say so in the log once per this many seconds.
_LOG_EVERY_S: Final = 30.0


_outage_log = logging.getLogger(__name__ + ".outage")
_outage_log.addFilter(OncePer(_LOG_EVERY_S))


def read_and_refresh(
    r: redis.Redis, client: Mapping[str, Any] | None, lang: str, now: float | None = None, at: float | None = None
) -> tuple[list[Any], Any, dict[str, Any]]:
    """One MGET of every aggregate (and, when `at` is given, the history snapshot of then), then `refresh`;
    a Redis failure marks everything stale, never raises."""
    now = time.time() if now is None else now
    try:
        envs = read_aggregates(r, AGGREGATES)
        if at is not None:
            envs = replay_envelopes(envs, history.snapshot_at(r, at, tolerance_s=history.HOUR_TOLERANCE_S))
    except (redis.RedisError, OSError) as exc:
        _outage_log.warning("wall refresh: cannot read aggregates from Redis (%s); panels marked stale", exc)
        return unchanged(N_SECTION_OUTPUTS), no_update, failed_meta(now)
    return refresh(envs, client, lang, now)
