"""Database outages said once: the first failure of an outage is logged with its cause, later ones are only counted by
what failed (a tick, a console action, an API request …), and the first statement that succeeds again logs how long
the outage lasted and what failed meanwhile. A long outage is recalled every REMIND_EVERY_S with its counts so far.

Why: while PostgreSQL is away every request, every tick and every job fails the same way; a traceback each time is
tens of thousands of identical lines a minute that bury everything else. One process keeps one record (`DATABASE`):
each web and worker process says it once. An error that is not the database being unreachable (a constraint, a bug)
is not an outage and is logged in full every time.

`watch(engine)` (called by `make_engine`) tells the record when a statement succeeds, so an outage ends by itself at
the first statement that works, whoever runs it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

# A long outage is recalled this often (seconds) with what failed so far, so a log read hours later still shows it.
REMIND_EVERY_S: Final = 600.0
# Failures this recent count as "failing now" for a screen's notice even before the tick says so (seconds).
RECENT_S: Final = 10.0

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


def _cause(exc: BaseException) -> str:
    """The first line of the driver's message (no statement, no parameters: they may hold personal data)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:200]}"


class Outage:
    """One process's record of the database being away: when it began and how many operations failed, by kind."""

    def __init__(self, name: str, logger: logging.Logger = log, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.log = logger
        self.clock = clock
        self._lock = threading.Lock()
        self.since: float | None = None
        self.last_failure: float | None = None
        self.failed_by: Counter[str] = Counter()
        self._reminded = 0.0

    @property
    def down(self) -> bool:
        """True from the first failure of an outage until a statement succeeds again."""
        return self.since is not None

    def failing_now(self, within_s: float = RECENT_S) -> bool:
        """True when an operation of this process failed within `within_s` seconds and none succeeded since."""
        last = self.last_failure
        return self.since is not None and last is not None and self.clock() - last <= within_s

    def failed(self, what: str, exc: BaseException) -> bool:
        """Count a failure of `what`; True when it is an outage (logged once), False for any other error (logged
        in full here, with its traceback: that is a bug or bad data, not the database away)."""
        if not is_unavailable(exc):
            self.log.error("%s failed in the %s (not an outage)", what, self.name, exc_info=exc)
            return False
        now = self.clock()
        with self._lock:
            first = self.since is None
            if first:
                self.since = now
                self._reminded = now
                self.failed_by.clear()
            self.last_failure = now
            self.failed_by[what] += 1
            remind = not first and now - self._reminded >= REMIND_EVERY_S
            if remind:
                self._reminded = now
            counts = self._counts()
            since = self.since or now
        if first:
            self.log.error("%s unavailable (%s): %s failed; further failures are counted, not logged, until it "
                           "answers again", self.name, _cause(exc), what)
        elif remind:
            self.log.error("%s still unavailable after %.0f s (%s); failed so far: %s", self.name, now - since,
                           _cause(exc), counts)
        return True

    def answered(self) -> None:
        """A statement succeeded: end the outage, if there was one, with its length and what failed meanwhile."""
        if self.since is None:  # the common case, without taking the lock
            return
        with self._lock:
            since, self.since = self.since, None
            if since is None:
                return
            counts = self._counts()
            self.failed_by.clear()
            self.last_failure = None
        self.log.warning("%s answers again after %.0f s; failed meanwhile: %s", self.name, self.clock() - since,
                         counts)

    def _counts(self) -> str:
        """"12 tick, 3 console action" (the caller holds the lock)."""
        return ", ".join(f"{n} {what}" for what, n in self.failed_by.most_common()) or "nothing"

    def reset(self) -> None:
        """Forget any outage (tests)."""
        with self._lock:
            self.since = self.last_failure = None
            self.failed_by.clear()


# This process's record of the system of record's outages.
DATABASE: Final = Outage("database")


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
