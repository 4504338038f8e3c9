"""Push: changes reach every open screen within a second, over Server-Sent Events fed by Redis pub/sub.

    GET /api/v1/stream      (session or API token like every /api/ path; read-only)

A `text/event-stream` that forwards two pub/sub channels of the app's Redis database:

- keys.updates_channel(db): the tick publishes the name of every aggregate it changed, inside the MULTI that
  writes it, so a screen that reads the key after the event always sees the new version
  → ``event: aggregate`` / ``data: <name>``; bursts are coalesced to at most one event per name per
  SSE_COALESCE_S (the last one of a burst is always sent, a little later, never dropped);
- keys.incidents_channel(db): one JSON message after each incident action → ``event: incident`` / ``data:
  <the JSON, on one line>``, every one forwarded.

A wall opens it as ``/api/v1/stream?frames=<lang>&from=<token>`` and gets, instead of those two events, its frames
(dashboard/web/api/frame_push.py): first the frame from its token to now, then ``event: frame`` on every change
(one per (language, token) group, made once and shared) and ``event: meta`` when it got no frame for a second; the
data is what GET /api/v1/frame answers plus ``"from"``, the token the frame starts from.

The process's hub (hub.py) holds the one Redis subscription and fills every stream's mailbox; this module is the
route and a stream's body. Each stream starts with ``retry: 2000``, gets the hub's comment every SSE_HEARTBEAT_S
(so proxies keep it open and a client that went away is noticed on the next write), and every SSE_RECHECK_S
checks its caller again with the login guard's own rules (the session's server-side record and its user, or the
API token), and at once when the caller's access changed (the hub's access channel: a logout, a disable, a password
reset, a new role, a revoked token): a session logged out or ended, a disabled user or a revoked token ends the
stream with ``event: bye`` / ``data: auth``. After SSE_MAX_LIFETIME_S (jittered by up to 10 % so screens do not
reconnect in step) it sends ``event: bye`` / ``data: lifetime`` and ends; the client reconnects at once.

Limits: SSE_MAX_STREAMS per process, of which one user (or API token's user) may hold SSE_MAX_STREAMS_PER_USER
(unset: half), so that one caller cannot take them all; beyond either, and whenever the hub cannot subscribe, the
answer is 503 with Retry-After, and the browser keeps polling once a second (assets/push.js retries the stream with
back-off).
The web's gunicorn runs gevent workers (ops/runner.py), where a stream is a greenlet; under a threaded server
each stream still holds a thread, so keep SSE_MAX_STREAMS below its threads there. The limits are Flask config
keys, filled from Config (the environment variables SSE_MAX_STREAMS, SSE_MAX_STREAMS_PER_USER, SSE_HEARTBEAT_S,
SSE_MAX_LIFETIME_S).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_login import current_user

from dashboard.config import Config
from dashboard.i18n import norm_lang
from dashboard.web.api.frame_push import FramePusher
from dashboard.web.api.hub import (
    BYE_AUTH,
    BYE_LIFETIME,
    CFG_COALESCE_S,
    CFG_HEARTBEAT_S,
    CFG_HUB_LINGER_S,
    CFG_MAX_LIFETIME_S,
    CFG_MAX_STREAMS,
    CFG_MAX_STREAMS_PER_USER,
    CFG_QUEUE_MAX,
    CFG_RECHECK_S,
    CFG_SUBSCRIBE_TIMEOUT_S,
    DEFAULT_COALESCE_S,
    DEFAULT_HUB_LINGER_S,
    DEFAULT_QUEUE_MAX,
    DEFAULT_RECHECK_S,
    DEFAULT_SUBSCRIBE_TIMEOUT_S,
    DROPPED_SLOW,
    PushState,
    Settings,
    Stream,
    sse_event,
)
from dashboard.web.extensions import current_config, redis_client
from dashboard.web.frames import frame_cache

log = logging.getLogger(__name__)
bp = Blueprint("push", __name__)

PUSH: Final = "dc_push"  # app.extensions key of the per-app PushState
STREAM_PATH: Final = "/api/v1/stream"
RETRY_MS: Final = 2000  # EventSource's own reconnect delay, sent as `retry:`
RETRY_AFTER_S: Final = 5  # Retry-After of a 503
LIFETIME_JITTER: Final = 0.1


def init_push(app: Flask, config: Config) -> None:
    """Attach the push state and the limits (from `config`) to the app and register the stream route."""
    app.extensions[PUSH] = PushState()
    app.config.setdefault(CFG_MAX_STREAMS, config.sse_max_streams)
    # Unset: half the process's streams, so that one user can never take them all.
    per_user = config.sse_max_streams_per_user or max(1, config.sse_max_streams // 2)
    app.config.setdefault(CFG_MAX_STREAMS_PER_USER, per_user)
    app.config.setdefault(CFG_HEARTBEAT_S, config.sse_heartbeat_s)
    app.config.setdefault(CFG_MAX_LIFETIME_S, config.sse_max_lifetime_s)
    app.config.setdefault(CFG_COALESCE_S, DEFAULT_COALESCE_S)
    app.config.setdefault(CFG_SUBSCRIBE_TIMEOUT_S, DEFAULT_SUBSCRIBE_TIMEOUT_S)
    app.config.setdefault(CFG_QUEUE_MAX, DEFAULT_QUEUE_MAX)
    app.config.setdefault(CFG_HUB_LINGER_S, DEFAULT_HUB_LINGER_S)
    app.config.setdefault(CFG_RECHECK_S, DEFAULT_RECHECK_S)
    app.register_blueprint(bp)


def push_state(app: Flask | None = None) -> PushState:
    """The PushState of `app` (the current app by default)."""
    return cast(PushState, (app or current_app).extensions[PUSH])


def open_streams(app: Flask | None = None) -> int:
    """Push streams open in this process (for the metrics' gauge)."""
    return push_state(app).open_streams


def _unavailable(message: str) -> Response:
    """503 with Retry-After: the browser keeps polling and tries the stream again later."""
    resp = jsonify(error=message, retry_after=RETRY_AFTER_S)
    resp.status_code = 503
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _client_socket() -> socket.socket | None:
    """The client's socket as the WSGI server exposes it (gunicorn, werkzeug), to cut a stalled client."""
    for key in ("gunicorn.socket", "werkzeug.socket"):
        sock = request.environ.get(key)
        if isinstance(sock, socket.socket):
            return sock
    return None


def _recheck(app: Flask) -> Callable[[], bool]:
    """A check of this request's caller with the login guard's rules, runnable later outside the request."""
    from dashboard.web.auth import still_authenticated

    headers = {k: v for k in ("Cookie", "Authorization") if (v := request.headers.get(k)) is not None}
    remote = request.remote_addr or "127.0.0.1"

    def check() -> bool:
        with app.test_request_context(STREAM_PATH, headers=headers, environ_base={"REMOTE_ADDR": remote}):
            return still_authenticated()

    return check


@bp.get(STREAM_PATH)
def stream() -> Response:
    """The event stream of aggregate and incident changes (503 when full or when Redis is down)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = Settings.from_app(app)
    hub = push_state().hub_for(current_config().redis, settings)
    lang = norm_lang(request.args["frames"]) if "frames" in request.args else None
    uid = int(current_user.id) if current_user.is_authenticated else None
    got = hub.register(settings.queue_max, _client_socket(), lang, uid)
    if got == "full":
        log.info("push: %d streams open in this process (the limit); answering 503", settings.max_streams)
        return _unavailable("too many open streams in this server process; keep polling and retry later")
    if got == "user_full":
        log.info("push: user %s holds %d streams in this process (the limit per user); answering 503", uid,
                 settings.max_streams_per_user)
        return _unavailable("too many open streams for this user in this server process; keep polling and retry "
                            "later")
    if isinstance(got, str):
        return _unavailable("Redis unavailable; keep polling and retry later")
    mine = got
    first = b""
    if lang is not None:
        if hub.frames is None:
            hub.frames = FramePusher(hub, redis_client(), frame_cache())
        first = hub.frames.first_frame(mine, lang, request.args.get("from", ""))
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            hub.unregister(mine)

    resp = Response(_events(mine, settings, _recheck(app), release, first), mimetype="text/event-stream")
    # The generator's finally runs only if the body was started: a HEAD request or a client gone before the
    # first byte closes the response without iterating it, and this releases the stream then.
    resp.call_on_close(release)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"  # nginx: pass every event through at once
    return resp


def _events(
    mine: Stream, s: Settings, allowed: Callable[[], bool], release: Callable[[], None], first: bytes = b""
) -> Iterator[bytes]:
    """The body of one stream: the hub's events and heartbeats, the caller checked again, the end."""
    start = time.monotonic()
    end = start + s.max_lifetime_s * (1.0 - LIFETIME_JITTER * random.random())
    next_check = start + s.recheck_s * (0.5 + 0.5 * random.random())

    def write(data: bytes) -> Iterator[bytes]:
        mine.writing_since = time.monotonic()
        yield data  # the server writes it before it asks for the next chunk
        mine.writing_since = None

    def caller_allowed() -> bool:
        nonlocal next_check
        mine.recheck = False
        try:
            ok = allowed()
        except Exception:  # a guard that cannot decide (503) must not keep a stream open
            log.warning("push: the caller of a stream could not be checked again; ending it", exc_info=True)
            return False
        next_check = time.monotonic() + s.recheck_s
        return ok

    try:
        yield from write(f"retry: {RETRY_MS}\n\n: connected\n\n".encode() + first)
        while True:
            now = time.monotonic()
            if now >= end:
                yield from write(sse_event("bye", BYE_LIFETIME).encode())
                return
            if (now >= next_check or mine.recheck) and not caller_allowed():
                yield from write(sse_event("bye", BYE_AUTH).encode())
                return
            items, ended = mine.take(min(next_check, end) - time.monotonic())
            if ended == DROPPED_SLOW:
                return
            # The caller's access changed while these waited: nothing more is written before they are checked.
            if mine.recheck and not caller_allowed():
                yield from write(sse_event("bye", BYE_AUTH).encode())
                return
            if ended is not None:
                yield from write(b"".join(items) + sse_event("bye", ended).encode())
                return
            if items:
                yield from write(b"".join(items))
    finally:
        release()
