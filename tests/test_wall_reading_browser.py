"""The wall as a duty officer reads it from across the room, in a real browser at 1920×1080 (dash_duo)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.wait import until

from layouts import ids
from tests.helpers import incident, reading, start_dash, ticket, workers_ticking
from tests.test_browser import ingest, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: how the wall reads does not depend on the database (test_browser.py runs the wall on both)."""
    return f"sqlite:///{tmp_path / 'wall-reading.db'}"

# The rows shown now, with whether each lies whole inside the list's box (the wall never scrolls or clips a row).
SHOWN_ROWS_JS = """
const list = document.getElementById(arguments[0]);
if (!list) { return []; }
const box = list.getBoundingClientRect();
return Array.from(list.querySelectorAll(':scope > .incident-row'))
  .filter(r => r.offsetParent !== null)
  .map(r => { const b = r.getBoundingClientRect();
              const whole = b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
              return [r.querySelector('.incident-title').textContent, whole]; });
"""


def shown_rows(dash_duo: Any) -> list[tuple[str, bool]]:
    """(title, whole inside the list) of every incident row shown now."""
    return [tuple(x) for x in dash_duo.driver.execute_script(SHOWN_ROWS_JS, ids.INCIDENTS_LIST)]


def pager(dash_duo: Any) -> str:
    """The list's pager line ("" when every row fits)."""
    script = "const l = document.getElementById(arguments[0]); return (l && l.getAttribute('data-page')) || ''"
    return str(dash_duo.driver.execute_script(script, ids.INCIDENTS_LIST))


def wall_screen(dash_duo: Any, width: int, height: int) -> None:
    """Show the page as a wall screen of that size (a 4K window does not fit a headless browser's screen)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def incident_rows(dash_duo: Any) -> int:
    """How many incident rows the list holds (shown or not)."""
    return int(dash_duo.driver.execute_script(
        "return document.querySelectorAll('#' + arguments[0] + ' > .incident-row').length", ids.INCIDENTS_LIST))


def page_through(dash_duo: Any) -> list[list[tuple[str, bool]]]:
    """The rows shown on each page, from the first page to the last (turned by hand, as the timer would)."""
    until(lambda: pager(dash_duo).startswith("第 1/"), timeout=5)
    pages = int(pager(dash_duo).split("/")[1].split(" ")[0])
    out = []
    for page in range(pages):
        out.append(shown_rows(dash_duo))
        dash_duo.driver.execute_script("window.dcIncidentPages.turn()")
        until(lambda p=page: pager(dash_duo).startswith(f"第 {(p + 1) % pages + 1}/"), timeout=3)
    return out


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_every_open_incident_is_reachable_on_the_wall_a_page_at_a_time(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    wall_screen(dash_duo, width, height)
    titles = {f"积水 {i:02d} 号" for i in range(12)}
    # A severity I, a II and ten III and IV: the grave two are on every page (pinned), the others a page at a time.
    grave = {"积水 00 号", "积水 01 号"}
    sevs = [1, 2] + [3 + i % 2 for i in range(10)]
    ingest(app, [incident(f"p{i}", severity=sev, title=f"积水 {i:02d} 号") for i, sev in enumerate(sevs)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: incident_rows(dash_duo) == 12, timeout=15)
    until(lambda: pager(dash_duo).startswith("第 1/"), timeout=5)
    assert pager(dash_duo).endswith("共 12 起"), pager(dash_duo)
    pages = page_through(dash_duo)
    assert len(pages) >= 2, pages
    seen: dict[str, int] = {}
    for rows in pages:
        assert rows and all(whole for _, whole in rows), rows
        # Every page starts with the severity I, then the II: a duty officer always sees both.
        assert [title for title, _ in rows[:2]] == ["积水 00 号", "积水 01 号"], rows
        for title, _ in rows:
            seen[title] = seen.get(title, 0) + 1
    assert set(seen) == titles, seen
    assert all(seen[t] == len(pages) for t in grave) and all(seen[t] == 1 for t in titles - grave), seen
    # Nobody turns the wall's pages: they turn by themselves, and the grave rows stay.
    shown = pager(dash_duo)
    until(lambda: pager(dash_duo) != shown, timeout=12)
    assert [title for title, _ in shown_rows(dash_duo)[:2]] == ["积水 00 号", "积水 01 号"]


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_more_grave_incidents_than_fit_take_the_whole_list_and_are_paged_among_themselves(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    wall_screen(dash_duo, width, height)
    grave = {f"火情 {i:02d} 号" for i in range(16)}
    ingest(app, [incident(f"g{i}", severity=1 + i % 2, title=f"火情 {i:02d} 号") for i in range(16)]
           + [incident(f"m{i}", severity=4, title=f"小事 {i} 号") for i in range(3)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: incident_rows(dash_duo) == 19, timeout=15)
    until(lambda: pager(dash_duo).startswith("第 1/"), timeout=5)
    # The three less grave ones are on no page meanwhile, and the pager says so (not only in its total).
    assert pager(dash_duo).endswith("共 19 起 · 另有 3 起较轻事件待显示"), pager(dash_duo)
    pages = page_through(dash_duo)
    assert len(pages) >= 2, pages
    seen: dict[str, int] = {}
    for rows in pages:
        assert rows and all(whole for _, whole in rows), rows
        for title, _ in rows:
            seen[title] = seen.get(title, 0) + 1
    # Only the grave ones, each once: they have the panel to themselves while they do not fit with the rest.
    assert set(seen) == grave and set(seen.values()) == {1}, seen


def test_a_short_list_shows_every_row_and_no_pager(dash_duo: Any, app: Any, live_ticks: None) -> None:
    dash_duo.driver.set_window_size(1920, 1080)
    ingest(app, [incident("one", severity=3, title="积水 一"), incident("two", severity=4, title="积水 二")])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: len(shown_rows(dash_duo)) == 2, timeout=15)
    assert pager(dash_duo) == "" and all(whole for _, whole in shown_rows(dash_duo))


def live_badge(dash_duo: Any) -> tuple[str, str]:
    """(text, class) of the top bar's live badge."""
    got = dash_duo.driver.execute_script(
        "const b = document.getElementById(arguments[0]); return b ? [b.textContent, b.className] : ['', ''];",
        ids.WALL_MODE)
    return str(got[0]), str(got[1])


