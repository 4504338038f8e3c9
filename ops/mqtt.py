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
        """Store one message; acknowledge it unless something in it could not be stored now."""
        if self.backing_off:
            return  # delivered again after the reconnection
        try:
            outcome = self.handle(msg.topic, msg.payload)
        except Exception:
            # Unforeseen (a bug, an error of a driver the ingest does not expect): the message is kept at the broker
            # rather than lost, and said once per minute with its traceback; the subscriber goes on.
            log.exception("mqtt message on %s could not be handled: not acknowledged", msg.topic)
            outcome = mqtt_feed.Outcome(ack=False, report=None)
        metrics.mqtt_message("ignored" if outcome is None else outcome.label)
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
        if mqtt_feed.topic_source(self.cfg.mqtt_prefix, topic) is None:
            return None
        if len(raw) > self.cfg.max_body_bytes:
            metrics.ingest_refused("too_large")
            return mqtt_feed.refused(topic, f"message larger than {self.cfg.max_body_bytes} bytes; "
                                            f"publish smaller batches")
        try:
            payload = parse_json(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            metrics.ingest_refused("malformed")
            return mqtt_feed.refused(topic, f"malformed JSON: {exc}")
        return mqtt_feed.store_message(topic, payload, time.time(), self.r, self.sessions, self.cfg.max_batch_events)

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
