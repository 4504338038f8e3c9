"""The alarm takeover (issue 3, item 6): which incidents alarm, acknowledging from the wall through the Dash
callback (duty may, leader is refused with the service's reason, both audited), and one real browser: a severity I
incident posted while the wall is open takes it over, and acknowledging it clears the banner."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash.testing.browser import Browser
from dash.testing.wait import until
from sqlalchemy import select

from dashboard.live.schema import AGG_INCIDENTS
from dashboard.store.models import AuditLog, Incident
from dashboard.web.extensions import db_sessions
from layouts import alarm as cb
from layouts import ids
from tests.helpers import PASSWORD, csrf_headers, incident, log_in_browser, login, start_dash

# --- the pure selection ------------------------------------------------------------------------------


def item(iid: int, severity: int, state: str = "new", created_at: float = 100.0) -> dict[str, Any]:
    return {"id": iid, "title": f"t{iid}", "category": "fire", "severity": severity, "state": state,
            "subdistrict": "", "lon": 116.41, "lat": 39.92, "created_at": created_at, "deadline_at": 0.0}


def test_only_new_incidents_of_severity_i_and_ii_alarm_most_severe_then_newest_first() -> None:
    items = [
        item(1, 3), item(2, 4), item(3, 2, created_at=100), item(4, 1, state="acknowledged"),
        item(5, 1, created_at=50), item(6, 2, created_at=200), item(7, 1, state="dispatched"),
    ]
    alarms = cb.select_alarms(items)
    assert [a["id"] for a in alarms] == [5, 6, 3]
    assert set(alarms[0]) == set(cb.FIELDS)
    assert cb.select_alarms([]) == [] and cb.select_alarms(None) == []
    assert cb.select_alarms([{"id": 9, "severity": "x", "state": "new"}, {"severity": 1, "state": "new"}]) == []
    assert cb.signature(alarms) == "5:1,6:2,3:2"
    assert cb.banner_class([]) == "alarm-banner"
    assert "alarm-sev-1" in cb.banner_class(alarms)


@pytest.mark.parametrize(("lang", "road", "hospital"), [("zh", "雍和宫—天坛东路附近", "北京协和医院"),
                                                      ("en", "Line 5 corridor", "PUMC Hospital")])
def test_the_banner_says_where_in_short_names_that_leave_room_for_the_hospital(
        lang: str, road: str, hospital: str) -> None:
    # On 东单北大街, a few metres from the Line 5 corridor; Peking Union Medical College Hospital is the nearest.
    spans = cb.where({"lon": 116.4172, "lat": 39.9140}, lang)
    said = [str(s.children) for s in spans]
    assert len(said) == 2 and road in said[0] and "—东四北" not in said[0] and hospital in said[1], said


def test_the_banner_is_sent_only_when_the_alarms_change(app: Any) -> None:
    from dashboard.frames.cache import alarm_part
    from dashboard.live.aggregates import read_aggregates

    r = app.extensions["dc_redis"]
    ingest(app, [incident("a1", severity=1), incident("a2", severity=3)])
    tick(app)
    env = read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS]
    with app.test_request_context():
        out, state = alarm_part(env, None, "zh")
        assert out is not None
        store, content, cls, msg = out
        assert [a["severity"] for a in store["alarms"]] == [1]
        assert "alarm-on alarm-sev-1" in cls and content and msg == ""
        # The same incidents version (another aggregate changed): nothing is looked at.
        assert alarm_part(env, state, "zh") == (None, state)
        # A new incidents version with the same alarms: only the version is remembered, nothing is re-rendered.
        ingest(app, [incident("a3", severity=4)])
        tick(app)
        newer = read_aggregates(r, [AGG_INCIDENTS])[AGG_INCIDENTS]
        again, new_state = alarm_part(newer, state, "zh")
        assert again is None and new_state["sig"] == state["sig"] and new_state["v"] > state["v"]


# --- acknowledging through the Dash callback ----------------------------------------------------------


def ingest(app: Any, events: list[dict[str, Any]]) -> None:
    """POST events through the real ingest API."""
    resp = app.test_client().post("/api/v1/events", data=json.dumps(events), content_type="application/json",
                                  headers={"Authorization": "Bearer test-token"})
    assert resp.status_code == 200, resp.get_json()


def tick(app: Any) -> None:
    from workers.tick import run_tick

    with app.app_context():
        run_tick(app.extensions["dc_redis"], db_sessions(), time.time())


def one_incident(app: Any) -> tuple[int, str]:
    with app.app_context(), db_sessions()() as s:
        inc = s.scalars(select(Incident)).one()
        return inc.id, inc.state


def audits(app: Any, incident_id: int, outcome: str) -> list[AuditLog]:
    with app.app_context(), db_sessions()() as s:
        return list(s.scalars(select(AuditLog).where(
            AuditLog.target_type == "incident", AuditLog.target_id == str(incident_id),
            AuditLog.action == "acknowledge", AuditLog.outcome == outcome)))


def wall_store(app: Any) -> dict[str, Any]:
    """The alarm store as the wall's frame carries it now."""
    from dashboard.frames.cache import alarm_part
    from dashboard.live.aggregates import read_aggregates

    env = read_aggregates(app.extensions["dc_redis"], [AGG_INCIDENTS])[AGG_INCIDENTS]
    with app.test_request_context():
        out, _ = alarm_part(env, None, "en")
    assert out is not None
    return dict(out[0])


