"""`dongcheng`: the one command line of the command centre (declared in pyproject.toml's [project.scripts]).

    dongcheng run                          the whole system on this machine (what `make run` does)
    dongcheng db upgrade|current|downgrade the schema's Alembic revisions
    dongcheng db bootstrap                 the demo's seeding: what is missing of accounts, units and sensors
    dongcheng users list|create|set-password|set-role|disable|enable
    dongcheng tokens create|list|revoke    per-user API tokens
    dongcheng history rebuild|rollup       a day's history rebuilt from the telemetry in SQL / one roll-up now
    dongcheng worker | scheduler           an RQ worker / the one `rq cron` scheduler, as the runner starts them
    dongcheng exporter [--host --port]     the host's metrics exporter of the RQ workers and the scheduler
    dongcheng mqtt                         the MQTT feeds' subscriber (MQTT_URL; README "MQTT feeds")
    dongcheng simulate [--url --rate --seed …]   the demo's simulated feeds
    dongcheng tick | bench-tick            one tick now (JSON) / the tick timed on synthetic telemetry
    dongcheng bench                        the whole benchmark of `make bench` (a source checkout only)

This module only builds the parser and dispatches: each command's work is in its own module of ops/, imported
when that command runs, so `--help` stays quick. Settings come from the environment (dashboard/config.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dashboard.config import INSTANCE_DIR, ConfigError
from dashboard.domain.rules import ROLES

PROG = "dongcheng"
# Commands whose arguments and --help belong to another program: handed over untouched, never parsed here.
PASSTHROUGH = ("simulate", "bench")

RUN_HELP = """Run the whole command centre on this machine: a bundled Redis (unless REDIS_URL), RQ workers, the
scheduler, the web server, the feeds' server, supervised until Ctrl-C or SIGTERM. The demo (DEPLOYMENT=demo, the
default) adds SQLite (unless DATABASE_URL), generated secrets, the schema upgraded, the demo accounts that are
missing and the simulator (unless SIMULATOR=off). DEPLOYMENT=production creates and changes nothing: it refuses
to start without SECRET_KEY, INGEST_TOKEN and DATABASE_URL, or on a database not upgraded by `dongcheng db
upgrade`. Settings come from the environment: DEPLOYMENT, PORT, INGEST_PORT, HOST, REDIS_URL, REDIS_PORT,
DATABASE_URL, SECRET_KEY, INGEST_TOKEN, DEMO_PASSWORD, SIMULATOR, SIM_RATE, SIM_SEED, SIM_TRANSPORT, RQ_WORKERS,
WEB_WORKERS, INGEST_WORKERS, RQ_LOG_LEVEL, INSTANCE_DIR, MQTT_URL (with it, the MQTT feeds' subscriber runs too;
see the README)."""


def _handler(target: str) -> Callable[[argparse.Namespace], int]:
    """The function named "module:function", imported now."""
    module, name = target.split(":")
    func: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
    return func


def _command(sub: Any, name: str, target: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose work is `target` ("module:function", called with the parsed arguments)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description or help)
    parser.set_defaults(target=target)
    return parser


def _group(sub: Any, name: str, help: str) -> Any:
    """A subcommand that only holds sub-subcommands."""
    parser = sub.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def _password_option(parser: argparse.ArgumentParser) -> None:
    """--password-stdin: how a password is given without putting it on the command line."""
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from one line of standard input (default: ask twice on the terminal)")


def _db(sub: Any) -> None:
    """`dongcheng db …`."""
    db = _group(sub, "db", "the database named by DATABASE_URL: its schema's revisions, the demo's seeding")
    upgrade = _command(db, "upgrade", "ops.db:upgrade_command",
                       "bring the schema to the newest revision, or to REVISION (Alembic migrations)",
                       description="Bring the schema of the database named by DATABASE_URL to REVISION (default: "
                       "the newest) through the Alembic migrations; a database made before migrations is completed "
                       "by the baseline first. Production's starts never do this: run it before starting a new "
                       "release (DEPLOYMENT=production needs DATABASE_URL set).")
    upgrade.add_argument("revision", nargs="?", default="head", metavar="REVISION",
                         help="a revision id, or +N steps (default: head, the newest)")
    current = _command(db, "current", "ops.db:current_command",
                       "show the revision the database is at and the newest one",
                       description="Show the schema revision of the database named by DATABASE_URL and the newest "
                       "revision of this release.")
    current.add_argument("--check", action="store_true",
                         help="exit with status 1 when the database is not at the newest revision")
    downgrade = _command(db, "downgrade", "ops.db:downgrade_command",
                         "take the schema back to REVISION (e.g. -1: one step)",
                         description="Take the schema of the database named by DATABASE_URL back to REVISION, "
                         "undoing the later migrations (what they added is lost).")
    downgrade.add_argument("revision", metavar="REVISION", help="a revision id, -N steps, or base")
    _command(db, "bootstrap", "ops.bootstrap:bootstrap_command",
             "the demo's seeding: upgrade, then create what is missing (accounts, units, sensors); never production",
             description="The demo's seeding of the database named by DATABASE_URL: upgrade its schema, create "
             "the demo accounts that are missing (password DEMO_PASSWORD, else generated and printed; an account "
             "that exists is never changed) and, unless SIMULATOR=off, the simulator's response units and sensor "
             "registry. Idempotent; each run is audited. Refused with DEPLOYMENT=production, which seeds nothing.")


def _users(sub: Any) -> None:
    """`dongcheng users …`."""
    users = _group(sub, "users", "user accounts, changed through the admin service: validated and audited")
    _command(users, "list", "ops.users:list_command", "list every user (id, name, role, state, display name)")
    create = _command(users, "create", "ops.users:create_command",
                      "create an active user (with --role admin: the first administrator)")
    create.add_argument("username", help="lower-case letters, digits, '.', '_' or '-' (2-64 characters)")
    create.add_argument("--role", required=True, choices=ROLES, help="the user's role")
    create.add_argument("--display-name", help="name shown on the screens (default: the user name)")
    _password_option(create)
    password = _command(users, "set-password", "ops.users:set_password_command",
                        "set a new password; the old one stops working at once")
    password.add_argument("username")
    _password_option(password)
    role = _command(users, "set-role", "ops.users:set_role_command",
                    "give a user another role (never the last active administrator's)")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    for name, target, text in (
        ("disable", "ops.users:disable_command", "disable a user (never the last active administrator)"),
        ("enable", "ops.users:enable_command", "enable a disabled user"),
    ):
        _command(users, name, target, text).add_argument("username")


def _tokens(sub: Any) -> None:
    """`dongcheng tokens …`."""
    tokens = _group(sub, "tokens", "per-user API tokens (Authorization: Bearer <token> on /api/v1/…)")
    create = _command(tokens, "create", "ops.tokens:create_command",
                      "create a token for an active user and print it once (only its hash is stored)")
    create.add_argument("username", help="the token's owner: it acts with this user's role")
    create.add_argument("name", help="what the token is for, e.g. 'gis-sync'")
    listing = _command(tokens, "list", "ops.tokens:list_command",
                       "list tokens with owner, creation, last use and revocation")
    listing.add_argument("username", nargs="?", help="only this user's tokens")
    revoke = _command(tokens, "revoke", "ops.tokens:revoke_command", "revoke a token at once")
    revoke.add_argument("id", type=int, help="the token's id (see `dongcheng tokens list`)")


def _history(sub: Any) -> None:
    """`dongcheng history …`."""
    history = _group(sub, "history", "the aggregates' history and the durable telemetry it can be rebuilt from")
    rebuild = _command(history, "rebuild", "ops.history:rebuild_command",
                       "rebuild a day's history snapshots from the telemetry roll-ups in SQL (after a lost Redis)",
                       description="Rebuild the history snapshots of a Beijing day (the 24 h replay's minutes, and "
                       "the day's hours) from the per-minute telemetry roll-ups in the database named by "
                       "DATABASE_URL, into the Redis named by REDIS_URL. Only minutes and hours Redis has no "
                       "snapshot of are stored; a rebuilt snapshot holds the sensors, traffic, parking and crowds, "
                       "not the incidents and hotline tickets (see the README).")
    rebuild.add_argument("--day", help="YYYY-MM-DD, a Beijing day (default: today)")
    _command(history, "rollup", "ops.history:rollup_command",
             "roll the telemetry stream's new entries up into SQL now (what the scheduler does every 10 s)")


def _rq_process(sub: Any, name: str, target: str, help: str) -> None:
    """`dongcheng worker` or `dongcheng scheduler`: exec rq with the product's options."""
    parser = _command(sub, name, target, help, description=help + ". REDIS_URL (or REDIS_SENTINELS) names the "
                      "Redis (rq reads it through RQ_CONFIG=workers.rq_connection), RQ_LOG_LEVEL its log level "
                      "(default WARNING).")
    parser.add_argument("--dry-run", action="store_true", help="print the rq command instead of running it")
    parser.add_argument("rq_args", nargs=argparse.REMAINDER, metavar="-- RQ_OPTION",
                        help="further options handed to rq as they are, after `--` (e.g. -- --burst)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog=PROG, description="The Dongcheng city-operations command centre.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(sub, "run", "ops.runner:run_command", "run the whole system on this machine (make run)",
             description=RUN_HELP)
    cluster = _command(sub, "cluster", "ops.cluster:cluster_command",
                       "run two hosts' topology on this machine (make cluster): two hosts' gunicorns, workers and "
                       "schedulers, Redis with a replica and three sentinels, PostgreSQL, nginx in front")
    cluster.add_argument("--dir", default=str(INSTANCE_DIR / "cluster"),
                         help="the cluster's folder, wiped at each start (default instance/cluster)")
    cluster.add_argument("--rate", type=float, default=50.0, help="simulated events a second (default 50)")
    cluster.add_argument("--web-workers", type=int, default=1, help="screens' gunicorn workers per host (default 1)")
    cluster.add_argument("--rq-workers", type=int, default=1, help="RQ workers per host (default 1)")
    _db(sub)
    _users(sub)
    _tokens(sub)
    _history(sub)
    _rq_process(sub, "worker", "ops.jobs:worker_command",
                "become an RQ SimpleWorker on the product's queues (dc-tick, dc-default) that stays registered "
                "through a Redis restart or flush")
    _rq_process(sub, "scheduler", "ops.jobs:scheduler_command",
                "become the deployment's one RQ cron scheduler (the tick every second and the periodic jobs), which "
                "waits out a lost Redis")
    exporter = _command(sub, "exporter", "ops.exporter:exporter_command",
                        "serve the Prometheus metrics of this host's RQ workers and scheduler (their "
                        "PROMETHEUS_MULTIPROC_DIR) and the gauges read from Redis, on METRICS_PORT")
    exporter.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    exporter.add_argument("--port", type=int, help="port (default METRICS_PORT)")
    _command(sub, "mqtt", "ops.mqtt:mqtt_command", "the MQTT feeds' subscriber: store the events published to the "
             "broker of MQTT_URL",
             description="Subscribe to the MQTT broker of MQTT_URL (mqtt://[user[:password]@]host[:port], "
             "mqtts:// for TLS) on a persistent session (MQTT_CLIENT_ID) and store the events published on "
             "<MQTT_TOPIC_PREFIX>/<source>/<kind> into the Redis of REDIS_URL and the database of DATABASE_URL, "
             "validated as POST /api/v1/events validates them; refusals are published on "
             "<MQTT_TOPIC_PREFIX>/errors/<source>, and a message not stored is not acknowledged, so that the "
             "broker delivers it again (see the README, \"MQTT feeds\").")
    sub.add_parser("simulate", add_help=False,
                   help="feed simulated events into the ingest API (--url, --rate, --seed …: see simulate --help)")
    _command(sub, "tick", "ops.jobs:tick_command", "run one tick now with the environment's settings; print JSON")
    bench_tick = _command(sub, "bench-tick", "ops.tick_bench:bench_tick_command",
                          "time the tick on synthetic telemetry, an empty Redis database and a temporary SQLite")
    bench_tick.add_argument("--events", type=int, default=1000, help="new telemetry events per tick (default 1000)")
    bench_tick.add_argument("--ticks", type=int, default=20, help="ticks to time (default 20)")
    bench_tick.add_argument("--sensors", type=int, default=400, help="registered sensors (default 400)")
    bench_tick.add_argument("--redis-url", help="an empty Redis database (default: db 14 of REDIS_URL's server)")
    sub.add_parser("bench", add_help=False,
                   help="the whole benchmark of `make bench` (bench/run.py of a source checkout: see bench --help)")
    return parser


def _version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dongcheng-command-centre")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command; return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in PASSTHROUGH:
        return _passthrough(args_list[0], args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        return int(_handler(args.target)(args))
    except ConfigError as exc:
        # A setting that does not allow the command (an unknown DEPLOYMENT, production without DATABASE_URL …).
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _passthrough(command: str, rest: list[str]) -> int:
    """Hand `rest` to the simulator's or the benchmark's own command line."""
    if command == "simulate":
        from ops.simulate import simulate

        return simulate(rest)
    from ops.bench import bench

    usage = (f"usage: {PROG} bench [bench/run.py options]\n\n"
             "The whole benchmark of `make bench`: the live system at 1,000 events/s, refresh cost against stored "
             "events, and the early warning and linking on a simulated week.")
    return bench(rest, usage)


if __name__ == "__main__":
    sys.exit(main())
