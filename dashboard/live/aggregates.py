"""Reading and writing the precomputed aggregates in Redis (shared by the workers and the web app).

Every aggregate is one JSON string under ``keys.agg_key(name)`` shaped as ``keys.Envelope`` plus a
``hash`` of its data. The writer lays the envelope out in a fixed order,
``{"name":…,"version":…,"hash":…,"computed_at":…,"data":…}``, so that the version, hash and age of an
aggregate can be read from the first bytes of the key (GETRANGE) without parsing a large ``data``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import redis

from dashboard.live import keys
from dashboard.live.connections import round_trip
from dashboard.live.schema import AGGREGATES, Envelope

try:  # orjson parses several times faster; plain json is the fallback so it stays optional.
    import orjson

    def loads(raw: bytes | str) -> Any:
        """Parse JSON with orjson."""
        return orjson.loads(raw)

except ImportError:  # pragma: no cover - depends on the environment

    def loads(raw: bytes | str) -> Any:
        """Parse JSON with the standard library."""
        return json.loads(raw)


log = logging.getLogger(__name__)

# Bytes of an envelope that always hold name, version, hash and computed_at.
_HEAD_BYTES: Final = 256
_HEAD_RE: Final = re.compile(rb'^\{"name":"[^"]*","version":(\d+),"hash":"([0-9a-f]*)","computed_at":(-?[0-9.eE+-]+),')
# Optimistic-lock retries when another writer changes an aggregate between our read and our EXEC.
_WATCH_RETRIES: Final = 5


class Head(NamedTuple):
    """Version, data hash and computed_at of a stored aggregate."""

    version: int
    hash: str
    computed_at: float


def canonical_json(data: Any) -> str:
    """The canonical JSON of `data` (sorted keys, compact, UTF-8): equal data gives equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def data_hash(canonical: str) -> str:
    """Short content hash of a canonical JSON text."""
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=12).hexdigest()


def encode_envelope(name: str, version: int, digest: str, computed_at: float, canonical: str) -> str:
    """The stored envelope text, head fields first (see the module docstring)."""
    return (
        f'{{"name":{json.dumps(name)},"version":{int(version)},"hash":"{digest}",'
        f'"computed_at":{float(computed_at)!r},"data":{canonical}}}'
    )


def parse_head(raw: bytes | str | None) -> Head | None:
    """Version, hash and computed_at from the start of a stored envelope (or from the whole of it)."""
    if raw is None:
        return None
    b = raw.encode("utf-8") if isinstance(raw, str) else raw
    m = _HEAD_RE.match(b)
    if m:
        return Head(int(m.group(1)), m.group(2).decode("ascii"), float(m.group(3)))
    return None


def _read_heads(r: redis.Redis, names: list[str]) -> dict[str, Head | None]:
    """Heads of the named aggregates in one round trip, falling back to a full read for foreign layouts."""
    return _read_heads_and(r, names, ())[0]


def _read_heads_and(
    r: redis.Redis, names: list[str], also: Sequence[str]
) -> tuple[dict[str, Head | None], list[Any]]:
    """Heads of the named aggregates and the values of the keys `also`, in one round trip."""
    return heads_from(r, names, round_trip(r, heads_commands(names, also)))


def heads_commands(names: Sequence[str], also: Sequence[str]) -> list[tuple[Any, ...]]:
    """The commands that read the heads of `names` and the values of the keys `also` (replies: `heads_from`)."""
    return [*(("GETRANGE", keys.agg_key(name), 0, _HEAD_BYTES - 1) for name in names),
            *(("GET", key) for key in also)]  # fmt: skip


def heads_from(
    r: redis.Redis, names: Sequence[str], replies: Sequence[Any]
) -> tuple[dict[str, Head | None], list[Any]]:
    """The heads and the values of `also` from the replies to heads_commands(names, also) (an envelope of an older
    layout is read again whole)."""
    raws, extra = replies[: len(names)], list(replies[len(names) :])
    out: dict[str, Head | None] = {}
    for name, raw in zip(names, raws, strict=True):
        if not raw:
            out[name] = None
            continue
        head = parse_head(raw)
        if head is None:
            head = _head_from_full(r, name)
        out[name] = head
    return out, extra


def _head_from_full(r: redis.Redis, name: str) -> Head | None:
    """Head of an envelope not written by encode_envelope (older layout): parse it whole."""
    raw = r.get(keys.agg_key(name))
    if raw is None:
        return None
    try:
        env = loads(raw)
        digest = str(env.get("hash") or data_hash(canonical_json(env["data"])))
        return Head(int(env["version"]), digest, float(env["computed_at"]))
    except (ValueError, KeyError, TypeError):
        log.exception("aggregate %s holds an unreadable envelope; it will be replaced", name)
        return None


