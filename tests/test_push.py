"""Push over Server-Sent Events (GET /api/v1/stream) against the real Redis.

Streaming tests run the app in a real threaded HTTP server (werkzeug's make_server) and read the response
with http.client in a thread, so what is tested is what a browser gets: bytes on a socket as they are written,
and a client that really goes away. Heartbeat and lifetime are shortened through the app config.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from dashboard.config import Config
from dashboard.live import keys
from dashboard.live.aggregates import write_aggregates
from dashboard.live.connections import make_redis
from dashboard.web.api.stream import (
    CFG_HEARTBEAT_S,
    CFG_MAX_LIFETIME_S,
    CFG_MAX_STREAMS,
    STREAM_PATH,
    client_name,
    push_state,
)
from ops.redis_server import free_port, start_bundled_redis
from tests.conftest import TEST_REDIS_DB as DB
from tests.helpers import login

HEARTBEAT_S = 0.2


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the stream never touches SQL, so a PostgreSQL variant would test nothing more."""
    return f"sqlite:///{tmp_path / 'push.db'}"


@pytest.fixture
def fast_app(app: Any) -> Any:
    """The app with a short heartbeat (and a lifetime no test reaches unless it sets its own)."""
    app.config[CFG_HEARTBEAT_S] = HEARTBEAT_S
    app.config[CFG_MAX_LIFETIME_S] = 30.0
    return app


@contextmanager
def _serve(app: Any) -> Iterator[int]:
    """Serve `app` on a free loopback port in a thread; yield the port."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv.server_port
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def port(fast_app: Any) -> Iterator[int]:
    """Port of a real threaded HTTP server running the app."""
    with _serve(fast_app) as p:
        yield p


def _session_cookie(app: Any, username: str = "duty") -> str:
    """A logged-in session as a Cookie header value."""
    c = app.test_client()
    assert login(c, username).status_code == 302
    cookie = c.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}"


class SSE:
    """An SSE client on a real socket: a thread parses events into a queue (None marks the end)."""

    def __init__(self, port: int, cookie: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Accept": "text/event-stream"}
        if cookie:
            headers["Cookie"] = cookie
        self.conn.request("GET", STREAM_PATH, headers=headers)
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.items: queue.Queue[dict[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        if self.resp.status == 200:
            self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if fields:
                        self.items.put(fields)
                    fields = {}
                elif line.startswith(":"):
                    self.items.put({"comment": line[1:].strip()})
                else:
                    key, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    fields[key] = f"{fields[key]}\n{value}" if key in fields else value
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            self.items.put(None)

    def wait_for(self, match: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        """The first item that matches, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                item = self.items.get(timeout=max(0.001, remaining))
            except queue.Empty:
                raise AssertionError(f"nothing matching within {timeout} s") from None
            if item is None:
                raise AssertionError("stream ended before a matching item")
            if match(item):
                return item

    def collect(self, seconds: float) -> list[dict[str, str]]:
        """Every item that arrives within `seconds`."""
        out: list[dict[str, str]] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self.items.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                break
            out.append(item)
        return out

    def close(self) -> None:
        """Go away the way a closed browser tab does: the socket is shut and closed."""
        if self.sock is not None:
            with suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        if self.thread.is_alive():
            self.thread.join(timeout=5)  # it reads the end of the stream and stops
        self.resp.close()
        self.conn.close()


def _numsub(r: redis.Redis) -> dict[str, int]:
    """Subscribers of the two push channels of the test database."""
    chans = (keys.updates_channel(DB), keys.incidents_channel(DB))
    return {c.decode() if isinstance(c, bytes) else c: int(n) for c, n in r.pubsub_numsub(*chans)}


def _push_clients(r: redis.Redis) -> list[dict[str, Any]]:
    """Redis connections of this process's open streams (`CLIENT LIST`, by name: other test runs may share
    the Redis and its test database, so global counts are not this test's to assert)."""
    return [c for c in r.client_list() if c.get("name") == client_name()]