def click_ack(app: Any, username: str, store: dict[str, Any]) -> str:
    """Log in as `username` and click the banner's acknowledge button as dash-renderer would; the message."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    keys = [k for k in app.extensions["dash_app"].callback_map if k.startswith(f"{ids.ALARM_MSG}.children@")]
    assert len(keys) == 1, keys
    body = {
        "output": keys[0],
        "outputs": {"id": ids.ALARM_MSG, "property": keys[0].split(".", 1)[1]},
        "inputs": [{"id": ids.ALARM_ACK, "property": "n_clicks", "value": 1}],
        "state": [{"id": ids.ALARM_STORE, "property": "data", "value": store},
                  {"id": ids.STRINGS, "property": "data", "value": {"lang": "en"}}],
        "changedPropIds": [f"{ids.ALARM_ACK}.n_clicks"],
    }
    resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return str(resp.get_json()["response"][ids.ALARM_MSG]["children"])


def test_a_duty_officer_acknowledges_from_the_banner_and_the_alarm_ends(app: Any) -> None:
    ingest(app, [incident("a1", severity=1)])
    tick(app)
    store = wall_store(app)
    iid, state = one_incident(app)
    assert state == "new" and [a["id"] for a in store["alarms"]] == [iid]
    assert click_ack(app, "duty", store) == f"Incident {iid} acknowledged"
    assert one_incident(app) == (iid, "acknowledged")
    assert len(audits(app, iid, "ok")) == 1
    # The same wall clicking again is one action (the key is per incident and user), not an error.
    click_ack(app, "duty", store)
    assert len(audits(app, iid, "ok")) == 1
    tick(app)
    assert wall_store(app)["alarms"] == []


def test_a_leaders_click_is_refused_with_the_reason_and_audited(app: Any) -> None:
    ingest(app, [incident("a1", severity=2)])
    tick(app)
    store = wall_store(app)
    iid, _ = one_incident(app)
    msg = click_ack(app, "leader", store)
    assert msg.startswith("Cannot acknowledge:") and "Leader" in msg  # the role as the UI names it
    assert one_incident(app) == (iid, "new")
    assert audits(app, iid, "ok") == [] and len(audits(app, iid, "refused")) == 1
    assert wall_store(app)["alarms"][0]["id"] == iid


# --- one real browser ---------------------------------------------------------------------------------


def banner_shown(dash_duo: Any) -> bool:
    return bool(dash_duo.driver.execute_script(
        "var b = document.getElementById(arguments[0]);"
        "return !!b && b.classList.contains('alarm-on') && getComputedStyle(b).display !== 'none';",
        ids.ALARM_BANNER))


def status(dash_duo: Any) -> dict[str, Any]:
    return dict(dash_duo.driver.execute_script("return window.dash_clientside.dcAlarm.status()"))


def fly_zoom(dash_duo: Any) -> float:
    """The zoom the wall flies to: 14 at 1080p, one step more for each doubling of the screen's height."""
    import math

    height = dash_duo.driver.execute_script("return innerHeight")
    return 14 + math.log2(max(0.75, min(4.0, height / 1080)))


