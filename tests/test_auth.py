"""Login, the guard on every page and Dash endpoint, and where each role lands."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dashboard.store.models import AuditLog
from dashboard.web.extensions import db_sessions
from tests.helpers import login, logout

PAGES = ["/", "/wall", "/tablet", "/dispatch", "/admin", "/anything/else"]
DASH_ENDPOINTS = [
    ("GET", "/_dash-layout"),
    ("GET", "/_dash-dependencies"),
    ("POST", "/_dash-update-component"),
    ("GET", "/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.12.1.min.js"),
]


@pytest.mark.parametrize("path", PAGES)
def test_an_anonymous_page_load_goes_to_login(client: Any, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(("method", "path"), DASH_ENDPOINTS)
def test_an_anonymous_dash_request_gets_401_json_not_a_redirect(client: Any, method: str, path: str) -> None:
    resp = client.open(path, method=method, json={} if method == "POST" else None)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "authentication required"


def test_the_login_page_and_its_css_are_served_without_a_session(client: Any) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "东城区城市运行指挥中心" in html
    css = [part.split('"')[0] for part in html.split('href="')[1:] if ".css" in part.split('"')[0]]
    assert css, "the login page links the vendored CSS"
    for href in css:
        assert href.startswith("/assets/")
        assert client.get(href).status_code == 200


def test_a_wrong_password_is_refused_and_audited(app: Any, client: Any) -> None:
    resp = login(client, "duty", "wrong")
    assert resp.status_code == 401
    assert "用户名或密码" in resp.get_data(as_text=True) or "invalid" in resp.get_data(as_text=True).lower()
    assert client.get("/wall").status_code == 302
    with app.app_context(), db_sessions()() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "login")).one()
    assert (entry.actor, entry.outcome) == ("duty", "refused")


def test_an_unknown_name_costs_a_full_password_check_like_a_known_one(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusing an unknown name without checking a hash would answer sooner, telling which names exist."""
    from werkzeug import security

    from dashboard import store

    checked: list[str] = []

    def spy(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])
        return security.check_password_hash(pwhash, password)

    monkeypatch.setattr(store.users, "check_password_hash", spy)
    with app.app_context(), db_sessions()() as s:
        assert store.users.authenticate(s, "nobody-has-this-name", "not-the-password") is None
    default_cost = security.generate_password_hash("x").split("$", 1)[0]  # e.g. scrypt:32768:8:1
    assert checked == [default_cost]


def test_a_login_post_without_the_form_token_is_refused(client: Any) -> None:
    client.get("/login")
    resp = client.post("/login", data={"username": "duty", "password": "demo-pass"})
    assert resp.status_code == 401
    assert client.get("/wall").status_code == 302


@pytest.mark.parametrize(
    ("user", "home"), [("duty", "/wall"), ("leader", "/tablet"), ("dispatch", "/dispatch"), ("admin", "/admin")]
)
def test_each_role_lands_on_its_page(client: Any, user: str, home: str) -> None:
    resp = login(client, user)
    assert resp.status_code == 302 and resp.headers["Location"] == home
    root = client.get("/")
    assert root.status_code == 302 and root.headers["Location"] == home


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("duty", {"/wall": 200, "/tablet": 403, "/dispatch": 403, "/admin": 403, "/report": 200, "/nowhere": 404}),
        ("leader", {"/wall": 200, "/tablet": 200, "/dispatch": 403, "/admin": 403, "/report": 200}),
        ("dispatch", {"/wall/": 200, "/tablet": 403, "/dispatch": 200, "/admin": 403, "/report": 403}),
        ("admin", {"/wall": 200, "/tablet": 200, "/dispatch": 200, "/admin/": 200, "/report": 200}),
    ],
)
def test_a_page_a_role_may_not_open_answers_403_as_the_report_does(
    client: Any, user: str, expected: dict[str, int]
) -> None:
    login(client, user)
    got = {path: client.get(path).status_code for path in expected}
    assert got == expected
    refused = client.get("/admin") if user != "admin" else None
    if refused is not None:  # the body is still the console: its router says why, in words
        assert refused.mimetype == "text/html" and "_dash-renderer" in refused.get_data(as_text=True)


