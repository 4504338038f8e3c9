"""Two screens, two real browsers: a dispatcher dispatches a unit on the console (/dispatch) and the wall (/wall)
open in a second browser shows it without a reload — the incident's row turns to 已派遣 and one unit fewer is
available on the KPI strip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash.testing.browser import Browser
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

from dashboard.i18n import name
from layouts import ids
from tests.helpers import log_in_browser, start_dash
from tests.test_dispatch_console import new_incident, stringify_id
from tests.test_dispatch_console import units as units  # the console tests' fixture (F1, F2, A1 near Dongsi)

pytestmark = pytest.mark.browser


@pytest.fixture
def second_browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Browser]:
    """Another browser, with the command-line options of dash_duo's (--webdriver, --headless …), always quit.

    Not dash.testing's own `dash_br`: it and dash_duo both create the test's tmpdir/download and collide."""
    opt = request.config.getoption
    with Browser(browser=opt("webdriver"), remote=opt("remote"), remote_url=opt("remote_url"),
                 headless=opt("headless"), options=request.config.hook.pytest_setup_options(),
                 download_path=str(tmp_path / "second-download"), percy_run=False) as browser:
        yield browser


def wall_row_meta(br: Any, incident_id: int) -> str | None:
    """The meta line ("state · category · place") of the incident's row on the wall, None while it has no row."""
    # One script, no element handles: the panel re-renders with every refresh, so handles go stale.
    return br.driver.execute_script(
        "var r = document.getElementById(arguments[0]), m = r && r.querySelector('.incident-meta');"
        "return m ? m.textContent : null;",
        stringify_id({"type": ids.INCIDENT_ROW, "index": incident_id}),
    )


def units_available(br: Any) -> int | None:
    """The big figure of the "units available" KPI card ("3" of "3/3"), None before the first refresh."""
    text = br.driver.execute_script("var e = document.getElementById(arguments[0]); return e && e.textContent;",
                                    ids.KPI_VALUE[ids.KPI_UNITS])
    head = str(text or "").split("/", 1)[0].replace(",", "").strip()
    return int(head) if head.isdigit() else None


def click(br: Any, selector: str, timeout: float = 10) -> None:
    """Click the element once it is there, finding it again if it re-renders between the find and the click."""

    def attempt() -> bool:
        try:
            br.find_element(selector).click()
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return True

    until(attempt, timeout=timeout)


def state_of_row(br: Any, incident_id: int) -> str | None:
    meta = wall_row_meta(br, incident_id)
    return meta.split(" · ", 1)[0] if meta is not None else None


# The wall keeps a push stream open (Server-Sent Events); dash_duo stops its threaded server by raising SystemExit
# in every live request thread, that stream's included. That is the test server's teardown, not a fault.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dispatch_on_the_console_reaches_the_wall_open_in_another_browser_without_a_reload(
    dash_duo: Any, second_browser: Browser, app: Any, units: list[int], live_ticks: None
) -> None:
    new, dispatched = name("inc_state", "new", "zh"), name("inc_state", "dispatched", "zh")
    inc = new_incident(app, 2, "东四 火情 two screens")
    start_dash(dash_duo, app.extensions["dash_app"])
    base = dash_duo.server.url

    # Both sign in through the real form; the two pages load side by side.
    wall, console = second_browser, dash_duo
    for br, user in ((wall, "duty"), (console, "dispatch")):
        br.driver.set_window_size(1920, 1080)
        log_in_browser(br, base, user)

    # The second browser: the duty officer's wall, showing the new incident and all three units available.
    until(lambda: state_of_row(wall, inc) == new, timeout=15)
    until(lambda: units_available(wall) == len(units), timeout=15)
    assert wall.driver.current_url.endswith("/wall")
    wall.driver.execute_script("window.__twoScreensNoReload = true;")  # gone if the page reloads

    # The first browser: the dispatcher opens the incident and dispatches F1, the suggested fire engine.
    row = f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{inc}"]'
    click(console, row, timeout=15)  # the queue re-renders every few seconds: a found row may go stale
    assert console.driver.current_url.endswith("/dispatch")
    console.wait_for_text_to_equal(".dsp-detail-head .dsp-state", new, timeout=10)
    click(console, '.dsp-suggest-row[data-unit="F1"] .dsp-act-dispatch')
    console.wait_for_text_to_equal(".dsp-detail-head .dsp-state", dispatched, timeout=10)

    # The wall follows on its own: the row's state, and one unit fewer available.
    until(lambda: state_of_row(wall, inc) == dispatched, timeout=10)
    until(lambda: units_available(wall) == len(units) - 1, timeout=10)
    assert wall.driver.execute_script("return window.__twoScreensNoReload === true;"), "the wall was reloaded"
    assert wall.driver.current_url.endswith("/wall")

    assert console.get_logs() == [], "the console's browser console has errors"
    assert wall.get_logs() == [], "the wall's browser console has errors"
