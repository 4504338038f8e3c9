"""Login with flask-login: the login page, logout, the guard on every page and Dash request, role homes.

A session is admitted when its signed cookie names a live server-side record (dashboard/web/sessions.py: logout
and idle expiry hold on every host) and the database still knows the user as active; sign-in is throttled and
its failures audited within bounds (dashboard/web/throttle.py). Logout is a POST with the session's CSRF token;
GET /logout only asks.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any, Final
from urllib.parse import urlsplit

import redis
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
from flask.globals import request_ctx
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.config import Config
from dashboard.domain import rules as c
from dashboard.domain.pages import page_status
from dashboard.i18n import t
from dashboard.store.engine import session_scope
from dashboard.web import csrf, sessions, throttle
from dashboard.web.extensions import db_sessions, redis_client

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# Paths anyone may fetch: the login page and its CSS, the health probe, the token-authenticated ingest, and the
# OpenAPI document (it describes the interface, holds no data, and clients read it before they have a token).
# /logout and /csp-report too: the first answers a session that ended by sending it to /login, the second takes
# the browser's reports of policy violations (dashboard/web/headers.py).
PUBLIC_PREFIXES = (
    "/login", "/logout", "/assets/", "/healthz", "/api/v1/events", "/api/v1/openapi.json", "/lang/", "/favicon.ico",
    "/csp-report",
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

    def as_dict(self) -> dict[str, Any]:
        """The snapshot kept in the signed session (sessions.SNAPSHOT_FIELDS)."""
        return {"id": self.id, "username": self.username, "display_name": self.display_name, "role": self.role,
                "language": self.language}

    @classmethod
    def from_dict(cls, snap: dict[str, Any]) -> SessionUser:
        """The user of a snapshot (as_dict's shape)."""
        return cls(int(snap["id"]), str(snap["username"]), str(snap["display_name"]), str(snap["role"]),
                   str(snap["language"]))

    @classmethod
    def of(cls, user: Any) -> SessionUser:
        """The snapshot of a store.models.User row."""
        return cls(user.id, user.username, user.display_name, user.role, user.language)


def reload_user(uid: int) -> SessionUser | None:
    """The user as the database has them now, or None when unknown or disabled (raises SQLAlchemyError)."""
    with session_scope(db_sessions()) as s:
        user = store.users.get_user(s, uid)
        return None if user is None or not user.active else SessionUser.of(user)


def load_user(user_id: str) -> SessionUser | None:
    """flask-login's loader: the session must be live on the server and its user active in the database.

    The user is reloaded at most once per SESSION_USER_RECHECK_S per session; in between, the session record's
    snapshot stands. A disable, a new role or a password reset acts on the records at once (dashboard/web/sessions.py),
    so it takes effect at the next request; while the database does not answer, the cookie's snapshot stands in for
    a bounded time.
    """
    try:
        uid = int(user_id)
    except ValueError:
        return None
    public = _is_public(request.path)
    checked = sessions.verify(uid, public)
    if checked is None:
        return None
    if checked.user is not None:
        known = SessionUser.from_dict(checked.user)
        sessions.remember(known.as_dict())
        return known
    try:
        user = reload_user(uid)
    except SQLAlchemyError as exc:
        snapshot = sessions.snapshot_while_database_away(exc, uid, public)
        return None if snapshot is None else SessionUser.from_dict(snapshot)
    sessions.database_answered()
    if user is None:
        sessions.finish()  # disabled or deleted: the record ends too
        session.clear()
        return None
    sessions.remember(user.as_dict())
    sessions.confirm(checked, user.as_dict())
    return user


def current_language() -> str:
    """The UI language: the session's choice, else the user's, else Chinese."""
    lang = session.get("lang")
    if lang in LANGUAGES:
        return str(lang)
    if current_user.is_authenticated and current_user.language in LANGUAGES:
        return str(current_user.language)
    return "zh"


# A public prefix without its trailing slash is public too ("/assets" as "/assets/").
_PUBLIC_EXACT: Final = frozenset(p.rstrip("/") for p in PUBLIC_PREFIXES)


def _is_public(path: str) -> bool:
    """True for paths that need no session."""
    return path in _PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)


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
            snapshot = None if user is None else SessionUser.of(user)
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


