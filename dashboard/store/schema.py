"""The database schema's life: Alembic migrations (dashboard/store/migrations) bring any database to the models'
schema, and `upgrade` is what a start or `dongcheng db upgrade` runs.

A database made before the project had migrations (its tables exist, but no `alembic_version`) is completed by
the baseline revision the way those releases did at every start (missing tables, columns and indexes are added),
and from there every change is a revision. A database created whole from the models (`init_db`: tests, tools) is
stamped at the newest revision.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard.config import Config, ConfigError
from dashboard.store.engine import make_engine
from dashboard.store.models import Base
from dashboard.store.telemetry import PARTITION_PREFIX

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
# The revision equal to the schema the releases before migrations created.
BASELINE: Final = "0001"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's filter of what autogenerate compares: everything but the day partitions of the telemetry roll-ups,
    which the roll-up job makes and drops (dashboard/store/telemetry.py), never a migration."""
    return not (type_ == "table" and reflected and compare_to is None and (name or "").startswith(PARTITION_PREFIX))


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic's configuration for this project, running on `connection` when given (else on DATABASE_URL)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None
    return found


def revisions() -> list[str]:
    """Every revision this release knows, newest first."""
    return [script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()]


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: no migrations ran yet)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class SchemaNotCurrent(ConfigError):
    """The database is not at the newest revision, or could not say which it is at."""


def require_head(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at the newest revision: what a production start checks
    instead of upgrading (it never alters tables)."""
    newest = head()
    try:
        at = current(engine)
    except SQLAlchemyError as exc:
        raise SchemaNotCurrent(f"cannot read the database's schema revision ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0]})") from exc
    if at is not None and at not in revisions():
        raise SchemaNotCurrent(f"the database is at revision {at}, which this release does not know (a newer "
                               f"release's?); this release needs revision {newest}")
    if at != newest:
        where = f"at revision {at}" if at else "not migrated (no revision)"
        raise SchemaNotCurrent(f"the database is {where}; this release needs revision {newest}: run "
                               f"`dongcheng db upgrade` first (in production nothing else alters tables)")


def check_start(config: Config) -> None:
    """Raise ConfigError (SchemaNotCurrent for the database) unless a server or a worker may start with `config`:
    its settings' own check, and in production the database at the newest revision (a demo start upgrades it)."""
    config.check_start()
    if config.production:
        engine = make_engine(config.database_url)
        try:
            require_head(engine)
        finally:
            engine.dispose()


def init_db(engine: Engine) -> None:
    """Create every table and index of the models that does not exist yet and mark the database at the newest
    revision: the quick way to a current schema for a fresh database (tests, tools); starts use `upgrade`."""
    Base.metadata.create_all(engine)
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    if current(engine) is None:
        with engine.begin() as conn:
            command.stamp(alembic_config(conn), "head")


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database to `revision` (default the newest); return the revision it is at afterwards.

    A database of the releases before migrations is stamped at the baseline first (see the module docstring).
    Safe to run at every start: at the revision already, it does nothing.
    """
    if current(engine) is None and set(inspect(engine).get_table_names()) & set(Base.metadata.tables):
        log.info("a database made before migrations: the baseline %s completes it, then the revisions follow", BASELINE)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    return current(engine)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Take the database back to `revision` (e.g. "-1"); return the revision it is at afterwards."""
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)
    return current(engine)


def ping(session: Session) -> None:
    """Raise when the database cannot answer a trivial query."""
    session.execute(text("SELECT 1"))
