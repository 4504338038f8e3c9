"""Store validated events: telemetry into a bounded Redis stream, durable events into SQL."""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.events import Event, Rejection, is_source_name, validate_batch
from dashboard.live import keys
from dashboard.observe import metrics
from dashboard.store.engine import session_scope
from dashboard.store.outage import DATABASE

log = logging.getLogger(__name__)

# Dedupe and append in one atomic step, so an event is never marked seen without being stored; count the appended
# in the same step (KEYS[2]), so that the roll-up job can tell how many entries were trimmed before it read them; and,
# when ARGV[3] is '1', the per-source health counters of _count too (one round trip a request of telemetry alone).
# KEYS: the stream, its count, INGEST_STATS, INGEST_LAST, the minute's key, then one dedupe key per event; ARGV: maxlen,
# dedupe TTL, counting ('1' or '0'), now (repr), the minute key's TTL, then per event its source and its JSON.
_STORE_LUA = """
local maxlen = ARGV[1]
local ttl = ARGV[2]
local counting = ARGV[3] == '1'
local out = {}
local added = 0
local per_source = {}
local order = {}
for i = 6, #KEYS do
  local source = ARGV[2 * (i - 6) + 6]
  local new = 0
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'e', ARGV[2 * (i - 6) + 7])
    new = 1
    added = added + 1
  end
  out[#out + 1] = new
  if counting then
    if per_source[source] == nil then
      per_source[source] = 0
      order[#order + 1] = source
    end
    per_source[source] = per_source[source] + new
  end
end
if added > 0 then
  redis.call('INCRBY', KEYS[2], added)
end
for _, source in ipairs(order) do
  local n = per_source[source]
  redis.call('HINCRBY', KEYS[3], source .. ':accepted', n)
  if n > 0 then
    redis.call('HSET', KEYS[4], source, ARGV[4])
    redis.call('HINCRBY', KEYS[5], source, n)
  end
end
if counting and added > 0 then
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
return out
"""

# Each client's Script objects, by their Lua text.
_SCRIPTS: weakref.WeakKeyDictionary[redis.Redis, dict[str, Script]] = weakref.WeakKeyDictionary()

RETRY_AFTER_S = 5
# SQLite (the single-machine set-up) refuses a write at once with "database is locked" when another connection
# committed since this transaction first read: a fresh transaction a moment later succeeds. PostgreSQL never says
# it. Pauses before each new attempt, seconds.
LOCKED_RETRY_PAUSES_S: tuple[float, ...] = (0.05, 0.2, 0.5)


