"""Outages said once: while a dependency (the database, Redis) is away, every request, tick and job fails the same way,
and a traceback each time is tens of thousands of identical lines a minute that bury everything else. An `Outage`
record logs the first failure of an outage with its cause, only counts the later ones by what failed (a tick, a
console action, an API request …) and what was done meanwhile, recalls a long outage every REMIND_EVERY_S with its
counts, and logs, at the first success again, how long the outage lasted and what failed meanwhile. An error that is
not the dependency being away (a constraint, a bug) is not an outage and is logged in full every time.

Each process keeps one record per dependency: dashboard.store.outage.DATABASE for the system of record, and the
sessions' record for Redis (dashboard.web.sessions).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

# A long outage is recalled this often (seconds) with what failed so far, so a log read hours later still shows it.
REMIND_EVERY_S: Final = 600.0
# Failures this recent count as "failing now" for a screen's notice even before the tick says so (seconds).
RECENT_S: Final = 10.0


def cause(exc: BaseException) -> str:
    """The first line of the driver's message (no statement, no parameters: they may hold personal data)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:200]}"


class Outage:
    """One process's record of a dependency being away: when it began, and how many operations failed (or were done
    without it) meanwhile, by kind. `unavailable(exc)` tells an outage from any other error."""

    def __init__(self, name: str, unavailable: Callable[[BaseException], bool] = lambda _exc: True,
                 logger: logging.Logger = log, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.unavailable = unavailable
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

    def failed(self, what: str, exc: BaseException, meanwhile: str | None = None) -> bool:
        """Count a failure of `what`; True when it is an outage (logged once, with what is done `meanwhile`), False for
        any other error (logged in full here, with its traceback: that is a bug or bad data, not an outage)."""
        if not self.unavailable(exc):
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
            then = f"; meanwhile {meanwhile}" if meanwhile else ""
            self.log.error("%s unavailable (%s): %s failed%s; further failures are counted, not logged, until it "
                           "answers again", self.name, cause(exc), what, then)
        elif remind:
            self.log.error("%s still unavailable after %.0f s (%s); failed so far: %s", self.name, now - since,
                           cause(exc), counts)
        return True

    def down_for(self) -> float:
        """Seconds since the outage began (0 when there is none)."""
        since = self.since
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def note(self, what: str, first_log: str | None = None) -> None:
        """Count something done without the dependency during an outage (served from a fallback, refused); the first
        of its kind in an outage is logged with `first_log` when given."""
        with self._lock:
            if self.since is None:
                return
            first = what not in self.failed_by
            self.failed_by[what] += 1
            since = self.since
        if first and first_log:
            self.log.warning("%s still unavailable after %.0f s: %s", self.name, self.clock() - since, first_log)

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
