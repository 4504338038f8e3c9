"""Browser sessions as the server sees them: a record in Redis per sign-in (dashboard/live/sessions.py), the kind
of each session and its limits, what counts as activity, and what happens while Redis or the database is away.

The signed cookie (Flask's session) holds, besides flask-login's user id: the record's id (SID), the epoch it was
last confirmed in (EPOCH), the sign-in time (CREATED) and a snapshot of the user (USER: id, username, display
name, role, language), kept up to date while the database answers.

Kinds. A session whose role is a kiosk role (SESSION_KIOSK_ROLES: the duty officer's wall) counts every request
as activity and lives by SESSION_KIOSK_IDLE_S and SESSION_KIOSK_MAX_S. Every other session is a console session
(SESSION_IDLE_S, SESSION_MAX_S), where only what a person does counts: loading a page, sending a form, a Dash
callback set off by a click, a choice or a typed value. Timers (dcc.Interval's `n_intervals`), stores filled by
push or by other callbacks (`.data`), the first callbacks of a page, its scripts, assets and push stream do not;
else a console left open would refresh itself forever and never be idle.

Redis unreachable: the chosen trade-off is to keep serving. A session is accepted on its signed cookie alone (the
signature and its maximum age; a logout made meanwhile cannot be recorded) for at most SESSION_REDIS_GRACE_S of
the outage; after that, requests answer 503 with Retry-After, never 401, until Redis answers and the records are
asked again. Why: every screen's data is in Redis, so a Redis outage stops the screens anyway; signing everybody
out on top would leave each wall on its login page after Redis came back, with nobody there to sign in, while a
blink of a few seconds should go unnoticed. The price: during the first SESSION_REDIS_GRACE_S of an outage, a
cookie copied before a logout is accepted. Signing in needs Redis (the record and the throttle): 503 meanwhile.

The user is reloaded from SQL at most once per SESSION_USER_RECHECK_S per session; in between, the server-side
record's snapshot of the user stands (dashboard/live/sessions.py: it was written by the last reload, under the
user's generation). Whatever ends or changes access through the product acts on the records at once: logout ends
the record, disabling a user ends all of theirs (end_user), a new role bumps their generation (user_changed), so
the next request reloads; a password reset ends the others (end_others). Only a change made straight in the
database waits for the recheck.

Database unreachable: when the reload fails, the cookie's snapshot of the user is trusted for at most
SESSION_DB_GRACE_S of the outage, then 503 likewise. Each outage is logged once when it starts, and once with its
counts when it ends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import redis
from flask import Flask, Response, abort, current_app, jsonify, request, session
from flask.globals import request_ctx

from dashboard.config import Config
from dashboard.live import sessions as records
from dashboard.live.sessions import Checked, Limits, Verdict
from dashboard.outage import Outage
from dashboard.store.outage import DATABASE
from dashboard.web import readahead
from dashboard.web.extensions import REDIS, redis_client

log = logging.getLogger(__name__)

SID: Final = "sid"
EPOCH: Final = "sep"
CREATED: Final = "st"
USER: Final = "user"
SNAPSHOT_FIELDS: Final = ("id", "username", "display_name", "role", "language")
EXTENSION: Final = "dc_sessions_policy"
# Callback inputs that change without anyone doing anything: timers, and stores that push or callbacks fill.
BACKGROUND_PROPS: Final = frozenset({"n_intervals", "data"})
# Requests a page makes by itself: its layout, scripts, assets, push stream and favicon.
BACKGROUND_PREFIXES: Final = ("/_dash-", "/assets/", "/api/v1/stream", "/_reload-hash", "/_favicon", "/favicon")
RETRY_AFTER_S: Final = 5

UNAVAILABLE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{retry}"><title>503</title></head><body>
<p>暂时无法核实登录状态，本页稍后自动重试。</p>
<p lang="en">The sign-in cannot be checked right now; this page retries by itself.</p></body></html>"""


@dataclass
class Policy:
    """The session rules of one app: limits per kind, and the two dependencies' outages."""

    console: Limits
    kiosk: Limits
    kiosk_roles: frozenset[str]
    redis_grace_s: float
    db_grace_s: float
    user_recheck_s: float
    redis_outage: Outage
    db_outage: Outage

    def limits(self, role: str | None) -> Limits:
        """The limits of a session of `role`."""
        return self.kiosk if role in self.kiosk_roles else self.console

    def is_kiosk(self, role: str | None) -> bool:
        """True when sessions of `role` are kiosk sessions."""
        return role in self.kiosk_roles


