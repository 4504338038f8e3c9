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
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from dash.testing.wait import until

from dashboard.config import Config
from dashboard.live import keys
from dashboard.live.aggregates import write_aggregates
from dashboard.live.connections import make_redis
from dashboard.web.api.hub import (
    CFG_HEARTBEAT_S,
    CFG_HUB_LINGER_S,
    CFG_MAX_LIFETIME_S,
    CFG_MAX_STREAMS,
    CFG_MAX_STREAMS_PER_USER,
    CFG_QUEUE_MAX,
    CFG_RECHECK_S,
    client_name,
)
from dashboard.web.api.stream import STREAM_PATH, open_streams, push_state
from ops.redis_server import free_port, start_bundled_redis
from tests.conftest import TEST_REDIS_DB as DB
from tests.helpers import login, logout
from tests.servers import serve_app

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


@pytest.fixture
def port(fast_app: Any) -> Iterator[int]:
    """Port of a real threaded HTTP server running the app."""
    with serve_app(fast_app) as p:
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

    def __init__(self, port: int, cookie: str | None, headers: dict[str, str] | None = None,
                 rcvbuf: int | None = None, path: str = STREAM_PATH) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Accept": "text/event-stream", **(headers or {})}
        if cookie:
            headers["Cookie"] = cookie
        if rcvbuf is not None:
            # A small receive window, set before connecting: a client that stops reading stalls the server soon.
            self.conn.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.conn.sock.settimeout(10)
            self.conn.sock.connect(("127.0.0.1", port))
        self.conn.request("GET", path, headers=headers)
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
    """Subscribers of the push channels of the test database."""
    chans = (keys.updates_channel(DB), keys.incidents_channel(DB), keys.access_channel(DB))
    return {c.decode() if isinstance(c, bytes) else c: int(n) for c, n in r.pubsub_numsub(*chans)}


def _push_clients(r: redis.Redis, app: Any) -> list[dict[str, Any]]:
    """Redis connections of this app's push hub in this process (`CLIENT LIST`, by name: other tests' apps and
    test runs may share the Redis and its test database, so global counts are not this test's to assert)."""
    hub = push_state(app).hub
    assert hub is not None and hub.name.startswith(client_name())
    return [c for c in r.client_list() if c.get("name") == hub.name]


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


def test_many_streams_share_one_redis_subscription(port: int, fast_app: Any, r: redis.Redis) -> None:
    """Every stream of a process is fed by one pub/sub connection; it closes some time after the last stream."""
    fast_app.config[CFG_HUB_LINGER_S] = 0.3
    cookie = _session_cookie(fast_app)
    streams = [SSE(port, cookie) for _ in range(5)]
    try:
        for s in streams:
            _connected(s)
        (conn,) = _push_clients(r, fast_app)
        assert conn["sub"] == "3" and str(conn["db"]) == str(DB)  # one connection subscribed to the 3 channels
        assert all(n >= 1 for n in _numsub(r).values())
        assert open_streams(fast_app) == 5
        name = _probe("kpi")
        r.publish(keys.updates_channel(DB), name)
        for s in streams:
            s.wait_for(lambda i: i.get("data") == name, timeout=2.0)
    finally:
        for s in streams:
            s.close()
    # The next heartbeat write fails on each dead socket; then the hub lets its subscription go.
    assert _eventually(lambda: open_streams(fast_app) == 0)
    assert _eventually(lambda: not _push_clients(r, fast_app))


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


