"""Failed sign-ins throttled per (user name, client address), per client address, and per account only as a backstop
that never locks the account, with Flask-Limiter (its counters in Redis, so every host counts together); the audit
of failed sign-ins kept bounded; and per-user limits on the routes that rebuild much from SQL (the daily report, the
API's lists).

Why not lock an account: a lock counted on the user name alone (as this module once did, 10 failures per 15 minutes)
let anyone who can reach the login page keep the duty officer's or the admin's account locked, correct password
included, so nobody could sign in to the wall in an emergency. So the refusal is tied to where the failures come
from, and the account-wide count only slows guessing:

- LOGIN_LIMIT_PAIR (10 per 15 minutes), keyed by the user name typed (case-folded, so "Admin" and "admin" count
  together, whether the account exists or not) and the client address: past it, that address is refused for that
  name. An attacker at one address is stopped; the real user at another address is not.
- LOGIN_LIMIT_ADDRESS (30 per 15 minutes), keyed by the client address whatever the name: one address spraying
  many names is stopped.
- LOGIN_LIMIT_ACCOUNT (100 per 15 minutes), failures for one name from all addresses together: a backstop against
  a distributed guess. Past it the account is not locked (a hard lock would hand the denial of service back to any
  attacker with a dozen addresses); instead each (name, address) pair may fail only LOGIN_BACKSTOP_TRIES (2) more
  times in the window, so the attack gets a couple of guesses per address rather than ten, while an address that
  has not failed (the real user's) is never refused a correct password, and one typo there is still forgiven.

All are moving windows and count only failed password checks (Flask-Limiter's `deduct_when`; the account count is
kept here with the same strategy and storage); once a limit applies, the next attempt is refused before any password
is checked, with 429, Retry-After and the login page saying how many minutes to wait. A successful sign-in costs
nothing. Behind a reverse proxy the address is the client's once TRUSTED_PROXY_HOPS says how many proxies to trust
(dashboard/web/app.py, ProxyFix); left at 0 there, every client has the proxy's address and both address-keyed limits
count the whole site's failures (then the pair limit can lock a name for everyone behind the proxy again).

While Redis does not answer, Flask-Limiter counts in this process's memory (in_memory_fallback) and says so once
in the log; sign-in itself answers 503 then (dashboard/web/auth.py), as its session record needs Redis.

The audit log gets every failed password check (actor: the name typed; detail: the address), and one entry per
throttled key and window ("throttled": which limit, until when), so each pair and each address adds at most its
limit plus one entry per window. An attacker with many addresses is bounded by LOGIN_AUDIT_LIMIT: beyond it in a
window, one summary entry says that further failures are not itemised until the window ends (the throttle still
counts them). The quotas are `limits` items on the same Redis storage.

The report's page and CSV (REPORT_LIMIT_USER, together) and the API's lists (API_LIST_LIMIT_USER) are limited per
signed-in user (the API token's user for a token), every request counted: past it, 429 with Retry-After, a short
readable page for the report's HTML, JSON {"error", "code": "rate_limited"} for the CSV and the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import redis
from flask import Flask, Response, current_app, g, request
from flask.globals import request_ctx
from flask_limiter import Limiter, RequestLimit
from flask_login import current_user
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.config import Config
from dashboard.live import keys
from dashboard.live.connections import limiter_storage
from dashboard.store.engine import session_scope
from dashboard.web.extensions import db_sessions

log = logging.getLogger(__name__)

EXTENSION: Final = "dc_throttle"
FAILED_FLAG: Final = "dc_login_failed"
# Where the failures of an empty user name are counted (Flask-Limiter skips a limit whose key is empty).
NO_NAME: Final = "?"
MAX_NAME: Final = 64
# A client's CSP violation reports (dashboard/web/headers.py) beyond this are refused: each is a log line.
CSP_REPORTS_LIMIT: Final = "30 per minute"
STORAGE_ERRORS: Final = (redis.RedisError, StorageError, OSError)


@dataclass
class Throttle:
    """One app's limiter and the limits of its sign-in."""

    limiter: Limiter
    pair: str
    address: str
    # The backstop: failures per name from every address (counted here), and what a pair may fail past it.
    account_item: RateLimitItem
    backstop: str
    audit_item: RateLimitItem
    audit_quota: FixedWindowRateLimiter
    # The views this app limits (protect_login, limit_reports, limit_per_user): the only ones whose requests run
    # the limiter's hooks.
    limited: set[Callable[..., Any]] = field(default_factory=set)
    # True when the limiter's hooks run only for `limited` (no default or application-wide limit at start).
    gated: bool = False

    def limits(self, view: Callable[..., Any] | None) -> bool:
        """True when requests to `view` must go through the limiter's hooks."""
        return view in self.limited


