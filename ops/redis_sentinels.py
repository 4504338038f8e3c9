"""A Redis master, its replica and three sentinels watching it, each a redis-server process on a free loopback port:
what the Sentinel tests (tests/test_sentinel.py) and `dongcheng cluster` (ops/cluster.py) run, with a fast failover.
The product's clients reach it through REDIS_SENTINELS (dashboard/live/connections.py)."""

from __future__ import annotations

import secrets
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import redis

from ops.processes import wait_until
from ops.redis_server import free_port, redis_server_binary

MASTER_NAME = "dc-test"
# A failover within a few seconds: a master is down after half a second without an answer, and a sentinel whose
# election did not conclude tries again soon.
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 2000
# Bounds of the waits for what the servers do on their own (never asserted as speed).
SETTLE_S = 20.0


def redis_process(data_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """A redis-server (or, with --sentinel, a sentinel), its log in `data_dir`, in a session of its own (a terminal's
    Ctrl-C reaches it only through its owner's stop)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([redis_server_binary(), *args], cwd=data_dir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)


def answers(client: redis.Redis) -> bool:
    """True when the server (or sentinel) of `client` answers a PING."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class SentinelSet:
    """A master, its replica and three sentinels watching it as `master_name`, each a process of ours; with `password`
    the master and the replica require it, with `sentinel_password` the sentinels require theirs."""

    def __init__(self, root: Path, password: str | None = None, sentinel_password: str | None = None,
                 master_name: str = MASTER_NAME, down_after_ms: int = DOWN_AFTER_MS) -> None:
        """Choose the ports; nothing starts before start()."""
        self.root = root
        self.password, self.sentinel_password = password, sentinel_password
        self.master_name, self.down_after_ms = master_name, down_after_ms
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def server(self, port: int, db: int = 0) -> redis.Redis:
        """A plain client of the master or the replica on `port` (not through Sentinel)."""
        return redis.Redis(port=port, db=db, password=self.password, socket_timeout=0.5, socket_connect_timeout=0.5)

    def ports(self) -> dict[str, int]:
        """The port of the server started as `master` and of the one started as `replica`."""
        return {"master": self.master_port, "replica": self.replica_port}

    def start_server(self, name: str, replica_of: int | None = None) -> None:
        """Start (or start again) the server `name` ("master" or "replica"), following `replica_of`'s port when
        given (the replica, or a former master coming back after a failover)."""
        args = ["--port", str(self.ports()[name]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", "redis.log"]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.procs[name] = redis_process(self.root / name, *args)

    def start(self) -> None:
        """Start the master and the replica, then the sentinels; return once the sentinels know the replica and
        each other (a failover needs both)."""
        self.start_server("master")
        self.start_server("replica", replica_of=self.master_port)
        # In sync before any sentinel asks: a sentinel that found the replica's link down would ask again in 10 s.
        wait_until("the replica in sync", self._replica_in_sync, SETTLE_S, 0.05)
        # Each sentinel is told its own ID, the others' and the replica up front: it would otherwise learn the others
        # from their hellos (every 2 s) and the replica from the master's INFO (every 10 s).
        ids = {port: secrets.token_hex(20) for port in self.sentinel_ports}
        name = self.master_name
        for port in self.sentinel_ports:
            where = self.root / f"sentinel-{port}"
            where.mkdir(parents=True)
            conf = where / "sentinel.conf"
            known = "".join(f"sentinel known-sentinel {name} 127.0.0.1 {other} {ids[other]}\n"
                            for other in self.sentinel_ports if other != port)
            conf.write_text(f"port {port}\nbind 127.0.0.1\ndaemonize no\nlogfile sentinel.log\ndir {where}\n"
                            f"sentinel myid {ids[port]}\n"
                            f"sentinel monitor {name} 127.0.0.1 {self.master_port} 2\n"
                            f"sentinel known-replica {name} 127.0.0.1 {self.replica_port}\n" + known +
                            f"sentinel down-after-milliseconds {name} {self.down_after_ms}\n"
                            f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}\n"
                            f"sentinel parallel-syncs {name} 1\n"
                            + (f"sentinel auth-pass {name} {self.password}\n" if self.password else "")
                            + (f"requirepass {self.sentinel_password}\n"
                               f"sentinel sentinel-pass {self.sentinel_password}\n" if self.sentinel_password else ""))
            self.start_sentinel(port)
        for client in map(self.sentinel, self.sentinel_ports):
            wait_until(f"the server of {client}", partial(answers, client), SETTLE_S, 0.05)
        wait_until("the sentinels see the replica in sync and each other", self._ready, SETTLE_S, 0.1)

    def start_sentinel(self, port: int) -> None:
        """Start (or start again) the sentinel on `port` with its configuration (which it rewrites as it learns)."""
        where = self.root / f"sentinel-{port}"
        self.procs[f"sentinel-{port}"] = redis_process(where, str(where / "sentinel.conf"), "--sentinel")

    def sentinel(self, port: int) -> redis.Redis:
        """A client of the sentinel on `port`."""
        return redis.Redis(port=port, password=self.sentinel_password, socket_timeout=0.5, socket_connect_timeout=0.5,
                           decode_responses=True)

    def _ready(self) -> bool:
        """True when every sentinel sees the replica in sync and the other sentinels."""
        try:
            for port in self.sentinel_ports:
                s = self.sentinel(port)
                replicas: list[dict[str, Any]] = s.sentinel_slaves(self.master_name)
                if not any(r["port"] == self.replica_port and r["master-link-status"] == "ok" for r in replicas):
                    return False
                others: list[dict[str, Any]] = s.sentinel_sentinels(self.master_name)  # type: ignore[assignment]
                if len(others) < len(self.sentinel_ports) - 1:
                    return False
        except redis.RedisError:
            return False
        return True

    def masters(self) -> set[int | None]:
        """The master's port as each sentinel says it now (None for one that cannot say)."""
        found: set[int | None] = set()
        for port in self.sentinel_ports:
            try:
                state: dict[str, Any] = self.sentinel(port).sentinel_master(self.master_name)  # type: ignore[assignment]
            except redis.RedisError:
                found.add(None)
                continue
            # A sentinel that still calls the old master down is not yet one a client may ask.
            found.add(None if "down" in state["flags"] else int(state["port"]))
        return found

    def master(self) -> str | None:
        """The name ("master" or "replica") of the server every sentinel names the master now, None while they do
        not agree."""
        found = self.masters()
        if len(found) != 1:
            return None
        port = next(iter(found))
        return next((name for name, p in self.ports().items() if p == port), None)

    def kill(self, name: str) -> None:
        """SIGKILL the server `name`, as a crash would."""
        proc = self.procs[name]
        proc.kill()
        proc.wait(timeout=10)

    def fail_master(self) -> None:
        """SIGKILL the master and wait until the sentinels have promoted the replica."""
        self.kill("master")
        # Every sentinel, so that whichever a client asks names the new master.
        wait_until("the failover to the replica", lambda: self.masters() == {self.replica_port}, SETTLE_S, 0.1)
        wait_until("the promoted replica to take writes", self._replica_is_master, SETTLE_S, 0.05)

    def _replica_in_sync(self) -> bool:
        """True when the master answers and the replica's link to it is up."""
        try:
            return bool(self.server(self.master_port).ping()) and self.server(self.replica_port).info(
                "replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False

    def _replica_is_master(self) -> bool:
        """True when the replica says it is the master now."""
        try:
            return self.server(self.replica_port).info("replication")["role"] == "master"
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop every process that still runs (sentinels first: they would otherwise react to the others)."""
        for name in sorted(self.procs, key=lambda n: not n.startswith("sentinel")):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    @property
    def sentinels_setting(self) -> str:
        """REDIS_SENTINELS for this set."""
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    @property
    def env(self) -> dict[str, str]:
        """The settings that point the product at this set's database 3 (the tests')."""
        return self.env_for(3)

    def env_for(self, db: int) -> dict[str, str]:
        """The settings that point the product at this set's database `db` (REDIS_URL only gives the database)."""
        auth = f":{self.password}@" if self.password else ""
        return {"REDIS_URL": f"redis://{auth}sentinel-only.invalid/{db}",
                "REDIS_SENTINELS": self.sentinels_setting,
                "REDIS_SENTINEL_MASTER": self.master_name,
                **({"REDIS_SENTINEL_PASSWORD": self.sentinel_password} if self.sentinel_password else {})}