def init_sessions(app: Flask, config: Config) -> None:
    """Attach the session rules from the configuration to the app."""
    app.extensions[EXTENSION] = Policy(
        console=Limits(config.session_idle_s, config.session_max_s),
        kiosk=Limits(config.session_kiosk_idle_s, config.session_kiosk_max_s),
        kiosk_roles=config.session_kiosk_roles,
        redis_grace_s=config.session_redis_grace_s,
        db_grace_s=config.session_db_grace_s,
        user_recheck_s=config.session_user_recheck_s,
        redis_outage=Outage("Redis (session records)", logger=log),
        db_outage=DATABASE,
    )


def policy() -> Policy:
    """The running app's session rules."""
    found: Policy = current_app.extensions[EXTENSION]
    return found


def snapshot() -> dict[str, Any] | None:
    """The cookie's snapshot of its user, or None."""
    user = session.get(USER)
    if not isinstance(user, dict) or any(f not in user for f in SNAPSHOT_FIELDS):
        return None
    return user


def remember(user: dict[str, Any]) -> None:
    """Keep the cookie's snapshot equal to the user as the database has it (rewritten only when it changed)."""
    if session.get(USER) != user:
        session[USER] = user


def begin(user: dict[str, Any]) -> None:
    """Start the server-side record of a new sign-in and write its fields into the (fresh) session.

    Raises redis.RedisError when Redis does not answer: the sign-in must then be refused.
    """
    started = records.start(redis_client(), int(user["id"]), time.time(), policy().limits(user["role"]))
    session[SID] = started.sid
    session[EPOCH] = started.epoch
    session[CREATED] = started.created
    session[USER] = user


def finish() -> None:
    """End this session's record (logout). A Redis that does not answer is logged: the cookie still goes."""
    sid = session.get(SID)
    if not isinstance(sid, str):
        return
    user = snapshot()
    try:
        records.end(redis_client(), sid, policy().limits(user["role"] if user else None))
        if user is not None:
            records.announce(redis_client(), int(user["id"]))  # this session's push streams end now
    except redis.RedisError as exc:
        log.warning("logout of %s could not be recorded in Redis (%s): a copy of its cookie stays valid until "
                    "the session's limits end it", user["username"] if user else "?", type(exc).__name__)


def end_others(uid: int, role: str | None) -> int:
    """End every session of a user but this request's own (their password was changed); how many.

    A Redis that does not answer is logged: their sessions then end only by their limits.
    """
    keep = session.get(SID) if isinstance(session.get(SID), str) else None
    try:
        return records.end_all(redis_client(), uid, policy().limits(role), keep=keep)
    except redis.RedisError as exc:
        log.warning("the sessions of user %s could not be ended (%s)", uid, type(exc).__name__)
        return 0


def is_user_activity() -> bool:
    """True when this request is something a person did, rather than a page refreshing itself."""
    path = request.path
    if path == "/_dash-update-component":
        body = request.get_json(silent=True)
        changed = body.get("changedPropIds") if isinstance(body, dict) else None
        if not isinstance(changed, list) or not changed:
            return False  # the first callbacks of a page (the page load itself counted)
        return any(str(prop).rsplit(".", 1)[-1] not in BACKGROUND_PROPS for prop in changed)
    return not path.startswith(BACKGROUND_PREFIXES)


def unavailable_response() -> Response:
    """503 for a request whose session cannot be checked now: JSON for scripts and Dash, a page that retries."""
    if request.path.startswith(("/_dash-", "/api/")) or request.method != "GET":
        resp = jsonify(error="the sign-in cannot be checked right now; retry", retry_after=RETRY_AFTER_S)
    else:
        resp = Response(UNAVAILABLE_PAGE.format(retry=RETRY_AFTER_S), mimetype="text/html")
    resp.status_code = 503
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


def _within_grace(outage: Outage, grace_s: float, public: bool) -> bool:
    """True while an outage is within its grace; past it False for a public page, else a 503 (raised)."""
    if outage.down_for() <= grace_s:
        outage.note("request served on its session's snapshot")
        return True
    if public:
        return False
    outage.note("signed-in request refused", "signed-in requests answer 503 until it is back")
    abort(unavailable_response())


