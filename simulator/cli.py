"""The simulator's command line: python -m simulator [--url URL] [--token T] [--rate R] [--seed S] … feeds simulated
Dongcheng events into the command centre's ingest API until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

from dashboard.config import SIM_SENSORS_DEFAULT, Config, ConfigError, sim_sensors
from dashboard.observe.logs import configure_logging
from simulator.episodes import EPISODES_PER_DAY
from simulator.live import BATCH_SECONDS, run
from simulator.mqtt_poster import MqttPoster
from simulator.poster import Transport
from simulator.world import DEFAULT_RATE, DEFAULT_SEED, DEFAULT_SOURCE

log = logging.getLogger(__name__)

# SIM_TRANSPORT: how the events reach the command centre.
TRANSPORTS = ("http", "mqtt")


def parser(prog: str = "python -m simulator") -> argparse.ArgumentParser:
    """The command line's options, with their defaults from the environment (PORT, INGEST_TOKEN, SIM_RATE, …)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Feed simulated Dongcheng events into the command centre's ingest API.",
    )
    p.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT') or 8050}", help="base URL")
    p.add_argument("--token", default=os.environ.get("INGEST_TOKEN"), help="ingest token (env INGEST_TOKEN)")
    p.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=(os.environ.get("SIM_TRANSPORT") or "http").strip().lower(),
        help="http: POST to --url (the default); mqtt: publish to MQTT_URL's broker on "
        "<MQTT_TOPIC_PREFIX>/<source>/<kind> (env SIM_TRANSPORT)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("SIM_RATE") or DEFAULT_RATE),
        help="events per second (env SIM_RATE, default 50)",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 7)")
    p.add_argument(
        "--sensors",
        type=int,
        default=None,
        help=f"sensors to feed (env SIM_SENSORS, default {SIM_SENSORS_DEFAULT}: the installed ones); register the same "
        "number first (`dongcheng db bootstrap` with SIM_SENSORS)",
    )
    p.add_argument("--batch-seconds", type=float, default=BATCH_SECONDS, help="seconds between two POSTs")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="source name on every event")
    p.add_argument("--no-backfill", action="store_true", help="do not replay today's tickets at start")
    p.add_argument(
        "--episodes-per-day",
        type=float,
        default=float(os.environ.get("SIM_EPISODES_PER_DAY") or EPISODES_PER_DAY),
        help="labelled episodes (burst main, night construction, …) a day (env SIM_EPISODES_PER_DAY, default 4)",
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str = "python -m simulator") -> int:
    """Parse the options and feed the ingest API until SIGTERM or SIGINT; 0 when stopped, 2 on a usage error."""
    p = parser(prog)
    args = p.parse_args(argv)
    if args.transport not in TRANSPORTS:  # an unknown SIM_TRANSPORT (argparse checks only what is on the line)
        p.error(f"SIM_TRANSPORT={args.transport!r}: it is http (the default) or mqtt")
    cfg = Config.from_env()
    try:
        sensors = sim_sensors(str(args.sensors)) if args.sensors is not None else cfg.sim_sensors
    except ConfigError as exc:
        p.error(str(exc))
    transport: Transport | None = None
    url = args.url
    if args.transport == "mqtt":
        if cfg.mqtt is None:
            p.error("SIM_TRANSPORT=mqtt needs MQTT_URL (mqtt://[user[:password]@]host[:port])")
        transport = MqttPoster(cfg.mqtt, cfg.mqtt_prefix)
        url = f"mqtt://{cfg.mqtt.host}:{cfg.mqtt.port} ({cfg.mqtt_prefix}/<source>/<kind>)"
    elif not args.token:
        p.error("no ingest token: pass --token or set INGEST_TOKEN")
    if not args.rate > 0:
        p.error("--rate must be positive")
    configure_logging(cfg.log_format)  # LOG_FORMAT=json: one JSON object a line
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    run(url, args.token, args.rate, args.seed, args.batch_seconds, stop, not args.no_backfill, args.source,
        args.episodes_per_day, transport, sensors)
    return 0
