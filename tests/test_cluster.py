"""`dongcheng cluster` (ops/cluster.py) for real: two hosts behind Debian's nginx with the project's site file, Redis
with a replica and three sentinels, a PostgreSQL of its own. Signed in through nginx, the aggregates are fresh; with
one host's screens' gunicorn (master and workers) SIGKILLed, every request through nginx still answers (the site file's
proxy_next_upstream passes a request the dead host refused to the other); with the Redis master SIGKILLed, every
aggregate is written again on the promoted replica and the supervision brings the old master back as its replica;
the cluster stops leaving no process behind. Skipped, saying so, without nginx or PostgreSQL's server programs."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.common import HttpClient
from ops.cluster import Cluster
from ops.nginx import SITE, nginx_missing
from ops.pg_server import pg_missing
from tests.servers import wait_for

MISSING = nginx_missing() or pg_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}: the cluster cannot run here")

# Bounds of waits for what the processes do by themselves (never asserted as speed).
SETTLE_S = 60.0
# Requests made through nginx while one host's web is dead and its runner starts it again.
REQUESTS_AFTER_KILL = 30
# The wall's refresh: the frame from a screen just opened to the current state of every aggregate.
FRAME = "/api/v1/frame?from=&lang=zh"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A started and supervised cluster (no simulator: the tick alone keeps the aggregates fresh), stopped whatever
    the test did."""
    found = Cluster(tmp_path / "cluster", simulator=False, out=io.StringIO())
    try:
        found.start()
        found.supervise_in_background()
        yield found
    finally:
        found.stop()


def _signed_in(cluster: Cluster) -> HttpClient:
    """A client of nginx signed in as the demo's duty officer with the cluster's demo password."""
    port = int(cluster.url.rsplit(":", 1)[1])
    client = HttpClient("127.0.0.1", port)
    client.login("duty", cluster.env["DEMO_PASSWORD"])
    return client


def _running(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _written_since(cluster: Cluster, since: float) -> bool:
    """True when /healthz through nginx shows every aggregate written after the monotonic time `since`."""
    aggregates = cluster.health().get("aggregates") or {}
    ages = [a.get("age_s") for a in aggregates.values()]
    return bool(ages) and all(age is not None and age < time.monotonic() - since for age in ages)


def _replica(cluster: Cluster, name: str) -> bool:
    """True when the cluster's Redis server `name` runs as a replica with its link to the master up."""
    assert cluster.redis is not None
    try:
        info = cluster.redis.server(cluster.redis.ports()[name]).info("replication")
    except redis.RedisError:
        return False
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def test_the_site_file_retries_a_refused_request_on_the_other_host() -> None:
    """The proxy passes a request to the next upstream server on a connection error or timeout."""
    assert "proxy_next_upstream error timeout;" in SITE.read_text()


def test_through_nginx_a_dead_web_host_costs_no_request_a_redis_failover_heals_and_the_cluster_stops_clean(
    cluster: Cluster,
) -> None:
    client = _signed_in(cluster)
    wait_for("every aggregate fresh through nginx", cluster.aggregates_fresh, SETTLE_S)
    status, body, _, _ = client.request("GET", FRAME)
    assert status == 200, body[:300]

    victim = cluster.hosts[0]
    old_web = victim.children()["web"]
    cluster.kill_web(victim)
    statuses = [client.request("GET", FRAME)[0] for _ in range(REQUESTS_AFTER_KILL)]
    assert statuses == [200] * REQUESTS_AFTER_KILL
    # The host's runner starts its web again; through nginx the cluster is whole and fresh again.
    wait_for("the killed web started again", lambda: victim.children().get("web") not in (None, old_web), SETTLE_S)
    wait_for("every aggregate fresh after the host's loss", cluster.aggregates_fresh, SETTLE_S)

    # The Redis master killed: the sentinels promote the replica, every aggregate is written again on it, and the
    # supervision starts the old master again as the new one's replica.
    assert cluster.redis is not None
    killed, _ = cluster.kill_redis_master()
    killed_at = time.monotonic()
    wait_for("every aggregate written after the failover", lambda: _written_since(cluster, killed_at), SETTLE_S)
    wait_for(f"the old master ({killed}) back as a replica", lambda: _replica(cluster, killed), SETTLE_S)
    # Asked until every sentinel answers alike (a sentinel's answer may time out on a loaded machine).
    wait_for("every sentinel naming the promoted replica", lambda: cluster.redis is not None
             and cluster.redis.master() not in (None, killed), SETTLE_S)

    started = cluster.processes()
    assert started
    cluster.stop()
    assert [pid for pid in started if _running(pid)] == []
