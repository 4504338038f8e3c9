"""Helpers shared by tests that drive the app through its HTTP interface."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from dashboard.domain import rules as c
from dashboard.store.engine import session_scope
from dashboard.store.models import User

DEMO_USERS = {"duty": "duty", "leader": "leader", "dispatch": "dispatch", "admin": "admin"}
PASSWORD = "demo-pass"


# The demo accounts' hash costs a thirty-second of the product's (scrypt with N=2^10, not 2^15): the suite signs in
# some thousand times. The product's own accounts (store.users.create_user) keep werkzeug's default.
TEST_HASH_METHOD = "scrypt:1024:8:1"


@cache
def _password_hash() -> str:
    """The test password's hash, computed once."""
    return generate_password_hash(PASSWORD, method=TEST_HASH_METHOD)


def seed_users(sessions: Any) -> None:
    """Create the four demo accounts with the test password."""
    with session_scope(sessions) as s:
        for name, role in DEMO_USERS.items():
            s.add(User(username=name, display_name=name, role=role, password_hash=_password_hash()))


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Log in through the real form (fetching its CSRF token first)."""
    page = client.get("/login").get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, "login form has no CSRF token"
    return client.post("/login", data={"username": username, "password": password, "csrf_token": m.group(1)})


def logout(client: FlaskClient) -> Any:
    """Log out as the console's button does: POST /logout with the session's CSRF token as a form field."""
    from dashboard.web import csrf

    cookie = client.get_cookie(csrf.COOKIE_NAME)
    return client.post("/logout", data={csrf.FORM_FIELD: cookie.value if cookie else ""})


def stolen(client: FlaskClient) -> dict[str, str]:
    """A copy of a signed-in client's cookies (session and CSRF), as a thief would take them."""
    found = {}
    for name in ("session", "_csrf_token"):
        cookie = client.get_cookie(name)
        assert cookie is not None, f"no {name} cookie: log in first"
        found[name] = cookie.value
    return found


def replay(app: Any, cookies: dict[str, str]) -> FlaskClient:
    """A new browser sending copied cookies (afresh for each try: a refusal clears them in a browser, not in the
    copy)."""
    other: FlaskClient = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def iso_now(offset_s: float = 0.0) -> str:
    """Now (plus an offset) as an ISO timestamp in Beijing time."""
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(datetime.now(UTC).timestamp() + offset_s, ZoneInfo("Asia/Shanghai")).isoformat()


def reading(event_id: str, value: float = 40.0, sensor_id: str = "pole-1:pm25", **over: Any) -> dict[str, Any]:
    """A valid PM2.5 reading at Wangfujing."""
    ev = {"event_id": event_id, "source": "test", "kind": c.SENSOR_READING, "ts": iso_now(-1),
          "lon": 116.4103, "lat": 39.9122, "sensor_id": sensor_id, "sensor_type": "pm25", "value": value}
    ev.update(over)
    return ev


def incident(event_id: str, severity: int = 2, **over: Any) -> dict[str, Any]:
    """A valid incident at Dongsi."""
    ev = {"event_id": event_id, "source": "test", "kind": c.INCIDENT, "ts": iso_now(-1),
          "lon": 116.4170, "lat": 39.9240, "category": "fire", "severity": severity, "title": "东四 火情"}
    ev.update(over)
    return ev


def ticket(ticket_id: str, category: str = "noise", **over: Any) -> dict[str, Any]:
    """A valid hotline ticket at Hepingli."""
    ev = {"event_id": f"tk-{ticket_id}", "source": "test", "kind": c.HOTLINE_TICKET, "ts": iso_now(-1),
          "lon": 116.4170, "lat": 39.9580, "ticket_id": ticket_id, "category": category, "summary": "噪音扰民"}
    ev.update(over)
    return ev


def csrf_headers(client: FlaskClient) -> dict[str, str]:
    """The CSRF header a page script (or Dash's renderer) sends: the value of the `_csrf_token` cookie."""
    from dashboard.web import csrf

    cookie = client.get_cookie(csrf.COOKIE_NAME)
    assert cookie is not None, "no CSRF cookie: log in first"
    return {csrf.HEADER_NAME: cookie.value}


def log_in_browser(browser: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real /login form in a dash.testing browser (dash_duo, dash_br or a Browser)."""
    browser.driver.get(base_url.rstrip("/") + "/login")
    browser.wait_for_element("#username").send_keys(username)
    browser.find_element("#password").send_keys(password)
    browser.find_element("button[type=submit]").click()


def start_dash(dash_duo: Any, dash_app: Any) -> None:
    """Serve `dash_app` for a browser test on a free port (dash's own counter starts at the same port in every run,
    so two suites on one machine would collide), without opening a page yet."""
    from ops.redis_server import free_port

    dash_duo.start_server(dash_app, navigate=False, port=free_port())


def router_callback(client: FlaskClient, changed: list[str], headers: dict[str, str] | None = None) -> Any:
    """The router's Dash callback (the cheapest real one), as if set off by `changed`: a timer, a store, a click.

    Sends the CSRF header of a signed-in client unless `headers` are given.
    """
    import json

    from layouts import ids

    body = {
        "output": f"{ids.PAGE}.children",
        "outputs": {"id": ids.PAGE, "property": "children"},
        "inputs": [{"id": ids.VIEWPORT, "property": "data", "value": None}],
        "changedPropIds": changed,
        "state": [],
    }
    if headers is None:
        headers = csrf_headers(client) if client.get_cookie("_csrf_token") else {}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers)


@contextmanager
def workers_ticking(app: Any) -> Iterator[None]:
    """The workers' tick every half second while in the block, as the RQ cron would; paused after it."""
    from dashboard.web.extensions import db_sessions
    from workers.tick import run_tick

    r = app.extensions["dc_redis"]
    with app.app_context():
        sessions = db_sessions()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run_tick(r, sessions, time.time())
            stop.wait(0.5)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# The map's subdistrict names shown (text) and the names lying under a marker that is news (an incident or a cluster
# of them, an early warning, a unit or the point picked on the console): its icon or what it draws outside its box
# (its children), by more than a pixel each way (assets/map.js: placeLabels).
NAMES_UNDER_MARKERS_JS = """
const map = document.querySelector(arguments[0]);
const news = ['incident-mark', 'incident-cluster', 'warning-marker', 'dsp-unit-icon', 'dsp-pick-icon'];
const shown = e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden';
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
const names = Array.from(map.querySelectorAll('.map-label-icon > span')).filter(shown)
  .map(e => [...box(e), e.textContent]);
const marks = Array.from(map.querySelectorAll('.leaflet-marker-pane .leaflet-marker-icon')).filter(shown)
  .filter(e => news.some(c => e.classList.contains(c)))
  .flatMap(e => [e, ...e.children].map(k => [...box(k), e.className])).filter(b => b[2] > b[0] && b[3] > b[1]);
const under = [];
for (const n of names) for (const m of marks)
  if (Math.min(n[2], m[2]) - Math.max(n[0], m[0]) > 1 && Math.min(n[3], m[3]) - Math.max(n[1], m[1]) > 1)
    under.push([n[4], m[4]]);
return {names: names.map(n => n[4]), marks: marks.length, under: under};
"""
