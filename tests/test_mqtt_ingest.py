"""MQTT feeds (`dongcheng mqtt`, ops/mqtt.py) against a Mosquitto broker of the module's own, the real Redis and
databases: stored as the HTTP ingest stores, deduplicated, refusals on the error topic, unacknowledged messages
delivered again, a persistent session, and the simulator publishing over MQTT."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import redis
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.config import Config, ConfigError, MqttTarget, mqtt_target
from dashboard.live import keys
from dashboard.live.connections import make_redis
from dashboard.services import mqtt_feed
from dashboard.store.engine import make_engine, session_factory
from dashboard.store.models import HotlineTicket, Incident
from dashboard.store.schema import init_db
from dashboard.web.extensions import db_sessions
from ops.mqtt import Subscriber
from tests.helpers import incident, iso_now, reading, ticket
from tests.servers import MosquittoProcess, PostgresProcess, RedisProcess, stop_processes, wait_for

AUTH = {"Authorization": "Bearer test-token"}
DONGCHENG = Path(sys.executable).parent / "dongcheng"
WAIT_S = 30


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """A Mosquitto of this module's own on a free port."""
    b = MosquittoProcess(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


def with_mqtt(config: Config, broker: MosquittoProcess) -> Config:
    """`config` with MQTT on `broker`, under a topic prefix and a session of its own."""
    tag = uuid.uuid4().hex[:8]
    return replace(config, mqtt_url=broker.url, mqtt_prefix=f"t{tag}", mqtt_client_id=f"sub-{tag}")


@pytest.fixture
def cfg(config: Config, broker: MosquittoProcess) -> Config:
    """The test configuration with MQTT on the module's broker, under a prefix and session of this test's own."""
    return with_mqtt(config, broker)


def _target(cfg: Config) -> MqttTarget:
    """The broker of a config that has one."""
    assert cfg.mqtt is not None
    return cfg.mqtt


@contextmanager
def running(sub: Subscriber) -> Iterator[Subscriber]:
    """The subscriber's loop in a thread, subscribed, stopped at the end."""
    thread = threading.Thread(target=sub.run, daemon=True)
    thread.start()
    try:
        assert sub.subscribed.wait(WAIT_S), "the subscriber never subscribed"
        yield sub
    finally:
        sub.request_stop()
        thread.join(WAIT_S)


class Client:
    """A test's own MQTT client: publishes at QoS 1 and collects what arrives on the topics it subscribed to."""

    def __init__(self, target: MqttTarget, *topics: str) -> None:
        self.received: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda _c, _u, msg: self.received.put((msg.topic, json.loads(msg.payload)))
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        assert not topics or self.subscribed.wait(WAIT_S)

    def publish(self, topic: str, payload: Any) -> None:
        """Publish JSON (or bytes as they are) and wait for the broker's acknowledgement."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.client.publish(topic, body, qos=1).wait_for_publish(WAIT_S)

    def next(self) -> tuple[str, Any]:
        """The next message received."""
        return self.received.get(timeout=WAIT_S)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(cfg: Config) -> Iterator[Client]:
    """A client publishing on the test's topics and listening on its error topics."""
    c = Client(_target(cfg), f"{cfg.mqtt_prefix}/{mqtt_feed.ERRORS_LEVEL}/#")
    yield c
    c.close()


def topic(cfg: Config, ev: dict[str, Any]) -> str:
    """The event topic of an event."""
    return mqtt_feed.event_topic(cfg.mqtt_prefix, ev["source"], ev["kind"])


def stream_ids(r: redis.Redis) -> list[str]:
    """The event IDs in the telemetry stream, oldest first."""
    return [json.loads(fields[b"e"])["event_id"] for _, fields in r.xrange(keys.TELEMETRY_STREAM)]


def stream_events(r: redis.Redis, stream: str) -> dict[str, dict[str, Any]]:
    """The events of a stream by event ID."""
    return {ev["event_id"]: ev for ev in (json.loads(f[b"e"]) for _, f in r.xrange(stream))}


def incidents(sessions: sessionmaker[Session]) -> int:
    """Incidents in SQL."""
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Incident)) or 0)


