"""The reverse proxy of deploy/nginx/dongcheng.conf, run for real: Debian's nginx with that file (only its marked
upstream addresses and listen port changed) in front of real gunicorns started with the runner's arguments.

40 slow clients (20 sending a request header a byte at a time and never finishing it, 20 asking for the charts'
4.8 MB script and reading the answer a few bytes at a time) do not stop a logged-in wall's refresh behind nginx,
nor against the screens' gunicorn alone now that its workers are gevent (a slow client holds a greenlet, not one
of a few threads; the threaded workers it had before were starved by the same 40). The proxy's other promises
are checked on the same servers: the feeds' path reaches the feeds' server, the client's address arrives in
X-Real-IP and X-Forwarded-For (and, with TRUSTED_PROXY_HOPS=1, in the audit log instead of nginx's own or one the
client claims), JSON and scripts are compressed, the push stream passes events through at once, a
body over the app's limit gets the app's JSON answer, and no version is shown. Without nginx (and no way to
install it) the nginx tests skip.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bench.common import HttpClient, answers
from dashboard.config import Config, RunConfig
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.models import AuditLog
from dashboard.store.schema import init_db
from ops.nginx import NGINX, SITE, check_config, nginx_argv, nginx_missing, render_site, write_config
from ops.redis_server import free_port
from ops.runner import ROOT
from ops.servers import feeds_argv, web_argv
from tests.conftest import TEST_REDIS_DB
from tests.helpers import PASSWORD, seed_users

INGEST_TOKEN = "proxy-test-token"
START_TIMEOUT_S = 60.0
SLOW_CLIENTS = 40
TRIES = 5
# A wall refresh through nginx must answer; this only bounds a test that would otherwise hang.
ANSWER_TIMEOUT_S = 30.0
# What the slow readers ask for: the charts' plotly bundle (4.8 MB), which a screen with a chart loads. An answer
# that fits in the kernel's socket buffers (up to 4 MiB on loopback) would leave gunicorn's thread free at once.
LARGE_SCRIPT = "/_dash-component-suites/plotly/package_data/plotly.min.js"
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
# A client of nginx on another loopback address than nginx's own connections to gunicorn (127.0.0.1).
CLIENT_ADDRESS = "127.0.0.77"
# What that client claims to be in its own X-Forwarded-For.
CLAIMED_ADDRESS = "203.0.113.9"


needs_nginx = pytest.mark.skipif(nginx_missing() is not None, reason=nginx_missing() or "")


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group we started `proc` in, then SIGKILL what is left of it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=grace)


def _wait_serving(proc: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    """Wait until `proc` answers on `port`; fail with its log when it dies or never does."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            state = f"exited with {proc.returncode}" if proc.poll() is not None else "does not answer"
            pytest.fail(f"{what} {state}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)


@dataclass
class App:
    """The screens' gunicorn and the feeds' granian, as `dongcheng run` starts them, on one Redis and database."""

    screens_port: int
    feeds_port: int
    screens_log: Path
    feeds_log: Path
    redis_url: str
    db_url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


@contextlib.contextmanager
def running_app(tmp: Path, redis_url: str, db_url: str) -> Iterator[App]:
    """Both gunicorns serving the app with the demo accounts and one tick's aggregates; stopped on exit."""
    from workers.tick import run_tick

    engine = make_engine(db_url)
    init_db(engine)
    sessions = session_factory(engine)
    seed_users(sessions)
    run_tick(make_redis(redis_url), sessions, time.time())
    engine.dispose()
    env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=db_url, SECRET_KEY="proxy-test-secret",
               INGEST_TOKEN=INGEST_TOKEN, SIMULATOR="off", INSTANCE_DIR=str(tmp / "instance"), PYTHONUNBUFFERED="1",
               # As deployed behind the project's nginx (deploy/dongcheng.env.example): one proxy trusted.
               TRUSTED_PROXY_HOPS="1")
    runner = RunConfig()
    app = App(free_port(), free_port(), tmp / "screens-access.log", tmp / "feeds-access.log", redis_url,
              db_url)
    # What the upstream saw of the client: the headers the proxy is to set, in gunicorn's access line (the screens')
    # and granian's (the feeds', on its standard output).
    screens = [*web_argv("127.0.0.1", app.screens_port, runner.web_workers), "--access-logfile", str(app.screens_log),
               "--access-logformat", "%(m)s %(U)s %(s)s real=%({x-real-ip}i)s xff=%({x-forwarded-for}i)s"]
    feeds = [*feeds_argv("127.0.0.1", app.feeds_port, 1), "--access-log-format",
             "%(method)s %(path)s %(status)d real=%(header{x-real-ip})s xff=%(header{x-forwarded-for})s"]
    try:
        for argv, out in ((screens, tmp / "screens.out"), (feeds, app.feeds_log)):
            with out.open("wb") as fh:
                proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            app.procs.append(proc)
        # Both start at once (each worker imports the app: seconds on a busy machine), then both must answer.
        for proc, port, out in zip(app.procs, (app.screens_port, app.feeds_port), (tmp / "screens.out", app.feeds_log),
                                   strict=True):
            _wait_serving(proc, port, out, f"the {out.stem} server")
        yield app
    finally:
        for proc in app.procs:
            _stop_group(proc)


