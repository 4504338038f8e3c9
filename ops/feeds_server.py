"""The feeds' server (`python -m ops.feeds_server --host H --port P --workers N`, as `dongcheng run` starts it on
INGEST_PORT): granian, a Rust HTTP server, serving the WSGI application `ops.wsgi:feeds` (the ingest's fast path in
front of the app, dashboard/web/feeds.py) in `--workers` processes of INGEST_THREADS threads each.

Granian parses HTTP and keeps the connections in Rust and calls Python once a request: about half of gunicorn's CPU
for a request of one event, measured side by side (README, "Ingest at capacity"). What gunicorn's configuration did
for the feeds (ops/gunicorn_conf.py) is done here, before granian starts its workers:
- **Metrics**: PROMETHEUS_MULTIPROC_DIR emptied (a fresh start), or made in a temporary folder when the environment
  names none (started by hand) and removed when the server stops. The feeds' server keeps no per-process gauge, so a
  dead worker leaves nothing to mark.
- **Logs**: granian's own lines and its access log (one line a request, without the query string, where a token may
  travel) in the product's format: LOG_FORMAT=json gives JSON lines (dashboard/observe/logs.py), the app's own
  loggers are configured by create_app as everywhere. In text, the feeds' application writes granian's access line
  itself (AccessLines: the same atoms and bytes, without the logging module's cost per request).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import IO, Any

from dashboard.config import ROOT, Config
from dashboard.domain.text import escape_controls
from dashboard.observe.logs import JSON, TEXT_FORMAT

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The access line in text: as the web server's (ops/gunicorn_conf.py ACCESS_LOG_FORMAT) but for the bytes sent.
ACCESS_LOG_FORMAT = '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms "%(header{user-agent})s"'
# The text access line's format and the application it wraps, handed to the workers (which import TEXT_ACCESS_APP)
# by the environment.
ACCESS_FORMAT_ENV = "DONGCHENG_FEEDS_ACCESS_FORMAT"
ACCESS_APP_ENV = "DONGCHENG_FEEDS_ACCESS_APP"
TEXT_ACCESS_APP = "ops.feeds_server:feeds_with_access_lines"
# granian's header atom, %(header{NAME})s.
_HEADER_ATOM = re.compile(r"%\(header\{([^}]+)\}\)s")


class AccessLines:
    """WSGI: `app`, with granian's text access line (its atoms, the same bytes) written here, one a request.

    granian's own goes through the logging module (a record, the caller's frame, the handler's lock, a timestamp
    formatted whether the format uses it or not): a fifth of the process's CPU for a request of one event. JSON lines
    (LOG_FORMAT=json) still come from granian, through the product's JSON formatter."""

    def __init__(self, app: Callable[..., Iterable[bytes]], fmt: str, stream: IO[str]) -> None:
        headers: list[str] = []

        def atom(m: re.Match[str]) -> str:
            headers.append(m.group(1).strip().lower())
            return f"%(_h{len(headers) - 1})s"

        self.app = app
        self.fmt = _HEADER_ATOM.sub(atom, fmt)
        self.headers = [(f"_h{i}", "HTTP_" + name.upper().replace("-", "_")) for i, name in enumerate(headers)]
        self.with_time = "%(time)s" in self.fmt
        self.tz = datetime.datetime.now().astimezone().tzinfo
        self.stream = stream
        self.lock = threading.Lock()
        self.failed = threading.Event()  # set once writing a line failed (said once)
        # A format with an unknown atom fails here, at the start, rather than at every request.
        self._atoms({"wsgi.url_scheme": "http"}, 200, time.time(), time.perf_counter())

    def _atoms(self, environ: dict[str, Any], status: int, started_wall: float, started: float) -> str:
        """The access line of a request (granian's atoms: wsgi.py _log_dict, log.py log_request_builder)."""
        atoms: dict[str, Any] = {
            "addr": environ.get("REMOTE_ADDR"), "dt_ms": (time.perf_counter() - started) * 1000, "status": status,
            "path": environ.get("PATH_INFO"), "query_string": environ.get("QUERY_STRING"),
            "method": environ.get("REQUEST_METHOD"), "scheme": environ.get("wsgi.url_scheme"),
            "protocol": environ.get("SERVER_PROTOCOL"),
        }
        if self.with_time:
            atoms["time"] = datetime.datetime.fromtimestamp(started_wall, tz=self.tz).strftime("%Y-%m-%d %H:%M:%S %z")
        for key, name in self.headers:
            atoms[key] = environ.get(name) or "-"
        # One line whatever the request holds: a path or header with a line break (%0A in the URL) must not forge
        # a second line.
        return escape_controls(str(self.fmt % atoms))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The app's answer, then its access line (the request's own atoms: the app may rewrite its environ), written
        when the app returns: the feeds' app has its whole answer by then (a streamed body's time is not counted)."""
        started_wall, started = time.time(), time.perf_counter()
        seen = {k: environ.get(k) for k in ("REMOTE_ADDR", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD",
                                             "wsgi.url_scheme", "SERVER_PROTOCOL")}
        seen.update((name, environ.get(name)) for _, name in self.headers)
        status = [200]  # granian's, when the app never calls start_response

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            self._write(self._atoms(seen, 500, started_wall, started))
            raise
        self._write(self._atoms(seen, status[0], started_wall, started))
        return body

    def _write(self, line: str) -> None:
        """One line, flushed (as logging's StreamHandler writes it); an output that fails is said once, and the
        requests go on being served without their lines (as logging's handler would)."""
        try:
            with self.lock:
                self.stream.write(line + "\n")
                self.stream.flush()
        except OSError as exc:
            if not self.failed.is_set():
                self.failed.set()
                log.error("the feeds' access lines cannot be written (%s): requests are served without them", exc)


def __getattr__(name: str) -> Any:
    """TEXT_ACCESS_APP: the served application (`--app`, the feeds' by default) with its text access lines, made when
    a worker imports it."""
    if name != "feeds_with_access_lines":
        raise AttributeError(name)
    from ops.servers import FEEDS_APP

    module, _, attr = os.environ.get(ACCESS_APP_ENV, FEEDS_APP).partition(":")
    app = AccessLines(getattr(importlib.import_module(module), attr), os.environ[ACCESS_FORMAT_ENV], sys.stdout)
    globals()[name] = app
    return app


def log_config(log_format: str) -> dict[str, Any]:
    """granian's logging configuration (logging.config.dictConfig) in the product's format."""
    fmt: dict[str, Any] = ({"()": "dashboard.observe.logs.JsonLines"} if log_format == JSON
                           else {"()": "logging.Formatter", "fmt": TEXT_FORMAT})
    access: dict[str, Any] = fmt if log_format == JSON else {"()": "logging.Formatter", "fmt": "%(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"generic": fmt, "access": access},
        "handlers": {
            "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def metrics_dir(env: MutableMapping[str, str]) -> Path | None:
    """The metrics' multi-process directory, emptied; made (and put in `env`) when `env` names none, then returned
    for removal at the end."""
    given = env.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink(missing_ok=True)
        return None
    made = Path(tempfile.mkdtemp(prefix="dongcheng-metrics-"))
    env[MULTIPROC_ENV] = str(made)
    return made


def main(argv: list[str] | None = None) -> None:
    """Serve the feeds until stopped (SIGTERM or SIGINT: granian stops its workers gracefully)."""
    from granian import Granian
    from granian.constants import Interfaces

    from ops.servers import FEEDS_APP, INGEST_THREADS

    parser = argparse.ArgumentParser(prog="python -m ops.feeds_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=INGEST_THREADS)
    parser.add_argument("--app", default=FEEDS_APP)
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                        help="one line a request on standard output (default: on)")
    parser.add_argument("--access-log-format", default=ACCESS_LOG_FORMAT,
                        help="granian's access line (its atoms: addr, method, path, protocol, status, dt_ms, "
                             "header{NAME}); the default is the web server's line")
    args = parser.parse_args(argv)
    made = metrics_dir(os.environ)
    log_format = Config.from_env().log_format
    target, granian_access = args.app, args.access_log
    if args.access_log and log_format != JSON:
        # Text access lines written by the application itself (AccessLines): granian's cost a fifth of a request.
        os.environ[ACCESS_FORMAT_ENV], os.environ[ACCESS_APP_ENV] = args.access_log_format, args.app
        target, granian_access = TEXT_ACCESS_APP, False
    try:
        Granian(
            target, address=args.host, port=args.port, interface=Interfaces.WSGI, workers=args.workers,
            blocking_threads=args.threads, websockets=False, log_access=granian_access,
            log_access_format=args.access_log_format, log_dictconfig=log_config(log_format),
            respawn_failed_workers=True, working_dir=ROOT,
        ).serve()
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