def mqtt_messages(outcome: str) -> float:
    """This process's count of MQTT messages with `outcome`."""
    return REGISTRY.get_sample_value("dongcheng_mqtt_messages_total", {"outcome": outcome}) or 0.0


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`dongcheng *argv` as a process of its own, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen([str(DONGCHENG), *argv], env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_reading_and_an_incident_published_are_stored_exactly_as_posted_over_http(
    app: Any, client: Any, cfg: Config, r: redis.Redis, publisher: Client
) -> None:
    ts = iso_now(-1)
    posted = [reading("http-r", ts=ts), incident("http-i", ts=ts)]
    published = [reading("mqtt-r", ts=ts), incident("mqtt-i", ts=ts)]
    assert client.post("/api/v1/events", json={"events": posted}, headers=AUTH).status_code == 200
    with app.app_context():
        sessions = db_sessions()
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        for ev in published:
            publisher.publish(topic(cfg, ev), ev)
        wait_for("the published reading in the stream", lambda: "mqtt-r" in stream_ids(r), WAIT_S)
        wait_for("the published incident in SQL", lambda: incidents(sessions) == 2, WAIT_S)
    for stream, (http_id, mqtt_id) in ((keys.TELEMETRY_STREAM, ("http-r", "mqtt-r")),
                                        (keys.DURABLE_STREAM, ("http-i", "mqtt-i"))):
        stored = stream_events(r, stream)
        over_http, over_mqtt = stored[http_id], stored[mqtt_id]
        assert {**over_mqtt, "event_id": http_id} == over_http
    with sessions() as s:
        rows = {row.external_id: row for row in s.scalars(select(Incident))}
    # Every column the event decides (not the row's own id and bookkeeping times).
    decided = [col.key for col in Incident.__table__.columns if col.key not in ("id", "external_id", "created_at",
                                                                                 "updated_at")]
    assert {k: getattr(rows["mqtt-i"], k) for k in decided} == {k: getattr(rows["http-i"], k) for k in decided}


def test_a_message_delivered_twice_is_stored_once(
    cfg: Config, r: redis.Redis, sessions: sessionmaker[Session], publisher: Client
) -> None:
    events = [reading("dup-r"), incident("dup-i"), ticket("DUP")]
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        for _ in range(2):
            for ev in events:
                publisher.publish(topic(cfg, ev), ev)
            publisher.publish(f"{cfg.mqtt_prefix}/test/batch", events)  # the same, as a JSON array batch
        marker = reading("dup-end")
        publisher.publish(topic(cfg, marker), marker)
        wait_for("the last message stored", lambda: "dup-end" in stream_ids(r), WAIT_S)
    assert stream_ids(r) == ["dup-r", "dup-end"]
    assert incidents(sessions) == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(HotlineTicket)) == 1


def test_an_invalid_event_is_not_stored_and_its_reason_arrives_on_the_error_topic(
    cfg: Config, r: redis.Redis, sessions: sessionmaker[Session], publisher: Client
) -> None:
    bad = reading("bad-lat", lat=91.0)
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        publisher.publish(topic(cfg, bad), bad)
        where, report = publisher.next()
        assert where == f"{cfg.mqtt_prefix}/errors/test"
        assert report["topic"] == topic(cfg, bad)
        [refusal] = report["rejected"]
        assert refusal["event_id"] == "bad-lat" and "lat" in refusal["errors"]
        publisher.publish(f"{cfg.mqtt_prefix}/test/sensor_reading", b"{not json")
        where, report = publisher.next()
        assert where == f"{cfg.mqtt_prefix}/errors/test" and report["error"].startswith("malformed JSON")
        good = reading("after-bad")
        publisher.publish(topic(cfg, good), good)
        wait_for("the valid event after the refused ones", lambda: "after-bad" in stream_ids(r), WAIT_S)
    assert stream_ids(r) == ["after-bad"]
    assert mqtt_messages("rejected") >= 2


def test_an_event_naming_another_source_than_its_topic_is_refused_and_never_stored(
    cfg: Config, r: redis.Redis, sessions: sessionmaker[Session], publisher: Client
) -> None:
    """The broker's ACLs give each source its topics; an event that claimed another source spoke for it."""
    theirs = incident("hotline-1", source="hotline")
    mine = reading("pole-1", source="pole-gw")
    on_my_topic = mqtt_feed.event_topic(cfg.mqtt_prefix, "pole-gw", "incident")
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        publisher.publish(on_my_topic, [theirs, mine])
        where, report = publisher.next()
        wait_for("the reading on its own source's topic", lambda: "pole-1" in stream_ids(r), WAIT_S)
    assert where == f"{cfg.mqtt_prefix}/errors/pole-gw"
    assert report["rejected"] == [{"index": 0, "event_id": "hotline-1",
                                   "errors": {"source": "must be 'pole-gw', the source of its topic"}}]
    assert incidents(sessions) == 0 and stream_ids(r) == ["pole-1"]
    # The sources' health blames the sender, not the source its event named.
    stats = {k.decode(): int(v) for k, v in r.hgetall(keys.INGEST_STATS).items()}
    assert stats.get("pole-gw:rejected") == 1 and "hotline:rejected" not in stats
    assert r.llen(keys.ingest_rejects_key("pole-gw")) == 1 and not r.exists(keys.ingest_rejects_key("hotline"))


