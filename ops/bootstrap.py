"""Idempotent set-up of a database: tables, demo accounts, units and sensors, and an audit entry.

Run by `python -m ops.runner` before it starts any child, or by hand with `python -m ops.bootstrap`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, make_url, select

from dashboard import store
from dashboard.config import INSTANCE_DIR, Config
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


# Secrets that must survive restarts (sessions stay valid, external sources keep their token).
PERSISTED_SECRETS: tuple[str, ...] = ("SECRET_KEY", "INGEST_TOKEN")


def load_or_create_secrets(instance_dir: Path = INSTANCE_DIR) -> dict[str, str]:
    """SECRET_KEY and INGEST_TOKEN from `instance_dir`/secrets.json (mode 0600), created on first use."""
    path = instance_dir / "secrets.json"
    instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fresh = {"SECRET_KEY": secrets.token_hex(32), "INGEST_TOKEN": secrets.token_urlsafe(32)}
        tmp = instance_dir / f".secrets.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(fresh, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if another process (a second gunicorn worker) created the file first: theirs wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{path} is not valid JSON ({exc}); delete it to generate new secrets") from exc
    missing = [k for k in PERSISTED_SECRETS if not isinstance(stored.get(k), str) or not stored[k]]
    if missing:
        raise RuntimeError(f"{path} lacks {', '.join(missing)}; delete it to generate new secrets")
    return {k: stored[k] for k in PERSISTED_SECRETS}


def apply_instance_secrets(env: MutableMapping[str, str], instance_dir: Path = INSTANCE_DIR) -> None:
    """Fill SECRET_KEY and INGEST_TOKEN in `env` from the instance's secrets file when they are unset."""
    if all(env.get(k) for k in PERSISTED_SECRETS):
        return
    for key, value in load_or_create_secrets(instance_dir).items():
        if not env.get(key):
            env[key] = value


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
        # The schema through its migrations (a database from before migrations is stamped at the baseline first).
        schema.upgrade(engine)
        with session_scope(session_factory(engine)) as session:
            for username, role, display_name in DEMO_USERS:
                store.users.upsert_user(session, username, display_name, role, password)
            units_added = store.units.seed_units(session, (_columns(Unit, u) for u in build_units()))
            sensors_added = store.sensors.seed_sensors(session, (_columns(Sensor, s) for s in build_sensors()))
            session.flush()
            units_total = int(session.scalar(select(func.count()).select_from(Unit)) or 0)
            sensors_total = int(session.scalar(select(func.count()).select_from(Sensor)) or 0)
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


def main(argv: list[str] | None = None) -> int:
    """CLI: bootstrap the database named by DATABASE_URL and print the demo accounts."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.bootstrap",
        description="Create tables and seed demo users, units and sensors (idempotent). "
        "Uses DATABASE_URL and DEMO_PASSWORD from the environment; without DEMO_PASSWORD a password "
        "is generated and printed.",
    )
    parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
