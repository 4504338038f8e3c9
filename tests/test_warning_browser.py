"""未诉先办 in a real browser: a burst of complaints far above the usual rhythm of one block makes the workers
raise an early warning, and the wall's map shows it (with its reasons in the tooltip) without a reload."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from dash.testing.wait import until

from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_WARNINGS
from dashboard.web.extensions import db_sessions
from layouts import ids
from tests.helpers import log_in_browser, start_dash, ticket
from workers.early_warning import run_baseline

# Near 东四 (a residential block): eight noise complaints within twenty minutes.
LON, LAT = 116.4170, 39.9310


def burst(n: int, now: float) -> list[dict[str, Any]]:
    return [ticket(f"burst-{i}", "noise", lon=LON + 0.0004 * (i % 3), lat=LAT + 0.0003 * (i // 3),
                   ts=datetime.fromtimestamp(now - 1200 + 150 * i, UTC).isoformat()) for i in range(n)]


@pytest.mark.browser
def test_a_complaint_burst_raises_an_early_warning_that_appears_on_the_wall_map(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.set_window_size(1920, 1080)
    log_in_browser(dash_duo, dash_duo.server.url, "duty")
    dash_duo.wait_for_element(f"#{ids.MAP}", timeout=15)
    markers = f"#{ids.MAP} .warning-marker"
    assert dash_duo.find_elements(markers) == []

    # The usual rhythm as the workers learn it (an empty history: the district's published rhythm and population).
    with app.app_context():
        run_baseline(app.extensions["dc_redis"], db_sessions(), time.time())
    now = time.time()
    resp = app.test_client().post("/api/v1/events", data=json.dumps(burst(8, now)), content_type="application/json",
                                  headers={"Authorization": "Bearer test-token"})
    assert resp.status_code == 200, resp.get_json()

    def warned() -> bool:
        env = read_aggregates(app.extensions["dc_redis"], [AGG_WARNINGS])[AGG_WARNINGS]
        return env is not None and bool(env["data"]["warnings"])

    until(warned, timeout=10, msg="the burst raised no warning")

    until(lambda: len(dash_duo.find_elements(markers)) >= 1, timeout=15)
    assert dash_duo.get_logs() == [], "the browser console has errors"
