"""The demo's seeding, idempotent: the schema upgraded, the demo accounts created when missing, the simulator's
units and sensors registered when the simulator is on, and an audit entry.

An account that exists is never changed here (not re-enabled, its password, role and name kept): what an
administrator set survives every restart. Production seeds nothing at all (`bootstrap` refuses it): its first
administrator comes from `dongcheng users create NAME --role admin`. Run by `dongcheng run` in the demo before
it starts any child, or by hand with `dongcheng db bootstrap`.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from sqlalchemy import make_url

from dashboard import store
from dashboard.config import Config, ConfigError
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory, session_scope, sqlalchemy_url
from dashboard.store.models import Sensor, Unit
from simulator.installations import build_sensors, build_units

# The demo accounts of the design: user name, role, display name (zh-CN first, like the interface).
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("duty", "duty", "值班员"),
    ("leader", "leader", "领导"),
    ("dispatch", "dispatch", "调度员"),
    ("admin", "admin", "管理员"),
)


@dataclass(frozen=True)
class Seeded:
    """What one demo seeding did."""

    created: tuple[str, ...]  # demo accounts created now, with `password`
    existing: tuple[str, ...]  # demo accounts that existed already and were left as they were
    password: str | None  # the password of the accounts created now (None when none was)
    password_generated: bool  # True when `password` was generated because DEMO_PASSWORD is unset
    installations: bool  # whether the simulator's units and sensors were seeded (the simulator is on)
    units_added: int
    units_total: int
    sensors_added: int
    sensors_total: int


def generate_password() -> str:
    """A demo password that is easy to type from a printed banner (no look-alike characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def _columns(model: type[Sensor] | type[Unit], row: dict[str, Any]) -> dict[str, Any]:
    """Keep the keys that are columns of `model`: the simulator's rows may carry simulation parameters."""
    names = set(model.__table__.columns.keys())
    return {k: v for k, v in row.items() if k in names}


def bootstrap(config: Config, installations: bool | None = None) -> Seeded:
    """Upgrade the schema, create the missing demo accounts and (when `installations`, by default when the
    simulator is on) the simulator's missing units and sensors, and audit it; safe to run any number of times.
    ConfigError in production, which seeds nothing."""
    if config.production:
        raise ConfigError("production (DEPLOYMENT=production) seeds no demo account, unit or sensor: run "
                          "`dongcheng db upgrade`, then `dongcheng users create NAME --role admin`")
    installations = config.simulator if installations is None else installations
    # Hashed only for accounts created now; generated once for all of them.
    password = config.demo_password or generate_password()
    created: list[str] = []
    engine = make_engine(config.database_url)
    try:
        # The schema through its migrations (a database from before migrations is completed by the baseline first).
        schema.upgrade(engine)
        with session_scope(session_factory(engine)) as session:
            for username, role, display_name in DEMO_USERS:
                if store.users.add_user_if_missing(session, username, display_name, role, password):
                    created.append(username)
            units_added = sensors_added = 0
            if installations:
                units_added = store.units.seed_units(session, (_columns(Unit, u) for u in build_units()))
                fleet = build_sensors(count=config.sim_sensors)
                sensors_added = store.sensors.seed_sensors(session, (_columns(Sensor, s) for s in fleet))
            session.flush()
            units_total, sensors_total = store.units.count_units(session), store.sensors.count_sensors(session)
            existing = [username for username, _, _ in DEMO_USERS if username not in created]
            # Names and counts only: the password must never reach the audit log.
            store.audit_log.record(
                session,
                "system",
                "bootstrap",
                detail={
                    "users_created": created,
                    "users_existing": existing,
                    "units_added": units_added,
                    "sensors_added": sensors_added,
                    "units_total": units_total,
                    "sensors_total": sensors_total,
                },
            )
    finally:
        engine.dispose()
    return Seeded(
        created=tuple(created),
        existing=tuple(existing),
        password=password if created else None,
        password_generated=bool(created) and config.demo_password is None,
        installations=installations,
        units_added=units_added,
        units_total=units_total,
        sensors_added=sensors_added,
        sensors_total=sensors_total,
    )


def describe_accounts(seeded: Seeded, show_chosen: bool = False) -> list[str]:
    """What the banner and `dongcheng db bootstrap` say about the demo accounts, one line each; a generated
    password is shown (nobody knows it otherwise), DEMO_PASSWORD's value only with `show_chosen`."""
    names = {username: f"{username} ({display_name})" for username, _, display_name in DEMO_USERS}
    lines = []
    if seeded.created:
        if seeded.password_generated:
            password = f"password {seeded.password} (generated now; set DEMO_PASSWORD to choose)"
        elif show_chosen:
            password = f"password {seeded.password} (DEMO_PASSWORD)"
        else:
            password = "with the password set in DEMO_PASSWORD"
        lines.append(f"created now: {', '.join(names[u] for u in seeded.created)}, {password}")
    if seeded.existing:
        lines.append(f"existed already, left unchanged: {', '.join(names[u] for u in seeded.existing)} (their "
                     f"passwords are whatever was set; DEMO_PASSWORD applies only to accounts created now)")
    return lines


def bootstrap_command(_args: argparse.Namespace) -> int:
    """`dongcheng db bootstrap`: seed the demo into the database named by DATABASE_URL and say what it did."""
    try:
        config = Config.from_env()
        seeded = bootstrap(config)
    except ConfigError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"database: {make_url(sqlalchemy_url(config.database_url)).render_as_string(hide_password=True)}")
    if seeded.installations:
        print(f"units: {seeded.units_total} ({seeded.units_added} new), "
              f"sensors: {seeded.sensors_total} ({seeded.sensors_added} new)")
    else:
        print(f"units: {seeded.units_total}, sensors: {seeded.sensors_total} (none seeded: SIMULATOR=off)")
    for line in describe_accounts(seeded):
        print(f"demo accounts {line}")
    return 0