def test_a_nul_in_a_text_field_is_refused_and_never_reaches_sql(
    cfg: Config, r: redis.Redis, sessions: sessionmaker[Session], publisher: Client
) -> None:
    bad = incident("nul-i", title="东四\x00火情")
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        publisher.publish(topic(cfg, bad), bad)
        _, report = publisher.next()
    [refusal] = report["rejected"]
    assert refusal["event_id"] == "nul-i" and "title" in refusal["errors"]
    assert incidents(sessions) == 0


def test_an_event_time_with_no_utc_datetime_is_refused_and_the_messages_after_it_are_stored(
    cfg: Config, r: redis.Redis, sessions: sessionmaker[Session], publisher: Client
) -> None:
    """Such a message raised inside the ingest: never acknowledged, it failed every message read with it."""
    bad = incident("year-1", ts="0001-01-01T00:00:00+14:00")
    unavailable_before = mqtt_messages("unavailable")
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        publisher.publish(topic(cfg, bad), bad)
        _, report = publisher.next()
        good = incident("after-year-1")
        publisher.publish(topic(cfg, good), good)
        wait_for("the incident after the refused one", lambda: incidents(sessions) == 1, WAIT_S)
    [refusal] = report["rejected"]
    assert refusal["event_id"] == "year-1" and list(refusal["errors"]) == ["ts"]
    assert mqtt_messages("unavailable") == unavailable_before


def test_with_redis_away_a_message_is_not_acknowledged_and_is_stored_once_redis_is_back(
    tmp_path: Path, cfg: Config, sessions: sessionmaker[Session], publisher: Client
) -> None:
    own = RedisProcess(tmp_path)
    own.start()
    r = make_redis(own.url)
    own.stop()
    unavailable_before = mqtt_messages("unavailable")
    ev = reading("while-away")
    try:
        with running(Subscriber(cfg, _target(cfg), r, sessions, retry_after_s=0.2)):
            publisher.publish(topic(cfg, ev), ev)
            wait_for("the message refused as unavailable", lambda: mqtt_messages("unavailable") > unavailable_before,
                     WAIT_S)
            own.start(empty=True)
            # Only the broker has it now: the subscriber did not acknowledge it, so it comes again.
            wait_for("the redelivered message stored", lambda: "while-away" in stream_ids(r), WAIT_S)
            marker = reading("after-redis")
            publisher.publish(topic(cfg, marker), marker)
            wait_for("the next message stored", lambda: "after-redis" in stream_ids(r), WAIT_S)
        assert stream_ids(r) == ["while-away", "after-redis"]
    finally:
        r.close()
        if own.running():
            own.stop()


def test_with_the_database_away_an_incident_is_not_acknowledged_and_is_stored_once_it_is_back(
    redis_url: str, r: redis.Redis, broker: MosquittoProcess
) -> None:
    pg = PostgresProcess()
    try:
        pg.start()
        engine = make_engine(pg.url)
        init_db(engine)
        cfg = with_mqtt(Config.for_tests(redis_url, pg.url), broker)
        sessions = session_factory(engine)
        publisher = Client(_target(cfg))
        pg.stop()
        unavailable_before = mqtt_messages("unavailable")
        ev = incident("db-away")
        with running(Subscriber(cfg, _target(cfg), r, sessions, retry_after_s=0.2)):
            publisher.publish(topic(cfg, ev), ev)
            wait_for("the message refused as unavailable", lambda: mqtt_messages("unavailable") > unavailable_before,
                     WAIT_S)
            pg.start()
            wait_for("the redelivered incident stored", lambda: incidents(sessions) == 1, WAIT_S)
            marker = reading("after-db")
            publisher.publish(topic(cfg, marker), marker)
            wait_for("the next message stored", lambda: "after-db" in stream_ids(r), WAIT_S)
        assert incidents(sessions) == 1
        assert list(stream_events(r, keys.DURABLE_STREAM)) == ["db-away"]
        publisher.close()
        engine.dispose()
    finally:
        pg.remove()


