"""Dongcheng city-operations command centre: the app factory."""

from __future__ import annotations

import gc
import logging
from functools import cache
from pathlib import Path
from typing import Any

from dashboard.config import INSTANCE_DIR, ROOT, Config

__all__ = ["create_app"]


@cache
def _callback_registry() -> tuple[dict[str, Any], list[Any], list[Any]]:
    """Import every panel's callbacks once and keep what `dash.callback` registered globally.

    Dash moves globally registered callbacks into the first app that starts, so each app the factory
    builds (several in the test-suite) gets its own copy from this snapshot.
    """
    from dash import _callback

    import callbacks  # noqa: F401  (registers the callbacks)

    snapshot = (
        dict(_callback.GLOBAL_CALLBACK_MAP),
        list(_callback.GLOBAL_CALLBACK_LIST),
        list(_callback.GLOBAL_INLINE_SCRIPTS),
    )
    _callback.GLOBAL_CALLBACK_MAP.clear()
    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_INLINE_SCRIPTS.clear()
    return snapshot


def create_app(config: Config | None = None) -> Any:
    """Build the Flask server with the Dash app, login, the API and the per-app resources; ConfigError
    when production may not start (dashboard.store.schema.check_start)."""
    import dash
    from dash import _callback

    from dashboard.live.connections import make_redis
    from dashboard.observe.logs import configure_logging
    from dashboard.store.engine import make_engine, session_factory
    from dashboard.store.schema import check_start
    from dashboard.web import auth, callback_errors, csrf, headers, health, limits, logs, metrics, throttle, unavailable
    from dashboard.web.api import common as api_common
    from dashboard.web.api import incidents as api_incidents
    from dashboard.web.api import ingest as api
    from dashboard.web.api.stream import init_push
    from dashboard.web.extensions import DASH, init_extensions
    from dashboard.web.frames import init_frames
    from dashboard.web.server import Server
    from layouts import shell

    config = config or Config.from_env()
    # Production refuses to serve without its secrets and database, or on a schema older than this release's.
    check_start(config)
    configure_logging(config.log_format)  # LOG_FORMAT: text as always, or one JSON object a line
    logs.one_line_records(logging.getLogger())  # nothing a request brings can forge a log line

    server = Server(__name__, instance_path=str(INSTANCE_DIR))
    # SESSION_COOKIE_SECURE=1 when the app is served over HTTPS: the session and CSRF cookies are then never sent
    # over plain HTTP. Off by default for http:// on the intranet, where a Secure cookie would not be kept.
    secure_cookies = config.session_cookie_secure
    server.config.update(
        SECRET_KEY=config.secret_key,
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_SECURE=secure_cookies,
    )
    trust_proxies(server, config.trusted_proxy_hops)
    init_extensions(server, config, make_redis(config.redis), session_factory(make_engine(config.database_url)))
    limits.init_limits(server)  # first: control characters and JSON nesting, before the login guard reads a path
    # GET /livez, /readyz, /healthz: answered before the login guard.
    health.init_probes(server)
    # GET /metrics (a token or an allowed address, no session), and every request counted and timed.
    metrics.init_metrics(server)
    auth.init_auth(server, config)  # sessions, the sign-in throttle, the guard, CSRF
    limits.init_dash_limits(server)  # Dash's callback requests checked once the caller is known
    unavailable.init_unavailable(server)  # the database away: 503 "not saved, retry", said once per outage
    server.register_blueprint(api.bp)  # POST /api/v1/events
    server.register_blueprint(api_incidents.bp)  # /api/v1/incidents, /api/v1/units, /api/v1/openapi.json
    from dashboard.web.api import cases as api_cases
    server.register_blueprint(api_cases.bp)  # /api/v1/cases: cases of linked tickets (热线+网格)
    from dashboard.web import report as report_api
    server.register_blueprint(report_api.bp)  # GET /report, /report.csv: the daily report
    # Per-user limits on what rebuilds much from SQL at each request: the report's page and CSV, the API's lists.
    throttle.limit_per_user(server, ("report.report_page", "report.report_csv"), config.report_limit_user,
                            "report", report_api.too_many)
    throttle.limit_per_user(server, ("api_incidents.incidents_index", "api_cases.cases_index"),
                            config.api_list_limit_user, "api-list", api_common.too_many)
    init_push(server, config)  # GET /api/v1/stream: Server-Sent Events from Redis pub/sub
    init_frames(server)  # GET /api/v1/frame: the wall's refresh, rendered once per change for every screen

    dash_app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash annotates this too narrowly
        title="东城区城市运行指挥中心",
        update_title=None,  # type: ignore[arg-type]
        assets_folder=str(Path(ROOT / "assets")),
        serve_locally=True,
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        # The renderer copies this cookie into this header on every callback; dashboard.web.csrf checks it.
        csrf_token_name=csrf.COOKIE_NAME,
        csrf_header_name=csrf.HEADER_NAME,
        # A callback's unexpected exception: 500, its traceback logged once per cause (see the module).
        on_error=callback_errors.CallbackFailures().handle,
    )
    dash_app.layout = shell.layout
    server.extensions[DASH] = dash_app

    callback_map, callback_list, inline_scripts = _callback_registry()
    _callback.GLOBAL_CALLBACK_MAP.update(callback_map)
    _callback.GLOBAL_CALLBACK_LIST.extend(callback_list)
    _callback.GLOBAL_INLINE_SCRIPTS.extend(inline_scripts)
    # Set Dash up now rather than on the first request, so this app takes its callbacks immediately.
    with server.test_request_context("/"):
        dash_app._setup_server()
    # Security headers on every answer; the pages' CSP allows exactly the inline scripts Dash now has.
    headers.init_headers(server, config, dash_app.csp_hashes())
    server.add_url_rule(headers.REPORT_PATH, "csp_report", throttle.limit_reports(server, headers.csp_report),
                        methods=["POST"])
    # Browsers ask for /favicon.ico on pages that name no icon (the report): the icon, not the console's page.
    server.add_url_rule("/favicon.ico", "favicon", _favicon, methods=["GET"])
    throttle.verify_gates(server)
    _freeze_startup_heap()
    return server


