"""A lease in Redis that elects one holder among several processes (the scheduler's leader, workers/rq_processes.py).

Hand-written because what it needs is three Redis commands: redis-py's `Lock` renews only by extending (not by
a local deadline that stops the holder first) and keeps no readable holder. The lease is one key holding its
holder's token, a JSON record of who holds it (host, pid and a nonce), so anyone can read who leads:

- acquire: `SET key token NX PX ttl`, which only one contender can win while the key exists;
- renew: a Lua script that extends the key's life only while it still holds this holder's token;
- release: a Lua script that deletes the key only while it still holds this holder's token (a clean stop).

A holder counts itself the holder only until a monotonic deadline that ends one renewal period before the lease can
expire in Redis (`LeaseTimings.valid_s`, measured from before the command was sent): a holder that cannot renew in
time (stalled, Redis away, slow) stops acting as the holder before anyone else can acquire the lease. `fence` goes
further for what must never be done twice: it WATCHes the key on a transaction, so that the transaction is refused by
Redis itself when the lease expired or changed hands between the check and EXEC (an expired key counts as changed).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import redis
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.client import Pipeline

from dashboard.observe.logs import OncePer

log = logging.getLogger(__name__)
log.addFilter(OncePer(60.0))

# KEYS[1] the lease, ARGV[1] the holder's token, ARGV[2] the lease's life in milliseconds.
_RENEW_LUA: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1] the lease, ARGV[1] the holder's token.
_RELEASE_LUA: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
# What a lease whose value is not a holder's record (written by hand) is said to be held by.
UNKNOWN_HOST: Final = "unknown"


@dataclass(frozen=True)
class LeaseTimings:
    """How long a lease lives in Redis (`ttl_s`) and how often its holder renews it (`renew_s`)."""

    ttl_s: float
    renew_s: float

    def __post_init__(self) -> None:
        """Refuse timings that leave no renewal before the holder's own deadline."""
        if not 0 < 2 * self.renew_s <= self.ttl_s:
            raise ValueError(f"a lease renewed every {self.renew_s} s needs a life of at least twice that, "
                             f"not {self.ttl_s} s")

    @property
    def valid_s(self) -> float:
        """How long after sending a successful acquire or renewal the holder counts itself the holder: one renewal
        period less than the lease's life, so a holder that missed a renewal stops a whole period before the lease
        can expire in Redis."""
        return self.ttl_s - self.renew_s

    @property
    def retry_s(self) -> float:
        """How often a process that does not hold the lease tries to acquire it: a takeover comes at most this long
        after the lease expired."""
        return self.renew_s / 2

    @property
    def ttl_ms(self) -> int:
        """The lease's life in Redis, in milliseconds."""
        return max(1, round(self.ttl_s * 1000))


class LeaseHolder(BaseModel):
    """Who holds a lease: the holder's token, stored as the lease's value."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    host: str
    pid: int
    nonce: str = ""


def current_holder(r: redis.Redis, key: str) -> LeaseHolder | None:
    """Who holds the lease `key` now, None when nobody does (RedisError propagates)."""
    raw = r.get(key)
    if raw is None:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        return LeaseHolder.model_validate_json(text)
    except ValidationError as exc:
        log.warning("lease %s holds %r, not a holder's record (%s): held by someone unknown", key, text[:80],
                    exc.error_count())
        return LeaseHolder(host=UNKNOWN_HOST, pid=0)


class Lease:
    """One process's side of the lease `key`: acquire it, renew it while held, release it on a clean stop, and know
    (from a monotonic deadline, without asking Redis) whether it may still act as the holder."""

    def __init__(self, r: redis.Redis, key: str, timings: LeaseTimings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """The lease `key` on `r` as this process (host, pid, a fresh nonce) would hold it."""
        self.r = r
        self.key = key
        self.timings = timings
        self.clock = clock
        self.holder = LeaseHolder(host=socket.gethostname(), pid=os.getpid(), nonce=secrets.token_hex(8))
        self.token = self.holder.model_dump_json()
        self._renew = r.register_script(_RENEW_LUA)
        self._release = r.register_script(_RELEASE_LUA)
        self._valid_until = float("-inf")  # monotonic: the holder's own deadline
        self._tried_at = float("-inf")  # monotonic: when the latest acquire or renewal was sent

    def holds(self) -> bool:
        """True while this process may act as the holder: its deadline (before the lease can expire) is ahead."""
        return self.clock() < self._valid_until

    def acquire(self) -> bool:
        """Take the lease when nobody holds it (SET NX PX); True when this process now holds it."""
        sent = self._sent()
        if self.r.set(self.key, self.token, nx=True, px=self.timings.ttl_ms):
            self._valid_until = sent + self.timings.valid_s
            return True
        return False

    def renew(self) -> bool:
        """Extend the lease when it still holds this process's token; True when it did. False means another holds
        it or nobody does (it expired, or Redis lost it): this process is no longer the holder."""
        sent = self._sent()
        if self._renew(keys=[self.key], args=[self.token, self.timings.ttl_ms]) == 1:
            self._valid_until = sent + self.timings.valid_s
            return True
        self._valid_until = float("-inf")
        return False

    def keep(self) -> bool:
        """Renew the lease when it is this process's, else try to acquire it; True when this process holds it.
        Renewing first also takes back a lease this process still has in Redis after its own deadline passed."""
        return self.renew() or self.acquire()

    def release(self) -> bool:
        """Stop holding at once and delete the lease when it still holds this process's token (a clean stop lets
        another take over without waiting for the lease to expire); True when it was deleted."""
        self._valid_until = float("-inf")
        return bool(self._release(keys=[self.key], args=[self.token]))

    def due_in(self) -> float:
        """Seconds until `keep` is due: a renewal period after the latest attempt while held, else half of it."""
        every = self.timings.renew_s if self.holds() else self.timings.retry_s
        return max(0.0, self._tried_at + every - self.clock())

    def fence(self, pipe: Pipeline) -> bool:
        """WATCH the lease on `pipe` (not yet in MULTI) and say whether this process still holds it; when True,
        the transaction `pipe` then queues is refused at EXEC (WatchError) should the lease expire or change hands
        before it runs, so that what it does is done by the holder only."""
        if not self.holds():
            return False
        pipe.watch(self.key)
        raw: Any = pipe.get(self.key)
        value = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        return value == self.token and self.holds()

    def _sent(self) -> float:
        """Note that an attempt is being sent now; the monotonic time it was sent."""
        self._tried_at = self.clock()
        return self._tried_at