def test_one_user_holds_at_most_its_share_of_the_streams_and_others_still_get_theirs(app: Any) -> None:
    from tests.test_api_tokens import make_token

    app.config[CFG_MAX_STREAMS] = 5
    app.config[CFG_MAX_STREAMS_PER_USER] = 2
    greedy = app.test_client()
    login(greedy, "dispatch")
    held = [greedy.get(STREAM_PATH) for _ in range(2)]
    assert [h.status_code for h in held] == [200, 200]
    # A third stream of the same user, by session or by the user's API token, is refused as "full" is: 503, poll.
    token = {"Authorization": f"Bearer {make_token(app, 'dispatch')}"}
    for refused in (greedy.get(STREAM_PATH), app.test_client().get(STREAM_PATH, headers=token)):
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
        assert "poll" in refused.get_json()["error"] and "this user" in refused.get_json()["error"]
    # The wall's user is not refused for it.
    wall = app.test_client()
    login(wall, "duty")
    other = wall.get(STREAM_PATH)
    assert other.status_code == 200
    assert push_state(app).open_streams == 3
    # A closed stream gives its user's slot back.
    held[0].close()
    again = greedy.get(STREAM_PATH)
    try:
        assert again.status_code == 200
    finally:
        for resp in (again, held[1], other):
            resp.close()
    assert push_state(app).open_streams == 0


def test_the_per_user_cap_is_half_the_process_unless_set(app: Any) -> None:
    from dashboard.config import ConfigError

    assert app.config[CFG_MAX_STREAMS_PER_USER] == Config().sse_max_streams // 2
    assert Config.from_env({"SSE_MAX_STREAMS_PER_USER": "40"}).sse_max_streams_per_user == 40
    for raw in ("0", "-3", "many"):
        with pytest.raises(ConfigError, match="SSE_MAX_STREAMS_PER_USER"):
            Config.from_env({"SSE_MAX_STREAMS_PER_USER": raw})


def test_stream_ends_after_its_lifetime(port: int, fast_app: Any, r: redis.Redis) -> None:
    fast_app.config[CFG_MAX_LIFETIME_S] = 0.6
    s = SSE(port, _session_cookie(fast_app))
    try:
        _connected(s)
        bye = s.wait_for(lambda i: i.get("event") == "bye", timeout=2.0)
        assert bye["data"] == "lifetime"
        assert s.items.get(timeout=2) is None  # and the response ends
        assert _eventually(lambda: push_state(fast_app).open_streams == 0)
    finally:
        s.close()


# --- the caller checked again ---------------------------------------------------------------------


def _logged_out_while_streaming(port: int, app: Any, recheck_s: float, bye_within_s: float) -> tuple[SSE, str]:
    """A signed-in duty's stream, then a logout: (the stream, once it said bye "auth" within `bye_within_s`; the
    session cookie's value). The caller closes the stream."""
    app.config[CFG_RECHECK_S] = recheck_s
    c = app.test_client()
    assert login(c, "duty").status_code == 302
    session = c.get_cookie("session")
    assert session is not None
    s = SSE(port, f"session={session.value}")
    try:
        _connected(s)
        s.wait_for(lambda i: i.get("comment", "").startswith("hb "), timeout=2.0)
        assert logout(c).status_code in (302, 303)
        bye = s.wait_for(lambda i: i.get("event") == "bye", timeout=bye_within_s)
        assert bye["data"] == "auth"
    except BaseException:
        s.close()
        raise
    return s, session.value


def test_a_logged_out_session_ends_its_stream(port: int, fast_app: Any) -> None:
    s, cookie = _logged_out_while_streaming(port, fast_app, HEARTBEAT_S, 5.0)
    try:
        assert s.items.get(timeout=2) is None
    finally:
        s.close()
    refused = SSE(port, f"session={cookie}")  # the same cookie cannot open another
    try:
        assert refused.resp.status == 401
    finally:
        refused.close()


def test_a_logout_ends_its_stream_at_once_not_at_the_next_periodic_check(port: int, fast_app: Any) -> None:
    """The stream checked its caller only every SSE_RECHECK_S (30 s): a logged-out cookie kept receiving until then."""
    s, _ = _logged_out_while_streaming(port, fast_app, 600.0, 3.0)
    s.close()


