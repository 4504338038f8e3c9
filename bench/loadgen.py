"""The ingest benchmark's load generator: processes of their own that offer events at a fixed rate, over keep-alive
HTTP/1.1 connections (a small asyncio client, standard library only) or as MQTT messages (paho-mqtt, QoS 1).

Open loop: each request has its time in a schedule fixed in advance, and its latency counts from that time, not
from when it was sent, so that a server that falls behind shows as latency instead of slowing the offer down.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

# One reading at Wangfujing; the event_id and the time are filled in per event.
_EVENT = (b'{"event_id":"%s","source":"bench","kind":"sensor_reading","ts":"%s","lon":116.4103,"lat":39.9122,'
          b'"sensor_id":"bench-%d:pm25","sensor_type":"pm25","value":%d}')
SENSORS = 5000


@dataclass
class Offer:
    """What one load process offers: `rate` requests (or messages) per second for `seconds`, `batch` events each."""

    rate: float
    seconds: float
    batch: int
    prefix: str  # unique per process and step: the events' IDs never repeat
    connections: int = 16


@dataclass
class Tally:
    """What one load process saw."""

    sent: int = 0  # requests (or messages) sent
    events: int = 0  # events in them
    answered: int = 0
    accepted: int = 0  # events the answers said were stored
    statuses: dict[int, int] = field(default_factory=dict)
    not_accepted: int = 0  # events answered as duplicates, rejected or unavailable
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    late_start_ms: float = 0.0  # how far behind its schedule the process was at the end
    started_at: float = 0.0  # wall time of the schedule's first slot

    def merge(self, other: Tally) -> None:
        """Add another process's tally to this one."""
        self.sent += other.sent
        self.events += other.events
        self.answered += other.answered
        self.accepted += other.accepted
        self.not_accepted += other.not_accepted
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors[:5]
        self.late_start_ms = max(self.late_start_ms, other.late_start_ms)


def body(prefix: str, seq: int, batch: int, ts: bytes) -> bytes:
    """A request body: one event object, or a list of `batch` events."""
    evs = [_EVENT % (f"{prefix}-{seq}-{i}".encode(), ts, (seq * batch + i) % SENSORS, 20 + i % 60)
           for i in range(batch)]
    return evs[0] if batch == 1 else b"[" + b",".join(evs) + b"]"


def now_ts() -> bytes:
    """The time of an event: now, ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


async def _connection(host: str, port: int, token: str, offer: Offer, index: int, start: float, tally: Tally) -> None:
    """One keep-alive connection sending its share of the schedule (every `connections`-th slot)."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n").encode()
    interval = offer.connections / offer.rate
    n = int(offer.rate * offer.seconds / offer.connections)
    loop = asyncio.get_running_loop()
    try:
        for k in range(n):
            due = start + (k * offer.connections + index) / offer.rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            data = body(offer.prefix, k * offer.connections + index, offer.batch, now_ts())
            writer.write(head % len(data) + data)
            tally.sent += 1
            tally.events += offer.batch
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length) if length else b""
            done = loop.time()
            status = int(status_line.split(b" ", 2)[1]) if status_line else 0
            tally.answered += 1
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            tally.latencies_ms.append((done - due) * 1000)
            try:
                answer = orjson.loads(payload) if payload else {}
            except orjson.JSONDecodeError:
                answer = {}
            accepted = int(answer.get("accepted", 0)) if isinstance(answer, dict) else 0
            tally.accepted += accepted
            tally.not_accepted += offer.batch - accepted
        tally.late_start_ms = max(tally.late_start_ms, (loop.time() - (start + n * interval)) * 1000)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        tally.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _http_offer(host: str, port: int, token: str, offer: Offer, start_wall: float) -> Tally:
    tally = Tally()
    loop = asyncio.get_running_loop()
    start = loop.time() + max(0.0, start_wall - time.time())
    await asyncio.gather(*(_connection(host, port, token, offer, i, start, tally)
                           for i in range(offer.connections)))
    return tally


def _http_process(host: str, port: int, token: str, offer: Offer, start_wall: float, out: Any) -> None:
    out.send(asyncio.run(_http_offer(host, port, token, offer, start_wall)))
    out.close()


def _mqtt_process(host: str, port: int, topic: str, offer: Offer, start_wall: float, out: Any) -> None:
    """Publish one event per message at offer.rate with QoS 1; count the broker's acknowledgements."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    tally = Tally()
    acked: list[int] = [0]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{offer.prefix}", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = lambda *_a: acked.__setitem__(0, acked[0] + 1)
    client.connect(host, port, 30)
    client.loop_start()
    n = int(offer.rate * offer.seconds)
    time.sleep(max(0.0, start_wall - time.time()))
    start = time.monotonic()
    for k in range(n):
        due = start + k / offer.rate
        wait = due - time.monotonic()
        if wait > 0.002:
            time.sleep(wait)
        client.publish(topic, body(offer.prefix, k, 1, now_ts()), qos=1)
        tally.sent += 1
        tally.events += 1
    tally.late_start_ms = max(0.0, (time.monotonic() - (start + offer.seconds)) * 1000)
    deadline = time.monotonic() + 10
    while acked[0] < tally.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    tally.answered = acked[0]
    client.loop_stop()
    client.disconnect()
    out.send(tally)
    out.close()


def offer_load(target: tuple[str, ...], offers: list[Offer], mqtt_topic: str | None = None) -> Tally:
    """Run one process per offer against `target` ((host, port, token) for HTTP, (host, port) with `mqtt_topic`),
    all starting together; return their tallies merged."""
    ctx = mp.get_context("fork")
    start_wall = time.time() + 0.5  # every process ready before the first slot
    procs = []
    for offer in offers:
        recv, send = ctx.Pipe(duplex=False)
        if mqtt_topic is None:
            args: tuple[Any, ...] = (*target, offer, start_wall, send)
            proc = ctx.Process(target=_http_process, args=args, daemon=True)
        else:
            proc = ctx.Process(target=_mqtt_process, args=(*target, mqtt_topic, offer, start_wall, send),
                               daemon=True)
        proc.start()
        send.close()
        procs.append((proc, recv))
    total = Tally(started_at=start_wall)
    for proc, recv in procs:
        try:
            total.merge(recv.recv())
        except EOFError:
            total.errors.append(f"load process {proc.pid} died (exit code {proc.exitcode})")
        proc.join(10)
    return total
