"""Login with flask-login: the login page, the guard on every page and Dash request, role homes."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.domain import rules as c
from dashboard.i18n import t
from dashboard.store.engine import session_scope
from dashboard.web import csrf
from dashboard.web.extensions import db_sessions

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# Paths anyone may fetch: the login page and its CSS, the health probe, the token-authenticated ingest, and the
# OpenAPI document (it describes the interface, holds no data, and clients read it before they have a token).
PUBLIC_PREFIXES = (
    "/login", "/assets/", "/healthz", "/api/v1/events", "/api/v1/openapi.json", "/lang/", "/favicon.ico",
)
LANGUAGES = ("zh", "en")


class SessionUser(UserMixin):
    """The logged-in user as seen by a request (a detached snapshot of the row)."""

    def __init__(self, id: int, username: str, display_name: str, role: str, language: str) -> None:
        self.id = id
        self.username = username
        self.display_name = display_name
        self.role = role
        self.language = language

    def get_id(self) -> str:
        """Session identifier of the user."""
        return str(self.id)


def load_user(user_id: str) -> SessionUser | None:
    """Reload the user on every request, so a disabled account or a new role takes effect at once."""
    try:
        uid = int(user_id)
    except ValueError:
        return None
    with session_scope(db_sessions()) as s:
        user = store.users.get_user(s, uid)
        if user is None or not user.active:
            return None
        return SessionUser(user.id, user.username, user.display_name, user.role, user.language)


def current_language() -> str:
    """The UI language: the session's choice, else the user's, else Chinese."""
    lang = session.get("lang")
    if lang in LANGUAGES:
        return str(lang)
    if current_user.is_authenticated and current_user.language in LANGUAGES:
        return str(current_user.language)
    return "zh"


def _is_public(path: str) -> bool:
    """True for paths that need no session."""
    return any(path == p.rstrip("/") or path.startswith(p) for p in PUBLIC_PREFIXES)


def _bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _authenticate_api_token(token: str) -> Response | None:
    """Make the token's user the current user of this request only (no session, no cookie); else 401.

    Looked up on every request, so a revoked token or a disabled user stops working at once.
    """
    try:
        with session_scope(db_sessions()) as s:
            user = store.users.user_for_token(s, token)
            snapshot = (
                None if user is None
                else SessionUser(user.id, user.username, user.display_name, user.role, user.language)
            )
    except SQLAlchemyError:
        resp = jsonify(error="database unavailable; retry")
        resp.status_code = 503
        resp.headers["Retry-After"] = "2"
        return resp
    if snapshot is None:
        resp = jsonify(error="invalid or revoked API token")
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return resp
    csrf.mark_token_authenticated(snapshot)
    # flask-login keeps the request's user in g; setting it here bypasses the session entirely.
    current_app.login_manager._update_request_context_with_user(snapshot)  # type: ignore[attr-defined]
    return None


def _guard() -> Any:
    """Refuse anonymous requests: pages go to /login, Dash and API requests get 401 JSON.

    An /api/ request with `Authorization: Bearer` is authenticated by that per-user API token alone, even if it
    also carries a session cookie (the ingest /api/v1/events is public here and checks its own token).
    """
    path = request.path
    if _is_public(path):
        return None
    if path.startswith("/api/"):
        token = _bearer_token()
        if token is not None:
            return _authenticate_api_token(token)
    if not current_user.is_authenticated:
        if path.startswith("/_dash-") or path.startswith("/api/") or request.method != "GET":
            resp = jsonify(error="authentication required", login="/login")
            resp.status_code = 401
            return resp
        return redirect(f"/login?next={path}")
    if path == "/":
        return redirect(c.ROLE_HOME.get(current_user.role, "/wall"))
    return None


def _safe_next(target: str | None) -> str | None:
    """Only allow redirects to a local path."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