def panels_stale(dash_duo: Any) -> list[bool]:
    """Whether each side panel is greyed out as stale."""
    return [bool(x) for x in dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.wall-left > .panel, .wall-right > .panel'))"
        ".map(p => p.classList.contains('stale'));")]


def test_the_live_badge_says_delayed_with_the_age_while_the_panels_are_stale(dash_duo: Any, app: Any) -> None:
    dash_duo.driver.set_window_size(1920, 1080)
    ingest(app, [incident("calm", severity=4, title="积水 一")])
    start_dash(dash_duo, app.extensions["dash_app"])
    with workers_ticking(app):
        log_in(dash_duo)
        until(lambda: len(shown_rows(dash_duo)) == 1, timeout=15)
        until(lambda: panels_stale(dash_duo) == [False] * 4, timeout=10)
        assert live_badge(dash_duo) == ("实时", "wall-mode live")
    # The workers stop: the panels grey out past the staleness threshold, and the badge stops saying live.
    until(lambda: panels_stale(dash_duo) == [True] * 4, timeout=15)
    until(lambda: live_badge(dash_duo)[1] == "wall-mode stale", timeout=3)
    text, _ = live_badge(dash_duo)
    assert text.startswith("数据延迟 · ") and text.endswith(" 秒前"), text
    first = int(text.split(" · ")[1].split(" ")[0])
    assert first >= 5, text
    # The age counts on while the data stays late.
    until(lambda: int(live_badge(dash_duo)[0].split(" · ")[1].split(" ")[0]) >= first + 2, timeout=5)
    badge = dash_duo.driver.execute_script(
        "const s = getComputedStyle(document.getElementById(arguments[0])); return [s.color, s.borderTopStyle];",
        ids.WALL_MODE)
    assert badge[1] == "dashed", badge
    # The workers come back: fresh panels, and the badge is live again.
    with workers_ticking(app):
        until(lambda: live_badge(dash_duo) == ("实时", "wall-mode live"), timeout=10)
        assert panels_stale(dash_duo) == [False] * 4


