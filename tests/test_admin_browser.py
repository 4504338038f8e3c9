"""The administrator's page in a real browser: an admin changes an alarm threshold, and the workers' next ticks
classify the sensor with it (no restart)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_SENSORS
from layouts import ids
from tests.helpers import log_in_browser, reading, start_dash

AUTH = {"Authorization": "Bearer test-token"}
SENSOR = "p9:pm25"


def sensor_state(r: Any, sensor_id: str = SENSOR) -> str | None:
    env = read_aggregates(r, [AGG_SENSORS])[AGG_SENSORS]
    if env is None:
        return None
    # The aggregate lists the sensors in warning or alarm and the silent ones; any other is normal.
    listed = env["data"]["alarms"] + env["data"]["silent"]
    return next((p["state"] for p in listed if p["id"] == sensor_id), "normal")


@pytest.mark.browser
# The page keeps no push stream, but dash_duo stops its threaded server by raising SystemExit in every live
# request thread; that is the test server's teardown, not a fault.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_admin_changes_a_threshold_in_the_browser_and_the_workers_apply_it(
    dash_duo: Any, app: Any, live_ticks: None
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    r = app.extensions["dc_redis"]
    client = app.test_client()
    # A PM2.5 reading of 60 µg/m³: normal under the default thresholds (warning from 75).
    assert client.post("/api/v1/events", json=[reading("b-1", value=60.0, sensor_id=SENSOR)],
                       headers=AUTH).status_code == 200
    until(lambda: sensor_state(r) == "normal", timeout=10)

    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.set_window_size(1920, 1080)
    log_in_browser(dash_duo, dash_duo.server.url, "admin")
    # The administrator lands on /admin, users first.
    dash_duo.wait_for_element(f"#{ids.ADMIN_USERS} tr[data-user='duty']", timeout=15)
    assert dash_duo.driver.current_url.endswith("/admin")
    # Open the thresholds section; the inputs arrive filled with what is in force.
    dash_duo.driver.find_element(By.XPATH, "//label[contains(., '阈值与时限')]").click()
    warn, alarm = dash_duo.driver.find_elements(By.CSS_SELECTOR, "tr[data-sensor='pm25'] input")
    until(lambda: warn.get_attribute("value") == "75" and warn.is_displayed(), timeout=10)
    for box, value in ((warn, "35"), (alarm, "55")):
        box.clear()
        box.send_keys(value)
    dash_duo.find_element(f"#{ids.ADMIN_THRESHOLDS_SAVE}").click()
    until(lambda: "已完成" in dash_duo.find_element(f"#{ids.ADMIN_TOAST}").text, timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_THRESHOLDS_META}", "admin", timeout=10)
    # The workers pick it up by themselves: the same reading is an alarm from the next tick on.
    until(lambda: sensor_state(r) == "alarm", timeout=10)
    # A threshold out of range is refused with its reason beside the form, and changes nothing.
    alarm.clear()
    alarm.send_keys("5000")
    dash_duo.find_element(f"#{ids.ADMIN_THRESHOLDS_SAVE}").click()
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_THRESHOLDS_ERROR}", "不超过 1000", timeout=10)
    assert "is-invalid" in (alarm.get_attribute("class") or "")
    time.sleep(1.2)  # two more ticks
    assert sensor_state(r) == "alarm"
    if os.environ.get("ADMIN_SCREENSHOTS"):
        dash_duo.driver.save_screenshot(os.path.join(os.environ["ADMIN_SCREENSHOTS"], "admin-settings.png"))
        for tab, label in (("users", "用户与角色"), ("health", "数据源与任务"), ("audit", "审计日志")):
            dash_duo.driver.find_element(By.XPATH, f"//label[contains(., '{label}')]").click()
            time.sleep(1.5)
            dash_duo.driver.save_screenshot(os.path.join(os.environ["ADMIN_SCREENSHOTS"], f"admin-{tab}.png"))
    assert dash_duo.get_logs() == [], "the browser console has errors"
