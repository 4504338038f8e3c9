"""The feeds' server as the runner starts it (ops/servers.py feeds_argv: granian, ops/feeds_server.py) answers every
kind of ingest request exactly as the app does, over HTTP; it exposes the request and ingest metrics and logs an
access line a request in the product's format; concurrent requests stored together (group commit) are answered
each as it would have been alone."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import Client

from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.services.group_commit import GroupCommit
from dashboard.services.ingest import ingest_payload
from dashboard.store.engine import make_engine
from dashboard.store.schema import init_db
from ops.redis_server import free_port
from ops.runner import ROOT
from ops.servers import feeds_argv
from tests.conftest import TEST_REDIS_DB
from tests.helpers import reading
from tests.test_feeds_fast_path import AUTH, JSON, answer_cases, body_bytes

START_TIMEOUT_S = 60.0
# Headers that differ between any two answers (the moment, the server's name).
VARYING = ("date", "server")


@dataclass
class Feeds:
    """The feeds' server running on the test's Redis database, and where its output goes."""

    port: int
    redis_url: str
    out: Path

    def post(self, body: bytes, headers: dict[str, str], ctype: str, path: str = "/api/v1/events") -> tuple[
            int, bytes, list[tuple[str, str]]]:
        """POST over HTTP/1.1: status, body, headers (names in lower case, the varying ones left out)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", path, body=body, headers={**headers, "Content-Type": ctype})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data, sorted((k.lower(), v) for k, v in resp.getheaders() if k.lower() not in VARYING)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET over HTTP/1.1: status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data