# Dash's endpoints that answer every page path with its index (the router then renders the page in the browser).
_DASH_INDEX: Final = frozenset({"/", "/<path:path>"})


def _page_status(resp: Response) -> Response:
    """A page the signed-in role may not open answers 403 and an unknown page 404, like every other refusal of the
    server (the report, the API); the body is still the console, whose router shows the refusal in words."""
    req = request_ctx.request  # (one look-up through the context's proxy: this runs on every answer)
    if (req.method == "GET" and resp.status_code == 200 and req.endpoint in _DASH_INDEX
            and current_user.is_authenticated):
        resp.status_code = page_status(req.path, current_user.role)
    return resp


def still_authenticated() -> bool:
    """Whether this request's caller passes the guard's rules now (the push stream checks its caller again).

    The same rules as _guard for an /api/ path: an API token (revoked or its user disabled: no), else the session
    (its server-side record and its user). May raise what the session's checks raise while Redis or the database
    is away (a 503).
    """
    token = _bearer_token()
    if token is not None:
        return _authenticate_api_token(token) is None
    return bool(current_user.is_authenticated)


def _safe_next(target: str | None) -> str | None:
    """Only allow redirects to a local path."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# The login and logout pages: one card on the login page's background, with the vendored CSS and no script.
CARD_PAGE = """<!doctype html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
{% for href in css %}<link rel="stylesheet" href="{{ href }}">{% endfor %}
</head><body class="login-page">
<main class="login-card">
  <h1 class="login-title">{{ t('app.title', lang) }}</h1>
"""
LOGIN_TEMPLATE = CARD_PAGE + """  <p class="login-sub">{{ t('login.subtitle', lang) }}</p>
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
LOGOUT_TEMPLATE = CARD_PAGE + """  <p class="login-sub">{{ t('logout.question', lang, user=user) }}</p>
  <form method="post" action="/logout">
    <input type="hidden" name="csrf_token" value="{{ csrf }}">
    <button class="btn btn-primary btn-lg w-100 mb-3" type="submit">{{ t('logout.submit', lang) }}</button>
  </form>
  <a class="btn btn-outline-secondary w-100" href="{{ back }}">{{ t('logout.back', lang) }}</a>
</main></body></html>"""


def _stylesheets() -> list[str]:
    """The vendored CSS served from /assets, in the order Dash loads them."""
    assets = current_app.extensions["dash_app"].config.assets_folder
    from pathlib import Path

    root = Path(assets)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.css"))
    return [f"/assets/{f}" for f in files]


def _login_page(lang: str, nxt: str | None, error: str | None = None, username: str = "",
                status: int | None = None) -> Response:
    """The login form with a fresh form token (and an error, answered 401 unless another status is given)."""
    token = secrets.token_urlsafe(24)
    session["login_csrf"] = token
    html = render_template_string(
        LOGIN_TEMPLATE, lang=lang, t=t, title=t("app.title", lang), error=error, next=nxt, csrf=token,
        username=username, css=_stylesheets(),
    )
    return Response(html, status=status or (401 if error else 200), mimetype="text/html")


def _login_unavailable(lang: str, nxt: str | None, username: str) -> Response:
    """503: signing in needs Redis (the session record, the throttle) and the database."""
    resp = _login_page(lang, nxt, t("login.unavailable", lang), username, status=503)
    resp.headers["Retry-After"] = str(sessions.RETRY_AFTER_S)
    return resp


