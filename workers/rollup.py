"""The roll-up job: durable telemetry. Reads the telemetry stream from its own cursor, rolls the new entries up per
entity and minute (dashboard.domain.rollup) and merges them into SQL (dashboard.store.telemetry), so that what the
sensors said outlives the stream's 200 s and a lost Redis.

Why the cursor lives in Redis and the rows still never count an entry twice: the cursor (keys.ROLLUP_CURSOR)
advances only after the SQL transaction committed, so a run that dies anywhere leaves it where it was and the next
run reads the same entries again. Reading them again is harmless because every row keeps the stream id of the
latest entry rolled into it (`through_ms`, `through_seq`): before merging, the run reads those ids for the minutes
it touches and leaves out every entry at or before its row's id (entries reach a row in stream order, one
transaction at a time, so an entry at or before the id is in the row and one after it is not). The upsert itself
only takes a batch later than the row's id, so even two runs at once (the lock below normally prevents that) add
a batch once. Storing the cursor in SQL with the rows would have served too, but the cursor describes a Redis
stream and dies with it: kept beside the stream, a lost Redis shows up as a lost cursor.

What is lost is counted, never hidden: the ingest counts every entry it appends (keys.TELEMETRY_ADDED, in the step
that appends it), and the cursor keeps the position of its entry among all those ever added, so when the stream
was trimmed past the cursor (the job was down for longer than the stream holds) the entries in between are
counted (metrics: dongcheng_telemetry_rollup_lost_entries_total) and said in one log line. A cursor gone altogether
(Redis lost or flushed) is a gap of unknown size: counted as such and said once.

`run_rollup(r, sessions, now, retention_days=…)` is the job without RQ (tests); `roll_up_telemetry()` the RQ entry
point, registered in workers/schedule.py every ROLLUP_CHECK_S seconds. About once an hour a run also keeps the
tables: the day partitions of the next days made ahead, those past TELEMETRY_RETENTION_DAYS dropped.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any, Final

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.config import Config
from dashboard.domain.beijing import DAY_S
from dashboard.domain.rollup import (
    StreamId,
    format_stream_id,
    key_of,
    parse_stream_id,
    problem,
    roll_up,
    unapplied,
)
from dashboard.live import keys
from dashboard.observe import metrics
from dashboard.observe.logs import OncePer
from dashboard.store.engine import begin_write, session_scope
from dashboard.store.outage import DATABASE
from workers.clients import job_clients

log = logging.getLogger(__name__)
# Entries a foreign writer put in the stream are said once a minute, however many there are; the trims
# and the lost cursor are each their own message, said when they happen (a trim is rare: once per gap).
_bad_entries = logging.getLogger(__name__ + ".entries")
_bad_entries.addFilter(OncePer(60.0))

# Entries read in one round; a run reads rounds until it has caught up or read MAX_ROUNDS of them (a full stream,
# 200,000 entries, is caught up over a few runs, each well within its timeout).
ROUND_ENTRIES: Final = 20_000
MAX_ROUNDS: Final = 5
_START: Final = "0-0"

_RELEASE_LOCK_LUA: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
)


def _text(raw: Any) -> str:
    """A Redis reply as text."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def load_cursor(r: redis.Redis) -> tuple[str | None, int | None]:
    """(id of the last entry rolled up, its position among every entry ever added), None where unknown."""
    doc = {_text(k): _text(v) for k, v in (r.hgetall(keys.ROLLUP_CURSOR) or {}).items()}
    ord_text = doc.get("ord")
    return doc.get("id"), int(ord_text) if ord_text and ord_text.lstrip("-").isdigit() else None


