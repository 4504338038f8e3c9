"""A PostgreSQL cluster of our own (initdb, pg_ctl) on a free loopback port: what the database outage tests
(tests/servers.py) and `dongcheng cluster` (ops/cluster.py) run. Debian's server programs are found on PATH or in
/usr/lib/postgresql/<version>/bin."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ops.redis_server import free_port


def pg_binary(name: str) -> str | None:
    """A PostgreSQL server program on PATH or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def pg_missing(standby: bool = False) -> str | None:
    """Why no PostgreSQL of our own (with `standby`, no standby) can run here, or None when it can."""
    if pg_binary("initdb") is None or pg_binary("pg_ctl") is None:
        return "initdb/pg_ctl not installed (Debian's postgresql package)"
    if standby and pg_binary("pg_basebackup") is None:
        return "pg_basebackup not installed: no standby can be made"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot be started"
    return None


class PostgresServer:
    """A PostgreSQL cluster of our own on a free loopback port, started and stopped by its owner.

    PostgreSQL refuses to run as root: as root its programs run as the `postgres` user (runuser), in a directory
    that user owns (a new temporary one: that user may not enter its owner's private folders)."""

    def __init__(self, standby_of: PostgresServer | None = None, root: Path | None = None) -> None:
        """A new cluster (initdb) in `root` (by default a new temporary folder), or with `standby_of` a streaming
        standby of that running one (pg_basebackup); RuntimeError when pg_missing() says why not."""
        missing = pg_missing(standby_of is not None)
        if missing:
            raise RuntimeError(missing)
        initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
        assert initdb is not None and pg_ctl is not None
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            root = None  # see the class's docstring
            self.as_user = ["runuser", "-u", "postgres", "--"]
        if root is None:
            self.root = Path(tempfile.mkdtemp(prefix="dc-pg-"))
        else:
            self.root = root
            root.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        if standby_of is None:
            self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        else:
            # -R writes standby.signal and the primary's connection: started, it follows the primary read-only.
            basebackup = pg_binary("pg_basebackup")
            assert basebackup is not None
            self._run(basebackup, "-D", str(self.data), "-h", "127.0.0.1", "-p", str(standby_of.port), "-U",
                      "postgres", "-R", "-X", "stream", "--no-sync")

    @property
    def url(self) -> str:
        """Its URL (the `postgres` database of the new cluster)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        """Run one of PostgreSQL's programs (as `postgres` when we are root)."""
        subprocess.run([*self.as_user, *argv], check=True, capture_output=True, timeout=60)

    def start(self, max_connections: int = 100) -> None:
        """Start it and wait until it accepts connections."""
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections={max_connections}")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop it at once, as a crash would: open connections are cut, nothing uncommitted survives."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        """True while the server runs."""
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop it if it runs, and delete its files."""
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
