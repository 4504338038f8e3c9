"""The hotline aggregate maintained from the changes since the last tick, proved against SQL now and then.

Each tick reads only what changed: the tickets whose updated_at passed the cursor (new, updated, linked into or
split off a case; which ones from the index alone, and only the rows no earlier tick read as they are now), the
tickets whose own instant passed (end of the response window, deadline: the wake set) and the unresolved tickets
whose deadline passed (the unresolved set, by deadline). It subtracts their old part of the counters and adds their
new one (workers/hotline_counts.py). Nothing is written here: `advance` returns the new figures and the writes,
which the tick adds to its single MULTI/EXEC with the aggregates, so that a tick that dies leaves the state as the
previous tick left it.

A full rebuild from SQL replaces everything when the state is missing (first start, Redis emptied) or outdated, when a
new Beijing day begins, and when the periodic check (every CHECK_EVERY_S) finds that the incremental figures differ
from workers.hotline.compute_hotline over the same snapshot of SQL: that is logged and counted
(dongcheng_hotline_checks_total{outcome="differed"}), and the full figures are adopted.

The early warning's tickets of the last LOOKBACK_S are the recent set (keys.HOTLINE_RECENT), their durable copy, and
the caller's book (workers/early_warning/book.py), kept by the worker process between its ticks: the changed tickets
go into both, and the set is read back into the book only when the book cannot vouch for itself (a new process,
another process ticked since, a rebuild: the state's generation and instant are not the ones it mirrors).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from redis.client import Pipeline
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain.beijing import day_start, epoch, utc_datetime
from dashboard.live import keys
from dashboard.live.schema import HotlineData
from workers import hotline_counts as hc
from workers.early_warning import LOOKBACK_S
from workers.early_warning.book import TicketBook
from workers.hotline import compute_hotline

log = logging.getLogger(__name__)

STATE_VERSION: Final = 1
# The full check's period: the incremental figures are compared with a recomputation from SQL this often.
CHECK_EVERY_S: Final = 300.0
# Tickets changed up to this long before the cursor are read again: a transaction that stamped updated_at before the
# cursor moved past it but committed after is still seen (reading a ticket again changes nothing).
CURSOR_LAG_S: Final = 10.0
# How long a ticket's (id, stamp) stays in the seen set after it was read: beyond the lag, with a margin for writers
# whose clocks run ahead (a stamp trimmed too early is only read once more, and found unchanged in the ledger).
SEEN_KEEP_S: Final = 3 * CURSOR_LAG_S
# Ledger entries written per HSET / ZADD in a rebuild (keeps each command's reply small).
WRITE_CHUNK: Final = 5_000


# One queued write: (command, key, argument): hset/zadd a mapping, hdel/zrem members, delete keys (key unused), trim
# a sorted set below a score.
Op = tuple[str, str, Any]


def _queue(pipe: Pipeline, op: Op) -> None:
    """Queue one write on `pipe`."""
    command, key, arg = op
    if command == "hset":
        pipe.hset(key, mapping=arg)
    elif command == "zadd":
        pipe.zadd(key, arg)
    elif command == "hdel":
        pipe.hdel(key, *arg)
    elif command == "zrem":
        pipe.zrem(key, *arg)
    elif command == "delete":
        pipe.delete(*arg)
    elif command == "trim":  # a sorted set's members scored below `arg`
        pipe.zremrangebyscore(key, "-inf", f"({arg}")
    else:
        raise ValueError(f"unknown write {command!r}")


@dataclass
class Step:
    """One tick's hotline figures and the writes that carry the state to them."""

    hotline: HotlineData
    doc: dict[str, Any]  # the state document after this tick
    ops: list[Op] = field(default_factory=list)
    rebuilt: str | None = None  # why the state was rebuilt from SQL (missing, new day, check), None when it was not
    check: str | None = None  # the periodic check's outcome: equal or differed; None when it did not run
    changes: int = 0  # tickets read as changed
    woken: int = 0  # tickets whose own instant passed
    # The tickets received in the last LOOKBACK_S: the early warning's, kept from tick to tick by the caller's book.
    book: TicketBook = field(default_factory=TicketBook)
    at: float = 0.0  # the instant the state was brought to

    @property
    def recent(self) -> list[tuple[str, str, str, float]]:
        """The tickets received in [at - LOOKBACK_S, at] as (category, subdistrict, cell, received), in SQL's order."""
        return self.book.rows(self.at)

    def apply(self, pipe: Pipeline) -> None:
        """Queue the writes on `pipe` (inside the tick's MULTI), the state document last."""
        for op in self.ops:
            _queue(pipe, op)
        pipe.set(keys.HOTLINE_STATE, _dumps(self.doc))