def _parse(entries: Sequence[Any]) -> tuple[list[tuple[StreamId, dict[str, Any]]], int]:
    """(stream id, event) of the readable entries, and how many were not readable."""
    out: list[tuple[StreamId, dict[str, Any]]] = []
    bad = 0
    for entry_id, fields in entries:
        raw = (fields or {}).get(b"e") or (fields or {}).get("e")
        try:
            ev = json.loads(raw) if isinstance(raw, bytes | str) else None
        except ValueError:
            ev = None
        why = "unreadable JSON" if ev is None else problem(ev)
        if why is not None or not isinstance(ev, dict):
            # Refused before SQL (the module docstring of dashboard.domain.rollup says why); said once per cause.
            _bad_entries.warning("telemetry roll-up: entries skipped (%s), e.g. %s", why, _text(entry_id))
            bad += 1
            continue
        out.append((parse_stream_id(entry_id), ev))
    return out, bad


def _read_round(r: redis.Redis, cursor: str, count: int) -> tuple[int | None, int, StreamId | None, list[Any]]:
    """In one atomic step: the entries ever added (None when not counted), the stream's length, its first entry's
    id and up to `count` entries after `cursor`."""
    pipe = r.pipeline(transaction=True)
    pipe.get(keys.TELEMETRY_ADDED)
    pipe.xlen(keys.TELEMETRY_STREAM)
    pipe.xrange(keys.TELEMETRY_STREAM, min="-", max="+", count=1)
    pipe.xrange(keys.TELEMETRY_STREAM, min=f"({cursor}", max="+", count=count)
    added, length, first, entries = pipe.execute()
    first_id = parse_stream_id(first[0][0]) if first else None
    return (int(added) if added is not None else None), int(length), first_id, list(entries)


def lost_between(cursor_ord: int | None, added: int | None, length: int) -> int | None:
    """Entries trimmed between the cursor's entry and the stream's first one, None when it cannot be told."""
    if cursor_ord is None or added is None or added < length:
        return None
    first_ord = added - length + 1
    return max(0, first_ord - cursor_ord - 1)


def _apply(sessions: sessionmaker[Session], entries: list[tuple[StreamId, dict[str, Any]]]) -> tuple[int, int]:
    """Merge the entries not rolled up yet into SQL in one transaction; (rolled, repeated)."""
    if not entries:
        return 0, 0
    minutes = [key[0] for sid, ev in entries if (key := key_of(ev)) is not None]
    with session_scope(sessions) as s:
        begin_write(s)
        fresh = unapplied(entries, store.telemetry.through_ids(s, min(minutes), max(minutes)))
        cells = roll_up(fresh)
        store.telemetry.ensure_partitions(s, store.telemetry.days_of(cell.minute for cell in cells.values()))
        store.telemetry.upsert_cells(s, list(cells.values()))
    return len(fresh), len(entries) - len(fresh)


def _maintain(r: redis.Redis, sessions: sessionmaker[Session], now: float, retention_days: int) -> int | None:
    """About once an hour: the day partitions ahead made and those past the retention dropped; how many went."""
    if not r.set(keys.ROLLUP_MAINTAINED, repr(now), nx=True, ex=keys.ROLLUP_MAINTAIN_EVERY_S):
        return None
    with session_scope(sessions) as s:
        store.telemetry.ensure_partitions(s, store.telemetry.days_ahead(now))
        return store.telemetry.drop_older_than(s, now - retention_days * DAY_S)


def run_rollup(
    r: redis.Redis, sessions: sessionmaker[Session], now: float, *, retention_days: int,
    round_entries: int = ROUND_ENTRIES, max_rounds: int = MAX_ROUNDS,
) -> dict[str, Any]:
    """One run (see the module docstring), or {"status": "skipped"} while another run holds the lock."""
    token = secrets.token_hex(8)
    if not r.set(keys.ROLLUP_LOCK, token, nx=True, px=keys.ROLLUP_LOCK_TTL_MS):
        return {"status": "skipped"}
    try:
        return _run_locked(r, sessions, now, retention_days, round_entries, max_rounds)
    finally:
        try:
            r.eval(_RELEASE_LOCK_LUA, 1, keys.ROLLUP_LOCK, token)
        except redis.RedisError as exc:
            # The lock expires by itself after ROLLUP_LOCK_TTL_MS; the error that matters is the run's own.
            log.warning("telemetry roll-up: the lock could not be released (%s); it expires by itself", exc)


