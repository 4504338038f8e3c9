"""The app's Flask (dashboard/web/server.py) answers as Flask does, the limiter's hooks run where limits are, and
the login guard's one round trip to Redis answers as redis-py's pipeline does."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import redis
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup

from dashboard.frames.cache import answer_reads
from dashboard.live.connections import make_redis, round_trip
from dashboard.web.frames import FRAME_PATH
from dashboard.web.server import Server, SignedCookieSessions
from dashboard.web.throttle import throttle
from tests.helpers import login

# Every kind of value Flask's tagged JSON keeps, nested as a session holds them.
VALUES: dict[str, Any] = {
    "_user_id": "1", "_fresh": True, "sid": "s" * 43, "st": 1796671647.8405051, "n": None,
    "user": {"id": 1, "username": "duty", "display_name": "值班员", "role": "duty", "language": "zh"},
    "tuple": (1, "a", [2, {"x": b"\x00\xff"}]), "bytes": b"raw", "markup": Markup("<b>x</b>"),
    "uuid": UUID("12345678-1234-5678-1234-567812345678"), "when": datetime(2026, 12, 7, 19, 0, tzinfo=UTC),
    " t": "a key that looks like a tag", "list": [{" di": {"k": "v"}}],
}


def flask_app(secret: str = "test-secret") -> Flask:
    """A plain Flask app with a secret key (the reference)."""
    app = Flask(__name__)
    app.secret_key = secret
    return app


def sign(app: Flask, interface: SecureCookieSessionInterface, values: dict[str, Any]) -> str:
    """The cookie `interface` writes for `values`."""
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps(values))


def opened(app: Flask, interface: SecureCookieSessionInterface, cookie: str) -> dict[str, Any]:
    """The session `interface` opens from `cookie` (empty: refused)."""
    with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}):
        from flask import request

        found = interface.open_session(app, request)
        assert found is not None
        return dict(found)


def test_a_cookie_signed_by_flask_opens_the_same_here_and_the_other_way_round() -> None:
    app = flask_app()
    flask_sessions, ours = SecureCookieSessionInterface(), SignedCookieSessions()
    with app.app_context():
        assert opened(app, ours, sign(app, flask_sessions, VALUES)) == VALUES
        assert opened(app, flask_sessions, sign(app, ours, VALUES)) == VALUES
        assert sign(app, ours, VALUES).split(".")[0] == sign(app, flask_sessions, VALUES).split(".")[0]


def test_a_forged_an_expired_or_a_foreign_cookie_opens_an_empty_session_as_in_flask() -> None:
    app = flask_app()
    flask_sessions, ours = SecureCookieSessionInterface(), SignedCookieSessions()
    with app.app_context():
        good = sign(app, flask_sessions, VALUES)
        forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
        foreign = sign(flask_app("another-secret"), flask_sessions, VALUES)
        for cookie in (forged, foreign, "not-a-cookie"):
            assert opened(app, ours, cookie) == {} == opened(app, flask_sessions, cookie)
        assert opened(app, ours, good) == VALUES  # opened once: kept, and still only as long as it is young enough
        app.permanent_session_lifetime = timedelta(seconds=1)
        time.sleep(2.1)  # itsdangerous counts whole seconds
        assert opened(app, ours, good) == {} == opened(app, flask_sessions, good)


def test_a_request_that_changes_its_session_does_not_change_the_next_opening_of_the_same_cookie() -> None:
    app = flask_app()
    ours = SignedCookieSessions()
    with app.app_context():
        cookie = sign(app, ours, VALUES)
        with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}):
            from flask import request

            first = ours.open_session(app, request)
            assert first is not None
            first["user"]["role"] = "admin"
            first["tuple"][2][1]["x"] = b"changed"
            first["list"].append("more")
            first["sid"] = "other"
        assert opened(app, ours, cookie) == VALUES


def test_a_new_secret_key_takes_effect_at_once_and_its_fallbacks_still_open_old_cookies() -> None:
    app = flask_app("old-secret")
    ours = SignedCookieSessions()
    with app.app_context():
        old = sign(app, ours, VALUES)
        assert opened(app, ours, old) == VALUES
        app.secret_key = "new-secret"
        assert opened(app, ours, old) == {}
        app.config["SECRET_KEY_FALLBACKS"] = ["old-secret"]
        assert opened(app, ours, old) == VALUES
        assert opened(app, SecureCookieSessionInterface(), sign(app, ours, VALUES)) == VALUES


class Holder:
    """A class with a plain and a coroutine method."""

    def plain(self) -> int:
        return 1

    async def coroutine(self) -> int:
        return 2


def outcome(app: Flask, func: Any) -> str:
    """What ensure_sync does with `func`: gives it back, wraps it, or refuses it (and why)."""
    try:
        got = app.ensure_sync(func)
    except RuntimeError as exc:  # a coroutine function without Flask's async extra installed
        return f"refused: {exc}"
    return "as is" if got is func else "wrapped"


def test_ensure_sync_gives_what_flask_gives_for_every_kind_of_callable() -> None:
    async def coroutine() -> int:
        return 3

    def plain() -> int:
        return 4

    holder = Holder()
    ours, flask = Server(__name__), Flask(__name__)
    kinds = (plain, holder.plain, functools.partial(plain), len, Holder, coroutine, holder.coroutine,
             functools.partial(coroutine))
    assert [outcome(ours, f) for f in kinds] == [outcome(flask, f) for f in kinds]
    assert [outcome(ours, f) for f in kinds[:5]] == ["as is"] * 5


def test_the_limiter_runs_only_for_the_limited_views_and_they_stay_limited(app: Any, client: Any) -> None:
    t = throttle(app)
    assert t.limits(app.view_functions["login"]) and t.limits(app.view_functions["csp_report"])
    assert all(t.limits(app.view_functions[e]) for e in ("report.report_page", "report.report_csv",
                                                          "api_incidents.incidents_index", "api_cases.cases_index"))
    assert not t.limits(app.view_functions["frames.frame"])
    # No default or application-wide limit: that is what lets the other views skip the limiter's hooks.
    assert not t.limiter.limit_manager.default_limits and not t.limiter.limit_manager.application_limits
    seen: list[bool] = []

    @app.after_request
    def note(resp: Any) -> Any:
        """Whether the limiter's hooks made their per-request context for this request."""
        from flask.globals import request_ctx

        seen.append(hasattr(request_ctx, "_limiter_request_context"))
        return resp

    login(client, "duty")
    seen.clear()
    assert client.get(FRAME_PATH).status_code == 200
    assert client.post("/csp-report", json={"csp-report": {}}).status_code == 204
    assert seen == [False, True]


