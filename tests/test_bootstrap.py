"""Bootstrap: idempotent tables, demo accounts with hashed passwords, units, sensors; instance secrets."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from dashboard import store
from dashboard.config import Config
from dashboard.domain.rules import ROLES
from dashboard.store.models import AuditLog, Sensor, Unit, User
from ops.bootstrap import DEMO_USERS, bootstrap, generate_password
from ops.instance import apply_instance_secrets, load_or_create_secrets

# Bootstrap never touches Redis; the URL only fills the config.
UNUSED_REDIS = "redis://127.0.0.1:1/0"


def _config(db_url: str, password: str | None) -> Config:
    """A test config on `db_url` with the given demo password."""
    return replace(Config.for_tests(redis_url=UNUSED_REDIS, database_url=db_url), demo_password=password)


def _count(session: Session, model: type[User] | type[Unit] | type[Sensor] | type[AuditLog]) -> int:
    """Rows of `model`."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_bootstrap_is_idempotent_and_seeds_everything(engine: Engine, db_url: str) -> None:
    """Two runs give one set of users, units and sensors, and two audit entries."""
    first = bootstrap(_config(db_url, "first-pass"))
    second = bootstrap(_config(db_url, "first-pass"))

    assert first["sensors_total"] >= 300
    assert first["sensors_added"] == first["sensors_total"]
    assert first["units_total"] > 0
    assert second["sensors_added"] == 0 and second["units_added"] == 0
    assert second["sensors_total"] == first["sensors_total"]
    assert second["units_total"] == first["units_total"]
    with Session(engine) as s:
        users = s.scalars(select(User)).all()
        assert sorted(u.username for u in users) == sorted(u for u, _, _ in DEMO_USERS)
        assert {u.role for u in users} == set(ROLES)
        for user in users:
            assert user.password_hash != "first-pass"
            assert "first-pass" not in user.password_hash
            assert check_password_hash(user.password_hash, "first-pass")
            assert store.users.authenticate(s, user.username, "first-pass") is not None
        assert _count(s, Sensor) == first["sensors_total"] >= 300
        assert _count(s, Unit) == first["units_total"]
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "bootstrap")).all()
        assert len(entries) == 2
        assert all("first-pass" not in json.dumps(e.detail) for e in entries)


def test_each_run_sets_its_password(engine: Engine, db_url: str) -> None:
    """A new demo password (the runner generates one per start) replaces the old one."""
    bootstrap(_config(db_url, "old-password"))
    bootstrap(_config(db_url, "new-password"))
    with Session(engine) as s:
        assert store.users.authenticate(s, "duty", "new-password") is not None
        assert store.users.authenticate(s, "duty", "old-password") is None


def test_generated_password_when_unset(engine: Engine, db_url: str) -> None:
    """Without DEMO_PASSWORD a password is generated, returned once, and only its hash is stored."""
    result = bootstrap(_config(db_url, None))
    assert result["password_generated"] is True
    password = result["demo_password"]
    assert len(password) >= 12
    with Session(engine) as s:
        for username, _, _ in DEMO_USERS:
            assert store.users.authenticate(s, username, password) is not None


def test_generated_passwords_differ() -> None:
    """Generated passwords are random."""
    assert len({generate_password() for _ in range(20)}) == 20


def test_secrets_are_created_private_and_stable(tmp_path: Path) -> None:
    """secrets.json is created once, mode 0600, and read back unchanged."""
    first = load_or_create_secrets(tmp_path)
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(first) == {"SECRET_KEY", "INGEST_TOKEN"}
    assert all(len(v) >= 32 for v in first.values())
    assert load_or_create_secrets(tmp_path) == first
    assert not list(tmp_path.glob(".secrets.*"))


def test_environment_wins_over_the_secrets_file(tmp_path: Path) -> None:
    """A SECRET_KEY set in the environment is kept; an unset INGEST_TOKEN comes from the file."""
    stored = load_or_create_secrets(tmp_path)
    env = {"SECRET_KEY": "from-env"}
    apply_instance_secrets(env, tmp_path)
    assert env == {"SECRET_KEY": "from-env", "INGEST_TOKEN": stored["INGEST_TOKEN"]}


def test_broken_secrets_file_is_an_error(tmp_path: Path) -> None:
    """A damaged secrets file is reported, not silently replaced (that would invalidate ingest tokens)."""
    (tmp_path / "secrets.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="delete it"):
        load_or_create_secrets(tmp_path)