def _run_locked(
    r: redis.Redis, sessions: sessionmaker[Session], now: float, retention_days: int, round_entries: int,
    max_rounds: int,
) -> dict[str, Any]:
    """The run, holding the lock."""
    result: dict[str, Any] = {"status": "ok", "rolled": 0, "repeated": 0, "skipped": 0, "lost": 0, "gap": None,
                              "cursor": None, "dropped": None}
    cursor, cursor_ord = load_cursor(r)
    if cursor is None:
        result["gap"] = "cursor_lost"
        log.warning("telemetry roll-up: no cursor in Redis (a first start, or Redis was lost or flushed): rolling "
                    "up from the stream's first entry; what a lost Redis held and had not rolled up is not counted")
    try:
        _rounds(r, sessions, cursor, cursor_ord, round_entries, max_rounds, result)
        result["dropped"] = _maintain(r, sessions, now, retention_days)
    except SQLAlchemyError as exc:
        # The cursor stays after the last batch committed: the next run reads the rest again (while the stream holds
        # it; what it trims meanwhile is counted as lost then). An outage is said once for all its failures.
        if not DATABASE.failed("telemetry roll-up", exc):
            raise
        result["status"] = "database_unavailable"
    return result


def _rounds(r: redis.Redis, sessions: sessionmaker[Session], cursor: str | None, cursor_ord: int | None,
            round_entries: int, max_rounds: int, result: dict[str, Any]) -> None:
    """Read, roll up and commit rounds of entries from the cursor on, adding what happened to `result`."""
    position = cursor or _START
    for _ in range(max_rounds):
        added, length, first_id, entries = _read_round(r, position, round_entries)
        if not entries:
            break
        start_ord = None if cursor_ord is None else cursor_ord + 1
        trimmed, lost = False, None
        if parse_stream_id(_text(entries[0][0])) == first_id:
            # Reading from the stream's first entry: its position is known from the counter, and whatever lay
            # between the cursor and it was trimmed before it was read.
            if cursor is not None:
                lost = lost_between(cursor_ord, added, length)
                trimmed = bool(lost) or (lost is None and cursor != _START and first_id > parse_stream_id(cursor))
            start_ord = None if added is None or added < length else added - length + 1
        parsed, bad = _parse(entries)
        rolled, repeated = _apply(sessions, parsed)
        position = _text(entries[-1][0])
        cursor_ord = None if start_ord is None else start_ord + len(entries) - 1
        # Only after the commit: see the module docstring.
        r.hset(keys.ROLLUP_CURSOR, mapping={"id": position, "ord": "" if cursor_ord is None else str(cursor_ord)})
        if trimmed:
            # Said and counted once the cursor is past the gap: a run that failed before finds it again.
            assert first_id is not None
            result["gap"] = "trimmed"
            result["lost"] += lost or 0
            log.warning("telemetry roll-up: the stream was trimmed past the cursor %s (its first entry is %s): %s "
                        "entries lost before they were rolled up", cursor, format_stream_id(first_id),
                        "an unknown number of" if lost is None else lost)
        cursor = position
        result["rolled"] += rolled
        result["repeated"] += repeated
        result["skipped"] += bad
        if len(entries) < round_entries:
            break
    if cursor is None:
        # Nothing to read yet: remember that the stream is read from its start (and how many entries were ever
        # added), so that the next run neither takes an empty stream for a lost cursor nor misses a trim.
        ever = r.get(keys.TELEMETRY_ADDED)
        r.hset(keys.ROLLUP_CURSOR, mapping={"id": _START, "ord": "" if ever is None else _text(ever)})
    result["cursor"] = cursor


def roll_up_telemetry() -> dict[str, Any]:
    """RQ job: one roll-up run with the configuration from the environment (REDIS_URL, DATABASE_URL,
    TELEMETRY_RETENTION_DAYS)."""
    config = Config.from_env()
    clients = job_clients(config)
    result = run_rollup(clients.redis, clients.sessions, time.time(), retention_days=config.telemetry_retention_days)
    metrics.observe_rollup(result)
    return result

