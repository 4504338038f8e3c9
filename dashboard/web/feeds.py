"""The feeds' server's WSGI application: POST /api/v1/events straight to the ingest, everything else to the app.

A feed's request needs none of what the app does around a view (sessions, the login guard, CSRF, the pages' CSP, the
rate limiter's bookkeeping, Flask's routing): about 1 ms of CPU a request before the ingest itself runs, which made
one event per request five times as costly as the event's validation and storage. Here the endpoint's own answer
(dashboard/web/api/ingest.py `answer_events`, the same function as the app's view) runs directly, with the headers
the app adds to a JSON answer, its JSON encoding and its request metrics, the telemetry of the requests that wait on
Redis together stored together (dashboard/services/group_commit.py); anything else (a query string, a body
without Content-Length, another path or method) goes to the app unchanged. tests/test_feeds_fast_path.py holds
both to the same answers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import InternalServerError

from dashboard.config import Config
from dashboard.observe.metrics import observe_request
from dashboard.services.group_commit import GroupCommit
from dashboard.web import headers
from dashboard.web.api.ingest import PATH, Answer, answer_events
from dashboard.web.extensions import CONFIG, REDIS, SESSIONS

log = logging.getLogger(__name__)

# The view's metrics label (dashboard/web/metrics.py route_label: its Flask endpoint).
ENDPOINT = "api.post_events"
_REASONS = {200: "OK", 400: "BAD REQUEST", 401: "UNAUTHORIZED", 413: "REQUEST ENTITY TOO LARGE",
            415: "UNSUPPORTED MEDIA TYPE", 422: "UNPROCESSABLE ENTITY", 500: "INTERNAL SERVER ERROR",
            503: "SERVICE UNAVAILABLE"}

StartResponse = Callable[..., Any]


def json_headers(server: Any) -> list[tuple[str, str]]:
    """The headers the app's after_request adds to a JSON answer (dashboard/web/headers.py add_headers)."""
    out = [*headers.STATIC_HEADERS.items(), ("Content-Security-Policy", headers.NON_PAGE_POLICY),
           ("Cache-Control", "no-store"), ("Vary", "Cookie")]  # the app's login guard reads the session cookie
    if server.config.get("SESSION_COOKIE_SECURE"):
        out.append(("Strict-Transport-Security", headers.HSTS))
    return out


class FeedsApp:
    """WSGI: the ingest's fast path in front of the Flask app `server`."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.config: Config = server.extensions[CONFIG]
        self.redis = server.extensions[REDIS]
        self.sessions = server.extensions[SESSIONS]
        # Concurrent requests' telemetry stored in one round trip to Redis (dashboard/services/group_commit.py).
        self.group = GroupCommit(self.redis, self.sessions, self.config.max_batch_events)
        self.headers = json_headers(server)
        # Flask's JSON answers: its provider's encoding, compact unless in debug mode (DefaultJSONProvider.response),
        # with the provider's settings in one encoder made once (json.dumps makes one a call).
        provider = server.json
        compact = {"indent": 2, "separators": (", ", ": ")} if server.debug else {"separators": (",", ":")}
        self.json_dumps = json.JSONEncoder(default=provider.default, ensure_ascii=provider.ensure_ascii,
                                           sort_keys=provider.sort_keys, **compact).encode

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer a feed's POST here; pass anything else to the app."""
        length = environ.get("CONTENT_LENGTH")
        if (environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("QUERY_STRING") or not length or not length.isdigit()):
            return self.server(environ, start_response)
        started = time.perf_counter()
        declared = int(length)
        stream = environ["wsgi.input"]

        def read_body() -> bytes | None:
            return bytes(stream.read(declared)) if declared <= self.config.max_body_bytes else None

        mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        try:
            answer = answer_events(self.config, environ.get("HTTP_AUTHORIZATION", ""), mimetype, declared,
                                   read_body, self.group.ingest)
        except Exception:
            # As the app answers an unforeseen error under /api/ (dashboard/web/api/common.py http_error).
            log.exception("POST %s failed", PATH)
            error = InternalServerError()
            answer = Answer(500, {"error": error.description, "code": "internal_server_error"})
        body = (self.json_dumps(answer.body) + "\n").encode()
        start_response(f"{answer.status} {_REASONS.get(answer.status, '')}".rstrip(), [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))), *answer.headers.items(),
            *self.headers])
        observe_request(ENDPOINT, "POST", answer.status, time.perf_counter() - started)
        return [body]
