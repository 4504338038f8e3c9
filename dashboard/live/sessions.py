"""Server-side records of signed-in browser sessions, in Redis, so that logout and expiry hold on every host.

Flask's session cookie is signed, so nobody can forge one, but a signature cannot be taken back: a copy made
before logout would still be accepted. Each sign-in therefore gets a random session id (256 bits) whose record,
keys.session_key(sid), is a hash:

    uid      the user's id
    created  the sign-in time (epoch seconds)
    seen     the last activity (epoch seconds; dashboard/web/sessions.py says what counts as activity)
    state    "live", or "ended" after logout or expiry (a tombstone)
    gen      the user's generation: bumped by every change to the user (a role, a disable), absent means 0
    user     the snapshot of the user (JSON) as the database last gave it to a request of this session
    uchk     when the database gave it (epoch seconds)
    ugen     the generation it was given under

A request trusts `user` instead of asking the database while `uchk` is younger than the recheck interval and
`ugen` is still `gen`. A request writes the snapshot only if `gen` is still what it read before asking the
database (confirm_user, atomically), so a change that bumped the generation meanwhile cannot be overwritten by
the answer read before it.

A request is admitted while its record is live, has not been idle longer than its kind's idle limit and is not
older than its kind's maximum age. Logout and expiry leave the tombstone, which outlives the idle limit; a live
record expires by itself a while after its idle limit (it would be refused by then anyway).

Redis is rebuildable (a flush, a restart without persistence), and losing every record must not sign out every
wall in the room. Redis therefore also holds an epoch, a random value written once, which a loss of data takes
with it; each cookie carries the epoch in which its session was last confirmed. A record missing while the epoch
is still the cookie's means the session ended; a record missing under a newer epoch means the data was lost, and
the session is adopted again (a new record, with the signed cookie's sign-in time) if it comes back within its
idle limit of the new epoch, as a live session would. The caller then writes the new epoch into the cookie.

What is lost with the data stays lost: a cookie copied before a logout that was followed, within the idle limit,
by a loss of Redis's data is adopted like its owner's would be. Every function raises redis.RedisError when
Redis does not answer; what that means for a request is decided in dashboard/web/sessions.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import redis

from dashboard.live import keys
from dashboard.live.connections import round_trip

LIVE: Final = "live"
ENDED: Final = "ended"
# A record outlives its idle limit by this much (the limit itself is checked on its fields, not by expiry).
TTL_SLACK_S: Final = 3600
# The activity time is rewritten at most once per this fraction of the idle limit, bounded below and above: every
# wall screen refreshes every second, and one write a minute per screen is plenty to measure days of idleness.
TOUCH_FRACTION: Final = 0.05
TOUCH_MIN_S: Final = 1.0
TOUCH_MAX_S: Final = 60.0
# A user's index of session ids is kept this long after its last sign-in (each sign-in prunes the gone ones).
INDEX_TTL_S: Final = 30 * 86_400
# Written only while the record is live and its generation is still the one read before the database was asked.
CONFIRM_USER_LUA: Final = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
if (redis.call('HGET', KEYS[1], 'gen') or '0') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'user', ARGV[3], 'uchk', ARGV[4], 'ugen', ARGV[2])
return 1
"""
# Bumps the generation of the records that still exist (a user's index outlives their records).
BUMP_GEN_LUA: Final = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'gen', 1)
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True)
class Limits:
    """How long one kind of session lives: its idle limit and maximum age in seconds (0: no maximum age)."""

    idle_s: float
    max_s: float = 0.0

    def touch_every_s(self) -> float:
        """The least time between two writes of the activity time."""
        return min(TOUCH_MAX_S, max(TOUCH_MIN_S, self.idle_s * TOUCH_FRACTION))

    def ttl_s(self) -> int:
        """Lifetime of a live record's key after its last write (and of a tombstone)."""
        return int(self.idle_s + TTL_SLACK_S)

    def expired(self, now: float, created: float, seen: float) -> bool:
        """True when a session signed in at `created` and last active at `seen` has run out at `now`."""
        return now - seen > self.idle_s or (self.max_s > 0 and now - created > self.max_s)


