"""The leader's tablet as it is read, in a real browser at the tablets' sizes (dash_duo): one screen with nothing
to scroll, and what is open said at once."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from sqlalchemy import select

from dashboard.domain import geo
from dashboard.services.base import Actor
from dashboard.services.incidents import ActionRequest, perform_action
from dashboard.store.engine import session_scope
from dashboard.store.models import Incident
from dashboard.web.extensions import db_sessions
from layouts import ids
from layouts import tablet as lay
from tests.helpers import NAMES_UNDER_MARKERS_JS, incident, log_in_browser, start_dash
from tests.test_browser import ingest

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: how the tablet lays out does not depend on the database (test_tablet.py runs both)."""
    return f"sqlite:///{tmp_path / 'tablet-reading.db'}"


def viewport(dash_duo: Any, width: int, height: int) -> None:
    """The page's own size (a window's outer size would include the browser's frame)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def open_in_english(dash_duo: Any, app: Any, width: int, height: int) -> None:
    """The leader signs in on a screen of this size and switches the tablet to English."""
    start_dash(dash_duo, app.extensions["dash_app"])
    viewport(dash_duo, width, height)
    log_in_browser(dash_duo, dash_duo.server.url, "leader")
    until(lambda: dash_duo.driver.current_url.endswith("/tablet"), timeout=10)
    dash_duo.driver.get(dash_duo.server.url + "/lang/en?next=/tablet")


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (1366, 1024)])
def test_the_tablet_fits_its_screen_and_says_what_is_open_by_severity(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    sevs = [1, 1, 2, 3, 4, 4, 4, 4]
    ingest(app, [incident(f"t{i}", severity=s, title=f"事件 {i} 级别 {s}") for i, s in enumerate(sevs)])
    start_dash(dash_duo, app.extensions["dash_app"])
    viewport(dash_duo, width, height)
    log_in_browser(dash_duo, dash_duo.server.url, "leader")
    card = f"#{ids.TABLET_OPEN}"
    until(lambda: len(dash_duo.find_elements(f"{card} .tab-row")) == 5, timeout=15)
    dash_duo.wait_for_element(f"#{ids.TABLET_TREND_HOTLINE} .main-svg", timeout=10)
    size = dash_duo.driver.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight, innerWidth, innerHeight]")
    assert size[0] <= size[2] and size[1] <= size[3], f"the page scrolls at {width}×{height}: {size}"
    chips = [c.text.split() for c in dash_duo.find_elements(f"{card} .tab-sev-chip")]
    assert chips == [["I", "2"], ["II", "1"], ["III", "1"], ["IV", "4"]]
    rows = dash_duo.find_elements(f"{card} .tab-row")
    assert [r.get_attribute("data-sev") for r in rows] == ["1", "1", "2", "3", "4"]  # the most severe by name
    assert "另有 3 起" in dash_duo.find_element(card).text
    # The open incidents are on screen, not below it.
    box = dash_duo.driver.execute_script("return arguments[0].getBoundingClientRect().bottom", rows[-1])
    assert box <= height


# Whether the element drawn at the tooltip's centre is the tooltip (or inside it), and what it is otherwise.
TOP_JS = """
const tip = arguments[0], b = tip.getBoundingClientRect();
const top = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
return {tip_inside: !!top && (top === tip || tip.contains(top)),
        top: top ? top.tagName + '.' + String(top.className && top.className.baseVal !== undefined
                                               ? top.className.baseVal : top.className) : null};
