"""The live loop: every BATCH_SECONDS, generate the events of the wall-clock time elapsed and post them to the ingest
API (poster.py). At start it replays the day so far (the hotline's tickets and updates, the last half hour's
incidents), between the live batches, so that the wall shows a realistic day at once."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain.beijing import day_start
from simulator.feed import Simulator
from simulator.poster import (
    MAX_EVENTS_PER_POST,
    STALE_MARGIN_S,
    Batch,
    Poster,
    Stats,
    Transport,
    drop_stale,
    enqueue,
    send,
)
from simulator.world import DEFAULT_SOURCE, epoch_of

log = logging.getLogger(__name__)

# Seconds between two POSTs of the live loop: small batches keep each ingest request short, so that a web
# worker shared with a wall answers the wall's refresh without waiting long behind a validation.
BATCH_SECONDS: Final = 0.2
SUMMARY_EVERY_S: Final = 10.0
# At start-up, incidents older than this are not replayed (nobody would act on them any more).
BACKFILL_INCIDENTS_S: Final = 1800.0


class _Feeder:
    """The live loop's state: the simulator, the connection, what is waiting and the counters."""

    def __init__(self, sim: Simulator, poster: Transport, stop: threading.Event) -> None:
        self.sim = sim
        self.poster = poster
        self.stop = stop
        self.live: deque[Batch] = deque()
        # Replayed tickets go out between live batches so that the wall gets live data at once; while any are
        # left, new tickets and updates queue behind them so that no update overtakes its ticket.
        self.backlog: deque[Batch] = deque()
        self.stats = Stats()
        self.t_prev = time.time()
        # Incidents of the replayed period that were not replayed (older than its incidents): their ends are never
        # posted either, now or later, since the ingest would refuse them as updates of unknown incidents.
        self.unposted: frozenset[str] = frozenset()

    def _posted(self, ev: dict[str, Any]) -> bool:
        """False for the end of an incident that was never posted."""
        return ev["kind"] != c.INCIDENT_UPDATE or ev["incident_id"] not in self.unposted

    def replay(self, begin: float, incidents_from: float) -> None:
        """Queue the tickets and updates since `begin` (and the incidents since `incidents_from`, with their ends)."""
        old = self.sim.durable_events(begin, self.t_prev)
        self.unposted = frozenset(
            ev["event_id"] for ev in old if ev["kind"] == c.INCIDENT and epoch_of(ev["ts"]) < incidents_from
        )
        old = [ev for ev in old if ev["event_id"] not in self.unposted and self._posted(ev)]
        log.info("replaying %d hotline tickets, updates and recent incidents of today", len(old))
        enqueue(self.backlog, self.t_prev, old, MAX_EVENTS_PER_POST // 4)
        self.stats.generated += len(old)

    def generate(self, now: float) -> None:
        """Generate the events of the wall-clock time elapsed since the last call."""
        if now <= self.t_prev:
            return
        # After a long stall only the still-live telemetry is worth generating.
        live_from = now - (c.TELEMETRY_MAX_AGE_S - STALE_MARGIN_S)
        events: list[dict[str, Any]] = []
        if self.t_prev < live_from:
            log.warning("fell %.0f s behind: skipping telemetry that would no longer be live", live_from - self.t_prev)
            events += self.sim.durable_events(self.t_prev, live_from)
            self.t_prev = live_from
        events += self.sim.events(self.t_prev, now)
        if self.unposted:
            events = [ev for ev in events if self._posted(ev)]
        self.stats.generated += len(events)
        if self.backlog:
            enqueue(self.backlog, self.t_prev, [ev for ev in events if ev["kind"] in c.DURABLE_KINDS])
            events = [ev for ev in events if ev["kind"] not in c.DURABLE_KINDS]
        enqueue(self.live, self.t_prev, events)
        self.t_prev = now

    def send(self, now: float) -> float:
        """Send what is due: live batches first, then one replayed batch; return the wait before the next try."""
        drop_stale(self.live, now, self.stats)
        wait = send(self.poster, self.live, self.stats, self.stop)
        if not wait and self.backlog:
            wait = send(self.poster, self.backlog, self.stats, self.stop, limit=1)
        return wait

    def summary(self, span: float) -> None:
        """Log one line of counters and start a new window."""
        st = self.stats
        waiting = sum(len(b.events) for b in self.live) + sum(len(b.events) for b in self.backlog)
        log.info(
            "sim: %d generated (%.0f/s), %d accepted, %d duplicates, %d rejected, %d dropped, %d retries, %d waiting%s",
            st.generated,
            st.generated / max(span, 1e-9),
            st.accepted,
            st.duplicates,
            st.rejected,
            st.dropped,
            st.retries,
            waiting,
            f"; e.g. {st.sample}" if st.sample else "",
        )
        st.reset()


def run(
    url: str,
    token: str,
    rate: float,
    seed: int,
    batch_seconds: float = BATCH_SECONDS,
    stop: threading.Event | None = None,
    backfill: bool = True,
    source: str = DEFAULT_SOURCE,
    episodes_per_day: float | None = None,
    transport: Transport | None = None,
    sensors: int | None = None,
) -> None:
    """Feed the ingest API live: every batch_seconds, POST the events of the elapsed wall-clock interval (or send
    them through `transport`, e.g. an MQTT publisher; `url` then only names it in the log)."""
    stop = stop or threading.Event()
    now = time.time()
    # With backfill the world begins at Beijing midnight: today's tickets are replayed, so the hotline panel
    # shows a realistic day at once and later updates always find their ticket.
    begin = day_start(now) if backfill else now
    sim = Simulator(seed, rate, source=source, start=begin, episodes_per_day=episodes_per_day, sensors=sensors)
    feeder = _Feeder(sim, transport or Poster(url, token), stop)
    periods = ", ".join(f"{k} {v:g} s" for k, v in sim.periods().items())
    log.info("simulating Dongcheng at %g events/s (seed %d, %d sensors) into %s; report periods: %s", rate, seed,
             len(sim.fleet), url, periods)
    if backfill:
        feeder.replay(begin, now - BACKFILL_INCIDENTS_S)
    last_summary = time.monotonic()
    try:
        while not stop.is_set():
            t_now = time.time()
            feeder.generate(t_now)
            wait = feeder.send(t_now)
            if time.monotonic() - last_summary >= SUMMARY_EVERY_S:
                feeder.summary(time.monotonic() - last_summary)
                last_summary = time.monotonic()
            stop.wait(max(wait, batch_seconds - (time.time() - t_now)))
    finally:
        feeder.poster.close()
        log.info("simulator stopped")
