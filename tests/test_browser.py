"""Real-browser tests of the wall with dash_duo (headless Chromium): log in, see it live, see it change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from layouts import ids
from tests.helpers import PASSWORD, incident, reading, start_dash, ticket

pytestmark = pytest.mark.browser


def ingest(app: Any, events: list[dict[str, Any]]) -> None:
    """POST events through the real ingest API."""
    resp = app.test_client().post("/api/v1/events", data=json.dumps(events), content_type="application/json",
                                  headers={"Authorization": "Bearer test-token"})
    assert resp.status_code == 200, resp.get_json()


def log_in(dash_duo: Any, user: str = "duty") -> None:
    """Fill the login form in the browser."""
    dash_duo.driver.get(dash_duo.server.url + "/login")
    dash_duo.wait_for_element("#username").send_keys(user)
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("button[type=submit]").click()


def kpi_text(dash_duo: Any, kpi: str) -> str:
    """The shown value of one KPI card."""
    return str(dash_duo.find_element(f"#{ids.KPI_VALUE[kpi]}").text)


def open_incidents_shown(dash_duo: Any) -> int:
    """Open incidents on the KPI card: the sum of its four per-severity counts."""
    # Read all four in one script: the card re-renders every second, so element handles go stale.
    texts = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)",
        f"#{ids.KPI_VALUE[ids.KPI_INCIDENTS]} .sev-count",
    )
    return sum(int(t.replace(",", "")) for t in texts if t.strip().isdigit())


def test_a_duty_officer_logs_in_and_sees_the_map_and_the_kpis(dash_duo: Any, app: Any, live_ticks: None) -> None:
    ingest(app, [reading("r1"), incident("i1", severity=1), ticket("T1")])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    dash_duo.wait_for_element(".leaflet-container", timeout=15)
    # The 17 subdistricts are drawn from local GeoJSON (no tiles).
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) >= 17, timeout=15)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".leaflet-tile")
    until(lambda: open_incidents_shown(dash_duo) == 1, timeout=15)
    until(lambda: kpi_text(dash_duo, ids.KPI_HOTLINE) == "1", timeout=15)
    assert dash_duo.driver.current_url.endswith("/wall")
    assert "东城区城市运行指挥中心" in dash_duo.driver.page_source
    assert dash_duo.get_logs() == [], "the browser console has errors"


def test_a_new_incident_changes_the_kpi_on_the_open_wall(dash_duo: Any, app: Any, live_ticks: None) -> None:
    ingest(app, [incident("i1", severity=3)])
    start_dash(dash_duo, app.extensions["dash_app"])
    log_in(dash_duo)
    until(lambda: open_incidents_shown(dash_duo) == 1, timeout=15)
    ingest(app, [incident("i2", severity=2), incident("i3", severity=4)])
    until(lambda: open_incidents_shown(dash_duo) == 3, timeout=10)
    # The card flashes for the change; the next change flashes it again: the class alternates between .flash and
    # .flash-alt, so the one-shot animation runs anew (how many changes the wall saw so far depends on the ticks).
    card = f"#{ids.KPI_INCIDENTS}"

    def flash() -> str | None:
        names = set((dash_duo.find_element(card).get_attribute("class") or "").split()) & {"flash", "flash-alt"}
        return names.pop() if names else None

    until(lambda: flash() is not None, timeout=5)
    before = flash()
    ingest(app, [incident("i4", severity=4)])
    until(lambda: open_incidents_shown(dash_duo) == 4, timeout=10)
    until(lambda: flash() not in (None, before), timeout=5)


def test_anonymous_visitors_of_the_wall_land_on_the_login_form(dash_duo: Any, app: Any) -> None:
    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.get(dash_duo.server.url + "/wall")
    dash_duo.wait_for_element("#username")
    assert "/login" in dash_duo.driver.current_url
