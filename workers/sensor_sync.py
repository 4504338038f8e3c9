"""The tick's sensor book (workers/sensor_book.py) kept in each worker process and in step with Redis.

The sensors' latest readings live in Redis (keys.SENSOR_READINGS, written only for the sensors a tick changed), and
each worker process keeps a book of them. The fold state names the sequence number of the last tick that changed a
reading (`sseq`), and each tick also stores the readings it changed under its number for a short while: a worker
whose book is at an older number (another worker ran the ticks in between) takes only those.
A worker with no book, a new registry (seen through one aggregate query a tick), new thresholds, or a book that
may be ahead of Redis (a tick of its own that failed) reads every reading once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain.clusters import SILENT
from dashboard.live import keys
from dashboard.live.sensor_readings import decode, encode, load_all
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


def _catch_up(r: redis.Redis, book: SensorBook, since: int, seq: int, now: float) -> bool:
    """Take the readings changed by the ticks after `since` up to `seq` (each tick's list of them: id, reading, the
    state of its value or -1); False when one of those lists has expired (the book is then reloaded)."""
    raws = r.mget([keys.sensor_changes_key(k) for k in range(since + 1, seq + 1)])
    found = [raw for raw in raws if raw is not None]
    if len(found) < len(raws):
        return False
    for raw in found:
        flat = orjson.loads(raw)
        for i in range(0, len(flat), 3):
            book.put(flat[i], decode(flat[i + 1]), now, flat[i + 2])
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
    fresh = (book is None or new_registry or thr != kept.thresholds or kept.seq is None or kept.seq > seq
             or seq - kept.seq > keys.SENSOR_CHANGES_KEPT)
    if fresh or (book is not None and kept.seq is not None and kept.seq < seq
                 and not _catch_up(r, book, kept.seq, seq, now)):
        book = SensorBook(kept.registry, thresholds, now, load_all(r), RULES.at_level, RULES.sensor_level)
    assert book is not None
    book.sweep(now)
    kept.book, kept.seq, kept.thresholds = book, None, thr
    return book


def queue_writes(pipe: Any, book: SensorBook, changed: Iterable[str], seq: int) -> None:
    """Queue the changed sensors' readings, and the list of them under tick number `seq`, into the tick's
    transaction."""
    readings = book.readings
    registered = book.registered
    flat: list[str | int] = []
    mapping: dict[str, str] = {}
    for sid in changed:
        enc = encode(readings[sid], None if sid in registered else book.meta[sid])
        mapping[sid] = enc
        code = book.code[sid]
        flat += (sid, enc, -1 if code == SILENT else code)  # its value's state, so the other worker need not ask
    if not mapping:
        return
    pipe.hset(keys.SENSOR_READINGS, mapping=mapping)
    pipe.set(keys.sensor_changes_key(seq), orjson.dumps(flat), ex=keys.SENSOR_CHANGES_TTL_S)
def committed(seq: int) -> None:
    """The tick's writes landed: the book is at sequence `seq`."""
    _KEPT.seq = seq
