"""`dongcheng mqtt`: the MQTT feeds' subscriber. It takes the events sources publish on `<prefix>/<source>/<kind>`
(dashboard/services/mqtt_feed.py), stores them through the ingest service and acknowledges a message only once
nothing in it is left to store.

Delivery is at least once (QoS 1) on a persistent session (clean session off, MQTT_CLIENT_ID), so the broker keeps
what arrives while the subscriber is down. Acknowledgement is manual: a message that could not be stored (Redis or
the database away) is not acknowledged; the subscriber then disconnects, waits RETRY_AFTER_S and reconnects, and the
broker delivers every unacknowledged message again (MQTT redelivers only on a new connection of the session). The
events' IDs make the second delivery of what was stored harmless. paho-mqtt reconnects after a lost connection.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import threading
import time
from typing import Any, Final

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config, MqttTarget
from dashboard.observe import metrics
from dashboard.observe.logs import OncePer, configure_logging
from dashboard.services import mqtt_feed
from dashboard.services.ingest import RETRY_AFTER_S
from dashboard.web.limits import parse_json

log = logging.getLogger(__name__)
log.addFilter(OncePer(60.0))

KEEPALIVE_S: Final = 30
RECONNECT_MIN_S: Final = 1
RECONNECT_MAX_S: Final = 30
# At most this many messages are kept before they are stored together (one network read usually brings fewer).
BATCH_MAX: Final = 500
# MQTT's control packet type of a message, in the high nibble of a packet's first byte.
PUBLISH_PACKET: Final = 3


def _publish_waiting(client: mqtt.Client) -> bool:
    """Whether the next packet waiting on the connection is another message (PUBLISH): paho reads one packet at a
    time, straight from the socket, and calls on_message in between, so the messages kept so far are then not the
    last of this read. Through TLS nothing can be peeked at: each message is then stored as it comes."""
    sock = client.socket()
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return False
    try:
        first = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:  # nothing waiting (BlockingIOError), or the connection gone: paho sees to that
        return False
    return bool(first) and first[0] >> 4 == PUBLISH_PACKET


class Subscriber:
    """One persistent MQTT session that stores what it receives and acknowledges what it stored."""

    def __init__(self, cfg: Config, target: MqttTarget, r: redis.Redis, sessions: sessionmaker[Session],
                 retry_after_s: float = RETRY_AFTER_S) -> None:
        self.cfg = cfg
        self.target = target
        self.r = r
        self.sessions = sessions
        self.retry_after_s = retry_after_s
        self.stop = threading.Event()
        # Set when a message could not be stored: the rest of this connection's deliveries are left unacknowledged
        # too, and the subscriber reconnects after a pause to have them all again.
        self.backing_off = False
        # Messages received and not yet stored (stored once no other message waits behind them: _on_message).
        self.pending: list[mqtt.MQTTMessage] = []
        # Set once the broker confirmed the subscription (what a caller waits for before relying on the session).
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.mqtt_client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311, manual_ack=True)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: self.subscribed.set()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                    _properties: Any) -> None:
        """Subscribe (again) once the broker accepted the session."""
        if reason.is_failure:
            log.warning("mqtt broker refused the connection: %s", reason)
            return
        self.pending.clear()  # kept from an earlier connection, unacknowledged: the broker delivers them again
        client.subscribe(mqtt_feed.subscription(self.cfg.mqtt_prefix), qos=mqtt_feed.QOS)
        log.info("mqtt subscribed to %s at %s:%d", mqtt_feed.subscription(self.cfg.mqtt_prefix), self.target.host,
                 self.target.port)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        """The broker could not be reached: paho tries again."""
        log.warning("mqtt broker %s:%d unreachable: reconnecting", self.target.host, self.target.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                       _properties: Any) -> None:
        """Say why the connection ended unless we ended it."""
        if reason.is_failure and not self.stop.is_set() and not self.backing_off:
            log.warning("mqtt connection lost (%s): reconnecting", reason)

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """Keep the message while another waits right behind it (up to BATCH_MAX), then store them all."""
        if self.backing_off:
            return  # delivered again after the reconnection
        self.pending.append(msg)
        if len(self.pending) >= BATCH_MAX or not _publish_waiting(client):
            self.flush(client)

    def flush(self, client: mqtt.Client) -> None:
        """Store the messages kept (their telemetry in one round trip to Redis); acknowledge each unless something
        in it could not be stored now, and then none after it either."""
        msgs, self.pending = self.pending, []
        if not msgs:
            return
        try:
            outcomes = self.handle_many([(msg.topic, msg.payload) for msg in msgs])
        except Exception:
            # Unforeseen (a bug, an error of a driver the ingest does not expect): the messages are kept at the
            # broker rather than lost, and said once per minute with the traceback; the subscriber goes on.
            log.exception("mqtt messages on %s could not be handled: not acknowledged", msgs[0].topic)
            outcomes = [mqtt_feed.Outcome(ack=False, report=None)] * len(msgs)
        # The messages counted by outcome once for the flush (each count writes the metrics' file).
        counted: dict[str, int] = {}
        try:
            for msg, outcome in zip(msgs, outcomes, strict=True):
                if self.backing_off:
                    return  # those after a message not stored come again after the reconnection
                label = "ignored" if outcome is None else outcome.label
                counted[label] = counted.get(label, 0) + 1
                self._settle(client, msg, outcome)
        finally:
            for label, n in counted.items():
                metrics.mqtt_message(label, n)

    def _settle(self, client: mqtt.Client, msg: mqtt.MQTTMessage, outcome: mqtt_feed.Outcome | None) -> None:
        """Publish one message's refusals, and acknowledge it, or back off when it was not stored (flush counts
        it)."""
        if outcome is not None and outcome.report is not None:
            source = mqtt_feed.topic_source(self.cfg.mqtt_prefix, msg.topic) or "unknown"
            client.publish(mqtt_feed.error_topic(self.cfg.mqtt_prefix, source), outcome.report_json(),
                           qos=mqtt_feed.QOS)
        if outcome is not None and not outcome.ack:
            log.warning("mqtt message not stored (Redis or the database away): not acknowledged, again in %g s",
                        self.retry_after_s)
            self.backing_off = True
            client.disconnect()
            return
        client.ack(msg.mid, msg.qos)

    def handle(self, topic: str, raw: bytes) -> mqtt_feed.Outcome | None:
        """What one message on `topic` becomes; None when the topic is not an event topic."""
        return self.handle_many([(topic, raw)])[0]

    def handle_many(self, messages: list[tuple[str, bytes]]) -> list[mqtt_feed.Outcome | None]:
        """What each (topic, payload) becomes, in order; their events stored together."""
        outcomes: list[mqtt_feed.Outcome | None] = [None] * len(messages)
        parsed: list[tuple[int, str, Any]] = []
        for k, (topic, raw) in enumerate(messages):
            if mqtt_feed.topic_source(self.cfg.mqtt_prefix, topic) is None:
                continue
            if len(raw) > self.cfg.max_body_bytes:
                metrics.ingest_refused("too_large")
                outcomes[k] = mqtt_feed.refused(topic, f"message larger than {self.cfg.max_body_bytes} bytes; "
                                                       f"publish smaller batches")
                continue
            try:
                parsed.append((k, topic, parse_json(raw)))
            except (ValueError, UnicodeDecodeError) as exc:
                metrics.ingest_refused("malformed")
                outcomes[k] = mqtt_feed.refused(topic, f"malformed JSON: {exc}")
        stored = mqtt_feed.store_messages([(topic, payload) for _, topic, payload in parsed], time.time(), self.r,
                                          self.sessions, self.cfg.max_batch_events)
        for (k, _, _), outcome in zip(parsed, stored, strict=True):
            outcomes[k] = outcome
        return outcomes

    def request_stop(self) -> None:
        """End the loop (from a signal handler or another thread)."""
        self.stop.set()
        self.client.disconnect()

    def run(self) -> None:
        """Connect, take messages until stopped; after a message not stored, reconnect after a pause."""
        while not self.stop.is_set():
            self.backing_off = False
            self.client.connect_async(self.target.host, self.target.port, KEEPALIVE_S)
            if self.stop.is_set():  # asked to stop while it paused: its disconnect() found nothing to end
                break
            self.client.loop_forever(retry_first_connection=True)
            if self.backing_off:
                self.stop.wait(self.retry_after_s)
        log.info("mqtt subscriber stopped")


def mqtt_command(_args: argparse.Namespace) -> int:
    """`dongcheng mqtt`: subscribe to MQTT_URL's broker until SIGTERM or SIGINT; 2 when MQTT_URL is unset."""
    from dashboard.live.connections import make_redis
    from dashboard.store.engine import make_engine, session_factory

    cfg = Config.from_env()
    configure_logging(cfg.log_format)
    target = cfg.mqtt
    if target is None:
        log.error("dongcheng mqtt: MQTT_URL is not set (mqtt://[user[:password]@]host[:port])")
        return 2
    cfg.require("DATABASE_URL")
    sub = Subscriber(cfg, target, make_redis(cfg.redis), session_factory(make_engine(cfg.database_url)))

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        sub.request_stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sub.run()
    return 0
