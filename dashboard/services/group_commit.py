"""Group commit: the telemetry of concurrent requests stored together, one round trip to Redis for all of them.

A request of one event spends more of its CPU on its round trip to Redis (the pipeline's packing, the socket's send
and receive, the wake-ups) than on its validation. Here each request validates its body in its own thread, then
joins the group waiting to be stored: when no store is under way it stores at once (alone, or with whatever else has
arrived), and while one is, the requests that arrive wait and go together in the next one, led by the first of them.
Each request is answered only once its own events are stored (or refused), with exactly what it would have been
answered alone (dashboard.services.ingest.store_prepared settles each body's result, as for the MQTT subscriber's
bodies of one network read). A body with a durable event or without a valid one goes through ingest_payload alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard.services.ingest import IngestResult, Prepared, ingest_payload, prepare_payload, store_prepared


class GroupFailed(RuntimeError):
    """The store of a request's group failed with an error other than Redis being away (the leader's own raised)."""


@dataclass(eq=False)
class _Waiter:
    """One request in the group: its prepared body, and how it learns that it was stored or must lead (`wake`, a
    lock held from the start and released once: lighter than a threading.Event, whose Condition costs a request of
    one event a tenth of its CPU)."""

    prepared: Prepared
    wake: threading.Lock = field(default_factory=threading.Lock)
    lead: bool = False
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.wake.acquire()


class GroupCommit:
    """The ingest of one process's concurrent requests (its threads), their telemetry stored in groups."""

    def __init__(self, r: redis.Redis, sessions: sessionmaker[Session], max_events: int) -> None:
        self.r = r
        self.sessions = sessions
        self.max_events = max_events
        self._lock = threading.Lock()
        self._pending: list[_Waiter] = []
        self._storing = False

    def ingest(self, payload: Any, now: float) -> IngestResult:
        """ingest_payload's outcome for one body, its telemetry stored with the other requests' of the moment."""
        prepared = prepare_payload(payload, now, self.max_events)
        if prepared is None:
            return ingest_payload(payload, now, self.r, self.sessions, self.max_events)
        me = _Waiter(prepared)
        with self._lock:
            self._pending.append(me)
            leading = not self._storing
            self._storing = True
        if not leading:
            me.wake.acquire()  # until released by the leader: stored, or this request leads the next group
            if not me.lead:
                if me.error is not None:
                    raise GroupFailed("the store of this request's group failed") from me.error
                return prepared.result
        self._lead(me)
        if me.error is not None:
            raise me.error
        return prepared.result

    def _lead(self, me: _Waiter) -> None:
        """Store everything pending (`me`'s body among it), then hand the lead to the first request that arrived
        meanwhile, or end the store."""
        with self._lock:
            group, self._pending = self._pending, []
        try:
            store_prepared([w.prepared for w in group], time.time(), self.r)
        except Exception as exc:  # raised again in every request of the group (GroupFailed), none lost
            for w in group:
                w.error = exc
        finally:
            with self._lock:
                following = self._pending[0] if self._pending else None
                self._storing = following is not None
            if following is not None:
                following.lead = True
                following.wake.release()
            for w in group:
                if w is not me:  # each waiter is released exactly once
                    w.wake.release()