def _favicon() -> Any:
    """The console's icon (Dash's own), cached for a day."""
    import pkgutil

    from flask import Response

    resp = Response(pkgutil.get_data("dash", "favicon.ico"), mimetype="image/x-icon")
    resp.cache_control.max_age = 86400
    return resp


def trust_proxies(server: Any, hops: int) -> None:
    """Behind `hops` reverse proxies (TRUSTED_PROXY_HOPS), take the client's address and scheme from the headers
    those proxies set (werkzeug's ProxyFix); with 0 the socket's peer stands and forwarded headers are ignored.

    X-Forwarded-For: the audit log, the sign-in throttle's per-address limit and the push stream's re-checks
    (everything that reads `request.remote_addr`) then see the client nginx saw, not nginx; ProxyFix takes the
    `hops`-th address from the right, the one our outermost proxy wrote, so an address a client put in the header
    itself is never taken. X-Forwarded-Proto: with TLS ended at nginx the request is known as https (is_secure,
    built URLs). Not X-Forwarded-Host, X-Forwarded-Port or X-Forwarded-Prefix: deploy/nginx/dongcheng.conf passes
    the client's Host through untouched and serves the app at the root on its own port, so trusting them would
    add nothing but headers a misconfigured proxy might let a client choose. /metrics keeps the socket's peer
    (dashboard/web/metrics.py)."""
    if hops <= 0:
        return
    from werkzeug.middleware.proxy_fix import ProxyFix

    server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def _freeze_startup_heap() -> None:
    """Move everything alive after start-up out of the garbage collector's sight.

    A refresh allocates a few thousand short-lived dicts (the parsed aggregates), which triggers a full
    collection every few seconds; walking the ~10^5 objects that dash, plotly and flask leave from start-up
    then stalls that refresh for 50–80 ms. Frozen, a collection walks only what was created since.
    """
    gc.collect()
    gc.freeze()