def is_sqlite_locked(exc: BaseException) -> bool:
    """True for SQLite's transient "database is locked" (not for a database that is really away)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _store_durable(sessions: sessionmaker[Session], durable: list[Event]) -> store.durable.StoreResult:
    """store.durable.store_durable in a transaction of its own, again in a fresh one while SQLite says it is locked."""
    pauses = iter(LOCKED_RETRY_PAUSES_S)
    while True:
        try:
            with session_scope(sessions) as session:
                return store.durable.store_durable(session, durable)
        except OperationalError as exc:
            pause = next(pauses, None)
            if pause is None or not is_sqlite_locked(exc):
                raise
            log.info("database locked while storing %d durable events: again in %.2f s", len(durable), pause)
            time.sleep(pause)


@dataclass
class IngestResult:
    """The outcome of one ingest request."""

    accepted: int = 0
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unavailable: list[dict[str, Any]] = field(default_factory=list)  # valid, but not storable right now
    error: str | None = None  # a whole-body error
    # The one source the sender speaks for (an MQTT topic's), else None: its rejections are counted as that source's,
    # never as the source an event claims (a feed naming another would blame it in the sources' health).
    sender: str | None = None

    @property
    def status(self) -> int:
        """HTTP status for this outcome."""
        if self.error:
            return 400
        if self.unavailable:
            return 503
        if self.rejected and not self.accepted and not self.duplicates:
            return 422
        return 200

    def body(self) -> dict[str, Any]:
        """JSON response body."""
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }
        if self.unavailable:
            out["unavailable"] = self.unavailable
            out["retry_after_s"] = RETRY_AFTER_S
            out["message"] = "some events could not be stored right now; resend those listed in 'unavailable'"
        if self.error:
            out = {"error": self.error}
        return out


def _ref(ev: Event, index: int) -> dict[str, Any]:
    """A short reference to an event in a response."""
    return {"index": index, "event_id": ev["event_id"]}


def _compact(ev: Event | dict[str, Any]) -> bytes:
    """Compact JSON (UTF-8) of a normalised event, as stored in the streams: orjson, several times faster than the
    standard library; what orjson cannot write (an integer beyond 64 bits) by the standard library."""
    try:
        return orjson.dumps(ev)
    except TypeError:
        return json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode()


def _store_call(telemetry: list[Event], now: float, counting: bool) -> tuple[list[str], list[Any]]:
    """The keys and arguments of _STORE_LUA for `telemetry` (the counters' keys even when not counting: a script
    names every key it may touch)."""
    key_list = [keys.TELEMETRY_STREAM, keys.TELEMETRY_ADDED, keys.INGEST_STATS, keys.INGEST_LAST,
                keys.ingest_minute_key(int(now // 60))]
    key_list += [keys.dedupe_key(ev["source"], ev["event_id"]) for ev in telemetry]
    args: list[Any] = [keys.TELEMETRY_STREAM_MAXLEN, c.TELEMETRY_MAX_AGE_S, "1" if counting else "0",
                       repr(float(now)), keys.INGEST_MINUTE_TTL_S]
    for ev in telemetry:
        args += [ev["source"] if counting else "", _compact(ev)]
    return key_list, args


def store_telemetry(r: redis.Redis, events: list[Event]) -> list[bool]:
    """Append telemetry to the stream, skipping IDs already seen; True where an event was new."""
    if not events:
        return []
    key_list, args = _store_call(events, time.time(), counting=False)
    flags = _script(r, _STORE_LUA)(keys=key_list, args=args)
    return [bool(f) for f in flags]


def _script(r: redis.Redis, lua: str) -> Script:
    """The client's Script object for `lua`, made once per client (its SHA1 computed once)."""
    per_client = _SCRIPTS.setdefault(r, {})
    found = per_client.get(lua)
    if found is None:
        found = per_client[lua] = r.register_script(lua)
    return found


def _store_and_count(r: redis.Redis, telemetry: list[Event], said: list[tuple[Any, IngestResult]],
                     now: float) -> list[bool]:
    """store_telemetry and _count's Redis writes in one round trip: the Lua step, and in the same pipeline the
    latest rejections of validation (known before anything is stored) of each (body, result) in `said`."""
    key_list, args = _store_call(telemetry, now, counting=True)
    script = _script(r, _STORE_LUA)
    if not any(result.rejected for _, result in said):
        # Nothing else to write (the feeds' usual request): the script's call alone, without a pipeline's
        # bookkeeping, which costs a request of one event a tenth of its CPU in the process; loaded on NOSCRIPT.
        try:
            flags = r.evalsha(script.sha, len(key_list), *key_list, *args)
        except NoScriptError:
            flags = script(keys=key_list, args=args)
        return [bool(f) for f in flags]
    # EVALSHA queued by hand: redis-py's Script in a pipeline asks SCRIPT EXISTS first, a second round trip.
    pipe = r.pipeline(transaction=False)
    pipe.evalsha(script.sha, len(key_list), *key_list, *args)
    for payload, result in said:
        _count_rejections(pipe, payload, result, now)
    flags, *counted = pipe.execute(raise_on_error=False)
    if isinstance(flags, NoScriptError):
        # A Redis that has not seen the script yet (started or flushed since): the script alone, loaded first.
        flags = script(keys=key_list, args=args)
    for reply in (flags, *counted):
        if isinstance(reply, Exception):
            raise reply
    return [bool(f) for f in flags]