LOGIN_TEMPLATE = """<!doctype html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t('app.title', lang) }}</title>
{% for href in css %}<link rel="stylesheet" href="{{ href }}">{% endfor %}
</head><body class="login-page">
<main class="login-card">
  <h1 class="login-title">{{ t('app.title', lang) }}</h1>
  <p class="login-sub">{{ t('login.subtitle', lang) }}</p>
  {% if error %}<div class="login-error alert alert-danger" role="alert">{{ error }}</div>{% endif %}
  <form method="post" action="/login{% if next %}?next={{ next|urlencode }}{% endif %}">
    <input type="hidden" name="csrf_token" value="{{ csrf }}">
    <label class="form-label" for="username">{{ t('login.username', lang) }}</label>
    <input class="form-control form-control-lg mb-3" id="username" name="username" autocomplete="username"
           autofocus required value="{{ username }}">
    <label class="form-label" for="password">{{ t('login.password', lang) }}</label>
    <input class="form-control form-control-lg mb-4" id="password" name="password" type="password"
           autocomplete="current-password" required>
    <button class="btn btn-primary btn-lg w-100" type="submit">{{ t('login.submit', lang) }}</button>
  </form>
  <p class="mt-4 lang-switch"><a href="/lang/zh?next=/login">中文</a> · <a href="/lang/en?next=/login">English</a></p>
</main></body></html>"""


def _stylesheets() -> list[str]:
    """The vendored CSS served from /assets, in the order Dash loads them."""
    assets = current_app.extensions["dash_app"].config.assets_folder
    from pathlib import Path

    root = Path(assets)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.css"))
    return [f"/assets/{f}" for f in files]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form and log a user in."""
    lang = current_language()
    nxt = _safe_next(request.args.get("next"))
    error = None
    username = ""
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        expected = session.get("login_csrf", "")
        username = request.form.get("username", "").strip()[:64]
        if not expected or not hmac.compare_digest(sent, expected):
            error = t("login.expired", lang)
        else:
            with session_scope(db_sessions()) as s:
                user = store.users.authenticate(s, username, request.form.get("password", ""))
                if user is None:
                    store.audit_log.record(s, username or "?", "login", outcome="refused",
                                           detail={"ip": request.remote_addr})
                    error = t("login.invalid", lang)
                else:
                    store.audit_log.record(s, user.username, "login", detail={"ip": request.remote_addr})
                    snapshot = SessionUser(user.id, user.username, user.display_name, user.role, user.language)
            if error is None:
                # A fresh session on login, so a session id planted before login is worthless.
                keep_lang = session.get("lang")
                session.clear()
                if keep_lang:
                    session["lang"] = keep_lang
                login_user(snapshot)
                csrf.rotate()  # and a new CSRF token, set as a cookie on this response
                return redirect(nxt or c.ROLE_HOME.get(snapshot.role, "/wall"))
    token = secrets.token_urlsafe(24)
    session["login_csrf"] = token
    html = render_template_string(
        LOGIN_TEMPLATE, lang=lang, t=t, error=error, next=nxt, csrf=token, username=username, css=_stylesheets()
    )
    return Response(html, status=401 if error else 200, mimetype="text/html")


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Log out and return to the login page."""
    logout_user()
    session.clear()
    return redirect("/login")


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Use the chosen UI language in this session and, when signed in, remember it for the user; go back."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    if current_user.is_authenticated:
        try:
            with session_scope(db_sessions()) as s:
                store.users.set_user_language(s, int(current_user.id), code)
        except SQLAlchemyError:
            # The session still switches; only remembering it for the next sign-in is lost, so say so.
            log.exception("could not remember language %s for user %s", code, current_user.username)
    return redirect(_safe_next(request.args.get("next")) or "/")


def init_auth(app: Flask) -> None:
    """Install flask-login, the guard and the login routes on the app."""
    manager = LoginManager()
    manager.user_loader(load_user)
    manager.init_app(app)
    app.before_request(_guard)
    csrf.init_csrf(app)  # after the guard: anonymous requests get 401 before any CSRF check
    app.register_blueprint(bp)
