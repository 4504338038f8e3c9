"""The demo's seeding (ops/bootstrap.py): accounts created when missing and never changed once they exist (a disabled
`admin` stays disabled, a changed password, role or name stays), the simulator's units and sensors only with the
simulator, nothing at all in production; instance secrets. On SQLite and PostgreSQL."""

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
from dashboard.config import PRODUCTION, Config, ConfigError
from dashboard.domain.rules import ROLES
from dashboard.services import admin
from dashboard.services.base import Actor
from dashboard.store.models import AuditLog, Sensor, Unit, User
from ops.bootstrap import DEMO_USERS, bootstrap, describe_accounts, generate_password
from ops.instance import apply_instance_secrets, load_or_create_secrets

# Bootstrap never touches Redis; the URL only fills the config.
UNUSED_REDIS = "redis://127.0.0.1:1/0"
NAMES = tuple(username for username, _, _ in DEMO_USERS)
# An administrator acting through the services, as the /admin page or `dongcheng users` would.
BOSS = Actor(None, "boss", admin.ADMIN_ROLE)


def _config(db_url: str, password: str | None, simulator: bool = True) -> Config:
    """A demo config on `db_url` with the given demo password (the simulator on, as `make run` has it)."""
    return replace(Config.for_tests(redis_url=UNUSED_REDIS, database_url=db_url), demo_password=password,
                   simulator=simulator)


def _count(session: Session, model: type[User] | type[Unit] | type[Sensor] | type[AuditLog]) -> int:
    """Rows of `model`."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _user(session: Session, username: str) -> User:
    """The user of that name (it must exist)."""
    user = store.users.user_by_name(session, username)
    assert user is not None
    return user


def test_the_first_start_creates_everything_and_a_second_changes_nothing(engine: Engine, db_url: str) -> None:
    first = bootstrap(_config(db_url, "first-pass"))
    second = bootstrap(_config(db_url, "second-pass"))

    assert (first.created, first.existing, first.password, first.password_generated) == (
        NAMES, (), "first-pass", False)
    assert first.installations and first.sensors_added == first.sensors_total >= 300
    assert first.units_added == first.units_total > 0
    # The second start: every account existed, no password applies to any, nothing new to register.
    assert (second.created, second.existing, second.password, second.password_generated) == ((), NAMES, None, False)
    assert second.sensors_added == 0 and second.units_added == 0
    assert (second.sensors_total, second.units_total) == (first.sensors_total, first.units_total)
    with Session(engine) as s:
        users = s.scalars(select(User)).all()
        assert sorted(u.username for u in users) == sorted(NAMES)
        assert {u.role for u in users} == set(ROLES)
        for user in users:
            assert "first-pass" not in user.password_hash and check_password_hash(user.password_hash, "first-pass")
            assert store.users.authenticate(s, user.username, "second-pass") is None
        assert _count(s, Sensor) == first.sensors_total and _count(s, Unit) == first.units_total
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "bootstrap").order_by(AuditLog.id)).all()
        assert [e.detail["users_created"] for e in entries] == [list(NAMES), []]
        assert [e.detail["users_existing"] for e in entries] == [[], list(NAMES)]
        assert all("pass" not in json.dumps(e.detail) for e in entries)


def test_a_restart_never_changes_an_account_an_administrator_changed(engine: Engine, db_url: str) -> None:
    """A disabled `admin` stays disabled; a changed password, role and display name stay; DEMO_PASSWORD of the
    restart opens nothing."""
    bootstrap(_config(db_url, "demo-pass-1"))
    with Session(engine) as s, s.begin():
        admin.create_user(s, BOSS, "boss", "Boss", "admin", "boss-pass-123")
        the_admin, duty, leader = _user(s, "admin"), _user(s, "duty"), _user(s, "leader")
        admin.set_active(s, BOSS, the_admin.id, False)
        admin.reset_password(s, BOSS, duty.id, "duty-own-pass-1")
        admin.change_role(s, BOSS, leader.id, "duty")
        leader.display_name = "王局"

    again = bootstrap(_config(db_url, "demo-pass-2"))

    assert again.created == () and again.existing == NAMES
    with Session(engine) as s:
        the_admin, duty, leader = _user(s, "admin"), _user(s, "duty"), _user(s, "leader")
        assert the_admin.active is False
        assert store.users.authenticate(s, "admin", "demo-pass-1") is None  # disabled: no password opens it
        assert store.users.authenticate(s, "duty", "duty-own-pass-1") is not None
        assert store.users.authenticate(s, "duty", "demo-pass-1") is None
        assert store.users.authenticate(s, "duty", "demo-pass-2") is None
        assert (leader.role, leader.display_name) == ("duty", "王局")
        assert store.users.authenticate(s, "dispatch", "demo-pass-1") is not None


def test_only_the_missing_accounts_are_created_and_the_banner_says_which(engine: Engine, db_url: str) -> None:
    """An `admin` made first from the command line is kept; the three others are created with the password."""
    with Session(engine) as s, s.begin():
        admin.create_user(s, BOSS, "admin", "Own admin", "admin", "own-admin-pass")
    seeded = bootstrap(_config(db_url, None, simulator=False))

    assert seeded.created == ("duty", "leader", "dispatch") and seeded.existing == ("admin",)
    assert seeded.password_generated and seeded.password is not None
    created, existing = describe_accounts(seeded)
    assert created.startswith("created now: duty (值班员), leader (领导), dispatch (调度员), password ")
    assert seeded.password in created and "generated" in created
    assert existing.startswith("existed already, left unchanged: admin (管理员)")
    assert "DEMO_PASSWORD applies only to accounts created now" in existing
    with Session(engine) as s:
        assert store.users.authenticate(s, "admin", "own-admin-pass") is not None
        assert store.users.authenticate(s, "admin", seeded.password) is None
        assert _user(s, "admin").display_name == "Own admin"
        assert store.users.authenticate(s, "leader", seeded.password) is not None


def test_a_chosen_password_is_named_not_shown_unless_asked(engine: Engine, db_url: str) -> None:
    seeded = bootstrap(_config(db_url, "chosen-pass", simulator=False))
    assert describe_accounts(seeded) == [
        "created now: duty (值班员), leader (领导), dispatch (调度员), admin (管理员), with the password set in "
        "DEMO_PASSWORD"]
    assert "chosen-pass (DEMO_PASSWORD)" in describe_accounts(seeded, show_chosen=True)[0]


def test_without_the_simulator_no_simulated_unit_or_sensor_is_seeded(engine: Engine, db_url: str) -> None:
    seeded = bootstrap(_config(db_url, "pass-12345", simulator=False))
    assert not seeded.installations and seeded.units_total == seeded.sensors_total == 0
    assert seeded.created == NAMES
    assert bootstrap(_config(db_url, "pass-12345"), installations=True).sensors_added >= 300


def test_production_seeds_nothing(engine: Engine, db_url: str) -> None:
    config = replace(_config(db_url, "pass-12345"), deployment=PRODUCTION, simulator=False)
    with pytest.raises(ConfigError, match="seeds no demo account"):
        bootstrap(config)
    with Session(engine) as s:
        assert [_count(s, m) for m in (User, Unit, Sensor, AuditLog)] == [0, 0, 0, 0]


def test_generated_passwords_differ() -> None:
    """Generated passwords are random and long enough."""
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20 and min(len(p) for p in passwords) >= 12


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