def _eventually(check: Callable[[], bool], timeout: float = 3.0) -> bool:
    """True as soon as `check()` is, False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _probe(name: str) -> str:
    """An aggregate name no one else publishes: other test runs may share the Redis and its test database."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _connected(s: SSE) -> None:
    """Wait for the preamble: the subscription is confirmed before it is written."""
    s.wait_for(lambda i: i.get("comment") == "connected", timeout=2)


# --- authentication, headers ---------------------------------------------------------------------


def test_anonymous_gets_401(client: Any) -> None:
    resp = client.get(STREAM_PATH)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "authentication required"


def test_stream_headers_and_preamble(client: Any, app: Any) -> None:
    login(client, "duty")
    resp = client.get(STREAM_PATH)
    try:
        assert resp.status_code == 200
        assert resp.mimetype == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        first = next(iter(resp.response))
        assert first.startswith(b"retry: 2000\n\n")
        assert push_state(app).open_streams == 1
    finally:
        resp.close()
    assert push_state(app).open_streams == 0


# --- events over a real socket ----------------------------------------------------------------------


def test_changed_aggregates_arrive_within_a_second(port: int, fast_app: Any, r: redis.Redis) -> None:
    a, b = _probe("kpi"), _probe("ticker")
    s = SSE(port, _session_cookie(fast_app))
    try:
        assert s.resp.status == 200
        _connected(s)
        t0 = time.monotonic()
        # The real publisher: the tick's write publishes the names of changed aggregates inside its MULTI.
        changed = write_aggregates(r, {a: {"incidents_open": 3}, b: {"items": []}}, now=time.time())
        assert sorted(changed) == sorted([a, b])
        got: set[str] = set()
        while got != {a, b}:
            ev = s.wait_for(lambda i: i.get("event") == "aggregate" and i["data"] in {a, b}, timeout=1.0)
            got.add(ev["data"])
        assert time.monotonic() - t0 < 1.0
    finally:
        s.close()


def test_incident_messages_are_forwarded_as_one_line_json(port: int, fast_app: Any, r: redis.Redis) -> None:
    first_id, second_id = (int(uuid.uuid4().int % 10**9) for _ in range(2))
    s = SSE(port, _session_cookie(fast_app))
    try:
        _connected(s)
        payload = {"incident_id": first_id, "action": "acknowledge", "ts": time.time(), "title": "东四 火情"}
        r.publish(keys.incidents_channel(DB), json.dumps(payload, indent=2))  # multi-line on purpose
        r.publish(keys.incidents_channel(DB), "not json")  # dropped, never breaks the stream
        r.publish(keys.incidents_channel(DB), json.dumps({"incident_id": second_id}))
        events: list[dict[str, Any]] = []
        while len(events) < 2:
            ev = s.wait_for(lambda i: i.get("event") == "incident", timeout=1.0)
            msg = json.loads(ev["data"])  # every incident event is JSON (the non-JSON message was dropped)
            if msg.get("incident_id") in (first_id, second_id):
                assert "\n" not in ev["data"]
                events.append(msg)
        assert events == [payload, {"incident_id": second_id}]
    finally:
        s.close()


def test_bursts_are_coalesced_per_name(port: int, fast_app: Any, r: redis.Redis) -> None:
    busy, quiet = _probe("kpi"), _probe("sensors")
    s = SSE(port, _session_cookie(fast_app))
    try:
        _connected(s)
        for _ in range(20):
            r.publish(keys.updates_channel(DB), busy)
        r.publish(keys.updates_channel(DB), quiet)
        events = [i["data"] for i in s.collect(0.5) if i.get("event") == "aggregate"]
        # The first at once, the rest of the burst as one trailing event 100 ms later: never lost, never 20.
        assert events.count(busy) == 2
        assert events.count(quiet) == 1
    finally:
        s.close()


