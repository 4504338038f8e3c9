"""Answering a scrape: who may (METRICS_TOKEN, METRICS_ALLOW), what it gets (this process's metrics, or those of
every process sharing PROMETHEUS_MULTIPROC_DIR, plus any collector given), and the per-host exporter of the RQ
workers and the scheduler (`dongcheng exporter`).

The web and the feeds' server answer `/metrics` through dashboard/web/metrics.py with `allowed` and `scrape`; the
exporter is a small threaded WSGI server with the same rule.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socketserver
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

from dashboard.config import Config

log = logging.getLogger(__name__)

PATH: Final = "/metrics"
# What a refused scrape is told (the same words whatever was wrong: nothing to learn from trying).
REFUSED: Final = "metrics need 'Authorization: Bearer <METRICS_TOKEN>' or an address of METRICS_ALLOW\n"


def allowed(config: Config, remote_addr: str | None, authorization: str | None) -> bool:
    """True when a scrape may be answered: the bearer token is METRICS_TOKEN (when one is set), or the client's
    address is in METRICS_ALLOW. The address is the socket's peer, never a forwarded header."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if (config.metrics_token and scheme.lower() == "bearer" and token
            and hmac.compare_digest(token.encode(), config.metrics_token.encode())):
        return True
    if not remote_addr or not config.metrics_allow:
        return False
    try:
        address = ipaddress.ip_address(remote_addr.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net) for net in config.metrics_allow)


class _ThisProcess(Collector):
    """Everything registered in this process's default registry (its own metrics when not multi-process)."""

    def collect(self) -> Iterator[Any]:
        """The default registry's families."""
        yield from REGISTRY.collect()


def registry(config: Config, extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What one scrape reads: the processes sharing PROMETHEUS_MULTIPROC_DIR (when set) or this process, and
    `extra`."""
    reg = CollectorRegistry()
    if config.metrics_dir:
        multiprocess.MultiProcessCollector(reg, path=config.metrics_dir)
    else:
        reg.register(_ThisProcess())
    for collector in extra:
        reg.register(collector)
    return reg


def scrape(config: Config, extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of one scrape."""
    return generate_latest(registry(config, extra))


CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

# --- the exporter ----------------------------------------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def exporter_app(config: Config, extra: Iterable[Collector] = ()) -> WsgiApp:
    """A WSGI application answering GET /metrics (to those `allowed`) and nothing else."""
    collectors = list(extra)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: the metrics are at /metrics\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"GET only\n"]
        if not allowed(config, environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", "Bearer")])
            return [REFUSED.encode()]
        body = scrape(config, collectors)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    return app


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """One thread a scrape, none kept: a slow scraper never holds up another."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would fill the log: only errors are logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log refused and failed scrapes only."""
        if str(code) not in ("200", "404"):
            log.warning("exporter: %s %s answered %s", self.address_string(), self.requestline[:100], code)


def make_exporter(config: Config, host: str, port: int, extra: Iterable[Collector] = ()) -> WSGIServer:
    """The exporter's server bound to host:port (port 0: any free one; see server_port), not yet serving."""
    return make_server(host, port, exporter_app(config, extra), server_class=_Server, handler_class=_QuietHandler)
