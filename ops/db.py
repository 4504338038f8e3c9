"""The database as the command line opens it (DATABASE_URL's), and `dongcheng db upgrade|current|downgrade`: the
schema's Alembic revisions by command (dashboard.store.schema).

In the demo the user and token commands upgrade the schema first, so that a first administrator can be created
on a new database; in production they only check that it is at the newest revision (`dongcheng db upgrade` is
the one command that alters tables there) and need DATABASE_URL set, as every database command does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard.config import Config
from dashboard.store import schema
from dashboard.store.engine import make_engine, session_factory, session_scope, sqlalchemy_url


def _config() -> Config:
    """The environment's configuration; in production DATABASE_URL must be set (ConfigError otherwise)."""
    config = Config.from_env()
    config.require("DATABASE_URL")
    return config


@contextmanager
def cli_session() -> Iterator[Session]:
    """A session on the environment's database, committed when the block ends without an exception;
    SchemaNotCurrent in production when the database is not at the newest revision."""
    config = _config()
    engine = make_engine(config.database_url)
    try:
        if config.production:
            schema.require_head(engine)
        else:
            # A first administrator may be created before anything else ran on a new demo database.
            schema.upgrade(engine)
        with session_scope(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _shown(config: Config) -> str:
    """The database URL without its password."""
    return make_url(sqlalchemy_url(config.database_url)).render_as_string(hide_password=True)


def _at(revision: str | None) -> str:
    """A revision as the commands print it."""
    if revision is None:
        return "none (no revision: an empty database, or one made before migrations)"
    return f"{revision} (the newest)" if revision == schema.head() else revision


def _move(name: str, done: str, to: Callable[[Engine], str | None]) -> int:
    """`dongcheng db NAME`: take DATABASE_URL's database to another revision with `to` and say where it is."""
    config = _config()
    engine = make_engine(config.database_url)
    try:
        before = schema.current(engine)
        after = to(engine)
    except (CommandError, RevisionError, SQLAlchemyError) as exc:
        print(f"dongcheng db {name}: failed: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"database: {_shown(config)}")
    if before == after:
        print(f"unchanged at revision {_at(after)}")
    else:
        print(f"{done} from revision {before or 'none'} to {_at(after)}")
    return 0


def upgrade_command(args: argparse.Namespace) -> int:
    """`dongcheng db upgrade [REVISION]`: bring the database to REVISION (default the newest)."""
    return _move("upgrade", "upgraded", lambda engine: schema.upgrade(engine, args.revision))


def downgrade_command(args: argparse.Namespace) -> int:
    """`dongcheng db downgrade REVISION`: take the database back to REVISION (e.g. -1, or a revision id)."""
    return _move("downgrade", "downgraded", lambda engine: schema.downgrade(engine, args.revision))


def current_command(args: argparse.Namespace) -> int:
    """`dongcheng db current [--check]`: the revision the database is at and the newest; with --check, status 1
    when they differ."""
    config = _config()
    engine = make_engine(config.database_url)
    try:
        at = schema.current(engine)
    except SQLAlchemyError as exc:
        print(f"dongcheng db current: cannot read the revision: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    newest = schema.head()
    print(f"database: {_shown(config)}")
    print(f"current: {_at(at)}")
    if at != newest:
        print(f"newest:  {newest} (run `dongcheng db upgrade`)")
    return 1 if args.check and at != newest else 0

