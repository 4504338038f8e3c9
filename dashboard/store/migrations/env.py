"""Alembic's environment: migrations run on the connection dashboard.store.schema hands over (or on DATABASE_URL
when the alembic command line is used), against the models' metadata; SQLite alters tables in batch mode (it can
drop or change a column only by copying the table)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dashboard.config import Config
from dashboard.store.engine import make_engine
from dashboard.store.models import Base
from dashboard.store.schema import include_object

TARGET = Base.metadata


def _run(connection: Connection) -> None:
    """Configure the context on `connection` and run the migrations in one transaction."""
    context.configure(
        connection=connection,
        target_metadata=TARGET,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the given connection, else through a fresh engine on DATABASE_URL."""
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = make_engine(Config.from_env().database_url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run them against a database")
run_online()
