"""`GET /metrics` on the web and the feeds' server, and the HTTP metrics of every request they answer.

/metrics is answered before the login guard (it has no session) and only to a scraper that is `allowed`
(dashboard/observe/exposition.py: `Authorization: Bearer METRICS_TOKEN`, or an address of METRICS_ALLOW, always the
connection's own, whatever TRUSTED_PROXY_HOPS says); anyone else gets 401. With PROMETHEUS_MULTIPROC_DIR set
(gunicorn, ops/gunicorn_conf.py) one scrape answers for every worker of the server.

Every request is counted by route, method and status and timed by route and method, the route being the Flask
endpoint (a fixed name; Dash's routes by a fixed name of their own: the wall's refresh, like every Dash callback, is
`dash_update_component`). A request that matches no route is `unmatched`, so a scanner's paths never become labels.
"""

from __future__ import annotations

import time
from typing import Final

from flask import Flask, Response, g, request
from flask.globals import request_ctx
from werkzeug.routing import Rule

from dashboard.observe import exposition
from dashboard.observe.metrics import observe_request
from dashboard.web.extensions import current_config

ENDPOINT: Final = "metrics"
UNMATCHED: Final = "unmatched"
# Dash's page routes ("/" and its catch-all "/<path:path>": /wall, /tablet, … and any other path) as one label.
DASH_PAGE: Final = "dash_page"
# Where werkzeug's ProxyFix (dashboard/web/app.py, TRUSTED_PROXY_HOPS) keeps the environ's values it replaced.
PROXY_FIX_ORIGINAL: Final = "werkzeug.proxy_fix.orig"
_STARTED: Final = "dc_metrics_started"  # on flask.g, which each request has afresh


def route_label(rule: Rule | None) -> str:
    """The label of the route a request matched: its Flask endpoint, or a fixed name for Dash's routes (whose
    endpoints are their paths)."""
    if rule is None:
        return UNMATCHED
    endpoint = rule.endpoint
    if not endpoint.startswith("/"):
        return endpoint
    if endpoint == "/" or "<path:path>" in endpoint:
        return DASH_PAGE
    first = endpoint.strip("/").split("/")[0].lstrip("_").replace("-", "_").replace(".", "_")
    return first if first.startswith("dash_") else f"dash_{first}"


def socket_peer() -> str | None:
    """The address of the connection itself, even when the app trusts a proxy's X-Forwarded-For (ProxyFix keeps
    the original aside): Prometheus scrapes each host directly, never through nginx (which answers /metrics with
    404), so a forwarded address here could only be one a client that reached gunicorn directly made up."""
    original = request.environ.get(PROXY_FIX_ORIGINAL)
    if isinstance(original, dict):
        peer = original.get("REMOTE_ADDR")
        return peer if isinstance(peer, str) else None
    return request.remote_addr


def metrics_view() -> Response:
    """The scrape, or 401 for anyone not allowed."""
    if not exposition.allowed(current_config(), socket_peer(), request.headers.get("Authorization")):
        return Response(exposition.REFUSED, status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"})
    return Response(exposition.scrape(current_config()), headers={"Cache-Control": "no-store"},
                    content_type=exposition.CONTENT_TYPE)


def _start_timer() -> None:
    """First of every before_request: when the request began."""
    setattr(g, _STARTED, time.perf_counter())


def _answer_metrics() -> Response | None:
    """/metrics before the login guard (a scraper has no session)."""
    if request.endpoint != ENDPOINT:
        return None
    return metrics_view()


def _record(response: Response) -> Response:
    """Count and time the answered request."""
    started = g.get(_STARTED)
    if started is not None:
        req = request_ctx.request  # (one look-up through the context's proxy, not two)
        observe_request(route_label(req.url_rule), req.method, response.status_code, time.perf_counter() - started)
    return response


def init_metrics(app: Flask) -> None:
    """Time every request (from the first before_request on) and answer /metrics; call it before the login guard is
    installed."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.add_url_rule(exposition.PATH, ENDPOINT, metrics_view, methods=["GET"])
    app.before_request(_answer_metrics)
    app.after_request(_record)
