"""The Content-Security-Policy in a real browser: every kind of page loads, renders and works with no console error
and no CSP violation (seen three ways: the console, a `securitypolicyviolation` listener installed before any page
script, and the server's /csp-report endpoint), and the policy really is enforced."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from layouts import ids
from tests.helpers import incident, log_in_browser, reading, start_dash, ticket

pytestmark = [
    pytest.mark.browser,
    # dash_duo stops its threaded server by raising SystemExit in live request threads (the push stream).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

# Runs before every document's own scripts (through the DevTools protocol, which CSP does not govern).
LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
    window.__csp.push({directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
                       line: e.lineNumber, sample: e.sample});
});
"""


def watch_violations(dash_duo: Any) -> None:
    """Install the violation listener in every document the browser opens from now on."""
    dash_duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LISTENER})


def violations(dash_duo: Any) -> list[dict[str, Any]]:
    """The violations the current document has seen."""
    return list(dash_duo.driver.execute_script("return window.__csp || [];"))


def console_errors(dash_duo: Any) -> list[Any]:
    """Console entries of level SEVERE (errors, CSP refusals among them) since the last call."""
    return [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def assert_clean(dash_duo: Any, page: str) -> None:
    """No violation seen by the listener and no console error on the current page."""
    assert violations(dash_duo) == [], f"{page}: CSP violations"
    errors = console_errors(dash_duo)
    assert errors == [], f"{page}: console errors {json.dumps(errors, indent=1)}"


def open_page(dash_duo: Any, path: str) -> None:
    """Load a page in the browser."""
    dash_duo.driver.get(dash_duo.server.url + path)


def sign_out(dash_duo: Any) -> None:
    """Press the page's sign-out button (a form POST) and land on the login form."""
    dash_duo.find_element("form.logout-form button").click()
    dash_duo.wait_for_element("#username", timeout=10)


def test_every_page_satisfies_the_policy_with_no_console_error(
    dash_duo: Any, app: Any, live_ticks: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client()
    events = [reading("c1"), incident("c2", severity=1), incident("c3", severity=3), ticket("C4")]
    assert client.post("/api/v1/events", json=events, headers={"Authorization": "Bearer test-token"}).status_code \
        == 200
    caplog.set_level(logging.WARNING, logger="dashboard.web.headers")
    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.set_window_size(1920, 1080)
    watch_violations(dash_duo)

    # The login page, then the wall of the duty officer with its map, KPIs and the alarm takeover.
    open_page(dash_duo, "/login")
    dash_duo.wait_for_element("#username")
    assert_clean(dash_duo, "/login")
    log_in_browser(dash_duo, dash_duo.server.url, "duty")
    dash_duo.wait_for_element(".leaflet-container", timeout=20)
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) >= 17, timeout=20)
    dash_duo.wait_for_element(".alarm-on", timeout=20)
    assert_clean(dash_duo, "/wall")
    # The daily report (inline SVG charts and inlined CSS).
    open_page(dash_duo, "/report")
    dash_duo.wait_for_element("svg", timeout=20)
    assert_clean(dash_duo, "/report")
    # The API's JSON opened as a document.
    open_page(dash_duo, "/api/v1/units")
    until(lambda: "units" in dash_duo.driver.page_source, timeout=10)
    assert_clean(dash_duo, "/api/v1/units")
    # GET /logout only asks; its button signs out.
    open_page(dash_duo, "/logout")
    dash_duo.wait_for_element("form[action='/logout'] button", timeout=10)
    assert_clean(dash_duo, "/logout")
    dash_duo.find_element("form[action='/logout'] button").click()
    dash_duo.wait_for_element("#username", timeout=10)

    # The leader's tablet: KPI cards, the map and the two plotly trend charts, and the drill-down list.
    log_in_browser(dash_duo, dash_duo.server.url, "leader")
    dash_duo.wait_for_element(f"#{ids.TABLET_KPIS} .tab-kpi", timeout=20)
    dash_duo.wait_for_element(f"#{ids.TABLET_TREND_HOTLINE} .main-svg", timeout=20)
    dash_duo.wait_for_element(f"#{ids.TABLET_TREND_INCIDENTS} .main-svg", timeout=20)
    dash_duo.find_element(f"#{ids.TABLET_SUBDISTRICT}").click()
    until(lambda: len(dash_duo.find_elements("[role=option]")) > 0, timeout=10)
    assert_clean(dash_duo, "/tablet")
    sign_out(dash_duo)

    # The dispatcher's console: queue, detail with its map and suggested units.
    log_in_browser(dash_duo, dash_duo.server.url, "dispatch")
    dash_duo.wait_for_element(f"#{ids.DISPATCH_QUEUE} .dsp-row", timeout=20)
    dash_duo.find_element(f"#{ids.DISPATCH_QUEUE} .dsp-row").click()
    dash_duo.wait_for_element(".dispatch .leaflet-container", timeout=20)
    assert_clean(dash_duo, "/dispatch")
    sign_out(dash_duo)

    # The administrator's page, every section.
    log_in_browser(dash_duo, dash_duo.server.url, "admin")
    dash_duo.wait_for_element(f"#{ids.ADMIN_USERS} tr[data-user='duty']", timeout=20)
    for label in ("阈值与时限", "数据源与任务", "审计日志"):
        dash_duo.driver.find_element(By.XPATH, f"//label[contains(., '{label}')]").click()
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_AUDIT_TABLE}", "admin", timeout=20)
    assert_clean(dash_duo, "/admin")
    sign_out(dash_duo)
    assert_clean(dash_duo, "/login after sign-out")

    # Nor did the browser send the server any report (reports of the pages above would have arrived by now:
    # each page was followed by at least one more round trip).
    assert not [r for r in caplog.records if "CSP violation" in r.getMessage()]


def test_the_policy_is_enforced_an_injected_inline_script_does_not_run(dash_duo: Any, app: Any) -> None:
    """The other half of the proof: the same browser refuses what the policy does not allow."""
    start_dash(dash_duo, app.extensions["dash_app"])
    watch_violations(dash_duo)
    open_page(dash_duo, "/login")
    dash_duo.wait_for_element("#username")
    ran = dash_duo.driver.execute_script("""
        window.__ran = false;
        var s = document.createElement('script');
        s.textContent = 'window.__ran = true;';
        document.body.appendChild(s);
        return window.__ran;
    """)
    assert ran is False
    until(lambda: violations(dash_duo), timeout=5)
    assert violations(dash_duo)[0]["directive"] == "script-src-elem"
    dash_duo.get_logs()  # the refusal is a console error, as it should be