@dataclass
class Prepared:
    """One body validated, its telemetry waiting to be stored with other bodies' (store_prepared)."""

    payload: Any
    pairs: list[tuple[int, Event]]
    result: IngestResult


def _settle(batch: list[Prepared], flags: list[bool] | None) -> None:
    """Each body's outcome from the stored flags of all their events in turn (None: Redis did not answer)."""
    at = 0
    for v in batch:
        for i, ev in v.pairs:
            if flags is None:
                v.result.unavailable.append(_ref(ev, i))
            elif flags[at]:
                v.result.accepted += 1
            else:
                v.result.duplicates.append(_ref(ev, i))
            at += 1


def prepare_payload(payload: Any, now: float, max_events: int, source: str | None = None) -> Prepared | None:
    """A body validated for store_prepared (`source`: as validate_batch's); None when it must go through
    ingest_payload on its own (a whole-body error, no valid event, or a durable event, which goes to SQL first)."""
    pairs, rejected, error = validate_batch(payload, now, max_events, source)
    if error or not pairs or any(ev["kind"] not in c.TELEMETRY_KINDS for _, ev in pairs):
        return None
    return Prepared(payload, pairs, IngestResult(rejected=rejected, sender=source))


def store_prepared(batch: list[Prepared], now: float, r: redis.Redis) -> None:
    """Store the telemetry of every prepared body in one round trip to Redis, counters included, and settle each
    body's result (what ingest_payload would have answered for it alone)."""
    if not batch:
        return
    telemetry = [ev for v in batch for _, ev in v.pairs]
    try:
        flags: list[bool] | None = _store_and_count(r, telemetry, [(v.payload, v.result) for v in batch], now)
    except redis.RedisError as exc:
        log.warning("redis unavailable: %d telemetry events refused (%s)", len(telemetry), exc)
        flags = None
    _settle(batch, flags)
    # The Prometheus counters once for the whole batch (each inc writes the metrics' file under the process lock).
    accepted: dict[str, int] = {}
    rejected: dict[tuple[str, str], int] = {}
    for v in batch:
        if flags is None:
            _count(r, v.pairs, v.payload, v.result, now)
        _tally_metrics(v.pairs, v.payload, v.result, {rej.index for rej in v.result.rejected}, accepted, rejected)
    metrics.count_ingest(accepted, rejected)


def ingest_payloads(
    payloads: list[Any], now: float, r: redis.Redis, sessions: sessionmaker[Session], max_events: int,
    sources: list[str | None] | None = None,
) -> list[IngestResult]:
    """ingest_payload for each of several bodies (the messages of one network read), with the telemetry of all of
    them stored in one round trip to Redis; a body with a durable event, or none valid, goes on its own. `sources`:
    the one source each body may speak for (validate_batch), else any."""
    results: list[IngestResult] = []
    batch: list[Prepared] = []
    for payload, source in zip(payloads, sources or [None] * len(payloads), strict=True):
        prepared = prepare_payload(payload, now, max_events, source)
        if prepared is None:
            results.append(ingest_payload(payload, now, r, sessions, max_events, source))
        else:
            results.append(prepared.result)
            batch.append(prepared)
    store_prepared(batch, now, r)
    return results


def _telemetry_outcome(result: IngestResult, telemetry: list[Event], index_of: dict[int, int],
                       store: Callable[[], list[bool]]) -> bool:
    """Store `telemetry` with `store` and put each event's outcome in `result`: accepted or duplicate by its stored
    flag, or all unavailable (a 503) when Redis does not answer; False in that case."""
    try:
        flags = store()
    except redis.RedisError as exc:
        log.warning("redis unavailable: %d telemetry events refused with 503 (%s)", len(telemetry), exc)
        result.unavailable += [_ref(ev, index_of[id(ev)]) for ev in telemetry]
        return False
    for ev, new in zip(telemetry, flags, strict=True):
        if new:
            result.accepted += 1
        else:
            result.duplicates.append(_ref(ev, index_of[id(ev)]))
    return True


