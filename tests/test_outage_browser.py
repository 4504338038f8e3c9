"""The database notice in a real browser (headless Chromium): it appears on the open wall when the tick says the
database is away, in the wall's language, and goes by itself when the tick reads the database again."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dash.testing.wait import until

from dashboard.live.health import mark_database
from layouts import ids
from tests.helpers import log_in_browser, start_dash

pytestmark = pytest.mark.browser


def _notice(dash_duo: Any) -> tuple[bool, str]:
    """(shown, text) of the notice, read in one script (it re-renders every few seconds)."""
    shown, text = dash_duo.driver.execute_script(
        "var n = document.getElementById(arguments[0]);"
        "return [!!n && !n.hidden && n.getClientRects().length > 0, n ? n.textContent : ''];", ids.DB_NOTICE)
    return bool(shown), str(text)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the notice needs no database: one run is enough
def test_the_open_wall_says_when_the_database_is_away_and_stops_saying_it(dash_duo: Any, app: Any) -> None:
    r = app.extensions["dc_redis"]
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in_browser(dash_duo, dash_duo.server.url, "duty")
    dash_duo.wait_for_element(".leaflet-container", timeout=15)
    assert _notice(dash_duo)[0] is False

    mark_database(r, False, time.time())  # what a tick writes when it cannot read the database
    until(lambda: _notice(dash_duo)[0], timeout=15)
    assert "数据库暂时不可用" in _notice(dash_duo)[1] and "操作不会保存" in _notice(dash_duo)[1]

    mark_database(r, True, time.time())  # the next tick reads it again
    until(lambda: not _notice(dash_duo)[0], timeout=15)
    # Nothing changes here (no tick runs): the wall applies nothing more, however long it is left open (a frame
    # that changed nothing once led back to itself and was applied again and again, bringing back old notices).
    applied = dash_duo.driver.execute_script("return window.dcWall.applied")
    time.sleep(3)
    assert dash_duo.driver.execute_script("return window.dcWall.applied") == applied
    assert not _notice(dash_duo)[0]
    assert dash_duo.get_logs() == [], "the browser console has errors"