def load_doc(r: redis.Redis) -> dict[str, Any] | None:
    """The state document, None when it is missing, unreadable or of another version."""
    raw = r.get(keys.HOTLINE_STATE)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        log.exception("the hotline state is unreadable; rebuilding it from SQL")
        return None
    if not isinstance(doc, dict) or doc.get("v") != STATE_VERSION:
        return None
    return doc


def check_due(doc: Mapping[str, Any] | None, now: float) -> bool:
    """Whether this tick reads SQL in full: no state, a new day, or the periodic check is due."""
    return (
        doc is None
        or doc.get("day") != day_start(now)
        or now - float(doc.get("checked_at", 0.0)) >= CHECK_EVERY_S
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def advance(
    r: redis.Redis, s: Session, now: float, doc: Mapping[str, Any] | None = None, book: TicketBook | None = None
) -> Step:
    """This tick's hotline figures from the state in Redis (`doc`: load_doc's, read by the caller) and the changes in
    SQL read through `s`; a rebuild when there is no state or a new day began; the check when it is due.

    `book`: the recent tickets this process kept from its last tick (None: a new one), brought to this tick's; read
    again from Redis unless it mirrors `doc`. It mirrors the new state once the caller says the writes landed
    (book.committed())."""
    today0 = day_start(now)
    book = book if book is not None else TicketBook()
    book.pending = None
    if doc is None:
        return rebuild(r, s, now, "missing", book)
    if doc.get("day") != today0:
        return rebuild(r, s, now, "new day", book)
    t = max(now, float(doc["at"]))  # never back in time (ticks on hosts whose clocks differ slightly)
    step = _incremental(r, s, dict(doc), today0, t, book)
    if t - float(doc.get("checked_at", 0.0)) < CHECK_EVERY_S:
        return step
    full = full_figures(s, t)
    recent = sorted(
        (str(cat), str(sub), str(cell), epoch(received))
        for cat, sub, cell, received in store.tickets.recent_tickets(s, utc_datetime(t - LOOKBACK_S))
        if epoch(received) <= t
    )
    if full == step.hotline and recent == sorted(step.recent):
        step.check = "equal"
        step.doc["checked_at"] = t
        return step
    differing = sorted(k for k, v in full.items() if v != step.hotline.get(k))
    if recent != sorted(step.recent):
        differing.append("the recent tickets")
    log.warning("the incremental hotline figures differ from SQL's in %s; adopting SQL's", ", ".join(differing))
    rebuilt = rebuild(r, s, t, "check", book)
    rebuilt.check = "differed"
    return rebuilt


def _recent_member(row: Sequence[Any], tid: Any) -> tuple[str, float]:
    """The recent set's member and score of a ticket row (its category, subdistrict and cell never change)."""
    return f"{tid}|{row[0]}|{row[1]}|{row[2]}", epoch(row[3])


def _scored_range(r: redis.Redis, key: str, lo: float | str, hi: float | str) -> list[tuple[Any, float]]:
    """ZRANGEBYSCORE … WITHSCORES as (member, score) pairs, paired here from the flat reply: redis-py's own pairing
    is a Python step per member, which at the early warning's thousands of tickets cost more than the read."""
    reply: Any = r.execute_command("ZRANGEBYSCORE", key, lo, hi, "WITHSCORES")
    if reply and isinstance(reply[0], list):  # RESP3 answers pairs already
        return [(member, float(score)) for member, score in reply]
    return list(zip(reply[0::2], map(float, reply[1::2]), strict=True))


def full_figures(s: Session, now: float) -> HotlineData:
    """The hotline aggregate recomputed from SQL in full (today's and yesterday's tickets, the overdue ones by cell),
    as the tick computed it before it kept the figures from the changes: the reference they are checked against."""
    cells = store.tickets.overdue_tickets_by_cell(s, utc_datetime(now))
    rows = store.tickets.tickets_since(s, utc_datetime(day_start(now) - hc.DAY_S))
    return compute_hotline(rows, sum(cells.values()), now, overdue_cells=cells)


def _incremental(
    r: redis.Redis, s: Session, doc: dict[str, Any], today0: float, t: float, book: TicketBook
) -> Step:
    """Bring the state from doc["at"] to `t`: deadlines passed, instants passed, tickets changed."""
    at = float(doc["at"])
    # The state's generation changes at every rebuild: a book that mirrors this generation at this instant holds the
    # recent set as Redis does (its tick's writes landed, and no other process ticked since).
    gen = str(doc.get("gen") or secrets.token_hex(8))
    if book.mirrors != (gen, at):
        book.load((_decode(m), score) for m, score in _scored_range(r, keys.HOTLINE_RECENT, t - LOOKBACK_S, "+inf"))
    book.mirrors = None  # changed below: unknown until the writes land
    counts: dict[str, int] = {str(k): int(v) for k, v in doc["counts"].items()}
    overdue: dict[str, int] = {str(k): int(v) for k, v in doc["overdue"].items()}
    ops: list[Op] = []
    # Unresolved tickets whose deadline passed since the last tick become overdue (overdue: deadline < now).
    for member in r.zrangebyscore(keys.HOTLINE_UNRESOLVED, at, f"({t}") if t > at else ():
        cell = _decode(member).split("|", 1)[1]
        overdue[cell] = overdue.get(cell, 0) + 1
    # Tickets whose response window ended or whose deadline passed: their part of the rates changes.
    woken = [_decode(m) for m in r.zrangebyscore(keys.HOTLINE_WAKE, "-inf", t)]
    if woken:
        wake_add: dict[str, float] = {}
        wake_del: list[str] = []
        for tid, raw in zip(woken, r.hmget(keys.HOTLINE_LEDGER, woken), strict=True):
            if raw is None:
                wake_del.append(tid)
                continue
            rec = json.loads(raw)
            hc.add(counts, hc.contribution(rec, today0, at), -1)
            hc.add(counts, hc.contribution(rec, today0, t), 1)
            nxt = hc.next_wake(rec, today0, t)
            if nxt is None:
                wake_del.append(tid)
            else:
                wake_add[tid] = nxt
        if wake_add:
            ops.append(("zadd", keys.HOTLINE_WAKE, wake_add))
        if wake_del:
            ops.append(("zrem", keys.HOTLINE_WAKE, wake_del))
    rows = _changed_rows(r, s, float(doc["cursor"]), ops, t)
    cursor = _apply_changes(r, rows, counts, overdue, ops, today0, t, float(doc["cursor"]))
    # The early warning's recent tickets: the changed ones received in its window that the book (as Redis) lacks.
    members = (_recent_member(row, row[9]) for row in rows)
    added = {member: received for member, received in members
             if received >= t - LOOKBACK_S and book.add(member, received)}  # fmt: skip
    if added:
        ops.append(("zadd", keys.HOTLINE_RECENT, added))
    ops.append(("trim", keys.HOTLINE_RECENT, t - LOOKBACK_S))
    book.trim(t - LOOKBACK_S)
    book.pending = (gen, t)
    overdue = {k: v for k, v in overdue.items() if v}
    new_doc = {**doc, "at": t, "cursor": cursor, "counts": counts, "overdue": overdue, "gen": gen}
    return Step(hc.figures(counts, overdue), new_doc, ops, changes=len(rows), woken=len(woken), book=book, at=t)


def _changed_rows(r: redis.Redis, s: Session, cursor: float, ops: list[Op], t: float) -> list[tuple[Any, ...]]:
    """The rows of the tickets changed since `cursor` (less the lag) that no earlier tick read as they are now.

    Which tickets changed comes from the index alone (id and the stamp as the database's text); a ticket whose
    (id, stamp) the seen set holds was read by an earlier tick, so only the others' rows are loaded: at a thousand
    ticket changes a second the lag's window holds thousands of tickets read already."""
    stamps = store.tickets.changed_ticket_stamps(s, utc_datetime(cursor - CURSOR_LAG_S))
    if not stamps:
        return []
    members = [f"{tid}@{stamp}" for tid, stamp in stamps]
    scores = r.zmscore(keys.HOTLINE_SEEN, members)
    fresh = {member: tid for (tid, _), member, score in zip(stamps, members, scores, strict=True) if score is None}
    if fresh:
        ops.append(("zadd", keys.HOTLINE_SEEN, dict.fromkeys(fresh, t)))
    # A stamp leaves the window CURSOR_LAG_S after the cursor passes it; the margin covers writers' clocks ahead.
    ops.append(("trim", keys.HOTLINE_SEEN, t - SEEN_KEEP_S))
    return store.tickets.changed_tickets_by_id(s, fresh.values()) if fresh else []


def _apply_changes(
    r: redis.Redis,
    rows: Sequence[Sequence[Any]],
    counts: dict[str, int],
    overdue: dict[str, int],
    ops: list[Op],
    today0: float,
    t: float,
    cursor: float,
) -> float:
    """Apply changed ticket rows (store.tickets.changed_tickets_by_id) to the counters, the overdue cells and the queued
    writes; the new cursor (the latest updated_at seen)."""
    if not rows:
        return cursor
    ids = [str(row[9]) for row in rows]
    members = [f"{row[9]}|{row[2]}" for row in rows]
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.HOTLINE_LEDGER, ids)
    pipe.zmscore(keys.HOTLINE_UNRESOLVED, members)
    old_raw, old_scores = pipe.execute()
    news = [hc.record_of(row) for row in rows]
    dumped = [_dumps(new) for new in news]
    # Most rows are read again (the cursor's lag) and held by the ledger as they are: compared as the bytes stored,
    # they need no parsing.
    same = [raw is not None and _decode(raw) == text for raw, text in zip(old_raw, dumped, strict=True)]
    olds = [None if raw is None or alike else json.loads(raw) for raw, alike in zip(old_raw, same, strict=True)]
    # The cases these tickets leave or join, with their counts.
    case_ids = sorted({m[0] for rec in (*olds, *news) if (m := hc.case_membership(rec, today0)) is not None})
    cases: dict[int, list[int]] = {}
    if case_ids:
        for cid, raw in zip(case_ids, r.hmget(keys.HOTLINE_CASES, [str(x) for x in case_ids]), strict=True):
            if raw is not None:
                cases[cid] = [int(x) for x in json.loads(raw)]
    ledger_set: dict[str, str] = {}
    ledger_del: list[str] = []
    wake_add: dict[str, float] = {}
    wake_del: list[str] = []
    open_add: dict[str, float] = {}
    open_del: list[str] = []
    for row, tid, member, old, new, text, alike, score in zip(
        rows, ids, members, olds, news, dumped, same, old_scores, strict=True
    ):
        updated = row[10]
        if updated is not None:
            cursor = max(cursor, epoch(updated))
        # A row read again that the ledger already holds as it is: its part, its case, its wake-up and its overdue
        # state are counted already (deadlines passing are the sweep's).
        if alike:
            continue
        if old is not None:
            hc.add(counts, hc.contribution(old, today0, t), -1)
        keep = hc.day_class(new, today0) is not None
        if keep:
            hc.add(counts, hc.contribution(new, today0, t), 1)
            ledger_set[tid] = text
            nxt = hc.next_wake(new, today0, t)
            if nxt is None:
                wake_del.append(tid)
            else:
                wake_add[tid] = nxt
        elif old is not None:
            ledger_del.append(tid)
            wake_del.append(tid)
        joined = hc.case_membership(new if keep else None, today0)
        hc.apply_case_change(counts, cases, hc.case_membership(old, today0), joined)
        # Overdue: counted while unresolved with its deadline passed.
        was = score is not None and float(score) < t
        unresolved = new[6] is None
        now_overdue = unresolved and new[4] < t
        if unresolved:
            open_add[member] = new[4]
        elif score is not None:
            open_del.append(member)
        if now_overdue != was:
            cell = new[2]
            overdue[cell] = overdue.get(cell, 0) + (1 if now_overdue else -1)
    live_cases = {str(k): _dumps(v) for k, v in cases.items() if v[0] > 0}
    gone_cases = [str(k) for k, v in cases.items() if v[0] <= 0]
    queued: list[Op] = [
        ("hset", keys.HOTLINE_LEDGER, ledger_set), ("hdel", keys.HOTLINE_LEDGER, ledger_del),
        ("zadd", keys.HOTLINE_WAKE, wake_add), ("zrem", keys.HOTLINE_WAKE, wake_del),
        ("zadd", keys.HOTLINE_UNRESOLVED, open_add), ("zrem", keys.HOTLINE_UNRESOLVED, open_del),
        ("hset", keys.HOTLINE_CASES, live_cases), ("hdel", keys.HOTLINE_CASES, gone_cases),
    ]  # fmt: skip
    ops.extend(op for op in queued if op[2])  # Redis refuses an empty HSET, ZADD, HDEL or ZREM
    return cursor