def ingest_payload(
    payload: Any, now: float, r: redis.Redis, sessions: sessionmaker[Session], max_events: int,
    source: str | None = None,
) -> IngestResult:
    """Validate a request body and store every valid event; report each one that was not stored. `source`: the one
    source the sender may speak for (validate_batch), else any."""
    pairs, rejected, error = validate_batch(payload, now, max_events, source)
    result = IngestResult(rejected=rejected, error=error, sender=source)
    if error:
        metrics.ingest_refused("invalid_body")
        return result
    refused_by_validation = {rej.index for rej in rejected}
    valid = [ev for _, ev in pairs]
    index_of = {id(ev): i for i, ev in pairs}
    telemetry = [ev for ev in valid if ev["kind"] in c.TELEMETRY_KINDS]
    durable = [ev for ev in valid if ev["kind"] in c.DURABLE_KINDS]
    if telemetry and not durable:
        # The feeds' usual request: one round trip to Redis, counters included.
        if not _telemetry_outcome(result, telemetry, index_of,
                                  lambda: _store_and_count(r, telemetry, [(payload, result)], now)):
            # Counted as before: nothing stored, the rejections said (when Redis answers again).
            _count(r, pairs, payload, result, now)
        _count_metrics(pairs, payload, result, refused_by_validation)
        return result

    if durable:
        try:
            stored = _store_durable(sessions, durable)
        except SQLAlchemyError as exc:
            if is_sqlite_locked(exc):
                log.warning("database still locked: %d durable events refused with 503 (the sender resends them)",
                            len(durable))
            else:
                # Counted in the outage, said once (a feed resends every few seconds while the database is away).
                DATABASE.failed("ingest of durable events", exc)
            result.unavailable += [_ref(ev, index_of[id(ev)]) for ev in durable]
        else:
            result.accepted += len(stored.stored)
            result.duplicates += [_ref(ev, index_of[id(ev)]) for ev in stored.duplicates]
            result.rejected += [
                Rejection(index_of[id(ev)], ev["event_id"], _unknown_reason(ev)) for ev in stored.unknown
            ]
            _notify_durable(r, stored.stored)

    if telemetry:
        _telemetry_outcome(result, telemetry, index_of, lambda: store_telemetry(r, telemetry))
    result.rejected.sort(key=lambda rej: rej.index)
    _count(r, pairs, payload, result, now)
    _count_metrics(pairs, payload, result, refused_by_validation)
    return result


def _count_metrics(pairs: list[tuple[int, Event]], payload: Any, result: IngestResult, invalid: set[int]) -> None:
    """The ingest's Prometheus counters: stored events by kind, the others by kind and reason class."""
    accepted: dict[str, int] = {}
    rejected: dict[tuple[str, str], int] = {}
    _tally_metrics(pairs, payload, result, invalid, accepted, rejected)
    metrics.count_ingest(accepted, rejected)


def _tally_metrics(pairs: list[tuple[int, Event]], payload: Any, result: IngestResult, invalid: set[int],
                   accepted: dict[str, int], rejected: dict[tuple[str, str], int]) -> None:
    """Add one body's events to the counts of _count_metrics: `accepted` by kind, `rejected` by (kind, reason)."""
    kind_at = {i: ev["kind"] for i, ev in pairs}

    def add(index: int, reason: str) -> None:
        kind = kind_at.get(index) or _raw_field(payload, index, "kind")
        key = (metrics.event_kind(kind), reason)
        rejected[key] = rejected.get(key, 0) + 1

    for rej in result.rejected:
        add(rej.index, "invalid" if rej.index in invalid else "unknown_reference")
    for ref in result.duplicates:
        add(ref["index"], "duplicate")
    for ref in result.unavailable:
        add(ref["index"], "unavailable")
    not_stored = {rej.index for rej in result.rejected} | {ref["index"] for ref in (*result.duplicates,
                                                                                      *result.unavailable)}
    for i, ev in pairs:
        if i not in not_stored:
            accepted[ev["kind"]] = accepted.get(ev["kind"], 0) + 1


