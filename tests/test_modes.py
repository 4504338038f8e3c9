"""The web application in each mode: production's app refuses to start without SECRET_KEY, INGEST_TOKEN or
DATABASE_URL (naming it), generates none of them (not even from the demo's instance/secrets.json), and refuses a
database not at the newest revision; the demo starts with nothing set. (The runner's modes: tests/test_runner.py;
the worker's and the commands': tests/test_cli.py; the settings: tests/test_config.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.config import PRODUCTION, PRODUCTION_REQUIRED, ROOT, Config, ConfigError
from dashboard.store import schema
from dashboard.store.engine import make_engine
from dashboard.store.models import User
from dashboard.store.schema import SchemaNotCurrent
from dashboard.web import create_app


def _production(config: Config) -> Config:
    """`config` in production (the simulator off, as production has it)."""
    return replace(config, deployment=PRODUCTION, simulator=False)


@pytest.mark.parametrize("missing", PRODUCTION_REQUIRED)
def test_the_production_app_refuses_to_start_without_each_setting_naming_it(missing: str, redis_url: str,
                                                                          tmp_path: Path) -> None:
    field = {"SECRET_KEY": "secret_key", "INGEST_TOKEN": "ingest_token", "DATABASE_URL": "database_url"}[missing]
    config = _production(Config.for_tests(redis_url, f"sqlite:///{tmp_path / 'unused.db'}"))
    with pytest.raises(ConfigError, match=missing):
        create_app(replace(config, **{field: ""}))


def test_the_production_app_refuses_a_database_not_at_the_newest_revision(redis_url: str, db_url: str) -> None:
    config = _production(Config.for_tests(redis_url, db_url))
    engine = make_engine(db_url)
    try:
        with pytest.raises(SchemaNotCurrent, match=r"not migrated .* run `dongcheng db upgrade` first"):
            create_app(config)
        schema.upgrade(engine, schema.revisions()[1])
        with pytest.raises(SchemaNotCurrent, match=f"at revision {schema.revisions()[1]}; .* needs revision"):
            create_app(config)
        schema.upgrade(engine)
        app = create_app(config)
        assert app.test_client().get("/login").status_code == 200
        # Starting altered and created nothing.
        assert schema.current(engine) == schema.head()
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(User)) == 0
        app.extensions["dc_redis"].close()
    finally:
        engine.dispose()


def _import_wsgi(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import ops.wsgi (what gunicorn does) in a fresh interpreter with `env` over a clean environment."""
    base = {k: v for k, v in os.environ.items() if k not in (*PRODUCTION_REQUIRED, "DEPLOYMENT", "SIMULATOR")}
    return subprocess.run([sys.executable, "-c", "import ops.wsgi"], cwd=ROOT,
                          env={**base, "INSTANCE_DIR": str(tmp_path / "instance"), **env},
                          capture_output=True, text=True, timeout=120)


def test_the_production_wsgi_app_takes_no_secret_from_the_demo_instance(tmp_path: Path, redis_url: str) -> None:
    """gunicorn's import refuses, saying which setting, even beside a demo's instance/secrets.json."""
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secrets.json").write_text(json.dumps({"SECRET_KEY": "s" * 64, "INGEST_TOKEN": "t" * 32}))
    done = _import_wsgi(tmp_path, DEPLOYMENT="production", INGEST_TOKEN="t" * 32, REDIS_URL=redis_url,
                        DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}")
    assert done.returncode != 0
    first = done.stderr.splitlines()[0]
    assert first.startswith("dongcheng web: refused to start:") and "SECRET_KEY" in first
    assert "INGEST_TOKEN" not in first and "DATABASE_URL" not in first


def test_the_demo_wsgi_app_starts_with_nothing_set(tmp_path: Path, redis_url: str) -> None:
    """The demo's secrets are generated once into the instance."""
    done = _import_wsgi(tmp_path, REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}")
    assert done.returncode == 0, done.stderr
    assert set(json.loads((tmp_path / "instance" / "secrets.json").read_text())) == {"SECRET_KEY", "INGEST_TOKEN"}
