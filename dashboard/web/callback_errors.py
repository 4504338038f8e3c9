"""The last line under the screens' callbacks: Dash's `on_error`, for an exception a callback did not expect.

Decided: a callback that raises on what a request brought is a bug, fixed at the callback's boundary
(layouts/inputs.py, proved by tests/test_callback_inputs.py); this handler does not make such a bug pass
silently. It still answers 500 (the renderer shows the failure, a test sees it), but it logs the traceback once per
cause (the callback, the exception's type and the line that raised it) and then only counts, recalling the count
every REMIND_EVERY_S: a script repeating one failing request would otherwise write a traceback per request and bury
the log. What is not the callback's fault passes through untouched: an HTTP answer a callback chose (the admin
page's 403), and the database's errors, which dashboard.web.unavailable answers (503 during an outage, counted
there; any other database error is a 500 logged in full, as for every request).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Final, NoReturn

from flask import abort, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from dashboard.domain import text

log = logging.getLogger(__name__)

REMIND_EVERY_S: Final = 600.0
# Causes remembered at most (a bound on memory whatever the requests); beyond, each is logged once more.
MAX_CAUSES: Final = 256


@dataclass
class _Seen:
    count: int
    reminded: float
    reminded_count: int


def _output() -> str:
    """The callback the request named (its output), escaped for one log line."""
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    return text.escape_controls(str(output))[:200]


def _where(exc: BaseException) -> str:
    """The file and line that raised `exc` (the innermost frame)."""
    tb = exc.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


class CallbackFailures:
    """One app's memory of the faults its callbacks raised (its `handle` is that app's Dash on_error)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._causes: dict[tuple[str, str, str], _Seen] = {}

    def handle(self, exc: Exception) -> NoReturn:
        """Pass HTTP answers and database errors on; answer any other fault 500, logged once per cause."""
        if isinstance(exc, HTTPException | SQLAlchemyError):
            raise exc
        output, now = _output(), time.time()
        key = (output, type(exc).__name__, _where(exc))
        with self._lock:
            seen = self._causes.get(key)
            if seen is None and len(self._causes) < MAX_CAUSES:
                self._causes[key] = _Seen(1, now, 1)
            elif seen is not None:
                seen.count += 1
            remind = seen is not None and now - seen.reminded >= REMIND_EVERY_S
            if remind and seen is not None:
                repeats, seen.reminded, seen.reminded_count = seen.count - seen.reminded_count, now, seen.count
        if seen is None:
            log.error("callback %s failed: %s: %s (the same failure again is counted, not logged)", output,
                      type(exc).__name__, text.escape_controls(str(exc))[:200], exc_info=exc)
        elif remind:
            log.error("callback %s failed %d more times with %s at %s", output, repeats, type(exc).__name__, key[2])
        resp = jsonify(error="the screen's request failed on the server", code="callback_failed")
        resp.status_code = 500
        abort(resp)
