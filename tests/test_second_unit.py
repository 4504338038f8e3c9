"""No accidental second dispatch: a unit sent to an incident a moment after another is held by the service until the
dispatcher confirms it by name (decided under the incident's lock, so a fast double click cannot slip past it), and
the console's lists of action buttons hold still under the pointer (layouts/hold.py): a unit just sent keeps its
row, greyed and marked, until the pointer leaves. Service and callbacks on SQLite and PostgreSQL, and one real
browser that double-clicks 派遣."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callbacks import proposals as prop_cb
from dashboard.domain import lifecycle
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.services.incidents import ActionRequest, ActionResult, SecondUnit
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, DispatchAction, Unit, utcnow
from layouts import ids
from layouts import proposals as lay
from layouts.dispatch.detail import in_dispatch_order
from layouts.dispatch.suggest import ROW_FREE, ROW_GONE, ROW_SENT, suggestion_rows
from layouts.hold import HOLD_SUGGEST, held_order
from tests.helpers import csrf_headers, log_in_browser, login, start_dash
from tests.test_dispatch_console import Console, button, count_actions, incident, new_incident, toast_of
from tests.test_dispatch_console import console as console  # the console tests' fixtures
from tests.test_dispatch_console import units as units
from tests.test_double_dispatch import add_unit, race
from tests.test_double_dispatch import new_incident as new_db_incident
from tests.test_double_dispatch import slow_dispatch as slow_dispatch
from tests.test_proposals import WARNING, put_warnings

DISPATCHER = Actor(None, "dispatcher-a", "dispatch")


def flat(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, default=lambda o: o.to_plotly_json())


def send(sessions: sessionmaker[Session], incident_id: int, unit_id: int, hold: bool | None = True,
         now: Any = None) -> ActionResult:
    with session_scope(sessions) as s:
        req = ActionRequest("dispatch", unit_id=unit_id, hold_second_unit=hold)
        return svc.perform_action(s, incident_id, req, DISPATCHER, uuid.uuid4().hex, now)


def dispatches(sessions: sessionmaker[Session], incident_id: int) -> list[int | None]:
    with sessions() as s:
        query = select(DispatchAction.unit_id).where(DispatchAction.incident_id == incident_id,
                                                     DispatchAction.action == "dispatch")
        return list(s.scalars(query.order_by(DispatchAction.id)))


# --- the service ------------------------------------------------------------------------------------


def test_a_second_unit_within_seconds_is_held_naming_it_and_nothing_is_changed_or_audited(
    sessions: sessionmaker[Session],
) -> None:
    first, second = add_unit(sessions, "FR-01"), add_unit(sessions, "FR-03")
    inc = new_db_incident(sessions)
    assert not send(sessions, inc, first).replayed
    with sessions() as s:
        audited = s.scalar(select(func.count()).select_from(AuditLog))
    with pytest.raises(SecondUnit) as held:
        send(sessions, inc, second)
    assert (held.value.status, held.value.code) == (409, "second_unit")
    assert held.value.params["unit"] == "FR-03" and held.value.params["unit_kind"] == "fire"
    assert held.value.params["previous"] == "FR-01" and 0 <= held.value.params["seconds"] < 10
    assert dispatches(sessions, inc) == [first]
    with sessions() as s:
        unit = s.get(Unit, second)
        assert unit is not None and (unit.status, unit.incident_id) == ("available", None)
        # No action was taken, so nothing is on record: the confirmed dispatch will be.
        assert s.scalar(select(func.count()).select_from(AuditLog)) == audited
    # Confirmed (sent without the hold), it goes.
    send(sessions, inc, second, hold=None)
    assert dispatches(sessions, inc) == [first, second]


def test_the_api_is_not_held_and_a_second_unit_later_needs_no_confirmation(sessions: sessionmaker[Session]) -> None:
    a, b, c = (add_unit(sessions, code) for code in ("FR-A", "FR-B", "FR-C"))
    inc = new_db_incident(sessions)
    send(sessions, inc, a)
    send(sessions, inc, b, hold=None)  # what the REST API sends: no hold
    later = utcnow() + timedelta(seconds=lifecycle.SECOND_UNIT_CONFIRM_S + 1)
    send(sessions, inc, c, now=later)  # held only within the window
    assert dispatches(sessions, inc) == [a, b, c]


@pytest.mark.usefixtures("slow_dispatch")
def test_two_clicks_racing_to_send_two_units_send_one_and_hold_the_other(sessions: sessionmaker[Session]) -> None:
    # A double click that lands on two different units' buttons: two requests at once, each with its own key.
    units_ = [add_unit(sessions, "FR-X"), add_unit(sessions, "FR-Y")]
    inc = new_db_incident(sessions)
    results = race(2, lambda i: send(sessions, inc, units_[i]))
    assert sum(isinstance(r, ActionResult) for r in results) == 1, results
    assert sum(isinstance(r, SecondUnit) for r in results) == 1, results
    assert len(dispatches(sessions, inc)) == 1


def test_an_api_client_may_ask_for_the_hold_too(app: Any, units: list[int]) -> None:
    client = app.test_client()
    assert login(client, "dispatch").status_code == 302
    inc = new_incident(app, 2)

    def act(unit_id: int, hold: bool | None) -> Any:
        body = {"action": "dispatch", "unit_id": unit_id} | ({} if hold is None else {"hold_second_unit": hold})
        return client.post(f"/api/v1/incidents/{inc}/actions", json=body,
                           headers={**csrf_headers(client), "Idempotency-Key": uuid.uuid4().hex})

    assert act(units[1], True).status_code == 200
    held = act(units[2], True)
    assert held.status_code == 409 and held.get_json()["code"] == "second_unit" and "F2" in held.get_json()["error"]
    assert count_actions(app, inc, "dispatch") == 1
    assert act(units[2], None).status_code == 200  # asked without the hold: sent
    assert count_actions(app, inc, "dispatch") == 2


# --- the held list, pure ------------------------------------------------------------------------------


def test_a_held_list_keeps_what_it_showed_in_place_and_adds_at_the_end() -> None:
    assert held_order([3, 1, 2], [1, 4, 2, 5], 5) == [3, 1, 2, 4, 5]
    assert held_order([3, 1, 2], [1, 4], 3) == [3, 1, 2]
    assert held_order([], [7, 8], 1) == [7]


def unit(uid: int, code: str, km: float) -> dict[str, Any]:
    return {"id": uid, "code": code, "name": code, "kind": "fire", "distance_km": km, "lon": 116.4, "lat": 39.9}


def test_suggestion_rows_keep_a_sent_unit_in_its_row_while_held_and_rank_afresh_otherwise() -> None:
    f1, f2, f3, f4 = unit(1, "F1", 0.4), unit(2, "F2", 0.9), unit(3, "F3", 1.2), unit(4, "F4", 0.2)
    shown = suggestion_rows([f1, f2, f3], [f1, f2, f3], set(), None, False)
    assert [(r["code"], r["row"]) for r in shown] == [("F1", ROW_FREE), ("F2", ROW_FREE), ("F3", ROW_FREE)]
    # F1 was sent here, F3 elsewhere; F4 became free nearer than all: held, nothing moves and F4 goes last.
    ranked = [f4, f2]
    held = suggestion_rows(ranked, [f4, f2], {1}, shown, True)
    assert [(r["code"], r["row"]) for r in held] == [("F1", ROW_SENT), ("F2", ROW_FREE), ("F3", ROW_GONE),
                                                    ("F4", ROW_FREE)]
    assert [r["code"] for r in suggestion_rows(ranked, [f4, f2], {1}, shown, False)] == ["F4", "F2"]


def test_assigned_units_are_listed_in_the_order_they_were_sent() -> None:
    d = {"units": [{"id": 1, "code": "A-01"}, {"id": 2, "code": "C-12"}, {"id": 3, "code": "B-07"}],
         "timeline": [{"action": "dispatch", "outcome": "ok", "unit_id": 2},
                      {"action": "dispatch", "outcome": "refused", "unit_id": 3},
                      {"action": "dispatch", "outcome": "ok", "unit_id": 1}]}
    assert [u["code"] for u in in_dispatch_order(d)] == ["C-12", "A-01", "B-07"]


def test_held_proposals_keep_their_cards_and_grey_a_cleared_warning() -> None:
    w1, w2 = {**WARNING, "id": "w1", "score": 0.5}, {**WARNING, "id": "w2", "score": 0.9}
    kept = lay.remember_proposals([w1, w2], [])
    # w2 cleared and w3 came up first: held, w1 and w2 keep their places (w2 greyed) and w3 waits.
    w3 = {**WARNING, "id": "w3", "score": 0.99}
    view = lay.warnings_block([w3, w1], {}, "dispatch", "zh", kept)
    cards = [c for c in view if getattr(c, "className", "").startswith("prop-card")]
    assert [c.to_plotly_json()["props"]["data-warning"] for c in cards] == ["w1", "w2"]
    assert cards[1].className == "prop-card gone" and "该预警已解除" in flat(cards[1])
    assert [c.to_plotly_json()["props"]["data-warning"] for c in lay.warnings_block([w3, w1], {}, "dispatch", "zh")
            if getattr(c, "className", "").startswith("prop-card")] == ["w3", "w1"]


# --- through the console's callbacks ------------------------------------------------------------------


def suggested(resp: dict[str, Any]) -> list[tuple[str, str]]:
    """(unit code, row state) of the suggested units in a detail response, in order."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props") if isinstance(node.get("props"), dict) else None
            if props and "dsp-suggest-row" in str(props.get("className", "")):
                out.append((props["data-unit"], props["data-row"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(resp[ids.DISPATCH_SUGGEST]["children"])
    return out


def test_a_second_unit_through_the_console_asks_first_naming_it_then_goes(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    assert toast_of(c.click(button(c.buttons(inc), "dispatch", str(units[1]))))[0] == "success"  # F1
    # A new click on F2's button (rendered after the first dispatch, with its own key): asked first.
    resp = c.click(button(c.buttons(inc), "dispatch", str(units[2])))
    assert resp[ids.DISPATCH_CONFIRM]["is_open"] is True
    question = flat(resp[ids.DISPATCH_CONFIRM_BODY]["children"])
    assert "再派遣 F2（消防）？" in question and "F1" in question
    assert count_actions(app, inc, "dispatch") == 1
    pending = resp[ids.DISPATCH_PENDING]["data"]
    done = c.click({}, pending=pending, reason="火势扩大，增派", confirm=True)
    icon, text = toast_of(done)
    assert icon == "success" and "F2" in text
    assert count_actions(app, inc, "dispatch") == 2
    assert [u["code"] for u in incident(app, inc)["units"]] == ["F1", "F2"]
    # The confirmation again (a double click on the dialog's button) replays: still two.
    again = c.click({}, pending=pending, reason="火势扩大，增派", confirm=True)
    assert toast_of(again)[0] == "info" and count_actions(app, inc, "dispatch") == 2


def test_the_confirmation_names_the_unit_in_both_languages() -> None:
    pending = {"action": "dispatch", "arg": "3", "incident": 7, "version": 2, "key": "k", "fields": {},
               "second": {"unit": "FR-03", "unit_kind": "fire", "previous": "FR-01", "seconds": 1}}
    from layouts.dispatch.confirm import confirm_text

    assert "Send a second unit, FR-03 (Fire)?" in flat(confirm_text(pending, "东四 火情", "en"))
    assert "再派遣 FR-03（消防）？" in flat(confirm_text(pending, "东四 火情", "zh"))


def test_the_suggestions_hold_while_the_pointer_is_in_them_and_re_sort_when_it_leaves(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    first = c.detail(inc)
    shown = first[ids.DISPATCH_SHOWN]["data"]
    assert suggested(first) == [("F1", ROW_FREE), ("F2", ROW_FREE), ("A1", ROW_FREE)]
    c.click(button(c.buttons(inc), "dispatch", str(units[1])))  # F1
    # The refresh after the action, with the pointer in the list: F1 stays first, greyed and marked.
    held = c.detail(inc, shown, HOLD_SUGGEST, f"{ids.DISPATCH_REFRESH}.data")
    assert suggested(held) == [("F1", ROW_SENT), ("F2", ROW_FREE), ("A1", ROW_FREE)]
    assert "已派遣" in flat(held[ids.DISPATCH_SUGGEST]["children"])
    # The pointer comes in: nothing to redo.
    assert c.detail(inc, held[ids.DISPATCH_SHOWN]["data"], HOLD_SUGGEST, f"{ids.DISPATCH_HOLD}.data") == {}
    # It leaves: ranked afresh, F1 is gone from the list.
    left = c.detail(inc, held[ids.DISPATCH_SHOWN]["data"], None, f"{ids.DISPATCH_HOLD}.data")
    assert suggested(left) == [("F2", ROW_FREE), ("A1", ROW_FREE)]
    # "重新排序" with the pointer in the list ranks afresh too.
    resorted = c.detail(inc, held[ids.DISPATCH_SHOWN]["data"], HOLD_SUGGEST, f"{ids.DISPATCH_SUGGEST_RESORT}.n_clicks")
    assert suggested(resorted) == [("F2", ROW_FREE), ("A1", ROW_FREE)]


def test_the_proposals_hold_while_the_pointer_is_in_them(app: Any) -> None:
    w1, w2 = {**WARNING, "id": "w1", "score": 0.5}, {**WARNING, "id": "w2", "score": 0.9}
    put_warnings(app, [w2, w1])
    with app.test_request_context():
        _, kept = prop_cb.proposals_state("dispatch", "zh")
        put_warnings(app, [{**WARNING, "id": "w3", "score": 0.99}, w1])
        held_view, again = prop_cb.proposals_state("dispatch", "zh", kept)
        fresh_view, _ = prop_cb.proposals_state("dispatch", "zh")
    assert again == kept
    assert flat(held_view).index('"w2"') < flat(held_view).index('"w1"') and '"w3"' not in flat(held_view)
    assert '"w2"' not in flat(fresh_view) and flat(fresh_view).index('"w3"') < flat(fresh_view).index('"w1"')


# --- a real browser ---------------------------------------------------------------------------------


def toast_text(driver: Any) -> str:
    """The console's toast, or "" while none is shown (a closed toast is not in the page)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        found = driver.find_elements(By.ID, ids.DISPATCH_TOAST)
        return str(found[0].text) if found else ""
    except StaleElementReferenceException:  # closed between finding and reading
        return ""


@pytest.mark.browser
# The console keeps a push stream open (Server-Sent Events); dash_duo stops its threaded server by raising
# SystemExit in every live request thread, that stream's included. That is the test server's teardown, not a fault.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_fast_double_click_on_dispatch_sends_one_unit_and_a_second_one_is_sent_after_a_named_confirmation(
    dash_duo: Any, app: Any, units: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    # However slow this machine, the second unit below comes "within seconds" of the first.
    monkeypatch.setattr(lifecycle, "SECOND_UNIT_CONFIRM_S", 3600.0)
    inc = new_incident(app, 2, "东四 火情 double click")
    start_dash(dash_duo, app.extensions["dash_app"])
    driver = dash_duo.driver
    driver.set_window_size(1920, 1080)
    log_in_browser(dash_duo, dash_duo.server.url, "dispatch")
    dash_duo.wait_for_element(f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{inc}"]', timeout=15).click()
    f1 = '.dsp-suggest-row[data-unit="F1"]'
    button_f1 = dash_duo.wait_for_element(f"{f1} .dsp-act-dispatch", timeout=10)
    dash_duo.wait_for_element('.dsp-suggest-row[data-unit="F2"] .dsp-act-dispatch', timeout=10)

    # Two clicks on 派遣 400 ms apart, the pointer not moving: the second lands on F1's row, now marked sent.
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, "
                                 "r.y + r.height / 2];", button_f1)
    ActionChains(driver).move_to_element(button_f1).click().pause(0.4).click().perform()
    until(lambda: "已完成" in toast_text(driver), timeout=10)
    dash_duo.wait_for_element(f'{f1}[data-row="sent"]', timeout=10)
    until(dash_duo._wait_for_callbacks, timeout=10)
    under = driver.execute_script("const e = document.elementFromPoint(arguments[0], arguments[1]); "
                                  "const row = e && e.closest('.dsp-suggest-row'); return row && row.dataset.unit;",
                                  *rect)
    assert under == "F1"  # the list did not move under the pointer
    rows = driver.find_elements(By.CSS_SELECTOR, ".dsp-suggest-row")
    assert [r.get_attribute("data-unit") for r in rows][:2] == ["F1", "F2"]
    assert "已派遣" in driver.find_element(By.CSS_SELECTOR, f1).text
    assert not driver.find_elements(By.CSS_SELECTOR, ".dsp-modal.show")
    assert count_actions(app, inc, "dispatch") == 1
    assert [u["code"] for u in incident(app, inc)["units"]] == ["F1"]

    # The pointer leaves the list: it re-sorts, F1 is no longer suggested.
    ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".dsp-detail-head")).perform()
    dash_duo.wait_for_no_elements(f1, timeout=10)

    # A deliberate second unit: asked first, by name; sent after the confirmation.
    dash_duo.wait_for_element('.dsp-suggest-row[data-unit="F2"] .dsp-act-dispatch', timeout=10).click()
    dash_duo.wait_for_contains_text(f"#{ids.DISPATCH_CONFIRM_BODY}", "再派遣 F2（消防）？", timeout=10)
    assert count_actions(app, inc, "dispatch") == 1
    dash_duo.wait_for_element(f"#{ids.DISPATCH_CONFIRM_OK}", timeout=5).click()
    until(lambda: "F2" in toast_text(driver), timeout=10)
    dash_duo.wait_for_element('.dsp-unit-row[data-unit="F2"]', timeout=10)
    assert count_actions(app, inc, "dispatch") == 2
    assert [u["code"] for u in incident(app, inc)["units"]] == ["F1", "F2"]
    # The assigned units in the order they were sent, each in its row.
    assert [r.get_attribute("data-unit") for r in driver.find_elements(By.CSS_SELECTOR, ".dsp-unit-row")] == \
        ["F1", "F2"]
    assert dash_duo.get_logs() == [], "the browser console has errors"