# The map's box and the legend's, on the page.
MAP_BOXES_JS = """
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
const wrap = document.querySelector('.wall .map-wrap');
return {map: box(wrap.querySelector('.leaflet-container')), legend: box(wrap.querySelector('.map-legend'))};
"""


def clear_of_the_legend(dash_duo: Any, st: dict[str, Any]) -> bool:
    """Whether the alarm's point (status()["point"], in the map's pixels) lies in the middle of the part of the map
    right of the legend, level with the map's middle."""
    boxes = dash_duo.driver.execute_script(MAP_BOXES_JS)
    left, top, right, bottom = boxes["map"]
    x, y = left + st["point"][0], top + st["point"][1]
    middle = (boxes["legend"][2] + right) / 2
    return abs(x - middle) <= 0.03 * (right - left) and abs(y - (top + bottom) / 2) <= 0.03 * (bottom - top)


# Sign in without a gesture (no click, no key): whatever the browser allows then, it allows on a wall nobody touched.
LOG_IN_JS = """
document.getElementById('username').value = arguments[0];
document.getElementById('password').value = arguments[1];
document.querySelector('button[type=submit]').form.submit();
"""


def log_in_without_a_gesture(browser: Any, base_url: str, username: str) -> None:
    """Sign in through the real /login form, filled and sent by a script rather than by keys and a click."""
    browser.driver.get(base_url.rstrip("/") + "/login")
    browser.wait_for_element("#username")
    browser.driver.execute_script(LOG_IN_JS, username, PASSWORD)


