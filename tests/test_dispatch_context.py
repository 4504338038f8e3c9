"""The console acts only on the incident it shows open: no button of another incident stays usable (nor its queue
row marked) while the new-incident form is open, and the server refuses a click for an incident that is not the one
open; a form sent without its field says so beside it; plus the action colours (red only for what destroys), the
sources' names, the hint before anything is selected, and the queue's filters and the ranking note read whole."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from callbacks import dispatch as cb
from dashboard.domain import lifecycle
from dashboard.domain.rules import SOURCE_ACTOR
from dashboard.i18n import name, t
from dashboard.services import incidents as svc
from dashboard.store.models import Unit
from dashboard.web.extensions import db_sessions
from layouts import ids
from layouts.dispatch.actions import ACTION_COLOUR, ACTION_OUTLINE, action_button
from layouts.dispatch.form import CREATE_CLASS, CREATE_CLASS_HIDDEN, form_is_open
from layouts.dispatch.page import REFRESH_MS
from layouts.dispatch.parts import actor_label, source_label
from tests.test_dispatch_console import (
    DONGSI,
    SYSTEM,
    Console,
    audits,
    button,
    component_ids,
    count_actions,
    incident,
    new_incident,
    open_console,
    service,
    toast_of,
)
from tests.test_dispatch_console import console as console  # the console tests' fixtures
from tests.test_dispatch_console import units as units


def flat(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, default=lambda o: o.to_plotly_json())


def actions_in(resp: dict[str, Any]) -> list[dict[str, Any]]:
    """The action buttons anywhere in a detail response (detail and suggestions)."""
    return [i for i in component_ids(resp) if isinstance(i, dict) and i.get("type") == ids.DISPATCH_ACTION]


def sim_incident(app: Any, title: str = "东四 模拟 火情") -> int:
    """An incident reported by the simulator (source "sim"), as the demo's feed makes them."""
    fields = {"category": "fire", "severity": 2, "title": title, "lon": DONGSI[0], "lat": DONGSI[1]}
    return int(service(app, lambda s, *a: svc.create_incident(s, *a, source="sim"), fields, SYSTEM,
                       uuid.uuid4().hex).incident["id"])


def unit_status(app: Any, unit_id: int) -> str:
    with app.app_context(), db_sessions()() as s:
        return str(s.scalars(select(Unit.status).where(Unit.id == unit_id)).one())


# --- the new-incident form takes the console -------------------------------------------------------


