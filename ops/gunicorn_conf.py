"""gunicorn's configuration for the screens' web server (`gunicorn -c python:ops.gunicorn_conf`; the runner's argv,
ops/servers.py `gunicorn_argv`; the feeds' server is granian, ops/feeds_server.py): the metrics' multi-process mode
and the log format.

- **Metrics**: every worker writes its metrics into PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker reads them
  all (dashboard/web/metrics.py). The directory is emptied when the server starts (a fresh start, never the last
  run's files), made in a temporary folder when the environment names none (gunicorn started by hand), and
  `child_exit` marks each worker that exits as dead, so that the open-streams gauge counts live workers only.
  prometheus_client reads the variable when it is imported: it is set here, in the master, before any worker
  exists.
- **Access log**: one line a request on stdout (the runner's instance/logs/<child>.log): client, method, the path
  without its query string (a token may travel there), status, bytes, the request time in milliseconds and the user
  agent. Set here, where the command line and GUNICORN_CMD_ARGS (`make bench`'s own access log) still override it.
- **Logs**: with LOG_FORMAT=json the error log and the access log are JSON lines (dashboard/observe/logs.py); an
  access line then carries its atoms as fields (never the query string).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from dashboard.config import Config
from dashboard.observe.logs import JSON, formatter

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# gunicorn's settings (the lowest precedence: the command line and GUNICORN_CMD_ARGS override them).
accesslog = "-"
access_log_format = ACCESS_LOG_FORMAT
# Set when this module made the directory itself: removed again when the server stops.
_made: list[str] = []


def fresh_metrics_dir(path: Path) -> None:
    """Make `path` an empty directory for a new start (the files of a previous run removed)."""
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink(missing_ok=True)


def on_starting(server: Any) -> None:
    """In the master, before any worker: the metrics directory, fresh."""
    given = Config.from_env().metrics_dir
    if given:
        fresh_metrics_dir(Path(given))
        return
    made = tempfile.mkdtemp(prefix="dongcheng-metrics-")
    _made.append(made)
    os.environ[MULTIPROC_ENV] = made


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its live gauges no longer count (its counters and histograms stay in the sums)."""
    from prometheus_client import multiprocess

    path = os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(worker.pid, path)


def on_exit(server: Any) -> None:
    """The master stops: remove a directory this module made."""
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)


class JsonLogger(Logger):
    """gunicorn's logger with every handler of its error and access logs writing JSON lines."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's set-up (files, streams, levels), then the JSON formatter on each of its handlers."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter(JSON))


if Config.from_env().log_format == JSON:
    logger_class = JsonLogger