def an_hour_back(dash_duo: Any) -> None:
    """Press the replay's ◀ six times, each once the slider took the one before (a press while the last one's
    callback is still on its way would step from the same value, and the slider would stop short)."""
    script = "return document.querySelector('#' + arguments[0] + ' [role=slider]').getAttribute('aria-valuenow')"
    for step in range(1, 7):
        dash_duo.find_element(f"#{ids.WALL_EARLIER}").click()
        until(lambda step=step: dash_duo.driver.execute_script(script, ids.WALL_SLIDER) == str(-10 * step), timeout=10)


@pytest.fixture
def an_hour_ago(app: Any) -> float:
    """A history snapshot of an hour ago, when one severity III incident was open (before the live ticks start)."""
    from dashboard.web.extensions import db_sessions
    from workers.history import run_history
    from workers.tick import run_tick

    r = app.extensions["dc_redis"]
    with app.app_context():
        sessions = db_sessions()
    then = time.time() - 3600
    # Severity III: a I or II would take the wall over with its alarm banner, which hides the replay's controls.
    ingest(app, [incident("past", severity=3, title="一小时前的火情")])
    run_tick(r, sessions, then)
    run_history(r, then)
    return then


def test_replay_on_the_wall_says_replay_and_keeps_the_severity_colours(
    dash_duo: Any, app: Any, an_hour_ago: float, live_ticks: None
) -> None:
    dash_duo.driver.set_window_size(1920, 1080)
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: len(shown_rows(dash_duo)) == 1, timeout=30)  # (the first frame, after the live ticks' first)
    # An hour back with the arrows, ten minutes a press (the track is three or four minutes a pixel).
    an_hour_back(dash_duo)
    until(lambda: dash_duo.find_element(f"#{ids.WALL_MODE}").text.startswith("回放"), timeout=10)
    time.sleep(2)  # past the freshness badges' next second
    stale = dash_duo.driver.execute_script("return Array.from(document.querySelectorAll('.stale')).map(e => e.id)")
    assert stale == [], f"replay shows panels as delayed: {stale}"
    assert "数据延迟" not in dash_duo.driver.execute_script("return document.body.innerText")
    row = dash_duo.find_element(f"#{ids.INCIDENTS_LIST} .incident-row")
    assert row.get_attribute("data-sev") == "3"
    colour = dash_duo.driver.execute_script(
        "return getComputedStyle(arguments[0]).borderLeftColor", row)
    assert colour not in ("rgb(120, 144, 156)", ""), colour  # the severity's yellow, not the stale grey


