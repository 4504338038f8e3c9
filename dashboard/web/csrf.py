"""Cross-site request forgery protection for everything a browser session can change.

Double submit, bound to the session. At login (and lazily for an older session) a random token is stored in the
signed Flask session and copied into the cookie `_csrf_token`, which is *not* HttpOnly so that page scripts can
read it. Dash's renderer reads that cookie on every request it makes (`getCSRFHeader` in dash-renderer: it
parses `document.cookie`, takes the cookie named by the Dash config `csrf_token_name`, default `_csrf_token`,
and sends it in the header named by `csrf_header_name`, default `X-CSRFToken`; no cookie, no header). Scripts
of our own pages do the same for /api/ calls.

Every state-changing request (POST, PUT, PATCH, DELETE) authenticated by the session cookie must carry that
header, equal to the cookie and to the token in the session (constant-time comparisons), else 403
`{"error": "CSRF check failed"}`. Another site can make the browser send our cookies, but it can neither read
the cookie nor set a custom header on a cross-site request without a CORS pre-flight we never grant.

Exempt: safe methods; requests authenticated by a per-user API token (`Authorization: Bearer`, which a browser
never adds on its own, so there is no ambient credential to abuse); the ingest `/api/v1/events` (ingest token);
`/login`, which checks its own form token; `/logout`, a plain form POST that checks this same token sent as the
form field `csrf_token` (or the header); `/csp-report`, which browsers post on their own and which changes
nothing. Anonymous requests are refused by the login guard before this check.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request, session
from flask_login import current_user

# The Dash defaults, passed to dash.Dash explicitly so that the renderer and this module agree.
COOKIE_NAME = "_csrf_token"
HEADER_NAME = "X-CSRFToken"
SESSION_KEY = "_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths with their own protection: the login form token, the ingest token, logout's form field; and the browsers'
# CSP reports, which change nothing.
EXEMPT_PATHS = ("/login", "/api/v1/events", "/logout", "/csp-report")
# The form field that carries the token in plain form POSTs (logout).
FORM_FIELD = "csrf_token"
# Set by the login guard when the request was authenticated by an API token rather than the session.
TOKEN_AUTH_FLAG = "api_token_user"


def new_token() -> str:
    """A fresh random token (URL-safe, so the cookie needs no quoting)."""
    return secrets.token_urlsafe(32)


def rotate() -> str:
    """Give the current session a new token (at login); the response sets the matching cookie."""
    token = new_token()
    session[SESSION_KEY] = token
    return token


def token() -> str:
    """This session's token (made now for a session that has none), for a form the server renders."""
    current = session.get(SESSION_KEY)
    return current if isinstance(current, str) and current else rotate()


def submitted_token_ok() -> bool:
    """True when a form POST carries this session's token in its `csrf_token` field (or the header)."""
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FORM_FIELD) or request.headers.get(HEADER_NAME, "")
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def mark_token_authenticated(user: Any) -> None:
    """Record that this request was authenticated by an API token (so it needs no CSRF header)."""
    setattr(g, TOKEN_AUTH_FLAG, user)


def token_authenticated() -> bool:
    """True when this request was authenticated by an API token, not by the session cookie."""
    return g.get(TOKEN_AUTH_FLAG) is not None


def _exempt(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in EXEMPT_PATHS)


def _failed() -> Response:
    resp = jsonify(error="CSRF check failed")
    resp.status_code = 403
    return resp


def check() -> Response | None:
    """before_request: refuse a session-authenticated state change without the right header."""
    if request.method not in UNSAFE_METHODS or _exempt(request.path) or token_authenticated():
        return None
    if not current_user.is_authenticated:
        return None  # the login guard answers anonymous requests (401) before this runs
    expected = session.get(SESSION_KEY)
    sent = request.headers.get(HEADER_NAME, "")
    cookie = request.cookies.get(COOKIE_NAME, "")
    if not isinstance(expected, str) or not expected or not sent:
        return _failed()
    # Compare all three as bytes in constant time; a non-ASCII header must not raise.
    ok_header = hmac.compare_digest(sent.encode(), expected.encode())
    ok_cookie = hmac.compare_digest(cookie.encode(), expected.encode())
    if not (ok_header and ok_cookie):
        return _failed()
    return None


def set_cookie(resp: Response) -> Response:
    """after_request: keep the readable cookie equal to the session's token (and drop it after logout)."""
    if token_authenticated():
        return resp
    token = session.get(SESSION_KEY)
    if not token:
        if request.cookies.get(COOKIE_NAME) and not session.get("_user_id"):
            resp.delete_cookie(COOKIE_NAME, path="/")
            return resp
        if not session.get("_user_id"):
            return resp
        token = rotate()  # a session from before this protection existed
    if request.cookies.get(COOKIE_NAME) != token:
        resp.set_cookie(
            COOKIE_NAME,
            token,
            path="/",
            httponly=False,  # Dash's renderer must read it from document.cookie
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return resp


def init_csrf(app: Flask) -> None:
    """Install the check and the cookie on the app (after the login guard)."""
    app.before_request(check)
    app.after_request(set_cookie)