def rebuild(r: redis.Redis, s: Session, now: float, reason: str, book: TicketBook | None = None) -> Step:
    """The whole state from SQL: today's and yesterday's tickets, every unresolved ticket, the latest change; `book`
    (None: a new one) is filled with the recent tickets, in a new generation."""
    today0 = day_start(now)
    log.info("hotline figures rebuilt from SQL (%s)", reason)
    last = store.tickets.last_ticket_change(s)  # first: a change committed during the reads below is read again
    # The stamps before the rows: a ticket changed in between has a stamp the seen set lacks, so it is read again.
    stamps = store.tickets.changed_ticket_stamps(s, utc_datetime(epoch(last) - CURSOR_LAG_S)) if last else []
    rows = store.tickets.tickets_with_ids_since(s, utc_datetime(today0 - hc.DAY_S))
    records = {str(row[9]): hc.record_of(row) for row in rows}
    counts, cases = hc.build(records.values(), today0, now)
    unresolved = store.tickets.unresolved_tickets(s)
    overdue: dict[str, int] = {}
    open_members: dict[str, float] = {}
    for tid, cell, deadline in unresolved:
        d = epoch(deadline)
        open_members[f"{tid}|{cell}"] = d
        if d < now:
            overdue[cell] = overdue.get(cell, 0) + 1
    wakes = {tid: w for tid, rec in records.items() if (w := hc.next_wake(rec, today0, now)) is not None}
    recent = {m: sc for m, sc in (_recent_member(row, row[9]) for row in rows) if sc >= now - LOOKBACK_S}
    gen = secrets.token_hex(8)
    book = book if book is not None else TicketBook()
    book.load(recent.items())
    book.mirrors, book.pending = None, (gen, now)
    doc = {
        "v": STATE_VERSION,
        "gen": gen,
        "day": today0,
        "at": now,
        "cursor": epoch(last) if last is not None else 0.0,
        "counts": counts,
        "overdue": overdue,
        "checked_at": now,
    }
    ops: list[Op] = [("delete", "", keys.HOTLINE_KEYS[1:])]
    ops += _chunked_writes(keys.HOTLINE_LEDGER, {k: _dumps(v) for k, v in records.items()}, hash_=True)
    ops += _chunked_writes(keys.HOTLINE_WAKE, wakes, hash_=False)
    ops += _chunked_writes(keys.HOTLINE_UNRESOLVED, open_members, hash_=False)
    ops += _chunked_writes(keys.HOTLINE_CASES, {str(k): _dumps(v) for k, v in cases.items()}, hash_=True)
    ops += _chunked_writes(keys.HOTLINE_RECENT, recent, hash_=False)
    ops += _chunked_writes(keys.HOTLINE_SEEN, {f"{tid}@{stamp}": now for tid, stamp in stamps}, hash_=False)
    return Step(hc.figures(counts, overdue), doc, ops, rebuilt=reason, changes=len(rows), book=book, at=now)


def _chunked_writes(key: str, mapping: Mapping[str, Any], hash_: bool) -> Iterable[Op]:
    """HSET (hash_) or ZADD commands writing `mapping` in chunks of WRITE_CHUNK."""
    items = list(mapping.items())
    for i in range(0, len(items), WRITE_CHUNK):
        chunk = dict(items[i : i + WRITE_CHUNK])
        yield ("hset" if hash_ else "zadd", key, chunk)
