"""Cross-site request forgery: session POSTs (Dash callbacks and the API) carry the cookie's token in a header."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboard import store
from dashboard.services import incident_reads
from dashboard.services.base import Actor
from dashboard.web import csrf
from layouts import ids
from tests.helpers import csrf_headers, login, logout, start_dash

# The router's callback with no viewport yet: the cheapest real callback, answered with an empty Div.
ROUTE_CALLBACK = {
    "output": f"{ids.PAGE}.children",
    "outputs": {"id": ids.PAGE, "property": "children"},
    "inputs": [{"id": ids.VIEWPORT, "property": "data", "value": None}],
    "changedPropIds": [f"{ids.VIEWPORT}.data"],
    "state": [],
}


def set_cookies(resp: Any, name: str) -> list[str]:
    """The Set-Cookie headers of a response for one cookie name."""
    return [v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith(f"{name}=")]


def dash_post(client: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post("/_dash-update-component", data=json.dumps(ROUTE_CALLBACK),
                       content_type="application/json", headers=headers or {})


def test_login_sets_a_script_readable_samesite_csrf_cookie(client: Any) -> None:
    resp = login(client, "duty")
    cookies = set_cookies(resp, csrf.COOKIE_NAME)
    assert len(cookies) == 1
    assert "HttpOnly" not in cookies[0]  # Dash's renderer reads it from document.cookie
    assert "SameSite=Lax" in cookies[0] and "Path=/" in cookies[0]
    assert "Secure" not in cookies[0]  # SESSION_COOKIE_SECURE is off by default
    assert len(csrf_headers(client)[csrf.HEADER_NAME]) >= 40


def test_every_login_issues_a_new_csrf_token(client: Any) -> None:
    login(client, "duty")
    first = csrf_headers(client)
    login(client, "dispatch")
    assert csrf_headers(client) != first


def test_logout_drops_the_csrf_cookie(client: Any) -> None:
    login(client, "duty")
    resp = logout(client)
    assert any("Expires=Thu, 01 Jan 1970" in v for v in set_cookies(resp, csrf.COOKIE_NAME))
    assert client.get_cookie(csrf.COOKIE_NAME) is None


def test_an_anonymous_visitor_gets_no_csrf_cookie(client: Any) -> None:
    assert not set_cookies(client.get("/login"), csrf.COOKIE_NAME)


def test_dash_is_told_which_cookie_to_copy_into_which_header(client: Any) -> None:
    login(client, "duty")
    html = client.get("/wall").get_data(as_text=True)
    config = json.loads(html.split('<script id="_dash-config" type="application/json">')[1].split("</script>")[0])
    assert config["csrf_token_name"] == csrf.COOKIE_NAME == "_csrf_token"
    assert config["csrf_header_name"] == csrf.HEADER_NAME == "X-CSRFToken"


def test_a_dash_callback_without_the_csrf_header_is_refused(client: Any) -> None:
    login(client, "duty")
    resp = dash_post(client)
    assert resp.status_code == 403
    assert resp.get_json() == {"error": "CSRF check failed"}


def test_a_dash_callback_with_a_wrong_csrf_header_is_refused(client: Any) -> None:
    login(client, "duty")
    assert dash_post(client, {csrf.HEADER_NAME: "x" * 43}).status_code == 403


def test_a_dash_callback_with_the_csrf_header_runs(client: Any) -> None:
    login(client, "duty")
    resp = dash_post(client, csrf_headers(client))
    assert resp.status_code == 200
    assert resp.get_json()["response"][ids.PAGE]["children"]["type"] == "Div"


def test_a_planted_cookie_with_a_matching_header_is_refused(client: Any) -> None:
    """Cookie tossing: a sibling site can set our CSRF cookie, but not the token in the signed session."""
    login(client, "duty")
    client.set_cookie(csrf.COOKIE_NAME, "planted-by-an-attacker")
    assert dash_post(client, {csrf.HEADER_NAME: "planted-by-an-attacker"}).status_code == 403


def test_the_token_of_another_session_is_refused(app: Any) -> None:
    victim, attacker = app.test_client(), app.test_client()
    login(victim, "dispatch")
    login(attacker, "duty")
    assert dash_post(victim, csrf_headers(attacker)).status_code == 403


def test_an_anonymous_dash_callback_still_gets_401_not_a_csrf_error(client: Any) -> None:
    assert dash_post(client).status_code == 401


def test_reads_need_no_csrf_header(client: Any) -> None:
    login(client, "duty")
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/api/v1/units").status_code == 200


def test_a_session_from_before_the_protection_gets_a_token_on_its_next_request(client: Any) -> None:
    login(client, "duty")
    with client.session_transaction() as sess:
        del sess[csrf.SESSION_KEY]
    client.delete_cookie(csrf.COOKIE_NAME)
    assert set_cookies(client.get("/wall"), csrf.COOKIE_NAME)
    assert dash_post(client, csrf_headers(client)).status_code == 200


def test_the_login_form_keeps_its_own_token_and_the_ingest_its_own(client: Any) -> None:
    # Neither sends X-CSRFToken: the login form has a form token, the ingest a bearer token.
    assert login(client, "duty").status_code == 302
    resp = client.post("/api/v1/events", data=json.dumps([]), content_type="application/json",
                       headers={"Authorization": "Bearer test-token"})
    assert resp.status_code != 403


def test_cookies_are_secure_when_the_flag_is_set(config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from dashboard.config import Config
    from dashboard.store.schema import init_db
    from dashboard.web import create_app
    from dashboard.web.extensions import db_sessions
    from tests.helpers import seed_users

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    # The test config ignores the environment: take the flag as the app's own Config.from_env() reads it.
    server = create_app(replace(config, session_cookie_secure=Config.from_env().session_cookie_secure))
    with server.app_context():
        init_db(db_sessions().kw["bind"])
        seed_users(db_sessions())
    client = server.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # Secure cookies only come back over HTTPS
    resp = login(client, "duty")
    assert server.config["SESSION_COOKIE_SECURE"] is True
    server.extensions["dc_sessions"].kw["bind"].dispose()
    for name in ("session", csrf.COOKIE_NAME):
        cookies = set_cookies(resp, name)
        assert cookies and "Secure" in cookies[-1], name


# --- the API ----------------------------------------------------------------------------------------


def _incident(app: Any) -> int:
    """A new incident, created through the service."""
    import uuid

    from dashboard.services import incidents as svc
    from dashboard.store.engine import session_scope
    from dashboard.web.extensions import db_sessions

    fields = {"category": "fire", "severity": 2, "title": "东四 火情", "lon": 116.4170, "lat": 39.9240}
    with app.app_context(), session_scope(db_sessions()) as s:
        return int(svc.create_incident(s, fields, Actor(None, "system", "system"), uuid.uuid4().hex)
                   .incident["id"])


def _state(app: Any, incident_id: int) -> tuple[str, int]:
    from dashboard.store.engine import session_scope
    from dashboard.web.extensions import db_sessions

    with app.app_context(), session_scope(db_sessions()) as s:
        inc = incident_reads.get_incident(s, incident_id)
        return inc["state"], len(inc["timeline"])


def _acknowledge(client: Any, incident_id: int, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/incidents/{incident_id}/actions", data=json.dumps({"action": "acknowledge"}),
                       content_type="application/json", headers={"Idempotency-Key": "ack-1", **headers})


@pytest.mark.parametrize("header", [None, "", "wrong"])
def test_a_session_api_post_without_the_right_csrf_header_is_refused_and_changes_nothing(
    app: Any, client: Any, header: str | None
) -> None:
    inc = _incident(app)
    login(client, "duty")
    before = _state(app, inc)
    resp = _acknowledge(client, inc, {} if header is None else {csrf.HEADER_NAME: header})
    assert resp.status_code == 403
    assert resp.get_json() == {"error": "CSRF check failed"}
    assert _state(app, inc) == before == ("new", 1)
    resp = client.post("/api/v1/incidents", data="{}", content_type="application/json",
                       headers={"Idempotency-Key": "k"})
    assert resp.status_code == 403


def test_a_session_api_post_with_the_csrf_header_goes_through(app: Any, client: Any) -> None:
    inc = _incident(app)
    login(client, "duty")
    resp = _acknowledge(client, inc, csrf_headers(client))
    assert resp.status_code == 200, resp.get_json()
    assert _state(app, inc)[0] == "acknowledged"


def test_token_requests_need_no_csrf_header_even_with_a_session_cookie(app: Any, client: Any) -> None:
    from sqlalchemy import select

    from dashboard.store.models import User
    from dashboard.web.extensions import db_sessions

    inc = _incident(app)
    with app.app_context(), db_sessions().begin() as s:
        token = store.users.create_api_token(s, s.scalars(select(User).where(User.username == "duty")).one(), "t")[1]
    login(client, "leader")  # a session cookie too: the token decides who acts, and no CSRF header is needed
    resp = _acknowledge(client, inc, {"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["incident"]["timeline"][-1]["actor"] == "duty"
    assert not set_cookies(resp, csrf.COOKIE_NAME) and not set_cookies(resp, "session")


@pytest.mark.browser
def test_a_real_browser_sends_the_cookie_in_the_header_on_every_callback(dash_duo: Any, app: Any) -> None:
    """Dash's renderer reads `_csrf_token` from document.cookie and sends it as X-CSRFToken: seen by the server
    (on the dispatch console, whose queue refreshes through a callback every two seconds; the wall's panels come as
    frames, not callbacks)."""
    from dash.testing.wait import until
    from flask import request

    from tests.helpers import PASSWORD

    seen: list[tuple[str | None, str | None]] = []

    def record() -> None:
        if request.path == "/_dash-update-component":
            seen.append((request.headers.get(csrf.HEADER_NAME), request.cookies.get(csrf.COOKIE_NAME)))

    app.before_request_funcs.setdefault(None, []).insert(0, record)
    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.get(dash_duo.server.url + "/login")
    dash_duo.wait_for_element("#username").send_keys("dispatch")
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("button[type=submit]").click()
    until(lambda: len(seen) >= 3, timeout=15)
    assert csrf.COOKIE_NAME in dash_duo.driver.execute_script("return document.cookie")  # readable by scripts
    assert "session=" not in dash_duo.driver.execute_script("return document.cookie")  # HttpOnly
    assert all(header and header == cookie for header, cookie in seen), seen
    assert not dash_duo.get_logs() or all("403" not in str(entry) for entry in dash_duo.get_logs())
