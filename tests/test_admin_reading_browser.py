"""The administrator's page as it is read, in a real browser at the desk screens' sizes (dash_duo): every control
within reach in both languages, nothing wider than the window."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.wait import until

from layouts import ids
from tests.helpers import log_in_browser, start_dash
from tests.test_tablet_reading_browser import viewport

pytestmark = [
    pytest.mark.browser,
    # dash_duo stops its threaded server by raising SystemExit in every live request thread; that is the test
    # server's teardown, not a fault.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: how the page lays out does not depend on the database (test_admin.py runs both)."""
    return f"sqlite:///{tmp_path / 'admin-reading.db'}"


# Whether a control can be seen, or brought into view the way a person would: it has a box, it lies inside the
# window once scrolled to, and only containers a person can scroll (overflow auto or scroll) were scrolled to get
# there; one that is clipped by an overflow: hidden box, or by the window itself, is out of reach.
REACH_JS = """
const el = arguments[0];
const r0 = el.getBoundingClientRect();
if (r0.width === 0 || r0.height === 0) return "has no box";
el.scrollIntoView({block: "nearest", inline: "nearest"});
const scrolls = (v) => v === "auto" || v === "scroll";
const root = document.scrollingElement;
const [hs, bs] = [getComputedStyle(document.documentElement), getComputedStyle(document.body)];
const rootX = !["hidden", "clip"].includes(hs.overflowX) && !["hidden", "clip"].includes(bs.overflowX);
const rootY = !["hidden", "clip"].includes(hs.overflowY) && !["hidden", "clip"].includes(bs.overflowY);
if ((root.scrollLeft && !rootX) || (root.scrollTop && !rootY)) return "only the script can scroll the window to it";
const r = el.getBoundingClientRect();
const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
    const s = getComputedStyle(a);
    if ((a.scrollLeft && !scrolls(s.overflowX)) || (a.scrollTop && !scrolls(s.overflowY)))
        return "hidden in an unscrollable " + a.tagName + "." + a.className;
    if (s.overflowX !== "visible" || s.overflowY !== "visible") {
        const b = a.getBoundingClientRect();
        if (cx < b.left || cx > b.right || cy < b.top || cy > b.bottom)
            return "clipped by " + a.tagName + "." + a.className;
    }
}
if (r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5)
    return "outside the window: " + JSON.stringify([r.left, r.top, r.right, r.bottom, innerWidth, innerHeight]);
return "";
"""


@pytest.mark.parametrize(("width", "height", "lang"), [(1366, 768, "en"), (1366, 768, "zh"), (1920, 1080, "en")])
def test_every_control_of_the_admin_page_is_within_reach_on_a_desk_screen(
    dash_duo: Any, app: Any, width: int, height: int, lang: str
) -> None:
    """The top bar wraps rather than pushing sign-out and the language off the screen, and every user operation
    is on screen or a scroll away, with nothing wider than the window."""
    start_dash(dash_duo, app.extensions["dash_app"])
    viewport(dash_duo, width, height)
    log_in_browser(dash_duo, dash_duo.server.url, "admin")
    until(lambda: dash_duo.driver.current_url.endswith("/admin"), timeout=10)
    dash_duo.driver.get(f"{dash_duo.server.url}/lang/{lang}?next=/admin")
    dash_duo.wait_for_element(f"#{ids.ADMIN_USERS} tr[data-user='duty']", timeout=15).click()
    until(lambda: dash_duo.find_element(f"#{ids.ADMIN_USER_ROLE_SAVE}").is_enabled(), timeout=10)
    controls = {
        "change role": f"#{ids.ADMIN_USER_ROLE_SAVE}",
        "role": f"#{ids.ADMIN_USER_ROLE}",
        "new password": f"#{ids.ADMIN_USER_PASSWORD}",
        "reset password": f"#{ids.ADMIN_USER_PASSWORD_SAVE}",
        "disable": f"#{ids.ADMIN_USER_DISABLE}",
        "enable": f"#{ids.ADMIN_USER_ENABLE}",
        "create user": f"#{ids.ADMIN_NEW_SUBMIT}",
        "sign out": ".adm-top .logout-button",
        "中文": f"#{ids.LANG_SWITCH} a[href^='/lang/zh']",
        "EN": f"#{ids.LANG_SWITCH} a[href^='/lang/en']",
        "wall": ".adm-top a[href='/wall']",
        "dispatch": ".adm-top a[href='/dispatch']",
    }
    controls |= {f"tab {i}": el for i, el in enumerate(
        [f"#{ids.ADMIN_TABS} .form-check:nth-child({n}) label" for n in range(1, 6)])}
    out_of_reach = {}
    for what, selector in controls.items():
        problem = dash_duo.driver.execute_script(REACH_JS, dash_duo.find_element(selector))
        if problem:
            out_of_reach[what] = problem
    assert not out_of_reach, f"out of reach at {width}×{height} in {lang}: {out_of_reach}"
    if os.environ.get("ADMIN_SCREENSHOTS"):
        dash_duo.driver.save_screenshot(os.path.join(os.environ["ADMIN_SCREENSHOTS"], f"admin-{width}-{lang}.png"))
    # Nothing is wider than the window, on the page, in its root or in the top bar, in any section; the window
    # itself never scrolls (the page's root does, when a section needs more height than there is).
    sizes_js = """
        const d = document.documentElement, a = document.getElementById(arguments[0]),
              top = a.querySelector('.adm-top');
        return [d.scrollWidth, innerWidth, a.scrollWidth, a.clientWidth, top.scrollWidth, top.clientWidth,
                d.scrollHeight, innerHeight];"""
    for n in range(1, 6):
        dash_duo.find_element(f"#{ids.ADMIN_TABS} .form-check:nth-child({n}) label").click()
        time.sleep(0.3)
        w = dash_duo.driver.execute_script(sizes_js, ids.ADMIN)
        assert w[0] <= w[1] and w[2] <= w[3] and w[4] <= w[5], f"wider than the window in section {n}: {w}"
        assert w[6] <= w[7], f"the window scrolls in section {n}: {w}"
    assert dash_duo.get_logs() == [], "the browser console has errors"
