"""Debian's nginx run with the project's site file (deploy/nginx/dongcheng.conf) in a folder of its own: the file with
its marked lines set (upstream servers, listen port) inside an nginx.conf like Debian's. The proxy's tests
(tests/test_proxy.py) and `dongcheng cluster` (ops/cluster.py) run it this way."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dashboard.config import ROOT

SITE = ROOT / "deploy" / "nginx" / "dongcheng.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Debian's MIME types, which its nginx.conf includes in the http block the site is included into.
MIME_TYPES = Path("/etc/nginx/mime.types")
# Debian's default: enough for the tests; the cluster's push streams need more (two connections per stream).
WORKER_CONNECTIONS = 768


def nginx_missing() -> str | None:
    """Why nginx cannot run here, or None when it can."""
    if not os.access(NGINX, os.X_OK):
        return ("nginx is not installed (`make nginx` installs Debian's nginx when it runs as root with apt-get): "
                "nothing behind a real nginx can run")
    if not MIME_TYPES.exists():
        return f"{MIME_TYPES} is missing (Debian's nginx-common): nothing behind a real nginx can run"
    return None


def render_site(text: str, screens: str | Sequence[str], feeds: str | Sequence[str], listen: str) -> str:
    """The site file with its three marked lines set: the upstream servers (one or several host:port each) and the
    listen address."""

    def servers(value: str | Sequence[str]) -> str:
        """One upstream's servers, as they go in place of the marked line's address."""
        many = [value] if isinstance(value, str) else list(value)
        return "; server ".join(many)

    for pattern, value in (
        (r"(upstream dongcheng_screens \{\s*server )[^;\s]+(;\s*# CHANGE)", servers(screens)),
        (r"(upstream dongcheng_feeds \{\s*server )[^;\s]+(;\s*# CHANGE)", servers(feeds)),
        (r"(\n\s*listen )[^;]+(;\s*# CHANGE)", listen),
    ):
        text, n = re.subn(pattern, rf"\g<1>{value}\g<2>", text)
        if n != 1:
            raise ValueError(f"{SITE} no longer has exactly one line matching {pattern}")
    return text


def main_conf(prefix: Path, site: Path, worker_connections: int = WORKER_CONNECTIONS) -> str:
    """An nginx.conf like Debian's (its http block's settings, Debian's MIME types, the site included in http),
    with its files in `prefix` and in the foreground."""
    # nginx started by root runs its workers as `nobody`, who cannot enter private temporary folders.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    # Each connection is a file; room for both sides of every one.
    files = f"worker_rlimit_nofile {2 * worker_connections + 64};" if worker_connections > WORKER_CONNECTIONS else ""
    return f"""daemon off;
{user}
worker_processes 1;
{files}
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{
    worker_connections {worker_connections};
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log {prefix / "access.log"};
{temp}
    include {site};
}}
"""


def write_config(prefix: Path, screens: str | Sequence[str], feeds: str | Sequence[str], port: int,
                 worker_connections: int = WORKER_CONNECTIONS) -> Path:
    """Write the site (listening on 127.0.0.1:`port`) and the main configuration into `prefix`; the latter's path."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "dongcheng.conf"
    site.write_text(render_site(SITE.read_text(), screens, feeds, f"127.0.0.1:{port}"))
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site, worker_connections))
    return conf


def check_config(conf: Path) -> str | None:
    """What `nginx -t` says against `conf`, None when it accepts it."""
    check = subprocess.run([*nginx_argv(conf), "-t"], capture_output=True, text=True, timeout=30)
    return None if check.returncode == 0 else check.stderr


def nginx_argv(conf: Path) -> list[str]:
    """The argv of nginx in the foreground with `conf` (its error log beside it from the start, never Debian's)."""
    return [NGINX, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log")]
