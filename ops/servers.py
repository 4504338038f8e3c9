"""The command lines of the two HTTP servers the runner starts (the screens' gunicorn and the feeds' granian), which
the proxy's tests and the benchmarks start the same way."""

from __future__ import annotations

import sys

from dashboard.config import ROOT

# Threads of each of the feeds' server's INGEST_WORKERS processes: a request waits on Redis or SQL, and the
# requests of a process that wait together are stored together (dashboard/services/group_commit.py).
INGEST_THREADS = 8
# The WSGI application the screens' gunicorn serves (importable from an installed package, not only from a checkout).
WSGI_APP = "ops.wsgi:server"
# The feeds' server's: the ingest's fast path in front of the same application (dashboard/web/feeds.py).
FEEDS_APP = "ops.wsgi:feeds"
# gunicorn's configuration (ops/gunicorn_conf.py): the metrics' multi-process directory and hooks, the access log
# with each request's time, the log format.
GUNICORN_CONF = "python:ops.gunicorn_conf"
# The screens' server's workers: gevent (psycopg 3 and redis-py cooperate with it once gunicorn has patched the
# standard library), each taking up to WEB_WORKER_CONNECTIONS connections: the push streams (SSE_MAX_STREAMS per
# process) and the pages' requests besides.
WEB_WORKER_CLASS = "gevent"
WEB_WORKER_CONNECTIONS = 2000


def _gunicorn_version() -> tuple[int, ...]:
    """Installed gunicorn version as a tuple."""
    import gunicorn

    return tuple(int(p) for p in str(gunicorn.__version__).split(".")[:2] if p.isdigit())


def gunicorn_argv(host: str, port: int, workers: int, threads: int, worker_class: str = "gthread",
                  app: str = WSGI_APP) -> list[str]:
    """The argv of a gunicorn serving `app` on host:port, as the runner starts the web and the feeds' servers (the
    proxy's tests start the same). A gevent worker takes WEB_WORKER_CONNECTIONS connections instead of `threads`
    threads."""
    argv = [
        sys.executable, "-m", "gunicorn", app,
        "--worker-class", worker_class,
        "--workers", str(workers),
        "--bind", f"{host}:{port}",
        "--chdir", str(ROOT),
        "--graceful-timeout", "5",
        "--config", GUNICORN_CONF,
        "--error-logfile", "-",
    ]  # fmt: skip
    if worker_class == "gevent":
        argv += ["--worker-connections", str(WEB_WORKER_CONNECTIONS)]
    else:
        argv += ["--threads", str(threads)]
    if _gunicorn_version() >= (27, 0):
        # Its default control socket is one path per user, shared by every gunicorn: not ours to take.
        argv.append("--no-control-socket")
    return argv


def web_argv(host: str, port: int, workers: int) -> list[str]:
    """The argv of the screens' gunicorn: gevent workers, where an open push stream or a slow client is a
    greenlet instead of one of a few threads (the README's push section has the measurements)."""
    return gunicorn_argv(host, port, workers, 0, worker_class=WEB_WORKER_CLASS)


def feeds_argv(host: str, port: int, workers: int) -> list[str]:
    """The argv of the feeds' server: granian (ops/feeds_server.py), `workers` processes (INGEST_WORKERS) of
    INGEST_THREADS threads serving the ingest's fast path (the README's "Ingest at capacity" has the measurements)."""
    return [sys.executable, "-m", "ops.feeds_server", "--host", host, "--port", str(port), "--workers", str(workers),
            "--threads", str(INGEST_THREADS)]


def feeds_gunicorn_argv(host: str, port: int, workers: int) -> list[str]:
    """The feeds' server as it was before granian: the same application under gunicorn (benchmarks only)."""
    return gunicorn_argv(host, port, workers, INGEST_THREADS, app=FEEDS_APP)
