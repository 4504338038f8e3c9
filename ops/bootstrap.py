"""Idempotent set-up of a database: tables, demo accounts, units and sensors, and an audit entry.

Run by `dongcheng run` before it starts any child, or by hand with `dongcheng db bootstrap`.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from sqlalchemy import make_url

from dashboard import store
from dashboard.config import Config
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory, session_scope
from dashboard.store.models import Sensor, Unit
from simulator.installations import build_sensors, build_units

# The demo accounts of the design: user name, role, display name (zh-CN first, like the interface).
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("duty", "duty", "值班员"),
    ("leader", "leader", "领导"),
    ("dispatch", "dispatch", "调度员"),
    ("admin", "admin", "管理员"),
)


def generate_password() -> str:
    """A demo password that is easy to type from a printed banner (no look-alike characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def _columns(model: type[Sensor] | type[Unit], row: dict[str, Any]) -> dict[str, Any]:
    """Keep the keys that are columns of `model`: the simulator's rows may carry simulation parameters."""
    names = set(model.__table__.columns.keys())
    return {k: v for k, v in row.items() if k in names}


def bootstrap(config: Config) -> dict[str, Any]:
    """Create tables, seed demo users, units and sensors, and audit it; safe to run any number of times."""
    password = config.demo_password or generate_password()
    engine = make_engine(config.database_url)
    try:
        # The schema through its migrations (a database from before migrations is completed by the baseline first).
        schema.upgrade(engine)
        with session_scope(session_factory(engine)) as session:
            for username, role, display_name in DEMO_USERS:
                store.users.upsert_user(session, username, display_name, role, password)
            units_added = store.units.seed_units(session, (_columns(Unit, u) for u in build_units()))
            sensors_added = store.sensors.seed_sensors(session, (_columns(Sensor, s) for s in build_sensors()))
            session.flush()
            units_total, sensors_total = store.units.count_units(session), store.sensors.count_sensors(session)
            users = [username for username, _, _ in DEMO_USERS]
            # Counts only: the password must never reach the audit log.
            store.audit_log.record(
                session,
                "system",
                "bootstrap",
                detail={
                    "users": users,
                    "units_added": units_added,
                    "sensors_added": sensors_added,
                    "units_total": units_total,
                    "sensors_total": sensors_total,
                },
            )
    finally:
        engine.dispose()
    return {
        "users": users,
        "demo_password": password,
        "password_generated": config.demo_password is None,
        "units_added": units_added,
        "units_total": units_total,
        "sensors_added": sensors_added,
        "sensors_total": sensors_total,
    }


def bootstrap_command(_args: argparse.Namespace) -> int:
    """`dongcheng db bootstrap`: bootstrap the database named by DATABASE_URL and print the demo accounts."""
    config = Config.from_env()
    result = bootstrap(config)
    print(f"database: {make_url(config.database_url).render_as_string(hide_password=True)}")
    print(
        f"units: {result['units_total']} ({result['units_added']} new), "
        f"sensors: {result['sensors_total']} ({result['sensors_added']} new)"
    )
    print(f"demo accounts: {', '.join(result['users'])}")
    if result["password_generated"]:
        print(f"demo password (generated): {result['demo_password']}")
    else:
        print("demo password: the value of DEMO_PASSWORD")
    return 0