def test_heartbeat_comments(port: int, fast_app: Any) -> None:
    s = SSE(port, _session_cookie(fast_app))
    try:
        _connected(s)
        beats = [i for i in s.collect(HEARTBEAT_S * 3.5) if i.get("comment", "").startswith("hb ")]
        assert len(beats) >= 2
    finally:
        s.close()


# --- resources: the subscription, the per-process limit, the lifetime -------------------------------


def test_client_going_away_closes_the_subscription(port: int, fast_app: Any, r: redis.Redis) -> None:
    s = SSE(port, _session_cookie(fast_app))
    _connected(s)
    (conn,) = _push_clients(r)
    assert conn["sub"] == "2" and str(conn["db"]) == str(DB)  # one connection subscribed to both channels
    assert all(n >= 1 for n in _numsub(r).values())
    assert push_state(fast_app).open_streams == 1
    s.close()
    # The next heartbeat write fails on the dead socket; the stream closes its pub/sub connection.
    assert _eventually(lambda: not _push_clients(r))
    assert _eventually(lambda: push_state(fast_app).open_streams == 0)


def test_per_process_limit_answers_503_with_retry_after(client: Any, app: Any) -> None:
    app.config[CFG_MAX_STREAMS] = 1
    login(client, "duty")
    held = client.get(STREAM_PATH)
    assert held.status_code == 200
    refused = client.get(STREAM_PATH)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    assert "poll" in refused.get_json()["error"]
    # A stream closed before its body was read (a client gone before the first byte) gives its slot back.
    held.close()
    assert push_state(app).open_streams == 0
    again = client.get(STREAM_PATH)
    try:
        assert again.status_code == 200
    finally:
        again.close()


def test_stream_ends_after_its_lifetime(port: int, fast_app: Any, r: redis.Redis) -> None:
    fast_app.config[CFG_MAX_LIFETIME_S] = 0.6
    s = SSE(port, _session_cookie(fast_app))
    try:
        _connected(s)
        bye = s.wait_for(lambda i: i.get("event") == "bye", timeout=2.0)
        assert bye["data"] == "lifetime"
        assert s.items.get(timeout=2) is None  # and the response ends
        assert _eventually(lambda: push_state(fast_app).open_streams == 0)
        assert _eventually(lambda: not _push_clients(r))
    finally:
        s.close()


# --- Redis down ---------------------------------------------------------------------------------------


def test_redis_down_answers_503(app: Any, config: Config) -> None:
    from dashboard.web import create_app
    from tests.helpers import replay, stolen

    # Signing in needs Redis: on a host that has it; the session is then used on one whose Redis is down (which
    # accepts it on its signed cookie for a while, dashboard/web/sessions.py).
    live = app.test_client()
    login(live, "duty")
    dead = create_app(replace(config, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    c = replay(dead, stolen(live))
    t0 = time.monotonic()
    resp = c.get(STREAM_PATH)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert "Redis" in resp.get_json()["error"]
    assert time.monotonic() - t0 < 3
    assert push_state(dead).open_streams == 0


def test_redis_dying_mid_stream_ends_it(config: Config, tmp_path: Path) -> None:
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from tests.helpers import seed_users

    proc, url = start_bundled_redis(tmp_path / "redis")
    try:
        own = create_app(replace(config, redis_url=url))
        own.config[CFG_HEARTBEAT_S] = HEARTBEAT_S
        with own.app_context():
            init_db(db_sessions().kw["bind"])
            seed_users(db_sessions())
        with _serve(own) as port:
            s = SSE(port, _session_cookie(own))
            try:
                _connected(s)
                make_redis(url).publish(keys.updates_channel(0), "kpi")
                s.wait_for(lambda i: i.get("data") == "kpi", timeout=1.0)
                proc.kill()
                proc.wait(timeout=5)
                bye = s.wait_for(lambda i: i.get("event") == "bye", timeout=5.0)
                assert bye["data"] == "redis"
                assert _eventually(lambda: push_state(own).open_streams == 0)
            finally:
                s.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
