"""Once per outage: a dependency that stops answering is reported in the log once, what was done meanwhile is
counted, and the count is reported when it answers again; never a traceback per request."""

from __future__ import annotations

import logging
import threading
import time


class Outage:
    """The state of one dependency as this process sees it, with the counts of one outage (thread-safe)."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self.log = log
        self._lock = threading.Lock()
        self._since: float | None = None
        self._served = 0
        self._refused = 0
        self._said_refusing = False

    def failed(self, error: BaseException, fallback: str, now: float | None = None) -> float:
        """Note a failed call; the first of an outage is logged with what is done meanwhile. Seconds so far."""
        now = time.time() if now is None else now
        with self._lock:
            if self._since is None:
                self._since = now
                self._served = self._refused = 0
                self._said_refusing = False
                # One line, the error's type and first line only: the outage is one event, not one per request.
                first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
                self.log.warning("%s unreachable (%s%s): %s; said once per outage", self.what,
                                 type(error).__name__, f": {first}" if first else "", fallback)
            return now - self._since

    def served(self) -> None:
        """Count a request served without the dependency."""
        with self._lock:
            self._served += 1

    def refused(self, answer: str) -> None:
        """Count a request refused for want of the dependency; the first refusal of an outage is logged."""
        with self._lock:
            self._refused += 1
            if not self._said_refusing:
                self._said_refusing = True
                since = 0.0 if self._since is None else time.time() - self._since
                self.log.warning("%s still unreachable after %.0f s: %s", self.what, since, answer)

    def recovered(self, now: float | None = None) -> None:
        """Note a successful call: the end of an outage, if there was one, is logged with its counts."""
        if self._since is None:  # the common case, without taking the lock
            return
        now = time.time() if now is None else now
        with self._lock:
            if self._since is None:
                return
            self.log.warning("%s reachable again after %.1f s; meanwhile %d requests were served without it and "
                             "%d refused", self.what, now - self._since, self._served, self._refused)
            self._since = None

    @property
    def down(self) -> bool:
        """True while an outage is under way."""
        return self._since is not None