class Verdict(Enum):
    """What the record says about a request's session."""

    LIVE = "live"
    ADOPTED = "adopted"  # lost with Redis's data and made again: the cookie must get the new epoch
    ENDED = "ended"  # logged out, expired or unknown: refuse it


@dataclass(frozen=True)
class Checked:
    """A verdict, the record's generation, and its snapshot of the user when it may stand without the database."""

    verdict: Verdict
    gen: str = "0"
    user: dict[str, Any] | None = None
    # The replies to the commands read ahead with the record (inspect's `ahead`), in their order; None: none asked.
    ahead: list[Any] | None = None


@dataclass(frozen=True)
class Started:
    """A new session: its id, the epoch it was created in, and the sign-in time."""

    sid: str
    epoch: str
    created: float


def epoch(r: redis.Redis, now: float) -> tuple[str, float]:
    """The current epoch (token, epoch seconds it was written), writing a new one when Redis has none."""
    raw = r.get(keys.SESSION_EPOCH)
    if raw is None:
        # Several hosts may notice at once: the first write wins and everybody reads that one.
        r.set(keys.SESSION_EPOCH, f"{secrets.token_hex(16)}|{now}", nx=True)
        raw = r.get(keys.SESSION_EPOCH)
    token, _, written = _text(raw).partition("|")
    try:
        return token, float(written)
    except ValueError:
        return token, now


def _text(raw: bytes | str | None) -> str:
    """A Redis reply as text (the client answers bytes)."""
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _write_live(r: redis.Redis, sid: str, uid: int, created: float, seen: float, limits: Limits) -> None:
    """Write a live record and index it under its user."""
    key = keys.session_key(sid)
    index = keys.user_sessions_key(uid)
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"uid": uid, "created": created, "seen": seen, "state": LIVE})
        pipe.expire(key, limits.ttl_s())
        pipe.sadd(index, sid)
        pipe.expire(index, max(INDEX_TTL_S, limits.ttl_s()))
        pipe.execute()


def start(r: redis.Redis, uid: int, now: float, limits: Limits) -> Started:
    """Create the record of a new sign-in of user `uid`."""
    sid = secrets.token_urlsafe(32)
    token, _ = epoch(r, now)
    _prune(r, uid)
    _write_live(r, sid, uid, now, now, limits)
    return Started(sid, token, now)


def check(
    r: redis.Redis, sid: str, uid: int, cookie_epoch: str, created: float, now: float, limits: Limits, active: bool,
) -> Verdict:
    """Whether the session `sid` of user `uid` may go on, noting its activity when `active`.

    `cookie_epoch` and `created` come from the signed cookie; an expired record is ended here.
    """
    return inspect(r, sid, uid, cookie_epoch, created, now, limits, active).verdict


def inspect(
    r: redis.Redis, sid: str, uid: int, cookie_epoch: str, created: float, now: float, limits: Limits, active: bool,
    recheck_s: float = 0.0, ahead: Sequence[Sequence[Any]] = (),
) -> Checked:
    """check's verdict, with the record's snapshot of the user when it was confirmed less than `recheck_s` ago.

    One read of the record (HGETALL) in the common case; the commands `ahead` (a route's own reads) go in the same
    round trip, and their replies come back in Checked.ahead.
    """
    key = keys.session_key(sid)
    if ahead:
        record, *replies = round_trip(r, (("HGETALL", key), *ahead))
        judged = _judge(r, sid, uid, cookie_epoch, created, now, limits, active, recheck_s, record)
        # (dataclasses.replace costs more)
        return Checked(verdict=judged.verdict, gen=judged.gen, user=judged.user, ahead=replies)
    return _judge(r, sid, uid, cookie_epoch, created, now, limits, active, recheck_s, r.hgetall(key))


