"""The tick's sensor book (workers/sensor_book.py) kept in each worker process and in step with Redis.

The sensors' latest readings live in Redis (keys.SENSOR_READINGS, written only for the sensors a tick changed), and
each worker process keeps a book of them. The fold state names the sequence number of the last tick that changed a
reading (`sseq`), and keys.SENSOR_CHANGED gives each sensor the number of the tick that last changed it: a worker
whose book is at an older number (another worker ran the ticks in between) fetches only the sensors changed since.
A worker with no book, a new registry (seen through one aggregate query a tick), new thresholds, or a book that
may be ahead of Redis (a tick of its own that failed) reads every reading once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.live import keys
from workers.linking.rules import RULES
from workers.sensor_book import SensorBook
from workers.sensors import Thresholds

log = logging.getLogger(__name__)


@dataclass
class _Kept:
    """What this process keeps between ticks."""

    book: SensorBook | None = None
    seq: int | None = None  # the tick sequence the book is at (None: unknown, reload)
    registry: list[dict[str, Any]] = field(default_factory=list)
    signature: tuple[Any, ...] | None = None
    thresholds: str = ""


_KEPT = _Kept()


def reset() -> None:
    """Forget this process's book (tests; a new Redis database)."""
    global _KEPT
    _KEPT = _Kept()


def _text(raw: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode responses)."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _registry(sessions: sessionmaker[Session], db_ok: bool) -> bool:
    """Refresh the kept registry when its signature changed; True when it did. While the database is away the
    kept one stands."""
    if not db_ok:
        return False
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


def load_all(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every sensor's latest reading stored in Redis."""
    return {_text(k): json.loads(v) for k, v in r.hgetall(keys.SENSOR_READINGS).items()}


def book_for(
    r: redis.Redis, sessions: sessionmaker[Session], seq: int, thresholds: Thresholds, now: float, db_ok: bool
) -> SensorBook:
    """This process's book, brought to tick sequence `seq` (the fold state's) and swept at `now`.

    The book is then being changed by the tick: it counts as unknown until `committed` says the tick's writes landed.
    """
    thr = json.dumps(thresholds, sort_keys=True, default=str)
    new_registry = _registry(sessions, db_ok)
    kept = _KEPT
    book = kept.book
    if book is None or new_registry or thr != kept.thresholds or kept.seq is None or kept.seq > seq:
        book = SensorBook(kept.registry, thresholds, now, load_all(r), RULES.at_level)
    elif kept.seq < seq:
        ids = [_text(i) for i in cast("list[bytes | str]", r.zrangebyscore(keys.SENSOR_CHANGED, f"({kept.seq}", seq))]
        if ids:
            for sid, raw in zip(ids, r.hmget(keys.SENSOR_READINGS, ids), strict=True):
                if raw is not None:
                    book.put(sid, json.loads(raw), now)
    book.sweep(now)
    kept.book, kept.seq, kept.thresholds = book, None, thr
    return book


def queue_writes(pipe: Any, book: SensorBook, changed: Iterable[str], seq: int) -> None:
    """Queue the changed sensors' readings and their change number `seq` into the tick's transaction."""
    ids = list(changed)
    if not ids:
        return
    readings: Mapping[str, dict[str, Any]] = book.readings
    pipe.hset(keys.SENSOR_READINGS, mapping={sid: json.dumps(readings[sid], separators=(",", ":")) for sid in ids})
    pipe.zadd(keys.SENSOR_CHANGED, dict.fromkeys(ids, seq))


def committed(seq: int) -> None:
    """The tick's writes landed: the book is at sequence `seq`."""
    _KEPT.seq = seq