def test_the_icon_a_browser_asks_for_is_an_icon_signed_in_or_not(client: Any) -> None:
    for signed_in in (False, True):
        if signed_in:
            login(client, "duty")
        resp = client.get("/favicon.ico")
        assert resp.status_code == 200 and resp.mimetype == "image/x-icon" and resp.data[:4] == b"\x00\x00\x01\x00"


def test_a_logged_in_user_gets_pages_and_dash_endpoints(client: Any) -> None:
    login(client, "duty")
    assert client.get("/wall").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/_dash-dependencies").status_code == 200


def test_the_session_cookie_is_httponly_and_samesite(client: Any) -> None:
    resp = login(client, "duty")
    cookies = [v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith("session=")]
    assert cookies and "HttpOnly" in cookies[-1] and "SameSite=Lax" in cookies[-1]


def test_login_follows_next_only_to_a_local_path(client: Any) -> None:
    import re

    page = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    resp = client.post("/login?next=//evil.example/x",
                       data={"username": "duty", "password": "demo-pass", "csrf_token": token.group(1)})
    assert resp.headers["Location"] == "/wall"


def test_a_user_disabled_straight_in_the_database_is_logged_out_at_the_next_reload(app: Any, client: Any) -> None:
    """No product path is told of a change made in SQL: it is seen when the session next reloads its user."""
    from dashboard.store.models import User
    from dashboard.web import sessions as web_sessions

    app.extensions[web_sessions.EXTENSION].user_recheck_s = 0.0  # reload at every request
    login(client, "duty")
    assert client.get("/wall").status_code == 200
    with app.app_context(), db_sessions()() as s:
        s.scalars(select(User).where(User.username == "duty")).one().active = False
        s.commit()
    assert client.get("/wall").status_code == 302
    assert client.get("/_dash-layout").status_code == 401


def test_logout_ends_the_session(client: Any) -> None:
    login(client, "duty")
    resp = logout(client)
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    assert client.get("/wall").status_code == 302


def test_the_language_switch_is_remembered_in_the_session(client: Any) -> None:
    resp = client.get("/lang/en?next=/login")
    assert resp.headers["Location"] == "/login"
    assert "Command Centre" in client.get("/login").get_data(as_text=True)
    assert client.get("/lang/fr").status_code == 404


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_another_sites_page_cannot_switch_a_signed_in_users_language(app: Any, site: str) -> None:
    """A link or an image on another site's page would otherwise change the language the wall and the user's next
    sign-in show."""
    from dashboard.store.models import User

    client = app.test_client()
    login(client, "duty")
    resp = client.get("/lang/en?next=/wall", headers={"Sec-Fetch-Site": site})
    assert resp.status_code == 302 and resp.headers["Location"] == "/wall"
    with client.session_transaction() as sess:
        assert "lang" not in sess
    with app.app_context(), db_sessions()() as s:
        assert s.scalars(select(User.language).where(User.username == "duty")).one() == "zh"
    # From our own page, or typed by the person, it switches.
    for own in ("same-origin", "none"):
        client.get("/lang/zh")
        client.get("/lang/en", headers={"Sec-Fetch-Site": own})
        with client.session_transaction() as sess:
            assert sess["lang"] == "en"


def test_a_signed_in_users_language_is_remembered_for_their_next_sign_in(app: Any) -> None:
    from flask_login import login_user

    from dashboard.store.models import User
    from dashboard.web.auth import current_language, reload_user

    first = app.test_client()
    login(first, "leader")
    assert first.get("/lang/en?next=/tablet").headers["Location"] == "/tablet"
    with app.app_context(), db_sessions()() as s:
        assert s.scalars(select(User.language).where(User.username == "leader")).one() == "en"
    # Another device, a new session: it starts in English without choosing again.
    other = app.test_client()
    login(other, "leader")
    with other.session_transaction() as sess:
        assert "lang" not in sess
    with app.test_request_context("/tablet"):
        with app.app_context(), db_sessions()() as s:
            uid = s.scalars(select(User.id).where(User.username == "leader")).one()
        user = reload_user(uid)
        assert user is not None
        login_user(user)
        assert current_language() == "en"
    # Choosing on the login page, before anyone signs in, changes nobody's setting.
    anon = app.test_client()
    anon.get("/lang/zh?next=/login")
    with app.app_context(), db_sessions()() as s:
        assert s.scalars(select(User.language).where(User.username == "leader")).one() == "en"
