"""`dongcheng exporter`: the per-host metrics exporter of the RQ workers and the scheduler (dashboard/observe/).

It serves GET /metrics on METRICS_PORT (or --port): the metrics every worker and the scheduler of this host write into
their shared PROMETHEUS_MULTIPROC_DIR, and the gauges read from Redis at each scrape (aggregate and tick ages, RQ
queue depth, failed jobs, live workers). Scrapes need METRICS_TOKEN or an address of METRICS_ALLOW, as /metrics on
the web does. The runner starts it with the workers' directory; under another supervisor give it the same
PROMETHEUS_MULTIPROC_DIR as the workers and the scheduler, emptied before they start.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from dashboard.config import Config, ConfigError
from dashboard.observe.collectors import RedisStateCollector, scrape_redis
from dashboard.observe.exposition import make_exporter
from dashboard.observe.logs import configure_logging

log = logging.getLogger("ops.exporter")

# The runner's directory per kind of process sharing its metrics, under instance/metrics/: the web's gunicorn, the
# feeds' gunicorn, and the RQ workers with the scheduler (which this exporter reads).
METRICS_DIRS = ("web", "ingest", "jobs")


def metrics_dir(instance_dir: Path, kind: str) -> Path:
    """The metrics directory of the processes of `kind` (METRICS_DIRS) in the instance."""
    return instance_dir / "metrics" / kind


def metrics_env(instance_dir: Path, kind: str | None) -> dict[str, str]:
    """The environment a child of `kind` (None: one without metrics) gets for its metrics."""
    return {} if kind is None else {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(instance_dir, kind))}


def fresh_metrics_dirs(instance_dir: Path) -> None:
    """Every kind's directory, empty: a previous run's files would add to this one's counters."""
    shutil.rmtree(instance_dir / "metrics", ignore_errors=True)
    for kind in METRICS_DIRS:
        metrics_dir(instance_dir, kind).mkdir(mode=0o700, parents=True)


def exporter_command(args: argparse.Namespace) -> int:
    """Serve the host's job metrics until SIGTERM or SIGINT; 1 when the settings do not allow it."""
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"dongcheng exporter: refused to start: {exc}", file=sys.stderr, flush=True)
        return 1
    configure_logging(config.log_format)
    port = args.port if args.port is not None else config.metrics_port
    if not port:
        print("dongcheng exporter: no port: set METRICS_PORT or pass --port", file=sys.stderr, flush=True)
        return 1
    if not config.metrics_dir:
        log.warning("PROMETHEUS_MULTIPROC_DIR is not set: only the Redis-derived gauges are exported, not the "
                    "workers' and the scheduler's metrics")
    server = make_exporter(config, args.host, port, [RedisStateCollector(scrape_redis(config.redis))])
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="exporter",
                              daemon=True)
    thread.start()
    log.info("metrics exporter on http://%s:%d/metrics (directory %s)", args.host, server.server_port,
             config.metrics_dir or "none")
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0
