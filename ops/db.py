"""The database as the command line opens it: DATABASE_URL's, with its tables created or upgraded first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from dashboard.config import Config
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory, session_scope


@contextmanager
def cli_session() -> Iterator[Session]:
    """A session on the environment's database, committed when the block ends without an exception."""
    engine = make_engine(Config.from_env().database_url)
    try:
        # A first administrator may be created before anything else ran on a new database.
        schema.upgrade(engine)
        with session_scope(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()