def test_opening_the_form_takes_every_button_of_the_open_incident_off_the_screen_until_it_closes(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    first = c.detail(inc)
    assert any(b["action"] == "dispatch" for b in actions_in(first))
    shown = first[ids.DISPATCH_SHOWN]["data"]

    opened = c.detail(inc, shown, changed=f"{ids.DISPATCH_CREATE}.className", form_open=True)
    assert actions_in(opened) == []
    assert t("dsp.suggest_form_open", "zh") in flat(opened[ids.DISPATCH_SUGGEST]["children"])
    assert opened[ids.DISPATCH_MAP_INCIDENT]["data"]["features"] == []
    assert opened[ids.DISPATCH_MAP_UNITS]["data"]["features"] == []
    assert opened[ids.DISPATCH_SHOWN]["data"].get("id") is None
    # The polls while the form is open change nothing, even when another row is clicked meanwhile.
    other = new_incident(app, 3, "另一 事件")
    assert c.detail(inc, opened[ids.DISPATCH_SHOWN]["data"], form_open=True) == {}
    assert c.detail(other, opened[ids.DISPATCH_SHOWN]["data"], form_open=True) == {}

    # Closed without creating: the incident selected comes back, with fresh buttons.
    closed = c.detail(inc, opened[ids.DISPATCH_SHOWN]["data"], changed=f"{ids.DISPATCH_CREATE}.className")
    back = actions_in(closed)
    assert back and {b["incident"] for b in back} == {inc}
    assert closed[ids.DISPATCH_SHOWN]["data"]["id"] == inc


def test_a_click_for_an_incident_that_is_not_the_one_open_is_refused_and_does_nothing(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    old, new = new_incident(app, 2, "东四 旧 事件"), new_incident(app, 3, "东四 新 事件")
    c = console("dispatch")
    f1 = button(c.buttons(old), "dispatch", str(units[1]))

    # The form is open over the old incident's detail: refused, said so, nothing sent.
    icon, text = toast_of(c.click(f1, open_incident=old, form_open=True))
    assert icon == "warning" and text == t("dsp.not_open_form", "zh", id=old)
    # Another incident is open now (the old button lingered): refused too, in the user's language.
    icon, text = toast_of(c.click(f1, open_incident=new))
    assert icon == "warning" and text == t("dsp.not_open", "zh", id=old)
    # Nothing open at all (selection cleared, or its detail not yet rendered).
    assert toast_of(c.click(f1, open_incident=None))[0] == "warning"
    assert count_actions(app, old, "dispatch") == 0 and count_actions(app, new, "dispatch") == 0
    assert unit_status(app, units[1]) == "available"
    assert incident(app, old)["state"] == "new" and incident(app, new)["state"] == "new"
    assert audits(app, old, "dispatch", "refused") == []  # it never reached the service

    # A confirmation asked for the old incident cannot land on it once another is open either.
    cancel = c.click(button(c.buttons(old), "cancel"))
    pending = cancel[ids.DISPATCH_PENDING]["data"]
    assert pending["incident"] == old
    icon, _ = toast_of(c.click({}, pending=pending, reason="误报", confirm=True, open_incident=new))
    assert icon == "warning" and incident(app, old)["state"] == "new"

    # The same button with its incident open goes.
    assert toast_of(c.click(f1))[0] == "success"
    assert [u["code"] for u in incident(app, old)["units"]] == ["F1"]


def test_the_refusal_is_said_in_english_too() -> None:
    screen = cb.OnScreen(incident=5, form_open=False)
    refused = screen.refusal(7, "en")
    assert refused is not None and not refused.ok and refused.message.startswith("Not done: incident #7")
    assert screen.refusal(5, "en") is None
    form = cb.OnScreen(incident=5, form_open=True).refusal(5, "en")
    assert form is not None and "new-incident form is open" in form.message


def test_the_console_shows_open_only_the_selected_incident_whose_detail_is_rendered() -> None:
    closed = CREATE_CLASS_HIDDEN
    assert form_is_open(CREATE_CLASS) and not form_is_open(closed) and not form_is_open(None)
    assert cb.on_screen(4, {"id": 4}, closed) == cb.OnScreen(4, False)
    assert cb.on_screen(4, {"id": 3}, closed) == cb.OnScreen(None, False)  # a row clicked, detail not yet there
    assert cb.on_screen(None, {"id": 3}, closed) == cb.OnScreen(None, False)
    assert cb.on_screen(4, {"form": True}, CREATE_CLASS) == cb.OnScreen(None, True)
    assert cb.on_screen(4, {"id": 4}, CREATE_CLASS).form_open  # the form opened, the detail not yet cleared
    assert cb.on_screen("4; drop", ["junk"], 17) == cb.OnScreen(None, False)


# --- colours, sources, the empty suggestions --------------------------------------------------------


def test_red_is_for_cancel_alone_and_escalate_is_an_outline_of_its_own() -> None:
    assert {a for a, colour in ACTION_COLOUR.items() if colour == "danger"} == {lifecycle.CANCEL}
    d = {"id": 1, "version": 1}
    escalate = action_button(lifecycle.ESCALATE, d, "zh", lambda: "k1")
    cancel = action_button(lifecycle.CANCEL, d, "zh", lambda: "k2")
    assert lifecycle.ESCALATE in ACTION_OUTLINE and escalate.outline is True and escalate.color != "danger"
    assert cancel.color == "danger" and not cancel.outline


def test_sources_show_by_name_in_both_languages_and_an_unknown_one_as_it_is() -> None:
    assert (source_label("sim", "zh"), source_label("sim", "en")) == ("模拟数据", "Simulator")
    assert (source_label("console", "zh"), source_label("console", "en")) == ("手工录入", "Entered by hand")
    assert source_label("sensor-alarm", "en") == "Sensor alarm"
    assert source_label("early-warning", "zh") == "未诉先办预警"
    assert source_label("acme-feed", "zh") == "acme-feed"
    assert actor_label("source:sim", "zh") == "模拟数据" and actor_label("source:acme-feed", "en") == "acme-feed"
    assert actor_label("dispatch", "en") == "dispatch" and actor_label("source:", "en") == "source:"


def test_the_source_actor_is_spelt_in_one_place() -> None:
    """The record's "source:<name>" actor is written by the store, read back by the incident's reads and named by
    the console, all through rules.SOURCE_ACTOR: no other string of the product starts with it."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    rules = root / "dashboard" / "domain" / "rules.py"
    spelt = [
        f"{path.relative_to(root)}:{node.lineno}"
        for package in ("dashboard", "layouts", "callbacks", "workers")
        for path in sorted((root / package).rglob("*.py")) if path != rules
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(SOURCE_ACTOR)
    ]
    assert spelt == []
    assert actor_label(f"{SOURCE_ACTOR}sim", "en") == "Simulator"


def test_the_detail_and_timeline_name_the_simulator_instead_of_its_code(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = sim_incident(app)
    zh = flat(console("dispatch").detail(inc)[ids.DISPATCH_DETAIL]["children"])
    assert "模拟数据" in zh and "source:sim" not in zh and '"sim"' not in zh
    c = console("dispatch")
    c.client.get("/lang/en?next=/dispatch")
    en = flat(c.detail(inc)[ids.DISPATCH_DETAIL]["children"])
    assert "Simulator" in en and "source:sim" not in en


def test_before_anything_is_selected_the_suggestions_say_how_to_see_some(
    app: Any, console: Callable[[str], Console]
) -> None:
    c = console("dispatch")
    assert t("dsp.suggest_pick", "zh") in flat(c.page())
    # The form closed with nothing selected: the hint again, no button anywhere.
    cleared = c.detail(None, {"form": True}, changed=f"{ids.DISPATCH_CREATE}.className")
    assert t("dsp.suggest_pick", "zh") in flat(cleared[ids.DISPATCH_SUGGEST]["children"])
    assert actions_in(cleared) == []
    # Nothing was ever shown: nothing to send.
    assert c.detail(None, {}) == {}
    c.client.get("/lang/en?next=/dispatch")
    assert "Select an incident to see the units suggested for it" in flat(c.page())


# --- a real browser ------------------------------------------------------------------------------


# Queue rows marked in any way: selected (by class or for assistive technology) or under the keyboard's cursor.
MARKED_ROWS = f"#{ids.DISPATCH_QUEUE} .dsp-row.selected, #{ids.DISPATCH_QUEUE} .dsp-row.kbd, " \
              f'#{ids.DISPATCH_QUEUE} .dsp-row[aria-selected="true"]'

VISIBLE_ACTIONS_JS = """
return Array.from(document.querySelectorAll('.dsp-act'))
  .filter(e => e.offsetParent !== null && e.getClientRects().length > 0)
  .map(e => e.className);
"""

COLOURS_JS = """
const s = getComputedStyle(arguments[0]);
return [s.backgroundColor, s.borderTopColor, s.color];
"""


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
# The console keeps a push stream open (Server-Sent Events); dash_duo stops its threaded server by raising
# SystemExit in every live request thread, that stream's included. That is the test server's teardown, not a fault.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_with_the_form_open_no_button_of_the_old_incident_can_be_clicked(
    dash_duo: Any, app: Any, units: list[int], size: tuple[int, int]
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    inc = sim_incident(app, "东四 模拟 火情 browser")
    row = open_console(dash_duo, app, size, inc)
    driver = dash_duo.driver
    # Nothing selected yet: the suggestions say how to get some.
    dash_duo.wait_for_contains_text(f"#{ids.DISPATCH_SUGGEST}", t("dsp.suggest_pick", "zh"), timeout=10)

    row.click()
    selected_row = f'#{ids.DISPATCH_QUEUE} .dsp-row.selected[data-id="{inc}"][aria-selected="true"]'
    dash_duo.wait_for_element(selected_row, timeout=10)
    dash_duo.wait_for_element(f"#{ids.DISPATCH_MAP} .incident-mark", timeout=10)
    dispatch_f1 = '.dsp-suggest-row[data-unit="F1"] .dsp-act-dispatch'
    dash_duo.wait_for_element(dispatch_f1, timeout=10)
    # The source by name, in the facts and the timeline.
    until(lambda: "模拟数据" in driver.find_element(By.CSS_SELECTOR, ".dsp-facts").text, timeout=5)
    assert "模拟数据" in driver.find_element(By.CSS_SELECTOR, ".dsp-timeline").text
    assert "sim" not in driver.find_element(By.CSS_SELECTOR, f"#{ids.DISPATCH_DETAIL}").text
    # Escalate and cancel side by side: not the same colours; cancel red, escalate an outline.
    escalate = driver.find_element(By.CSS_SELECTOR, ".dsp-act-escalate")
    cancel = driver.find_element(By.CSS_SELECTOR, ".dsp-act-cancel")
    esc_bg, esc_border, esc_text = driver.execute_script(COLOURS_JS, escalate)
    can_bg, can_border, _ = driver.execute_script(COLOURS_JS, cancel)
    assert can_bg == "rgb(231, 76, 60)" and esc_bg != can_bg and esc_border != can_border
    assert esc_bg in ("rgba(0, 0, 0, 0)", "transparent") and esc_text == esc_border

    # The form opens: as it shows, no action button of the old incident is visible, then none is on the page.
    dash_duo.find_element(f"#{ids.DISPATCH_NEW_BUTTON}").click()
    until(lambda: dash_duo.find_element(f"#{ids.DISPATCH_CREATE_TITLE}").is_displayed(), timeout=5)
    assert driver.execute_script(VISIBLE_ACTIONS_JS) == []
    dash_duo.wait_for_contains_text(f"#{ids.DISPATCH_SUGGEST}", t("dsp.suggest_form_open", "zh"), timeout=10)
    dash_duo.wait_for_no_elements(".dsp-act", timeout=10)
    # The map is the new incident's now: the old one's mark and its units are gone from it.
    until(lambda: not driver.find_elements(By.CSS_SELECTOR, f"#{ids.DISPATCH_MAP} .incident-mark, "
                                                             f"#{ids.DISPATCH_MAP} .dsp-unit-icon"), timeout=5)
    assert count_actions(app, inc, "dispatch") == 0
    # Nor does its queue row look selected (nor under the keyboard's cursor), and the keys do not move one unseen.
    until(lambda: not driver.find_elements(By.CSS_SELECTOR, MARKED_ROWS), timeout=5)
    driver.find_element(By.TAG_NAME, "body").send_keys("j")
    assert not driver.find_elements(By.CSS_SELECTOR, MARKED_ROWS)

    # Closed: the incident comes back with its buttons, and its row selected again.
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_CLOSE}").click()
    dash_duo.wait_for_element(dispatch_f1, timeout=10)
    assert f"#{inc}" in dash_duo.find_element(".dsp-detail-title").text
    dash_duo.wait_for_element(selected_row, timeout=10)
    assert dash_duo.get_logs() == [], "the browser console has errors"


# Each queue filter's shown text (its value or placeholder) and whether any of it is cut; the filter's top edge (its
# row); and the suggested units' ranking note: its lines (its text's height over its line height).
FILTERS_JS = """
const filters = Array.from(document.querySelectorAll('.dsp-filters .dsp-filter')).map(f => {
  const v = f.querySelector('.dash-dropdown-value');
  return {id: f.id, text: v.textContent, cut: v.scrollWidth > v.clientWidth + 1,
          top: Math.round(f.getBoundingClientRect().top)};
});
const note = document.querySelector('.dsp-suggest .dsp-note'), s = getComputedStyle(note);
const lines = (note.clientHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom)) / parseFloat(s.lineHeight);
return {filters, note: [note.textContent, Math.round(lines * 10) / 10]};
"""


def pick(dash_duo: Any, dropdown: str, label: str) -> None:
    """Open a queue filter and pick the option labelled `label` (a multi-select is closed again after it)."""
    from dash.testing.wait import until
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def click_option() -> bool:
        # The list may render again while it is read (its options follow the queue): then look again.
        try:
            found = [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == label]
            if found:
                found[0].click()
            return bool(found)
        except StaleElementReferenceException:
            return False

    dash_duo.find_element(f"#{dropdown}").click()
    until(click_option, timeout=5, msg=f"no option {label!r} in {dropdown}")
    if dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]"):
        dash_duo.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]"), timeout=5)


@pytest.mark.browser
@pytest.mark.parametrize(("lang", "size"), [("en", (1366, 768)), ("zh", (1366, 768)), ("en", (1920, 1080))])
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_queue_filters_and_the_ranking_note_read_whole(
    dash_duo: Any, app: Any, units: list[int], lang: str, size: tuple[int, int]
) -> None:
    from dash.testing.wait import until

    from layouts import names

    inc = new_incident(app, 2, "东四 火情 filters")
    open_console(dash_duo, app, size, inc)
    if lang == "en":
        dash_duo.driver.get(dash_duo.server.url + "/lang/en?next=/dispatch")
    dash_duo.wait_for_element(f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{inc}"]', timeout=15).click()
    dash_duo.wait_for_element('.dsp-suggest-row[data-unit="F1"]', timeout=10)
    got = dash_duo.driver.execute_script(FILTERS_JS)
    # As the page opens: the filters on one row, none cut ("Open inc···"), and the note on at most two lines.
    assert [f["text"] for f in got["filters"]] == [t(k, lang) for k in ("dsp.state_open", "dsp.sev_any",
                                                                         "dsp.sub_any")]
    assert not any(f["cut"] for f in got["filters"]), got
    assert len({f["top"] for f in got["filters"]}) == 1, got
    assert got["note"][0] == t("dsp.suggest_note", lang) and got["note"][1] <= 2, got
    # The longest value of each filter picked: a filter that no longer fits moves to another row, never cut.
    longest_state = max((name("inc_state", s, lang) for s in lifecycle.STATES), key=len)
    longest_sub = max((names.subdistrict(code, lang) for code in names.subdistrict_codes()), key=len)
    pick(dash_duo, ids.DISPATCH_FILTER_STATE, longest_state)
    pick(dash_duo, ids.DISPATCH_FILTER_SEVERITY, name("sev", 3, lang))
    pick(dash_duo, ids.DISPATCH_FILTER_SUBDISTRICT, longest_sub)
    until(lambda: [f["text"] for f in dash_duo.driver.execute_script(FILTERS_JS)["filters"]]
          == [longest_state, name("sev", 3, lang), longest_sub], timeout=5)
    got = dash_duo.driver.execute_script(FILTERS_JS)
    assert not any(f["cut"] for f in got["filters"]), got
    assert dash_duo.get_logs() == [], "the browser console has errors"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_form_sent_without_its_field_says_so_beside_it_and_the_timeline_stays_as_it_was(
    dash_duo: Any, app: Any, units: list[int]
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    inc = new_incident(app, 2, "东四 火情 form")
    open_console(dash_duo, app, (1366, 768), inc).click()
    driver = dash_duo.driver
    whistle = dash_duo.wait_for_element(".dsp-whistle .dsp-act-whistle", timeout=10)
    timeline = driver.find_element(By.CSS_SELECTOR, ".dsp-timeline").text
    whistle.click()
    line = '.dsp-whistle .dsp-field-error'
    until(lambda: driver.find_element(By.CSS_SELECTOR, line).text == "请至少选择一个召集部门", timeout=10)
    # Under the form's own controls, across its width; the severity form's line stays empty and takes no room.
    said, button = driver.find_element(By.CSS_SELECTOR, line).rect, whistle.rect
    assert said["y"] >= button["y"] + button["height"] - 1, (said, button)
    assert not driver.find_element(By.CSS_SELECTOR, ".dsp-form-inline:not(.dsp-whistle) .dsp-field-error"
                                   ).is_displayed()
    assert not [e for e in driver.find_elements(By.CSS_SELECTOR, f"#{ids.DISPATCH_TOAST}") if e.is_displayed()]
    # Two polls later the incident's record still has no refusal in it, and says what it said before.
    time.sleep(2.5 * REFRESH_MS / 1000)
    assert driver.find_element(By.CSS_SELECTOR, ".dsp-timeline").text == timeline
    assert not driver.find_elements(By.CSS_SELECTOR, ".dsp-tl-item.refused")
    assert audits(app, inc, "whistle", "refused")
    # Picking a department and sending it again summons it, and the line goes.
    driver.find_element(By.CSS_SELECTOR, ".dsp-deps input[value='gas']").click()
    dash_duo.find_element(".dsp-whistle .dsp-act-whistle").click()
    until(lambda: [s["department"] for s in incident(app, inc)["summons"]] == ["gas"], timeout=10)
    until(lambda: not driver.find_elements(By.CSS_SELECTOR, ".dsp-field-error:not(:empty)"), timeout=10)
    assert dash_duo.get_logs() == [], "the browser console has errors"


def test_cancelling_the_confirmation_closes_it_and_leaves_the_forms_error_lines_as_they_are(
        console: Callable[[str], Console]) -> None:
    from layouts.dispatch.actions import FORM_ACTIONS, form_error_id
    from tests.test_dispatch_console import form_class

    c = console("dispatch")
    pending = {"incident": 1, "action": "severity", "fields": {}}
    inputs = [[], {"id": ids.DISPATCH_CONFIRM_OK, "property": "n_clicks", "value": 0},
              {"id": ids.DISPATCH_CONFIRM_CANCEL, "property": "n_clicks", "value": 1}]
    state = [[], {"id": ids.DISPATCH_PENDING, "property": "data", "value": pending},
             {"id": ids.DISPATCH_CONFIRM_REASON, "property": "value", "value": ""},
             {"id": ids.DISPATCH_REFRESH, "property": "data", "value": 0},
             {"id": ids.DISPATCH_SHOWN, "property": "data", "value": {"id": 1}},
             {"id": ids.DISPATCH_SELECTED, "property": "data", "value": 1},
             {"id": ids.DISPATCH_CREATE, "property": "className", "value": form_class(False)}]
    # With the action forms' error lines on the page (the wildcard output matches each), as the console has them.
    resp = c.call(f"{ids.DISPATCH_PENDING}.data", inputs, state, [f"{ids.DISPATCH_CONFIRM_CANCEL}.n_clicks"],
                  {ids.DISPATCH_FORM_ERROR: [form_error_id(a) for a in FORM_ACTIONS]})
    assert resp[ids.DISPATCH_CONFIRM]["is_open"] is False and resp[ids.DISPATCH_PENDING]["data"] is None
    assert not any(isinstance(k, str) and ids.DISPATCH_FORM_ERROR in k for k in resp)  # the lines untouched
