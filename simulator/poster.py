"""Posting events to the command centre's ingest API (POST /api/v1/events) over one persistent HTTP connection,
standard library only: batches in order, the server's 429/503 answered by resending what it could not store after
its Retry-After, unreachable servers and 5xx by backing off, telemetry that waited too long dropped (durable events
never), and counters for the live loop's summary line."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Protocol

from dashboard.domain import rules as c

log = logging.getLogger(__name__)

MAX_EVENTS_PER_POST: Final = 2000
# Drop telemetry this long before the validator would refuse it as no longer live.
STALE_MARGIN_S: Final = 30.0
MAX_PENDING_EVENTS: Final = 300_000
RETRY_AFTER_DEFAULT_S: Final = 2.0
RETRY_AFTER_MAX_S: Final = 30.0
BACKOFF_MAX_S: Final = 10.0
SERVER_ERROR_RETRIES: Final = 3
HTTP_TIMEOUT_S: Final = 10.0


class Transport(Protocol):
    """What the live loop sends batches through: Poster (HTTP) or mqtt_poster.MqttPoster (SIM_TRANSPORT=mqtt)."""

    def post(self, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], str | None]:
        """Send one batch; (status, JSON body or {}, Retry-After); OSError when the other end is unreachable."""

    def close(self) -> None:
        """Drop the connection."""


class Poster:
    """POSTs batches over one persistent HTTP connection (standard library only)."""

    def __init__(self, url: str, token: str, timeout: float = HTTP_TIMEOUT_S) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.path = parts.path.rstrip("/") + "/api/v1/events"
        self.timeout = timeout
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], str | None]:
        """Send one batch; return (status, JSON body or {}, Retry-After); raises OSError when unreachable."""
        body = json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in (0, 1):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self._conn = cls(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", self.path, body=body, headers=self.headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                retry_after = resp.getheader("Retry-After")
                if resp.will_close:
                    self.close()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server has closed meanwhile: reconnect once.
                self.close()
                if attempt:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {}
            return resp.status, data if isinstance(data, dict) else {}, retry_after
        raise ConnectionError("unreachable")  # pragma: no cover - the loop returns or raises


@dataclass
class Stats:
    """Counters for the periodic summary line."""

    generated: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    retries: int = 0
    sample: str = ""
    errors_logged: int = 0

    def reset(self) -> None:
        """Start a new summary window."""
        self.generated = self.accepted = self.duplicates = self.rejected = self.dropped = self.retries = 0
        self.errors_logged = 0
        self.sample = ""


def _count(value: Any) -> int:
    """A count from a response field that is an int or a list."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, list) else 0


def _retry_after(value: str | None, default: float = RETRY_AFTER_DEFAULT_S) -> float:
    """Seconds to wait from a Retry-After header (seconds form), capped."""
    try:
        wait = float(value) if value is not None else default
    except ValueError:
        wait = default
    return min(RETRY_AFTER_MAX_S, max(0.1, wait))


@dataclass
class Batch:
    """Events waiting to be sent, with the start of the interval they cover."""

    t0: float
    events: list[dict[str, Any]]
    failures: int = 0


def drop_stale(queue: deque[Batch], now: float, stats: Stats) -> None:
    """Drop telemetry the validator would refuse as too old (durable events never age out) and cap the queue."""
    limit = now - (c.TELEMETRY_MAX_AGE_S - STALE_MARGIN_S)
    total = sum(len(b.events) for b in queue)
    dropped = 0
    for b in queue:
        if b.t0 < limit or total > MAX_PENDING_EVENTS:
            keep = [ev for ev in b.events if ev["kind"] in c.DURABLE_KINDS]
            total -= len(b.events) - len(keep)
            dropped += len(b.events) - len(keep)
            b.events = keep
    if dropped:
        stats.dropped += dropped
        log.warning("dropped %d telemetry events that waited too long to be sent", dropped)
        kept = [b for b in queue if b.events]
        queue.clear()
        queue.extend(kept)


def enqueue(queue: deque[Batch], t0: float, events: list[dict[str, Any]], size: int = MAX_EVENTS_PER_POST) -> None:
    """Queue events in batches of at most `size`."""
    for k in range(0, len(events), size):
        queue.append(Batch(t0, events[k : k + size]))


def send(
    poster: Transport, queue: deque[Batch], stats: Stats, stop: threading.Event, limit: int | None = None
) -> float:
    """Send queued batches in order (at most `limit`); return how long to wait before trying again (0 = go on)."""
    sent = 0
    while queue and not stop.is_set() and (limit is None or sent < limit):
        batch = queue[0]
        try:
            status, body, retry_after = poster.post(batch.events)
        except (OSError, http.client.HTTPException) as exc:
            batch.failures += 1
            wait = min(BACKOFF_MAX_S, 0.5 * 2 ** min(batch.failures, 5))
            log.warning("ingest unreachable (%s); retrying in %.1f s", exc, wait)
            return wait
        sent += 1
        stats.accepted += _count(body.get("accepted"))
        stats.duplicates += _count(body.get("duplicates"))
        if 200 <= status < 300 or status == 422:
            rejected = body.get("rejected") or []
            stats.rejected += _count(rejected)
            if isinstance(rejected, list) and rejected and not stats.sample:
                stats.sample = json.dumps(rejected[0], ensure_ascii=False)[:300]
            queue.popleft()
            continue
        if status in (429, 503):
            # Valid but not storable right now: resend what the server listed as unavailable (or the whole batch).
            stats.rejected += _count(body.get("rejected"))
            refs = body.get("unavailable")
            if isinstance(refs, list) and refs:
                wanted = {r.get("index") for r in refs if isinstance(r, dict)}
                keep = [ev for k, ev in enumerate(batch.events) if k in wanted]
                if keep:
                    batch.events = keep
            stats.retries += 1
            wait = _retry_after(retry_after)
            log.warning("ingest busy (%d): resending %d events in %.1f s", status, len(batch.events), wait)
            return wait
        if status >= 500:
            batch.failures += 1
            if batch.failures <= SERVER_ERROR_RETRIES:
                stats.retries += 1
                return min(BACKOFF_MAX_S, float(batch.failures))
            log.error("ingest failed %d times (%d): dropping %d events", batch.failures, status, len(batch.events))
        elif stats.errors_logged < 3:
            # Other 4xx will not get better by resending (wrong token, body refused): drop and say why.
            reason = str(body.get("error") or body)[:300]
            log.error("ingest refused %d events with %d: %s", len(batch.events), status, reason)
            stats.errors_logged += 1
        stats.dropped += len(batch.events)
        queue.popleft()
    return 0.0


