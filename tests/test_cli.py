"""`dongcheng`, the one command line: every command's --help, the user and token commands against a real database
(SQLite and PostgreSQL) with their audit entries, the RQ processes as the runner starts them, and the tick."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.config import PRODUCTION_REQUIRED, ROOT
from dashboard.live import keys
from dashboard.store import schema
from dashboard.store.engine import make_engine
from dashboard.store.models import AuditLog, User
from ops import bench as bench_mod
from ops.cli import main as dongcheng

# Every command and sub-command with options its --help must name.
HELP: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("run", "cluster", "db", "users", "tokens", "history", "worker", "scheduler", "exporter", "mqtt", "simulate",
         "tick", "bench-tick", "bench", "--version"),
    ("cluster",): ("--dir", "--rate", "--web-workers", "--rq-workers", "sentinels", "nginx"),
    ("run",): ("REDIS_URL", "DATABASE_URL", "SIMULATOR", "PORT", "INGEST_PORT", "DEPLOYMENT", "SECRET_KEY",
               "INGEST_TOKEN", "dongcheng db upgrade", "MQTT_URL"),
    ("db",): ("upgrade", "current", "downgrade", "bootstrap"),
    ("db", "upgrade"): ("REVISION", "DATABASE_URL", "head"),
    ("db", "current"): ("--check", "DATABASE_URL"),
    ("db", "downgrade"): ("REVISION", "DATABASE_URL", "base"),
    ("db", "bootstrap"): ("DATABASE_URL", "DEMO_PASSWORD", "SIMULATOR", "never changed", "DEPLOYMENT=production"),
    ("users",): ("list", "create", "set-password", "set-role", "disable", "enable"),
    ("users", "list"): ("--help",),
    ("users", "create"): ("username", "--role", "--display-name", "--password-stdin", "admin"),
    ("users", "set-password"): ("username", "--password-stdin"),
    ("users", "set-role"): ("username", "role", "dispatch"),
    ("users", "disable"): ("username",),
    ("users", "enable"): ("username",),
    ("tokens",): ("create", "list", "revoke"),
    ("tokens", "create"): ("username", "name"),
    ("tokens", "list"): ("username",),
    ("tokens", "revoke"): ("id",),
    ("history",): ("rebuild", "rollup"),
    ("history", "rebuild"): ("--day", "DATABASE_URL", "REDIS_URL"),
    ("history", "rollup"): ("--help",),
    ("worker",): ("--dry-run", "RQ_OPTION", "REDIS_URL", "RQ_LOG_LEVEL"),
    ("scheduler",): ("--dry-run", "RQ_OPTION", "REDIS_URL"),
    ("exporter",): ("--host", "--port", "METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"),
    ("mqtt",): ("MQTT_URL", "MQTT_TOPIC_PREFIX", "MQTT_CLIENT_ID", "REDIS_URL", "DATABASE_URL"),
    ("simulate",): ("--url", "--rate", "--seed", "--token", "--transport", "SIM_TRANSPORT"),
    ("tick",): ("--help",),
    ("bench-tick",): ("--events", "--ticks", "--sensors", "--redis-url"),
}
PASSWORD = "cli-pass-123"
# A production environment but DATABASE_URL (each test gives its own database).
PRODUCTION_ENV = {"SECRET_KEY": "k" * 32, "INGEST_TOKEN": "t" * 32, "DATABASE_URL": "sqlite:////nonexistent/dc.db"}


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    """The help text of `command`, asserting that it exits 0."""
    with pytest.raises(SystemExit) as exc:
        dongcheng([*command, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "dongcheng")
def test_every_command_has_help_naming_its_options(command: tuple[str, ...],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, *command)
    for word in HELP[command]:
        assert word in text, (command, word, text)


def test_the_table_above_covers_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """A new command fails here until its --help is checked too."""
    lines = _help(capsys).splitlines()
    listed = {line.split()[0] for line in lines if line.startswith("    ") and not line.startswith("     ")}
    # `bench` replaces the process with bench/run.py: its help is checked in a subprocess below.
    assert {c[0] for c in HELP if c} | {"bench"} == listed


def test_the_benchmark_passes_its_own_help_through_from_a_checkout() -> None:
    proc = subprocess.run([sys.executable, "-m", "ops.cli", "bench", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--only" in proc.stdout


def test_the_benchmark_says_it_needs_a_checkout_when_bench_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_mod, "BENCH_RUN", tmp_path / "bench" / "run.py")
    assert dongcheng(["bench", "--help"]) == 0
    assert "source checkout" in capsys.readouterr().out
    assert dongcheng(["bench", "--quick"]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "dongcheng"
    if not script.exists():
        pytest.skip("the project is not installed in this interpreter's environment")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "bench-tick" in proc.stdout, proc.stderr


# --- users and tokens against a real database ------------------------------------------------------


@pytest.fixture
def cli_db(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> sessionmaker[Session]:
    """DATABASE_URL of a fresh, empty database (no user at all) for the commands; a sessionmaker to look."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    return sessionmaker(engine)