def test_the_subscriber_process_takes_the_messages_queued_while_it_was_down(
    cfg: Config, redis_url: str, r: redis.Redis, db_url: str, engine: Engine, publisher: Client, tmp_path: Path
) -> None:
    env = {**os.environ, "MQTT_URL": cfg.mqtt_url, "MQTT_TOPIC_PREFIX": cfg.mqtt_prefix,
           "MQTT_CLIENT_ID": cfg.mqtt_client_id, "REDIS_URL": redis_url, "DATABASE_URL": db_url,
           "INSTANCE_DIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def start() -> subprocess.Popen[bytes]:
        return spawn(["mqtt"], env, tmp_path / "mqtt.log")

    proc = start()
    try:
        probe = reading("probe")

        def probed() -> bool:
            # Until its session exists at the broker a message is not queued for it: send again until it arrives.
            publisher.publish(topic(cfg, probe), probe)
            return "probe" in stream_ids(r)

        wait_for("the subscriber process storing a probe", probed, WAIT_S, every_s=0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
        queued = reading("queued")
        publisher.publish(topic(cfg, queued), queued)
        assert "queued" not in stream_ids(r)
        proc = start()
        wait_for("the message queued while it was down stored", lambda: "queued" in stream_ids(r), WAIT_S)
        assert stream_ids(r) == ["probe", "queued"]
    finally:
        stop_processes([proc])


def test_the_simulator_publishing_over_mqtt_reaches_the_store(
    cfg: Config, r: redis.Redis, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = {**os.environ, "SIM_TRANSPORT": "mqtt", "MQTT_URL": cfg.mqtt_url, "MQTT_TOPIC_PREFIX": cfg.mqtt_prefix}
    env.pop("INGEST_TOKEN", None)
    with running(Subscriber(cfg, _target(cfg), r, sessions)):
        sim = spawn(["simulate", "--rate", "20", "--no-backfill"], env, tmp_path / "sim.log")
        try:
            wait_for("simulated telemetry in the stream", lambda: r.xlen(keys.TELEMETRY_STREAM) >= 5, WAIT_S)
        finally:
            stop_processes([sim])
    sources = {json.loads(f[b"e"])["source"] for _, f in r.xrange(keys.TELEMETRY_STREAM)}
    assert sources == {"sim"}


def test_mqtt_url_names_a_broker_or_is_refused() -> None:
    assert mqtt_target("mqtt://feed:s3cret@broker.example:1884") == MqttTarget(
        "broker.example", 1884, "feed", "s3cret", False)
    assert mqtt_target("mqtts://broker.example") == MqttTarget("broker.example", 8883, tls=True)
    for bad in ("http://broker", "mqtt://", "mqtt://broker/extra"):
        with pytest.raises(ConfigError):
            mqtt_target(bad)
    with pytest.raises(ConfigError):
        Config.from_env({"MQTT_URL": "mqtt://broker", "MQTT_TOPIC_PREFIX": "a/b"})
    assert Config.from_env({}).mqtt is None


def test_only_event_topics_are_taken_and_never_the_error_topics() -> None:
    assert mqtt_feed.topic_source("dongcheng", "dongcheng/sim/sensor_reading") == "sim"
    assert mqtt_feed.topic_source("dongcheng", "dongcheng/errors/sim") is None
    assert mqtt_feed.topic_source("dongcheng", "other/sim/sensor_reading") is None


def test_the_subscriber_refuses_to_start_without_mqtt_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MQTT_URL"}
    proc = subprocess.run([str(DONGCHENG), "mqtt"], env={**env, "INSTANCE_DIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "MQTT_URL is not set" in proc.stderr


@pytest.mark.parametrize(("extra", "says"), [
    ({"SIM_TRANSPORT": "pigeon"}, "SIM_TRANSPORT='pigeon'"),
    ({"SIM_TRANSPORT": "mqtt"}, "SIM_TRANSPORT=mqtt needs MQTT_URL"),
])
def test_the_simulator_refuses_a_transport_it_cannot_use(extra: dict[str, str], says: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MQTT_URL", "SIM_TRANSPORT")}
    proc = subprocess.run([str(DONGCHENG), "simulate", "--token", "t"], env={**env, **extra}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