@contextlib.contextmanager
def running_nginx(tmp: Path, app: App) -> Iterator[int]:
    """nginx with the project's site file in front of `app`; yields its port."""
    prefix = tmp / "nginx"
    port = free_port()
    conf = write_config(prefix, f"127.0.0.1:{app.screens_port}", f"127.0.0.1:{app.feeds_port}", port)
    refused = check_config(conf)
    assert refused is None, f"nginx -t refused the configuration:\n{refused}"
    base = nginx_argv(conf)
    proc = subprocess.Popen(base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_serving(proc, port, prefix / "error.log", "nginx")
        yield port
    finally:
        _stop_group(proc)


@pytest.fixture
def app_stack(tmp_path: Path, redis_url: str, db_url: str) -> Iterator[App]:
    """The gunicorns on the test's Redis and database (SQLite, and PostgreSQL when reachable)."""
    with running_app(tmp_path, redis_url, db_url) as app:
        yield app


@pytest.fixture(scope="module")
def sqlite_stack(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[App]:
    """The gunicorns on SQLite, shared by the tests that do not depend on the database (starting them takes
    seconds); they come last in the file, after the tests that flush this Redis database for their own."""
    tmp = tmp_path_factory.mktemp("sqlite-stack")
    redis_url = f"{redis_server}/{TEST_REDIS_DB}"
    make_redis(redis_url).flushdb()
    with running_app(tmp, redis_url, f"sqlite:///{tmp / 'proxy.db'}") as app:
        yield app
    make_redis(redis_url).flushdb()


# --- the wall and the slow clients ---------------------------------------------------------------------------


@dataclass
class Wall:
    """A logged-in wall: its session cookies."""

    cookies: dict[str, str]

    @classmethod
    def log_in(cls, port: int) -> Wall:
        """Log in as the duty officer through the real form."""
        client = HttpClient("127.0.0.1", port, timeout=ANSWER_TIMEOUT_S)
        client.login("duty", PASSWORD)
        status, script, _, _ = client.request("GET", LARGE_SCRIPT, headers={"Accept-Encoding": "identity"})
        assert status == 200 and len(script) > SOCKET_BUFFER_BYTES, (status, len(script))
        client.close()
        return cls(dict(client.cookies))

    def refresh(self, port: int, timeout: float) -> int | None:
        """One refresh as the wall asks for it (its frame), on a new connection: its status, None without answer."""
        client = HttpClient("127.0.0.1", port, timeout=timeout)
        client.cookies = dict(self.cookies)
        try:
            status, data, _, _ = client.request("GET", "/api/v1/frame?from=&lang=zh", None,
                                                {"Accept": "application/json"})
        except (OSError, http.client.HTTPException):
            return None  # a time-out or a cut connection: no answer
        finally:
            client.close()
        if status == 200:
            assert "meta" in json.loads(data), data[:300]
        return status


class SlowClients:
    """Connections held open by slow clients, paced by one thread: `slowloris` send a request header a byte at a
    time and never finish it, `readers` ask for a large script and read its answer a few bytes at a time (with a
    small receive window). A connection the server closes is opened again, as an attacker would. Stops by itself
    after `max_s`."""

    PACE_S = 0.2
    OPEN_GAP_S = 0.05
    READ_BYTES = 16

    def __init__(self, port: int, wall: Wall, slowloris: int = SLOW_CLIENTS // 2,
                 readers: int = SLOW_CLIENTS - SLOW_CLIENTS // 2, max_s: float = 240.0) -> None:
        """Prepare; nothing connects before start()."""
        self.port = port
        self.kinds = [k for pair in zip_longest(["slowloris"] * slowloris, ["reader"] * readers) for k in pair if k]
        cookie = "; ".join(f"{k}={v}" for k, v in wall.cookies.items())
        self.request = (f"GET {LARGE_SCRIPT} HTTP/1.1\r\nHost: wall.example\r\nCookie: {cookie}\r\n"
                        "Accept-Encoding: identity\r\n\r\n").encode()
        self.header = b"GET /wall HTTP/1.1\r\nHost: wall.example\r\n"
        self.socks: list[socket.socket | None] = [None] * len(self.kinds)
        self.sent = [0] * len(self.kinds)
        self.opened = self.cut = self.bytes_read = 0
        self.max_s = max_s
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.holding = threading.Event()
        self.thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _header_byte(self, n: int) -> bytes:
        """The n-th byte of an endless request header (a request line, then one made-up field after another)."""
        if n < len(self.header):
            return self.header[n : n + 1]
        line = b"X-Slow: 1\r\n"
        return line[(n - len(self.header)) % len(line) :][:1]

    def _open(self, i: int) -> None:
        """Connect client i (a reader sends its whole request at once)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.kinds[i] == "reader":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window throughout
        try:
            s.settimeout(5.0)
            s.connect(("127.0.0.1", self.port))
            # A reader sends its whole request, a slowloris its first byte (gunicorn gives a thread back to a
            # connection that sends nothing for 5 s; one that has started sending it keeps waiting for).
            s.sendall(self.request if self.kinds[i] == "reader" else self._header_byte(0))
            s.setblocking(False)
        except OSError:
            s.close()
            return
        self.socks[i], self.sent[i] = s, 0 if self.kinds[i] == "reader" else 1
        self.opened += 1

    def _step(self, i: int) -> None:
        """One paced step of client i: the next header byte, or a few bytes read; reopen it when it was cut."""
        s = self.socks[i]
        if s is None:
            self._open(i)
            return
        try:
            if self.kinds[i] == "slowloris":
                self.sent[i] += s.send(self._header_byte(self.sent[i]))
            data = s.recv(self.READ_BYTES)  # a slowloris learns here that it was answered (408) and closed
            if not data:
                raise ConnectionResetError("closed by the server")
            self.bytes_read += len(data)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            s.close()
            self.socks[i] = None
            self.cut += 1
            self._open(i)

    def _run(self) -> None:
        """Open the clients one after another, then pace every one until stopped (or `max_s` passed)."""
        end = time.monotonic() + self.max_s
        for i in range(len(self.kinds)):
            with self.lock:
                self._open(i)
            # Spaced out, as an attacker's connections arrive: a burst would mostly go to whichever gunicorn
            # worker is awake, leaving the other with threads to spare.
            self.stopping.wait(self.OPEN_GAP_S)
        while not self.stopping.is_set() and time.monotonic() < end:
            with self.lock:
                for i in range(len(self.kinds)):
                    self._step(i)
                if self.connected() == len(self.kinds) and min(
                        n for n, k in zip(self.sent, self.kinds, strict=True) if k == "slowloris") >= 3:
                    self.holding.set()
            self.stopping.wait(self.PACE_S)
        with self.lock:
            for s in self.socks:
                if s is not None:
                    s.close()
            self.socks = [None] * len(self.kinds)

    def client_ports(self) -> dict[int, int]:
        """Client index -> the local port of its connection, for the clients connected now."""
        with self.lock:
            return {i: s.getsockname()[1] for i, s in enumerate(self.socks) if s is not None}

    def reopen(self, i: int) -> None:
        """Close client i's connection and open a new one."""
        with self.lock:
            s = self.socks[i]
            if s is not None:
                s.close()
                self.socks[i] = None
            self._open(i)

    def connected(self) -> int:
        """How many clients hold a connection now."""
        return sum(s is not None for s in self.socks)

    def held(self) -> int:
        """How many clients hold a connection, read between two paced passes."""
        with self.lock:
            return self.connected()

    def __enter__(self) -> SlowClients:
        """Start them and wait until every one holds a connection (and every slowloris has sent some bytes)."""
        self.thread.start()
        assert self.holding.wait(START_TIMEOUT_S), (f"only {self.held()} of {len(self.kinds)} slow clients connected "
                                                    f"and sending: {self.describe()}; sent {self.sent}")
        return self

    def __exit__(self, *exc: object) -> None:
        """Close every connection."""
        self.stopping.set()
        self.thread.join(timeout=30)

    def describe(self) -> str:
        """What the slow clients did, for messages."""
        return (f"{len(self.kinds)} slow clients ({self.kinds.count('slowloris')} slowloris, "
                f"{self.kinds.count('reader')} slow readers of {self.request.split()[1].decode()}): "
                f"{self.opened} connections opened, {self.cut} cut by the server, {self.bytes_read} bytes read")


# --- which gunicorn worker holds which connection ------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (a gunicorn master's workers)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def connections_by_worker(master: int, port: int) -> dict[int, set[int]]:
    """Each worker of the gunicorn `master` and the peer ports of the established connections it holds on `port`
    (from /proc: the worker's socket inodes, matched with the kernel's TCP table)."""
    peer_of = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 01: ESTABLISHED
            peer_of[int(f[9])] = int(f[2].rsplit(":", 1)[1], 16)
    held: dict[int, set[int]] = {}
    for pid in children_of(master):
        held[pid] = set()
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(fd.path)
                    if link.startswith("socket:[") and int(link[8:-1]) in peer_of:
                        held[pid].add(peer_of[int(link[8:-1])])
    return held


def spread_over_workers(slow: SlowClients, master: int, port: int, threads: int) -> dict[int, int]:
    """Reopen slow clients until every gunicorn worker holds at least `threads` of them; how many each holds.

    Which worker accepts a connection is the kernel's choice, and 40 connections can come out as 30 and 10 or
    worse: then one worker keeps threads free. An attacker who wants the wall down opens more connections; here
    the same 40 are moved instead, so that the comparison with nginx is made with the same number of clients."""
    for _ in range(400):
        ports = slow.client_ports()
        held = connections_by_worker(master, port)
        mine = {pid: [i for i, p in ports.items() if p in peers] for pid, peers in held.items()}
        if len(held) >= 2 and sum(map(len, mine.values())) == len(slow.kinds):
            if min(map(len, mine.values())) >= threads:
                return {pid: len(clients) for pid, clients in mine.items()}
            slow.reopen(max(mine.values(), key=len)[-1])
        time.sleep(0.05)  # a client not yet accepted, or the one just reopened
    pytest.fail(f"could not spread the slow clients over gunicorn's workers: {held} ({slow.describe()})")


# --- the tests -----------------------------------------------------------------------------------------------


def test_the_site_file_marks_what_to_change_and_matches_the_app() -> None:
    """Three lines to change (two upstreams, the listen port); the body limit and its JSON answer are the app's."""
    text = SITE.read_text()
    marked = [line.strip() for line in text.splitlines() if "# CHANGE" in line]
    assert len(marked) == 3, marked
    m = re.search(r"^\s*client_max_body_size (\d+)([km]?);", text, re.M)
    assert m, "no client_max_body_size"
    limit = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)]
    assert limit == Config().max_body_bytes
    assert f"body larger than {Config().max_body_bytes} bytes; send smaller batches" in text
    assert re.search(r"^\s*server_tokens off;", text, re.M)
    # Rendering changes the marked lines and nothing else.
    rendered = render_site(text, "10.0.0.1:1", "10.0.0.2:2", "127.0.0.1:3")
    changed = [(a, b) for a, b in zip(text.splitlines(), rendered.splitlines(), strict=True) if a != b]
    assert [a.strip() for a, _ in changed] == marked


@needs_nginx
@pytest.mark.skipif(os.geteuid() != 0, reason="checking against Debian's nginx.conf opens its root-owned logs")
def test_the_site_file_installs_into_debians_nginx_conf(tmp_path: Path) -> None:
    """Installed as the README says (in conf.d, the default site removed) in a copy of Debian's /etc/nginx, the
    unchanged file passes `nginx -t`: nothing in it clashes with Debian's http block."""
    etc = tmp_path / "etc-nginx"
    shutil.copytree("/etc/nginx", etc, symlinks=True)
    conf = etc / "nginx.conf"
    conf.write_text(conf.read_text().replace("/etc/nginx", str(etc)))
    (etc / "sites-enabled" / "default").unlink(missing_ok=True)
    shutil.copy(SITE, etc / "conf.d" / SITE.name)
    check = subprocess.run([NGINX, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")], capture_output=True,
                           text=True, timeout=30, check=False)
    assert check.returncode == 0, check.stderr


@needs_nginx
def test_behind_nginx_forty_slow_clients_never_stop_a_wall_refresh(tmp_path: Path, app_stack: App) -> None:
    """With 40 slow clients holding connections to nginx, each of the wall's refreshes answers."""
    with running_nginx(tmp_path, app_stack) as port:
        wall = Wall.log_in(port)
        with SlowClients(port, wall) as slow:
            answers = []
            for _ in range(TRIES):
                held = slow.held()
                answers.append((held, wall.refresh(port, ANSWER_TIMEOUT_S)))
                time.sleep(1.0)  # the wall's refresh interval
            report = slow.describe()
    assert [status for _, status in answers] == [200] * TRIES, f"{answers}; {report}"
    assert all(held == SLOW_CLIENTS for held, _ in answers), f"the slow clients did not hold: {answers}; {report}"


def test_the_gevent_web_alone_serves_the_wall_beside_the_same_slow_clients(sqlite_stack: App) -> None:
    """Without nginx (`make run`): the same 40 slow clients against the screens' gunicorn, and the wall's refreshes
    still answer: a slow reader holds a greenlet, and the gevent workers cut a slowloris within seconds (which
    reconnects at once, as an attacker would). The threaded workers of before were starved by these 40. (SQLite
    only: it does not depend on the database.)"""
    port = sqlite_stack.screens_port
    wall = Wall.log_in(port)
    assert wall.refresh(port, ANSWER_TIMEOUT_S) == 200
    slow = SlowClients(port, wall)
    slow.thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while slow.opened < SLOW_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.1)
        answers = [(slow.held(), wall.refresh(port, ANSWER_TIMEOUT_S)) for _ in range(3)]
        report = slow.describe()
    finally:
        slow.__exit__()
    assert [status for _, status in answers] == [200] * 3, f"the wall was not answered: {answers}; {report}"
    assert all(held >= SLOW_CLIENTS // 2 for held, _ in answers), f"the slow clients did not hold: {answers}; {report}"


@needs_nginx
def test_nginx_routes_forwards_compresses_and_streams_as_documented(tmp_path: Path, sqlite_stack: App) -> None:
    """The feeds' path reaches the feeds' server, the client's address (never one it claims) reaches the app,
    JSON and scripts are compressed, no version is shown, a body over 2 MiB gets the app's JSON 413 and the push
    stream passes an event through at once."""
    app = sqlite_stack
    with running_nginx(tmp_path, app) as port:
        wall = Wall.log_in(port)
        assert wall.refresh(port, ANSWER_TIMEOUT_S) == 200
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT_S)
        auth = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}

        conn.request("POST", "/api/v1/events", body=b"[]", headers={**auth, "X-Forwarded-For": "203.0.113.9"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status < 500
        assert resp.getheader("Server") == "nginx"  # no version

        limit = Config().max_body_bytes
        conn.request("POST", "/api/v1/events", body=b" " * limit + b"[]", headers=auth)
        resp = conn.getresponse()
        assert resp.status == 413
        assert json.loads(resp.read())["error"] == f"body larger than {limit} bytes; send smaller batches"
        conn.request("POST", "/api/v1/events", body=b"[" + b" " * (limit - 2) + b"]", headers=auth)
        resp = conn.getresponse()
        resp.read()
        assert resp.status != 413, "a body of exactly the app's limit must reach the app"

        cookie = "; ".join(f"{k}={v}" for k, v in wall.cookies.items())
        for path, ctype in ((LARGE_SCRIPT, "javascript"), ("/api/v1/openapi.json", "json")):
            conn.request("GET", path, headers={"Cookie": cookie, "Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200 and ctype in (resp.getheader("Content-Type") or "")
            assert resp.getheader("Content-Encoding") == "gzip", path
        conn.close()

        stream = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT_S)
        stream.request("GET", "/api/v1/stream", headers={"Cookie": cookie, "Accept": "text/event-stream"})
        resp = stream.getresponse()
        assert resp.status == 200
        assert resp.readline().startswith(b"retry:")
        db = int(app.redis_url.rsplit("/", 1)[1])
        make_redis(app.redis_url).publish(keys.incidents_channel(db), json.dumps({"id": 7, "action": "proxy-test"}))
        lines: list[bytes] = []
        while b"proxy-test" not in (line := resp.readline()):
            assert line, f"the stream ended before the event: {lines}"
            lines.append(line)
        stream.close()

    feeds, screens = app.feeds_log.read_text(), app.screens_log.read_text()
    assert "POST /api/v1/events" in feeds and "POST /api/v1/events" not in screens
    assert "GET /api/v1/frame" in screens and "GET /api/v1/frame" not in feeds
    posted = next(line for line in feeds.splitlines() if line.startswith("POST /api/v1/events"))
    assert posted.endswith("real=127.0.0.1 xff=127.0.0.1"), posted


def test_behind_nginx_the_audit_log_records_the_clients_address_never_one_it_claims(
        tmp_path: Path, sqlite_stack: App) -> None:
    """A sign-in through nginx from another loopback address, claiming a third one in X-Forwarded-For: the audit
    log records the address nginx saw (the app trusts one proxy), not nginx's own and not the claimed one."""
    app = sqlite_stack
    with running_nginx(tmp_path, app) as port:
        client = HttpClient("127.0.0.1", port, timeout=ANSWER_TIMEOUT_S, source=CLIENT_ADDRESS)
        claim = {"X-Forwarded-For": CLAIMED_ADDRESS, "X-Real-IP": CLAIMED_ADDRESS}
        status, page, _, _ = client.request("GET", "/login", headers=claim)
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        assert status == 200 and token, status
        form = urlencode({"username": "leader", "password": PASSWORD, "csrf_token": token.group(1).decode()})
        status, _, _, resp = client.request(
            "POST", "/login", form.encode(), {**claim, "Content-Type": "application/x-www-form-urlencoded"})
        client.close()
        assert status == 302 and "/login" not in (resp.getheader("Location") or ""), status
    engine = make_engine(app.db_url)
    try:
        with session_factory(engine)() as s:
            entries = s.scalars(select(AuditLog).where(AuditLog.action == "login", AuditLog.actor == "leader"))
            addresses = [(e.detail or {}).get("ip") for e in entries]
    finally:
        engine.dispose()
    assert addresses == [CLIENT_ADDRESS]
