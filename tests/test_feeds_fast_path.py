"""The feeds' server's fast path (dashboard/web/feeds.py) answers POST /api/v1/events exactly as the app does."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client

from dashboard.live import keys
from dashboard.web.feeds import FeedsApp
from tests.helpers import incident, reading

AUTH = {"Authorization": "Bearer test-token"}
JSON = "application/json"


def answer_cases() -> list[tuple[str, dict[str, str], Any, str]]:
    """(label, headers, body, content type): every kind of answer the endpoint gives (each body posted twice: the
    second time its events are duplicates)."""
    bad = reading("bad", lat=95.0)
    return [
        ("one reading", AUTH, reading("x1"), JSON),
        ("a batch", AUTH, [reading("x2"), reading("x3")], JSON),
        ("some invalid", AUTH, {"events": [reading("x4"), bad]}, JSON),
        ("all invalid", AUTH, [bad], JSON),
        ("no token", {}, reading("x5"), JSON),
        ("a wrong token", {"Authorization": "Bearer nope"}, reading("x5"), JSON),
        ("not JSON's type", AUTH, reading("x5"), "text/plain"),
        ("malformed", AUTH, b"{not json", JSON),
        ("not a batch", AUTH, 7, JSON),
        ("an empty batch", AUTH, [], JSON),
        ("too deep", AUTH, b"[" * 100 + b"]" * 100, JSON),
        ("too large", AUTH, b"[" + b" " * 2_000_000 + b"]", JSON),
    ]


def body_bytes(body: Any) -> bytes:
    """A test body as the bytes posted (bytes as they are, anything else as JSON)."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def test_the_fast_path_answers_as_the_app(app: Any) -> None:
    r = app.extensions["dc_redis"]
    for label, headers, body, ctype in answer_cases():
        answers = []
        for wsgi in (app, FeedsApp(app)):
            r.flushdb()
            for _ in range(2):
                resp = Client(wsgi).post("/api/v1/events", data=body_bytes(body), headers=headers, content_type=ctype)
                stored = r.xlen(keys.TELEMETRY_STREAM), r.hgetall(keys.INGEST_STATS)
                answers.append((resp.status_code, resp.get_data(), sorted(
                    (k, v) for k, v in resp.headers.items() if k not in ("Date", "Server")), stored))
        assert answers[:2] == answers[2:], label


def test_an_incident_reaches_sql_through_the_fast_path(app: Any) -> None:
    client = Client(FeedsApp(app))
    first = client.post("/api/v1/events", data=body_bytes([incident("i1"), reading("x9")]), headers=AUTH,
                        content_type=JSON)
    again = client.post("/api/v1/events", data=body_bytes(incident("i1")), headers=AUTH, content_type=JSON)
    assert (first.status_code, first.get_json()["accepted"]) == (200, 2)
    assert again.get_json()["duplicates"] == [{"index": 0, "event_id": "i1"}]


def test_other_requests_go_to_the_app(app: Any) -> None:
    client = Client(FeedsApp(app))
    assert client.get("/livez").status_code == 200
    assert client.get("/api/v1/events").status_code == 405
    with_query = client.post("/api/v1/events?x=1", data=body_bytes(reading("q1")), headers=AUTH, content_type=JSON)
    assert with_query.status_code == 200 and with_query.get_json()["accepted"] == 1