def _users(monkeypatch: pytest.MonkeyPatch, *args: str, password: str | None = None) -> int:
    """Run `dongcheng users …`, giving `password` on standard input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n" if password is not None else ""))
    return dongcheng(["users", *args])


def _audit(sessions: sessionmaker[Session], action: str) -> list[AuditLog]:
    """Audit entries of `action`, oldest first."""
    with sessions() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_users_commands_make_a_first_admin_and_manage_users_through_the_audited_service(
    cli_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _users(monkeypatch, "create", "chief", "--role", "admin", "--display-name", "Chief",
                  "--password-stdin", password=PASSWORD) == 0
    assert _users(monkeypatch, "create", "Wang", "--role", "duty", "--password-stdin", password=PASSWORD) == 0
    capsys.readouterr()
    assert _users(monkeypatch, "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1:4] for line in listing] == [["chief", "admin", "active"], ["wang", "duty", "active"]]
    assert PASSWORD not in "".join(listing)

    assert _users(monkeypatch, "set-password", "wang", "--password-stdin", password="another-pass-456") == 0
    assert _users(monkeypatch, "set-role", "wang", "dispatch") == 0
    assert _users(monkeypatch, "disable", "wang") == 0
    with cli_db() as s:
        assert store.users.authenticate(s, "chief", PASSWORD) is not None
        assert store.users.authenticate(s, "wang", "another-pass-456") is None  # disabled
        wang = store.users.user_by_name(s, "wang")
        assert wang is not None and wang.role == "dispatch" and not wang.active
    assert _users(monkeypatch, "enable", "wang") == 0
    with cli_db() as s:
        assert store.users.authenticate(s, "wang", "another-pass-456") is not None

    for op in ("create", "reset_password", "change_role", "disable", "enable"):
        entries = _audit(cli_db, f"admin_user_{op}")
        assert entries and all(e.actor == "cli" and e.outcome == "ok" for e in entries), op
        assert all(PASSWORD not in json.dumps(e.detail) for e in entries)
    assert [e.target_id for e in _audit(cli_db, "admin_user_create")] == ["chief", "wang"]


def test_users_commands_are_refused_like_the_admin_page_and_the_refusal_is_audited(
    cli_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _users(monkeypatch, "create", "chief", "--role", "admin", "--password-stdin", password=PASSWORD) == 0
    capsys.readouterr()
    # The last active administrator is never disabled or demoted.
    assert _users(monkeypatch, "disable", "chief") == 1
    assert "last active administrator" in capsys.readouterr().err
    assert _users(monkeypatch, "set-role", "chief", "duty") == 1
    # A short password, a taken name, an unknown user; no password at all.
    assert _users(monkeypatch, "create", "li", "--role", "duty", "--password-stdin", password="short") == 1
    assert "password" in capsys.readouterr().err
    assert _users(monkeypatch, "create", "chief", "--role", "duty", "--password-stdin", password=PASSWORD) == 1
    assert _users(monkeypatch, "disable", "nobody") == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    assert _users(monkeypatch, "create", "li", "--role", "duty", "--password-stdin") == 1
    assert _users(monkeypatch, "create", "li", "--role", "duty") == 1  # stdin is no terminal: never prompts
    assert "--password-stdin" in capsys.readouterr().err

    with cli_db() as s:
        assert [u.username for u in s.scalars(select(User))] == ["chief"]
        chief = store.users.user_by_name(s, "chief")
        assert chief is not None and chief.active and chief.role == "admin"
    refused = {(e.action, e.detail["code"]) for e in _audit(cli_db, "admin_user_disable")
               + _audit(cli_db, "admin_user_change_role") + _audit(cli_db, "admin_user_create")
               if e.outcome == "refused"}
    assert refused == {("admin_user_disable", "last_admin"), ("admin_user_change_role", "last_admin"),
                       ("admin_user_create", "invalid"), ("admin_user_create", "username_taken")}


def test_tokens_commands_are_audited(cli_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert _users(monkeypatch, "create", "gis", "--role", "dispatch", "--password-stdin", password=PASSWORD) == 0
    assert dongcheng(["tokens", "create", "gis", "gis-sync"]) == 0
    plaintext = capsys.readouterr().out.strip().splitlines()[-1]
    with cli_db() as s:
        [token] = store.users.list_api_tokens(s)
    assert dongcheng(["tokens", "list"]) == 0
    assert f"{token.id}\tgis\tgis-sync" in capsys.readouterr().out
    assert dongcheng(["tokens", "revoke", str(token.id)]) == 0
    [created] = _audit(cli_db, "api_token_create")
    [revoked] = _audit(cli_db, "api_token_revoke")
    assert (created.actor, created.target_id) == ("gis", str(token.id))
    assert (revoked.actor, revoked.target_id) == ("cli", str(token.id))
    assert plaintext not in json.dumps([created.detail, revoked.detail])


def test_db_bootstrap_seeds_the_demo_and_says_so(cli_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    assert dongcheng(["db", "bootstrap"]) == 0
    out = capsys.readouterr().out
    assert "demo accounts created now: duty (值班员), leader (领导), dispatch (调度员), admin (管理员)" in out
    assert "demo-password" not in out and "units: " in out
    assert _users(monkeypatch, "set-password", "admin", "--password-stdin", password="admin-own-pass") == 0
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-password")
    assert dongcheng(["db", "bootstrap"]) == 0
    assert "demo accounts existed already, left unchanged: duty (值班员)" in capsys.readouterr().out
    with cli_db() as s:
        assert store.users.authenticate(s, "admin", "admin-own-pass") is not None
        assert store.users.authenticate(s, "duty", "demo-password") is not None
    assert len(_audit(cli_db, "bootstrap")) == 2


# --- the schema by command; production's database commands ----------------------------------------------------


@pytest.fixture
def bare_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL of an empty database (no table at all) for the commands."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield db_url


def _revision(db_url: str) -> str | None:
    """The schema revision the database is at."""
    engine = make_engine(db_url)
    try:
        return schema.current(engine)
    finally:
        engine.dispose()


def test_db_commands_upgrade_show_and_downgrade_the_schema(bare_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    head, previous = schema.revisions()[:2]
    assert dongcheng(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert "current: none" in out and f"newest:  {head} (run `dongcheng db upgrade`)" in out
    assert dongcheng(["db", "current", "--check"]) == 1
    capsys.readouterr()

    assert dongcheng(["db", "upgrade"]) == 0
    assert f"upgraded from revision none to {head} (the newest)" in capsys.readouterr().out
    assert _revision(bare_db) == head
    assert dongcheng(["db", "upgrade"]) == 0
    assert f"unchanged at revision {head} (the newest)" in capsys.readouterr().out
    assert dongcheng(["db", "current", "--check"]) == 0
    assert f"current: {head} (the newest)" in capsys.readouterr().out

    assert dongcheng(["db", "downgrade", "-1"]) == 0
    assert f"downgraded from revision {head} to {previous}" in capsys.readouterr().out
    assert _revision(bare_db) == previous
    assert dongcheng(["db", "current", "--check"]) == 1
    capsys.readouterr()
    assert dongcheng(["db", "upgrade", head]) == 0
    assert _revision(bare_db) == head

    assert dongcheng(["db", "downgrade", "no-such-revision"]) == 1
    assert "no-such-revision" in capsys.readouterr().err
    assert _revision(bare_db) == head


def test_production_makes_its_first_administrator_on_a_fresh_upgraded_database(
    bare_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEPLOYMENT", "production")
    # Before the upgrade the user commands refuse, naming the command: in production they never alter tables.
    assert _users(monkeypatch, "create", "chief", "--role", "admin", "--password-stdin", password=PASSWORD) == 1
    assert "run `dongcheng db upgrade` first" in capsys.readouterr().err
    assert _revision(bare_db) is None

    assert dongcheng(["db", "upgrade"]) == 0
    assert _users(monkeypatch, "create", "chief", "--role", "admin", "--password-stdin", password=PASSWORD) == 0
    capsys.readouterr()
    assert _users(monkeypatch, "list") == 0
    assert [line.split("\t")[1:4] for line in capsys.readouterr().out.splitlines()] == [["chief", "admin", "active"]]
    engine = make_engine(bare_db)
    try:
        with Session(engine) as s:
            assert store.users.authenticate(s, "chief", PASSWORD) is not None
            [created] = s.scalars(select(AuditLog).where(AuditLog.action == "admin_user_create")).all()
            assert (created.actor, created.target_id, created.outcome) == ("cli", "chief", "ok")
            assert s.scalars(select(AuditLog).where(AuditLog.action == "bootstrap")).all() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "current"), ("db", "downgrade", "-1"),
                                     ("users", "list"), ("tokens", "list"), ("tick",),
                                     ("history", "rebuild"), ("history", "rollup")], ids=" ".join)
def test_production_database_commands_need_database_url(command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Production has no database of its own: never the demo's SQLite under instance/ by default."""
    monkeypatch.setenv("DEPLOYMENT", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert dongcheng(list(command)) == 1
    assert "needs DATABASE_URL" in capsys.readouterr().err


def test_production_seeds_and_simulates_nothing_by_command(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEPLOYMENT", "production")
    assert dongcheng(["db", "bootstrap"]) == 1
    assert "seeds no demo account" in capsys.readouterr().err
    assert dongcheng(["simulate", "--rate", "1"]) == 1
    assert "the simulator is the demo's" in capsys.readouterr().err


@pytest.mark.parametrize("process", ["worker", "scheduler"])
@pytest.mark.parametrize("missing", PRODUCTION_REQUIRED)
def test_production_workers_refuse_to_start_without_each_setting_naming_it(
    process: str, missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**PRODUCTION_ENV, "DEPLOYMENT": "production"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    assert dongcheng([process, "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert f"dongcheng {process}: refused to start" in err and missing in err


def test_production_workers_refuse_a_database_not_upgraded_and_start_on_one_that_is(
    bare_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**PRODUCTION_ENV, "DEPLOYMENT": "production", "DATABASE_URL": bare_db}.items():
        monkeypatch.setenv(name, value)
    for process in ("worker", "scheduler"):
        assert dongcheng([process, "--dry-run"]) == 1
        assert "run `dongcheng db upgrade` first" in capsys.readouterr().err
    assert dongcheng(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert dongcheng(["worker", "--dry-run"]) == 0
    assert dongcheng(["scheduler", "--dry-run"]) == 0
    # Production's scheduler never loads the demo's cron (the simulated units' movement).
    assert "cron workers.cron" in capsys.readouterr().out


# --- the RQ processes and the tick -------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`dongcheng …` in a subprocess (the worker and the scheduler replace their process with rq)."""
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_the_worker_is_a_simple_worker_on_the_product_queues_with_the_url_kept_off_argv(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "RQ_LOG_LEVEL": "info"}
    shown = _cli("worker", "--dry-run", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "--worker-class workers.rq_processes.Worker" in shown.stdout  # a SimpleWorker that re-registers
    assert f"{keys.QUEUE_TICK} {keys.QUEUE_DEFAULT}" in shown.stdout
    assert "--logging_level INFO" in shown.stdout and redis_url not in shown.stdout

    job = Queue(keys.QUEUE_DEFAULT, connection=redis.Redis.from_url(redis_url)).enqueue("time.time", result_ttl=60)
    ran = _cli("worker", "--", "--burst", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert job.get_status(refresh=True) == "finished"


def test_the_scheduler_loads_the_product_cron_configuration(redis_url: str) -> None:
    shown = _cli("scheduler", "--dry-run", env={"REDIS_URL": redis_url, "SIMULATOR": "off"})
    assert shown.returncode == 0, shown.stderr
    assert "-m workers.rq_processes cron workers.cron -l WARNING" in shown.stdout and redis_url not in shown.stdout


def test_tick_runs_one_tick_and_prints_json(engine: Engine, db_url: str, redis_url: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert dongcheng(["tick"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ok"


def test_bench_tick_times_ticks_on_an_empty_database_and_refuses_a_used_one(
    redis_url: str, r: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dongcheng(["bench-tick", "--redis-url", redis_url, "--events", "50", "--ticks", "2", "--sensors", "20"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["ticks"] == 2 and figures["tick_ms_p50"] > 0
    assert r.dbsize() == 0  # it empties what it filled
    r.set("someone-else", "1")
    assert dongcheng(["bench-tick", "--redis-url", redis_url, "--ticks", "1"]) == 2