"""


def test_the_replay_slider_has_a_handle_for_a_finger_and_says_the_time_while_held(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    start_dash(dash_duo, app.extensions["dash_app"])
    viewport(dash_duo, 1024, 768)
    log_in_browser(dash_duo, dash_duo.server.url, "leader")
    thumb = dash_duo.wait_for_element(f"#{ids.TABLET_SLIDER} [role=slider]", timeout=15)
    assert thumb.size["width"] >= 36 and thumb.size["height"] >= 36
    track = dash_duo.find_element(f"#{ids.TABLET_SLIDER} .dash-slider-root")
    # Hold the handle and move it a third of the way back: the tooltip says when that is.
    ActionChains(dash_duo.driver).click_and_hold(thumb).move_by_offset(-track.size["width"] // 3, 0).perform()
    tip = dash_duo.wait_for_element(f"#{ids.TABLET_SLIDER} .dash-slider-tooltip", timeout=5)
    until(lambda: re.fullmatch(r"\d\d:\d\d · \d+ 小时 \d+ 分前", tip.text.strip()) is not None, timeout=5,
          msg=f"the tooltip says {tip.text!r}")
    # Held over the map's column, the time is drawn on top of it, not under the map's panes and controls.
    on_top = dash_duo.driver.execute_script(TOP_JS, tip)
    assert on_top["tip_inside"], f"the time is hidden under {on_top['top']}"
    ActionChains(dash_duo.driver).release().perform()
    hours = int(tip.text.split("·")[1].split("小时")[0])
    assert 6 <= hours <= 10  # a third of 24 hours back


# The tooltip's box, the viewport's size, whether its text is cut, and whether what is drawn at its centre and just
# inside its left and right edges is the tooltip (nothing over it, nothing of it off the screen).
TIP_JS = """
const tip = arguments[0], b = tip.getBoundingClientRect(), y = (b.top + b.bottom) / 2;
const mine = x => { const e = document.elementFromPoint(x, y); return !!e && (e === tip || tip.contains(e)); };
return {box: [b.left, b.top, b.right, b.bottom], view: [innerWidth, innerHeight], text: tip.textContent,
        cut: tip.scrollWidth > tip.clientWidth + 1,
        drawn: [mine(b.left + 2), mine((b.left + b.right) / 2), mine(b.right - 2)]};
"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_replay_sliders_time_stays_on_the_screen_at_both_ends_of_the_track(
    dash_duo: Any, app: Any, live_ticks: None, lang: str
) -> None:
    if lang == "en":
        open_in_english(dash_duo, app, 1024, 768)
    else:
        start_dash(dash_duo, app.extensions["dash_app"])
        viewport(dash_duo, 1024, 768)
        log_in_browser(dash_duo, dash_duo.server.url, "leader")
    # The pointer may only go where the window is (smaller than the page's emulated 1024×768 by default).
    dash_duo.driver.set_window_size(1280, 1024)
    viewport(dash_duo, 1024, 768)
    thumb = dash_duo.wait_for_element(f"#{ids.TABLET_SLIDER} [role=slider]", timeout=15)
    track = dash_duo.find_element(f"#{ids.TABLET_SLIDER} .dash-slider-root")
    tip_sel = f"#{ids.TABLET_SLIDER} .dash-slider-tooltip"
    ago = r"\d\d:\d\d · 24 小时 0 分前" if lang == "zh" else r"\d\d:\d\d · 24 h 0 min ago"

    def held_at(end: str, x: float) -> dict[str, Any]:
        """Where the time is while the handle is held at `x` on the page, a little past one end of the track."""
        centre = thumb.rect["x"] + thumb.rect["width"] / 2
        ActionChains(dash_duo.driver).click_and_hold(thumb).move_by_offset(round(x - centre), 0).perform()
        tip = dash_duo.wait_for_element(tip_sel, timeout=5)
        if end == "left":
            until(lambda: re.fullmatch(ago, tip.text.strip()) is not None, timeout=5,
                  msg=f"the tooltip says {tip.text!r}")
        time.sleep(0.3)  # the position follows the value
        got = dict(dash_duo.driver.execute_script(TIP_JS, tip))
        ActionChains(dash_duo.driver).release().perform()
        return got

    box = track.rect
    for end, x in (("left", box["x"] - 8), ("right", box["x"] + box["width"] + 8)):
        got = held_at(end, x)
        left, top, right, bottom = got["box"]
        assert left >= 0 and right <= got["view"][0] and top >= 0 and bottom <= got["view"][1], (end, got)
        assert not got["cut"] and got["drawn"] == [True, True, True], (end, got)
        if end == "left":
            assert thumb.get_attribute("aria-valuenow") == str(lay.SLIDER_MIN)
    assert thumb.get_attribute("aria-valuenow") == "0" and got["text"] in ("实时", "Live")