def _serving(proc: subprocess.Popen[bytes], port: int, out: Path) -> None:
    """Wait until the server answers on `port`; fail with its output when it exits or never does."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/livez")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the feeds' server did not start:\n{out.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Feeds]:
    """granian serving ops.wsgi:feeds as the runner starts it (JSON logs), on SQLite and the test's Redis db."""
    tmp = tmp_path_factory.mktemp("feeds-server")
    redis_url = f"{redis_server}/{TEST_REDIS_DB}"
    db_url = f"sqlite:///{tmp / 'feeds.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    engine.dispose()
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=db_url, SECRET_KEY="test-secret",
               INGEST_TOKEN="test-token", SIMULATOR="off", INSTANCE_DIR=str(tmp / "instance"), LOG_FORMAT="json",
               PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"), PYTHONUNBUFFERED="1")
    out = tmp / "feeds.out"
    with out.open("wb") as fh:
        proc = subprocess.Popen(feeds_argv("127.0.0.1", port, 1), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _serving(proc, port, out)
        yield Feeds(port, redis_url, out)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def _app_answer(app: Any, body: bytes, headers: dict[str, str], ctype: str) -> tuple[
        int, bytes, list[tuple[str, str]]]:
    resp = Client(app).post("/api/v1/events", data=body, headers=headers, content_type=ctype)
    return resp.status_code, resp.get_data(), sorted(
        (k.lower(), v) for k, v in resp.headers.items() if k.lower() not in VARYING)


def test_the_feeds_server_answers_every_kind_of_request_as_the_app(app: Any, feeds: Feeds) -> None:
    app_redis, server_redis = app.extensions["dc_redis"], make_redis(feeds.redis_url)
    for label, headers, body, ctype in answer_cases():
        answers = []
        for post, r in ((lambda b, h, t: _app_answer(app, b, h, t), app_redis), (feeds.post, server_redis)):
            r.flushdb()
            for _ in range(2):
                status, data, got = post(body_bytes(body), headers, ctype)
                answers.append((status, data, got, r.xlen(keys.TELEMETRY_STREAM), r.hgetall(keys.INGEST_STATS)))
        assert answers[:2] == answers[2:], label


def test_the_feeds_server_passes_other_requests_to_the_app(feeds: Feeds) -> None:
    assert feeds.get("/livez")[0] == 200
    assert feeds.get("/api/v1/events")[0] == 405
    status, data, _ = feeds.post(body_bytes(reading("q-1")), AUTH, JSON, path="/api/v1/events?x=1")
    assert status == 200 and json.loads(data)["accepted"] == 1


def test_the_feeds_server_counts_its_requests_and_events_in_its_metrics(feeds: Feeds) -> None:
    for k in range(3):
        assert feeds.post(body_bytes(reading(f"m-{k}")), AUTH, JSON)[0] == 200
    status, text = feeds.get("/metrics")
    lines = text.decode().splitlines()
    assert status == 200
    assert any(line.startswith("dongcheng_http_requests_total{") and 'endpoint="api.post_events"' in line
               and 'status="200"' in line for line in lines)
    accepted = [line for line in lines if line.startswith('dongcheng_ingest_events_accepted_total{kind="sensor_')]
    assert accepted and float(accepted[0].rsplit(" ", 1)[1]) >= 3


def test_the_feeds_server_logs_one_json_access_line_a_request_without_its_query_string(feeds: Feeds) -> None:
    feeds.post(body_bytes(reading("log-1")), AUTH, JSON, path="/api/v1/events?secret=s3cr3t")
    # The access line is written after the answer; granian flushes it at once (PYTHONUNBUFFERED).
    lines: list[dict[str, Any]] = []
    for _ in range(50):
        lines = [json.loads(line) for line in feeds.out.read_text().splitlines() if line.startswith("{")]
        if any(line.get("logger") == "granian.access" for line in lines):
            break
        time.sleep(0.1)
    access = [line for line in lines if line.get("logger") == "granian.access"]
    assert access, feeds.out.read_text()[-2000:]
    posted = [line for line in access if line.get("method") == "POST"]
    assert posted and {"path", "status", "remote", "duration_ms", "time", "level"} <= set(posted[-1])
    assert posted[-1]["path"] == "/api/v1/events" and "s3cr3t" not in feeds.out.read_text()


def test_concurrent_bodies_stored_together_are_answered_each_as_alone(
        redis_url: str, sessions: sessionmaker[Session]) -> None:
    r = make_redis(redis_url)
    group = GroupCommit(r, sessions, 100)
    # Sixteen threads, each body a new reading, one already stored, and one invalid: the same events twice over.
    bodies = [[reading(f"g-{k}", sensor_id=f"pole-{k}:pm25"), reading(f"g-{(k + 1) % 16}"),
               reading(f"bad-{k}", lat=95.0)] for k in range(16)]
    together: list[Any] = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def post(k: int) -> None:
        start.wait()
        together[k] = group.ingest(bodies[k], time.time()).body()

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored_together = r.xlen(keys.TELEMETRY_STREAM), r.hgetall(keys.INGEST_STATS)
    r.flushdb()
    alone = [ingest_payload(body, time.time(), r, sessions, 100).body() for body in bodies]
    # Which body stored a reading first depends on the threads' order: every event is stored once and answered once.
    assert stored_together == (r.xlen(keys.TELEMETRY_STREAM), r.hgetall(keys.INGEST_STATS))
    assert stored_together[0] == 16
    assert sum(a["accepted"] for a in together) == sum(a["accepted"] for a in alone) == 16
    assert sum(len(a["duplicates"]) for a in together) == sum(len(a["duplicates"]) for a in alone) == 16
    assert [a["rejected"] for a in together] == [a["rejected"] for a in alone]


def _access_lines(argv: list[str], out: Path, port: int, requests: list[tuple[str, str, dict[str, str]]]) -> list[str]:
    """The access lines a server started with `argv` writes for `requests` (method, path, headers) sent over HTTP."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_FORMAT="text", SECRET_KEY="test-secret",
               INGEST_TOKEN="test-token", PROMETHEUS_MULTIPROC_DIR=str(out.parent / f"metrics-{port}"))
    with out.open("wb") as fh:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _serving(proc, port, out)
        for method, path, headers in requests:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
            conn.getresponse().read()
            conn.close()
        time.sleep(0.5)  # the last line written after its answer
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
    # Without the start-up probes' lines (GET /livez until the server answered: as many as it took).
    return [line for line in out.read_text(errors="replace").splitlines()
            if line.startswith("127.0.0.1 ") and " /livez " not in line]


def test_the_text_access_lines_are_granians_own(tmp_path: Path) -> None:
    """granian's command line serving an application writes its own access lines; ops.feeds_server serving the same
    application writes them itself (AccessLines): the same lines, byte for byte but for the time taken."""
    import re
    import sys

    from ops.feeds_server import ACCESS_LOG_FORMAT

    fmt = f"{ACCESS_LOG_FORMAT} %(scheme)s q=%(query_string)s real=%(header{{x-real-ip}})s at=%(time)s"
    ua = {"User-Agent": "feed/1.0"}
    requests = [("POST", "/api/v1/events?token=s3cr3t", ua), ("GET", "/api/v1/events", ua),
                ("POST", "/api/v1/events", {"User-Agent": ""}), ("GET", "/boom", {**ua, "X-Real-IP": "10.0.0.1"})]
    lines = []
    for name in ("granian", "ours"):
        port = free_port()
        if name == "granian":
            argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "1", "--access-log", "--access-log-fmt", fmt, "tests.wsgi_probe:app"]
        else:
            argv = [sys.executable, "-m", "ops.feeds_server", "--host", "127.0.0.1", "--port", str(port), "--workers",
                    "1", "--app", "tests.wsgi_probe:app", "--access-log-format", fmt]
        lines.append(_access_lines(argv, tmp_path / f"{name}.out", port, requests))
    theirs, ours = lines
    moments = re.compile(r" \d+\.\dms | at=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$")
    assert len(ours) == len(theirs) == len(requests), (theirs, ours)
    assert [moments.sub(" ", x) for x in ours] == [moments.sub(" ", x) for x in theirs]
    assert all(moments.search(x) for x in ours)  # the time taken and the moment are there, in granian's form
    assert '"GET /boom HTTP/1.1" 500' in ours[3] and "real=10.0.0.1" in ours[3] and "q=token=s3cr3t" in ours[0]


def _answer_ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"{}"]


_SCOPE = {"REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "QUERY_STRING": "",
          "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/events"}


def test_a_line_break_in_the_path_or_a_header_cannot_forge_a_second_access_line() -> None:
    import io

    from ops.feeds_server import ACCESS_LOG_FORMAT, AccessLines

    out = io.StringIO()
    lines = AccessLines(_answer_ok, ACCESS_LOG_FORMAT, out)
    forged = '/x 200 0.1ms "-"\n127.0.0.1 "POST /api/v1/events HTTP/1.1'
    assert b"".join(lines(dict(_SCOPE, PATH_INFO=forged, HTTP_USER_AGENT="a\r\nb"), lambda *_a: None)) == b"{}"
    written = out.getvalue().splitlines()
    assert len(written) == 1 and "\\x0a" in written[0] and "a\\x0d\\x0ab" in written[0], written


def test_an_access_log_that_cannot_be_written_is_said_once_and_the_requests_are_still_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import io

    from ops.feeds_server import ACCESS_LOG_FORMAT, AccessLines

    class Closed(io.StringIO):
        def write(self, _text: str) -> int:
            raise BrokenPipeError("the log's reader is gone")

    lines = AccessLines(_answer_ok, ACCESS_LOG_FORMAT, Closed())
    with caplog.at_level("ERROR", logger="ops.feeds_server"):
        answers = [b"".join(lines(dict(_SCOPE), lambda *_a: None)) for _ in range(3)]
    assert answers == [b"{}"] * 3
    assert [r.getMessage() for r in caplog.records].count(
        "the feeds' access lines cannot be written (the log's reader is gone): requests are served without them") == 1
