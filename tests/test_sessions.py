"""Sessions held on the server: logout by POST ends a session on every host (a copied cookie is refused), idle and
age limits per kind (the console's short, the wall kiosk's long), what counts as activity, a Redis that lost its
data or stops answering, and a password reset that ends the user's other sessions.

Time is moved by rewriting a record's times in Redis (what waiting would do), never by sleeping."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from dashboard.config import Config
from dashboard.live import keys
from dashboard.live import sessions as records
from dashboard.web import sessions
from layouts import ids
from tests.helpers import login, logout, replay, router_callback, seed_users, stolen

IDLE_S = 600.0
MAX_S = 3600.0
KIOSK_IDLE_S = 7200.0


@pytest.fixture
def config(redis_url: str, db_url: str) -> Config:
    """Known limits: the console idles out after 10 minutes and lives an hour; the kiosk idles out after 2 h."""
    return dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=db_url), session_idle_s=IDLE_S,
                               session_max_s=MAX_S, session_kiosk_idle_s=KIOSK_IDLE_S)


def callback(client: FlaskClient, changed: list[str]) -> Any:
    """The router's callback, as if set off by `changed` (a timer, a store, a click…)."""
    return router_callback(client, changed)


TIMER = [f"{ids.TICK}.n_intervals"]
PUSH = [f"{ids.PUSH}.data"]
CLICK = [f"{ids.WALL_LIVE}.n_clicks"]


def sid_of(client: FlaskClient) -> str:
    """The server-side session id in a client's signed cookie."""
    with client.session_transaction() as sess:
        return str(sess[sessions.SID])


def record(app: Any, client: FlaskClient) -> dict[str, str]:
    """A client's session record in Redis."""
    raw = app.extensions["dc_redis"].hgetall(keys.session_key(sid_of(client)))
    return {k.decode(): v.decode() for k, v in raw.items()}


def rewind(app: Any, client: FlaskClient, seen_s: float = 0.0, created_s: float = 0.0) -> None:
    """Make a session's last activity `seen_s` and its sign-in `created_s` seconds older: as if time had passed."""
    key = keys.session_key(sid_of(client))
    r = app.extensions["dc_redis"]
    rec = record(app, client)
    r.hset(key, mapping={"seen": float(rec["seen"]) - seen_s, "created": float(rec["created"]) - created_s})


def signed_in(client: FlaskClient, page: str = "/wall") -> bool:
    """True when a page load is served (not sent to /login)."""
    resp = client.get(page)
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


# --- logout ------------------------------------------------------------------------------------------------------


def test_a_cookie_copied_before_logout_is_refused_after_it(app: Any, client: FlaskClient) -> None:
    login(client, "dispatch")
    copy = stolen(client)
    key = keys.session_key(sid_of(client))
    assert signed_in(replay(app, copy), "/dispatch")  # a copy works while the session lives: a bearer token
    assert logout(client).status_code == 303
    assert not signed_in(client)
    # The copy is refused everywhere: pages go to /login, Dash and the API answer 401.
    assert replay(app, copy).get("/dispatch").headers["Location"].startswith("/login")
    assert replay(app, copy).get("/_dash-layout").status_code == 401
    assert callback(replay(app, copy), CLICK).status_code == 401
    resp = replay(app, copy).post("/api/v1/incidents", json={"title": "forged", "category": "fire", "severity": 2},
                                  headers={"X-CSRFToken": copy["_csrf_token"], "Idempotency-Key": "k-1"})
    assert resp.status_code == 401
    assert app.extensions["dc_redis"].hget(key, "state") == records.ENDED.encode()


def test_get_logout_does_not_log_out_it_shows_a_button(client: FlaskClient) -> None:
    login(client, "admin")
    page = client.get("/logout")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'method="post" action="/logout"' in html and 'name="csrf_token"' in html
    assert signed_in(client, "/admin")
    # Nor does a POST from another site, which cannot know the token: it is only asked again.
    assert client.post("/logout").status_code == 200
    assert client.post("/logout", data={"csrf_token": "guessed"}).status_code == 200
    assert signed_in(client, "/admin")