# Boxes of the subdistricts' names on the map, of the KPI names (with whether each is cut) and the header's items;
# only what is drawn (a name hidden under a marker is not: assets/map.js).
READING_JS = """
const boxes = sel => Array.from(document.querySelectorAll(sel))
  .filter(e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden')
  .map(e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom, e.textContent]; });
return {names: boxes('.map-label-icon span'),
        labels: Array.from(document.querySelectorAll('.tab-kpi-label'))
          .map(e => [e.textContent, e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1]),
        header: boxes('.tab-header > *').map(b => b[1])};
"""


def test_in_english_nothing_is_cut_the_header_is_one_row_and_no_two_names_overlap(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    ingest(app, [incident("e1", severity=2, title="Fire at Dongsi")])
    open_in_english(dash_duo, app, 1024, 768)
    until(lambda: len(dash_duo.find_elements(f"#{ids.TABLET_OPEN} .tab-row")) == 1, timeout=15)
    until(lambda: len(dash_duo.find_elements(".map-label-icon > span")) == 17, timeout=10)
    time.sleep(1)  # the names are placed once the map and its markers have settled
    got = dash_duo.driver.execute_script(READING_JS)
    size = dash_duo.driver.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight, innerWidth, innerHeight]")
    assert size[0] <= size[2] and size[1] <= size[3], f"the page scrolls: {size}"
    assert [label for label, cut in got["labels"] if cut] == []
    assert max(got["header"]) - min(got["header"]) < 30, "the header wraps onto a second row"
    assert crossing_names(got["names"]) == [], "names drawn over each other"
    assert dash_duo.driver.execute_script(NAMES_UNDER_MARKERS_JS, f"#{ids.TABLET_MAP.map}")["under"] == []