@pytest.mark.parametrize(("width", "height"), [(5760, 1080), (7680, 2160)])
def test_a_video_wall_of_several_displays_uses_the_width_for_the_map_and_whole_panels(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    ingest(app, [incident(f"w{i}", severity=3, title=f"积水 {i:02d} 号") for i in range(6)])
    start_dash(dash_duo, app.extensions["dash_app"])
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    log_in(dash_duo)
    until(lambda: len(shown_rows(dash_duo)) == 6, timeout=15)
    boxes = dash_duo.driver.execute_script("""
        const box = id => { const b = document.getElementById(id).getBoundingClientRect();
                            return [b.left, b.right, b.top, b.bottom]; };
        const e = document.documentElement;
        return {page: [e.scrollWidth, e.scrollHeight],
                sensors: box('panel-sensors'), incidents: box('panel-incidents'), map: box(arguments[0]),
                traffic: box('panel-traffic'), hotline: box('panel-hotline'),
                row: parseFloat(getComputedStyle(document.querySelector('.incident-title')).fontSize)};
    """, ids.WALL_MAP.map)
    assert boxes["page"] == [width, height], "the wall scrolls"
    # The side columns' panels stand side by side at full height, the map between them.
    assert boxes["sensors"][1] <= boxes["incidents"][0] and boxes["traffic"][1] <= boxes["hotline"][0]
    assert boxes["incidents"][1] <= boxes["map"][0] and boxes["map"][1] <= boxes["traffic"][0]
    assert boxes["sensors"][2] == boxes["incidents"][2] and boxes["sensors"][3] == boxes["incidents"][3]
    assert boxes["map"][1] - boxes["map"][0] > width / 5  # the map grew with the wall
    assert boxes["row"] >= 18 * height / 1080 - 0.5  # read from as far as on a 1080p wall, at any height


MARKS_JS = """
const rect = e => { const b = e.getBoundingClientRect(); return [b.width, b.height]; };
const bg = e => getComputedStyle(e, '::before').backgroundColor;
return {
  incidents: Array.from(document.querySelectorAll('#' + arguments[0] + ' .incident-mark'))
    .map(e => ({sev: Array.from(e.classList).find(c => /^sev-\\d$/.test(c)), size: rect(e), colour: bg(e),
                radius: getComputedStyle(e, '::before').borderRadius, text: e.textContent})),
  others: Array.from(document.querySelectorAll('#' + arguments[0] + ' .leaflet-marker-icon:not(.incident-mark)'))
    .map(e => ({cls: e.className, size: rect(e), colour: getComputedStyle(e).backgroundColor})),
  sensors: Array.from(document.querySelectorAll('#' + arguments[0] + ' .sensor-bin'))
    .map(e => { const st = getComputedStyle(e);
                return {cls: e.className, size: rect(e), radius: st.borderRadius, border: st.borderTopStyle,
                        edge: st.borderTopColor, fill: st.backgroundColor, text: e.textContent,
                        font: parseFloat(st.fontSize)}; }),
};
"""


def test_incidents_are_the_largest_marks_and_the_only_square_ones_in_severity_colours(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    spread = [(116.405, 39.905), (116.425, 39.935), (116.395, 39.945), (116.430, 39.885)]
    ingest(app, [incident(f"m{s}", severity=s, lon=lon, lat=lat, title=f"标记 {s}")
                 for s, (lon, lat) in zip((1, 2, 3, 4), spread, strict=True)])
    # Sensors: a dozen normal at one spot (a bin with a count), one in alarm and one warning elsewhere.
    ingest(app, [reading(f"n{i}", 30.0, f"pole-n{i}:pm25", lon=116.41 + i * 1e-4, lat=39.915) for i in range(12)]
           + [reading("a1", 400.0, "pole-a:pm25", lon=116.40, lat=39.93),
              reading("w1", 100.0, "pole-w:pm25", lon=116.44, lat=39.90)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    seen: dict[str, Any] = {}

    def four_drawn() -> bool:
        # One snapshot holding all four (a refresh may be redrawing a layer between two reads).
        seen.update(dash_duo.driver.execute_script(MARKS_JS, ids.WALL_MAP.map))
        return len({m["sev"] for m in seen["incidents"]}) == 4 and len(seen["sensors"]) >= 2

    until(four_drawn, timeout=20)
    marks = dict(seen)
    by_sev = {m["sev"]: m for m in marks["incidents"]}
    sizes = [by_sev[f"sev-{s}"]["size"][0] for s in (1, 2, 3, 4)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] >= 28, sizes  # I the largest, IV still 28 px+
    assert [by_sev[f"sev-{s}"]["text"] for s in (1, 2, 3, 4)] == ["I", "II", "III", "IV"]
    assert all(m["radius"] != "50%" for m in marks["incidents"])  # square badges, not dots
    colours = {m["colour"] for m in marks["incidents"]}
    assert len(colours) == 4
    # Every other mark (sensor bins, parking, crowds, early warnings) is smaller than the smallest incident.
    assert marks["others"], "no other marks on the map to compare with"
    assert max(o["size"][0] for o in marks["others"]) < min(sizes), marks["others"]
    # Sensor marks are rings (an outlined circle) of at most 28 px, styled by their worst state, never in a
    # severity's colour (DESIGN 3a: those are reserved for severity).
    sensors = marks["sensors"]
    severity_rgb = {"rgb(229, 57, 53)", "rgb(251, 140, 0)", "rgb(253, 216, 53)", "rgb(30, 136, 229)"}
    for m in sensors:
        assert m["size"][0] <= 28 and m["radius"] == "50%" and m["border"] in ("solid", "dashed", "double", "dotted")
        assert m["edge"] not in severity_rgb and not any(rgb[4:-1] in m["fill"] for rgb in severity_rgb), m
    styles = {m["border"] for m in sensors}
    assert "double" in styles, sensors  # the alarm's ring
    assert any(m["text"].startswith("12") or m["text"] == "14" for m in sensors), sensors  # a count
    assert all(m["font"] >= 16 for m in sensors if m["text"]), sensors  # read from across the room


# Each shown title: its text, whether it shows whole (nothing cut; a line's rounding aside), and how many lines it
# takes.
TITLES_JS = """
return Array.from(document.querySelectorAll('#' + arguments[0] + ' > .incident-row .incident-title'))
  .map(t => { const lh = parseFloat(getComputedStyle(t).lineHeight);
              return [t.textContent, t.scrollHeight <= t.clientHeight + 3 && t.scrollWidth <= t.clientWidth + 1,
                      Math.round(t.getBoundingClientRect().height / lh)]; });
"""


def test_a_long_incident_title_wraps_onto_a_second_line_instead_of_being_cut(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    long_title = "东四北大街 居民楼火情 三层冒烟 楼内有人员被困"
    ingest(app, [incident("long", severity=3, title=long_title), incident("short", severity=4, title="积水 一")])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: len(dash_duo.driver.execute_script(TITLES_JS, ids.INCIDENTS_LIST)) == 2, timeout=15)
    titles = {text: (whole, lines) for text, whole, lines in dash_duo.driver.execute_script(TITLES_JS,
                                                                                            ids.INCIDENTS_LIST)}
    assert titles[long_title] == (True, 2), titles
    assert titles["积水 一"] == (True, 1), titles
    assert all(whole for _, whole in shown_rows(dash_duo))


def test_a_replay_without_a_snapshot_says_its_panels_show_live_data(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    # No history snapshot: the ticks start now, so an hour ago holds nothing.
    dash_duo.driver.set_window_size(1920, 1080)
    ingest(app, [incident("now", severity=3, title="积水 现在")])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: len(shown_rows(dash_duo)) == 1, timeout=15)
    badges = "return Array.from(document.querySelectorAll('.freshness')).map(e => e.textContent)"
    assert not any(text.startswith("实时") for text in dash_duo.driver.execute_script(badges))
    an_hour_back(dash_duo)
    until(lambda: "无历史快照" in dash_duo.find_element(f"#{ids.WALL_MODE}").text, timeout=10)
    # Every badge says the data is live (with its age), not an age that reads as a snapshot's.
    until(lambda: all(text.startswith("实时 · ") for text in dash_duo.driver.execute_script(badges)), timeout=5)
    assert len(dash_duo.driver.execute_script(badges)) >= 7
    dash_duo.find_element(f"#{ids.WALL_LIVE}").click()
    until(lambda: not any(text.startswith("实时") for text in dash_duo.driver.execute_script(badges)), timeout=10)


def test_the_english_legend_says_which_marks_are_overdue_and_stays_inside_the_map(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    """Under "Watch", the dashed ring and the outlined cell are overdue incidents and tickets, in English too; the
    longer words keep the legend inside the map."""
    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.set_window_size(1920, 1080)
    log_in(dash_duo)
    until(lambda: dash_duo.driver.current_url.endswith("/wall"), timeout=10)
    dash_duo.driver.get(dash_duo.server.url + "/lang/en?next=/wall")
    legend = dash_duo.wait_for_element(f"#{ids.WALL_MAP.legend}", timeout=15)
    until(lambda: "Watch" in legend.text, timeout=10)
    labels = [e.text for e in legend.find_elements("css selector", ".legend-item")]
    assert "Overdue incident" in labels and "Overdue tickets (cell)" in labels, labels
    inside = dash_duo.driver.execute_script("""
        const l = arguments[0].getBoundingClientRect(), m = document.getElementById(arguments[1])
            .getBoundingClientRect();
        return l.left >= m.left && l.right <= m.right && l.top >= m.top && l.bottom <= m.bottom;""",
        legend, ids.WALL_MAP.map)
    assert inside, "the legend runs out of the map"


# The clock's zone label, the time and the date: text, box and whether the label is cut; the top bar's box.
CLOCK_JS = """
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
const zone = document.getElementById(arguments[0]), time = document.getElementById(arguments[1]);
return {zone: zone.textContent, time: time.textContent, zone_box: box(zone), time_box: box(time),
        cut: zone.scrollWidth > zone.clientWidth + 1, px: parseFloat(getComputedStyle(zone).fontSize),
        bar: box(document.querySelector('.wall > .topbar'))};
"""


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_the_clock_says_it_is_beijing_time_in_either_language(
    dash_duo: Any, app: Any, live_ticks: None, width: int, height: int
) -> None:
    wall_screen(dash_duo, width, height)
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    for lang, label in (("zh", "北京时间 UTC+8"), ("en", "Beijing time UTC+8")):
        if lang == "en":
            dash_duo.driver.get(dash_duo.server.url + "/lang/en?next=/wall")
        dash_duo.wait_for_element(f"#{ids.CLOCK_ZONE}", timeout=15)
        until(lambda: dash_duo.find_element(f"#{ids.CLOCK}").text != "--:--:--", timeout=10)
        got = dash_duo.driver.execute_script(CLOCK_JS, ids.CLOCK_ZONE, ids.CLOCK)
        assert got["zone"] == label and not got["cut"], got
        # Beside the time (just left of it, level with it) and inside the top bar, in type read up close.
        z_left, z_top, z_right, z_bottom = got["zone_box"]
        t_left, t_top, _, t_bottom = got["time_box"]
        assert 0 <= t_left - z_right <= 0.02 * width and z_top < t_bottom and z_bottom > t_top, got
        assert got["bar"][0] <= z_left and got["bar"][1] <= z_top and z_bottom <= got["bar"][3], got
        assert got["px"] >= 13 * height / 1080, got


# The hotline category chart: its width, the plot's (the bars' room), the names on its axis with their left edges,
# and the bars' lengths.
CATEGORY_CHART_JS = """
const g = document.getElementById(arguments[0]), p = g && g.querySelector('.js-plotly-plot');
if (!p || !p._fullLayout) { return null; }
const left = g.getBoundingClientRect().left;
return {width: p._fullLayout.width, plot: p._fullLayout._size.w,
        names: Array.from(g.querySelectorAll('.ytick text'))
          .map(t => [t.textContent.trim(), t.getBoundingClientRect().left - left]),
        bars: Array.from(g.querySelectorAll('.point path')).map(b => b.getBoundingClientRect().width)};
"""


def test_in_english_the_hotline_categories_leave_their_bars_most_of_the_chart(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    """The categories whose full English names are the longest ("Public services", "Parking/traffic",
    "Construction") are named in a word each, so the bars keep most of the chart's width at 1920×1080."""
    wall_screen(dash_duo, 1920, 1080)
    cats = ["public_service", "parking_traffic", "construction", "sanitation", "property", "heating"]
    ingest(app, [ticket(f"C{i}-{j}", category=cat) for i, cat in enumerate(cats) for j in range(6 - i)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: dash_duo.driver.current_url.endswith("/wall"), timeout=10)
    dash_duo.driver.get(dash_duo.server.url + "/lang/en?next=/wall")
    seen: dict[str, Any] = {}

    def drawn() -> bool:
        seen.update(dash_duo.driver.execute_script(CATEGORY_CHART_JS, ids.HOTLINE_CATEGORIES) or {})
        return len(seen.get("bars") or []) == 6 and len(seen.get("names") or []) == 6

    until(drawn, timeout=20)
    assert sorted(n for n, _ in seen["names"]) == ["Cleaning", "Heating", "Parking", "Property", "Services", "Worksite"]
    assert all(x >= 0 for _, x in seen["names"]), seen  # no name cut at the chart's left edge
    assert seen["plot"] >= 0.5 * seen["width"], seen
    assert max(seen["bars"]) >= 0.4 * seen["width"], seen


def test_a_wall_whose_session_ended_says_so_and_goes_to_the_login_page(dash_duo: Any, app: Any) -> None:
    """Its refreshes answered 401 (assets/answers.js tells wall.js), the wall checks the session, shows the banner in
    both languages and goes to /login?next=/wall by itself. The session ends on the server (the account's sessions
    ended, as when it is disabled): its push stream closes at once and the wall's next requests are refused."""
    dash_duo.driver.set_window_size(1920, 1080)
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    dash_duo.wait_for_element(".leaflet-container", timeout=15)
    banner = dash_duo.find_element(f"#{ids.SESSION_BANNER}")
    assert "show" not in (banner.get_attribute("class") or "").split()
    from sqlalchemy import select

    from dashboard.store.models import User
    from dashboard.web import sessions
    from dashboard.web.extensions import db_sessions

    with app.test_request_context(), db_sessions()() as s:
        uid = s.scalars(select(User.id).where(User.username == "duty")).one()
        assert sessions.end_user(uid, "duty") == 1
    until(lambda: "show" in (banner.get_attribute("class") or "").split(), timeout=10)
    assert "登录已失效，请重新登录" in banner.text and "Session expired — sign in again" in banner.text, banner.text
    until(lambda: "/login?next=%2Fwall" in dash_duo.driver.current_url, timeout=15)