def _throttled(wait_s: int) -> Response:
    """429: the login page saying how long to wait (Retry-After is set by the throttle)."""
    lang = current_language()
    minutes = max(1, -(-wait_s // 60))
    username = request.form.get("username", "").strip()[:64]
    return _login_page(lang, _safe_next(request.args.get("next")), t("login.throttled", lang, minutes=minutes),
                       username, status=429)


def login() -> Any:
    """Show the login form and log a user in (POSTs are throttled: see init_auth)."""
    lang = current_language()
    nxt = _safe_next(request.args.get("next"))
    if request.method != "POST":
        return _login_page(lang, nxt)
    sent = request.form.get("csrf_token", "")
    expected = session.get("login_csrf", "")
    username = request.form.get("username", "").strip()[:64]
    if not expected or not hmac.compare_digest(sent, expected):
        return _login_page(lang, nxt, t("login.expired", lang), username)
    try:
        redis_client().ping()
    except redis.RedisError:
        return _login_unavailable(lang, nxt, username)
    snapshot: SessionUser | None = None
    try:
        with session_scope(db_sessions()) as s:
            user = store.users.authenticate(s, username, request.form.get("password", ""))
            if user is None:
                throttle.mark_failed()
                throttle.audit_failure(s, current_app, username)
            else:
                store.audit_log.record(s, user.username, "login", detail={"ip": request.remote_addr})
                snapshot = SessionUser.of(user)
    except SQLAlchemyError as exc:
        sessions.policy().db_outage.failed("sign-in", exc, "signing in answers 503")
        return _login_unavailable(lang, nxt, username)
    if snapshot is None:
        return _login_page(lang, nxt, t("login.invalid", lang), username)
    # A fresh session on login, so a session id planted before login is worthless.
    keep_lang = session.get("lang")
    session.clear()
    if keep_lang:
        session["lang"] = keep_lang
    try:
        sessions.begin(snapshot.as_dict())
    except redis.RedisError:
        session.clear()
        return _login_unavailable(lang, nxt, username)
    login_user(snapshot)
    csrf.rotate()  # and a new CSRF token, set as a cookie on this response
    return redirect(nxt or c.ROLE_HOME.get(snapshot.role, "/wall"))


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """POST (with the session's CSRF token): end the session on the server and here; GET only asks."""
    if request.method == "POST" and csrf.submitted_token_ok():
        who = str(current_user.username) if current_user.is_authenticated else None
        sessions.finish()
        logout_user()
        session.clear()
        if who:
            try:
                with session_scope(db_sessions()) as s:
                    store.audit_log.record(s, who, "logout", detail={"ip": request.remote_addr})
            except SQLAlchemyError as exc:
                log.warning("the logout of %s could not be audited (%s)", who, type(exc).__name__)
        return redirect("/login", code=303)
    if not current_user.is_authenticated:
        return redirect("/login", code=303)
    lang = current_language()
    html = render_template_string(
        LOGOUT_TEMPLATE, lang=lang, t=t, title=t("logout.title", lang), user=current_user.display_name,
        csrf=csrf.token(),
        back=c.ROLE_HOME.get(current_user.role, "/wall"), css=_stylesheets(),
    )
    return Response(html, mimetype="text/html")


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Use the chosen UI language in this session and, when signed in, remember it for the user; go back. Asked
    from another site's page (a link or an image there), nothing changes."""
    if code not in LANGUAGES:
        abort(404)
    # The browser says where the request comes from (Fetch Metadata): only our own pages (same-origin) or the person
    # (none: typed, a bookmark) switch it; a request that does not say (an older browser, a script) is taken as before.
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return redirect(_safe_next(request.args.get("next")) or "/")
    session["lang"] = code
    if current_user.is_authenticated:
        try:
            with session_scope(db_sessions()) as s:
                store.users.set_user_language(s, int(current_user.id), code)
            sessions.user_changed(int(current_user.id))  # their other sessions' snapshots say the old language
        except SQLAlchemyError:
            # The session still switches; only remembering it for the next sign-in is lost, so say so.
            log.exception("could not remember language %s for user %s", code, current_user.username)
    return redirect(_safe_next(request.args.get("next")) or "/")


def init_auth(app: Flask, config: Config) -> None:
    """Install flask-login, the session rules, the throttle, the guard and the login routes on the app."""
    manager = LoginManager()
    manager.user_loader(load_user)
    manager.init_app(app)
    sessions.init_sessions(app, config)
    throttle.init_throttle(app, config)
    app.before_request(_guard)
    app.after_request(_page_status)
    csrf.init_csrf(app)  # after the guard: anonymous requests get 401 before any CSRF check
    app.register_blueprint(bp)
    app.add_url_rule("/login", "login", throttle.protect_login(app, login, _throttled), methods=["GET", "POST"])
