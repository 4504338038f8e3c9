"""MQTT feeds: the topic scheme and what one message becomes (stored through the same ingest service as a POST to
/api/v1/events, so validation, deduplication and storage are the HTTP ingest's own). The subscriber process is
ops/mqtt.py; the simulator's publisher simulator/mqtt_poster.py.

Topics: events arrive on `<prefix>/<source>/<kind>` (one JSON event, a JSON array of events, or {"events": [...]});
the reasons a message was refused go to `<prefix>/errors/<source>`. `errors` is therefore no source's name. An event
must name its topic's source: the broker's ACLs give each source its own topics, and an event claiming another
source would close that source's incidents, update its tickets or take its event ids (refused, with the reason).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard.services.ingest import IngestResult, ingest_payload, ingest_payloads

ERRORS_LEVEL: Final = "errors"
# At least once: a message is acknowledged only once stored, and the broker keeps it until then.
QOS: Final = 1


def subscription(prefix: str) -> str:
    """The filter the subscriber subscribes to: every `<prefix>/<source>/<kind>`."""
    return f"{prefix}/+/+"


def event_topic(prefix: str, source: str, kind: str) -> str:
    """The topic a source publishes its events of `kind` on."""
    return f"{prefix}/{source}/{kind}"


def error_topic(prefix: str, source: str) -> str:
    """The topic the refusals of a source's messages are published on."""
    return f"{prefix}/{ERRORS_LEVEL}/{source}"


def topic_source(prefix: str, topic: str) -> str | None:
    """The source level of an event topic `<prefix>/<source>/<kind>`; None for any other topic (the error topics)."""
    levels = topic.split("/")
    if len(levels) != 3 or levels[0] != prefix or levels[1] == ERRORS_LEVEL or not levels[1] or not levels[2]:
        return None
    return levels[1]


@dataclass(frozen=True)
class Outcome:
    """What became of one message: `ack` when nothing in it is left to store (stored, duplicate or refused for
    good); `report` the refusals to publish on the error topic (None: nothing refused)."""

    ack: bool
    report: dict[str, Any] | None
    accepted: int = 0
    duplicates: int = 0

    @property
    def label(self) -> str:
        """The outcome's metrics label (dashboard.observe.metrics.MQTT_OUTCOMES)."""
        if not self.ack:
            return "unavailable"
        return "rejected" if self.report else "stored"

    def report_json(self) -> bytes:
        """The report as the error topic's payload."""
        return json.dumps(self.report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_source(topic: str) -> str:
    """The source level of an event topic `<prefix>/<source>/<kind>` (the subscriber takes no other topic)."""
    return topic.split("/")[1]


def refused(topic: str, error: str) -> Outcome:
    """A message refused whole before any event was read (not JSON, too large): acknowledged, never stored."""
    return Outcome(True, {"topic": topic, "error": error})


def store_message(
    topic: str, payload: Any, now: float, r: redis.Redis, sessions: sessionmaker[Session], max_events: int
) -> Outcome:
    """Store the events of one parsed message through the ingest service; acknowledge it unless some valid event
    could not be stored now (Redis or the database away), so that the broker delivers it again."""
    return _outcome(topic, ingest_payload(payload, now, r, sessions, max_events, event_source(topic)))


def store_messages(
    messages: list[tuple[str, Any]], now: float, r: redis.Redis, sessions: sessionmaker[Session], max_events: int
) -> list[Outcome]:
    """store_message for each (topic, parsed payload) of one network read, their telemetry stored in one round trip
    (dashboard.services.ingest.ingest_payloads); one outcome a message, in order."""
    results = ingest_payloads([payload for _, payload in messages], now, r, sessions, max_events,
                              [event_source(topic) for topic, _ in messages])
    return [_outcome(topic, result) for (topic, _), result in zip(messages, results, strict=True)]


def _outcome(topic: str, result: IngestResult) -> Outcome:
    """What the ingest's result for one message means for its acknowledgement and its error report."""
    report: dict[str, Any] | None = None
    if result.error:
        report = {"topic": topic, "error": result.error}
    elif result.rejected:
        report = {"topic": topic, "rejected": [rej.as_dict() for rej in result.rejected]}
    return Outcome(not result.unavailable, report, result.accepted, len(result.duplicates))