def _judge(
    r: redis.Redis, sid: str, uid: int, cookie_epoch: str, created: float, now: float, limits: Limits, active: bool,
    recheck_s: float, record: dict[Any, Any],
) -> Checked:
    """inspect's verdict on the record read (empty: none)."""
    key = keys.session_key(sid)
    if record:
        if record.get(b"state") != LIVE.encode() or record.get(b"uid") != str(uid).encode():
            return Checked(Verdict.ENDED)
        try:
            rec_created, seen = float(record[b"created"]), float(record[b"seen"])
        except (KeyError, ValueError):
            return Checked(Verdict.ENDED)
        if limits.expired(now, rec_created, seen):
            end(r, sid, limits)
            return Checked(Verdict.ENDED)
        if active and now - seen >= limits.touch_every_s():
            with r.pipeline(transaction=False) as pipe:
                pipe.hset(key, "seen", now)
                pipe.expire(key, limits.ttl_s())
                pipe.execute()
        gen = _text(record.get(b"gen")) or "0"
        return Checked(Verdict.LIVE, gen, _confirmed_user(record, gen, now, recheck_s))
    token, written = epoch(r, now)
    if token == cookie_epoch:
        return Checked(Verdict.ENDED)
    # The data was lost after this cookie was last confirmed: a session still live then comes back within its
    # idle limit of the loss (the new epoch); anything later had ended anyway.
    if now - written > limits.idle_s or limits.expired(now, created, now):
        return Checked(Verdict.ENDED)
    _write_live(r, sid, uid, created, now, limits)
    return Checked(Verdict.ADOPTED)


def _confirmed_user(record: dict[Any, Any], gen: str, now: float, recheck_s: float) -> dict[str, Any] | None:
    """The record's snapshot of its user if confirmed under generation `gen` less than `recheck_s` ago, else None."""
    raw, checked = record.get(b"user"), record.get(b"uchk")
    if recheck_s <= 0 or raw is None or checked is None or (_text(record.get(b"ugen")) or "0") != gen:
        return None
    try:
        age = now - float(checked)
        user = json.loads(raw)
    except ValueError:
        return None
    # abs(): another host's clock a little ahead must not make a snapshot trusted for longer.
    return user if abs(age) < recheck_s and isinstance(user, dict) else None


def confirm_user(r: redis.Redis, sid: str, gen: str, user: dict[str, Any], now: float) -> bool:
    """Keep the database's answer `user` in the record, unless it ended or the user changed since `gen` was read."""
    done = r.eval(CONFIRM_USER_LUA, 1, keys.session_key(sid), LIVE, gen,
                  json.dumps(user, ensure_ascii=False, sort_keys=True), repr(now))
    return bool(done)


def user_changed(r: redis.Redis, uid: int) -> int:
    """Make every session of user `uid` ask the database again at its next request; how many records there were."""
    sids = sorted(_text(m) for m in r.smembers(keys.user_sessions_key(uid)))
    if not sids:
        return 0
    bumped = int(r.eval(BUMP_GEN_LUA, len(sids), *(keys.session_key(sid) for sid in sids)))
    announce(r, uid)
    return bumped


def announce(r: redis.Redis, uid: int) -> None:
    """Tell every web process that user `uid`'s access changed (after the change is stored): their open push streams
    check their caller again now rather than at their next periodic check."""
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    r.publish(keys.access_channel(db), str(int(uid)))


def end(r: redis.Redis, sid: str, limits: Limits) -> None:
    """End a session: its record becomes a tombstone that a copy of its cookie cannot get past."""
    key = keys.session_key(sid)
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, "state", ENDED)
        pipe.expire(key, limits.ttl_s())
        pipe.execute()


def end_all(r: redis.Redis, uid: int, limits: Limits, keep: str | None = None) -> int:
    """End every live session of user `uid` but `keep` (after a password reset); how many there were."""
    ended = 0
    for raw in r.smembers(keys.user_sessions_key(uid)):
        sid = _text(raw)
        if sid != keep and r.hget(keys.session_key(sid), "state") == LIVE.encode():
            end(r, sid, limits)
            ended += 1
    if ended:
        announce(r, uid)
    return ended


def _prune(r: redis.Redis, uid: int) -> None:
    """Drop from a user's index the sessions whose records are gone (each sign-in adds one)."""
    index = keys.user_sessions_key(uid)
    members = [_text(m) for m in r.smembers(index)]
    if not members:
        return
    with r.pipeline(transaction=False) as pipe:
        for sid in members:
            pipe.exists(keys.session_key(sid))
        alive = pipe.execute()
    gone = [sid for sid, present in zip(members, alive, strict=True) if not present]
    if gone:
        r.srem(index, *gone)