def _unknown_reason(ev: Event) -> dict[str, str]:
    """Why an update was refused: what it refers to does not exist."""
    if ev["kind"] == c.INCIDENT_UPDATE:
        return {"incident_id": "no incident with this id from this source"}
    return {"ticket_id": "no ticket with this id from this source"}


def _notify_durable(r: redis.Redis, events: list[Event]) -> None:
    """Tell the ticker about new incidents and tickets; they are safe in SQL even if this fails."""
    if not events:
        return
    try:
        pipe = r.pipeline(transaction=False)
        for ev in events:
            pipe.xadd(keys.DURABLE_STREAM, {"e": _compact(ev)}, maxlen=keys.DURABLE_STREAM_MAXLEN, approximate=True)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("durable events stored in SQL but not announced to the ticker: %s", exc)


def _raw_field(payload: Any, index: int, name: str) -> Any:
    """Field `name` of the raw event at `index` of a request body (None when absent)."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        items: list[Any] = payload["events"]
    else:
        items = payload if isinstance(payload, list) else [payload]
    raw = items[index] if 0 <= index < len(items) else None
    return raw.get(name) if isinstance(raw, dict) else None


def _raw_source(payload: Any, index: int) -> str:
    """The source named by the raw event at `index` of a request body, or "unknown" (absent or invalid)."""
    source = _raw_field(payload, index, "source")
    return source if is_source_name(source) else "unknown"


def _count(r: redis.Redis, pairs: list[tuple[int, Event]], payload: Any, result: IngestResult, now: float) -> None:
    """Per-source health of data sources: accepted/rejected counters, time of the latest accepted event,
    accepted events per minute, and the latest rejections with their reasons (bounded)."""
    not_stored = {rej.index for rej in result.rejected}
    not_stored |= {ref["index"] for ref in (*result.duplicates, *result.unavailable)}
    accepted: dict[str, int] = {}
    for i, ev in pairs:
        accepted[ev["source"]] = accepted.get(ev["source"], 0) + (i not in not_stored)
    minute_key = keys.ingest_minute_key(int(now // 60))
    try:
        pipe = r.pipeline(transaction=False)
        for source, n in accepted.items():
            pipe.hincrby(keys.INGEST_STATS, f"{source}:accepted", n)
            if n:
                pipe.hset(keys.INGEST_LAST, source, repr(float(now)))
                pipe.hincrby(minute_key, source, n)
        if any(accepted.values()):
            pipe.expire(minute_key, keys.INGEST_MINUTE_TTL_S)
        _count_rejections(pipe, payload, result, now)
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("ingest counters not updated: %s", exc)


def _count_rejections(pipe: Pipeline, payload: Any, result: IngestResult, now: float) -> None:
    """Queue on `pipe` the rejected counters and the latest rejections with their reasons, per source (bounded)."""
    rejected: dict[str, list[bytes]] = {}
    for rej in result.rejected:
        entry = {"at": now, "index": rej.index, "event_id": rej.event_id, "errors": rej.errors}
        rejected.setdefault(result.sender or _raw_source(payload, rej.index), []).append(_compact(entry))
    for source, entries in rejected.items():
        pipe.hincrby(keys.INGEST_STATS, f"{source}:rejected", len(entries))
        # Newest first: LPUSH pushes each in turn, so the last of the batch ends up at the head.
        pipe.lpush(keys.ingest_rejects_key(source), *entries[-keys.INGEST_REJECTS_KEEP:])
        pipe.ltrim(keys.ingest_rejects_key(source), 0, keys.INGEST_REJECTS_KEEP - 1)