def write_aggregates(
    r: redis.Redis,
    datas: Mapping[str, Any],
    now: float,
    extra_state: Mapping[str, str] | None = None,
    publish: bool = True,
    extra_writes: Callable[[Any], None] | None = None,
) -> list[str]:
    """Write every aggregate and `extra_state` (key -> value) in one MULTI/EXEC; return the changed names.
    `extra_writes(pipe)` queues more commands into the same transaction (the tick's changed sensor readings).

    `version` goes up only when an aggregate's data differs from what is stored (compared by hash);
    `computed_at` is always set to `now`. The names of changed aggregates are published on
    keys.updates_channel(db), one message per name, inside the same transaction so that a subscriber
    reading the key after the message always sees the new version; with `publish=False` the caller announces
    them itself afterwards (publish_changes), having done what must be ready before anyone hears of them.
    `also(pipe)` queues further writes in the same transaction (the tick's incremental state).
    """
    names = list(datas)
    canon = {name: canonical_json(datas[name]) for name in names}
    digests = {name: data_hash(text) for name, text in canon.items()}
    agg_keys = [keys.agg_key(n) for n in names]
    channel = keys.updates_channel(int(r.connection_pool.connection_kwargs.get("db", 0)))
    with r.pipeline(transaction=True) as pipe:
        for attempt in range(_WATCH_RETRIES):
            try:
                # WATCH makes the read-compare-write atomic against any other writer of these keys.
                pipe.watch(*agg_keys)
                heads = _read_heads(r, names)
                changed: list[str] = []
                pipe.multi()
                for name, key in zip(names, agg_keys, strict=True):
                    head = heads[name]
                    if head is None:
                        version = 1
                        changed.append(name)
                    elif head.hash != digests[name]:
                        version = head.version + 1
                        changed.append(name)
                    else:
                        version = head.version
                    pipe.set(key, encode_envelope(name, version, digests[name], now, canon[name]))
                for key, value in (extra_state or {}).items():
                    pipe.set(key, value)
                if extra_writes is not None:
                    extra_writes(pipe)
                if publish:
                    for name in changed:
                        pipe.publish(channel, name)
                pipe.execute()
                return changed
            except redis.WatchError:
                log.warning("aggregates changed during write (attempt %d); retrying", attempt + 1)
    raise RuntimeError(f"could not write aggregates after {_WATCH_RETRIES} attempts: concurrent writers")


def publish_changes(r: redis.Redis, names: Iterable[str]) -> None:
    """Announce aggregates already written (write_aggregates with publish=False), one message per name."""
    names = list(names)
    if not names:
        return
    channel = keys.updates_channel(int(r.connection_pool.connection_kwargs.get("db", 0)))
    with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.publish(channel, name)
        pipe.execute()


def read_aggregates(r: redis.Redis, names: Iterable[str] = AGGREGATES) -> dict[str, Envelope | None]:
    """The named aggregates as envelopes (None when missing or unreadable), with one MGET."""
    names = list(names)
    if not names:
        return {}
    raws = r.mget([keys.agg_key(n) for n in names])
    out: dict[str, Envelope | None] = {}
    for name, raw in zip(names, raws, strict=True):
        if raw is None:
            out[name] = None
            continue
        try:
            env = loads(raw)
        except ValueError:
            log.exception("aggregate %s is not valid JSON", name)
            out[name] = None
            continue
        env.pop("hash", None)
        out[name] = env
    return out


def read_heads(r: redis.Redis, names: Iterable[str] = AGGREGATES) -> dict[str, Head | None]:
    """Version, hash and computed_at of the named aggregates without parsing their data (one round trip)."""
    return _read_heads(r, list(names))


def read_heads_and(
    r: redis.Redis, names: Iterable[str], also: Sequence[str]
) -> tuple[dict[str, Head | None], list[Any]]:
    """read_heads, and the raw values of the keys `also` in the same round trip (a refresh's every read)."""
    return _read_heads_and(r, list(names), also)


def aggregate_ages(r: redis.Redis, now: float, names: Iterable[str] = AGGREGATES) -> dict[str, float | None]:
    """Seconds since each aggregate was last computed (None when it does not exist), for /healthz."""
    return {
        name: (None if head is None else round(max(0.0, now - head.computed_at), 3))
        for name, head in _read_heads(r, list(names)).items()
    }