@pytest.mark.browser
def test_a_severity_i_incident_takes_over_the_open_wall_until_acknowledged(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    ingest(app, [incident("calm", severity=4)])
    dash_duo.driver.set_window_size(1920, 1080)  # a wall
    start_dash(dash_duo, app.extensions["dash_app"])
    # Signed in without a gesture: Chromium counts a click on the login page as leave to play sound on the wall.
    log_in_without_a_gesture(dash_duo, dash_duo.server.url, "duty")
    dash_duo.wait_for_element(".leaflet-container", timeout=15)
    time.sleep(1.5)
    assert not banner_shown(dash_duo)
    # This browser keeps audio locked until a gesture: the hint asks for one click.
    assert "Click once to enable alarm sound" in dash_duo.driver.page_source

    ingest(app, [incident("fire", severity=1, title="东四 大火")])
    until(lambda: banner_shown(dash_duo), timeout=10)
    until(lambda: "东四 大火" in dash_duo.find_element(f"#{ids.ALARM_CONTENT}").text, timeout=5)
    assert "I" in dash_duo.find_element(".alarm-sev").text
    hint = dash_duo.find_element(f"#{ids.ALARM_HINT}")
    assert hint.is_displayed()
    # The map flew to the incident (the district view is about zoom 13; the fly-to goes one step closer, to 14 at
    # 1080p) and the alarm sounds (its beeps stay silent until the first click unlocks audio).
    until(lambda: (status(dash_duo)["zoom"] or 0) >= fly_zoom(dash_duo) - 0.1, timeout=8)
    # Where it is, for a map that shows little at street level: the nearest hospital and its distance.
    assert "最近医院" in dash_duo.find_element(f"#{ids.ALARM_CONTENT}").text
    # The KPI strip stays in view below the banner, which lies over the top bar.
    kpis = dash_duo.driver.execute_script(
        "const b = document.getElementById(arguments[0]).getBoundingClientRect();"
        "const k = document.querySelector('.kpi-strip').getBoundingClientRect(); return [b.bottom, k.top, k.bottom];",
        ids.ALARM_BANNER)
    assert kpis[0] <= kpis[1] + 1 and kpis[2] <= dash_duo.driver.execute_script("return innerHeight"), kpis
    # The map keeps its legend below its title.
    legend_top, title_bottom = dash_duo.driver.execute_script(
        "return [document.querySelector('.map-wrap .map-legend').getBoundingClientRect().top,"
        " document.querySelector('.map-title').getBoundingClientRect().bottom]")
    assert legend_top >= title_bottom, (legend_top, title_bottom)
    st = status(dash_duo)
    assert clear_of_the_legend(dash_duo, st), st
    assert st["sounding"] and not st["unlocked"]

    dash_duo.find_element(f"#{ids.ALARM_ACK}").click()
    # The click is the page's first gesture: the hint goes, and the banner goes once the incident is acknowledged.
    until(lambda: not hint.is_displayed(), timeout=5)
    assert status(dash_duo)["unlocked"]
    until(lambda: not banner_shown(dash_duo), timeout=10)
    until(lambda: not status(dash_duo)["sounding"], timeout=5)
    with app.app_context(), db_sessions()() as s:
        states = {i.title: i.state for i in s.scalars(select(Incident))}
    assert states["东四 大火"] == "acknowledged"
    assert not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"], dash_duo.get_logs()


# Where the wall's parts are: the KPI strip, each side panel, the map and the ticker, by a stable name.
PARTS_JS = """
const parts = {kpi: '.wall > .kpi-strip', map: '.wall > .map-wrap', ticker: '.wall > .ticker'};
document.querySelectorAll('.wall-left > .panel, .wall-right > .panel').forEach(
    (p, i) => { parts['panel' + i + ':' + p.id] = '#' + CSS.escape(p.id); });
const out = {};
for (const [name, sel] of Object.entries(parts)) {
    const b = document.querySelector(sel).getBoundingClientRect();
    out[name] = [b.left, b.top, b.width, b.height];
}
return out;
"""
# The banner and the bottoms of what it holds, to see that nothing spills out of it.
BANNER_JS = """
const b = document.getElementById(arguments[0]).getBoundingClientRect();
const inner = Array.from(document.querySelectorAll(
    '#' + arguments[0] + ' .alarm-title, #' + arguments[0] + ' .alarm-meta, #' + arguments[0] + ' .alarm-ack'))
    .map(e => e.getBoundingClientRect().bottom);
const title = document.querySelector('#' + arguments[0] + ' .alarm-title');
return {top: b.top, bottom: b.bottom, inner: inner,
        title_px: parseFloat(getComputedStyle(title).fontSize),
        kpi_top: document.querySelector('.wall > .kpi-strip').getBoundingClientRect().top};
"""


def open_wall_at(dash_duo: Any, app: Any, width: int, height: int) -> None:
    """The duty officer's wall signed in on a screen of this size, its map drawn and settled."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in_browser(dash_duo, dash_duo.server.url, "duty")
    dash_duo.wait_for_element(".leaflet-container", timeout=15)
    time.sleep(1.5)


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_the_alarm_banner_lies_over_the_top_bar_and_leaves_every_panel_where_it_was(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    ingest(app, [incident("calm", severity=4)])
    open_wall_at(dash_duo, app, width, height)
    before = dash_duo.driver.execute_script(PARTS_JS)
    assert len(before) == 7, before  # KPI strip, map, ticker and four panels

    ingest(app, [incident("fire", severity=1, title="东四北大街 居民楼火情 三层冒烟")])
    until(lambda: banner_shown(dash_duo), timeout=10)
    until(lambda: "三层冒烟" in dash_duo.find_element(f"#{ids.ALARM_CONTENT}").text, timeout=5)
    time.sleep(0.5)
    during = dash_duo.driver.execute_script(PARTS_JS)
    for name, rect in before.items():
        assert all(abs(a - b) <= 3 for a, b in zip(rect, during[name], strict=True)), (name, rect, during[name])
    banner = dash_duo.driver.execute_script(BANNER_JS, ids.ALARM_BANNER)
    # Over the top bar only: the KPI strip below it stays in view, and what the banner says stays inside it.
    assert banner["top"] == 0 and banner["bottom"] <= banner["kpi_top"] + 1, banner
    assert all(bottom <= banner["bottom"] + 1 for bottom in banner["inner"]), banner
    # Read from across the room: the title is as large as the KPI labels' minimum and more (3 % of the height).
    assert banner["title_px"] >= 0.028 * height, banner

    dash_duo.find_element(f"#{ids.ALARM_ACK}").click()
    until(lambda: not banner_shown(dash_duo), timeout=10)
    after = dash_duo.driver.execute_script(PARTS_JS)
    assert all(abs(a - b) <= 3 for name, rect in before.items() for a, b in zip(rect, after[name], strict=True))


# --- a wall whose browser allows sound without a gesture ----------------------------------------------------

# Before any page script: count the oscillators made (each beep makes four) and the AudioContexts.
COUNT_AUDIO_JS = """
window.__audio = {contexts: 0, oscillators: 0};
(function () {
    var AC = window.AudioContext;
    if (!AC) { return; }
    var make = AC.prototype.createOscillator;
    AC.prototype.createOscillator = function () {
        window.__audio.oscillators += 1;
        return make.apply(this, arguments);
    };
    window.AudioContext = function () { window.__audio.contexts += 1; return new AC(); };
    window.AudioContext.prototype = AC.prototype;
}());
"""
@pytest.fixture
def wall_with_sound(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Browser]:
    """A browser started as the README says a wall's should be: sound allowed without a user gesture."""
    from selenium.webdriver.chrome.options import Options

    opt = request.config.getoption
    options = Options()
    options.add_argument("--autoplay-policy=no-user-gesture-required")
    with Browser(browser=opt("webdriver"), remote=opt("remote"), remote_url=opt("remote_url"),
                 headless=opt("headless"), options=[options], download_path=str(tmp_path / "download"),
                 percy_run=False) as browser:
        browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_AUDIO_JS})
        yield browser


