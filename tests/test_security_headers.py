"""Security headers on every kind of answer, the page policy's sources, and the CSP report endpoint."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from dashboard.config import Config
from dashboard.web import headers
from tests.helpers import csrf_headers, login, router_callback

EVERY_ANSWER = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy")


def assert_secured(resp: Any, what: str) -> None:
    """The headers every answer carries, with the anti-framing rule in both forms."""
    for name in EVERY_ANSWER:
        assert name in resp.headers, f"{what}: no {name}"
    assert resp.headers["X-Frame-Options"] == "DENY", what
    assert resp.headers["X-Content-Type-Options"] == "nosniff", what
    assert resp.headers["Referrer-Policy"] == "same-origin", what
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], what


def directives(policy: str) -> dict[str, list[str]]:
    """A policy as {directive: sources}."""
    found = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        found[name] = sources
    return found


def test_every_kind_of_answer_carries_the_headers(app: Any, client: Any) -> None:
    anonymous = {
        "login page": client.get("/login"),
        "redirect to login": client.get("/wall"),
        "401 JSON of Dash": router_callback(client, []),
        "401 JSON of the API": client.get("/api/v1/units"),
        "401 of the ingest": client.post("/api/v1/events", json=[]),
        "asset": client.get("/assets/theme.css"),
        "health": client.get("/healthz"),
        "OpenAPI document": client.get("/api/v1/openapi.json"),
        "CSP report": client.post("/csp-report", json={"csp-report": {}}),
    }
    login(client, "admin")
    signed_in = {
        "page": client.get("/wall"),
        "Dash layout": client.get("/_dash-layout"),
        "API JSON": client.get("/api/v1/units"),
        "404 of the API": client.get("/api/v1/incidents/999999"),
        "403 of CSRF": router_callback(client, [], headers={}),
        "daily report": client.get("/report"),
        "report CSV": client.get("/report.csv"),
        "report script": client.get("/report-assets/report.js"),
        "logout page": client.get("/logout"),
        "Dash callback": router_callback(client, [], headers=csrf_headers(client)),
    }
    for what, resp in {**anonymous, **signed_in}.items():
        assert_secured(resp, f"{what} ({resp.status_code})")
    assert signed_in["403 of CSRF"].status_code == 403 and signed_in["404 of the API"].status_code == 404


def test_a_throttled_sign_in_and_a_server_error_carry_them_too(app: Any, client: Any) -> None:
    def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/broken-for-the-test", "broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(client, "admin")
    resp = client.get("/broken-for-the-test")
    assert resp.status_code == 500
    assert_secured(resp, "500")
    for _ in range(11):
        last = login(app.test_client(), "nobody", "wrong")
    assert last.status_code == 429
    assert_secured(last, "429")


def test_pages_get_the_page_policy_and_everything_else_none(app: Any, client: Any) -> None:
    login(client, "admin")
    page = directives(client.get("/wall").headers["Content-Security-Policy"])
    dash = app.extensions["dash_app"]
    assert page["script-src"] == ["'self'", *dash.csp_hashes()]
    assert "'unsafe-inline'" not in page["script-src"] and "'unsafe-eval'" not in page["script-src"]
    assert page["default-src"] == ["'self'"] and page["object-src"] == ["'none'"] and page["base-uri"] == ["'none'"]
    assert page["frame-ancestors"] == ["'none'"] and page["form-action"] == ["'self'"]
    assert page["report-uri"] == ["/csp-report"]
    assert client.get("/login").headers["Content-Security-Policy"] == client.get("/wall").headers[
        "Content-Security-Policy"]
    api = directives(client.get("/api/v1/units").headers["Content-Security-Policy"])
    assert api == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def test_signed_in_answers_are_not_cached_but_assets_are(client: Any) -> None:
    login(client, "admin")
    assert client.get("/wall").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/units").headers["Cache-Control"] == "no-store"
    assert client.get("/assets/theme.css").headers.get("Cache-Control") != "no-store"


def test_hsts_only_when_served_over_https(redis_url: str, db_url: str) -> None:
    from dashboard.web import create_app

    plain = create_app(Config.for_tests(redis_url=redis_url, database_url=db_url))
    assert "Strict-Transport-Security" not in plain.test_client().get("/login").headers
    https = create_app(dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=db_url),
                                           session_cookie_secure=True))
    assert https.test_client().get("/login").headers["Strict-Transport-Security"].startswith("max-age=")
    for server in (plain, https):
        server.extensions["dc_redis"].close()


@pytest.mark.parametrize(("tile_url", "origin"), [
    (None, None),
    ("http://tiles.intranet/{z}/{x}/{y}.png", "http://tiles.intranet"),
    ("https://{s}.tiles.example:8443/{z}/{x}/{y}.png", "https://*.tiles.example:8443"),
    ("javascript:alert(1)", None),
    ("http://a{s}b.example/{z}", None),
])
def test_the_tile_server_alone_is_added_to_the_image_sources(tile_url: str | None, origin: str | None) -> None:
    assert headers.tile_origin(tile_url) == origin
    images = directives(headers.page_policy([], tile_url))["img-src"]
    assert images == ["'self'", "data:", *([origin] if origin else [])]


def test_a_separate_label_server_is_an_image_source_too() -> None:
    images = directives(headers.page_policy([], "http://t0.tiles.example/img/{z}/{x}/{y}",
                                            "http://labels.example/cva/{z}/{x}/{y}"))["img-src"]
    assert images == ["'self'", "data:", "http://t0.tiles.example", "http://labels.example"]
    same = directives(headers.page_policy([], "http://t.example/a/{z}", "http://t.example/b/{z}"))["img-src"]
    assert same == ["'self'", "data:", "http://t.example"]


def test_a_violation_report_is_logged_once_and_escaped(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dashboard.web.headers")
    report = {"csp-report": {"document-uri": "http://x/wall\nFORGED 1970 INFO line",
                             "effective-directive": "script-src-elem", "blocked-uri": "inline"}}
    resp = client.post("/csp-report", data=json.dumps(report), content_type="application/csp-report")
    assert resp.status_code == 204
    lines = [r.getMessage() for r in caplog.records if "CSP violation" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and "\\nFORGED" in lines[0] and "script-src-elem" in lines[0]
    # The Reporting API's form too; nonsense is answered and not logged.
    modern = [{"type": "csp-violation", "body": {"documentURL": "http://x/tablet", "effectiveDirective": "img-src"}}]
    assert client.post("/csp-report", data=json.dumps(modern), content_type="application/reports+json"
                       ).status_code == 204
    assert client.post("/csp-report", data=b"\x00not json").status_code == 204
    lines = [r.getMessage() for r in caplog.records if "CSP violation" in r.getMessage()]
    assert len(lines) == 2 and "img-src" in lines[1]


def test_reports_are_limited_per_address(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dashboard.web.headers")
    codes = [client.post("/csp-report", json={"csp-report": {"blocked-uri": "inline"}}).status_code
             for _ in range(40)]
    assert codes.count(204) == 30 and codes[-1] == 429
    assert len([r for r in caplog.records if "CSP violation" in r.getMessage()]) == 30
