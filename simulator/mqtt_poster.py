"""Publishing the simulator's events to an MQTT broker instead of POSTing them (SIM_TRANSPORT=mqtt): each batch
goes out as JSON arrays, one per source and kind, on `<prefix>/<source>/<kind>` at QoS 1, and a batch counts as sent
once the broker acknowledged every message of it. The same `post` as poster.Poster, so that the live loop's queue,
back-off and summary work unchanged; what the subscriber stores or refuses is on its side (and on the error topic),
not in the answer."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from dashboard.config import MqttTarget
from dashboard.services.mqtt_feed import QOS, event_topic

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S: Final = 10.0
KEEPALIVE_S: Final = 30


class MqttPoster:
    """Publishes batches to one broker over one connection, driven by paho's network thread."""

    def __init__(self, target: MqttTarget, prefix: str, timeout: float = PUBLISH_TIMEOUT_S) -> None:
        self.target = target
        self.prefix = prefix
        self.timeout = timeout
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()
        self._started = False

    def _connect(self) -> None:
        """Connect (raises OSError when the broker is unreachable) and start the network thread, once."""
        if self._started:
            return
        self.client.connect(self.target.host, self.target.port, KEEPALIVE_S)
        self.client.loop_start()
        self._started = True

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False

    def post(self, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], str | None]:
        """Publish one batch; (200, {}, None) once the broker has it all; OSError when it could not be delivered."""
        self._connect()
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for ev in events:
            groups.setdefault((str(ev.get("source")), str(ev.get("kind"))), []).append(ev)
        infos = []
        for (source, kind), group in groups.items():
            body = json.dumps(group, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            infos.append(self.client.publish(event_topic(self.prefix, source, kind), body, qos=QOS))
        for info in infos:
            try:
                info.wait_for_publish(self.timeout)
            except RuntimeError as exc:  # paho: the message was refused locally (queue full, not connected)
                raise ConnectionError(f"mqtt publish failed: {exc}") from exc
            if not info.is_published():
                raise TimeoutError(f"mqtt broker did not acknowledge within {self.timeout:g} s")
        return 200, {}, None