def test_the_logout_page_carries_the_token_that_logs_out(client: FlaskClient) -> None:
    import re

    login(client, "leader")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/logout").get_data(as_text=True))
    assert token
    resp = client.post("/logout", data={"csrf_token": token.group(1)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    assert not signed_in(client)


def test_a_logout_without_a_session_goes_to_the_login_page(client: FlaskClient) -> None:
    assert client.get("/logout").headers["Location"] == "/login"
    assert client.post("/logout").headers["Location"] == "/login"


def test_logout_is_audited(app: Any, client: FlaskClient) -> None:
    from sqlalchemy import select

    from dashboard.store.models import AuditLog
    from dashboard.web.extensions import db_sessions

    login(client, "leader")
    logout(client)
    with app.app_context(), db_sessions()() as s:
        assert s.scalars(select(AuditLog.actor).where(AuditLog.action == "logout")).all() == ["leader"]


def test_a_session_from_before_the_server_side_records_signs_in_again(client: FlaskClient) -> None:
    login(client, "duty")
    with client.session_transaction() as sess:
        del sess[sessions.SID]
    assert not signed_in(client)


# --- idle and age limits -------------------------------------------------------------------------------------


def test_the_console_expires_after_its_idle_time_to_login_and_401(app: Any, client: FlaskClient) -> None:
    login(client, "dispatch")
    rewind(app, client, seen_s=IDLE_S - 30)
    assert signed_in(client, "/dispatch")  # within the limit (and the page load counts as activity)
    rewind(app, client, seen_s=IDLE_S + 1)
    # Idle past the limit: the Dash request gets 401 JSON (the wall shows its banner on that), a page /login.
    resp = callback(client, CLICK)
    assert resp.status_code == 401 and resp.get_json()["login"] == "/login"
    assert client.get("/dispatch").headers["Location"] == "/login?next=/dispatch"


def test_the_consoles_own_refreshes_do_not_keep_it_alive_but_a_click_does(app: Any, client: FlaskClient) -> None:
    login(client, "dispatch")
    rewind(app, client, seen_s=IDLE_S - 60)
    before = record(app, client)["seen"]
    for changed in (TIMER, PUSH, []):  # a timer, a push, the first callbacks of a page
        assert callback(client, changed).status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/assets/theme.css").status_code == 200
    assert record(app, client)["seen"] == before
    # A person clicking is activity: the idle time starts again.
    assert callback(client, CLICK).status_code == 200
    assert float(record(app, client)["seen"]) > time.time() - 60
    rewind(app, client, seen_s=IDLE_S - 30)
    assert callback(client, TIMER).status_code == 200


def test_the_wall_kiosk_lives_on_its_refreshes_where_a_console_would_have_expired(app: Any) -> None:
    wall, console = app.test_client(), app.test_client()
    login(wall, "duty")
    login(console, "admin")
    for c in (wall, console):
        rewind(app, c, seen_s=IDLE_S + 60, created_s=MAX_S + 60)  # idle and old by the console's limits
    assert callback(wall, TIMER).status_code == 200  # every refresh of the wall counts
    assert callback(console, TIMER).status_code == 401
    assert signed_in(wall)
    # Past the kiosk's own idle limit (the wall switched off for that long) it signs in again too.
    rewind(app, wall, seen_s=KIOSK_IDLE_S + 1)
    assert callback(wall, TIMER).status_code == 401


def test_the_console_ends_at_its_maximum_age_however_active(app: Any, client: FlaskClient) -> None:
    login(client, "leader")
    rewind(app, client, created_s=MAX_S - 60)
    assert callback(client, CLICK).status_code == 200
    rewind(app, client, created_s=120)
    assert callback(client, CLICK).status_code == 401


def test_the_limits_come_from_the_configuration() -> None:
    cfg = Config.from_env({"SESSION_IDLE_S": "120", "SESSION_MAX_S": "7200", "SESSION_KIOSK_IDLE_S": "86400",
                           "SESSION_KIOSK_MAX_S": "0", "SESSION_KIOSK_ROLES": "duty, leader",
                           "SESSION_REDIS_GRACE_S": "60", "SESSION_DB_GRACE_S": "30"})
    assert (cfg.session_idle_s, cfg.session_max_s, cfg.session_kiosk_idle_s, cfg.session_kiosk_max_s) == (
        120, 7200, 86400, 0)
    assert cfg.session_kiosk_roles == {"duty", "leader"}
    assert (cfg.session_redis_grace_s, cfg.session_db_grace_s) == (60, 30)
    defaults = Config.from_env({})
    # ASVS 3.3.2, level 2: 30 minutes idle, 12 hours in all, for the console.
    assert (defaults.session_idle_s, defaults.session_max_s) == (1800, 43200)
    assert defaults.session_kiosk_roles == {"duty"}


# --- Redis losing its data, or not answering -----------------------------------------------------------------


def test_a_redis_that_lost_its_data_does_not_sign_the_wall_out(app: Any, client: FlaskClient, r: Any) -> None:
    login(client, "duty")
    r.flushdb()  # a restart without persistence, or a flush: every record and the epoch are gone
    assert callback(client, TIMER).status_code == 200  # adopted again from its signed cookie
    assert record(app, client)["state"] == records.LIVE
    assert signed_in(client)
    # From then on it is an ordinary record: logout still ends it, and a copy is refused.
    copy = stolen(client)
    logout(client)
    assert callback(replay(app, copy), TIMER).status_code == 401


def test_a_session_that_ended_before_the_loss_stays_ended(app: Any, client: FlaskClient, r: Any) -> None:
    login(client, "duty")
    copy = stolen(client)
    logout(client)
    # A new epoch, as after a loss: the tombstone says ended, whatever the epoch.
    r.delete(keys.SESSION_EPOCH)
    assert callback(replay(app, copy), TIMER).status_code == 401


def test_a_lost_record_comes_back_only_within_the_idle_time_of_the_loss(app: Any, client: FlaskClient,
                                                                        r: Any) -> None:
    login(client, "admin")
    r.flushdb()
    token, _ = records.epoch(r, time.time())
    r.set(keys.SESSION_EPOCH, f"{token}|{time.time() - IDLE_S - 1}")  # the loss was longer ago than the limit
    assert callback(client, TIMER).status_code == 401


@pytest.fixture
def own_redis(tmp_path: Any) -> Iterator[tuple[Any, str]]:
    """A Redis server of this test's own on a free port (it is stopped and started by the test)."""
    from ops.redis_server import start_bundled_redis

    proc, url = start_bundled_redis(tmp_path / "redis")
    yield proc, url
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def test_while_redis_is_away_sessions_hold_then_answer_503_never_401(
    own_redis: tuple[Any, str], db_url: str, tmp_path: Any
) -> None:
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from ops.redis_server import start_bundled_redis

    proc, url = own_redis
    cfg = dataclasses.replace(Config.for_tests(redis_url=url, database_url=db_url), session_redis_grace_s=3600)
    app = create_app(cfg)
    with app.app_context():
        init_db(db_sessions().kw["bind"])
        seed_users(db_sessions())
    wall = app.test_client()
    login(wall, "duty")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    proc.terminate()
    proc.wait(timeout=10)
    # Redis blinked: within the grace the wall's session holds (its refresh answers, saying Redis is down).
    assert callback(wall, TIMER).status_code == 200
    assert signed_in(wall)
    # Signing in needs Redis: 503 with Retry-After, the form says to try again shortly.
    other = app.test_client()
    resp = login(other, "leader")
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    # Past the grace: 503, which the wall waits out, never 401, which would sign it out.
    app.extensions[sessions.EXTENSION].redis_grace_s = 0.0
    resp = callback(wall, TIMER)
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert wall.get("/wall").status_code == 503
    assert wall.get("/login").status_code == 200  # a public page serves anyway
    # Redis is back (empty: it kept nothing): the same session goes on.
    restarted, _ = start_bundled_redis(tmp_path / "redis2", port=port)
    try:
        assert callback(wall, TIMER).status_code == 200
        assert signed_in(wall)
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
        app.extensions["dc_redis"].close()
        db_sessions_engine = app.extensions["dc_sessions"].kw["bind"]
        db_sessions_engine.dispose()


# --- a password reset ends the user's other sessions ------------------------------------------------------------


def test_a_password_reset_ends_the_users_sessions_but_not_the_admins(app: Any) -> None:
    from tests.test_admin import Page, toast, user_id

    leader = app.test_client()
    login(leader, "leader")
    admin = Page(app, "admin")
    out = admin.do(ids.ADMIN_USER_PASSWORD_SAVE, selected=user_id(app, "leader"), password="a-new-leader-pw")
    assert toast(out)[0] == "success"
    assert not signed_in(leader)
    assert admin.client.get("/admin").status_code == 200


# --- the user reloaded at most once per SESSION_USER_RECHECK_S ----------------------------------------------------


def set_role_in_sql(app: Any, username: str, role: str) -> None:
    """Change a user's role straight in the database, telling no session (what no product path does)."""
    from sqlalchemy import select

    from dashboard.store.models import User
    from dashboard.web.extensions import db_sessions

    with app.app_context(), db_sessions()() as s:
        s.scalars(select(User).where(User.username == username)).one().role = role
        s.commit()


def test_between_reloads_the_records_snapshot_stands_and_a_reload_comes_after_the_recheck(
        app: Any, client: FlaskClient) -> None:
    login(client, "dispatch")
    assert signed_in(client, "/dispatch")
    rec = record(app, client)
    assert '"role": "dispatch"' in rec["user"] and rec["ugen"] == "0"
    set_role_in_sql(app, "dispatch", "leader")
    # Within the recheck the snapshot stands: the database is not asked, the record's confirmation is unchanged.
    assert signed_in(client, "/dispatch") and record(app, client)["uchk"] == rec["uchk"]
    assert app.extensions[sessions.EXTENSION].user_recheck_s == 10.0  # the default
    # As if the recheck interval had passed: the next request reloads and sees the new role.
    r = app.extensions["dc_redis"]
    r.hset(keys.session_key(sid_of(client)), "uchk", float(rec["uchk"]) - 10.0)
    client.get("/dispatch")
    assert '"role": "leader"' in record(app, client)["user"]
    with client.session_transaction() as sess:
        assert sess[sessions.USER]["role"] == "leader"


def test_a_role_change_through_the_admin_page_is_seen_at_the_next_request_despite_the_snapshot(app: Any) -> None:
    from tests.test_admin import Page, toast, user_id

    disp = app.test_client()
    login(disp, "dispatch")
    assert signed_in(disp, "/dispatch") and '"role": "dispatch"' in record(app, disp)["user"]
    out = Page(app, "admin").do(ids.ADMIN_USER_ROLE_SAVE, selected=user_id(app, "dispatch"), role="leader")
    assert toast(out)[0] == "success"
    assert record(app, disp)["gen"] == "1"  # the snapshot no longer stands
    disp.get("/wall")
    rec = record(app, disp)
    assert '"role": "leader"' in rec["user"] and rec["ugen"] == "1"


def test_a_user_disabled_through_the_admin_page_is_refused_at_the_next_request_despite_the_snapshot(
        app: Any) -> None:
    from tests.test_admin import Page, toast, user_id

    duty = app.test_client()
    login(duty, "duty")
    copy = stolen(duty)
    assert signed_in(duty) and "user" in record(app, duty)
    out = Page(app, "admin").do(ids.ADMIN_USER_DISABLE, selected=user_id(app, "duty"))
    assert toast(out)[0] == "success"
    assert record(app, duty)["state"] == records.ENDED
    assert not signed_in(duty)
    assert replay(app, copy).get("/_dash-layout").status_code == 401


def test_a_reload_read_before_a_change_cannot_stand_after_it(app: Any, client: FlaskClient) -> None:
    """The race: a request reads the record (generation 0) and asks the database; an administrator's change
    commits and bumps the generation; the request's answer, older than the change, must not be kept."""
    login(client, "leader")
    signed_in(client, "/tablet")
    r = app.extensions["dc_redis"]
    sid = sid_of(client)
    uid = int(record(app, client)["uid"])
    r.hdel(keys.session_key(sid), "user", "uchk", "ugen")
    with client.session_transaction() as sess:
        epoch, created = sess[sessions.EPOCH], sess[sessions.CREATED]
    now = time.time()
    before = records.inspect(r, sid, uid, epoch, created, now, records.Limits(IDLE_S), False, recheck_s=10.0)
    assert before.verdict is records.Verdict.LIVE and before.user is None and before.gen == "0"
    assert records.user_changed(r, uid) == 1
    stale = {"id": uid, "username": "leader", "display_name": "x", "role": "admin", "language": "zh"}
    assert not records.confirm_user(r, sid, before.gen, stale, now)
    after = records.inspect(r, sid, uid, epoch, created, now, records.Limits(IDLE_S), False, recheck_s=10.0)
    assert after.user is None and after.gen == "1"
    # Confirmed under the current generation, it stands; never on a record that ended.
    assert records.confirm_user(r, sid, after.gen, stale, now)
    assert records.inspect(r, sid, uid, epoch, created, now, records.Limits(IDLE_S), False, 10.0).user == stale
    records.end(r, sid, records.Limits(IDLE_S))
    assert not records.confirm_user(r, sid, after.gen, stale, now)


def test_a_change_to_a_user_with_no_live_record_creates_none(app: Any, r: Any) -> None:
    r.sadd(keys.user_sessions_key(99), "gone-sid")
    assert records.user_changed(r, 99) == 0
    assert not r.exists(keys.session_key("gone-sid"))


def test_with_the_recheck_at_zero_every_request_reloads_the_user(app: Any, client: FlaskClient) -> None:
    app.extensions[sessions.EXTENSION].user_recheck_s = 0.0
    login(client, "dispatch")
    assert signed_in(client, "/dispatch") and "user" not in record(app, client)
    set_role_in_sql(app, "dispatch", "leader")
    client.get("/wall")
    with client.session_transaction() as sess:
        assert sess[sessions.USER]["role"] == "leader"