@pytest.mark.browser
def test_a_wall_whose_browser_allows_sound_sounds_a_severity_i_incident_without_a_click(
    wall_with_sound: Browser, dash_thread_server: Any, app: Any, live_ticks: None
) -> None:
    from ops.redis_server import free_port

    br = wall_with_sound
    ingest(app, [incident("calm", severity=4)])
    br.driver.set_window_size(1920, 1080)
    dash_thread_server(app.extensions["dash_app"], port=free_port())
    log_in_without_a_gesture(br, dash_thread_server.url, "duty")
    br.wait_for_element(".leaflet-container", timeout=15)
    # Audio is found allowed at load: no click hint, before any alarm.
    until(lambda: br.driver.execute_script("return window.dash_clientside.dcAlarm.status()")["unlocked"], timeout=5)
    hint = br.find_element(f"#{ids.ALARM_HINT}")
    assert not hint.is_displayed()
    assert br.driver.execute_script("return window.__audio.oscillators") == 0  # silent while nothing alarms

    ingest(app, [incident("fire", severity=1, title="东四 大火")])
    until(lambda: "东四 大火" in br.find_element(f"#{ids.ALARM_CONTENT}").text, timeout=10)
    # It sounds at once (four tones a beep) with nobody touching the wall, and keeps sounding.
    until(lambda: br.driver.execute_script("return window.__audio.oscillators") >= 4, timeout=5)
    st = br.driver.execute_script("return window.dash_clientside.dcAlarm.status()")
    assert st["sounding"] and st["unlocked"] and st["audio"] == "running", st
    assert br.driver.execute_script("return window.__audio.contexts") == 1
    until(lambda: br.driver.execute_script("return window.__audio.oscillators") >= 8, timeout=6)
    assert not hint.is_displayed()
    assert "Click once to enable alarm sound" not in br.find_element(f"#{ids.ALARM_BANNER}").text


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_an_alarm_flies_the_map_to_its_surroundings_clear_of_the_legend(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    open_wall_at(dash_duo, app, width, height)
    district = status(dash_duo)["zoom"]
    ingest(app, [incident("fire", severity=1, title="东四 大火")])
    until(lambda: banner_shown(dash_duo), timeout=10)
    # One step in from the whole district, on either wall: the same ground around the alarm at 1080p and at 4K.
    until(lambda: abs((status(dash_duo)["zoom"] or 0) - fly_zoom(dash_duo)) < 0.05, timeout=8)
    time.sleep(2)  # the flight's end, and a second of the watch that keeps the map on the alarm
    st = status(dash_duo)
    assert abs(st["zoom"] - fly_zoom(dash_duo)) < 0.05 and 0.5 <= st["zoom"] - district <= 1.6, (district, st)
    assert clear_of_the_legend(dash_duo, st), (st, dash_duo.driver.execute_script(MAP_BOXES_JS))
    # The map stays there: nothing refits the district or flies again while the alarm is shown.
    time.sleep(2)
    assert status(dash_duo)["center"] == st["center"], (st, status(dash_duo))