def test_the_app_refuses_a_limit_its_gated_limiter_hooks_would_never_count(app: Any) -> None:
    from dashboard.web.throttle import verify_gates

    verify_gates(app)  # as create_app left it: the sign-in's and the CSP reports' limits only
    t = throttle(app)
    t.limiter.limit("5/minute")(app.blueprints[next(iter(app.blueprints))])
    with pytest.raises(RuntimeError, match="gated hooks would skip"):
        verify_gates(app)

@pytest.mark.parametrize("path", [FRAME_PATH, "/wall"])
def test_a_signed_in_get_sets_no_cookie_when_nothing_changed(app: Any, client: Any, path: str) -> None:
    login(client, "duty")
    client.get(path)
    resp = client.get(path)
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers


def piped(r: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """The replies of redis-py's own pipeline without a transaction (the reference)."""
    with r.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute())


def test_one_round_trip_answers_as_redis_pys_pipeline(r: Any) -> None:
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.set("s", b"0123456789")
    commands: list[tuple[Any, ...]] = [("HGETALL", "h"), ("HGETALL", "none"), ("GETRANGE", "s", 0, 3), ("GET", "none"),
                                       ("GET", "s"), *answer_reads()]
    assert round_trip(r, commands) == piped(r, commands)
    assert round_trip(r, commands)[0] == {b"a": b"1", b"b": b"2"}
    assert round_trip(r, []) == piped(r, []) == []


def test_an_error_reply_is_raised_named_after_every_reply_is_read_and_the_connection_stays_usable(r: Any) -> None:
    r.set("s", "text")
    commands: list[tuple[Any, ...]] = [("GET", "s"), ("HGETALL", "s"), ("GET", "s")]
    with pytest.raises(redis.ResponseError) as theirs:
        piped(r, commands)
    with pytest.raises(redis.ResponseError) as ours:
        round_trip(r, commands)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value).startswith("Command # 2 (HGETALL) of the round trip caused error: WRONGTYPE")
    assert "Command # 2 (HGETALL s)" in str(theirs.value)  # redis-py's names the arguments too; ours does not
    for _ in range(3):  # every pooled connection answers the next command in step
        assert round_trip(r, [("GET", "s")]) == [b"text"]


def test_a_redis_that_does_not_answer_raises_a_redis_error() -> None:
    dead = make_redis("redis://127.0.0.1:1/0", timeout_s=0.2)
    with pytest.raises(redis.RedisError):
        round_trip(dead, [("HGETALL", "h"), ("GET", "s")])
