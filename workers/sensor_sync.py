"""The tick's sensor book (workers/sensor_book.py) kept in the worker process that takes the ticks, in step with Redis.

The sensors' latest readings live in Redis (keys.SENSOR_READINGS, written only for the sensors a tick changed), and
the worker process keeps a book of them. The fold state names the sequence number of the last tick that changed a
reading (`sseq`); a book at that number is used as it is. One worker takes the ticks while it holds the tick-worker
lease (workers/tick_worker.py), so a book at another number is rare: a worker that just took over, a new registry
(seen through one aggregate query a tick), new thresholds, or a book that may be ahead of Redis (a tick of its own
that failed). Such a book is read again from the hash, whole (about as long as one tick at 50,000 sensors), rather
than caught up from lists of each tick's changes, which every tick would have to write for a worker that seldom
needs them.

The same process keeps the early warning's recent tickets (workers/early_warning/book.py) beside it, for the same
reason: workers/hotline_sync.py reads them again from Redis only when it cannot vouch for the kept ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.live import keys
from dashboard.live.sensor_readings import encode, load_all
from workers.early_warning.book import TicketBook
from workers.linking.rules import RULES
from workers.sensor_book import SensorBook
from workers.sensors import Thresholds

log = logging.getLogger(__name__)

# A sensor registered (or removed) shows on the map and in the counts within this many seconds.
REGISTRY_CHECK_S = 10.0


@dataclass
class Kept:
    """What this process keeps between ticks."""

    book: SensorBook | None = None
    seq: int | None = None  # the tick sequence the book is at (None: unknown, reload)
    registry: list[dict[str, Any]] = field(default_factory=list)
    signature: tuple[Any, ...] | None = None
    thresholds: str = ""
    checked_at: float = 0.0
    owner: str = ""
    tickets: TicketBook = field(default_factory=TicketBook)  # the early warning's recent tickets


_KEPT = Kept()


def reset() -> None:
    """Forget this process's book (tests; a new Redis database)."""
    global _KEPT
    _KEPT = Kept()


def swap(kept: Kept) -> Kept:
    """Make `kept` this process's book and return the one before (a benchmark playing two workers in turn)."""
    global _KEPT
    before, _KEPT = _KEPT, kept
    return before


def _registry(sessions: sessionmaker[Session], db_ok: bool, now: float) -> bool:
    """Refresh the kept registry when its signature changed (looked at every REGISTRY_CHECK_S); True when it did.
    While the database is away the kept one stands."""
    if not db_ok or (_KEPT.signature is not None and now - _KEPT.checked_at < REGISTRY_CHECK_S):
        return False
    _KEPT.checked_at = now
    try:
        with sessions() as s:
            sig = store.sensors.registry_signature(s)
            if sig == _KEPT.signature:
                return False
            _KEPT.registry = store.sensors.sensor_registry(s)
    except SQLAlchemyError:
        log.warning("sensor registry unreadable this tick; the one read before stands")
        return False
    _KEPT.signature = sig
    return True


def book_for(
    r: redis.Redis, sessions: sessionmaker[Session], seq: int, thresholds: Thresholds, now: float, db_ok: bool
) -> SensorBook:
    """This process's book, brought to tick sequence `seq` (the fold state's) and swept at `now`.

    The book is then being changed by the tick: it counts as unknown until `committed` says the tick's writes landed.
    """
    thr = json.dumps(thresholds, sort_keys=True, default=str)
    # Another Redis or database than the kept book's (tests, a benchmark): start again.
    owner = f"{r.connection_pool.connection_kwargs.get('host')}:{r.connection_pool.connection_kwargs.get('port')}/" \
            f"{r.connection_pool.connection_kwargs.get('db')} {sessions.kw.get('bind')!r}"
    if _KEPT.owner != owner:
        _KEPT.__init__()  # type: ignore[misc]  # the same object, emptied (a caller may hold it: swap)
        _KEPT.owner = owner
    new_registry = _registry(sessions, db_ok, now)
    kept = _KEPT
    book = kept.book
    if book is None or new_registry or thr != kept.thresholds or kept.seq != seq:
        book = SensorBook(kept.registry, thresholds, now, load_all(r), RULES.cause_test(), RULES.sensor_level)
    assert book is not None
    book.sweep(now)
    kept.book, kept.seq, kept.thresholds = book, None, thr
    return book


def ticket_book() -> TicketBook:
    """This process's recent tickets (for the Redis and database of the last book_for)."""
    return _KEPT.tickets


def queue_writes(pipe: Any, book: SensorBook, changed: Iterable[str]) -> None:
    """Queue the changed sensors' readings into the tick's transaction (one HSET)."""
    readings, registered, meta = book.readings, book.registered, book.meta
    mapping = {sid: encode(readings[sid], None if sid in registered else meta[sid]) for sid in changed}
    if mapping:
        pipe.hset(keys.SENSOR_READINGS, mapping=mapping)


def committed(seq: int) -> None:
    """The tick's writes landed: the book is at sequence `seq`."""
    _KEPT.seq = seq
