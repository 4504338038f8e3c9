"""Real-browser tests of the wall's pushed frames (dash_duo, headless Chromium): an open wall changes from frames
that come on its push stream, without asking for one; with push refused, the poll refreshes it as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash.testing.wait import until
from flask import request

from dashboard.web.api.hub import CFG_MAX_STREAMS, CFG_MAX_STREAMS_PER_USER
from dashboard.web.frames import FRAME_PATH
from tests.helpers import incident, start_dash
from tests.test_browser import ingest, log_in, open_incidents_shown

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: frames and streams never touch SQL (test_browser.py covers the wall on both databases)."""
    return f"sqlite:///{tmp_path / 'push-browser.db'}"


@pytest.fixture
def frame_gets(app: Any) -> Iterator[list[str]]:
    """Every GET /api/v1/frame the server answers (its query), counted by the server."""
    seen: list[str] = []

    @app.before_request
    def count() -> None:
        if request.path == FRAME_PATH:
            seen.append(request.query_string.decode())

    yield seen


def js(dash_duo: Any, expr: str) -> Any:
    return dash_duo.driver.execute_script(f"return {expr};")


def test_an_open_wall_changes_from_a_pushed_frame_without_asking_for_one(
    dash_duo: Any, app: Any, live_ticks: None, frame_gets: list[str]
) -> None:
    ingest(app, [incident("i1", severity=3)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: open_incidents_shown(dash_duo) == 1, timeout=15)
    until(lambda: js(dash_duo, "window.dcPush.state === 'live' && window.dcPush.frames"), timeout=15)
    # The stream's first frame (from the token the page reached) has been applied as it came.
    until(lambda: js(dash_duo, "window.dcWall.applied") >= 1, timeout=10)
    # The safety poll would ask after ten silent seconds; a slow test machine must not be taken for it.
    js(dash_duo, "(window.dcWall.safetyMs = 1e9)")
    asked, applied = len(frame_gets), js(dash_duo, "window.dcWall.applied")
    assert asked >= 1  # the page's own first answer

    ingest(app, [incident("i2", severity=2), incident("i3", severity=4)])
    until(lambda: open_incidents_shown(dash_duo) == 3, timeout=10)

    assert len(frame_gets) == asked, frame_gets[asked:]
    assert js(dash_duo, "window.dcWall.applied") > applied
    assert js(dash_duo, "window.dcPush.rejoins") == 0
    assert dash_duo.get_logs() == [], "the browser console has errors"


# Every stream answered 503, the process full or the wall's user at its cap: the wall polls once a second.
@pytest.mark.parametrize("limit", [CFG_MAX_STREAMS, CFG_MAX_STREAMS_PER_USER])
def test_with_push_refused_the_poll_still_refreshes_the_wall(
    dash_duo: Any, app: Any, live_ticks: None, frame_gets: list[str], limit: str
) -> None:
    app.config[limit] = 0
    ingest(app, [incident("i1", severity=3)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: open_incidents_shown(dash_duo) == 1, timeout=15)
    # (push.js looks for its targets on a timer: the wall can show its first poll before that has run)
    until(lambda: js(dash_duo, "window.dcPush.state") == "polling", timeout=5)
    asked = len(frame_gets)
    ingest(app, [incident("i2", severity=2)])
    until(lambda: open_incidents_shown(dash_duo) == 2, timeout=10)
    until(lambda: len(frame_gets) >= asked + 2, timeout=10)  # asked every second, not only on a change
    assert js(dash_duo, "window.dcWall.applied") == 0

