"""The system of record's outages, said once (dashboard.outage): `DATABASE` is this process's record, `is_unavailable`
tells the database being away from a refused statement, `absorb` lets a job return instead of failing while it is
away.

`watch(engine)` (called by `make_engine`) tells the record when a statement succeeds, so an outage ends by itself at
the first statement that works, whoever runs it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc

from dashboard.outage import Outage

log = logging.getLogger(__name__)


# The database cannot be reached or does not answer: the server is down, restarting or out of connections, the
# network is cut, the pool waited in vain, SQLite cannot open or lock its file. Anything else is a bug or bad data.
UNAVAILABLE: Final = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)

P = ParamSpec("P")
R = TypeVar("R")


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database is unreachable (rather than a refused statement)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, UNAVAILABLE)



# This process's record of the system of record's outages.
DATABASE: Final = Outage("database", unavailable=is_unavailable, logger=log)


def watch(engine: Engine, outage: Outage = DATABASE) -> None:
    """End `outage` at the first statement `engine` runs successfully."""

    @event.listens_for(engine, "after_cursor_execute")
    def _answered(*_args: Any) -> None:
        outage.answered()


def unavailable_result() -> dict[str, Any]:
    """What a job returns when the database was away: it did nothing, and its next run does the work."""
    return {"status": "database_unavailable"}


def absorb(
    what: str, fallback: Callable[[], R], outage: Outage = DATABASE
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a job so that the database away makes it return `fallback()` (counted in the outage, no traceback)
    instead of failing; any other error still fails it."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except sa_exc.SQLAlchemyError as exc:
                if not is_unavailable(exc):
                    raise
                outage.failed(what, exc)
                return fallback()

        return run

    return wrap
