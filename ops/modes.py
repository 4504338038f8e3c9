"""What a start does in each mode (DEPLOYMENT, dashboard/config.py), for `dongcheng run`, `worker` and `scheduler`.

The demo upgrades its database and seeds what is missing (ops/bootstrap.py: accounts created when missing, never
changed). Production only looks: dashboard.store.schema.check_start has refused a start without SECRET_KEY,
INGEST_TOKEN or DATABASE_URL, with the simulator on, or on a database not at the newest revision; nothing is
created or changed, and the first administrator comes from `dongcheng users create NAME --role admin`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from dashboard import store
from dashboard.config import Config, ConfigError
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory, session_scope


def checked_config(what: str) -> Config | None:
    """The environment's configuration when `what` (a server or a worker) may start with it, else None (said on
    stderr)."""
    try:
        config = Config.from_env()
        schema.check_start(config)
    except ConfigError as exc:
        print(f"dongcheng {what}: refused to start: {exc}", file=sys.stderr, flush=True)
        return None
    return config


def prepare_start(config: Config, log: Callable[[str], None]) -> list[str]:
    """Ready the database for a start in `config`'s mode and return the banner's lines about the mode and the
    accounts."""
    if config.production:
        return _production(config, log)
    return _demo(config, log)


def _demo(config: Config, log: Callable[[str], None]) -> list[str]:
    """The demo's database: upgraded, its missing accounts (and, with the simulator, units and sensors) created."""
    from ops.bootstrap import bootstrap, describe_accounts

    log("upgrading the database's schema and seeding what the demo lacks")
    seeded = bootstrap(config)
    log(f"demo seeded: {seeded.units_total} units, {seeded.sensors_total} sensors; accounts created now: "
        f"{', '.join(seeded.created) or 'none'}, left unchanged: {', '.join(seeded.existing) or 'none'}")
    accounts = describe_accounts(seeded, show_chosen=True)
    return [
        "  mode      demo (simulated feeds, demo accounts; DEPLOYMENT=production for a real deployment)",
        *(f"  {'accounts' if i == 0 else '':9s} {line}" for i, line in enumerate(accounts)),
    ]


def _production(config: Config, log: Callable[[str], None]) -> list[str]:
    """Production's database, only read: how many administrators can sign in."""
    engine = make_engine(config.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            admins = len(store.users.active_admin_ids(session))
    finally:
        engine.dispose()
    if admins:
        accounts = f"as stored ({admins} active administrator{'s' if admins > 1 else ''}; dongcheng users list)"
    else:
        accounts = "no active administrator yet: dongcheng users create NAME --role admin"
        log(f"production: {accounts}")
    return [
        "  mode      production (nothing simulated; no account created or changed at start)",
        f"  accounts  {accounts}",
    ]