def verify(uid: int, public: bool) -> Checked | None:
    """Whether this request's session of user `uid` is live on the server (None clears it): its record's verdict
    and, when it may stand without the database, the record's snapshot of the user.

    While Redis does not answer: live (without a snapshot: the database is asked) within the grace of the outage;
    then a 503 (raised), or None without clearing anything for a public page, which serves anonymous visitors anyway.
    """
    app, cookie = request_ctx.app, request_ctx.session  # (through the context's proxy twice, not five times)
    sid, cookie_epoch, created = cookie.get(SID), cookie.get(EPOCH), cookie.get(CREATED)
    user = snapshot()
    if not isinstance(sid, str) or not isinstance(cookie_epoch, str) or not isinstance(created, (int, float)):
        session.clear()  # a session from before the server-side records, or not one of ours: sign in again
        return None
    rules: Policy = app.extensions[EXTENSION]
    role = user["role"] if user else None
    limits = rules.limits(role)
    now = time.time()
    try:
        checked = records.inspect(app.extensions[REDIS], sid, uid, cookie_epoch, float(created), now, limits,
                                  active=rules.is_kiosk(role) or is_user_activity(), recheck_s=rules.user_recheck_s,
                                  ahead=readahead.planned())
    except redis.RedisError as exc:
        grace = rules.redis_grace_s
        meanwhile = f"signed-in sessions are accepted on their signed cookie alone for at most {grace:.0f} s"
        rules.redis_outage.failed("session check", exc, meanwhile)
        if limits.max_s > 0 and now - float(created) > limits.max_s:
            session.clear()
            return None
        return Checked(Verdict.LIVE, gen="") if _within_grace(rules.redis_outage, grace, public) else None
    rules.redis_outage.answered()
    if checked.verdict is Verdict.ENDED:
        session.clear()
        return None
    if checked.verdict is Verdict.ADOPTED:
        session[EPOCH] = records.epoch(redis_client(), now)[0]
        log.info("session of user %s adopted again after Redis lost its records", uid)
    if checked.ahead is not None:
        readahead.keep(checked.ahead)
    if checked.user is not None and (any(f not in checked.user for f in SNAPSHOT_FIELDS)
                                     or checked.user["id"] != uid):
        return Checked(checked.verdict, checked.gen)  # not a snapshot of this user: ask the database
    return checked


def confirm(checked: Checked, user: dict[str, Any]) -> None:
    """Keep the database's answer in the session's record, to stand for the next SESSION_USER_RECHECK_S.

    Skipped when the recheck is 0 or Redis was away at the check; a Redis that does not answer now only means the
    next request asks the database again.
    """
    sid = session.get(SID)
    rules = policy()
    if rules.user_recheck_s <= 0 or not checked.gen or not isinstance(sid, str):
        return
    try:
        records.confirm_user(redis_client(), sid, checked.gen, user, time.time())
    except redis.RedisError as exc:
        log.debug("the snapshot of user %s could not be kept (%s)", user.get("id"), type(exc).__name__)


def user_changed(uid: int) -> int:
    """After a change to user `uid` (a role): each of their sessions reloads them at its next request; how many.

    A Redis that does not answer is logged: their sessions then see the change within SESSION_USER_RECHECK_S.
    """
    try:
        return records.user_changed(redis_client(), uid)
    except redis.RedisError as exc:
        log.warning("the sessions of user %s could not be told of a change (%s): they see it within %.0f s",
                    uid, type(exc).__name__, policy().user_recheck_s)
        return 0


def end_user(uid: int, role: str | None) -> int:
    """End every session of user `uid` (they were disabled); how many.

    A Redis that does not answer is logged: their sessions then end at their next reload of the user (within
    SESSION_USER_RECHECK_S).
    """
    try:
        return records.end_all(redis_client(), uid, policy().limits(role))
    except redis.RedisError as exc:
        log.warning("the sessions of disabled user %s could not be ended (%s)", uid, type(exc).__name__)
        return 0


def snapshot_while_database_away(error: BaseException, uid: int, public: bool) -> dict[str, Any] | None:
    """The cookie's snapshot of user `uid` while the database cannot reload them, within the grace of the outage.

    Past the grace: a 503 (raised), or None for a public page.
    """
    rules = policy()
    grace = rules.db_grace_s
    rules.db_outage.failed(
        "user reload", error, f"signed-in users are served from their session's snapshot for at most {grace:.0f} s")
    user = snapshot()
    if user is None or int(user["id"]) != uid:
        return None
    return user if _within_grace(rules.db_outage, grace, public) else None


def database_answered() -> None:
    """Note that the database reloaded a user (the end of an outage, if there was one)."""
    policy().db_outage.answered()