def _parse(setting: str, value: str) -> RateLimitItem:
    """A limit in Flask-Limiter's notation, or a start-up error that names the setting."""
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"{setting}={value!r} is not a rate limit (write e.g. '10 per 15 minutes')") from None


def init_throttle(app: Flask, config: Config) -> Throttle:
    """Install Flask-Limiter on the app, on the app's Redis, with no limit but those given per route."""
    _parse("LOGIN_LIMIT_PAIR", config.login_limit_pair)
    _parse("LOGIN_LIMIT_ADDRESS", config.login_limit_address)
    account_item = _parse("LOGIN_LIMIT_ACCOUNT", config.login_limit_account)
    audit_item = _parse("LOGIN_AUDIT_LIMIT", config.login_audit_limit)
    _parse("REPORT_LIMIT_USER", config.report_limit_user)
    _parse("API_LIST_LIMIT_USER", config.api_list_limit_user)
    if config.login_backstop_tries < 1:
        raise ValueError(f"LOGIN_BACKSTOP_TRIES={config.login_backstop_tries}: at least 1")
    # Past the backstop a pair may fail this many more times within the backstop's own window.
    backstop = f"{config.login_backstop_tries} per {account_item.multiples} {account_item.GRANULARITY.name}"
    # On the app's Redis (through Sentinel when it is set), with the short timeouts of the app's own client
    # (dashboard/live/connections.py): a dead Redis fails fast.
    storage_uri, storage_options = limiter_storage(config.redis)
    hooks_before = _hooks(app, copy=True)
    limiter = Limiter(
        key_func=client_address,
        app=app,
        storage_uri=storage_uri,
        storage_options=storage_options,
        strategy="moving-window",
        key_prefix=keys.LIMITER_PREFIX,
        headers_enabled=False,  # the refusal sets its own Retry-After; other answers need no rate headers
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    # Its INFO line per refused request would let a flood write the log; the refusals are audited (bounded).
    logging.getLogger("flask-limiter").setLevel(logging.WARNING)
    found = Throttle(limiter, config.login_limit_pair, config.login_limit_address, account_item, backstop,
                     audit_item, FixedWindowRateLimiter(limiter.storage))
    app.extensions[EXTENSION] = found
    if not (limiter.limit_manager.default_limits or limiter.limit_manager.application_limits):
        _only_for_limited_views(app, found, hooks_before)
        found.gated = True
    return found


def verify_gates(app: Flask) -> None:
    """Refuse to start when a limit was given that the gated hooks would never count: a default or application-wide
    limit set after init_throttle, or a blueprint's limit (only protect_login, limit_reports and limit_per_user may
    limit)."""
    t = throttle(app)
    if not t.gated:
        return
    manager = t.limiter.limit_manager
    skipped = [*manager.default_limits, *manager.application_limits,
               *(limit for name in app.blueprints for limit in manager.blueprint_limits(app, name))]
    if skipped:
        raise RuntimeError(f"rate limits the limiter's gated hooks would skip: {skipped}; limit views through "
                           "dashboard.web.throttle (protect_login, limit_reports, limit_per_user) or set them before "
                           "init_throttle")


HookLists = tuple[list[Callable[..., Any]], list[Callable[..., Any]], list[Callable[..., Any]]]


def _hooks(app: Flask, copy: bool = False) -> HookLists:
    """The app's lists of app-wide before-request, after-request and teardown hooks (copies of them: `copy`)."""
    lists = (app.before_request_funcs.setdefault(None, []), app.after_request_funcs.setdefault(None, []),
             app.teardown_request_funcs.setdefault(None, []))
    return (list(lists[0]), list(lists[1]), list(lists[2])) if copy else lists


def _only_for_limited_views(app: Flask, t: Throttle, before: HookLists) -> None:
    """Run the hooks Flask-Limiter installed only for requests to the views this app limits.

    With no default and no application-wide limit, a request to any other view has no limit to count, yet the
    limiter's hooks resolve its limits, look up its exemptions and make a per-request context for it (about a tenth
    of a signed-in refresh's CPU). Limits are given only through protect_login and limit_reports, which record the
    views they limit; those views' requests run the hooks exactly as before.
    """
    for hooks, old in zip(_hooks(app), before, strict=True):
        for i, hook in enumerate(hooks):
            if hook not in old:
                hooks[i] = _gated(app, t, hook, returns_response=hooks is app.after_request_funcs[None])


def _gated(app: Flask, t: Throttle, hook: Callable[..., Any], returns_response: bool) -> Callable[..., Any]:
    """`hook`, run only when this request's view is limited; otherwise the response (after-request) or None."""

    def gated(*args: Any) -> Any:
        endpoint = request_ctx.request.endpoint
        if endpoint is not None and t.limits(app.view_functions.get(endpoint)):
            return hook(*args)
        return args[0] if returns_response else None

    gated.__name__ = getattr(hook, "__name__", "limiter_hook")
    return gated


def throttle(app: Flask) -> Throttle:
    """The app's throttle."""
    found: Throttle = app.extensions[EXTENSION]
    return found


def client_address() -> str:
    """The client's address: the socket's peer, or the address the trusted proxy saw (TRUSTED_PROXY_HOPS)."""
    return request.remote_addr or NO_NAME


def account_name() -> str:
    """The user name a sign-in attempt typed, as the throttle counts it."""
    return request.form.get("username", "").strip()[:MAX_NAME].casefold() or NO_NAME


def pair_key() -> str:
    """The (user name, client address) pair a sign-in attempt is counted on."""
    return f"{account_name()}@{client_address()}"


def _account_ids() -> tuple[str, ...]:
    """The backstop's counter of the typed name, on the limiter's storage."""
    return keys.LIMITER_PREFIX, "login-account", account_name()


def backstop_reached(t: Throttle) -> bool:
    """True when the typed name has had LOGIN_LIMIT_ACCOUNT failures from all addresses within its window."""
    try:
        return not t.limiter.limiter.test(t.account_item, *_account_ids())
    except STORAGE_ERRORS as exc:
        # The pair and address limits still hold (on the in-memory fallback); the backstop is the lesser loss.
        log.warning("the sign-in backstop could not be read (%s): not applied to this attempt", type(exc).__name__)
        return False


def mark_failed() -> None:
    """Count this request against the sign-in limits (its password check failed)."""
    setattr(g, FAILED_FLAG, True)
    t = throttle(current_app)
    try:
        t.limiter.limiter.hit(t.account_item, *_account_ids())
    except STORAGE_ERRORS as exc:
        log.warning("a failed sign-in could not be counted against its account's backstop (%s)", type(exc).__name__)


def _failed(_response: Response) -> bool:
    return bool(g.get(FAILED_FLAG))


def protect_login(app: Flask, view: Callable[..., Any], refused: Callable[[int], Response]) -> Callable[..., Any]:
    """The sign-in view with its limits on its POSTs; `refused(wait_s)` renders the refusal."""
    t = throttle(app)

    def breach(scope: str) -> Callable[[RequestLimit], Response]:
        def on_breach(limit: RequestLimit) -> Response:
            wait_s = max(1, int(limit.reset_at - datetime.now(UTC).timestamp()))
            _audit_throttled(t, scope, limit.limit, wait_s)
            resp = refused(wait_s)
            resp.headers["Retry-After"] = str(wait_s)
            return resp

        return on_breach

    def below_backstop() -> bool:
        return request.method != "POST" or not backstop_reached(t)

    for scope, value, key_func, exempt in (("address", t.address, client_address, None),
                                           ("pair", t.pair, pair_key, None),
                                           ("account", t.backstop, pair_key, below_backstop)):
        view = t.limiter.limit(value, key_func=key_func, methods=["POST"], deduct_when=_failed, exempt_when=exempt,
                               on_breach=breach(scope), scope=f"login-{scope}")(view)
    t.limited.add(view)
    return view


def limit_reports(app: Flask, view: Callable[..., Any]) -> Callable[..., Any]:
    """A public report endpoint, limited per client address."""
    t = throttle(app)
    limited: Callable[..., Any] = t.limiter.limit(CSP_REPORTS_LIMIT, key_func=client_address)(view)
    t.limited.add(limited)
    return limited


def user_key() -> str:
    """Whom a per-user limit counts: the signed-in user or the API token's user (the address for the anonymous, whom
    the login guard refuses before any limited view)."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{client_address()}"


def limit_per_user(app: Flask, endpoints: Sequence[str], value: str, scope: str,
                   refused: Callable[[int], Response]) -> None:
    """Limit the views at `endpoints` together, per user, every request counted; `refused(wait_s)` renders the 429
    (Retry-After is set here). Call once the endpoints are registered."""
    t = throttle(app)

    def on_breach(limit: RequestLimit) -> Response:
        wait_s = max(1, int(limit.reset_at - datetime.now(UTC).timestamp()))
        resp = refused(wait_s)
        resp.status_code = 429
        resp.headers["Retry-After"] = str(wait_s)
        return resp

    shared = t.limiter.shared_limit(value, scope=scope, key_func=user_key, on_breach=on_breach)
    for endpoint in endpoints:
        limited: Callable[..., Any] = shared(app.view_functions[endpoint])
        app.view_functions[endpoint] = limited
        t.limited.add(limited)


def _quota(t: Throttle, item: RateLimitItem, *ids: str) -> bool:
    """Take one from a quota; True when it had room, or when Redis cannot tell (the audit then goes on)."""
    try:
        return bool(t.audit_quota.hit(item, keys.LIMITER_PREFIX, *ids))
    except STORAGE_ERRORS:
        return True


def _audit_bounded(s: Session, t: Throttle, actor: str, outcome: str, detail: dict[str, Any]) -> None:
    """Write one failure entry if the window's audit quota has room; else one summary per window, then nothing."""
    if _quota(t, t.audit_item, "login-audit"):
        store.audit_log.record(s, actor, "login", outcome=outcome, detail=detail)
        return
    once = type(t.audit_item)(1, t.audit_item.multiples)
    if _quota(t, once, "login-audit-summary"):
        store.audit_log.record(s, "system", "login", outcome="not_itemised", detail={
            "reason": f"more than {t.audit_item.amount} failed sign-ins within "
                      f"{t.audit_item.get_expiry()} s: further ones in this window are counted by the throttle "
                      "but not written one by one",
        })


def audit_failure(s: Session, app: Flask, username: str) -> None:
    """Audit a failed password check (bounded), in the caller's transaction."""
    _audit_bounded(s, throttle(app), username or NO_NAME, "refused", {"ip": client_address()})


def _audit_throttled(t: Throttle, scope: str, item: RateLimitItem, wait_s: int) -> None:
    """Audit a refusal by the throttle once per key and window (bounded); a database away only loses this entry."""
    key = client_address() if scope == "address" else pair_key()
    if not _quota(t, type(item)(1, item.multiples), "login-throttled", scope, key):
        return
    try:
        with session_scope(db_sessions()) as s:
            _audit_bounded(s, t, account_name(), "throttled",
                           {"ip": client_address(), "limit": scope, "retry_after_s": wait_s})
    except SQLAlchemyError as exc:
        log.warning("a throttled sign-in could not be audited (%s)", type(exc).__name__)
