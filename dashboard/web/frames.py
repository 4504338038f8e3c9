"""GET /api/v1/frame: the wall's refresh as a plain request for bytes already made (dashboard/frames/cache.py).

Behind the login guard like every page (401 JSON when not signed in); no Dash dispatch, no CSRF (it changes
nothing). Query: `from` the token of the state the screen shows ("" for a screen just opened), `lang` zh|en,
`offset` the replay slider's minutes before now (absent or 0 for live).
"""

from __future__ import annotations

import time
from typing import Final

import redis
from flask import Blueprint, Flask, Response, current_app
from flask.globals import request_ctx

from dashboard.frames.ahead import HeldTokens
from dashboard.frames.cache import FrameCache, answer, answer_reads, known_token
from dashboard.i18n import norm_lang
from dashboard.web.extensions import REDIS
from dashboard.web.readahead import reads_ahead, taken
from layouts.tablet import slider_time

FRAME_PATH: Final = "/api/v1/frame"
CACHE: Final = "dc_frames"
HELD: Final = "dc_frames_held"

bp = Blueprint("frames", __name__)


def frame_cache(app: Flask | None = None) -> FrameCache:
    """This process's frames (the app's FrameCache)."""
    cache: FrameCache = (app or current_app).extensions[CACHE]
    return cache


@bp.get(FRAME_PATH)
@reads_ahead(answer_reads)
def frame() -> Response:
    """META, the replay badge, the database notice and the frame from the screen's state to the current one."""
    app = request_ctx.app  # (the context's proxies looked through once)
    args = request_ctx.request.args
    token = known_token(args.get("from", ""))
    lang = norm_lang(args.get("lang"))
    now = time.time()
    at = slider_time(args.get("offset"), now)
    r: redis.Redis = app.extensions[REDIS]
    got = answer(r, frame_cache(app), token, lang, now, at, read=taken())
    if at is None and got.token:
        # A screen that polls holds the token it reached, as a pushed one does: its next frame is made ahead too.
        held_tokens(app).tell(r, [(lang, got.token)])
    resp = Response(got.body, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def held_tokens(app: Flask | None = None) -> HeldTokens:
    """The tokens this process's polling screens were said to hold."""
    held: HeldTokens = (app or current_app).extensions[HELD]
    return held


def init_frames(app: Flask) -> None:
    """Give the app its frame cache and its held tokens, and register the route."""
    app.extensions[CACHE] = FrameCache()
    app.extensions[HELD] = HeldTokens()
    app.register_blueprint(bp)
