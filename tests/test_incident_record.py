"""The record of an incident after it ended, as the dispatcher reads it: who was sent and when they arrived and
left, the timeline naming units by their codes, and departments that never reported said to be so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dashboard.services import incident_reads
from layouts.dispatch.detail import detail_view
from tests.test_incident_service import act, actors, add_unit, new_incident


def _text(component: Any) -> str:
    """Every string in a Dash component tree, joined."""
    return json.dumps(component.to_plotly_json() if hasattr(component, "to_plotly_json") else component,
                      default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o),
                      ensure_ascii=False)


def closed_incident(sessions: sessionmaker[Session]) -> int:
    """An incident a fire unit (FR-02) went to and left, an ambulance (MD-07) was sent to and recalled before it
    arrived, and the police were summoned and never reported; its id."""
    who = actors(sessions)
    iid = new_incident(sessions)
    fire = add_unit(sessions, code="FR-02")
    ambulance = add_unit(sessions, kind="medical", code="MD-07")
    act(sessions, iid, who["duty"], "acknowledge")
    act(sessions, iid, who["dispatch"], "whistle", departments=["police"])
    act(sessions, iid, who["dispatch"], "dispatch", unit_id=fire)
    act(sessions, iid, who["dispatch"], "dispatch", unit_id=ambulance)
    act(sessions, iid, who["dispatch"], "arrive", unit_id=fire)
    act(sessions, iid, who["dispatch"], "resolve")
    act(sessions, iid, who["dispatch"], "close")
    return iid


def test_a_closed_incident_lists_every_unit_sent_with_its_arrival_and_release(sessions: sessionmaker[Session]) -> None:
    iid = closed_incident(sessions)
    with sessions() as s:
        d = incident_reads.get_incident(s, iid)
    assert d["units"] == []  # nobody is assigned any more
    sent = {u["code"]: u for u in d["units_sent"]}
    assert list(sent) == ["FR-02", "MD-07"]  # in the order sent
    assert sent["FR-02"]["arrived_at"] is not None and sent["MD-07"]["arrived_at"] is None
    assert all(u["sent_at"] is not None and u["released_at"] is not None for u in sent.values())
    assert sent["FR-02"]["sent_at"] <= sent["FR-02"]["arrived_at"] <= sent["FR-02"]["released_at"]


def test_the_dispatchers_record_names_the_units_and_the_department_that_never_reported(
    sessions: sessionmaker[Session],
) -> None:
    iid = closed_incident(sessions)
    with sessions() as s:
        d = incident_reads.get_incident(s, iid)
    d["allowed_actions"] = []
    text = _text(detail_view(d, "dispatch", "zh", d["updated_at"]))
    assert "FR-02" in text and "MD-07" in text and "到场" in text
    assert "尚未派遣力量" not in text
    assert "撤回 FR-02、MD-07" in text  # the closing step names the units it released, not their ids
    assert "↩" not in text
    assert "未报到（事件已结束）" in text and "data-deadline" not in text  # no clock runs on after the end


@pytest.mark.browser
# The console keeps a push stream open; dash_duo ends its threaded server by raising SystemExit in live request
# threads, that stream's included: the test server's teardown, not a fault.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # how the console reads does not depend on it
def test_on_the_console_a_closed_incident_reads_as_its_record(dash_duo: Any, app: Any) -> None:
    from dash.testing.wait import until

    from dashboard.web.extensions import db_sessions
    from layouts import ids
    from layouts.dispatch.queue import STATE_ANY
    from tests.helpers import log_in_browser, start_dash

    with app.app_context():
        iid = closed_incident(db_sessions())
    start_dash(dash_duo, app.extensions["dash_app"])
    dash_duo.driver.set_window_size(1920, 1080)
    log_in_browser(dash_duo, dash_duo.server.url, "dispatch")
    dash_duo.wait_for_element(f"#{ids.DISPATCH_QUEUE}", timeout=15)
    # Ended incidents are found with the state filter set to every state.
    dash_duo.driver.execute_script("window.dash_clientside.set_props(arguments[0], {value: arguments[1]})",
                                   ids.DISPATCH_FILTER_STATE, STATE_ANY)
    dash_duo.wait_for_element(f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{iid}"]', timeout=10).click()
    until(lambda: "FR-02" in dash_duo.find_element(f"#{ids.DISPATCH_DETAIL}").text, timeout=10)
    record = dash_duo.find_element(f"#{ids.DISPATCH_DETAIL}").text
    assert "MD-07" in record and "撤回 FR-02、MD-07" in record and "尚未派遣力量" not in record
    assert "未报到（事件已结束）" in record and "↩" not in record
    assert not dash_duo.find_elements(f"#{ids.DISPATCH_DETAIL} [data-deadline]")  # no clock runs on
