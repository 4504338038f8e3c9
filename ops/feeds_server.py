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
  loggers are configured by create_app as everywhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from dashboard.config import ROOT, Config
from dashboard.observe.logs import JSON, TEXT_FORMAT

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The access line in text: as the web server's (ops/gunicorn_conf.py ACCESS_LOG_FORMAT) but for the bytes sent.
ACCESS_LOG_FORMAT = '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms "%(header{user-agent})s"'


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
    try:
        Granian(
            args.app, address=args.host, port=args.port, interface=Interfaces.WSGI, workers=args.workers,
            blocking_threads=args.threads, websockets=False, log_access=args.access_log,
            log_access_format=args.access_log_format, log_dictconfig=log_config(Config.from_env().log_format),
            respawn_failed_workers=True, working_dir=ROOT,
        ).serve()
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
