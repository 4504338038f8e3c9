"""Security headers on every answer, and the Content-Security-Policy the pages are built to satisfy.

Every response (pages, Dash's JSON, the API, assets, errors, the push stream) gets X-Frame-Options DENY,
X-Content-Type-Options nosniff, Referrer-Policy same-origin and Cross-Origin-Opener-Policy same-origin; HTML
and JSON also get Cache-Control no-store unless they set their own, so that no signed-in page or answer stays
in a shared or browser cache after logout; with SESSION_COOKIE_SECURE (served over HTTPS) also
Strict-Transport-Security.

HTML pages get the policy below; every other answer gets `default-src 'none'; frame-ancestors 'none'` (a JSON
answer opened as a document can then run and load nothing). Each source of the page policy, and why:

- script-src 'self' + the SHA-256 of each inline script Dash writes into its index page (the renderer's start and
  the clientside callbacks given as code: `dash.Dash.csp_hashes()`, computed once the app's callbacks are set).
  No 'unsafe-inline', no 'unsafe-eval': dash-renderer, the components, plotly.js and Leaflet run without eval
  (plotly's WebGL traces would need it: the screens use none); our own scripts are files under /assets and the
  report's print button is dashboard/web/static/report.js.
- style-src 'self' 'unsafe-inline': our CSS files are 'self', but the libraries insert <style> elements as they
  run, without any way to give them a nonce: dash-renderer, dash-core-components (its dropdown), dash-leaflet
  (Leaflet's CSS ships inside its JavaScript) and plotly.js (seen in a real browser with 'self' alone: every
  Dash page then breaks); the daily report inlines its CSS and sizes its bars with style attributes so that it
  prints self-contained. Styles cannot run code, and script-src stays strict.
- img-src 'self' data: (+ the TILE_URL and TILE_LABELS_URL servers when set): Bootstrap's CSS draws form controls
  (select arrows, check marks, close buttons) as data: SVG images; map tiles come from the configured servers only.
- font-src 'self' (bootstrap-icons is served from /assets), connect-src 'self' (Dash's callbacks, push over
  Server-Sent Events), worker-src 'none', object-src 'none', frame-src 'none', media-src 'none' (the alarm's
  sound is made with WebAudio, no file), base-uri 'none', form-action 'self' (login, logout).
- frame-ancestors 'none' (with X-Frame-Options DENY for older browsers): no page can be framed by any site,
  so the console cannot be click-jacked.
- report-uri /csp-report (and report-to): a violation in the field is logged on the server, one escaped line
  per report, limited per client address, so a page that breaks the policy is noticed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from dashboard.config import Config

log = logging.getLogger(__name__)

EXTENSION: Final = "dc_csp"
REPORT_PATH: Final = "/csp-report"
REPORT_GROUP: Final = "csp"
# A report is a small JSON document; anything larger is not one.
MAX_REPORT_BYTES: Final = 16 * 1024
NON_PAGE_POLICY: Final = "default-src 'none'; frame-ancestors 'none'"
STATIC_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS: Final = "max-age=31536000"
# How much of a reported field reaches the log.
LOGGED_CHARS: Final = 200


def tile_origin(tile_url: str | None) -> str | None:
    """The scheme and host of a tile server template, for img-src; None when unset or not an http(s) URL.

    Leaflet's subdomain placeholder as the first label (`http://{s}.tiles.example/...`) becomes `*.tiles.example`.
    """
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    host = parts.netloc
    if parts.scheme not in ("http", "https") or not host or "@" in host:
        return None
    if "{" in host:
        label, dot, rest = host.partition(".")
        if not (label.startswith("{") and label.endswith("}") and dot and "{" not in rest):
            return None
        host = f"*.{rest}"
    return f"{parts.scheme}://{host}"


def page_policy(script_hashes: Sequence[str], *tile_urls: str | None) -> str:
    """The Content-Security-Policy of the HTML pages (each source explained in the module's docstring); images
    may also come from the tile servers (TILE_URL and TILE_LABELS_URL)."""
    images = ["'self'", "data:"]
    for url in tile_urls:
        origin = tile_origin(url)
        if origin and origin not in images:
            images.append(origin)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": images,
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "media-src": ["'none'"],
        "worker-src": ["'none'"],
        "object-src": ["'none'"],
        "frame-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": [REPORT_PATH],
        "report-to": [REPORT_GROUP],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


# STATIC_HEADERS as (name, lower-case name, value), for add_headers.
_STATIC: Final = tuple((name, name.lower(), value) for name, value in STATIC_HEADERS.items())
_CACHE_CONTROL: Final = "cache-control"
_CSP: Final = "content-security-policy"
_REPORTING: Final = f'{REPORT_GROUP}="{REPORT_PATH}"'


def add_headers(resp: Response) -> Response:
    """after_request: the security headers of every answer.

    The names the answer already has are read once, so each header is one look-up and an append (every answer,
    the wall's refresh every second, goes through here).
    """
    headers = resp.headers
    present = {name.lower() for name, _ in headers.items()}
    for name, lower, value in _STATIC:
        if lower not in present:
            headers.add(name, value)
    mimetype = resp.mimetype or ""
    if mimetype == "text/html":
        headers["Content-Security-Policy"] = current_app.extensions[EXTENSION]
        headers["Reporting-Endpoints"] = _REPORTING
    elif _CSP not in present:
        headers.add("Content-Security-Policy", NON_PAGE_POLICY)
    if mimetype in ("text/html", "application/json") and _CACHE_CONTROL not in present:
        headers["Cache-Control"] = "no-store"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    return resp


def _clip(value: Any) -> str:
    """A reported field made safe for one log line: printable, quoted, and short."""
    return json.dumps(str(value)[:LOGGED_CHARS], ensure_ascii=True)


def csp_report() -> Response:
    """POST /csp-report: log each violation a browser reports (report-uri and Reporting API forms), answer 204."""
    body = request.get_data(cache=False)[:MAX_REPORT_BYTES] if (request.content_length or 0) <= MAX_REPORT_BYTES \
        else b""
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        doc = None
    reports: list[Any] = []
    if isinstance(doc, dict) and isinstance(doc.get("csp-report"), dict):
        reports = [doc["csp-report"]]
    elif isinstance(doc, list):
        reports = [r.get("body") for r in doc if isinstance(r, dict) and isinstance(r.get("body"), dict)]
    for report in reports[:10]:
        def field(*names: str, report: dict[str, Any] = report) -> str:
            return _clip(next((report[n] for n in names if n in report), ""))

        log.warning("CSP violation: page %s, directive %s, blocked %s, at %s:%s",
                    field("document-uri", "documentURL"), field("effective-directive", "effectiveDirective"),
                    field("blocked-uri", "blockedURL"), field("source-file", "sourceFile"),
                    field("line-number", "lineNumber"))
    return Response(status=204)


def init_headers(app: Flask, config: Config, script_hashes: Sequence[str]) -> None:
    """Compute the page policy once (after Dash knows every inline script) and add the headers to every answer."""
    app.extensions[EXTENSION] = page_policy(script_hashes, config.tile_url, config.tile_labels_url)
    app.after_request(add_headers)