def test_a_token_revoked_from_the_command_line_ends_its_stream_at_once(
    port: int, fast_app: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from dashboard import store
    from dashboard.store.models import User
    from dashboard.web.extensions import db_sessions
    from ops.cli import main as dongcheng

    fast_app.config[CFG_RECHECK_S] = 600.0
    with fast_app.app_context(), db_sessions().begin() as db:
        user = db.scalars(select(User).where(User.username == "dispatch")).one()
        row, token = store.users.create_api_token(db, user, "push-cli")
        token_id = row.id
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("REDIS_URL", config.redis_url)
    s = SSE(port, None, headers={"Authorization": f"Bearer {token}"})
    try:
        _connected(s)
        s.wait_for(lambda i: i.get("comment", "").startswith("hb "), timeout=2.0)
        assert dongcheng(["tokens", "revoke", str(token_id)]) == 0
        bye = s.wait_for(lambda i: i.get("event") == "bye", timeout=3.0)
        assert bye["data"] == "auth"
    finally:
        s.close()


def test_api_token_streams_and_a_revoked_token_ends_its_stream(port: int, fast_app: Any) -> None:
    from sqlalchemy import select

    from dashboard import store
    from dashboard.store.models import User
    from dashboard.web.extensions import db_sessions

    fast_app.config[CFG_RECHECK_S] = HEARTBEAT_S
    with fast_app.app_context(), db_sessions().begin() as db:
        user = db.scalars(select(User).where(User.username == "dispatch")).one()
        token = store.users.create_api_token(db, user, "push-test")[1]
    s = SSE(port, None, headers={"Authorization": f"Bearer {token}"})
    try:
        assert s.resp.status == 200
        _connected(s)
        with fast_app.app_context(), db_sessions().begin() as db:
            row = next(t for t in store.users.list_api_tokens(db) if t.name == "push-test")
            assert store.users.revoke_api_token(db, row.id, "admin")
        bye = s.wait_for(lambda i: i.get("event") == "bye", timeout=5.0)
        assert bye["data"] == "auth"
    finally:
        s.close()


# --- backpressure ---------------------------------------------------------------------------------------


def test_a_stalled_reader_is_dropped_and_a_fast_one_gets_everything(port: int, fast_app: Any, r: redis.Redis) -> None:
    """A client that stops reading fills its socket, then its mailbox, and is dropped (its socket shut); the hub
    never waits for it, so a reader beside it gets every message."""
    fast_app.config[CFG_QUEUE_MAX] = 8
    cookie = _session_cookie(fast_app)
    fast = SSE(port, cookie)
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: it stalls the server soon
    try:
        _connected(fast)
        stalled.settimeout(10)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
        assert _eventually(lambda: open_streams(fast_app) == 2)
        hub = push_state(fast_app).hub
        assert hub is not None
        pad = "x" * 30_000
        ids = [int(uuid.uuid4().int % 10**9) for _ in range(300)]
        for i in ids:
            r.publish(keys.incidents_channel(DB), json.dumps({"incident_id": i, "pad": pad}))
        got: list[Any] = []
        while len(got) < len(ids):
            ev = fast.wait_for(lambda i: i.get("event") == "incident", timeout=5.0)
            msg = json.loads(ev["data"])
            if msg.get("incident_id") in ids:
                got.append(msg["incident_id"])
        assert got == ids
        assert _eventually(lambda: open_streams(fast_app) == 1)
        assert hub.dropped == 1
        # What reached the stalled client before it was cut, then the end of its connection.
        received = 0
        with suppress(ConnectionResetError):
            while chunk := stalled.recv(65536):
                received += len(chunk)
        assert received < len(ids) * len(pad)
    finally:
        fast.close()
        stalled.close()


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
        with serve_app(own) as port:
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


# --- many streams, from another process, against the web as `dongcheng run` serves it ------------------------


def test_three_hundred_streams_from_another_process_each_get_heartbeats_and_the_change(tmp_path: Path) -> None:
    """The screens' gunicorn (gevent workers, ops.servers.web_argv) holds 300 streams opened by an asyncio client
    in another process, beside 40 stalled readers; each stream gets a heartbeat and a change written by the tick's
    own write. (bench/push.py's own machinery, on its own bundled Redis; counts only, no timing.)"""
    from bench.push import run_push

    figures = run_push(tmp_path, quick=True, streams=300, candidates=("gevent",))["gevent"]
    assert figures["streams_open"] == 300, figures
    assert figures["held"] == 300, figures
    assert figures["api_reads_ok"] == 20, figures  # the rest of the web (session in Redis, SQL) meanwhile


# --- a wall's stream carries its frames -----------------------------------------------------------------------


def _wall(port: int, cookie: str, token: str = "", lang: str = "zh") -> SSE:
    """A wall's stream as assets/push.js opens it."""
    return SSE(port, cookie, path=f"{STREAM_PATH}?frames={lang}&from={token}")


def _frame(s: SSE, start: str | None = None, timeout: float = 3.0) -> tuple[str, dict[str, Any]]:
    """The next frame event (from `start` if given): its raw data and parsed JSON."""
    ev = s.wait_for(lambda i: i.get("event") == "frame"
                    and (start is None or json.loads(i["data"])["from"] == start), timeout=timeout)
    return ev["data"], json.loads(ev["data"])


def _kpi_changed(r: redis.Redis, data: dict[str, Any], n: int) -> None:
    """The tick's own write with the KPI aggregate changed (published inside its MULTI)."""
    from dashboard.live.schema import AGG_KPI

    data[AGG_KPI] = {**data[AGG_KPI], "incidents_open": n}
    assert AGG_KPI in write_aggregates(r, data, now=time.time())


def test_a_wall_stream_opens_with_its_frame_then_gets_one_chained_frame_per_change(
    port: int, fast_app: Any, r: redis.Redis
) -> None:
    from dashboard.live.schema import AGG_KPI
    from layouts.wall_frame import SECTIONS
    from tests.test_callbacks import sample_data

    kpi_keys = {f"{cid}.{prop}" for sec in SECTIONS if sec.agg == AGG_KPI for cid, prop in sec.outputs}
    data = sample_data(time.time())
    write_aggregates(r, data, now=time.time())
    s = _wall(port, _session_cookie(fast_app))
    try:
        assert s.resp.status == 200
        _, first = _frame(s, start="")
        assert first["meta"]["ok"] is True and isinstance(first["meta"]["now"], float)
        assert first["out"] and first["token"]  # opening the stream is the screen's first refresh
        token = first["token"]
        for n in (41, 42):
            _kpi_changed(r, data, n)
            _, f = _frame(s)
            assert f["from"] == token  # the chain: each frame starts where the last one left the screen
            assert f["token"] != token
            assert f["out"] and set(f["out"]) <= kpi_keys  # only what changed travels
            token = f["token"]
            # The tick is told where the screens are, to make their next frame ahead (dashboard/frames/ahead.py).
            until(lambda t=token: r.zrange(keys.frame_held_key("zh"), 0, -1) == [t.encode()], 3.0)
        # A wall's stream carries frames, not the events a frame request would follow.
        assert not [i for i in s.collect(0.3) if i.get("event") in ("aggregate", "incident")]
    finally:
        s.close()


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    """A metric's value in this process's registry (0 before its first observation)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_walls_at_one_token_get_the_same_bytes_from_one_render(port: int, fast_app: Any, r: redis.Redis) -> None:
    from dashboard.web.frames import frame_cache
    from tests.test_callbacks import sample_data

    data = sample_data(time.time())
    write_aggregates(r, data, now=time.time())
    cookie = _session_cookie(fast_app)
    walls = [_wall(port, cookie) for _ in range(3)]
    try:
        tokens = {_frame(w, start="")[1]["token"] for w in walls}
        assert len(tokens) == 1
        hub = push_state(fast_app).hub
        assert hub is not None and hub.frames is not None
        renders, sent = frame_cache(fast_app).renders, hub.frames.frames_sent
        timed, handed = _sample("dongcheng_push_frame_duration_seconds_count"), _sample(
            "dongcheng_push_frames_handed_total")
        phases = {ph: _sample("dongcheng_push_frame_phase_duration_seconds_count", {"phase": ph})
                  for ph in ("wait", "heads", "frame", "hand")}
        _kpi_changed(r, data, 77)
        token = tokens.pop()
        raws = {_frame(w, start=token)[0] for w in walls}
        assert len(raws) == 1  # the same bytes, made once for the group
        assert frame_cache(fast_app).renders == renders + 1
        assert hub.frames.frames_sent == sent + 1
        # The metrics see a wall's refresh on the stream: one frame timed, handed to three streams.
        assert _sample("dongcheng_push_frame_duration_seconds_count") == timed + 1
        assert _sample("dongcheng_push_frames_handed_total") == handed + 3
        for phase in ("wait", "heads", "frame", "hand"):
            assert _sample("dongcheng_push_frame_phase_duration_seconds_count", {"phase": phase}) == phases[phase] + 1
    finally:
        for w in walls:
            w.close()


def test_a_wall_stream_from_an_unknown_token_gets_everything(port: int, fast_app: Any, r: redis.Redis) -> None:
    from dashboard.web.frames import frame_cache
    from tests.test_callbacks import sample_data

    write_aggregates(r, sample_data(time.time()), now=time.time())
    with fast_app.test_client() as c:
        login(c, "duty")
        full = c.get("/api/v1/frame?lang=zh&from=").get_json()
    assert frame_cache(fast_app).renders >= 1
    s = _wall(port, _session_cookie(fast_app), token="0123456789abcdef01")
    try:
        _, f = _frame(s, start="0123456789abcdef01")
        assert set(f["out"]) == set(full["out"])
        assert f["token"] == full["token"]
    finally:
        s.close()


def test_an_event_stream_beside_a_wall_still_gets_the_events(port: int, fast_app: Any, r: redis.Redis) -> None:
    from tests.test_callbacks import sample_data

    data = sample_data(time.time())
    write_aggregates(r, data, now=time.time())
    cookie = _session_cookie(fast_app)
    wall, plain = _wall(port, cookie), SSE(port, cookie)
    try:
        _connected(plain)
        _frame(wall, start="")
        _kpi_changed(r, data, 5)
        plain.wait_for(lambda i: i.get("event") == "aggregate" and i["data"] == "kpi", timeout=2.0)
        _frame(wall)
        assert not [i for i in plain.collect(0.3) if i.get("event") in ("frame", "meta")]
    finally:
        wall.close()
        plain.close()


def test_a_quiet_wall_stream_gets_meta_so_its_ages_stay_true(port: int, fast_app: Any, r: redis.Redis) -> None:
    from tests.test_callbacks import sample_data

    data = sample_data(time.time())
    write_aggregates(r, data, now=time.time())
    s = _wall(port, _session_cookie(fast_app), lang="en")
    try:
        _frame(s, start="")
        # The tick rewrites computed_at without a change (nothing published): META alone brings the new age.
        at = time.time()
        assert write_aggregates(r, data, now=at) == []
        ev = s.wait_for(lambda i: i.get("event") == "meta" and json.loads(i["data"])["meta"]["now"] >= at, 3.0)
        meta = json.loads(ev["data"])
        assert meta["meta"]["ok"] is True and "db" in meta
    finally:
        s.close()


def test_frames_for_walls_stop_without_a_crash_when_redis_is_away() -> None:
    from dashboard.frames.cache import FrameCache
    from dashboard.web.api.frame_push import FramePusher
    from dashboard.web.api.hub import Stream

    class Walls:
        def __init__(self) -> None:
            self.one = Stream(8, None, "zh")
            self.one.token = ""
            self.handed: list[bytes] = []

        def frame_targets(self) -> list[Stream]:
            return [self.one]

        def hand(self, target: Stream, data: bytes) -> None:
            self.handed.append(data)

    walls = Walls()
    dead = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    pusher = FramePusher(walls, dead, FrameCache())
    pusher.send_once()
    pusher.send_once()
    assert walls.handed == [] and pusher.frames_sent == 0 and pusher.failing