def test_at_1366_no_name_is_drawn_under_an_incident_and_a_hidden_name_returns_when_it_is_closed(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    # An incident on the very point of five subdistricts' names, and one beside a sixth.
    subs = geo.subdistricts()[:6]
    ingest(app, [incident(f"n{i}", severity=1 + i % 4, title=f"名旁 {i}", lon=s.label[0] + (0.0006 if i == 5 else 0),
                          lat=s.label[1]) for i, s in enumerate(subs)])
    start_dash(dash_duo, app.extensions["dash_app"])
    viewport(dash_duo, 1366, 768)
    log_in_browser(dash_duo, dash_duo.server.url, "leader")
    tablet_map = f"#{ids.TABLET_MAP.map}"
    until(lambda: len(dash_duo.find_elements(f"{tablet_map} .incident-mark")) == 6, timeout=15)
    time.sleep(1)  # the names are placed once the map and its markers have settled
    got = dash_duo.driver.execute_script(NAMES_UNDER_MARKERS_JS, tablet_map)
    assert got["under"] == [], "names drawn under markers"
    # The names with room beside their point are moved there rather than hidden: most of them show.
    assert len(got["names"]) >= 17 - 5, got["names"]
    assert crossing_names(dash_duo.driver.execute_script(READING_JS)["names"]) == []
    # The incidents closed, their markers go and every name shows again.
    with app.app_context(), session_scope(db_sessions()) as s:
        for inc in s.scalars(select(Incident)).all():
            perform_action(s, inc.id, ActionRequest("cancel", reason="演练"), Actor(None, "admin-setup", "admin"),
                           f"k{inc.id}")
    until(lambda: not dash_duo.find_elements(f"{tablet_map} .incident-mark"), timeout=15)
    until(lambda: len(dash_duo.driver.execute_script(NAMES_UNDER_MARKERS_JS, tablet_map)["names"]) == 17, timeout=5)


def crossing_names(names: list[list[Any]]) -> list[tuple[str, str]]:
    """The pairs of the map's names (boxes from READING_JS) drawn over each other by more than 2 px each way."""
    return [(a[4], b[4]) for i, a in enumerate(names) for b in names[i + 1:]
            if min(a[2], b[2]) - max(a[0], b[0]) > 2 and min(a[3], b[3]) - max(a[1], b[1]) > 2]


# The title's box, how wide its content is, and the box of its own words (without the page's name in <small>).
TITLE_JS = """
const h = document.querySelector('.tab-title'), b = h.getBoundingClientRect(), r = document.createRange();
r.selectNodeContents(h.firstChild);
const e = document.documentElement;
return {scroll: [h.scrollWidth, h.clientWidth], box: [b.left, b.top, b.right, b.bottom],
        words: Array.from(r.getClientRects()).map(w => [w.left, w.top, w.right, w.bottom]),
        page: [e.scrollWidth, e.scrollHeight, innerWidth, innerHeight],
        items: Array.from(document.querySelectorAll('.tab-header > *')).map(x => x.getBoundingClientRect().right)};
"""


# The column beside the map: its box, the open incidents' card's, the titles of its rows and of the trend charts (with
# whether each is cut) and the charts' boxes.
COLUMN_JS = """
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
const cut = e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1;
return {side: box(document.querySelector('.tab-side')), open: box(document.getElementById(arguments[0])),
        rows: Array.from(document.querySelectorAll('#' + arguments[0] + ' .tab-row-title'))
          .map(e => [e.textContent, cut(e)]),
        charts: Array.from(document.querySelectorAll('.tab-chart')).map(c => {
          const t = c.querySelector('.gtitle');
          return [t ? t.textContent : '', t ? box(t) : null, box(c.querySelector('.main-svg'))]; })};
"""


# An iPad Air's screen and the older 9.7-inch iPad's (still common on a leader's desk), upright.
@pytest.mark.parametrize(("width", "height"), [(820, 1180), (768, 1024)])
def test_upright_in_english_the_title_shows_whole_and_the_page_fits_the_screen(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    titles = ["龙潭公园 餐馆厨房起火", "中国美术馆 治安纠纷", "东四北大街隆福寺段 交通事故", "Fire at Chaoyangmen",
              "Waterlogging under the Jianguomen bridge", "积水 六"]
    ingest(app, [incident(f"u{i}", severity=1 + i % 4, title=title) for i, title in enumerate(titles)])
    open_in_english(dash_duo, app, width, height)
    dash_duo.wait_for_element(f"#{ids.TABLET_TREND_HOTLINE} .main-svg", timeout=15)
    until(lambda: len(dash_duo.find_elements(f"#{ids.TABLET_OPEN} .tab-row")) == lay.OPEN_ROWS, timeout=15)
    # The open incidents read whole beside the map, without scrolling the column: every row's title whole (on two
    # lines where it is long), and the charts' titles inside their charts.
    col = dash_duo.driver.execute_script(COLUMN_JS, ids.TABLET_OPEN)
    assert col["side"][1] - 1 <= col["open"][1] and col["open"][3] <= col["side"][3] + 1, col
    assert len(col["rows"]) == lay.OPEN_ROWS and [t for t, cut in col["rows"] if cut] == [], col["rows"]
    for title, tbox, chart in col["charts"]:
        assert title and tbox and chart[0] - 1 <= tbox[0] and tbox[2] <= chart[2] + 1, (title, tbox, chart)
    got = dash_duo.driver.execute_script(TITLE_JS)
    assert got["scroll"][0] <= got["scroll"][1], f"the title is cut: {got}"
    left, top, right, bottom = got["box"]
    # Every line of the title's words lies inside its box, none hidden below it or beside it (a line's glyph box
    # may stand a few pixels above and below its line's height: that is not cut).
    assert got["words"], got
    for w_left, w_top, w_right, w_bottom in got["words"]:
        assert left - 1 <= w_left and w_right <= right + 1, got
        assert top - 4 <= w_top and w_bottom <= bottom + 4, got
    assert max(got["items"]) <= width, f"the header runs off the screen: {got['items']}"
    page = got["page"]
    assert page[0] <= page[2] and page[1] <= page[3], f"the page scrolls at {width}×{height}: {page}"
    # The smaller map upright still draws no two subdistricts' names over each other.
    until(lambda: len(dash_duo.find_elements(".map-label-icon > span")) == 17, timeout=10)
    time.sleep(1)  # the names are placed once the map and its markers have settled
    assert crossing_names(dash_duo.driver.execute_script(READING_JS)["names"]) == [], "names drawn over each other"


# The mode badge: its text, class, colour, the header's items (tops, rightmost edge), the KPI strip's filter (grey when
# late) and the page's width.
STALE_JS = """
const m = document.getElementById(arguments[0]);
const items = Array.from(document.querySelectorAll('.tab-header > *')).filter(e => e.offsetParent !== null)
  .map(e => e.getBoundingClientRect());
return {text: m.textContent, cls: m.className, colour: getComputedStyle(m).color,
        tops: items.map(b => Math.round(b.top)), right: Math.max(...items.map(b => b.right)),
        kpis: getComputedStyle(document.querySelector('.tab-kpis')).filter,
        page: document.documentElement.scrollWidth};
"""
# The badge of late data in each language, and the green of live figures.
LATE = {"zh": (r"数据延迟 · (\d+) 秒前", "实时"), "en": (r"Data delayed · (\d+) s ago", "LIVE")}
GREEN = "rgb(67, 182, 73)"


@pytest.mark.parametrize(("width", "height", "lang"), [(1024, 768, "zh"), (768, 1024, "zh"), (1024, 768, "en")])
def test_a_tablet_whose_workers_stopped_says_its_data_is_late_and_how_long_then_live_again(
    dash_duo: Any, app: Any, request: pytest.FixtureRequest, width: int, height: int, lang: str
) -> None:
    from dashboard.web.extensions import db_sessions
    from workers.tick import run_tick

    # The workers' last tick was 30 s ago and none has run since.
    with app.app_context():
        run_tick(app.extensions["dc_redis"], db_sessions(), time.time() - 30)
    if lang == "en":
        open_in_english(dash_duo, app, width, height)
    else:
        start_dash(dash_duo, app.extensions["dash_app"])
        viewport(dash_duo, width, height)
        log_in_browser(dash_duo, dash_duo.server.url, "leader")
    mode = ids.TABLET_MODE
    late, live = LATE[lang]
    dash_duo.wait_for_element(f"#{mode}", timeout=15)

    def shown() -> dict[str, Any]:
        return dict(dash_duo.driver.execute_script(STALE_JS, mode))

    def age() -> int | None:
        """The age the badge says, in seconds; None while it does not say the data is late."""
        found = re.fullmatch(late, shown()["text"])
        return int(found.group(1)) if found else None

    until(lambda: age() is not None, timeout=15, msg=f"the badge says {shown()['text']!r}")
    first = shown()
    assert "stale" in first["cls"].split() and first["colour"] != GREEN, first  # never a green "实时"
    assert "grayscale" in first["kpis"], first
    # The longer badge fits the header's one row on the screen: the title gives way, the page never widens.
    assert max(first["tops"]) - min(first["tops"]) < 30, f"the header wraps onto a second row: {first}"
    assert first["right"] <= width and first["page"] <= width, first
    # Nothing changes on the server (it answers 204), yet the age grows in the browser.
    seconds = age() or 0
    until(lambda: (age() or 0) >= seconds + 3, timeout=8, msg="the age of the late data did not grow")
    # The workers are back: "实时" again, in green, the figures no longer grey.
    request.getfixturevalue("live_ticks")
    until(lambda: shown()["cls"] == "tab-mode live", timeout=15)
    back = shown()
    assert back["text"] == live and back["colour"] == GREEN and "grayscale" not in back["kpis"], back
    assert dash_duo.get_logs() == [], "the browser console has errors"


# The silent server's badge and the mode badge: shown or not, their text, the header's items (tops, rightmost edge)
# and the KPI strip's filter.
SILENT_JS = """
const s = document.getElementById(arguments[0]), m = document.getElementById(arguments[1]);
const seen = e => !!e && e.getClientRects().length > 0;
const items = Array.from(document.querySelectorAll('.tab-header > *')).filter(e => e.offsetParent !== null)
  .map(e => e.getBoundingClientRect());
return {silent: seen(s), silent_text: s ? s.textContent : null, mode: seen(m), mode_text: m.textContent,
        mode_cls: m.className, tops: items.map(b => Math.round(b.top)), right: Math.max(...items.map(b => b.right)),
        kpis: getComputedStyle(document.querySelector('.tab-kpis')).filter};
"""


def sign_in_with_refreshes_held_on_demand(dash_duo: Any, app: Any) -> tuple[threading.Event, threading.Event]:
    """The leader signs in at 1024×768; while the first event returned is set, the tablet's refreshes reach the server
    and wait there unanswered (a network gone quiet) until the second is set."""
    from flask import request as flask_request

    blocked, released = threading.Event(), threading.Event()

    def gate() -> None:
        if blocked.is_set() and flask_request.path.endswith("_dash-update-component") \
                and f'"{ids.TABLET_STATE}"' in flask_request.get_data(as_text=True):
            released.wait(timeout=60)

    app.before_request(gate)
    start_dash(dash_duo, app.extensions["dash_app"])
    viewport(dash_duo, 1024, 768)
    log_in_browser(dash_duo, dash_duo.server.url, "leader")
    return blocked, released


@pytest.mark.parametrize("outage", ["hang", "offline"])
def test_a_tablet_whose_server_went_silent_says_its_data_is_down_and_since_when_then_live_again(
    dash_duo: Any, app: Any, live_ticks: None, outage: str
) -> None:
    # "hang": the refresh's requests reach nobody and no answer comes (a network gone quiet); "offline": the browser
    # has no network at all (its requests fail at once).
    blocked, released = sign_in_with_refreshes_held_on_demand(dash_duo, app)

    def shown() -> dict[str, Any]:
        return dict(dash_duo.driver.execute_script(SILENT_JS, ids.TABLET_SILENT, ids.TABLET_MODE))

    def age() -> int | None:
        """The seconds the silent badge says; None while it is not shown."""
        got = shown()
        found = re.fullmatch(r"数据中断 · (\d+) 秒前", got["silent_text"] or "") if got["silent"] else None
        return int(found.group(1)) if found else None

    dash_duo.wait_for_element(f"#{ids.TABLET_TREND_HOTLINE} .main-svg", timeout=15)
    until(lambda: shown()["mode_cls"] == "tab-mode live", timeout=15)
    assert not shown()["silent"] and shown()["mode"]
    try:
        if outage == "hang":
            blocked.set()
        else:
            dash_duo.driver.execute_cdp_cmd("Network.enable", {})
            dash_duo.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
                "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        silent_from = time.monotonic()
        until(lambda: age() is not None, timeout=15, msg=f"the tablet still says {shown()}")
        # The wall's threshold (5 s without an answer; the tablet asks every 2 s), not at the first late answer.
        assert time.monotonic() - silent_from > 4
        first = shown()
        assert not first["mode"], f"the mode badge still shows beside it: {first}"
        assert "grayscale" in first["kpis"], first
        assert max(first["tops"]) - min(first["tops"]) < 30 and first["right"] <= 1024, first
        seconds = age() or 0
        assert seconds >= 5
        until(lambda: (age() or 0) >= seconds + 2, timeout=6, msg="the time since the last answer did not grow")
    finally:
        released.set()
        if outage == "offline":
            dash_duo.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
                "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    # The next answer (a 204 "nothing changed" as well) brings "实时" back, in green, the figures no longer grey.
    until(lambda: not shown()["silent"], timeout=6)
    back = shown()
    assert back["mode"] and back["mode_text"] == "实时" and "grayscale" not in back["kpis"], back
    # Offline, the browser and Dash log each refresh that could not be sent; nothing else may be logged.
    offline = ("ERR_INTERNET_DISCONNECTED", "Callback failed: the server did not respond")
    errors = [e["message"] for e in dash_duo.get_logs()
              if outage != "offline" or not any(o in e["message"] for o in offline)]
    assert errors == [], "the browser console has errors"


def test_a_tablet_replaying_a_past_time_keeps_its_replay_badge_while_the_server_is_silent_and_says_so_back_live(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    """A replayed time is not live data: a silent server does not turn its badge into "数据中断" (the wall keeps its
    replay badge too); back at "now" the silent server is said at once, and the next answer makes it live again."""
    from selenium.webdriver.common.keys import Keys

    blocked, released = sign_in_with_refreshes_held_on_demand(dash_duo, app)

    def shown() -> dict[str, Any]:
        return dict(dash_duo.driver.execute_script(SILENT_JS, ids.TABLET_SILENT, ids.TABLET_MODE))

    dash_duo.wait_for_element(f"#{ids.TABLET_TREND_HOTLINE} .main-svg", timeout=15)
    until(lambda: shown()["mode_cls"] == "tab-mode live", timeout=15)
    # Twenty minutes back with the keys (a page a press), and the server answers with the replay.
    thumb = dash_duo.find_element(f"#{ids.TABLET_SLIDER} [role=slider]")
    thumb.send_keys(Keys.PAGE_DOWN)
    thumb.send_keys(Keys.PAGE_DOWN)
    until(lambda: "replay" in shown()["mode_cls"].split(), timeout=10, msg=f"no replay: {shown()}")

    def settled() -> str:
        # Both presses answered: the badge says the same time a second apart (the first press alone says replay too).
        first = shown()["mode_text"]
        time.sleep(1.0)
        return str(first) if shown()["mode_text"] == first else ""

    replay_text = until(settled, timeout=10, msg=f"the replay's time does not settle: {shown()}")
    try:
        blocked.set()
        time.sleep(9)  # past the wall's threshold (5 s) without an answer, as in the outage tests
        during = shown()
        assert not during["silent"] and during["mode"], f"a replay says its data is down: {during}"
        assert "replay" in during["mode_cls"].split() and during["mode_text"] == replay_text, during
        assert "grayscale" not in during["kpis"], during
        assert "tablet-silent" not in dash_duo.driver.execute_script("return document.documentElement.className")
        # Back to now while the server is still silent: the live picture cannot come, and the tablet says so.
        dash_duo.find_element(f"#{ids.TABLET_LIVE}").click()
        until(lambda: shown()["silent"], timeout=10, msg=f"back at now, the silent server is not said: {shown()}")
        assert re.fullmatch(r"数据中断 · (\d+) 秒前", shown()["silent_text"] or ""), shown()
    finally:
        released.set()
    # The server answers again: live, green, nothing grey.
    until(lambda: not shown()["silent"] and shown()["mode_cls"] == "tab-mode live", timeout=10, msg=str(shown()))
    assert shown()["mode_text"] == "实时" and "grayscale" not in shown()["kpis"]
    assert dash_duo.get_logs() == [], "the browser console has errors"
